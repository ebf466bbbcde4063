"""Notebook 02 (FairLoRA) on the test profile: its recorded numbers must agree with each other."""

import math

import numpy as np
import pandas as pd
import pytest

from fairlib import paths
from fairlib.config import get_profile

pytestmark = pytest.mark.notebooks

FAIRNESS = ("min_group_f1", "min_group_recall", "f1_gap", "equalized_odds_difference")


@pytest.fixture(scope="module")
def results(executed_notebook):
    return executed_notebook("02")


@pytest.fixture(scope="module")
def runs(results):
    return pd.DataFrame(results["metrics"]["runs"])


def test_outputs_exist(results):
    assert results["profile"] == "test"
    for name in ("02_lambda_sweep", "02_rank_sweep", "02_group_f1"):
        for suffix in ("png", "pdf"):
            assert (paths.FIGURES / "test" / f"{name}.{suffix}").exists()
    for name in ("02_best_lambda", "02_comparison", "02_paper_vs_reproduced", "02_lambda_sweep", "02_rank_sweep",
                 "02_data"):
        for suffix in ("csv", "md"):
            assert (paths.FIGURES / "test" / f"{name}.{suffix}").exists()
    table = pd.read_csv(paths.FIGURES / "test" / "02_paper_vs_reproduced.csv")
    assert set(table["profile"]) == {"test"}


def test_every_planned_run_is_recorded_once(results, runs):
    fc = get_profile("test").fairlora
    seeds = get_profile("test").seeds
    test = runs[runs["split"] == "test"]
    assert not test.duplicated(["backbone", "adaptation", "lam", "rank", "seed"]).any()
    for adaptation in ("lora", "full"):
        rank = fc.rank if adaptation == "lora" else 0
        for lam in (0.0, *fc.lambdas):
            got = test[(test["adaptation"] == adaptation) & (test["lam"] == lam) & (test["rank"] == rank)]
            assert sorted(got["seed"]) == sorted(seeds)


def test_recorded_gaps_and_minima_equal_the_recorded_per_group_values(runs):
    f1 = runs.filter(like="f1[").to_numpy(dtype=float)
    recall = runs.filter(like="recall[").to_numpy(dtype=float)
    assert f1.shape[1] == 2 and recall.shape[1] == 2
    np.testing.assert_allclose(runs["min_group_f1"], np.nanmin(f1, axis=1), atol=1e-12)
    np.testing.assert_allclose(runs["f1_gap"], np.nanmax(f1, axis=1) - np.nanmin(f1, axis=1), atol=1e-12)
    np.testing.assert_allclose(runs["min_group_recall"], np.nanmin(recall, axis=1), atol=1e-12)
    # equalized odds is at least the gap in recall (TPR) between the two groups
    assert (runs["equalized_odds_difference"] + 1e-12 >= np.abs(recall[:, 0] - recall[:, 1])).all()
    # the worst (label x group) accuracy cannot exceed the accuracy, nor the worst group's recall
    assert (runs["worst_group_accuracy"] <= runs["accuracy"] + 1e-12).all()
    assert (runs["worst_group_accuracy"] <= runs["min_group_recall"] + 1e-12).all()


def test_trainable_parameters_match_hand_counts(results, runs):
    spec = get_profile("test").stand_in_vit
    h, layers, inter, p = spec.hidden_size, spec.num_hidden_layers, spec.intermediate_size, spec.patch_size
    head = h * 2 + 2
    tokens = (28 // p) ** 2 + 1
    embeddings = h + tokens * h + (p * p * 1 * h + h)
    layer = 2 * 2 * h + 4 * (h * h + h) + (h * inter + inter) + (inter * h + h)
    vit = embeddings + layers * layer + 2 * h
    test = runs[runs["split"] == "test"]
    for row in test.itertuples():
        if row.adaptation == "lora":  # A (r x h) and B (h x r) on q and v of every layer, plus the head
            assert row.trainable_parameters == layers * 2 * (2 * h * row.rank) + head
        else:
            assert row.trainable_parameters == vit + head


def test_best_lambda_is_the_validation_argmax(results, runs):
    fc = get_profile("test").fairlora
    metric = fc.selection_metric
    for choice in results["metrics"]["best_lambda"]:
        part = runs[(runs["adaptation"] == choice["adaptation"]) & (runs["lam"] > 0)
                    & (runs["rank"] == (fc.rank if choice["adaptation"] == "lora" else 0))]
        val = part[part["split"] == "val"].groupby("lam")[metric].mean()
        assert choice["lam"] == val.idxmax()
        assert choice[f"val_{metric}"] == pytest.approx(val.max())
        test_mean = part[(part["split"] == "test") & (part["lam"] == choice["lam"])][metric].mean()
        assert choice[f"test_{metric}"] == pytest.approx(test_mean)


def test_comparison_summarises_the_chosen_runs(results, runs):
    chosen = {c["method"]: c["lam"] for c in results["metrics"]["best_lambda"]}
    rank = get_profile("test").fairlora.rank
    for row in results["metrics"]["comparison"]:
        lam = chosen.get(row["method"], 0.0)
        assert row["lam"] == lam
        adaptation = "lora" if "LoRA" in row["method"] else "full"
        part = runs[(runs["split"] == "test") & (runs["adaptation"] == adaptation) & (runs["lam"] == lam)
                    & (runs["rank"] == (rank if adaptation == "lora" else 0))]
        for metric in (*FAIRNESS, "accuracy"):
            values = part[metric].to_numpy(dtype=float)
            assert row[f"{metric}_n"] == len(values) == len(get_profile("test").seeds)
            assert row[f"{metric}_mean"] == pytest.approx(values.mean())
            if not math.isnan(row[f"{metric}_ci_low"]):
                assert row[f"{metric}_ci_low"] <= row[f"{metric}_mean"] <= row[f"{metric}_ci_high"]


def test_claims_are_the_recorded_paired_differences(results, runs):
    chosen = {c["method"]: c["lam"] for c in results["metrics"]["best_lambda"]}
    rank = get_profile("test").fairlora.rank
    test = runs[runs["split"] == "test"]

    def side(method):
        adaptation = "lora" if "LoRA" in method else "full"
        lam = chosen.get(method, 0.0)
        part = test[(test["adaptation"] == adaptation) & (test["lam"] == lam)
                    & (test["rank"] == (rank if adaptation == "lora" else 0))]
        return part.set_index("seed")

    claims = {c["claim"].split(" [")[0]: c for c in results["claims"]}
    labels = {"min_group_f1": "min-group F1", "min_group_recall": "min-group recall", "f1_gap": "F1 gap",
              "equalized_odds_difference": "EOD"}
    for other in ("LoRA", "Fair FFT"):
        for metric in FAIRNESS:
            sign = -1.0 if metric in ("f1_gap", "equalized_odds_difference") else 1.0
            diff = sign * (side("FairLoRA")[metric] - side(other)[metric])
            claim = claims[f"FairLoRA fairer than {other}: {labels[metric]} (improvement)"]
            assert claim["ours"] == pytest.approx(diff.mean())
            low, high = claim["ci"]
            if claim["verdict"] == "reproduced":
                assert low > 0
            elif claim["verdict"] == "same direction, not significant":
                assert diff.mean() > 0 and low <= 0
            else:
                assert claim["verdict"] == "not reproduced" and diff.mean() <= 0


def test_rank_sweep_covers_every_rank_with_the_chosen_lambda(results, runs):
    fc = get_profile("test").fairlora
    chosen = {c["method"]: c["lam"] for c in results["metrics"]["best_lambda"]}
    test = runs[(runs["split"] == "test") & (runs["adaptation"] == "lora")]
    for method, lam in (("LoRA", 0.0), ("FairLoRA", chosen["FairLoRA"])):
        for rank in fc.ranks:
            part = test[(test["method"] == method) & (test["rank"] == rank) & (test["lam"] == lam)]
            assert sorted(part["seed"]) == sorted(get_profile("test").seeds)
    # FairLoRA at other lambdas is only run at the main rank
    assert set(test[test["rank"] != fc.rank]["lam"]) == {0.0, chosen["FairLoRA"]}
