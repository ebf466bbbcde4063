"""Fairness penalties: hand values, gradients, missing groups, validation, and use as a loss term."""

import dataclasses

import numpy as np
import pytest
import torch

from fairlib._validation import ConfigError
from fairlib.methods.fair_penalties import (
    FairnessPenalty,
    demographic_parity_penalty,
    equalized_odds_penalty,
    positive_probs,
)

PROBS = [0.9, 0.7, 0.2, 0.4]
LABELS = [1, 0, 1, 0]
GROUPS = [0, 0, 1, 1]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_dp_hand_value_two_groups():
    # means 0.8 and 0.3
    assert demographic_parity_penalty(torch.tensor(PROBS), torch.tensor(GROUPS)).item() == pytest.approx(0.5)


def test_dp_is_max_minus_min_over_many_groups_and_any_codes():
    probs = torch.tensor([0.1, 0.3, 0.5, 0.9, 0.6, 0.6])
    groups = torch.tensor([7, 7, 2, 2, 5, 5])  # means 0.2, 0.7, 0.6
    assert demographic_parity_penalty(probs, groups).item() == pytest.approx(0.5)


def test_eo_hand_value_is_the_sum_of_tpr_and_fpr_gaps():
    # y=1: 0.9 vs 0.2 -> 0.7 ; y=0: 0.7 vs 0.4 -> 0.3
    value = equalized_odds_penalty(torch.tensor(PROBS), torch.tensor(LABELS), torch.tensor(GROUPS))
    assert value.item() == pytest.approx(1.0)


def test_gradients_flow_with_the_expected_values():
    probs = torch.tensor(PROBS, requires_grad=True)
    demographic_parity_penalty(probs, torch.tensor(GROUPS)).backward()
    torch.testing.assert_close(probs.grad, torch.tensor([0.5, 0.5, -0.5, -0.5]))
    probs = torch.tensor(PROBS, requires_grad=True)
    equalized_odds_penalty(probs, torch.tensor(LABELS), torch.tensor(GROUPS)).backward()
    torch.testing.assert_close(probs.grad, torch.tensor([1.0, 1.0, -1.0, -1.0]))


def test_missing_groups_are_skipped_and_one_group_gives_zero():
    probs = torch.tensor(PROBS, requires_grad=True)
    zero = demographic_parity_penalty(probs, torch.tensor([1, 1, 1, 1]))
    assert zero.item() == 0.0
    zero.backward()  # still part of the graph
    torch.testing.assert_close(probs.grad, torch.zeros(4))
    # a label seen by one group only contributes nothing; the other label's gap remains
    eo = equalized_odds_penalty(torch.tensor(PROBS), torch.tensor([1, 0, 1, 1]), torch.tensor(GROUPS))
    assert eo.item() == pytest.approx(abs(0.9 - 0.3))  # y=1: 0.9 vs mean(0.2, 0.4); y=0: only group 0
    # three codes expected, two present: the gap of those two
    assert demographic_parity_penalty(torch.tensor(PROBS), torch.tensor([0, 0, 2, 2])).item() == pytest.approx(0.5)
    assert demographic_parity_penalty(torch.tensor([]), torch.tensor([], dtype=torch.long)).item() == 0.0


def test_eo_rejects_non_binary_labels_and_lengths_must_match():
    with pytest.raises(ValueError, match="binary"):
        equalized_odds_penalty(torch.tensor(PROBS), torch.tensor([1, 0, 2, 0]), torch.tensor(GROUPS))
    with pytest.raises(ValueError, match="entries"):
        demographic_parity_penalty(torch.tensor(PROBS), torch.tensor(GROUPS[:3]))


def test_positive_probs_from_two_logits_and_from_one():
    logits = torch.tensor([[0.0, 0.0], [0.0, np.log(3.0)]])
    torch.testing.assert_close(positive_probs(logits), torch.tensor([0.5, 0.75]))
    torch.testing.assert_close(positive_probs(torch.tensor([[np.log(3.0)]])), torch.tensor([0.75]))
    with pytest.raises(ValueError, match="binary"):
        positive_probs(torch.zeros(3, 4))


def test_loss_term_is_intensity_times_the_gap():
    logits = torch.logit(torch.tensor(PROBS)).unsqueeze(1)
    logits2 = torch.cat([torch.zeros_like(logits), logits], dim=1)  # softmax column 1 = PROBS
    batch = {"x": None, "y": torch.tensor(LABELS), "s": torch.tensor(GROUPS), "index": torch.arange(4)}
    dp = FairnessPenalty(kind="dp", intensity=0.5)
    eo = FairnessPenalty(kind="eo", intensity=0.9)
    assert dp(logits2, batch).item() == pytest.approx(0.25, abs=1e-6)
    assert eo(logits2, batch, per_sample_loss=torch.zeros(4), accelerator=None).item() == pytest.approx(0.9, abs=1e-6)
    assert FairnessPenalty(kind="dp", intensity=0.0)(logits2, batch).item() == 0.0


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "0.5", None, True])
def test_invalid_intensity_raises(bad):
    with pytest.raises(ConfigError, match="intensity"):
        FairnessPenalty(kind="dp", intensity=bad)


def test_invalid_kind_raises_and_the_term_is_frozen():
    with pytest.raises(ConfigError, match="kind"):
        FairnessPenalty(kind="eop", intensity=0.1)
    with pytest.raises(TypeError):
        FairnessPenalty(kind="dp")  # no implicit intensity
    term = FairnessPenalty(kind="eo", intensity=0.1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        term.intensity = 5.0


def test_training_with_the_penalty_reduces_the_demographic_parity_gap():
    # Logistic regression where a feature leaks the group: the penalty must shrink the soft DP gap it optimises.
    gen = torch.Generator().manual_seed(0)
    n = 400
    s = torch.randint(0, 2, (n,), generator=gen)
    y = (torch.rand(n, generator=gen) < 0.3 + 0.4 * s).long()
    x = torch.stack([y + 0.8 * torch.randn(n, generator=gen), s + 0.3 * torch.randn(n, generator=gen)], dim=1)
    batch = {"y": y, "s": s}

    def train(intensity):
        torch.manual_seed(0)
        model = torch.nn.Linear(2, 2)
        opt = torch.optim.SGD(model.parameters(), lr=0.5)
        term = FairnessPenalty(kind="dp", intensity=intensity)
        for _ in range(300):
            logits = model(x)
            loss = torch.nn.functional.cross_entropy(logits, y) + term(logits, batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            return demographic_parity_penalty(positive_probs(model(x)), s).item()

    unconstrained, constrained = train(0.0), train(2.0)
    assert constrained < 0.5 * unconstrained

