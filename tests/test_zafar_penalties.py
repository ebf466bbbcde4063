"""Zafar et al.'s covariance penalties: hand values, an independent implementation, invariances, gradients."""

import numpy as np
import pytest
import torch

from fairlib._validation import ConfigError
from fairlib.methods.fair_penalties import (
    PENALTY_FORMS,
    CovariancePenalty,
    FairnessPenalty,
    decision_margin,
    group_covariances,
    make_penalty,
    zafar_dp_covariance,
    zafar_eo_covariance,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MARGIN = [2.0, -1.0, 0.5, -3.0]
GROUPS = [0, 0, 1, 1]


def _released_code_form(g, z):
    """Zafar et al.'s released-code expression of the covariance for a binary z (independent of ours):
    (1/N) [ -(N_1/N) sum_{z=0} g + (N_0/N) sum_{z=1} g ]."""
    g, z = np.asarray(g, float), np.asarray(z)
    n, n1 = len(z), int((z == 1).sum())
    n0 = n - n1
    return (-(n1 / n) * g[z == 0].sum() + (n0 / n) * g[z == 1].sum()) / n


# ------------------------------------------------------------------------------------------------ DP
def test_dp_covariance_hand_value_and_gradient():
    # z - mean z = [-.5, -.5, .5, .5]; Cov = (1/4) (-1 + .5 + .25 - 1.5) = -0.4375
    margin = torch.tensor(MARGIN, requires_grad=True)
    value = zafar_dp_covariance(margin, torch.tensor(GROUPS))
    assert value.item() == pytest.approx(0.4375)
    value.backward()
    # d|Cov|/dd_i = sign(Cov) (z_i - mean z) / N = -(z_i - 0.5) / 4
    torch.testing.assert_close(margin.grad, torch.tensor([0.125, 0.125, -0.125, -0.125]))
    # both one-hot covariances: opposite numbers
    torch.testing.assert_close(group_covariances(torch.tensor(MARGIN), torch.tensor(GROUPS)),
                               torch.tensor([0.4375, -0.4375]))


def test_dp_covariance_equals_numpy_and_the_released_code_form():
    rng = np.random.default_rng(0)
    d = rng.normal(size=50)
    z = (rng.random(50) < 0.3).astype(int)
    expected = abs(np.cov(z, d, bias=True)[0, 1])  # population covariance, N in the denominator
    assert expected == pytest.approx(abs(_released_code_form(d, z)))
    value = zafar_dp_covariance(torch.tensor(d), torch.tensor(z)).item()
    assert value == pytest.approx(expected, rel=1e-6)


def test_dp_covariance_is_zero_when_z_is_independent_of_d_by_construction():
    # each group holds the same margins: the covariance is exactly 0, however unequal the group sizes
    d = [3.0, -1.0, 0.5] * 3
    z = [0, 0, 0, 1, 1, 1, 0, 0, 0]
    assert zafar_dp_covariance(torch.tensor(d), torch.tensor(z)).item() == pytest.approx(0.0, abs=1e-7)


def test_dp_covariance_invariances():
    d, z = torch.tensor(MARGIN), torch.tensor(GROUPS)
    base = zafar_dp_covariance(d, z).item()
    assert zafar_dp_covariance(d + 7.0, z).item() == pytest.approx(base)  # a common shift of d: no change
    assert zafar_dp_covariance(d, torch.tensor([5, 5, 2, 2])).item() == pytest.approx(base)  # codes relabelled
    assert zafar_dp_covariance(3 * d, z).item() == pytest.approx(3 * base)  # linear in d


def test_one_group_gives_zero_on_the_graph():
    margin = torch.tensor(MARGIN, requires_grad=True)
    zero = zafar_dp_covariance(margin, torch.tensor([1, 1, 1, 1]))
    assert zero.item() == 0.0
    zero.backward()
    torch.testing.assert_close(margin.grad, torch.zeros(4))


def test_more_than_two_groups_takes_the_largest_one_hot_covariance():
    d = torch.tensor([1.0, 2.0, 0.0, 0.0, -3.0, 0.0])
    s = torch.tensor([0, 0, 1, 1, 2, 2])
    # mean d = 0; Cov(1[s=g], d) = (1/6) sum_{s=g} d: 3/6, 0, -3/6
    torch.testing.assert_close(group_covariances(d, s), torch.tensor([0.5, 0.0, -0.5]))
    assert zafar_dp_covariance(d, s).item() == pytest.approx(0.5)


def test_a_gradient_step_reduces_the_absolute_covariance():
    rng = np.random.default_rng(1)
    z = torch.tensor((rng.random(40) < 0.5).astype(int))
    margin = torch.tensor(rng.normal(size=40) + 1.5 * z.numpy(), requires_grad=True)  # d co-varies with z
    before = zafar_dp_covariance(margin, z)
    before.backward()
    with torch.no_grad():
        after = zafar_dp_covariance(margin - 0.5 * margin.grad, z)
    assert before.item() > 0.2 and after.item() < before.item()
    # the step moves the group with the higher mean margin down and the other up
    assert (margin.grad[z == 1] > 0).all() and (margin.grad[z == 0] < 0).all()


# ------------------------------------------------------------------------------------------------ EO
def test_eo_covariance_hand_value():
    # labels y = [1, 0, 1, 0, 1, 0] -> y+- = [1, -1, 1, -1, 1, -1]; groups z = [0, 0, 0, 1, 1, 1]
    d = [-1.0, 2.0, 3.0, -0.5, -2.0, 1.0]
    y = [1, 0, 1, 0, 1, 0]
    z = [0, 0, 0, 1, 1, 1]
    # y d = [-1, -2, 3, 0.5, -2, -1]; min(0, y d) = [-1, -2, 0, 0, -2, -1]
    # FPR part (y = 0 only): g = [0, -2, 0, 0, 0, -1]; z - mean z = [-.5]*3 + [.5]*3
    #   Cov = (1/6)(1 + (-0.5)) = 1/12
    # FNR part (y = 1 only): g = [-1, 0, 0, 0, -2, 0]; Cov = (1/6)(0.5 - 1) = -1/12
    value = zafar_eo_covariance(torch.tensor(d), torch.tensor(y), torch.tensor(z))
    assert value.item() == pytest.approx(1 / 12 + 1 / 12)
    # the same through the released code's expression, term by term
    yd = (2 * np.array(y) - 1) * np.array(d)
    fpr = np.minimum(0, (1 - (2 * np.array(y) - 1)) / 2 * yd)
    fnr = np.minimum(0, (1 + (2 * np.array(y) - 1)) / 2 * yd)
    assert value.item() == pytest.approx(abs(_released_code_form(fpr, np.array(z)))
                                         + abs(_released_code_form(fnr, np.array(z))))


def test_eo_covariance_only_misclassified_points_matter():
    d = torch.tensor([1.5, -2.0, 0.3, -0.1], requires_grad=True)
    y = torch.tensor([1, 0, 1, 0])  # every point on its correct side
    value = zafar_eo_covariance(d, y, torch.tensor(GROUPS))
    assert value.item() == 0.0
    value.backward()
    torch.testing.assert_close(d.grad, torch.zeros(4))
    # moving a correctly classified point further (same side) changes nothing
    d2 = torch.tensor([-1.0, 2.0, 3.0, -0.5, -2.0, 1.0])
    y2, z2 = torch.tensor([1, 0, 1, 0, 1, 0]), torch.tensor([0, 0, 0, 1, 1, 1])
    d3 = d2.clone()
    d3[2] = 30.0  # correctly classified positive
    assert zafar_eo_covariance(d3, y2, z2).item() == pytest.approx(zafar_eo_covariance(d2, y2, z2).item())


def test_eo_gradient_step_reduces_it_and_labels_are_checked():
    rng = np.random.default_rng(2)
    n = 60
    z = torch.tensor((rng.random(n) < 0.5).astype(int))
    y = torch.tensor((rng.random(n) < 0.5).astype(int))
    margin = torch.tensor(rng.normal(size=n) - 1.0 * z.numpy(), requires_grad=True)  # group 1 pushed negative
    before = zafar_eo_covariance(margin, y, z)
    before.backward()
    with torch.no_grad():
        after = zafar_eo_covariance(margin - 0.5 * margin.grad, y, z)
    assert before.item() > 0 and after.item() < before.item()
    with pytest.raises(ValueError, match="binary labels"):
        zafar_eo_covariance(margin.detach(), torch.tensor([2] * n), z)


# ------------------------------------------------------------------------------------------------ the loss term
def test_margin_and_the_loss_term():
    logits2 = torch.tensor([[0.0, 2.0], [1.0, 0.0], [0.25, 0.75], [2.0, -1.0]])
    torch.testing.assert_close(decision_margin(logits2), torch.tensor(MARGIN))
    torch.testing.assert_close(decision_margin(torch.tensor(MARGIN).reshape(-1, 1)), torch.tensor(MARGIN))
    with pytest.raises(ValueError, match="binary logits"):
        decision_margin(torch.zeros(4, 3))
    batch = {"y": torch.tensor([1, 0, 1, 0]), "s": torch.tensor(GROUPS)}
    term = CovariancePenalty(kind="dp", intensity=0.5)
    assert term(logits2, batch).item() == pytest.approx(0.5 * 0.4375)
    assert CovariancePenalty(kind="eo", intensity=0.9)(logits2, batch).item() == pytest.approx(
        0.9 * zafar_eo_covariance(torch.tensor(MARGIN), batch["y"], batch["s"]).item())


def test_validation_and_the_named_forms():
    with pytest.raises(ConfigError, match="intensity"):
        CovariancePenalty(kind="dp", intensity=-0.1)
    with pytest.raises(ConfigError, match="intensity"):
        CovariancePenalty(kind="dp", intensity=float("inf"))
    with pytest.raises(ConfigError, match="kind"):
        CovariancePenalty(kind="eop", intensity=0.1)
    assert PENALTY_FORMS == ("zafar_covariance", "probability_gap")
    assert isinstance(make_penalty("zafar_covariance", kind="dp", intensity=0.1), CovariancePenalty)
    assert isinstance(make_penalty("probability_gap", kind="eo", intensity=0.1), FairnessPenalty)
    with pytest.raises(ConfigError, match="zafar_covariance"):
        make_penalty("covariance", kind="dp", intensity=0.1)


def test_training_with_the_penalty_lowers_the_covariance():
    """A logistic model on data where a feature tracks z: the penalised fit co-varies less with z."""
    from fairlib.data import GroupedDataset
    from fairlib.train import TrainConfig, fit

    rng = np.random.default_rng(3)
    n = 400
    s = (rng.random(n) < 0.5).astype(np.int64)
    x = np.stack([rng.normal(size=n) + 1.5 * s, rng.normal(size=n)], axis=1).astype(np.float32)
    y = ((x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.5, size=n)) > 0.75).astype(np.int64)
    data = GroupedDataset(x=x, y=y, s=s, group_names=("a", "b"), class_names=("0", "1"),
                          name="synthetic", sensitive_name="z")
    config = TrainConfig(epochs=30, lr=0.05, batch_size=100, seed=0)
    covs = {}
    for intensity in (0.0, 5.0):
        torch.manual_seed(0)
        model = torch.nn.Linear(2, 2)
        fit(model, data, config=config, loss_terms=[CovariancePenalty(kind="dp", intensity=intensity)],
            progress=False)
        with torch.no_grad():
            covs[intensity] = zafar_dp_covariance(decision_margin(model(torch.tensor(x))), torch.tensor(s)).item()
    assert covs[5.0] < 0.5 * covs[0.0]
