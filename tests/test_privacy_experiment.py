"""Notebook 03's experiment layer: the grid as data, the rename map, the evaluator's record, the claim rows."""

import numpy as np
import pandas as pd
import pytest

from fairlib.claims import MARGINS, claims_of
from fairlib.config import get_profile
from fairlib.evidence import validate_row
from fairlib.experiments import EXPERIMENTS, RunSpec, experiment_module
from fairlib.experiments import privacy


# ------------------------------------------------------------------------------ grid
def test_the_grid_is_registered_and_declares_every_run_with_its_dependencies():
    assert experiment_module("03") is privacy or EXPERIMENTS["03"] == "fairlib.experiments.privacy"
    profile = get_profile("test")
    grid = privacy.jobs("test")
    assert grid == privacy.jobs(profile)  # a name or a profile
    tasks, seeds = profile.privacy.tasks, profile.seeds
    # per task and seed: the auditor, then the six strategies (Orth's three forms among them; the test profile
    # runs the variants on every seed)
    assert privacy.STRATEGIES == ("erm", "unl", "adv", "orth", "orth_shift", "orth_olora")
    assert len(grid) == len(tasks) * len(seeds) * 7 and len({s.key for s in grid}) == len(grid)
    assert all(isinstance(s, RunSpec) and (s.notebook, s.profile) == ("03", "test") for s in grid)
    auditors = {(s.param("task"), s.seed): s for s in grid if s.method == "auditor"}
    for spec in grid:
        if spec.method in ("unl", "orth", "orth_shift", "orth_olora"):
            auditor = auditors[(spec.param("task"), spec.seed)]
            assert spec.after == (auditor.key,) and spec.param("sensitive_adapter") == auditor.key
        else:
            assert spec.after == ()
    assert [s.method for s in privacy.developer_jobs("test")] == list(privacy.STRATEGIES) * (len(tasks) * len(seeds))


def test_a_spec_rebuilds_its_configuration_and_gpu_hours_follow_the_former_estimate():
    full = get_profile("full")
    grid = privacy.jobs(full)
    spec = grid[1]
    pc, vit = privacy.config_of(spec)
    assert pc.tasks == (spec.param("task"),) and vit is None
    assert all(getattr(pc, f) == getattr(full.privacy, f) for f in ("rank", "lr", "epochs", "backbone", "adv_lr"))
    # 0.5 GPU-hour per developer run, 0.25 per auditor adapter: 4 tasks x 5 seeds x (6 x 0.5 + 0.25)
    assert sum(s.gpu_hours for s in grid) == pytest.approx(4 * 5 * (6 * 0.5 + 0.25))
    assert sum(s.gpu_hours for s in privacy.jobs("smoke")) == 0.0
    with pytest.raises(ValueError, match="valid choices"):
        privacy.run_job(RunSpec.make("03", "test", "ridge", 0))
    with pytest.raises(ValueError, match="not a run of notebook 03"):
        privacy.run_job(RunSpec.make("02", "test", "erm", 0))


# ------------------------------------------------------------------------------ vocabulary
def test_rename_map_applied_to_a_former_record():
    before = {"task": "t", "strategy": "erm", "seed": 0, "accuracy": 0.75, "auc": 0.8, "dp_gap": 0.5, "eo_gap": 0.1,
              "fpr_gap": 0.2, "leakage": 0.9,
              "per_group": {"a": {"count": 3, "selection_rate": 0.2, "tpr": 0.5, "fpr": 0.1, "accuracy": 0.7}},
              "dp_gap_mean": 0.5, "eo_gap_ci_high": 0.3, "auc_n": 2}
    after = privacy.rename_record(before)
    assert after == {"task": "t", "strategy": "erm", "seed": 0, "accuracy": 0.75, "roc_auc": 0.8, "dpd": 0.5,
                     "tpr_gap": 0.1, "fpr_gap": 0.2, "leakage": 0.9, "count[a]": 3, "selection_rate[a]": 0.2,
                     "recall[a]": 0.5, "fpr[a]": 0.1, "accuracy[a]": 0.7, "dpd_mean": 0.5, "tpr_gap_ci_high": 0.3,
                     "roc_auc_n": 2}


def test_leakage_is_the_mean_balanced_accuracy_over_the_two_folds():
    s = np.array([0, 0, 1, 1, 0, 0, 1, 1])
    fold = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    probe = np.array([0, 0, 1, 1, 0, 1, 0, 0])  # fold 0 perfect (1.0); fold 1: recall 1/2 and 0 -> 0.25
    assert privacy.leakage(s, probe, fold) == pytest.approx((1.0 + 0.25) / 2)


# ------------------------------------------------------------------------------ claims
def _runs(effect, noise=0.002, seeds=10, tasks=("standin:celeba-like:upper-body:low-contrast",), variant_seeds=None):
    """Runs in which every strategy's gaps are Erm's plus ``effect[strategy]`` (same accuracy), small noise."""
    rng = np.random.default_rng(0)
    variant_seeds = seeds if variant_seeds is None else variant_seeds
    rows = []
    for task in tasks:
        for seed in range(seeds):
            base = {"dpd": 0.4 + 0.05 * rng.normal(), "tpr_gap": 0.3 + 0.05 * rng.normal(),
                    "fpr_gap": 0.35 + 0.05 * rng.normal(), "accuracy": 0.8 + 0.02 * rng.normal()}
            for strategy in privacy.STRATEGIES:
                if strategy in privacy.VARIANTS and seed >= variant_seeds:
                    continue
                d = effect.get(strategy, 0.0)
                rows.append({"task": task, "strategy": strategy, "seed": seed,
                             **{m: v + (d if m != "accuracy" else 0.0) + noise * rng.normal() for m, v in base.items()}})
    return pd.DataFrame(rows)


class _Real:  # a configuration on the paper's data (not a stand-in)
    backbone, tasks = "google/vit-base-patch16-224-in21k", ("celeba:Smiling",)


def test_claim_rows_on_known_effects():
    runs = _runs({"orth": -0.1, "adv": -0.1, "unl": 0.0})
    rows = {r["id"]: r for r in privacy.claim_rows(runs, config=_Real, profile="full")}
    assert list(rows) == [c.id for c in claims_of("03")]
    for row in rows.values():
        validate_row(row)
    # gaps 0.1 lower on every seed: superiority reproduced; accuracy unchanged: non-inferiority reproduced
    assert rows["p3.orth.reduces_bias"]["verdict"] == "reproduced"
    assert rows["p3.orth.reduces_bias"]["ci_high"] < 0
    assert rows["p3.orth.keeps_utility"]["verdict"] == "reproduced"
    assert rows["p3.adv.fpr_gap"]["verdict"] == "reproduced" and rows["p3.adv.dpd"]["verdict"] == "reproduced"
    # Unl equal to Erm: its gaps are not lower by more than the margin
    assert rows["p3.unl.no_clear_benefit"]["verdict"] == "reproduced"
    assert rows["p3.unl.no_clear_benefit"]["ci_low"] > -MARGINS["dpd"]
    # Orth's gaps 0.1 *higher*: contradicted; Unl clearly lower by 0.2 (beyond the margin): contradicted
    worse = {r["id"]: r for r in privacy.claim_rows(_runs({"orth": +0.1, "unl": -0.2}), config=_Real, profile="full")}
    assert worse["p3.orth.reduces_bias"]["verdict"] == "contradicted"
    assert worse["p3.unl.no_clear_benefit"]["verdict"] == "contradicted"
    # Adv equal to Erm on every gap: no interval excludes 0 -> inconclusive, with its detectable effect
    assert worse["p3.adv.dpd"]["verdict"] == "inconclusive" and worse["p3.adv.dpd"]["mde"] > 0


def test_claim_rows_on_stand_ins_are_not_run_with_the_evidence_beside():
    runs = _runs({"orth": -0.1}, seeds=3)
    pc = get_profile("test").privacy
    rows = privacy.claim_rows(runs, config=pc, profile="test")
    assert all((r["verdict"], r["reason"], r["estimate"]) == ("not run", "stand-in data", None) for r in rows)
    orth = rows[0]
    assert orth["evidence"]["verdict"] == "reproduced" and orth["evidence"]["n"] == 3
    # the comparisons are the seed-paired values of each task and gap
    comps = privacy.claim_comparisons(runs, "p3.orth.reduces_bias")
    assert len(comps) == 3 and {c["metric"] for c in comps.values()} == {"dpd", "tpr_gap", "fpr_gap"}
    first = next(iter(comps.values()))
    expected = runs[(runs.strategy == "orth")].sort_values("seed")[first["metric"]].to_numpy()
    np.testing.assert_array_equal(first["a"], expected)


# ------------------------------------------------------------------------------ seeds (issue 12: power at smoke)
def test_smoke_runs_the_standin_seeds_and_variant_seeds_limits_only_the_orth_variants():
    from fairlib.config import STANDIN_SEEDS, ConfigError, PrivacyLoraConfig

    smoke, test = get_profile("smoke"), get_profile("test")
    # stand-in evidence only at smoke (every claim is not run (stand-in)): the full profile's count, every strategy
    assert privacy.seeds_of(smoke) == STANDIN_SEEDS == smoke.privacy.seeds
    assert len(STANDIN_SEEDS) == len(get_profile("full").seeds) and smoke.privacy.variant_seeds is None
    assert test.privacy.seeds is None and privacy.seeds_of(test) == test.seeds
    ten = get_profile("smoke", privacy=dict(seeds=list(range(10)), variant_seeds=5))
    for profile in (smoke, test, ten):
        developers = privacy.developer_jobs(profile)
        per_cell = {}
        for spec in developers:
            per_cell.setdefault((spec.param("task"), spec.method), set()).add(spec.seed)
        for (task, strategy), seeds in per_cell.items():
            assert seeds == set(privacy.strategy_seeds(profile, strategy))
            expected = privacy.seeds_of(profile)[:5] if profile is ten and strategy in privacy.VARIANTS \
                else privacy.seeds_of(profile)
            assert seeds == set(expected), (task, strategy)
        n_seeds = len(privacy.seeds_of(profile))
        n_variant = len(privacy.strategy_seeds(profile, "orth_shift"))
        assert len(privacy.jobs(profile)) == len(profile.privacy.tasks) * (n_seeds * 5 + n_variant * 2)
    assert len(privacy.jobs(smoke)) == 3 * 5 * 7 and len(privacy.jobs(ten)) == 3 * (10 * 5 + 5 * 2)
    assert len(privacy.seeds_of(ten)) >= privacy.POWER_SEEDS > len(privacy.seeds_of(smoke))
    for bad in ((0, 0), (), (-1,), [0, 1], (0, 1.5), (True,)):
        with pytest.raises(ConfigError, match="seeds"):
            PrivacyLoraConfig(seeds=bad)


def test_a_longer_seed_list_adds_runs_and_leaves_each_seeds_run_as_it_was():
    """Extending the seed list adds the new seed's runs; every other run is configured as before. (Its key also
    records the profile's overrides, so that a worker rebuilds the same profile: a changed profile is stored apart.)"""
    import dataclasses

    test = get_profile("test")
    more = dataclasses.replace(test, privacy=dataclasses.replace(test.privacy, seeds=(*test.seeds, 7)))

    def configured(spec):  # the run's configuration; the auditor's adapter it reads is a run of the same grid
        d = {k: v for k, v in spec.to_dict().items() if k != "overrides"}
        return {**d, "params": {k: v for k, v in d["params"].items() if k != "sensitive_adapter"}}

    runs = {(s.param("task"), s.method, s.seed): configured(s) for s in privacy.jobs(test)}
    extended = {(s.param("task"), s.method, s.seed): configured(s) for s in privacy.jobs(more)}
    assert {k: extended[k] for k in runs} == runs and len(extended) == len(runs) * 3 // 2
    assert {seed for (_, _, seed) in set(extended) - set(runs)} == {7}
    auditors = {(s.param("task"), s.seed): s.key for s in privacy.jobs(more) if s.method == privacy.AUDITOR}
    assert all(s.param("sensitive_adapter") == auditors[s.param("task"), s.seed]
               for s in privacy.jobs(more) if dict(s.params).get("sensitive_adapter") is not None)


# ------------------------------------------------------------------------------ permutation null beside each gap
def _predictions(n=240, groups=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = rng.integers(0, groups, n)
    p1 = np.clip(0.5 + 0.3 * (y - 0.5) + 0.1 * (s == 0) + 0.2 * rng.normal(size=n), 0, 1)
    return y, np.column_stack([1 - p1, p1]), s, tuple(f"g{k}" for k in range(groups))


def test_gap_nulls_are_the_metrics_permutation_null_of_the_runs_predictions():
    from fairlib.metrics import gap_permutation_null

    y, prob, s, names = _predictions()
    nulls = privacy.gap_nulls(y, prob, s, group_names=names)
    record = privacy.evaluate_run(y, prob, s, group_names=names)
    y_pred = (prob[:, 1] >= 0.5).astype(int)
    for gap in privacy.GAP_COLUMNS:
        direct = gap_permutation_null(y, y_pred, sensitive_features=s, metric=gap, group_names=names,
                                      n_permutations=privacy.NULL_PERMUTATIONS,
                                      random_state=privacy.NULL_RANDOM_STATE)
        assert direct["observed"] == pytest.approx(record[gap])
        for stat in ("null_mean", "null_q95", "p_value"):
            assert nulls[f"{gap}_{stat}"] == direct[stat]
        # an independent null: the mean of the gap over permuted group labels, recomputed by hand
        rng = np.random.default_rng(privacy.NULL_RANDOM_STATE)
        hand = []
        for _ in range(privacy.NULL_PERMUTATIONS):
            perm = rng.permutation(s)
            if gap == "dpd":
                rates = [y_pred[perm == g].mean() for g in range(3)]
            else:
                label = 1 if gap == "tpr_gap" else 0
                rates = [y_pred[(perm == g) & (y == label)].mean() for g in range(3)]
            hand.append(max(rates) - min(rates))
        assert nulls[f"{gap}_null_mean"] == pytest.approx(np.mean(hand))


def test_null_table_sets_each_mean_gap_beside_the_mean_of_its_seeds_nulls():
    rows = []
    for seed, (gap, null) in enumerate([(0.30, 0.10), (0.20, 0.12), (0.25, 0.08)]):
        rows.append({"task": "t", "strategy": "erm", "seed": seed,
                     **{f"{g}": gap for g in privacy.GAP_COLUMNS},
                     **{f"{g}_null_mean": null for g in privacy.GAP_COLUMNS},
                     **{f"{g}_null_q95": null + 0.1 for g in privacy.GAP_COLUMNS},
                     **{f"{g}_p_value": p for g, p in zip(privacy.GAP_COLUMNS, (0.01, 0.2, 0.04 + seed / 100))}})
    table = privacy.null_table(pd.DataFrame(rows))
    assert list(table.index) == [("t", "erm", g) for g in privacy.GAP_COLUMNS]
    row = table.loc[("t", "erm", "dpd")]
    assert row["observed"] == pytest.approx(0.25) and row["null_mean"] == pytest.approx(0.10)
    assert row["null_q95"] == pytest.approx(0.20) and row["excess"] == pytest.approx(0.15)
    assert 0.20 <= row["observed_ci_low"] <= row["observed"] <= row["observed_ci_high"] <= 0.30
    assert row["n"] == 3
    # p-values: dpd 0.01 in every seed; tpr_gap 0.2; fpr_gap 0.04, 0.05, 0.06 -> one below 0.05
    assert [table.loc[("t", "erm", g), "seeds_p_below_0.05"] for g in privacy.GAP_COLUMNS] == [3, 0, 1]


# ------------------------------------------------------------------------------ honest intervals in the figures
def _summary_runs(seeds=10):
    rng = np.random.default_rng(1)
    rows = []
    for task in ("standin:celeba-like:upper-body:low-contrast", "standin:utk-like:upper-body"):
        for strategy in ("erm", "unl", "adv", "orth"):
            for seed in range(seeds):
                # a very wide spread near the bounds: a t interval of these would leave [0, 1]
                rows.append({"task": task, "strategy": strategy, "seed": seed,
                             **{m: float(rng.choice([0.0, 0.02, 0.98, 1.0])) for m in privacy.METRIC_COLUMNS}})
    return pd.DataFrame(rows)


def test_summary_intervals_stay_in_bounds_and_the_figures_hold_every_whisker():
    import matplotlib

    matplotlib.use("Agg")
    runs = _summary_runs(seeds=3)
    summary = privacy.summarize(runs)
    for c in privacy.METRIC_COLUMNS:
        assert ((summary[f"{c}_ci_low"] >= 0) & (summary[f"{c}_ci_high"] <= 1)).all()
        assert ((summary[f"{c}_ci_low"] <= summary[f"{c}_mean"]) & (summary[f"{c}_mean"] <= summary[f"{c}_ci_high"])).all()
    labels = {t: t for t in runs.task.unique()}
    strategies = ["erm", "unl", "adv", "orth"]
    fig = privacy.plot_strategy_bars(summary, strategies=strategies, task_labels=labels, title="T")
    for ax in fig.axes:
        low, high = ax.get_ylim()
        assert low <= 0 and high >= 1
    assert "mean over 3 seeds" in fig._suptitle.get_text() and "percentile-bootstrap" in fig._suptitle.get_text()
    fig = privacy.plot_tradeoff(summary, strategies=strategies, task_labels=labels, title="T")
    assert "points: mean over 3 seeds" in fig._suptitle.get_text()
    for ax in fig.axes:
        assert ax.get_xlim()[0] <= 0 and ax.get_xlim()[1] >= 1 and ax.get_ylim()[0] <= 0


def test_whisker_caption_counts_seeds_and_refuses_intervals_outside_the_bounds():
    from fairlib.metrics import summarize_frame

    runs = _summary_runs(seeds=4)
    runs = runs[~((runs.strategy == "adv") & (runs.seed >= 2))]  # adv: 2 seeds, the others 4
    summary = privacy.summarize(runs)
    assert privacy.whisker_caption(summary, ["accuracy"]).startswith("bars: mean over 2 to 4 seeds; whiskers: 95% ")
    one = privacy.summarize(runs[runs.seed == 0])
    assert "8 interval(s) undefined (one seed)" in privacy.whisker_caption(one, ["accuracy"])
    t_intervals = summarize_frame(runs, by=["task", "strategy"], value_columns=list(privacy.METRIC_COLUMNS))
    with pytest.raises(ValueError, match="leave \\[0, 1\\]"):
        privacy.whisker_caption(t_intervals, ["accuracy"])


def test_reading_notes_are_generated_from_the_rows_and_the_null_table():
    nulls = pd.DataFrame({"observed": [0.3, 0.1, 0.2], "null_q95": [0.2, 0.2, 0.2]})
    pc = get_profile("test").privacy
    rows = privacy.claim_rows(_runs({"orth": -0.1}, seeds=10), config=pc, profile="smoke")
    text = privacy.reading_notes(rows, nulls=nulls)
    assert "has 10 seeds per strategy" in text and f"meets the target of at least {privacy.POWER_SEEDS}" in text
    assert "1 of the 3 mean gaps" in text and "the other 2 are within" in text
    reproduced = [r["id"] for r in rows if r["evidence"]["verdict"] == "reproduced"]
    assert f"reproduced: {len(reproduced)} (" in text
    few = privacy.claim_rows(_runs({"orth": -0.1}, seeds=3), config=pc, profile="test")
    text = privacy.reading_notes(few, nulls=nulls)
    assert "has 3 seeds" in text and "underpowered" in text
    # every row is not run (stand-in): each says its evidence is underpowered, and the notes say why so few seeds
    assert all(r["detail"]["power"].startswith("underpowered stand-in evidence: ") for r in few)
    assert all(f"rests on 3 seed(s) or run(s), fewer than {privacy.POWER_SEEDS}" in r["detail"]["power"] for r in few)
    assert "No verdict rests on these runs" in text and "STANDIN_SEEDS" in text
    # the variants on fewer seeds: their rows say so (detail["power"]) and so do the notes; the others keep 10
    fewer = privacy.claim_rows(_runs({"orth": -0.1}, seeds=10, variant_seeds=4), config=pc, profile="smoke")
    variant_ids = {r["id"] for r in fewer if r["id"].endswith((".shift", ".olora"))}
    assert len(variant_ids) == 4
    for r in fewer:
        assert ("power" in (r.get("detail") or {})) == (r["id"] in variant_ids)
        assert r["evidence"]["n"] == (4 if r["id"] in variant_ids else 10)
    text = privacy.reading_notes(fewer, nulls=nulls)
    assert "Orth variants on fewer seeds" in text and "rest on 4 seeds" in text
    assert "has 10 seeds per strategy" in text and f"meets the target of at least {privacy.POWER_SEEDS}" in text


def test_stand_in_evidence_carries_the_engines_power_numbers_of_its_own_test():
    runs = _runs({"orth": -0.1, "adv": 0.0}, noise=0.05, seeds=4)
    stand_in = privacy.claim_rows(runs, config=get_profile("test").privacy, profile="test")
    real = privacy.claim_rows(runs, config=_Real, profile="test")
    for s, r in zip(stand_in, real):
        assert s["verdict"] == "not run"
        assert {k: s["evidence"][k] for k in ("estimate", "ci_low", "ci_high", "n", "verdict", "mde", "seeds_needed")} \
            == {k: r[k] for k in ("estimate", "ci_low", "ci_high", "n", "verdict", "mde", "seeds_needed")}
    adv = next(r for r in stand_in if r["id"] == "p3.adv.dpd")
    assert adv["evidence"]["verdict"] == "inconclusive" and adv["evidence"]["mde"] > 0
    text = privacy.reading_notes(stand_in, nulls=pd.DataFrame({"observed": [0.1], "null_q95": [0.2]}))
    assert f"`p3.adv.dpd` (minimum detectable effect {adv['evidence']['mde']:.3f} at n = 4" in text


def test_axes_widen_only_for_a_whisker_that_would_leave_them():
    from fairlib.experiments.privacy._figures import _limits

    assert _limits(0.0, 1.05, [[0.0, 0.3], [0.5, 1.0]]) == (0.0, 1.05)
    assert _limits(0.0, 1.05, [[-0.2, 0.3], [0.5, 1.3]]) == pytest.approx((-0.22, 1.32))
    assert _limits(0.0, 1.05, [[np.nan]]) == (0.0, 1.05)
