"""Notebook 02 (FairLoRA) on the test profile: its recorded numbers must agree with each other."""

import math

import numpy as np
import pandas as pd
import pytest

from fairlib import paths
from fairlib.config import get_profile
from fairlib.claims import claims_of
from fairlib.evidence import Verdict, validate_row
from fairlib.experiments import fairlora as fx
from fairlib.metrics import summarize_over_seeds

pytestmark = pytest.mark.notebooks

FAIRNESS = ("min_group_f1", "min_group_recall", "f1_gap", "eo_max")


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
    # every claim row names its reading: per-class (the paper's) for p2.<claim>, subgroups for p2.<claim>.subgroups
    assert (table["reading"] == np.where(table["id"].str.endswith(".subgroups"), "class x attribute subgroups",
                                         "per-class")).all()
    comparison = pd.read_csv(paths.FIGURES / "test" / "02_comparison.csv")
    assert set(comparison["label"]) == {"LoRA", "FFT", "FairLoRA [per-class]", "FairLoRA [class x attribute subgroups]",
                                        "Fair FFT [per-class]", "Fair FFT [class x attribute subgroups]"}


def test_the_two_readings_of_the_demo_batch_by_hand(results):
    # losses 1, 2, 4, 8, 6 of (y, s) = (0,0), (0,1), (1,0), (1,1), (1,1): class means 1.5, 6; cell means 1, 2, 4, 7
    demo = results["metrics"]["demo_readings"]
    assert demo["class"] == pytest.approx(np.var([1.5, 6.0]))
    assert demo["class_attribute"] == pytest.approx(np.var([1.0, 2.0, 4.0, 7.0]))


def test_every_planned_run_is_recorded_once(results, runs):
    fc = get_profile("test").fairlora
    seeds = fx.seeds_of(get_profile("test"))
    test = runs[(runs["split"] == "test") & (runs["stage"] == "sweep")]
    assert not test.duplicated(["backbone", "adaptation", "groups", "lam", "rank", "seed"]).any()
    for adaptation in ("lora", "full"):
        rank = fc.rank if adaptation == "lora" else 0
        for lam, groups in ((0.0, "none"), *((lam, g) for lam in fc.lambdas for g in fc.groupings)):
            got = test[(test["adaptation"] == adaptation) & (test["lam"] == lam) & (test["rank"] == rank)
                       & (test["groups"] == groups)]
            assert sorted(got["seed"]) == sorted(fx.sweep_seeds_of(get_profile("test")) if lam else seeds)


def test_recorded_gaps_and_minima_equal_the_recorded_per_group_values(runs):
    f1 = runs.filter(like="f1[").to_numpy(dtype=float)
    recall = runs.filter(like="recall[").to_numpy(dtype=float)
    assert f1.shape[1] == 2 and recall.shape[1] == 2
    np.testing.assert_allclose(runs["min_group_f1"], np.nanmin(f1, axis=1), atol=1e-12)
    np.testing.assert_allclose(runs["f1_gap"], np.nanmax(f1, axis=1) - np.nanmin(f1, axis=1), atol=1e-12)
    np.testing.assert_allclose(runs["min_group_recall"], np.nanmin(recall, axis=1), atol=1e-12)
    # equalized odds is at least the gap in recall (TPR) between the two groups
    assert (runs["eo_max"] + 1e-12 >= np.abs(recall[:, 0] - recall[:, 1])).all()
    # the worst (label x group) accuracy cannot exceed the accuracy, nor the worst group's recall
    assert (runs["worst_cell_accuracy"] <= runs["accuracy"] + 1e-12).all()
    assert (runs["worst_cell_accuracy"] <= runs["min_group_recall"] + 1e-12).all()


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
    assert {(c["method"], c["groups"]) for c in results["metrics"]["best_lambda"]} == \
        {(m, g) for m in ("FairLoRA", "Fair FFT") for g in fc.groupings}
    for choice in results["metrics"]["best_lambda"]:
        part = runs[(runs["adaptation"] == choice["adaptation"]) & (runs["lam"] > 0) & (runs["stage"] == "sweep")
                    & (runs["groups"] == choice["groups"])
                    & (runs["rank"] == (fc.rank if choice["adaptation"] == "lora" else 0))]
        val = part[part["split"] == "val"].groupby("lam")[metric].mean()
        assert choice["lam"] == val.idxmax()
        assert choice[f"val_{metric}"] == pytest.approx(val.max())
        test_mean = part[(part["split"] == "test") & (part["lam"] == choice["lam"])][metric].mean()
        assert choice[f"test_{metric}"] == pytest.approx(test_mean)


def _chosen(results):
    """``{label: lambda}`` of the regularised methods (one per method and reading)."""
    return {c["label"]: c["lam"] for c in results["metrics"]["best_lambda"]}


def test_comparison_summarises_the_chosen_runs(results, runs):
    chosen = _chosen(results)
    rank = get_profile("test").fairlora.rank
    assert len(results["metrics"]["comparison"]) == 2 + len(chosen)
    for row in results["metrics"]["comparison"]:
        lam = chosen.get(row["label"], 0.0)
        assert row["lam"] == lam
        adaptation = "lora" if "LoRA" in row["label"] else "full"
        groups = next((g for g, name in fx.READINGS.items() if row["label"].endswith(f"[{name}]")), "none")
        part = runs[(runs["split"] == "test") & (runs["adaptation"] == adaptation) & (runs["lam"] == lam)
                    & (runs["groups"] == groups) & (runs["rank"] == (rank if adaptation == "lora" else 0))]
        for metric in (*FAIRNESS, "accuracy"):
            values = part[metric].to_numpy(dtype=float)
            assert row[f"{metric}_n"] == len(values) == len(fx.seeds_of(get_profile("test")))
            assert row[f"{metric}_mean"] == pytest.approx(values.mean())
            if not math.isnan(row[f"{metric}_ci_low"]):
                assert row[f"{metric}_ci_low"] <= row[f"{metric}_mean"] <= row[f"{metric}_ci_high"]
                # a bounded metric's interval: the percentile bootstrap of the mean, inside [0, 1]
                boot = summarize_over_seeds(values, metric=metric)
                assert (row[f"{metric}_ci_low"], row[f"{metric}_ci_high"]) == pytest.approx(
                    (boot["ci_low"], boot["ci_high"]))
                assert 0.0 <= row[f"{metric}_ci_low"] and row[f"{metric}_ci_high"] <= 1.0


def test_claims_are_engine_rows_of_the_recorded_paired_differences(results, runs):
    chosen = _chosen(results)
    fc = get_profile("test").fairlora
    test = runs[runs["split"] == "test"]

    def side(method, groups="none", rank=fc.rank):
        adaptation = "lora" if "LoRA" in method else "full"
        lam = chosen.get(fx.method_label(method, groups), 0.0)
        part = test[(test["adaptation"] == adaptation) & (test["lam"] == lam) & (test["groups"] == groups)
                    & (test["rank"] == (rank if adaptation == "lora" else 0))]
        return part.set_index("seed")

    rows = {r["id"]: validate_row(r) for r in results["claims"]}
    assert set(rows) == {c.id for c in claims_of("02")}
    for row in rows.values():
        # the test profile's data is a stand-in: no verdict on the paper's claim, the stand-in's result beside it
        assert row["verdict"] == Verdict.NOT_RUN.value and row["reason"] == "stand-in data"
        assert row["evidence"]["ci_low"] <= row["evidence"]["estimate"] <= row["evidence"]["ci_high"]
    lo, hi = min(fc.ranks), max(fc.ranks)
    for groups, suffix in fx.CLAIM_SUFFIX.items():  # per-class: p2.<claim>; subgroups: p2.<claim>.subgroups
        for topic, other in (("vs_lora", "LoRA"), ("vs_fair_fft", "Fair FFT")):
            for metric in FAIRNESS:
                b = side(other, groups if other == "Fair FFT" else "none")[metric]
                diff = (side("FairLoRA", groups)[metric] - b).dropna()
                ev = rows[f"p2.{topic}.{metric}{suffix}"]["evidence"]
                assert ev["n"] == len(diff)
                assert ev["estimate"] == pytest.approx(diff.mean())
        diff = side("FairLoRA", groups, lo)["min_group_f1"] - side("LoRA", "none", hi)["min_group_f1"]
        assert rows[f"p2.rank.low_rank_fairlora_vs_high_rank_lora{suffix}"]["evidence"]["estimate"] == \
            pytest.approx(diff.mean())
        # the trend's slope on log2(rank): with two ranks, the mean difference over the log2 distance
        fair = {r: side("FairLoRA", groups, r)["min_group_f1"].mean() for r in (lo, hi)}
        slope = (fair[hi] - fair[lo]) / np.log2(hi / lo)
        assert rows[f"p2.rank.not_needed{suffix}"]["evidence"]["estimate"] == pytest.approx(slope)
        assert rows[f"p2.rank.not_needed{suffix}"]["data"].endswith(f"{fx.READINGS[groups]} reading")


def test_recorded_runs_are_the_declared_grid_one_to_one(results, runs):
    chosen = _chosen(results)
    grid = fx.jobs(get_profile("test"))
    test = runs[runs["split"] == "test"].reset_index(drop=True)
    assert len(test) == len(grid) == len({spec.key for spec in grid})
    for spec, row in zip(grid, test.itertuples()):
        assert (row.backbone, row.adaptation, row.rank, row.seed) == \
            (spec.param("backbone"), spec.param("adaptation"), spec.param("rank"), spec.seed)
        assert row.method == spec.method and row.groups == (spec.param("groups") or "none")
        assert row.run == spec.key
        if spec.param("lam") is not None:
            assert row.lam == spec.param("lam") and row.stage == "sweep"
        else:  # the validation-chosen lambda of its reading, resolved from the stored sweep
            assert row.lam == chosen[row.label] and row.lam in spec.param("select")["lambdas"]
            assert row.stage == "chosen"


def test_rank_sweep_covers_every_rank_with_the_chosen_lambda(results, runs):
    fc = get_profile("test").fairlora
    chosen = _chosen(results)
    test = runs[(runs["split"] == "test") & (runs["adaptation"] == "lora")]
    cells = [("LoRA", "none", 0.0)] + [("FairLoRA", g, chosen[fx.method_label("FairLoRA", g)]) for g in fc.groupings]
    for method, groups, lam in cells:
        for rank in fc.ranks:
            part = test[(test["method"] == method) & (test["rank"] == rank) & (test["lam"] == lam)
                        & (test["groups"] == groups)]
            assert sorted(part["seed"]) == sorted(fx.seeds_of(get_profile("test")))
    # FairLoRA at other lambdas is only run at the main rank, per reading at its own chosen lambda
    other = test[test["rank"] != fc.rank]
    assert {(g, lam) for g, lam in zip(other["groups"], other["lam"])} == {(g, lam) for _, g, lam in cells}


def test_gap_nulls_are_recorded_and_equal_a_direct_call_on_the_first_seeds_predictions(results, runs):
    from fairlib.metrics import gap_permutation_null

    profile = get_profile("test")
    fc = profile.fairlora
    nulls = pd.DataFrame(results["metrics"]["gap_null"])
    test = runs[runs["split"] == "test"]
    configurations = test.groupby(["backbone", "adaptation", "groups", "lam", "rank"])
    # one row per (configuration of the grid, gap): every point of the sweeps and every compared method
    assert len(nulls) == configurations.ngroups * len(fx.NULL_GAPS)
    assert set(nulls["metric"]) == set(fx.NULL_GAPS) == {"f1_gap", "eo_max"}
    by_key = {spec.key: spec for spec in fx.jobs(profile)}
    names = list(results["metrics"]["data"]["counts"])
    group_names = list(dict.fromkeys(k.split("|", 1)[1] for k in names))
    for row in nulls.itertuples():
        part = configurations.get_group((row.backbone, row.adaptation, row.groups, row.lam, row.rank))
        assert row.null_seed == part["seed"].min() and row.n_permutations == fc.null_permutations
        assert row.n_seeds == part[row.metric].notna().sum()
        assert row.observed_mean == pytest.approx(part[row.metric].mean(), nan_ok=True)
        # the null's run is that configuration's first seed's run, and the recorded gap is that run's gap
        first = part[part["seed"] == row.null_seed]
        assert list(first["run"]) == [row.null_run]
        assert row.null_observed == pytest.approx(float(first[row.metric].iloc[0]), nan_ok=True)
        # the same numbers from the stored predictions by a direct call
        _, tensors = fx.load_run(by_key[row.null_run])
        logits = tensors["test.logits"].numpy()
        direct = gap_permutation_null(tensors["test.y"].numpy(), logits.argmax(axis=1),
                                      sensitive_features=tensors["test.s"].numpy(), metric=row.metric,
                                      group_names=group_names, classes=[0, 1], n_permutations=fc.null_permutations,
                                      random_state=0)
        for key in ("observed", "null_mean", "null_q95", "p_value"):
            recorded = row.null_observed if key == "observed" else getattr(row, key)
            assert recorded == pytest.approx(direct[key], nan_ok=True)
        assert row.excess == pytest.approx(row.observed_mean - row.null_mean, nan_ok=True)
        # a null of a max - min gap is >= 0, and its 95th percentile at least its mean
        assert 0 <= row.null_mean <= row.null_q95 + 1e-12
        assert sum(row.group_sizes.values()) == len(tensors["test.y"])
    # the table the notebook saved is the recorded one
    saved = pd.read_csv(paths.FIGURES / "test" / "02_gap_null.csv")
    assert len(saved) == len(nulls)
    np.testing.assert_allclose(np.sort(saved["null_mean"]), np.sort(nulls["null_mean"]))
