"""fairlib.metrics against hand computations, fairlearn and scikit-learn."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    false_positive_rate,
    true_positive_rate,
)
from fairlearn.metrics import demographic_parity_difference as fl_dpd
from fairlearn.metrics import equalized_odds_difference as fl_eod
from scipy import stats
from sklearn.metrics import accuracy_score, f1_score, recall_score

import fairlib.metrics as M

# --------------------------------------------------------------------------- hand-computed binary case
# group a: y=[1,1,0,0] p=[1,0,0,1] -> TP=1 FN=1 FP=1 TN=1: acc 2/4, TPR 1/2, FPR 1/2, SR 2/4, F1 2*1/(2+1+1)=1/2
# group b: y=[1,1,1,0] p=[1,1,0,0] -> TP=2 FN=1 FP=0 TN=1: acc 3/4, TPR 2/3, FPR 0/1, SR 2/4, F1 4/(4+0+1)=4/5
Y = np.array([1, 1, 0, 0, 1, 1, 1, 0])
P = np.array([1, 0, 0, 1, 1, 1, 0, 0])
S = np.array(["a"] * 4 + ["b"] * 4)


def test_group_metrics_binary_by_hand():
    table = M.group_metrics(Y, P, sensitive_features=S)
    assert list(table.index) == ["a", "b"]
    assert list(table.columns) == ["count", "accuracy", "f1", "recall", "fpr", "selection_rate"]
    assert table["count"].tolist() == [4, 4]
    np.testing.assert_allclose(table["accuracy"], [0.5, 0.75])
    np.testing.assert_allclose(table["f1"], [0.5, 0.8])
    np.testing.assert_allclose(table["recall"], [0.5, 2 / 3])
    np.testing.assert_allclose(table["fpr"], [0.5, 0.0])
    np.testing.assert_allclose(table["selection_rate"], [0.5, 0.5])


def test_scalars_binary_by_hand():
    kw = dict(sensitive_features=S)
    assert M.min_group_f1(Y, P, **kw) == pytest.approx(0.5)
    assert M.min_group_recall(Y, P, **kw) == pytest.approx(0.5)
    assert M.f1_gap(Y, P, **kw) == pytest.approx(0.3)                       # 0.8 - 0.5
    assert M.demographic_parity_difference(Y, P, **kw) == pytest.approx(0.0)  # 2/4 vs 2/4
    assert M.equal_opportunity_difference(Y, P, **kw) == pytest.approx(1 / 6)  # 2/3 - 1/2
    assert M.fpr_parity_difference(Y, P, **kw) == pytest.approx(0.5)        # 1/2 - 0
    assert M.equalized_odds_difference(Y, P, **kw) == pytest.approx(0.5)    # max(1/6, 1/2)
    assert M.equalized_odds_sum(Y, P, **kw) == pytest.approx(2 / 3)         # 1/6 + 1/2


def test_weighted_f1_error_by_hand():
    # class 1: TP=3 FP=1 FN=2 -> F1 = 6/9; class 0: TP=2 FP=2 FN=1 -> F1 = 4/7
    # supports 5 and 3: weighted F1 = (5*2/3 + 3*4/7)/8 = 106/168
    assert M.weighted_f1_error(Y, P) == pytest.approx(100 - 100 * 106 / 168)
    # the group argument is accepted (uniform call) and does not change the overall error
    assert M.weighted_f1_error(Y, P, sensitive_features=S) == M.weighted_f1_error(Y, P)


def test_pos_label_zero_swaps_roles():
    # with pos_label=0 the positives of group a are y==0: idx 2,3, predicted 0 at idx 2 -> TPR 1/2;
    # group b: y==0 only idx 7, predicted 0 -> TPR 1
    table = M.group_metrics(Y, P, sensitive_features=S, pos_label=0)
    np.testing.assert_allclose(table["recall"], [0.5, 1.0])
    np.testing.assert_allclose(table["selection_rate"], [0.5, 0.5])
    assert M.equal_opportunity_difference(Y, P, sensitive_features=S, pos_label=0) == pytest.approx(0.5)


# --------------------------------------------------------------------------- one_vs_rest vs between_groups
def test_one_vs_rest_by_hand_three_groups():
    # selection rates: a 2/2 = 1, b 1/2, c 1/4 -> between groups 1 - 1/4 = 0.75
    # one vs rest: a vs {b,c}: 1 - 2/6 = 2/3;  b vs {a,c}: |1/2 - 3/6| = 0;  c vs {a,b}: |1/4 - 3/4| = 1/2
    s = np.array(list("aabbcccc"))
    y = np.array([1, 0, 1, 0, 1, 0, 1, 0])
    p = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    assert M.demographic_parity_difference(y, p, sensitive_features=s) == pytest.approx(0.75)
    ovr = M.demographic_parity_difference(y, p, sensitive_features=s, method="one_vs_rest")
    assert isinstance(ovr, pd.Series) and list(ovr.index) == ["a", "b", "c"]
    np.testing.assert_allclose(ovr.to_numpy(), [2 / 3, 0.0, 0.5])


def test_one_vs_rest_equals_fairlearn_on_group_indicator():
    rng = np.random.default_rng(1)
    y, p, s = rng.integers(0, 2, 600), rng.integers(0, 2, 600), rng.integers(0, 5, 600)
    for ours, theirs in ((M.demographic_parity_difference, fl_dpd), (M.equalized_odds_difference, fl_eod)):
        ovr = ours(y, p, sensitive_features=s, method="one_vs_rest")
        expected = [theirs(y, p, sensitive_features=(s == g)) for g in range(5)]
        np.testing.assert_allclose(ovr.to_numpy(), expected, atol=1e-12)
    # f1 one-vs-rest against sklearn on each group and its complement
    ovr = M.f1_gap(y, p, sensitive_features=s, method="one_vs_rest")
    expected = [abs(f1_score(y[s == g], p[s == g]) - f1_score(y[s != g], p[s != g])) for g in range(5)]
    np.testing.assert_allclose(ovr.to_numpy(), expected, atol=1e-12)


def test_one_vs_rest_two_groups_equals_between():
    rng = np.random.default_rng(2)
    y, p, s = rng.integers(0, 2, 300), rng.integers(0, 2, 300), rng.integers(0, 2, 300)
    for f in (M.demographic_parity_difference, M.equalized_odds_sum, M.f1_gap):
        between = f(y, p, sensitive_features=s)
        ovr = f(y, p, sensitive_features=s, method="one_vs_rest")
        np.testing.assert_allclose(ovr.to_numpy(), [between, between])


def test_bad_method_raises():
    with pytest.raises(ValueError, match="method"):
        M.equalized_odds_difference(Y, P, sensitive_features=S, method="to_overall")


def test_pos_label_missing_raises():
    # labels {2, 3} do not contain the default pos_label 1
    with pytest.raises(ValueError, match="pos_label"):
        M.demographic_parity_difference(Y + 2, P + 2, sensitive_features=S)


# --------------------------------------------------------------------------- against fairlearn and sklearn
@pytest.mark.parametrize("n_groups", [2, 5])
def test_against_fairlearn_and_sklearn(n_groups):
    rng = np.random.default_rng(n_groups)
    n = 1000
    s = rng.integers(0, n_groups, n)
    y = rng.integers(0, 2, n)
    # predictions that depend on the group, so that the gaps are not all near zero
    p = (rng.random(n) < 0.3 + 0.1 * s + 0.3 * y).astype(int)
    kw = dict(sensitive_features=s)
    assert M.equalized_odds_difference(y, p, **kw) == pytest.approx(fl_eod(y, p, **kw), abs=1e-12)
    assert M.demographic_parity_difference(y, p, **kw) == pytest.approx(fl_dpd(y, p, **kw), abs=1e-12)
    rates = MetricFrame(metrics={"tpr": true_positive_rate, "fpr": false_positive_rate}, y_true=y, y_pred=p,
                        sensitive_features=s).difference()
    assert M.equal_opportunity_difference(y, p, **kw) == pytest.approx(rates["tpr"])
    assert M.fpr_parity_difference(y, p, **kw) == pytest.approx(rates["fpr"])
    assert M.equalized_odds_sum(y, p, **kw) == pytest.approx(rates["tpr"] + rates["fpr"])
    if n_groups == 2:
        assert M.equalized_odds_sum(y, p, **kw) == pytest.approx(2 * fl_eod(y, p, agg="mean", **kw))

    table = M.group_metrics(y, p, **kw)
    for g in range(n_groups):
        m = s == g
        assert table.loc[g, "count"] == m.sum()
        assert table.loc[g, "accuracy"] == pytest.approx(accuracy_score(y[m], p[m]))
        assert table.loc[g, "f1"] == pytest.approx(f1_score(y[m], p[m]))
        assert table.loc[g, "recall"] == pytest.approx(recall_score(y[m], p[m]))
        assert table.loc[g, "fpr"] == pytest.approx(np.mean(p[m][y[m] == 0]))
        assert table.loc[g, "selection_rate"] == pytest.approx(np.mean(p[m]))
    assert M.min_group_f1(y, p, **kw) == pytest.approx(table["f1"].min())
    assert M.min_group_recall(y, p, **kw) == pytest.approx(table["recall"].min())
    assert M.f1_gap(y, p, **kw) == pytest.approx(table["f1"].max() - table["f1"].min())
    assert M.weighted_f1_error(y, p) == pytest.approx(100 * (1 - f1_score(y, p, average="weighted")))


# --------------------------------------------------------------------------- multi-class
# group a: y=[0,1,2,0] p=[0,1,1,0];  group b: y=[0,1,2,2] p=[1,1,2,0]
YM = np.array([0, 1, 2, 0, 0, 1, 2, 2])
PM = np.array([0, 1, 1, 0, 1, 1, 2, 0])
SM = np.array([0, 0, 0, 0, 1, 1, 1, 1])


def test_multiclass_by_hand():
    kw = dict(sensitive_features=SM, group_names=("a", "b"), classes=(0, 1, 2))
    # selection rate per class (a, b): c0 (2/4, 1/4), c1 (2/4, 2/4), c2 (0, 1/4) -> max gap 0.25
    assert M.demographic_parity_difference(YM, PM, **kw) == pytest.approx(0.25)
    # c0: TPR (1, 0) FPR (0/2, 1/3); c1: TPR (1, 1) FPR (1/3, 1/3); c2: TPR (0, 1/2) FPR (0, 0)
    # EOD per class: max(1, 1/3)=1, 0, max(1/2, 0)=1/2 -> 1;  sum per class: 4/3, 0, 1/2 -> 4/3
    assert M.equalized_odds_difference(YM, PM, **kw) == pytest.approx(1.0)
    assert M.equalized_odds_sum(YM, PM, **kw) == pytest.approx(4 / 3)
    assert M.equal_opportunity_difference(YM, PM, **kw) == pytest.approx(1.0)
    assert M.fpr_parity_difference(YM, PM, **kw) == pytest.approx(1 / 3)
    table = M.group_metrics(YM, PM, **kw)
    # a: acc 3/4; recall per class (1, 1, 0) -> 2/3; F1 per class (1, 2/3, 0) -> 5/9
    # b: acc 2/4; recall per class (0, 1, 1/2) -> 1/2; F1 per class (0, 2/3, 2/3) -> 4/9
    np.testing.assert_allclose(table["accuracy"], [0.75, 0.5])
    np.testing.assert_allclose(table["recall"], [2 / 3, 0.5])
    np.testing.assert_allclose(table["f1"], [5 / 9, 4 / 9])
    # pos_label=1 one-vs-rest: selection (2/4, 2/4), FPR (1/3, 1/3)
    np.testing.assert_allclose(table["selection_rate"], [0.5, 0.5])
    np.testing.assert_allclose(table["fpr"], [1 / 3, 1 / 3])


def test_multiclass_recall_ignores_classes_only_predicted():
    # y = [0, 0, 1], p = [0, 2, 1]: class 2 is predicted but never true, so its recall (0/0) is left out:
    # recall = mean(1/2, 1/1) = 0.75 (counting class 2 as 0 would give 0.5). F1 per class (2/3, 1, 0) -> 5/9
    table = M.group_metrics([0, 0, 1], [0, 2, 1], sensitive_features=["g"] * 3, classes=(0, 1, 2))
    assert table.loc["g", "recall"] == pytest.approx(0.75)
    assert table.loc["g", "f1"] == pytest.approx(5 / 9)


def test_multiclass_random_against_fairlearn_per_class():
    rng = np.random.default_rng(7)
    n, k = 1500, 4
    s = rng.integers(0, 3, n)
    y = rng.integers(0, k, n)
    # accuracy depends on group and class jointly, so the worst class differs between groups
    p = np.where(rng.random(n) < 0.3 + 0.2 * ((s + y) % 3), y, rng.integers(0, k, n))
    kw = dict(sensitive_features=s)
    declared = dict(kw, classes=range(k))
    dpd = max(fl_dpd(y == c, p == c, **kw) for c in range(k))
    eod = max(fl_eod(y == c, p == c, **kw) for c in range(k))
    assert M.demographic_parity_difference(y, p, **declared) == pytest.approx(dpd, abs=1e-12)
    assert M.equalized_odds_difference(y, p, **declared) == pytest.approx(eod, abs=1e-12)
    ovr = M.equalized_odds_difference(y, p, method="one_vs_rest", **declared)
    expected = [max(fl_eod(y == c, p == c, sensitive_features=(s == g)) for c in range(k)) for g in range(3)]
    np.testing.assert_allclose(ovr.to_numpy(), expected, atol=1e-12)
    table = M.group_metrics(y, p, **declared)
    for g in range(3):
        m = s == g
        assert table.loc[g, "f1"] == pytest.approx(f1_score(y[m], p[m], average="macro"))
        per_class_recall = [np.mean(p[m][y[m] == c] == c) for c in np.unique(y[m])]
        assert table.loc[g, "recall"] == pytest.approx(np.mean(per_class_recall))


# --------------------------------------------------------------------------- undefined cases
def test_group_without_positives_is_nan_with_warning():
    # group a has y = [0, 0]: TPR/recall undefined; it predicts one positive, so F1 = 0/(0+1+0) = 0 (defined)
    y = np.array([0, 0, 1, 1, 0])
    p = np.array([0, 1, 1, 0, 0])
    s = np.array(["a", "a", "b", "b", "b"])
    with pytest.warns(UserWarning, match=r"group 'a'.*TPR.*no examples with y_true == 1"):
        table = M.group_metrics(y, p, sensitive_features=s)
    assert math.isnan(table.loc["a", "recall"])
    assert table.loc["a", "f1"] == 0.0
    assert table.loc["b", "recall"] == pytest.approx(0.5)
    with pytest.warns(UserWarning) as record:
        eo = M.equal_opportunity_difference(y, p, sensitive_features=s)
    messages = [str(w.message) for w in record]
    assert any("group 'a': TPR" in m for m in messages) and any("fewer than two groups" in m for m in messages)
    assert math.isnan(eo)
    with pytest.warns(UserWarning):
        assert math.isnan(M.equalized_odds_difference(y, p, sensitive_features=s))  # NaN TPR gap propagates
    with pytest.warns(UserWarning, match="group 'a'"):
        assert M.min_group_recall(y, p, sensitive_features=s) == pytest.approx(0.5)


def test_group_without_negatives_fpr_nan_not_zero():
    # fairlearn reports FPR 0 for a group with no negatives; we report NaN
    y = np.array([1, 1, 0, 1])
    p = np.array([1, 0, 1, 1])
    s = np.array([0, 0, 1, 1])
    with pytest.warns(UserWarning, match=r"group 0.*FPR.*no examples with y_true != 1"):
        table = M.group_metrics(y, p, sensitive_features=s)
    assert math.isnan(table.loc[0, "fpr"])
    assert table.loc[1, "fpr"] == 1.0


def test_empty_group_in_group_names():
    names = ("a", "b", "empty")
    codes = np.array([0] * 4 + [1] * 4)
    with pytest.warns(UserWarning, match="group 'empty' has no members"):
        table = M.group_metrics(Y, P, sensitive_features=codes, group_names=names)
    assert list(table.index) == list(names)
    assert table.loc["empty", "count"] == 0
    assert table.loc["empty"].drop("count").isna().all()
    np.testing.assert_allclose(table.loc[["a", "b"], "f1"], [0.5, 0.8])
    # the gaps ignore the empty group instead of counting it as 0
    with pytest.warns(UserWarning, match="group 'empty'"):
        assert M.equalized_odds_difference(Y, P, sensitive_features=codes, group_names=names) == pytest.approx(0.5)
    with pytest.warns(UserWarning, match="group 'empty'"):
        ovr = M.demographic_parity_difference(Y, P, sensitive_features=codes, group_names=names,
                                              method="one_vs_rest")
    assert math.isnan(ovr["empty"]) and ovr["a"] == pytest.approx(0.0)
    # names given as values rather than codes give the same table
    with pytest.warns(UserWarning):
        by_value = M.group_metrics(Y, P, sensitive_features=S, group_names=names)
    pd.testing.assert_frame_equal(table, by_value)


def test_single_defined_group_gap_is_nan():
    with pytest.warns(UserWarning, match="fewer than two groups"):
        assert math.isnan(M.demographic_parity_difference(Y, P, sensitive_features=np.zeros(8, int)))


def test_invalid_groups_raise():
    with pytest.raises(ValueError, match="not in group_names"):
        M.group_metrics(Y, P, sensitive_features=S, group_names=("a", "z"))
    with pytest.raises(ValueError, match="0..1"):
        M.group_metrics(Y, P, sensitive_features=np.arange(8), group_names=("a", "b"))


# --------------------------------------------------------------------------- calibration
# top-class confidences (n_bins=5, bins (0.8,1], (0.6,0.8], (0.4,0.6]):
#   0.9 right, 0.9 wrong -> bin (0.8,1]: conf 0.9, acc 0.5, |.| 0.4,  weight 2/5 -> 0.16
#   0.7 right            -> bin (0.6,0.8]: conf 0.7, acc 1,   |.| 0.3,  weight 1/5 -> 0.06
#   0.6 right, 0.55 wrong-> bin (0.4,0.6]: conf 0.575, acc .5, |.| .075, weight 2/5 -> 0.03   (0.6 is an upper edge)
# ECE = 0.25
PROB = np.array([[0.1, 0.9], [0.9, 0.1], [0.3, 0.7], [0.6, 0.4], [0.45, 0.55]])
YC = np.array([1, 1, 1, 0, 0])


def test_ece_by_hand():
    assert M.expected_calibration_error(YC, PROB, n_bins=5) == pytest.approx(0.25)
    # the (n,) positive-class form is the same prediction
    assert M.expected_calibration_error(YC, PROB[:, 1], n_bins=5) == pytest.approx(0.25)


def test_reliability_diagram_by_hand():
    table = M.reliability_diagram(YC, PROB, n_bins=5)
    assert list(table.columns) == ["bin_lower", "bin_upper", "count", "confidence", "accuracy"]
    np.testing.assert_allclose(table["bin_lower"], [0, 0.2, 0.4, 0.6, 0.8])
    np.testing.assert_allclose(table["bin_upper"], [0.2, 0.4, 0.6, 0.8, 1.0])
    assert table["count"].tolist() == [0, 0, 2, 1, 2]
    assert table.loc[:1, ["confidence", "accuracy"]].isna().all().all()
    np.testing.assert_allclose(table.loc[2:, "confidence"], [0.575, 0.7, 0.9])
    np.testing.assert_allclose(table.loc[2:, "accuracy"], [0.5, 1.0, 0.5])


def test_bins_are_closed_on_the_right():
    # n_bins=4 has edges exact in binary floating point: 0.75 belongs to (0.5, 0.75], 0.5 to (0.25, 0.5]
    table = M.reliability_diagram([1, 1, 0], [0.75, 0.5, 0.0], n_bins=4)
    # probabilities of class 1: 0.75 -> conf 0.75 (class 1); 0.5 -> tie, class 0, conf 0.5; 0.0 -> conf 1.0
    assert table["count"].tolist() == [0, 1, 1, 1]
    np.testing.assert_allclose(table["accuracy"].iloc[1:], [0.0, 1.0, 1.0])


def test_ece_by_group_by_hand():
    # group a = examples 0,1: one bin, |0.5 - 0.9| = 0.4
    # group b = examples 2,3,4: 1/3 * 0.3 + 2/3 * 0.075 = 0.15
    s = np.array(["a", "a", "b", "b", "b"])
    ece = M.ece_by_group(YC, PROB, sensitive_features=s, n_bins=5)
    np.testing.assert_allclose(ece.to_numpy(), [0.4, 0.15])
    with pytest.warns(UserWarning, match="group 'c' has no members"):
        ece = M.ece_by_group(YC, PROB, sensitive_features=s, group_names=("a", "b", "c"), n_bins=5)
    assert math.isnan(ece["c"])
    with pytest.warns(UserWarning, match="group 'a': FPR"):   # group a has only y == 1
        table = M.group_metrics(YC, PROB.argmax(1), sensitive_features=s, y_prob=PROB, n_bins=5)
    np.testing.assert_allclose(table["ece"], [0.4, 0.15])


def test_perfectly_calibrated_has_ece_near_zero():
    rng = np.random.default_rng(0)
    n = 200_000
    q = rng.random(n)                       # probability of class 1
    y = (rng.random(n) < q).astype(int)     # drawn from it: calibrated by construction
    assert M.expected_calibration_error(y, q) < 0.01
    # the same labels with overconfident probabilities are clearly miscalibrated
    sharp = np.where(q > 0.5, 1 - (1 - q) ** 3, q ** 3)
    assert M.expected_calibration_error(y, sharp) > 0.05
    # multi-class: three classes drawn from Dirichlet probabilities
    probs = rng.dirichlet([1, 1, 1], size=50_000)
    labels = (rng.random(50_000)[:, None] > np.cumsum(probs, axis=1)).sum(axis=1)
    assert M.expected_calibration_error(labels, probs) < 0.015


def test_ece_rejects_logits():
    with pytest.raises(ValueError, match="sum"):
        M.expected_calibration_error(YC, PROB * 3)


# --------------------------------------------------------------------------- seeds
def test_summarize_over_seeds_t_interval():
    values = [1.0, 2.0, 3.0, 4.0]
    out = M.summarize_over_seeds(values)
    # mean 2.5; std (ddof=1) = sqrt((2.25 + 0.25 + 0.25 + 2.25)/3) = sqrt(5/3); t_{0.975, 3} = 3.182446
    half = 3.182446305 * math.sqrt(5 / 3) / 2
    assert out["n"] == 4
    assert out["mean"] == pytest.approx(2.5)
    assert out["std"] == pytest.approx(math.sqrt(5 / 3))
    assert out["ci_low"] == pytest.approx(2.5 - half) and out["ci_high"] == pytest.approx(2.5 + half)
    lo, hi = stats.t.interval(0.9, df=3, loc=2.5, scale=stats.sem(values))
    out90 = M.summarize_over_seeds(values, confidence=0.9)
    assert (out90["ci_low"], out90["ci_high"]) == pytest.approx((lo, hi))


def test_summarize_over_seeds_edge_cases():
    one = M.summarize_over_seeds([0.7])
    assert one["mean"] == 0.7 and one["n"] == 1
    assert all(math.isnan(one[k]) for k in ("std", "ci_low", "ci_high"))
    with pytest.warns(UserWarning, match="1 of 3 values are NaN"):
        out = M.summarize_over_seeds([1.0, float("nan"), 3.0])
    assert out["n"] == 2 and out["mean"] == 2.0


def test_summarize_frame():
    df = pd.DataFrame({
        "method": ["lora", "lora", "lora", "full", "lora"],
        "rank": [8, 8, 8, 0, 16],
        "seed": [1, 2, 3, 1, 1],
        "acc": [0.8, 0.9, 1.0, 0.5, 0.6],
    })
    out = M.summarize_frame(df, by=["method", "rank"], value_columns=["acc"])
    assert list(out.index) == [("lora", 8), ("full", 0), ("lora", 16)]   # first-appearance order
    assert list(out.columns) == ["acc_mean", "acc_std", "acc_ci_low", "acc_ci_high", "acc_n"]
    expected = M.summarize_over_seeds([0.8, 0.9, 1.0])
    assert out.loc[("lora", 8), "acc_mean"] == pytest.approx(0.9)
    assert out.loc[("lora", 8), "acc_ci_high"] == pytest.approx(expected["ci_high"])
    assert out.loc[("full", 0), "acc_n"] == 1 and math.isnan(out.loc[("full", 0), "acc_std"])
    single = M.summarize_frame(df, by="method", value_columns=["acc"])
    assert list(single.index) == ["lora", "full"] and single.index.name == "method"
    assert single.loc["lora", "acc_n"] == 4


# --------------------------------------------------------------------------- summary
def test_fairness_summary_keys_values_and_single_warning():
    codes = np.array([0] * 4 + [1] * 4)
    names = ("a", "b", "empty")
    prob = np.column_stack([1 - P * 0.8 - 0.1, P * 0.8 + 0.1])   # 0.9 on the predicted class
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = M.fairness_summary(Y, P, sensitive_features=codes, group_names=names, y_prob=prob)
    assert tuple(out) == M.SUMMARY_KEYS
    empty = [w for w in caught if "'empty' has no members" in str(w.message)]
    assert len(empty) == 1
    assert out["n"] == 8
    assert out["accuracy"] == pytest.approx(5 / 8)
    assert out["equalized_odds_difference"] == pytest.approx(0.5)
    assert out["equalized_odds_sum"] == pytest.approx(2 / 3)
    assert out["f1_gap"] == pytest.approx(0.3)
    assert out["min_group_f1"] == pytest.approx(0.5)
    assert out["weighted_f1_error"] == pytest.approx(100 - 100 * 106 / 168)
    # every example has confidence 0.9: ECE = |acc - 0.9|; group a acc 1/2, group b 3/4
    assert out["ece"] == pytest.approx(abs(5 / 8 - 0.9))
    assert out["max_group_ece"] == pytest.approx(0.4)
    without_prob = M.fairness_summary(Y, P, sensitive_features=S)
    assert math.isnan(without_prob["ece"]) and tuple(without_prob) == M.SUMMARY_KEYS


def test_paired_over_seeds_by_hand():
    import pandas as pd

    from fairlib.metrics import paired_over_seeds

    method = pd.Series({0: 0.8, 1: 0.7, 2: 0.9, 5: 0.1})
    baseline = pd.Series({0: 0.6, 1: 0.6, 2: 0.6, 3: 0.9})
    up = paired_over_seeds(method, baseline)
    assert up["per_seed"] == pytest.approx({0: 0.2, 1: 0.1, 2: 0.3})  # seeds 3 and 5 unpaired, left out
    assert up["mean"] == pytest.approx(0.2) and up["std"] == pytest.approx(0.1) and up["n"] == 3
    half = 4.302652729911275 * 0.1 / np.sqrt(3)  # t(0.975, df=2)
    assert (up["ci_low"], up["ci_high"]) == pytest.approx((0.2 - half, 0.2 + half))
    assert (up["method_mean"], up["baseline_mean"]) == pytest.approx((0.8, 0.6))
    down = paired_over_seeds(method, baseline, higher_is_better=False)  # a gap: lower is better
    assert down["mean"] == pytest.approx(-0.2)
    none = paired_over_seeds(method, pd.Series({7: 1.0}))
    assert none["n"] == 0 and np.isnan(none["method_mean"])


def test_binary_group_rates_by_hand_and_against_group_metrics():
    from fairlib.metrics import binary_group_rates, group_metrics

    y = np.array([1, 1, 0, 0, 1, 0, 0])
    p = np.array([1, 0, 1, 0, 1, 1, 0])
    s = np.array([0, 0, 0, 0, 1, 1, 1])
    r = binary_group_rates(y, p, sensitive_features=s, num_groups=3)
    assert r["count"].tolist() == [4, 3, 0]
    np.testing.assert_allclose(r["selection_rate"][:2], [2 / 4, 2 / 3])
    np.testing.assert_allclose(r["tpr"][:2], [1 / 2, 1 / 1])
    np.testing.assert_allclose(r["fpr"][:2], [1 / 2, 1 / 2])
    np.testing.assert_allclose(r["f1"][:2], [2 * 1 / (2 + 1 + 1), 2 * 1 / (2 + 1 + 0)])
    assert all(np.isnan(r[k][2]) for k in ("selection_rate", "tpr", "fpr", "f1"))  # empty group: undefined
    rng = np.random.default_rng(3)
    y, p, s = rng.integers(0, 2, 500), rng.integers(0, 2, 500), rng.integers(0, 4, 500)
    r = binary_group_rates(y, p, sensitive_features=s, num_groups=4)
    table = group_metrics(y, p, sensitive_features=s, group_names=["a", "b", "c", "d"])
    np.testing.assert_allclose(r["selection_rate"], table["selection_rate"].to_numpy())
    np.testing.assert_allclose(r["tpr"], table["recall"].to_numpy())
    np.testing.assert_allclose(r["fpr"], table["fpr"].to_numpy())
    np.testing.assert_allclose(r["f1"], table["f1"].to_numpy())


def test_summarize_frame_split_and_quiet_undefined():
    from fairlib.metrics import summarize_frame

    df = pd.DataFrame({"method": ["a", "a", "a", "a"], "split": ["test", "test", "test", "val"],
                       "seed": [0, 1, 2, 0], "acc": [0.5, np.nan, 0.7, 0.0]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the NaN must not warn when warn_undefined=False
        quiet = summarize_frame(df, by="method", value_columns=["acc"], split="test", warn_undefined=False)
    assert quiet.loc["a", "acc_n"] == 2 and quiet.loc["a", "acc_mean"] == pytest.approx(0.6)
    with pytest.warns(UserWarning):
        loud = summarize_frame(df[df["split"] == "test"], by="method", value_columns=["acc"])
    pd.testing.assert_frame_equal(quiet, loud)
