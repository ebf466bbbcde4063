"""Notebook 05 (the benchmark) on the test profile: its recorded numbers must agree with each other."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fairlib import paths
from fairlib.config import get_profile

pytestmark = pytest.mark.notebooks

LOWER = {"weighted_f1_error", "dpd", "eo_max", "eo_sum"}
FAIRNESS = ("dpd", "eo_max", "eo_sum", "min_group_f1")
IMAGE_ONLY = {"erm", "unl", "adv", "orth"}


@pytest.fixture(scope="module")
def results(executed_notebook):
    return executed_notebook("05")


@pytest.fixture(scope="module")
def runs(results):
    return pd.DataFrame(results["metrics"]["runs"])


@pytest.fixture(scope="module")
def chosen(results, runs):
    keep = {(s["task"], s["method"], s["setting"]) for s in results["metrics"]["selection"]}
    mask = [(t, m, s) in keep for t, m, s in zip(runs["task"], runs["method"], runs["setting"])]
    return runs[np.asarray(mask)]


@pytest.fixture(scope="module")
def ranking(results):
    return pd.DataFrame(results["metrics"]["ranking"]).set_index(["task", "method"])


def bm_seeds(profile, task, method=None):
    from fairlib.experiments.benchmark import seeds_of

    return seeds_of(profile, task, method)


def _grid(bc, method):
    return {"fairlora": len(bc.fair_lambdas), "fairlora_cxa": len(bc.fair_lambdas), "fair_full": len(bc.fair_lambdas),
            "orth": len(bc.orth_lambdas), "fisher_svd": len(bc.fisher_alphas),
            "threshold": len(bc.threshold_constraints)}.get(method, 1)


def test_outputs_exist(results):
    assert results["profile"] == "test"
    for name in ("05_pareto", "05_cost"):
        for suffix in ("png", "pdf"):
            assert (paths.FIGURES / "test" / f"{name}.{suffix}").exists()
    for name in ("05_tasks", "05_methods", "05_selection", "05_ranking", "05_pareto_front", "05_paper_vs_reproduced"):
        for suffix in ("csv", "md"):
            assert (paths.FIGURES / "test" / f"{name}.{suffix}").exists()
    table = pd.read_csv(paths.FIGURES / "test" / "05_paper_vs_reproduced.csv")
    claims = table[table["kind"] != "check"]
    assert claims["data"].str.contains("test profile").all()  # the profile that produced each number is named


def test_every_method_grid_point_and_seed_ran_once_per_task(results, runs):
    from fairlib.experiments.benchmark import seeds_of

    profile = get_profile("test")
    bc = profile.benchmark
    skipped = {(s["task"], s["method"]) for s in results["metrics"]["skipped"]}
    for task in bc.tasks:
        image = task.startswith("standin")
        for method in bc.methods:
            part = runs[(runs["task"] == task) & (runs["method"] == method) & (runs["split"] == "test")]
            if method in IMAGE_ONLY and not image:
                assert (task, method) in skipped and part.empty
                continue
            assert (task, method) not in skipped
            assert len(part) == _grid(bc, method) * len(seeds_of(profile, task, method)), (task, method)
            assert not part.duplicated(["setting", "seed"]).any()
            assert sorted(part["seed"].unique()) == sorted(seeds_of(profile, task, method))
    # the same split for every method: one test size per task and seed
    sizes = runs[runs["split"] == "test"].groupby(["task", "seed"])["n"].nunique()
    assert (sizes == 1).all()


def test_recorded_gaps_equal_the_spread_of_the_recorded_per_group_rates(runs):
    for task, part in runs.groupby("task"):
        groups = [c[len("f1["):-1] for c in part.columns if c.startswith("f1[") and part[c].notna().any()]
        assert len(groups) >= 2
        rate = lambda name: part[[f"{name}[{g}]" for g in groups]].to_numpy(dtype=float)  # noqa: E731

        def spread(values):
            return np.nanmax(values, axis=1) - np.nanmin(values, axis=1)

        np.testing.assert_allclose(part["dpd"], spread(rate("selection_rate")), atol=1e-12)
        d_tpr, d_fpr = spread(rate("recall")), spread(rate("fpr"))
        np.testing.assert_allclose(part["eo_max"], np.maximum(d_tpr, d_fpr), atol=1e-12)
        np.testing.assert_allclose(part["eo_sum"], d_tpr + d_fpr, atol=1e-12)  # paper 4's sum
        np.testing.assert_allclose(part["min_group_f1"], np.nanmin(rate("f1"), axis=1), atol=1e-12)
        np.testing.assert_allclose(rate("count").sum(axis=1), part["n"])
        assert (part["worst_cell_accuracy"] <= part["accuracy"] + 1e-12).all()
        assert ((part["weighted_f1_error"] >= 0) & (part["weighted_f1_error"] <= 100)).all()


def test_chosen_setting_is_the_validation_argmax(results, runs):
    metric = get_profile("test").benchmark.selection_metric
    for choice in results["metrics"]["selection"]:
        part = runs[(runs["task"] == choice["task"]) & (runs["method"] == choice["method"]) & (runs["split"] == "val")]
        means = part.groupby("setting", sort=False)[metric].mean()
        assert choice["setting"] == means.idxmax()
        assert choice["settings_tried"] == len(means)
        assert choice[f"val_{metric}"] == pytest.approx(means.max())


def test_ranking_is_the_mean_and_bounded_interval_of_the_chosen_runs(chosen, ranking):
    from fairlib.experiments import benchmark as bm
    from fairlib.metrics import METRICS

    test = chosen[chosen["split"] == "test"]
    seeds = len(bm.seeds_of(get_profile("test")))
    for (task, method), row in ranking.iterrows():
        part = test[(test["task"] == task) & (test["method"] == method)]
        assert row["setting"] == part["setting"].iloc[0]
        assert row["trainable_parameters"] == part["trainable_parameters"].max()
        for metric in ("accuracy", *FAIRNESS):
            values = part[metric].dropna().to_numpy(dtype=float)
            assert row[f"{metric}_n"] == len(values) == seeds
            assert row[f"{metric}_mean"] == pytest.approx(values.mean())
            low, high = METRICS[metric].bounds
            # the percentile bootstrap of the mean: inside [min, max] of the values, so inside the bounds
            assert low <= values.min() - 1e-12 <= row[f"{metric}_ci_low"] + 1e-12
            assert row[f"{metric}_ci_high"] <= values.max() + 1e-12 <= high + 1e-12
            if values.min() < values.max():
                boot = stats.bootstrap((values,), np.mean, confidence_level=0.95, method="percentile",
                                       n_resamples=9999, rng=np.random.default_rng(0)).confidence_interval
                assert (row[f"{metric}_ci_low"], row[f"{metric}_ci_high"]) == pytest.approx((boot.low, boot.high))


def test_seeds_recorded_are_the_grids_seeds(results, runs):
    from fairlib.experiments import benchmark as bm

    profile = get_profile("test")
    for task in profile.benchmark.tasks:
        declared = sorted({s.seed for s in bm.jobs(profile) if s.method != "pretrain" and s.param("task") == task})
        assert results["metrics"]["seeds"][task] == list(bm.seeds_of(profile, task))
        assert sorted(results["metrics"]["seeds"][task]) == declared
        assert sorted(runs.loc[runs["task"] == task, "seed"].unique()) == declared


def test_recorded_null_of_each_gap_equals_a_direct_call(results, runs):
    from fairlib.experiments import benchmark as bm
    from fairlib.metrics import gap_permutation_null
    from fairlib.train import RunStore

    profile = get_profile("test")
    null = results["metrics"]["null"]
    assert null["gaps"] == ["dpd", "eo_max", "eo_sum"] and null["split"] == "test"
    test, val = runs[runs["split"] == "test"], runs[runs["split"] == "val"]
    for gap in null["gaps"]:
        assert test[f"{gap}_null_mean"].notna().all() and val[f"{gap}_null_mean"].isna().all()
        assert ((test[f"{gap}_p"] > 0) & (test[f"{gap}_p"] <= 1)).all()
        assert (test[f"{gap}_null_q95"] >= test[f"{gap}_null_mean"] - 1e-12).all()
    grid = bm.jobs(profile)
    # one run per task: a whole-model method and a post-processed one, the last seed
    picks = [s for s in grid if s.method in ("lora", "threshold") and s.seed == bm.seeds_of(profile)[-1]]
    assert picks
    for spec in picks:
        key = spec.param("task")
        task = bm.load_task(key, profile, pretrained=False)
        split = task.splits(spec.seed, profile.benchmark.split_fractions).test
        _, tensors = RunStore(spec.namespace).load(spec.to_dict())
        row = test[(test["task"] == key) & (test["method"] == spec.method) & (test["seed"] == spec.seed)
                   & (test["setting"] == bm.setting_label(dict(spec.param("setting"))))]
        assert len(row) == 1
        for gap in null["gaps"]:
            direct = gap_permutation_null(split.y, tensors["test_pred"].numpy(), sensitive_features=split.s,
                                          metric=gap, n_permutations=null["n_permutations"], random_state=spec.seed)
            assert row[gap].iloc[0] == pytest.approx(direct["observed"], abs=1e-12)
            assert row[f"{gap}_null_mean"].iloc[0] == pytest.approx(direct["null_mean"], abs=1e-12)
            assert row[f"{gap}_null_q95"].iloc[0] == pytest.approx(direct["null_q95"], abs=1e-12)
            assert row[f"{gap}_p"].iloc[0] == pytest.approx(direct["p_value"], abs=1e-12)


def test_ranking_null_columns_summarise_the_recorded_nulls(chosen, ranking):
    test = chosen[chosen["split"] == "test"]
    for (task, method), row in ranking.iterrows():
        part = test[(test["task"] == task) & (test["method"] == method)]
        for gap in ("dpd", "eo_max", "eo_sum"):
            assert row[f"{gap}_null_mean"] == pytest.approx(part[f"{gap}_null_mean"].mean())
            assert row[f"{gap}_above_null"] == int((part[f"{gap}_p"] < 0.05).sum())


def test_captions_are_generated_from_the_recorded_numbers(results):
    from fairlib.experiments import benchmark as bm

    captions = results["metrics"]["captions"]
    for name in ("05_pareto", "05_cost"):
        for task in results["metrics"]["tasks"]:  # each task named with its data and its seeds
            seeds = len(bm.seeds_of("test", task["task"]))
            data = "stand-in" if task["stand-in"] else "real data"
            assert f"{task['name']} ({data}, {seeds} seeds)" in captions[name]
    assert "bootstrap" in captions["05_pareto"] and "permutation" in captions["05_pareto"]
    assert "no whiskers" in captions["05_cost"]


def test_numbers_in_the_prose_agree_with_the_configuration_and_the_results(results, runs):
    """Numbers typed in the notebook's text, pinned: a change of the profile or of the results fails here."""
    import re

    from fairlib.models import minilm_path

    smoke = get_profile("smoke")
    bc = smoke.benchmark
    text = "\n".join("".join(c["source"]) for c in json.loads((paths.NOTEBOOKS / "05_benchmark.ipynb").read_text())[
        "cells"] if c["cell_type"] == "markdown")
    full = runs[(runs["task"] == "adult") & (runs["method"] == "full")]["trainable_parameters"].iloc[0]
    mlp = re.search(r"(\d+) → (\d+) → (\d+), (\d+) parameters", text).groups()
    assert [int(v) for v in mlp] == [34, smoke.fisher.hidden, 2, full] == [34, 20, 2, 742]
    assert float(re.search(r"P\(s=1 \| y=1\) = ([\d.]+)", text).group(1)) == bc.standin_correlation
    assert int(re.search(r"pre-trained on (\d+)% of the data", text).group(1)) == round(100 * bc.tabular.pretrain_fraction)
    heads = [int(v) for v in re.findall(r"head trained on (\d+)% of the draw", text)]
    assert heads == [round(100 * bc.image.pretrain_fraction), round(100 * bc.text.pretrain_fraction)]
    table1 = [int(v.replace(",", "")) for v in re.search(r"([\d,]+) / ([\d,]+) / ([\d,]+)\)", text).groups()]
    assert [round(v / sum(table1), 2) for v in table1] == [round(f, 2) for f in bc.split_fractions]
    layers = re.search(r"(\d+) × 2 \(Adult\), (\d+) × 2 \(image stand-in\) or (\d+) × 2 \(MiniLM\)", text).groups()
    minilm = json.loads((minilm_path() / "config.json").read_text())["hidden_size"]
    assert [int(v) for v in layers] == [smoke.fisher.hidden, smoke.stand_in_vit.hidden_size, minilm]
    assert bc.svd_rank == 2 and "paper 4's rank 2" in text
    # the Power paragraph's seeds of FairLoRA's second reading at smoke
    second = int(re.search(r"the count is printed below: (\d+) at smoke", text).group(1))
    assert second == dict(bc.method_seed_limits)["fairlora_cxa"] == len(bm_seeds(smoke, "adult", "fairlora_cxa"))


def test_ranks_order_the_means(ranking):
    rank_metrics = get_profile("test").benchmark.rank_metrics
    for task, part in ranking.groupby(level="task", sort=False):
        for metric in rank_metrics:
            sign = 1 if metric in LOWER else -1
            order = part.sort_values(f"{metric}_mean", key=lambda v: sign * v)
            assert order[f"rank_{metric}"].is_monotonic_increasing, (task, metric)
            assert part[f"rank_{metric}"].min() >= 1 and part[f"rank_{metric}"].max() <= len(part)
        np.testing.assert_allclose(part["mean_rank"], part[[f"rank_{m}" for m in rank_metrics]].mean(axis=1))
        assert part["mean_rank"].is_monotonic_increasing  # the table is sorted by mean rank


def test_pareto_front_recorded_is_the_non_dominated_set(results, ranking):
    front = pd.DataFrame(results["metrics"]["pareto"]).set_index(["task", "method"])
    for task, part in ranking.groupby(level="task", sort=False):
        acc = part["accuracy_mean"].to_numpy(dtype=float)
        for metric in FAIRNESS:
            f = part[f"{metric}_mean"].to_numpy(dtype=float)
            f = -f if metric in LOWER else f  # oriented: higher is better on both axes
            for i, key in enumerate(part.index):
                dominated = any(f[j] >= f[i] and acc[j] >= acc[i] and (f[j] > f[i] or acc[j] > acc[i])
                                for j in range(len(f)) if j != i)
                assert bool(front.loc[key, metric]) == (not dominated), (key, metric)
            assert front.xs(task, level="task")[metric].any()


def test_trainable_parameters_match_hand_counts(results, runs):
    profile = get_profile("test")
    bc = profile.benchmark
    params = runs[runs["split"] == "test"].groupby(["task", "method"])["trainable_parameters"].unique()
    assert all(len(v) == 1 for v in params)  # the same count for every seed and setting
    count = {k: int(v[0]) for k, v in params.items()}
    # Adult: paper 4's MLP 34 -> 20 -> 2
    h, r = profile.fisher.hidden, bc.tabular.lora_rank
    assert count[("adult", "full")] == (34 + 1) * h + (h + 1) * 2 == 742
    assert count[("adult", "probe")] == count[("adult", "tl")] == (h + 1) * 2
    assert count[("adult", "fsvd")] == count[("adult", "fisher_svd")] == h * 2 + 2 * 2 + 2 == 46
    assert count[("adult", "lora")] == count[("adult", "fairlora")] == r * (34 + h) + (h + 1) * 2
    assert count[("adult", "threshold")] == count[("adult", "lora")] and count[("adult", "pretrained")] == 0
    # stand-in ViT (hidden d, L layers), binary head
    spec = profile.stand_in_vit
    d, layers, inter, p = spec.hidden_size, spec.num_hidden_layers, spec.intermediate_size, spec.patch_size
    task = next(t for t in bc.tasks if t.startswith("standin"))
    head = d * 2 + 2
    vit = d + ((28 // p) ** 2 + 1) * d + (p * p * d + d) \
        + layers * (4 * d + 4 * (d * d + d) + (d * inter + inter) + (inter * d + d)) + 2 * d
    lora = layers * 2 * (2 * d * bc.image.lora_rank)
    assert count[(task, "full")] == vit + head
    assert count[(task, "lora")] == count[(task, "fairlora")] == lora + head
    assert count[(task, "erm")] == count[(task, "orth")] == lora + head  # developer's adapter and fresh head
    assert count[(task, "probe")] == count[(task, "tl")] == head
    assert count[(task, "fsvd")] == d * bc.svd_rank + bc.svd_rank * 2 + 2


def test_post_processing_costs_its_lora_run_and_is_judged_on_half_of_validation(runs):
    for task, part in runs.groupby("task"):
        groups = sum(part[c].notna().any() for c in part.columns if c.startswith("count["))
        lora = part[(part["method"] == "lora")].set_index(["seed", "split"])
        for row in part[part["method"] == "threshold"].itertuples():
            assert row.train_seconds >= lora.loc[(row.seed, "test"), "train_seconds"]
            if row.split == "val":  # the half of each (label, group) cell it was not fitted on (odd cells round up)
                full = lora.loc[(row.seed, "val"), "n"]
                assert full // 2 <= row.n <= full // 2 + 2 * groups
            else:
                assert row.n == lora.loc[(row.seed, "test"), "n"]
            assert pd.isna(row.ece)  # hard (randomised) predictions: no probabilities to calibrate


def test_recorded_runs_are_the_declared_grid_one_to_one(results, runs):
    from fairlib.experiments import benchmark as bm

    grid = [s for s in bm.jobs(get_profile("test")) if s.method not in ("pretrain", "auditor")]
    declared = [(s.param("task"), s.method, bm.setting_label(dict(s.param("setting"))), s.seed) for s in grid]
    recorded = [tuple(r) for r in runs[runs["split"] == "test"][["task", "method", "setting", "seed"]].itertuples(
        index=False)]
    assert recorded == declared
    assert results["metrics"]["seconds"]["runs_trained_now"] + results["metrics"]["seconds"]["runs_stored"] == len(
        bm.jobs(get_profile("test")))


def test_claims_are_engine_rows_of_the_recorded_paired_differences(results, chosen):
    from fairlib.claims import claims_of
    from fairlib.evidence import validate_row
    from fairlib.experiments import benchmark as bm

    test = chosen[chosen["split"] == "test"]
    rows = {r["id"]: r for r in results["claims"]}
    assert {c.id for c in claims_of("05")} <= set(rows)
    labels = {t["task"]: t["name"] for t in results["metrics"]["tasks"]}
    for row in rows.values():
        validate_row(row)
        if row["kind"] == "check":
            method = "fisher_svd" if row["id"].endswith("ours") else "full"
            values = test[(test["task"] == "adult") & (test["method"] == method)]["trainable_parameters"]
            assert row["value"] == values.iloc[0] and row["holds"] == (row["value"] == row["expected"])
            continue
        a, b = bm.CLAIM_METHODS[row["id"]]
        if row["verdict"] == "not run":
            continue
        task = next(k for k, v in labels.items() if row["deciding"].startswith(v + " | "))
        column = "weighted_f1_error" if row["metric"] == "error" else row["metric"]
        part = test[test["task"] == task]
        diff = (part[part["method"] == a].set_index("seed")[column] - part[part["method"] == b].set_index("seed")[column])
        assert row["n"] == len(diff.dropna()) == len(bm.seeds_of("test"))
        assert row["estimate"] == pytest.approx(diff.mean()), row["id"]
    # the two-party methods ran on the stand-in image task only: their claims are not run (stand-in)
    for cid in ("x.p3.orth_lowers_dpd", "x.p3.orth_keeps_accuracy", "x.p3.unl_no_clear_benefit"):
        assert rows[cid]["verdict"] == "not run" and rows[cid]["reason"] == "stand-in data"
        assert rows[cid]["evidence"] is not None


def test_report_lists_the_notebooks_claims(results):
    from fairlib._report_builder import report_rows

    rows = report_rows("test")["05"]
    assert rows["ran"]
    assert sorted(r["id"] for r in rows["claims"] + rows["checks"]) == sorted(c["id"] for c in results["claims"])
    assert {r["verdict"] for r in rows["claims"]} <= {"reproduced", "contradicted", "inconclusive", "not run"}
    json.dumps(results)  # the results file is plain JSON


def test_fairlora_runs_in_both_readings_each_named_with_its_grouping(results, runs):
    """Paper 2's two readings of FairLoRA's groups are two named methods: per-class (the paper's headline,
    ``fairlora``) and class x attribute (``fairlora_cxa``); every run records the groups its regulariser used,
    and both appear, named, in the ranking."""
    bc = get_profile("test").benchmark
    test = runs[runs["split"] == "test"]
    expected = {"fairlora": ("FairLoRA (per-class)", "class"),
                "fairlora_cxa": ("FairLoRA (class x attribute)", "class_attribute"),
                "fair_full": ("Fair full FT", bc.fair_groups)}
    for method, (label, grouping) in expected.items():
        part = test[test["method"] == method]
        assert not part.empty, method
        assert set(part["method_label"]) == {label} and set(part["grouping"]) == {grouping}, method
    # methods without a fairness regulariser record no grouping
    assert set(test.loc[~test["method"].isin(list(expected)), "grouping"]) == {""}
    ranking = pd.DataFrame(results["metrics"]["ranking"])
    for task in bc.tasks:
        names = set(ranking.loc[ranking["task"] == task, "method"])
        assert {"fairlora", "fairlora_cxa"} <= names, task
    methods = pd.DataFrame(results["metrics"]["methods"])
    assert {"FairLoRA (per-class)", "FairLoRA (class x attribute)"} <= set(methods.astype(str).stack())
