"""Membership inference on synthetic data whose answer is known analytically or by hand."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import softmax
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from fairlib.methods.membership import (
    lira_scores,
    logit_scaled_confidence,
    logit_scaled_confidence_from_logits,
    loss_threshold_scores,
    mia_by_group,
    mia_metrics,
    roc_curve_points,
    shadow_membership,
    tpr_at_fpr,
)


# ---------------------------------------------------------------- (a) logit-scaled confidence

def test_phi_from_probs_is_the_log_odds_of_the_true_class():
    probs = np.array([[0.2, 0.5, 0.3], [0.2, 0.5, 0.3], [0.7, 0.1, 0.2]])
    labels = np.array([1, 0, 2])
    expected = [np.log(0.5 / 0.5), np.log(0.2 / 0.8), np.log(0.2 / 0.8)]
    np.testing.assert_allclose(logit_scaled_confidence(probs, labels), expected, rtol=1e-12)


def test_phi_from_logits_equals_phi_from_probs():
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3.0, size=(50, 4))
    labels = rng.integers(0, 4, size=50)
    np.testing.assert_allclose(logit_scaled_confidence_from_logits(logits, labels),
                               logit_scaled_confidence(softmax(logits, axis=1), labels), rtol=1e-9, atol=1e-9)


def test_phi_stays_finite_and_exact_where_probabilities_saturate():
    # softmax([800, 0, 0]) is exactly (1, 0, 0) in float64, yet the logits still say phi = 800 - log 2.
    logits = np.array([[800.0, 0.0, 0.0], [0.0, 800.0, 0.0]])
    phi = logit_scaled_confidence_from_logits(logits, np.array([0, 0]))
    np.testing.assert_allclose(phi, [800.0 - np.log(2.0), -800.0 - 0.0], rtol=1e-12)
    # From probabilities, zeros are clamped instead of giving +-inf.
    phi_p = logit_scaled_confidence(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), np.array([0, 0]))
    assert np.all(np.isfinite(phi_p)) and phi_p[0] > 100 and phi_p[1] < -100
    # 1 - p_y would cancel to 0 here; the sum of the other classes keeps the value.
    tiny = np.array([[1.0 - 2e-17, 1e-17, 1e-17]])
    np.testing.assert_allclose(logit_scaled_confidence(tiny, np.array([0])), np.log(1.0 / 2e-17), rtol=1e-9)


def test_phi_rejects_bad_inputs():
    with pytest.raises(ValueError, match="class indices"):
        logit_scaled_confidence(np.full((2, 3), 1 / 3), np.array([0, 3]))
    with pytest.raises(ValueError, match="non-negative"):
        logit_scaled_confidence(np.array([[-1.0, 2.0]]), np.array([0]))
    with pytest.raises(ValueError, match="finite"):
        logit_scaled_confidence_from_logits(np.array([[np.nan, 2.0]]), np.array([0]))


# ---------------------------------------------------------------- (b) LiRA = Gaussian likelihood ratio

def _hand_set():
    # 2 examples, 4 shadows; example 0 is IN for shadows 0, 1, example 1 for shadows 2, 3.
    shadow_phi = np.array([[1.0, -1.0], [3.0, 0.0], [0.0, 4.0], [-2.0, 2.0]])
    shadow_in = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], dtype=bool)
    target_phi = np.array([1.5, 0.7])
    return target_phi, shadow_phi, shadow_in


def test_online_lira_is_the_gaussian_log_likelihood_ratio():
    target, shadow_phi, shadow_in = _hand_set()
    # Means and ddof=0 stds worked out by hand from the table above.
    mu_in, s_in = np.array([2.0, 3.0]), np.array([1.0, 1.0])
    mu_out, s_out = np.array([-1.0, -0.5]), np.array([1.0, 0.5])
    expected = norm.logpdf(target, mu_in, s_in) - norm.logpdf(target, mu_out, s_out)
    np.testing.assert_allclose(lira_scores(target, shadow_phi, shadow_in), expected, rtol=1e-12)


def test_offline_lira_is_the_one_sided_out_test():
    target, shadow_phi, shadow_in = _hand_set()
    expected = -norm.logsf(target, [-1.0, -0.5], [1.0, 0.5])
    np.testing.assert_allclose(lira_scores(target, shadow_phi, shadow_in, online=False), expected, rtol=1e-12)


def test_global_variance_pools_the_within_example_spread():
    target, shadow_phi, shadow_in = _hand_set()
    # Squared deviations from each example's own mean: IN 1+1+1+1, OUT 1+1+0.25+0.25, over 4 values each.
    s_in, s_out = 1.0, np.sqrt(2.5 / 4)
    expected = norm.logpdf(target, [2.0, 3.0], s_in) - norm.logpdf(target, [-1.0, -0.5], s_out)
    np.testing.assert_allclose(lira_scores(target, shadow_phi, shadow_in, global_variance=True), expected,
                               rtol=1e-12)


def test_min_std_floors_a_degenerate_fit():
    shadow_phi = np.array([[2.0], [2.0], [0.0], [1.0]])
    shadow_in = np.array([[True], [True], [False], [False]])
    score = lira_scores([2.0], shadow_phi, shadow_in, min_std=0.1)
    expected = norm.logpdf(2.0, 2.0, 0.1) - norm.logpdf(2.0, 0.5, 0.5)
    np.testing.assert_allclose(score, [expected], rtol=1e-12)


def test_example_without_in_shadows_falls_back_to_the_global_in_fit_with_a_warning():
    target, shadow_phi, shadow_in = _hand_set()
    shadow_phi = np.column_stack([shadow_phi, [5.0, 6.0, 7.0, 8.0]])
    shadow_in = np.column_stack([shadow_in, np.zeros(4, dtype=bool)])
    target = np.append(target, 6.0)
    with pytest.warns(UserWarning, match=r"1 of 3 examples have no IN shadow"):
        scores = lira_scores(target, shadow_phi, shadow_in)
    assert scores.shape == (3,) and np.all(np.isfinite(scores))
    all_in = np.array([1.0, 3.0, 4.0, 2.0])
    expected = norm.logpdf(6.0, all_in.mean(), all_in.std()) - norm.logpdf(6.0, 6.5, np.sqrt(1.25))
    np.testing.assert_allclose(scores[2], expected, rtol=1e-12)
    # The other examples' fits are untouched by the extra column.
    np.testing.assert_allclose(scores[:2], lira_scores(*_hand_set()), rtol=1e-12)
    # Offline LiRA needs no IN side, so it has nothing to warn about.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lira_scores(target, shadow_phi, shadow_in, online=False)


def test_lira_rejects_bad_inputs():
    target, shadow_phi, shadow_in = _hand_set()
    with pytest.raises(ValueError, match="shape"):
        lira_scores(target, shadow_phi[:, :1], shadow_in)
    with pytest.raises(ValueError, match="no shadow model is IN"):
        lira_scores(target, shadow_phi, np.zeros_like(shadow_in))


def _synthetic_attack(*, gap, n=10000, k=64, seed=0):
    """Per-example OUT means vary; IN = OUT + gap; all stds 1. Targets: a random half are members."""
    rng = np.random.default_rng(seed)
    mu_out = rng.normal(0.0, 1.0, size=n)
    mu_in = mu_out + gap
    keep = shadow_membership(n, k, seed=seed + 1)
    shadow_phi = np.where(keep, mu_in, mu_out) + rng.normal(size=(k, n))
    is_member = rng.random(n) < 0.5
    target_phi = np.where(is_member, mu_in, mu_out) + rng.normal(size=n)
    return target_phi, shadow_phi, keep, is_member


@pytest.mark.parametrize("kwargs", [{}, {"global_variance": True}, {"online": False}])
def test_lira_auc_matches_the_analytic_auc_of_two_gaussians(kwargs):
    gap = 1.0
    target_phi, shadow_phi, keep, is_member = _synthetic_attack(gap=gap)
    auc = mia_metrics(lira_scores(target_phi, shadow_phi, keep, **kwargs), is_member)["auc"]
    # Equal unit variances: the likelihood ratio orders examples by phi - (mu_in + mu_out) / 2, which is
    # N(+gap/2, 1) for members and N(-gap/2, 1) for non-members, so AUC = Phi(gap / sqrt 2) ~ 0.760.
    # Tolerance: ~0.005 sampling error of the AUC over 10000 targets, plus ~0.01 lost to fitting each
    # Gaussian on 32 shadows (most for per-example variances, the reason for global_variance).
    assert auc == pytest.approx(norm.cdf(gap / np.sqrt(2)), abs=0.025)
    # A global threshold on phi ignores the per-example offsets (spread 1): AUC = Phi(gap / 2) ~ 0.691.
    raw_auc = mia_metrics(target_phi, is_member)["auc"]
    assert raw_auc == pytest.approx(norm.cdf(gap / 2), abs=0.025)
    assert auc > raw_auc + 0.03


# ---------------------------------------------------------------- (c) no signal

@pytest.mark.parametrize("online", [True, False])
def test_lira_auc_is_chance_when_in_and_out_coincide(online):
    target_phi, shadow_phi, keep, is_member = _synthetic_attack(gap=0.0, seed=3)
    metrics = mia_metrics(lira_scores(target_phi, shadow_phi, keep, online=online), is_member)
    assert metrics["auc"] == pytest.approx(0.5, abs=0.03)
    assert metrics["tpr@1%fpr"] < 0.04


# ---------------------------------------------------------------- (d) ROC read-outs by hand

# Ranked by score: M M N M N M N N N N  (4 members, 6 non-members).
HAND_SCORES = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0])
HAND_MEMBER = np.array([1, 1, 0, 1, 0, 1, 0, 0, 0, 0], dtype=bool)


@pytest.mark.parametrize("fpr, tpr", [(0.0, 0.5), (0.1, 0.5), (1 / 6, 0.75), (0.3, 0.75), (1 / 3, 1.0),
                                      (1.0, 1.0)])
def test_tpr_at_fpr_by_hand(fpr, tpr):
    assert tpr_at_fpr(HAND_SCORES, HAND_MEMBER, fpr=fpr) == pytest.approx(tpr)


def test_mia_metrics_by_hand():
    metrics = mia_metrics(HAND_SCORES, HAND_MEMBER, fprs=(0.001, 0.01, 0.2))
    # Members outrank 21 of the 24 member/non-member pairs; best TPR - FPR is at (1/3, 1).
    assert metrics == pytest.approx({"auc": 21 / 24, "tpr@0.1%fpr": 0.5, "tpr@1%fpr": 0.5, "tpr@20%fpr": 0.75,
                                     "advantage": 2 / 3})
    assert list(metrics) == ["auc", "tpr@0.1%fpr", "tpr@1%fpr", "tpr@20%fpr", "advantage"]


def test_tpr_at_fpr_keeps_collinear_roc_points():
    # Each tied pair is one member and one non-member: the ROC is the diagonal (0,0),(1/3,1/3),(2/3,2/3),(1,1),
    # whose inner points sklearn's drop_intermediate would remove, making the answer 0 instead of 1/3.
    scores = np.array([3, 3, 2, 2, 1, 1], dtype=float)
    member = np.array([1, 0, 1, 0, 1, 0], dtype=bool)
    assert tpr_at_fpr(scores, member, fpr=0.5) == pytest.approx(1 / 3)
    fpr, tpr, thresholds = roc_curve_points(scores, member)
    np.testing.assert_allclose(fpr, [0, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(tpr, [0, 1 / 3, 2 / 3, 1])


def test_loss_threshold_scores_negate_the_loss():
    np.testing.assert_array_equal(loss_threshold_scores([0.1, 2.0]), [-0.1, -2.0])
    assert mia_metrics(loss_threshold_scores([0.1, 0.2, 3.0, 4.0]), [1, 1, 0, 0])["auc"] == 1.0


def test_metrics_reject_a_single_class_and_bad_budgets():
    with pytest.raises(ValueError, match="both members and non-members"):
        mia_metrics([0.1, 0.2], [True, True])
    with pytest.raises(ValueError, match="fpr"):
        tpr_at_fpr(HAND_SCORES, HAND_MEMBER, fpr=1.5)


# ---------------------------------------------------------------- (e) shadow assignment

def test_shadow_membership_is_balanced_per_example_and_per_shadow():
    keep = shadow_membership(1000, 16, seed=0)
    assert keep.dtype == bool and keep.shape == (16, 1000)
    assert np.all(keep.sum(axis=0) == 8)
    # Each shadow's size is a sum of 1000 independent Bernoulli(1/2): sd ~ 16.
    assert np.all(np.abs(keep.sum(axis=1) - 500) < 80)


def test_shadow_membership_odd_number_of_shadows():
    keep = shadow_membership(1001, 5, seed=1)
    per_example = keep.sum(axis=0)
    assert set(per_example.tolist()) == {2, 3}
    assert int((per_example == 3).sum()) == 500
    assert abs(keep.sum() / 5 - 1001 / 2) < 1


def test_shadow_membership_is_determined_by_the_seed():
    np.testing.assert_array_equal(shadow_membership(200, 8, seed=7), shadow_membership(200, 8, seed=7))
    assert not np.array_equal(shadow_membership(200, 8, seed=7), shadow_membership(200, 8, seed=8))
    with pytest.raises(ValueError, match="n_shadows"):
        shadow_membership(10, 1, seed=0)


# ---------------------------------------------------------------- (f) per group

def _grouped_data():
    rng = np.random.default_rng(5)
    n = 600
    groups = rng.choice(np.array(["A", "B", "C"]), size=n)
    is_member = rng.random(n) < 0.5
    is_member[groups == "C"] = False
    scores = rng.normal(size=n) + 0.8 * is_member
    return scores, is_member, groups


def test_mia_by_group_matches_each_subset_and_flags_a_group_without_members():
    scores, is_member, groups = _grouped_data()
    with pytest.warns(UserWarning, match=r"group 'C' has no members") as record:
        table = mia_by_group(scores, is_member, sensitive_features=groups)
    assert len(record) == 1
    assert list(table.index) == ["A", "B", "C", "all"]
    assert list(table.columns) == ["n_members", "n_nonmembers", "min_resolvable_fpr", "auc", "tpr@0.1%fpr",
                                   "tpr@1%fpr", "advantage"]
    for name in ["A", "B"]:
        rows = groups == name
        row = table.loc[name]
        assert row["n_members"] == is_member[rows].sum()
        assert row["n_nonmembers"] == (~is_member[rows]).sum()
        assert row["min_resolvable_fpr"] == pytest.approx(1 / (~is_member[rows]).sum())
        assert row["auc"] == pytest.approx(roc_auc_score(is_member[rows], scores[rows]))
        assert row["tpr@1%fpr"] == pytest.approx(tpr_at_fpr(scores[rows], is_member[rows], fpr=0.01))
    overall = mia_metrics(scores, is_member)
    assert table.loc["all", ["auc", "tpr@0.1%fpr", "tpr@1%fpr", "advantage"]].to_dict() == pytest.approx(overall)
    assert table.loc["C", ["auc", "tpr@0.1%fpr", "tpr@1%fpr", "advantage"]].isna().all()
    assert table.loc["C", "n_members"] == 0 and table.loc["C", "n_nonmembers"] == (groups == "C").sum()


def test_mia_by_group_keeps_a_listed_group_absent_from_the_data():
    scores, is_member, groups = _grouped_data()
    keep = groups != "C"
    codes = pd.Series(groups[keep]).map({"A": 0, "B": 1}).to_numpy()
    with pytest.warns(UserWarning, match=r"group 'C' has no members \(0 members, 0 non-members\)"):
        table = mia_by_group(scores[keep], is_member[keep], sensitive_features=codes, group_names=["A", "B", "C"])
    assert np.isnan(table.loc["C", "min_resolvable_fpr"]) and np.isnan(table.loc["C", "auc"])
    assert table.loc["A", "auc"] == pytest.approx(roc_auc_score(is_member[groups == "A"], scores[groups == "A"]))


def test_target_membership_is_a_seeded_half_and_its_digest_names_it():
    from fairlib.methods.membership import membership_digest, target_membership

    a = target_membership(9, seed=3)
    assert a.dtype == bool and a.sum() == 4 and np.array_equal(a, target_membership(9, seed=3))
    # the documented draw: the first n // 2 of a permutation from default_rng([seed, 7])
    expected = np.zeros(9, dtype=bool)
    expected[np.random.default_rng([3, 7]).permutation(9)[:4]] = True
    assert np.array_equal(a, expected)
    assert not np.array_equal(a, target_membership(9, seed=4))
    digest = membership_digest(a)
    n, hexpart = digest.split(":")
    assert n == "9" and len(hexpart) == 16 and int(hexpart, 16) >= 0
    assert digest == membership_digest(list(a)) != membership_digest(~a)
    with pytest.raises(ValueError, match="n_candidates"):
        target_membership(0, seed=0)
