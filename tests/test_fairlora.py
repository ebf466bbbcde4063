"""FairLoRA's regulariser (per-group loss variance) and the experiment helpers of notebook 02."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from fairlib.config import FAIRLORA_HUB_BACKBONES, ConfigError, FairLoRAConfig, get_profile
from fairlib.data import GroupedDataset
from fairlib.experiments import fairlora as fx
from fairlib.methods.fairlora import (FairLoRARegularizer, global_group_sums, group_index, group_loss_variance,
                                      loss_variance_penalty, num_loss_groups)
from fairlib.models import BACKBONE_PREPROCESSING, adapt, image_classifier, LoraSpec, mlp_classifier, vit_from_config
from fairlib.train import TrainConfig, fit, seed_everything

HERE = Path(__file__).resolve().parent


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# -- the penalty against hand computation -------------------------------------------------------------------------
def test_variance_by_hand_with_a_missing_group_and_uneven_sizes():
    # group 0: losses 1, 2 (mean 1.5); group 1: 3, 4, 10 (mean 17/3); group 2: absent from the batch
    losses = torch.tensor([1.0, 3.0, 2.0, 4.0, 10.0], dtype=torch.float64)
    groups = torch.tensor([0, 1, 0, 1, 1])
    sums, counts = global_group_sums(losses, groups, num_groups=3)
    assert sums.tolist() == [3.0, 17.0, 0.0] and counts.tolist() == [2.0, 3.0, 0.0]
    # population variance of two values a, b is ((a - b) / 2)^2; the absent group is left out, not a zero
    expected = ((1.5 - 17 / 3) / 2) ** 2
    assert group_loss_variance(sums, counts).item() == pytest.approx(expected, rel=1e-12)
    assert loss_variance_penalty(losses, groups, num_groups=3, lam=2.5).item() == pytest.approx(2.5 * expected)
    # every group weighs the same whatever its size: not the size-weighted variance of the group means
    weighted_mean = (2 * 1.5 + 3 * 17 / 3) / 5
    weighted = (2 * (1.5 - weighted_mean) ** 2 + 3 * (17 / 3 - weighted_mean) ** 2) / 5
    assert abs(expected - weighted) > 0.1


def test_three_groups_independent_implementation():
    rng = np.random.default_rng(0)
    losses = rng.exponential(size=40)
    groups = rng.choice(4, size=40, p=[0.6, 0.3, 0.1, 0.0])  # group 3 never occurs
    means = [losses[groups == g].mean() for g in range(4) if (groups == g).any()]
    got = loss_variance_penalty(torch.tensor(losses), torch.tensor(groups), num_groups=4, lam=1.0)
    assert got.item() == pytest.approx(np.var(means), rel=1e-10)


def test_fewer_than_two_groups_present_gives_exactly_zero_and_a_zero_gradient():
    losses = torch.tensor([0.5, 2.0, 7.0], requires_grad=True)
    penalty = loss_variance_penalty(losses, torch.tensor([1, 1, 1]), num_groups=3, lam=10.0)
    assert penalty.item() == 0.0
    penalty.backward()
    assert torch.equal(losses.grad, torch.zeros(3))
    empty = loss_variance_penalty(torch.zeros(0, requires_grad=True), torch.zeros(0, dtype=torch.long),
                                  num_groups=2, lam=1.0)
    assert empty.item() == 0.0


def test_gradient_with_respect_to_per_sample_losses_by_hand():
    # P = lam/G sum_g (L_g - Lbar)^2  =>  dP/dl_i = lam * 2/G * (L_g(i) - Lbar) / n_g(i)   (sum_g (L_g - Lbar) = 0)
    losses = torch.tensor([1.0, 3.0, 2.0, 4.0, 10.0, 0.5], dtype=torch.float64, requires_grad=True)
    groups = torch.tensor([0, 1, 0, 1, 1, 3])
    lam = 0.7
    loss_variance_penalty(losses, groups, num_groups=4, lam=lam).backward()
    means = {0: 1.5, 1: 17 / 3, 3: 0.5}
    lbar, n = np.mean(list(means.values())), {0: 2, 1: 3, 3: 1}
    expected = [lam * 2 / 3 * (means[g] - lbar) / n[g] for g in groups.tolist()]
    np.testing.assert_allclose(losses.grad.numpy(), expected, rtol=1e-12)


def test_gradient_through_a_linear_classifier_by_hand():
    # logits = x W^T; per-sample CE; dP/dW = sum_i dP/dl_i * (softmax_i - onehot_i) x_i^T, computed in numpy
    rng = np.random.default_rng(1)
    x, y, s = rng.normal(size=(6, 3)), np.array([0, 1, 1, 0, 1, 0]), np.array([0, 0, 1, 1, 1, 0])
    w = rng.normal(size=(2, 3))
    weight = torch.tensor(w, requires_grad=True)
    logits = torch.tensor(x) @ weight.T
    per_sample = F.cross_entropy(logits, torch.tensor(y), reduction="none")
    term = FairLoRARegularizer(lam=3.0, by="class_attribute", num_classes=2, num_attributes=2)
    term(logits, {"y": torch.tensor(y), "s": torch.tensor(s)}, per_sample_loss=per_sample).backward()

    z = x @ w.T
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    loss = -np.log(p[np.arange(6), y])
    g = y * 2 + s
    present = np.unique(g)
    means = {k: loss[g == k].mean() for k in present}
    lbar = np.mean(list(means.values()))
    dl = np.array([3.0 * 2 / len(present) * (means[k] - lbar) / (g == k).sum() for k in g])
    onehot = np.eye(2)[y]
    expected = ((p - onehot) * dl[:, None]).T @ x
    np.testing.assert_allclose(weight.grad.numpy(), expected, rtol=1e-10, atol=1e-12)


def test_per_class_and_subgroup_variance_by_hand_on_a_tiny_batch():
    # five examples (y, s): (0,0) loss 1, (0,1) loss 2, (1,0) loss 4, (1,1) losses 8 and 6
    y, s = torch.tensor([0, 0, 1, 1, 1]), torch.tensor([0, 1, 0, 1, 1])
    losses = torch.tensor([1.0, 2.0, 4.0, 8.0, 6.0], dtype=torch.float64)
    batch = {"y": y, "s": s}
    # per-class (the paper's): class means 1.5 and 6 -> population variance ((6 - 1.5) / 2)^2 = 5.0625
    per_class = FairLoRARegularizer(lam=2.0, by="class", num_classes=2, num_attributes=2)
    assert per_class.num_groups == 2
    assert per_class(None, batch, per_sample_loss=losses).item() == pytest.approx(2.0 * 5.0625)
    # class x attribute subgroups: cell means 1, 2, 4, 7 (mean 3.5) -> (2.5^2 + 1.5^2 + 0.5^2 + 3.5^2) / 4 = 5.25
    subgroups = FairLoRARegularizer(lam=2.0, by="class_attribute", num_classes=2, num_attributes=2)
    assert subgroups.num_groups == 4
    assert subgroups(None, batch, per_sample_loss=losses).item() == pytest.approx(2.0 * 5.25)
    # the two readings differ on this batch, and numpy's population variance agrees with each
    assert np.var([1.5, 6.0]) == pytest.approx(5.0625) and np.var([1.0, 2.0, 4.0, 7.0]) == pytest.approx(5.25)


def test_group_codes_and_counts():
    y, s = torch.tensor([0, 1, 1, 0]), torch.tensor([2, 0, 1, 1])
    assert group_index(y, s, by="attribute", num_attributes=3).tolist() == [2, 0, 1, 1]
    assert group_index(y, s, by="class", num_attributes=3).tolist() == [0, 1, 1, 0]
    assert group_index(y, s, by="class_attribute", num_attributes=3).tolist() == [2, 3, 4, 1]
    assert num_loss_groups("class_attribute", num_classes=2, num_attributes=3) == 6
    data = GroupedDataset(name="d", x=np.zeros((4, 1), np.float32), y=np.array([0, 1, 1, 0]), s=np.array([2, 0, 1, 1]),
                          group_names=("a", "b", "c"), class_names=("n", "p"), sensitive_name="g")
    term = FairLoRARegularizer.for_dataset(data, lam=1.0, by="class_attribute")
    assert term.num_groups == 6 and term.groups_of(data.y, data.s).tolist() == [2, 3, 4, 1]


def test_invalid_settings_are_rejected():
    with pytest.raises(ConfigError, match="lam"):
        FairLoRARegularizer(lam=-1.0)
    with pytest.raises(ConfigError, match="by"):
        FairLoRARegularizer(lam=1.0, by="sex")
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        loss_variance_penalty(torch.ones(3), torch.tensor([0, 1, 2]), num_groups=2, lam=1.0)
    with pytest.raises(ConfigError, match="rank"):
        FairLoRAConfig(rank=4, ranks=(2, 8))
    for bad in ((), ("class", "class"), ("attribute",), "class"):
        with pytest.raises(ConfigError, match="groupings"):
            FairLoRAConfig(groupings=bad)
    for bad in (1, 2.5, True):
        with pytest.raises(ConfigError, match="sweep_seeds"):
            FairLoRAConfig(sweep_seeds=bad)
    with pytest.raises(ConfigError, match="also_planned"):
        FairLoRAConfig(also_planned=("imagenet",))
    with pytest.raises(ValueError, match="needs groups"):
        fx.run_spec("test", backbone="stand-in-vit", adaptation="lora", lam=1.0, rank=8, seed=0)


class _FakeAccelerator:
    """Stands in for process 0 of two: ``reduce`` adds a fixed share of the other process."""

    num_processes = 2

    def __init__(self, other):
        self.other = other

    def reduce(self, tensor, reduction="sum"):
        assert reduction == "sum" and not tensor.requires_grad
        return tensor + self.other


def test_global_statistics_value_is_global_and_gradient_reaches_local_share_only():
    # global batch: process 0 holds losses a (groups 0, 0, 1); process 1 holds b (groups 1, 2)
    a = torch.tensor([1.0, 2.0, 5.0], dtype=torch.float64, requires_grad=True)
    ga = torch.tensor([0, 0, 1])
    b, gb = torch.tensor([3.0, 8.0], dtype=torch.float64), torch.tensor([1, 2])
    other = torch.cat([torch.zeros(3, dtype=torch.float64).index_add(0, gb, b),
                       torch.bincount(gb, minlength=3).double()])
    two = loss_variance_penalty(a, ga, num_groups=3, lam=1.0, accelerator=_FakeAccelerator(other))

    whole = torch.cat([a.detach(), b]).requires_grad_(True)
    one = loss_variance_penalty(whole, torch.cat([ga, gb]), num_groups=3, lam=1.0)
    assert two.item() == pytest.approx(one.item(), rel=1e-12)
    two.backward()
    one.backward()
    # DDP will average the two processes' gradients, so each carries num_processes x its own share
    np.testing.assert_allclose(a.grad.numpy(), 2 * whole.grad[:3].numpy(), rtol=1e-12)


# -- training: lambda = 0 is plain fine-tuning, lambda > 0 changes it ---------------------------------------------
def _images(n=96, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = (rng.random(n) < np.where(y == 1, 0.85, 0.15)).astype(int)
    x = (rng.normal(size=(n, 1, 8, 8)) * 0.5 + y[:, None, None, None] * 0.4).astype(np.float32)
    x[s == 1, :, :2] += 1.0
    return GroupedDataset(name="toy images", x=x, y=y, s=s, group_names=("plain", "band"), class_names=("0", "1"),
                          sensitive_name="band")


def _lora_run(data, lam, *, seed=3):
    seed_everything(seed)
    backbone = vit_from_config(image_size=8, num_channels=1, patch_size=4, hidden_size=16, num_hidden_layers=1,
                               num_attention_heads=2, intermediate_size=16)
    model = adapt(image_classifier(backbone, num_labels=2), "lora", lora=LoraSpec(r=2, alpha=2))
    terms = [] if lam is None else [FairLoRARegularizer.for_dataset(data, lam=lam, by="class_attribute")]
    fit(model, data, config=TrainConfig(epochs=2, lr=1e-2, batch_size=16, seed=seed), loss_terms=terms)
    return {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}


def test_lambda_zero_reproduces_plain_lora_bitwise():
    data = _images()
    plain, zero, fair = _lora_run(data, None), _lora_run(data, 0.0), _lora_run(data, 5.0)
    assert plain.keys() == zero.keys() and any("lora_A" in k for k in plain)
    assert all(torch.equal(plain[k], zero[k]) for k in plain)
    # and the term does act when lambda > 0 (the comparison above could not pass by accident)
    assert any(not torch.equal(plain[k], fair[k]) for k in plain)


def _group_losses(model, data, term):
    with torch.no_grad():
        logits = model(torch.as_tensor(data.x))
        losses = F.cross_entropy(logits, torch.as_tensor(data.y), reduction="none")
        codes = torch.as_tensor(term.groups_of(data.y, data.s))
        sums, counts = global_group_sums(losses, codes, num_groups=term.num_groups)
        return group_loss_variance(sums, counts).item()


def test_full_fine_tuning_with_the_term_equalises_group_losses():
    # groups of unequal size and difficulty: the minority group is noisier; the penalty narrows the spread
    rng = np.random.default_rng(0)
    n = 240
    s = (rng.random(n) < 0.2).astype(int)
    y = rng.integers(0, 2, n)
    x = (rng.normal(size=(n, 4)) * np.where(s == 1, 2.0, 0.5)[:, None] + y[:, None]).astype(np.float32)
    data = GroupedDataset(name="blobs", x=x, y=y, s=s, group_names=("major", "minor"), class_names=("0", "1"),
                          sensitive_name="g")
    variances = []
    for lam in (0.0, 20.0):
        seed_everything(0)
        model = adapt(mlp_classifier(4, hidden=(16,)), "full")
        term = FairLoRARegularizer.for_dataset(data, lam=lam, by="attribute")
        fit(model, data, config=TrainConfig(epochs=10, lr=2e-2, batch_size=60, seed=0), loss_terms=[term])
        variances.append(_group_losses(model, data, term))
    assert variances[1] < 0.5 * variances[0]


# -- several processes --------------------------------------------------------------------------------------------
@pytest.mark.multiprocess
def test_two_processes_use_the_global_batch_statistics(tmp_path):
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    env = {**os.environ, "FAIRLIB_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    script = str(HERE / "_fairlora_two_process.py")
    subprocess.run([sys.executable, script, str(tmp_path / "one.npz")], check=True, env=env, timeout=300)
    subprocess.run([accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                    "--mixed_precision", "no", "--dynamo_backend", "no", script, str(tmp_path / "two.npz")],
                   check=True, env=env, timeout=300)
    one, two = np.load(tmp_path / "one.npz"), np.load(tmp_path / "two.npz")
    assert int(one["processes"]) == 1 and int(two["processes"]) == 2
    # one step on one global batch: the penalty, the loss and the gradient are the global batch's
    assert one["penalty"] > 1e-3 and np.abs(one["grad"]).max() > 1e-3
    np.testing.assert_allclose(two["penalty"], one["penalty"], rtol=1e-6)
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=1e-6)
    np.testing.assert_allclose(two["grad"], one["grad"], rtol=1e-5, atol=1e-7)
    # the same through peft's LoRA on a tiny ViT
    assert one["lora_penalty"] > 1e-4 and np.abs(one["lora_grad"]).max() > 1e-4
    np.testing.assert_allclose(two["lora_penalty"], one["lora_penalty"], rtol=1e-5)
    np.testing.assert_allclose(two["lora_grad"], one["lora_grad"], rtol=1e-4, atol=1e-7)
    # per-process statistics (the naive implementation) would give a different gradient: the test has power
    assert np.abs(two["naive_grad"] - one["grad"]).max() > 1e-3
    # and whole training runs with the term agree (up to float summation order)
    np.testing.assert_allclose(two["logits"], one["logits"], rtol=0, atol=1e-4)


# -- experiment helpers -------------------------------------------------------------------------------------------
def _records(rows):
    base = {"backbone": "b", "rank": 8, "split": "test"}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_select_lambda_uses_validation_never_test():
    rows = []
    for seed in (0, 1):
        for adaptation in ("lora", "full"):
            common = dict(adaptation=adaptation, method=fx.method_name(adaptation, 0.0), lam=0.0, seed=seed,
                          groups="none")
            rows += [{**common, "split": "val", "min_group_f1": 0.5}, {**common, "split": "test", "min_group_f1": 0.5}]
            # per-class: lambda 1 best on validation (worst on test); subgroups: lambda 10 best on validation
            for groups, table in (("class", ((1.0, 0.8, 0.2), (10.0, 0.3, 0.9))),
                                  ("class_attribute", ((1.0, 0.3, 0.9), (10.0, 0.8, 0.2)))):
                for lam, val, test in table:
                    common = dict(adaptation=adaptation, method=fx.method_name(adaptation, lam), lam=lam, seed=seed,
                                  groups=groups)
                    rows += [{**common, "split": "val", "min_group_f1": val},
                             {**common, "split": "test", "min_group_f1": test}]
    rows = [{**r, "label": fx.method_label(r["method"], r["groups"])} for r in rows]
    best = fx.select_lambda(_records(rows), metric="min_group_f1")
    assert best.loc[("b", "FairLoRA", "class"), "lam"] == 1.0 and best.loc[("b", "Fair FFT", "class"), "lam"] == 1.0
    assert best.loc[("b", "FairLoRA", "class_attribute"), "lam"] == 10.0
    assert best.loc[("b", "FairLoRA", "class"), "test_min_group_f1"] == pytest.approx(0.2)
    assert best.loc[("b", "FairLoRA", "class"), "val_min_group_f1_at_lambda_0"] == pytest.approx(0.5)
    assert best.loc[("b", "FairLoRA", "class"), "label"] == "FairLoRA [per-class]"
    # lower-is-better metrics pick the smallest validation value
    rows_gap = [{**r, "f1_gap": r["min_group_f1"]} for r in rows]
    gap = fx.select_lambda(_records(rows_gap), metric="f1_gap")
    assert gap.loc[("b", "FairLoRA", "class"), "lam"] == 10.0 and gap.loc[("b", "FairLoRA", "class_attribute"), "lam"] == 1.0
    comparison = fx.comparison_records(_records(rows), best)
    assert set(comparison["lam"]) == {0.0, 1.0, 10.0} and list(comparison["method"].cat.categories) == list(fx.METHOD_ORDER)
    # each reading keeps its own lambda, and both share the unregularised runs
    assert set(comparison[comparison["groups"] == "class"]["lam"]) == {1.0}
    assert set(comparison[comparison["groups"] == "class_attribute"]["lam"]) == {10.0}
    assert set(fx.reading_records(comparison, "class")["label"]) == {"LoRA", "FFT", "FairLoRA [per-class]",
                                                                      "Fair FFT [per-class]"}


def test_paired_improvement_orientation_and_pairing():
    rows = [{"method": "A", "seed": k, "f1_gap": 0.1 + 0.01 * k, "min_group_f1": 0.9} for k in range(3)]
    rows += [{"method": "B", "seed": k, "f1_gap": 0.3, "min_group_f1": 0.7 + 0.05 * k} for k in range(3)]
    gap = fx.paired_improvement(_records(rows), method={"method": "A"}, baseline={"method": "B"}, metric="f1_gap")
    assert gap["mean"] == pytest.approx(0.19) and gap["per_seed"] == pytest.approx({0: 0.2, 1: 0.19, 2: 0.18})
    f1 = fx.paired_improvement(_records(rows), method={"method": "A"}, baseline={"method": "B"}, metric="min_group_f1")
    assert f1["mean"] == pytest.approx(0.15) and f1["ci_low"] > 0
    with pytest.raises(ValueError, match="more than one run per seed"):
        fx.paired_improvement(_records(rows), method={"split": "test"}, baseline={"method": "B"}, metric="f1_gap")


def test_evaluate_by_hand():
    y = np.array([1, 1, 0, 0, 1, 0, 1, 0])
    s = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    p = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    out = fx.evaluate_predictions(y, p, s, group_names=("g0", "g1"))
    # group g0: TP 1, FN 1, TN 2 -> recall 0.5, F1 2/3; group g1: TP 2, FP 1, TN 1 -> recall 1, F1 0.8
    assert out["recall[g0]"] == 0.5 and out["f1[g0]"] == pytest.approx(2 / 3) and out["f1[g1]"] == pytest.approx(0.8)
    assert out["min_group_f1"] == pytest.approx(2 / 3) and out["f1_gap"] == pytest.approx(0.8 - 2 / 3)
    # label x group cells: (0,g0) 1, (0,g1) 1/2, (1,g0) 1/2, (1,g1) 1
    assert out["worst_cell_accuracy"] == 0.5 and out["accuracy"] == 0.75
    # EOD = max(|TPR gap|, |FPR gap|) = max(0.5, 0.5)
    assert out["eo_max"] == pytest.approx(0.5)


def test_method_names_and_profiles():
    assert [fx.method_name(a, l) for a, l in (("lora", 0), ("lora", 1), ("full", 0), ("full", 0.1))] == \
        list(fx.METHOD_ORDER)
    smoke, full = get_profile("smoke").fairlora, get_profile("full").fairlora
    assert smoke.backbones == ("stand-in-vit",) and smoke.dataset == "waterbirds_like"
    assert full.dataset == "waterbirds" and set(full.backbones) == set(FAIRLORA_HUB_BACKBONES)
    assert set(full.backbones) <= set(BACKBONE_PREPROCESSING)  # each has its row in the one table of fairlib.models
    # lambdas span orders of magnitude at every profile
    for cfg in (smoke, full, get_profile("test").fairlora):
        assert max(cfg.lambdas) / min(cfg.lambdas) >= 10 and cfg.rank in cfg.ranks


def test_label_group_counts_match_the_data():
    def part(y, s):
        return GroupedDataset(name="p", x=np.zeros((len(y), 1), np.float32), y=np.array(y), s=np.array(s),
                              group_names=("a", "b"), class_names=("n", "p"), sensitive_name="g")

    from fairlib.data import Splits
    splits = Splits(train=part([0, 0, 1, 1, 1], [0, 1, 1, 1, 0]), val=part([1], [1]), test=part([0, 1], [0, 0]))
    counts = fx.label_group_counts(splits)
    assert counts.loc[("p", "b"), "train"] == 2 and counts.loc[("n", "a"), "train"] == 1
    assert counts["train"].sum() == 5 and counts["val"].tolist() == [0, 0, 0, 1]
    assert counts["test"].tolist() == [1, 0, 1, 0]


# -- the experiment of notebook 02 as a grid of jobs ---------------------------------------------------------------
def test_renamed_maps_a_before_record_onto_the_canonical_names():
    before = {"accuracy": 0.7, "equalized_odds_difference": 0.3, "worst_group_accuracy": 0.1,
              "equalized_odds_difference_mean": 0.25, "worst_group_accuracy_ci_low": 0.05, "min_group_f1_n": 2,
              "val_worst_group_accuracy": 0.2, "val_worst_group_accuracy_at_lambda_0": 0.15, "f1[background]": 0.4}
    after = fx.rename_keys(before)
    assert after == {"accuracy": 0.7, "eo_max": 0.3, "worst_cell_accuracy": 0.1, "eo_max_mean": 0.25,
                     "worst_cell_accuracy_ci_low": 0.05, "min_group_f1_n": 2, "val_worst_cell_accuracy": 0.2,
                     "val_worst_cell_accuracy_at_lambda_0": 0.15, "f1[background]": 0.4}
    # every new name is a canonical metric, and what the runner records under it is what the old name meant:
    # fairlearn's equalized-odds difference, and the worst accuracy over (label, group) cells
    from fairlearn.metrics import equalized_odds_difference
    from fairlib.metrics import METRICS

    assert set(fx.RENAMED.values()) <= set(METRICS) and set(fx.RENAMED.values()) <= set(fx.REPORTED_METRICS)
    rng = np.random.default_rng(3)
    y, p, s = rng.integers(0, 2, 200), rng.integers(0, 2, 200), rng.integers(0, 2, 200)
    out = fx.evaluate_predictions(y, p, s, group_names=("a", "b"))
    assert out["eo_max"] == pytest.approx(equalized_odds_difference(y, p, sensitive_features=s))
    cells = [np.mean(p[(y == c) & (s == g)] == c) for c in (0, 1) for g in (0, 1)]
    assert out["worst_cell_accuracy"] == pytest.approx(min(cells))


def test_jobs_is_the_whole_grid_with_its_dependencies():
    profile = get_profile("test")
    fc, seeds = profile.fairlora, fx.seeds_of(profile)
    grid = fx.jobs(profile)
    assert fx.jobs("test") == grid  # by name or by profile
    keys = [spec.key for spec in grid]
    assert len(set(keys)) == len(keys)
    readings = len(fc.groupings)
    assert fc.groupings == ("class", "class_attribute") and fc.sweep_seeds is None
    # lambda sweep: (LoRA, full FT) x (0 + readings x every lambda) x seeds; rank sweep: (LoRA + FairLoRA per
    # reading) x other ranks x seeds
    n_sweep = 2 * (1 + readings * len(fc.lambdas)) * len(seeds)
    assert len(grid) == n_sweep + (1 + readings) * (len(fc.ranks) - 1) * len(seeds)
    for groups in fc.groupings:
        candidates = {spec.key for spec in grid[:n_sweep] if spec.method == "FairLoRA"
                      and spec.param("rank") == fc.rank and spec.param("groups") == groups}
        assert len(candidates) == len(fc.lambdas) * len(seeds)
        chosen = [spec for spec in grid if spec.param("lam") is None and spec.param("groups") == groups]
        assert len(chosen) == (len(fc.ranks) - 1) * len(seeds)
        for spec in chosen:  # FairLoRA at the validation-chosen lambda: after every candidate of its reading
            assert spec.method == "FairLoRA" and set(spec.after) == candidates and spec.param("rank") != fc.rank
            assert spec.param("select", None)["metric"] == fc.selection_metric
            assert spec.param("select", None)["groups"] == groups
    for spec in grid:
        assert (spec.notebook, spec.profile) == ("02", "test")
        if spec.param("lam") is not None:
            assert spec.after == ()
            assert spec.method == fx.method_name(spec.param("adaptation"), spec.param("lam"))
            assert (spec.param("groups") is None) == (spec.param("lam") == 0)
        assert (spec.param("rank") == 0) == (spec.param("adaptation") == "full")
    # the registry finds this module for notebook 02
    from fairlib.experiments import EXPERIMENTS, jobs_for

    assert EXPERIMENTS["02"] == "fairlib.experiments.fairlora" and jobs_for("test", only=["02"]) == grid
    # the dry run's GPU-hours: hub runs only (0.5 per lambda-sweep run, 0.4 per other-rank run)
    full = get_profile("full")
    f = full.fairlora
    per_backbone_sweep = 2 * (1 + len(f.groupings) * len(f.lambdas))
    per_backbone_ranks = (1 + len(f.groupings)) * (len(f.ranks) - 1)
    expected = len(f.backbones) * len(fx.seeds_of(full)) * (0.5 * per_backbone_sweep + 0.4 * per_backbone_ranks)
    assert sum(s.gpu_hours for s in fx.jobs(full)) == pytest.approx(expected)
    assert sum(s.gpu_hours for s in grid) == 0.0


def test_sweep_seeds_sweeps_fewer_seeds_and_the_chosen_lambda_runs_on_the_others():
    from fairlib.config import STANDIN_SEEDS

    # the smoke profile: stand-in evidence on the standin seeds, every seed at every lambda (no sweep_seeds)
    current = get_profile("smoke")
    assert fx.seeds_of(current) == fx.sweep_seeds_of(current) == STANDIN_SEEDS
    assert current.fairlora.sweep_seeds is None
    assert len(fx.jobs(current)) == 2 * 5 + 2 * 2 * 4 * 5 + 2 * 5 + 2 * 2 * 5 == 120
    # sweep_seeds on 10 seeds (the smoke profile before the stand-in rule)
    smoke = get_profile("smoke", fairlora=dict(seeds=list(range(10)), sweep_seeds=5))
    fc, seeds, sweep = smoke.fairlora, fx.seeds_of(smoke), fx.sweep_seeds_of(smoke)
    assert len(seeds) == 10 and sweep == seeds[:fc.sweep_seeds] == (0, 1, 2, 3, 4)
    grid = fx.jobs(smoke)
    by_key = {spec.key: spec for spec in grid}
    # 140 runs with one reading, 180 with two (+29% runs)
    assert len(grid) == 2 * 10 + 2 * 2 * 4 * 5 + 2 * 2 * 5 + 2 * 10 + 2 * 2 * 10 == 180
    for spec in grid:
        if spec.param("lam") == 0.0:
            assert spec.param("groups") is None
        elif spec.param("lam") is not None:  # the sweep's regularised runs: the sweep's seeds only
            assert spec.seed in sweep and spec.param("select", None) is None
        else:  # at the chosen lambda: the other seeds at rank fc.rank (or full FT), every seed at other ranks
            select = spec.param("select", None)
            assert tuple(select["seeds"]) == sweep and select["adaptation"] == spec.param("adaptation")
            at_main = spec.param("rank") in (0, fc.rank)
            assert (spec.seed not in sweep) if at_main else True
            for key in spec.after:  # the candidates: same adaptation and reading, every lambda, the sweep's seeds
                c = by_key[key]
                assert (c.param("adaptation"), c.param("groups"), c.param("select", None)) == \
                    (spec.param("adaptation"), spec.param("groups"), None)
                assert c.seed in sweep and c.param("lam") in fc.lambdas
            assert len(spec.after) == len(fc.lambdas) * len(sweep)
    # every method a claim compares has all 10 seeds: lambda = 0, and per reading the chosen lambda's cell
    # (sweep seeds at each candidate lambda + the chosen-lambda runs on the rest)
    for adaptation in ("lora", "full"):
        for groups in fc.groupings:
            rest = {s.seed for s in grid if s.param("select", None) and s.param("adaptation") == adaptation
                    and s.param("groups") == groups and s.param("rank") in (0, fc.rank)}
            assert rest | set(sweep) == set(seeds) and not rest & set(sweep)
    # fewer seeds than sweep_seeds (the notebook's exercise: seeds [0, 1, 2]): every seed runs the sweep, and
    # no run at the chosen lambda is needed at the main rank
    three = get_profile("smoke", seeds=[0, 1, 2])
    assert fx.sweep_seeds_of(three) == (0, 1, 2)
    assert not [s for s in fx.jobs(three) if s.param("select", None) and s.param("rank") in (0, fc.rank)]


def _claim_records(effect, gap_effect, slope, low_rank_delta, seeds=10, stand_in=False, subgroup_effect=0.0,
                   groupings=("class", "class_attribute")):
    """Simulated records: FairLoRA per-class has ``effect`` on min-group F1; FairLoRA on the subgroups reading
    has ``subgroup_effect``; both share the LoRA / FFT runs."""
    rng = np.random.default_rng(0)
    rows, sweep = [], []
    for seed in range(seeds):
        lora = 0.5 + 0.05 * rng.standard_normal()
        gap = 0.3 + 0.05 * rng.standard_normal()
        noise = 0.002 * rng.standard_normal(6)
        for method, groups, f1, f1_gap in (
                ("LoRA", "none", lora, gap), ("FFT", "none", lora, gap),
                ("FairLoRA", "class", lora + effect + noise[0], gap + gap_effect + noise[1]),
                ("Fair FFT", "class", lora + noise[2], gap + noise[3]),
                ("FairLoRA", "class_attribute", lora + subgroup_effect + noise[4], gap + noise[5]),
                ("Fair FFT", "class_attribute", lora + noise[2], gap + noise[3])):
            rows.append({"backbone": "b", "method": method, "groups": groups, "seed": seed, "split": "test",
                         "rank": 8, "min_group_f1": f1, "min_group_recall": f1, "f1_gap": f1_gap, "eo_max": f1_gap})
        for rank in (2, 8, 32):
            for groups in ("class", "class_attribute"):
                sweep.append({"backbone": "b", "method": "FairLoRA", "groups": groups, "seed": seed, "split": "test",
                              "rank": rank, "min_group_f1": 0.6 + slope * np.log2(rank) + 0.001 * rng.standard_normal()})
            sweep.append({"backbone": "b", "method": "LoRA", "groups": "none", "seed": seed, "split": "test",
                          "rank": rank, "min_group_f1": 0.6 + slope * np.log2(rank) - low_rank_delta})
    return fx.claim_rows(pd.DataFrame(rows), pd.DataFrame(sweep), ranks_swept=(2, 8, 32), stand_in=stand_in,
                         data="simulated", groupings=groupings)


def test_claim_rows_by_kind_on_simulated_effects():
    from fairlib.evidence import validate_row

    # FairLoRA: min-group F1 +0.1 on every seed (superiority: reproduced), F1 gap +0.1 (larger: contradicted);
    # flat in rank (trend inside the slope margin: reproduced); at rank 2 above LoRA at rank 32 by 0.05
    rows = {r["id"]: validate_row(r) for r in _claim_records(effect=0.1, gap_effect=0.1, slope=0.0,
                                                              low_rank_delta=0.05)}
    assert rows["p2.vs_lora.min_group_f1"]["verdict"] == "reproduced"
    assert rows["p2.vs_lora.f1_gap"]["verdict"] == "contradicted"
    assert rows["p2.vs_lora.min_group_f1"]["estimate"] == pytest.approx(0.1, abs=0.005)
    assert rows["p2.rank.not_needed"]["verdict"] == "reproduced"
    assert rows["p2.rank.low_rank_fairlora_vs_high_rank_lora"]["verdict"] == "reproduced"
    # a steep rise with rank contradicts "not needed"; FairLoRA far below LoRA contradicts non-inferiority
    rows = {r["id"]: r for r in _claim_records(effect=0.0, gap_effect=0.0, slope=0.05, low_rank_delta=-0.2)}
    assert rows["p2.rank.not_needed"]["verdict"] == "contradicted"
    assert rows["p2.rank.not_needed"]["estimate"] == pytest.approx(0.05, abs=0.002)
    # (the low-rank comparison: FairLoRA at 2 = 0.6 + 0.05, LoRA at 32 = 0.6 + 0.25 + 0.2 -> -0.4)
    assert rows["p2.rank.low_rank_fairlora_vs_high_rank_lora"]["verdict"] == "contradicted"
    # no effect with a wide spread at 3 seeds: inconclusive, with the detectable effect stated
    rows = {r["id"]: r for r in _claim_records(effect=0.0, gap_effect=0.0, slope=0.0, low_rank_delta=0.0, seeds=3)}
    assert rows["p2.vs_lora.min_group_f1"]["verdict"] == "inconclusive" and rows["p2.vs_lora.min_group_f1"]["mde"] > 0
    # on a stand-in every row is "not run", its result kept as evidence
    rows = _claim_records(effect=0.1, gap_effect=0.1, slope=0.0, low_rank_delta=0.05, stand_in=True)
    assert all(r["verdict"] == "not run" and r["reason"] == "stand-in data" and r["estimate"] is None for r in rows)
    assert {r["id"]: r["evidence"]["verdict"] for r in rows}["p2.vs_lora.min_group_f1"] == "reproduced"
    table = fx.claims_table(rows, profile="test")
    assert table.loc["p2.vs_lora.min_group_f1", "evidence_verdict"] == "reproduced"
    assert table.loc["p2.vs_lora.min_group_f1", "reading"] == "per-class"
    assert table.loc["p2.vs_lora.min_group_f1.subgroups", "reading"] == "class x attribute subgroups"


def test_each_claim_is_tested_on_the_per_class_reading_and_re_tested_on_the_subgroups():
    from fairlib.claims import claims_of

    ids = [c.id for c in claims_of("02")]
    base = [i for i in ids if not i.endswith(".subgroups")]
    assert sorted(ids) == sorted(base + [i + ".subgroups" for i in base])  # stable ids, one re-test each
    assert all("per-class reading" in c.statement for c in claims_of("02") if c.id in base)
    # per-class FairLoRA +0.1 on min-group F1, subgroups FairLoRA -0.1: the two readings give opposite verdicts,
    # each computed from its own runs against the shared LoRA runs
    rows = {r["id"]: r for r in _claim_records(effect=0.1, gap_effect=0.0, slope=0.0, low_rank_delta=0.05,
                                                subgroup_effect=-0.1)}
    assert rows["p2.vs_lora.min_group_f1"]["verdict"] == "reproduced"
    assert rows["p2.vs_lora.min_group_f1.subgroups"]["verdict"] == "contradicted"
    assert rows["p2.vs_lora.min_group_f1"]["estimate"] == pytest.approx(0.1, abs=0.005)
    assert rows["p2.vs_lora.min_group_f1.subgroups"]["estimate"] == pytest.approx(-0.1, abs=0.005)
    assert rows["p2.vs_lora.min_group_f1"]["data"].endswith("per-class reading")
    assert rows["p2.vs_lora.min_group_f1.subgroups"]["data"].endswith("class x attribute subgroups reading")
    # a reading the profile does not run: its rows are "not run (profile)", the other reading's are tested
    rows = {r["id"]: r for r in _claim_records(effect=0.1, gap_effect=0.0, slope=0.0, low_rank_delta=0.05,
                                                groupings=("class",))}
    assert rows["p2.vs_lora.min_group_f1.subgroups"]["verdict"] == "not run"
    assert rows["p2.vs_lora.min_group_f1.subgroups"]["reason"] == "profile"
    assert rows["p2.vs_lora.min_group_f1"]["verdict"] == "reproduced"
    assert fx.reading_of_claim("p2.rank.not_needed.subgroups") == ("class_attribute", "p2.rank.not_needed")
    assert fx.reading_of_claim("p2.rank.not_needed") == ("class", "p2.rank.not_needed")


def test_notebook_seeds_default_to_the_profile_and_every_compared_cell_has_every_seed():
    from fairlib.config import STANDIN_SEEDS

    assert fx.seeds_of(get_profile("test")) == get_profile("test").seeds  # None: the profile's seeds
    # smoke: stand-in evidence only (every claim of paper 2 is not run (stand-in)), on the full profile's count
    assert fx.seeds_of(get_profile("smoke")) == STANDIN_SEEDS and len(STANDIN_SEEDS) == len(get_profile("full").seeds)
    for profile in (get_profile("smoke"), get_profile("smoke", fairlora=dict(seeds=list(range(10)), sweep_seeds=5))):
        grid, n_seeds = fx.jobs(profile), len(fx.seeds_of(profile))
        # every comparison a claim rests on has every seed: lambda = 0 cells, and per reading the rank sweep's
        # FairLoRA and the chosen lambda at the main rank (the sweep's seeds + the chosen-lambda runs on the others)
        cells = pd.Series([(s.method, s.param("groups"), s.param("rank")) for s in grid
                           if s.param("lam") in (0.0, None)]).value_counts()
        sweep = len(fx.sweep_seeds_of(profile)) if profile.fairlora.sweep_seeds else 0
        for (method, groups, rank), n in cells.items():
            at_main = groups is not None and rank in (0, profile.fairlora.rank)
            assert n + (sweep if at_main else 0) == n_seeds, (method, groups, rank, n)
    with pytest.raises(ConfigError, match="seeds"):
        FairLoRAConfig(seeds=(0, -1))
