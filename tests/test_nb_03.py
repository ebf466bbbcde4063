"""Notebook 03 on the test profile: recorded numbers are consistent with each other and with the configuration."""

import math

import numpy as np
import pytest

pytestmark = pytest.mark.notebooks


@pytest.fixture(scope="module")
def results(executed_notebook):
    return executed_notebook("03")


def test_every_task_seed_and_strategy_ran(results):
    config = results["config"]
    runs = results["metrics"]["runs"]
    expected = {(t, s, m) for t in config["privacy"]["tasks"] for s in results["metrics"]["seeds"]
                for m in config["strategies"]}
    assert {(r["task"], r["seed"], r["strategy"]) for r in runs} == expected
    assert set(config["strategies"]) == {"erm", "unl", "adv", "orth", "orth_shift", "orth_olora"}


def per_group(run, column):
    """The recorded ``<column>[<group>]`` values of a run, by group (null: a group of another task's table)."""
    groups = [k[len("count["):-1] for k, v in run.items() if k.startswith("count[") and v is not None]
    return {g: run[f"{column}[{g}]"] for g in groups}


def test_gaps_equal_the_spread_of_the_recorded_per_group_rates(results):
    for run in results["metrics"]["runs"]:
        for gap, rate in (("dpd", "selection_rate"), ("tpr_gap", "recall"), ("fpr_gap", "fpr")):
            values = [v for v in per_group(run, rate).values() if v is not None and not math.isnan(v)]
            assert run[gap] == pytest.approx(max(values) - min(values), abs=1e-9), (run["task"], run["strategy"], gap)
        counts, accuracies = per_group(run, "count"), per_group(run, "accuracy")
        assert len(counts) >= 2 and sum(counts.values()) == run["n"]
        accuracy = sum(accuracies[g] * counts[g] for g in counts) / sum(counts.values())
        assert run["accuracy"] == pytest.approx(accuracy, abs=1e-9)
        assert 0.0 <= run["roc_auc"] <= 1.0 and 0.0 <= run["leakage"] <= 1.0


def test_summary_is_the_mean_and_interval_of_the_recorded_runs(results):
    runs = results["metrics"]["runs"]
    for key, row in results["metrics"]["summary"].items():
        task, strategy = key.split("|")
        values = [r["accuracy"] for r in runs if r["task"] == task and r["strategy"] == strategy]
        assert row["accuracy_mean"] == pytest.approx(np.mean(values))
        assert row["accuracy_n"] == len(values)
        if len(values) > 1:
            assert row["accuracy_ci_low"] <= row["accuracy_mean"] <= row["accuracy_ci_high"]


def test_differences_to_erm_are_seed_paired(results):
    runs = {(r["task"], r["strategy"], r["seed"]): r for r in results["metrics"]["runs"]}
    for key, row in results["metrics"]["differences_to_erm"].items():
        task, strategy = key.split("|")
        assert strategy != "erm"
        seeds = results["metrics"]["seeds"]
        paired = [runs[(task, strategy, s)]["fpr_gap"] - runs[(task, "erm", s)]["fpr_gap"] for s in seeds]
        assert row["fpr_gap_mean"] == pytest.approx(np.mean(paired))


def test_exchanged_parameters_are_the_lora_factors_only(results):
    privacy = results["config"]["privacy"]
    backbone = results["metrics"]["backbone"]
    # q and v in every layer, each with A (r x d) and B (d x r); no head, no other tensor
    expected = backbone["num_hidden_layers"] * 2 * 2 * privacy["rank"] * backbone["hidden_size"]
    assert set(results["metrics"]["exchanged_parameters"].values()) == {expected}


def test_adversarial_rounds_and_shared_sensitive_adapter(results):
    epochs = results["config"]["privacy"]["epochs"]
    by_key = {}
    for run in results["metrics"]["runs"]:
        if run["strategy"] == "adv":
            assert [s["round"] for s in run["auditor_signals"]] == list(range(1, epochs + 1))
        else:
            assert run["auditor_signals"] == []
        if run["strategy"] in ("unl", "orth", "orth_shift", "orth_olora"):
            by_key.setdefault((run["task"], run["seed"]), []).append(run["sensitive_adapter_signals"])
    # Unl and the three Orth forms of one task and seed receive the very same sensitive adapter
    for signals in by_key.values():
        assert len(signals) == 4 and all(s == signals[0] for s in signals) and signals[0]["sensitive_accuracy"] >= 0


def test_every_strategy_took_the_same_developer_steps(results):
    by_cell = {}
    for run in results["metrics"]["runs"]:
        by_cell.setdefault((run["task"], run["seed"]), set()).add((run["developer_steps"], run["developer_examples"]))
    assert by_cell and all(len(v) == 1 for v in by_cell.values())


def test_developer_audit_table_is_the_mean_of_the_runs_and_shared_adapters_audit_alike(results):
    runs = results["metrics"]["runs"]
    audit = results["metrics"]["developer_audit"]
    # Erm receives nothing: its row is the baseline, the probe on the developer's own h_0(x), one per task
    tasks = {r["task"] for r in runs}
    assert {f"{t}|erm" for t in tasks} <= set(audit)
    assert all(audit[f"{t}|erm"]["received"].startswith("nothing (baseline") for t in tasks)
    assert all(r["audit_auc"] is not None and 0 <= r["audit_auc"] <= 1 for r in runs if r["strategy"] == "erm")
    for key, row in audit.items():
        task, strategy = key.split("|")
        values = [r["audit_auc"] for r in runs if r["task"] == task and r["strategy"] == strategy]
        assert row["audit_auc"] == pytest.approx(np.mean(values))
        assert 0 <= row["audit_auc_ci_low"] <= row["audit_auc"] <= row["audit_auc_ci_high"] <= 1
        assert row["runs_auc_above_chance"] == sum(r["audit_auc_ci_low"] > 0.5 for r in runs
                                                   if r["task"] == task and r["strategy"] == strategy)
    # Unl and the Orth forms receive the same adapter: the developer could learn the same from it
    cells = {}
    for r in runs:
        if r["strategy"] in ("unl", "orth", "orth_shift", "orth_olora"):
            cells.setdefault((r["task"], r["seed"]), set()).add(round(r["audit_auc"], 12))
    assert cells and all(len(v) == 1 for v in cells.values())


def test_developer_and_auditor_parts_are_disjoint_shares_of_the_pool(results):
    fraction = results["config"]["privacy"]["auditor_fraction"]
    for part in results["metrics"]["data"]:
        dev, aud = part["developer (x, y)"], part["auditor (x, s)"]
        assert abs(aud / (dev + aud) - fraction) < 0.05
        assert dev + aud == sum(part["groups"].values())


def test_recorded_runs_are_the_declared_grid_one_to_one(results):
    from fairlib.config import get_profile
    from fairlib.experiments import privacy

    declared = privacy.jobs(get_profile("test"))
    assert [g["key"] for g in results["metrics"]["grid"]] == [s.key for s in declared]
    developers = [s for s in declared if s.method != privacy.AUDITOR]
    runs = results["metrics"]["runs"]
    assert sorted(r["key"] for r in runs) == sorted(s.key for s in developers)
    by_key = {s.key: s for s in developers}
    for run in runs:
        spec = by_key[run["key"]]
        assert (run["task"], run["strategy"], run["seed"]) == (spec.param("task"), spec.method, spec.seed)


def test_claims_are_engine_rows_of_the_catalogue_and_stand_ins_are_not_run(results):
    from fairlib.claims import claims_of
    from fairlib.evidence import validate_row

    claims = results["claims"]
    assert [c["id"] for c in claims] == [c.id for c in claims_of("03")]
    for row in claims:
        validate_row(row)
        # test profile = stand-in data: not run, with the stand-in's own test beside it
        assert (row["verdict"], row["reason"]) == ("not run", "stand-in data")
        assert row["evidence"]["n"] == len(results["metrics"]["seeds"])
    # the stand-in evidence of Unl's gaps follows from the recorded per-seed runs: its deciding comparison's
    # estimate is the mean paired difference Unl - Erm of that task and gap
    runs = {(r["task"], r["strategy"], r["seed"]): r for r in results["metrics"]["runs"]}
    labels = results["metrics"]["task_labels"]
    row = claims[-1]
    task = next(t for t, label in labels.items() if row["deciding"].startswith(label))
    metric = row["deciding"].rsplit(": ", 1)[1]
    seeds = results["metrics"]["seeds"]
    paired = [runs[(task, "unl", s)][metric] - runs[(task, "erm", s)][metric] for s in seeds]
    assert row["evidence"]["estimate"] == pytest.approx(np.mean(paired))
    assert results["profile"] == "test"


def test_recorded_seeds_are_the_seeds_of_the_declared_grid(results):
    from fairlib.config import get_profile
    from fairlib.experiments import privacy

    declared = privacy.jobs(get_profile("test"))
    seeds = results["metrics"]["seeds"]
    assert seeds == sorted({s.seed for s in declared}) == list(privacy.seeds_of("test"))
    # every comparison of every claim rests on all of them
    assert {row["evidence"]["n"] for row in results["claims"]} == {len(seeds)}


def test_recorded_permutation_null_equals_a_direct_call_on_the_stored_predictions(results):
    from fairlib.config import get_profile
    from fairlib.experiments import privacy
    from fairlib.metrics import gap_permutation_null
    from fairlib.train import RunStore

    null = results["metrics"]["permutation_null"]
    assert null["gaps"] == ["dpd", "tpr_gap", "fpr_gap"]
    specs = {s.key: s for s in privacy.developer_jobs(get_profile("test"))}
    runs = results["metrics"]["runs"]
    for run in (runs[0], runs[-1]):  # two tasks, two strategies
        spec = specs[run["key"]]
        record, tensors = RunStore(spec.namespace).load(spec.to_dict())
        y, prob, s = (tensors[f"test/{k}"].numpy() for k in ("y", "prob", "s"))
        y_pred = (prob[:, 1] >= 0.5).astype(np.int64)
        for gap in null["gaps"]:
            direct = gap_permutation_null(y, y_pred, sensitive_features=s, metric=gap,
                                          group_names=record["group_names"], n_permutations=null["n_permutations"],
                                          random_state=null["random_state"])
            assert direct["observed"] == pytest.approx(run[gap], abs=1e-12)
            for stat in ("null_mean", "null_q95", "p_value"):
                assert run[f"{gap}_{stat}"] == pytest.approx(direct[stat], abs=1e-12), (run["key"], gap, stat)
    # the table beside the gaps: per task, strategy and gap, the means over seeds of the recorded runs
    for key, row in null["table"].items():
        task, strategy, gap = key.split("|")
        part = [r for r in runs if r["task"] == task and r["strategy"] == strategy]
        assert row["observed"] == pytest.approx(np.mean([r[gap] for r in part]))
        assert row["null_mean"] == pytest.approx(np.mean([r[f"{gap}_null_mean"] for r in part]))
        assert row["seeds_p_below_0.05"] == sum(r[f"{gap}_p_value"] < 0.05 for r in part)
        assert row["n"] == len(part) == len(results["metrics"]["seeds"])
    assert len(null["table"]) == len(results["metrics"]["summary"]) * 3


def test_recorded_intervals_lie_in_the_metrics_bounds(results):
    from fairlib.experiments import privacy

    for key, row in results["metrics"]["summary"].items():
        for metric in privacy.METRIC_COLUMNS:
            low, mean, high = (row[f"{metric}_{stat}"] for stat in ("ci_low", "mean", "ci_high"))
            assert 0.0 <= low <= mean <= high <= 1.0, (key, metric, low, mean, high)
    for key, row in results["metrics"]["permutation_null"]["table"].items():
        assert 0.0 <= row["observed_ci_low"] <= row["observed"] <= row["observed_ci_high"] <= 1.0, key
