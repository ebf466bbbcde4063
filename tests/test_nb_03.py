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
    expected = {(t, s, m) for t in config["privacy"]["tasks"] for s in config["profile"]["seeds"]
                for m in config["strategies"]}
    assert {(r["task"], r["seed"], r["strategy"]) for r in runs} == expected
    assert set(config["strategies"]) == {"erm", "unl", "adv", "orth"}


def test_gaps_equal_the_spread_of_the_recorded_per_group_rates(results):
    for run in results["metrics"]["runs"]:
        groups = run["per_group"].values()
        for gap, rate in (("dp_gap", "selection_rate"), ("eo_gap", "tpr"), ("fpr_gap", "fpr")):
            values = [g[rate] for g in groups if g[rate] is not None and not math.isnan(g[rate])]
            assert run[gap] == pytest.approx(max(values) - min(values), abs=1e-9), (run["task"], run["strategy"], gap)
        counts = [g["count"] for g in groups]
        accuracy = sum(g["accuracy"] * g["count"] for g in groups) / sum(counts)
        assert run["accuracy"] == pytest.approx(accuracy, abs=1e-9)
        assert 0.0 <= run["auc"] <= 1.0 and 0.0 <= run["leakage"] <= 1.0


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
        seeds = results["config"]["profile"]["seeds"]
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
        if run["strategy"] in ("unl", "orth"):
            by_key.setdefault((run["task"], run["seed"]), []).append(run["sensitive_adapter_signals"])
    # Unl and Orth of one task and seed receive the very same sensitive adapter
    for signals in by_key.values():
        assert len(signals) == 2 and signals[0] == signals[1] and signals[0]["sensitive_accuracy"] >= 0


def test_developer_and_auditor_parts_are_disjoint_shares_of_the_pool(results):
    fraction = results["config"]["privacy"]["auditor_fraction"]
    for part in results["metrics"]["data"]:
        dev, aud = part["developer (x, y)"], part["auditor (x, s)"]
        assert abs(aud / (dev + aud) - fraction) < 0.05
        assert dev + aud == sum(part["groups"].values())


def test_claims_name_the_profile_and_cover_the_papers_three(results):
    claims = results["claims"]
    assert [c["claim"].split()[0] for c in claims] == ["Orth", "Adv", "Unl"]
    assert all(isinstance(c["holds"], bool) for c in claims)
    # the verdict must follow from the recorded differences (Unl: no task with a clearly lower mean gap)
    unl = [row for key, row in results["metrics"]["differences_to_erm"].items() if key.endswith("|unl")]
    clear = [row["mean_gap_ci_high"] is not None and row["mean_gap_ci_high"] < 0 for row in unl]
    assert claims[2]["holds"] == (not any(clear))
    assert results["profile"] == "test"
