"""The developer-side leakage audit: its scores against scikit-learn, and synthetic cases with and without s."""

import numpy as np
import pytest
import torch
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

from fairlib.methods.privacy_audit import audit_scores, leakage_audit, probe_out_of_fold
from fairlib.methods.privacy_roles import save_exchange
from fairlib.methods.privacy_strategies import adapter_shift, base_representation
from fairlib.models import LoraSpec, adapt, vit_from_config

from ._adapters import moved_lora_exchange


def _probabilities(rng, s, groups, signal):
    logits = rng.normal(size=(len(s), groups))
    logits[np.arange(len(s)), s] += signal
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("groups", [2, 5])
def test_audit_scores_equal_scikit_learns_on_the_full_sample(groups):
    rng = np.random.default_rng(groups)
    s = np.repeat(np.arange(groups), 40)
    proba = _probabilities(rng, s, groups, signal=1.0)
    out = audit_scores(s, proba, n_resamples=200)
    assert out["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(s, proba.argmax(1)), abs=1e-12)
    expected = roc_auc_score(s, proba[:, 1]) if groups == 2 else roc_auc_score(s, proba, multi_class="ovr",
                                                                                  average="macro")
    assert out["auc"] == pytest.approx(expected, abs=1e-12)
    assert out["chance_balanced_accuracy"] == pytest.approx(1 / groups)
    for name in ("balanced_accuracy", "auc"):
        assert 0 <= out[f"{name}_ci_low"] <= out[name] <= out[f"{name}_ci_high"] <= 1


def test_ties_count_one_half_in_the_auc():
    s = np.array([0, 0, 1, 1])
    proba = np.array([[0.5, 0.5], [0.8, 0.2], [0.5, 0.5], [0.2, 0.8]])
    # positives 0.5, 0.8 vs negatives 0.5, 0.2: pairs (0.5>0.2) 1, (0.5=0.5) 0.5, (0.8>0.5) 1, (0.8>0.2) 1 -> 3.5/4
    assert audit_scores(s, proba, n_resamples=10)["auc"] == pytest.approx(0.875)


def test_the_audit_finds_s_when_the_received_shift_encodes_it():
    rng = np.random.default_rng(0)
    s = rng.integers(0, 2, size=300)
    shift = rng.normal(size=(300, 16))
    shift[:, 3] += 1.5 * s  # the sensitive adapter moves group 1 along one direction
    out = leakage_audit(shift, s, seed=0, n_resamples=300)
    assert out["auc"] > 0.8 and out["auc_ci_low"] > 0.7
    assert out["balanced_accuracy_ci_low"] > 0.6


def test_the_audit_stays_at_chance_when_the_shift_is_independent_of_s():
    rng = np.random.default_rng(1)
    s = rng.integers(0, 2, size=300)
    shift = rng.normal(size=(300, 16))
    out = leakage_audit(shift, s, seed=0, n_resamples=300)
    assert abs(out["auc"] - 0.5) < 0.1
    assert out["auc_ci_low"] < 0.5 < out["auc_ci_high"]
    assert out["balanced_accuracy_ci_low"] < 0.5 < out["balanced_accuracy_ci_high"]


def test_five_groups_recoverable_and_not():
    rng = np.random.default_rng(2)
    s = np.repeat(np.arange(5), 60)
    noise = rng.normal(size=(300, 8))
    encoded = noise.copy()
    encoded[:, :5] += 2.0 * np.eye(5)[s]
    assert leakage_audit(encoded, s, n_resamples=200)["auc"] > 0.9
    chance = leakage_audit(noise, s, n_resamples=200)
    assert abs(chance["auc"] - 0.5) < 0.1 and chance["balanced_accuracy"] < 0.35


def test_the_probe_is_out_of_fold():
    # Pure-noise features with a tiny sample: an in-sample probe would memorise s; out-of-fold it cannot.
    rng = np.random.default_rng(3)
    s = np.repeat([0, 1], 30)
    proba = probe_out_of_fold(rng.normal(size=(60, 50)), s, seed=0)
    assert proba.shape == (60, 2) and np.allclose(proba.sum(1), 1)
    assert roc_auc_score(s, proba[:, 1]) < 0.75


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="two groups"):
        probe_out_of_fold(np.zeros((10, 2)), np.zeros(10, dtype=int))
    with pytest.raises(ValueError, match="folds=5"):
        probe_out_of_fold(np.zeros((10, 2)), np.array([0] * 8 + [1] * 2))
    with pytest.raises(ValueError, match="every one of the 3 groups"):
        audit_scores(np.array([0, 1, 0, 1]), np.full((4, 3), 1 / 3))


def _tiny_vit():
    torch.manual_seed(0)
    return vit_from_config(image_size=8, num_channels=1, patch_size=4, hidden_size=16, num_hidden_layers=1,
                           num_attention_heads=2, intermediate_size=16)


def test_adapter_shift_is_the_received_adapters_change_of_the_representation(tmp_path):
    import copy

    base = _tiny_vit().eval()
    fresh = lambda: copy.deepcopy(base)  # noqa: E731  (the frozen backbone, each call a new copy)
    model = adapt(fresh(), "lora", lora=LoraSpec(r=2, alpha=2)).eval()
    x = np.random.default_rng(0).normal(size=(6, 1, 8, 8)).astype(np.float32)
    save_exchange(model, tmp_path / "fresh")  # peft initialises B = 0: no change yet
    assert np.abs(adapter_shift(fresh, tmp_path / "fresh", x)).max() == 0.0
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_()
    save_exchange(model, tmp_path / "moved")
    shift = adapter_shift(fresh, tmp_path / "moved", x)
    with torch.no_grad():
        h = model(pixel_values=torch.as_tensor(x)).last_hidden_state[:, 0]
        h0 = base(pixel_values=torch.as_tensor(x)).last_hidden_state[:, 0]
    assert np.abs(shift).max() > 0
    assert np.allclose(shift, (h - h0).numpy(), atol=1e-5)
    # against a reference adapter: the difference of the two adapters' representations
    assert np.allclose(adapter_shift(fresh, tmp_path / "moved", x, reference=tmp_path / "fresh"), shift, atol=1e-5)
    assert np.abs(adapter_shift(fresh, tmp_path / "moved", x, reference=tmp_path / "moved")).max() == 0.0


def test_base_representation_is_h0_and_with_the_shift_gives_the_received_adapters_representation(tmp_path):
    # Erm's audit baseline: the developer's own frozen [CLS] representation; h_0 + (h_s - h_0) must be h_s.
    import copy

    base = _tiny_vit().eval()
    fresh = lambda: copy.deepcopy(base)  # noqa: E731
    model = moved_lora_exchange(fresh(), tmp_path / "moved").eval()
    x = np.random.default_rng(1).normal(size=(5, 1, 8, 8)).astype(np.float32)
    h0 = base_representation(fresh, x)
    with torch.no_grad():
        direct = base(pixel_values=torch.as_tensor(x)).last_hidden_state[:, 0].numpy()
        h = model(pixel_values=torch.as_tensor(x)).last_hidden_state[:, 0].numpy()
    assert h0.shape == (5, 16) and np.allclose(h0, direct, atol=1e-6)
    assert np.allclose(h0 + adapter_shift(fresh, tmp_path / "moved", x), h, atol=1e-5)
