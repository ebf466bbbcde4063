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
    # per task and seed: the auditor, then the four strategies
    assert len(grid) == len(tasks) * len(seeds) * 5 and len({s.key for s in grid}) == len(grid)
    assert all(isinstance(s, RunSpec) and (s.notebook, s.profile) == ("03", "test") for s in grid)
    auditors = {(s.param("task"), s.seed): s for s in grid if s.method == "auditor"}
    for spec in grid:
        if spec.method in ("unl", "orth"):
            auditor = auditors[(spec.param("task"), spec.seed)]
            assert spec.after == (auditor.key,) and spec.param("sensitive_adapter") == auditor.key
        else:
            assert spec.after == ()
    assert [s.method for s in privacy.developer_jobs("test")] == ["erm", "unl", "adv", "orth"] * (len(tasks) * len(seeds))


def test_a_spec_rebuilds_its_configuration_and_gpu_hours_follow_the_former_estimate():
    full = get_profile("full")
    grid = privacy.jobs(full)
    spec = grid[1]
    pc, vit = privacy.config_of(spec)
    assert pc.tasks == (spec.param("task"),) and vit is None
    assert all(getattr(pc, f) == getattr(full.privacy, f) for f in ("rank", "lr", "epochs", "backbone", "adv_lr"))
    # 0.5 GPU-hour per developer run, 0.25 per auditor adapter: 4 tasks x 5 seeds x (4 x 0.5 + 0.25)
    assert sum(s.gpu_hours for s in grid) == pytest.approx(4 * 5 * (4 * 0.5 + 0.25))
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
def _runs(effect, noise=0.002, seeds=10, tasks=("standin:celeba-like:upper-body:low-contrast",)):
    """Runs in which every strategy's gaps are Erm's plus ``effect[strategy]`` (same accuracy), small noise."""
    rng = np.random.default_rng(0)
    rows = []
    for task in tasks:
        for seed in range(seeds):
            base = {"dpd": 0.4 + 0.05 * rng.normal(), "tpr_gap": 0.3 + 0.05 * rng.normal(),
                    "fpr_gap": 0.35 + 0.05 * rng.normal(), "accuracy": 0.8 + 0.02 * rng.normal()}
            for strategy in ("erm", "unl", "adv", "orth"):
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
