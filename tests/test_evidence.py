"""The claims engine on simulated data with known effects, against statsmodels/scipy and its own invariants."""
import json
import math
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.weightstats import ttost_paired

from fairlib import claims as cat
from fairlib import evidence as ev
from fairlib.evidence import Reason, Verdict


def test_verdict_is_a_str_enum_stored_by_value():
    assert [v.value for v in Verdict] == ["reproduced", "contradicted", "inconclusive", "not run"]
    assert json.dumps({"v": Verdict.NOT_RUN}) == '{"v": "not run"}'
    assert Reason("stand-in data") is Reason.STAND_IN


def test_catalogue_ids_unique_and_each_claim_complete():
    ids = [c.id for c in cat.CATALOGUE] + [k.id for k in cat.CHECKS]
    assert len(ids) == len(set(ids))
    for c in cat.CATALOGUE:
        if c.kind == "equivalence":
            assert c.margin == max(cat.MARGINS[m] for m in c.metric.split("+"))
        if c.kind == "match":
            assert c.paper_value is not None and c.paper_pm
    assert {c.notebook for c in cat.CATALOGUE} == set(cat.PAPERS)
    # checks are not claims: no parameter count or identity in the catalogue
    # (a claim may be about parameters, e.g. 06's "fairness does not depend on the number of trainable parameters";
    # a count of them, "46 vs 742 parameters", is a check)
    assert not any(re.search(r"\d[\d,]*\s+(?:vs\.?|versus|against)\s+\d[\d,]*\s+(?:trainable\s+)?parameters",
                             c.statement.lower()) for c in cat.CATALOGUE)
    assert re.search(r"\d[\d,]*\s+(?:vs\.?|versus|against)\s+\d[\d,]*\s+(?:trainable\s+)?parameters",
                     "the encoding trains 46 vs 742 parameters")
    with pytest.raises(KeyError, match="p1.fairness"):
        cat.claim("p1.nonsense")
    with pytest.raises(ValueError, match="kind"):
        cat.Claim("z", "01", "1", "s", "vibes", "dpd")


def test_equivalence_true_zero_large_n_reproduced():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.10, 0.01, 400), rng.normal(0.10, 0.01, 400)
    row = ev.evaluate("p1.calibration.ece", a=a, b=b, data="sim")
    assert row["verdict"] == "reproduced"
    # the decision is statsmodels' TOST at alpha = 0.05
    assert ttost_paired(a, b, -0.02, 0.02)[0] < 0.05
    assert -0.02 < row["ci_low"] <= row["ci_high"] < 0.02 and row["level"] == pytest.approx(0.90)


def test_equivalence_effect_beyond_margin_contradicted():
    rng = np.random.default_rng(2)
    row = ev.evaluate("p1.calibration.ece", a=rng.normal(0.2, 0.01, 50), b=rng.normal(0.1, 0.01, 50), data="sim")
    assert row["verdict"] == "contradicted" and row["ci_low"] > 0.02


def test_three_seeds_wide_spread_inconclusive_with_mde_and_seeds():
    row = ev.evaluate("p1.calibration.ece", a=[0.1, 0.3, 0.0], b=[0.1, 0.1, 0.1], data="sim")
    assert row["verdict"] == "inconclusive" and row["n"] == 3
    assert row["mde"] > 0.02 and row["seeds_needed"] > 3


def test_superiority_matches_a_paired_t_interval():
    a, b = np.array([0.5, 0.6, 0.7, 0.65]), np.array([0.4, 0.5, 0.65, 0.55])
    row = ev.evaluate("p2.vs_lora.min_group_f1", a=a, b=b, data="sim")
    low, high = stats.t.interval(0.95, 3, loc=(a - b).mean(), scale=stats.sem(a - b))
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))
    assert row["verdict"] == ("reproduced" if low > 0 else "inconclusive")
    # direction -1 (a gap): the same differences contradict "FairLoRA has a smaller F1 gap"
    assert ev.evaluate("p2.vs_lora.f1_gap", a=a, b=b, data="sim")["verdict"] == (
        "contradicted" if low > 0 else "inconclusive")


def test_superiority_never_reproduced_when_interval_contains_zero():
    row = ev.evaluate("p2.vs_lora.min_group_f1", differences=[0.3, -0.1, 0.2], data="sim")
    assert row["ci_low"] < 0 < row["ci_high"] and row["verdict"] == "inconclusive"


def test_holm_as_statsmodels_does():
    rng = np.random.default_rng(3)
    comps = {f"task{i}": {"a": rng.normal(mu, 0.05, 8), "b": rng.normal(0, 0.05, 8)}
             for i, mu in enumerate((-0.08, -0.03, 0.0, -0.05))}
    row = ev.evaluate("p3.adv.fpr_gap", comparisons=comps, data="sim")
    raw = [stats.ttest_rel(c["a"], c["b"]).pvalue for c in comps.values()]
    reject, adjusted = multipletests(raw, alpha=0.05, method="holm")[:2]
    got = row["comparisons"]
    assert [c["p"] for c in got] == pytest.approx(raw)
    assert [c["p_holm"] for c in got] == pytest.approx(adjusted)
    # each comparison's interval excludes 0 exactly when Holm rejects it
    for c, r in zip(got, reject):
        assert (c["ci_high"] < 0 or c["ci_low"] > 0) == bool(r)
    assert row["verdict"] == ("reproduced" if reject.any() else "inconclusive")


def test_match_reads_the_papers_band():
    rng = np.random.default_rng(4)
    near = ev.evaluate("p4.table3.ours_error", a=rng.normal(15.85, 0.1, 20), data="sim")
    far = ev.evaluate("p4.table3.ours_error", a=rng.normal(17.5, 0.1, 20), data="sim")
    assert near["verdict"] == "reproduced" and 15.829 - 0.34 < near["ci_low"] < near["ci_high"] < 15.829 + 0.34
    assert far["verdict"] == "contradicted" and far["ci_low"] > 15.829 + 0.34


def test_trend_monotone_and_flat():
    rng = np.random.default_rng(5)
    alphas = np.tile([0.1, 0.5, 1.0, 2.0], 6)
    falling = ev.evaluate("p4.fig5.error_falls", x=alphas, y=16 - alphas + rng.normal(0, 0.1, alphas.size),
                          data="sim")
    assert falling["verdict"] == "reproduced" and falling["ci_high"] < 0 and falling["spearman"] < 0
    ranks = np.tile([1, 2, 4, 8, 16, 32, 64], 30)
    flat = ev.evaluate("p1.rank.dpd", x=ranks, y=0.3 + rng.normal(0, 0.01, ranks.size), data="sim")
    assert flat["verdict"] == "reproduced"
    steep = ev.evaluate("p1.rank.dpd", x=ranks, y=0.7 - 0.07 * np.log2(ranks) + rng.normal(0, 0.01, ranks.size),
                        data="sim")
    assert steep["verdict"] == "contradicted"  # the 0.669 -> 0.267 over the sweep


def test_stand_in_is_not_run_with_its_evidence():
    row = ev.evaluate("p4.fig4.images", a=[1, 2, 3.0], b=[2, 3, 4.5], metric="error", data="fashion-mnist",
                      stand_in=True)
    assert (row["verdict"], row["reason"], row["estimate"]) == ("not run", "stand-in data", None)
    assert row["evidence"]["verdict"] == "reproduced" and row["evidence"]["ci_high"] < 0
    # its evidence rests on 3 seeds, fewer than MIN_SEEDS: the row says so, naming the count
    assert row["detail"]["power"].startswith("underpowered stand-in evidence: the comparison rests on 3 seed(s)")
    assert f"fewer than {ev.MIN_SEEDS}" in row["detail"]["power"] and ev.MIN_SEEDS == 10


def test_stand_in_power_note_names_exactly_the_comparisons_below_min_seeds():
    rng = np.random.default_rng(3)
    comparisons = {label: {"a": rng.normal(0, 1, n), "b": rng.normal(0, 1, n), "metric": "dpd"}
                   for label, n in (("five", 5), ("ten", ev.MIN_SEEDS), ("nine", ev.MIN_SEEDS - 1))}
    row = ev.evaluate("p1.fairness.dpd", comparisons=comparisons, data="sim", stand_in=True)
    power = row["detail"]["power"]
    assert "five rests on 5" in power and f"nine rests on {ev.MIN_SEEDS - 1}" in power and "ten rests" not in power
    # at MIN_SEEDS everywhere, or on the paper's data, no note from the engine
    enough = {k: v for k, v in comparisons.items() if k == "ten"}
    assert "detail" not in ev.evaluate("p1.fairness.dpd", comparisons=enough, data="sim", stand_in=True)
    assert "detail" not in ev.evaluate("p1.fairness.dpd", comparisons=comparisons, data="sim", stand_in=False)


def test_checks_and_not_run_rows():
    assert ev.check_row("check.p4.parameters_ours", 46, data="x")["holds"] is True
    assert ev.check_row("check.p4.full_rank_identity", 3e-4, data="x")["holds"] is False
    row = ev.not_run("p1.rank.dpd", Reason.PROFILE)
    assert row["verdict"] == "not run" and row["reason"] == "profile"
    with pytest.raises(ValueError, match="reason"):
        ev.not_run("p1.rank.dpd", "")


def test_bad_input_named():
    with pytest.raises(ValueError, match="paired by seed"):
        ev.evaluate("p2.vs_lora.min_group_f1", a=[1, 2], b=[1, 2, 3], data="x")
    with pytest.raises(ValueError, match="must name its metric"):
        ev.evaluate("p4.fig4.images", a=[1, 2], b=[1, 2], data="x")
    with pytest.raises(ValueError, match="NaN"):
        ev.evaluate("p2.vs_lora.min_group_f1", a=[1, float("nan")], b=[1, 2], data="x")


def test_validator_rejects_a_verdict_against_its_interval():
    row = ev.evaluate("p2.vs_lora.min_group_f1", differences=[0.3, -0.1, 0.2], data="sim")
    with pytest.raises(ValueError, match="disagrees"):
        ev.validate_row({**row, "verdict": "reproduced"})
    with pytest.raises(ValueError, match="verdict"):
        ev.validate_row({**row, "verdict": "holds"})
    with pytest.raises(ValueError, match="missing"):
        ev.validate_row({k: v for k, v in row.items() if k != "mde"})


_CLAIMS_TESTED = ["p2.vs_lora.min_group_f1", "p2.vs_lora.f1_gap", "p1.calibration.ece", "p1.fairness.dpd",
                  "p1.fairness.worst_group_accuracy", "p4.table3.ours_dpd"]


@settings(max_examples=60, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claim_id=st.sampled_from(_CLAIMS_TESTED),
       values=st.lists(st.floats(-0.5, 0.5, allow_nan=False), min_size=2, max_size=12),
       shift=st.floats(-0.2, 0.2))
def test_property_verdict_agrees_with_its_interval(claim_id, values, shift):
    values = np.asarray(values) + shift
    kw = {"a": values + 0.18} if claim_id.startswith("p4.table3") else {"differences": values}
    row = ev.evaluate(claim_id, data="prop", **kw)
    assert ev.interval_agrees(row)
    low, high = row["ci_low"], row["ci_high"]
    if row["verdict"] == "reproduced":
        c = cat.claim(claim_id)
        if c.kind == "superiority":
            assert c.direction * low > 0 and c.direction * high > 0
        elif c.kind == "equivalence" and c.direction == 0:
            assert -c.margin < low and high < c.margin
    if row["verdict"] == "inconclusive" and low is not None and low < high:
        assert row["mde"] is not None
    assert not math.isnan(row["n"])
