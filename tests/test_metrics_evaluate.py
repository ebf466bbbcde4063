"""The metric vocabulary, evaluate(), bounded intervals, the test-set bootstrap and the permutation null."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from fairlearn.metrics import MetricFrame, false_positive_rate, true_positive_rate
from fairlearn.metrics import demographic_parity_difference as fl_dpd
from fairlearn.metrics import equalized_odds_difference as fl_eod
from scipy import stats
from sklearn.metrics import accuracy_score, f1_score, recall_score, roc_auc_score

import fairlib.metrics as M
from fairlib.metrics._counting import COUNTED, counted_metric


# --------------------------------------------------------------------------- vocabulary
def test_vocabulary_has_each_name_once_with_formula_direction_and_bounds():
    required = {"accuracy", "worst_group_accuracy", "worst_cell_accuracy", "dpd", "tpr_gap", "fpr_gap", "eo_max",
                "eo_sum", "f1_gap", "min_group_f1", "min_group_recall", "ece", "ece_gap", "worst_group_ece",
                "mia_auc"}
    assert required <= set(M.METRICS)
    for name, info in M.METRICS.items():
        assert info.name == name and info.label and info.formula and info.direction in ("higher", "lower")
        assert info.bounds[0] < info.bounds[1]
    assert M.METRICS["eo_sum"].bounds == (0.0, 2.0) and M.METRICS["eo_max"].bounds == (0.0, 1.0)
    assert M.METRICS["worst_cell_accuracy"].higher_is_better and not M.METRICS["dpd"].higher_is_better
    # every scalar of evaluate is a canonical name; labels are distinct (a figure never shows two as one)
    assert set(M.EVALUATE_KEYS[1:]) <= set(M.METRICS)
    labels = [m.label for m in M.METRICS.values()]
    assert len(set(labels)) == len(labels)
    with pytest.raises(TypeError):
        M.METRICS["accuracy"] = None   # read-only
    with pytest.raises(ValueError, match="unknown metric 'eo'.*canonical names"):
        M.metric_info("eo")


# --------------------------------------------------------------------------- evaluate by hand
# group a: y=[1,1,0,0] p=[1,0,0,1] -> TPR 1/2, FPR 1/2, sel 1/2, acc 1/2, F1 1/2
# group b: y=[1,1,1,0] p=[1,1,0,0] -> TPR 2/3, FPR 0,   sel 1/2, acc 3/4, F1 4/5
# cells: (y=0,a) 1/2, (y=0,b) 1/1, (y=1,a) 1/2, (y=1,b) 2/3 -> worst cell 1/2
Y = np.array([1, 1, 0, 0, 1, 1, 1, 0])
P = np.array([1, 0, 0, 1, 1, 1, 0, 0])
S = np.array(["a"] * 4 + ["b"] * 4)


def test_evaluate_by_hand_eo_sum_and_eo_max_differ():
    r = M.evaluate(Y, P, sensitive_features=S)
    assert tuple(r)[:len(M.EVALUATE_KEYS)] == M.EVALUATE_KEYS
    assert r["n"] == 8 and r["accuracy"] == pytest.approx(5 / 8)
    assert r["tpr_gap"] == pytest.approx(1 / 6) and r["fpr_gap"] == pytest.approx(1 / 2)
    assert r["eo_max"] == pytest.approx(1 / 2) and r["eo_sum"] == pytest.approx(2 / 3)
    assert r["dpd"] == pytest.approx(0.0)
    assert r["worst_group_accuracy"] == pytest.approx(1 / 2) and r["accuracy_gap"] == pytest.approx(1 / 4)
    assert r["min_group_f1"] == pytest.approx(1 / 2) and r["f1_gap"] == pytest.approx(0.3)
    assert r["min_group_recall"] == pytest.approx(1 / 2)
    assert r["worst_cell_accuracy"] == pytest.approx(1 / 2)
    assert r["accuracy[b]"] == pytest.approx(3 / 4) and r["count[a]"] == 4 and r["recall[b]"] == pytest.approx(2 / 3)
    assert r["fpr[b]"] == 0.0 and r["selection_rate[a]"] == 0.5
    assert all(math.isnan(r[k]) for k in ("ece", "worst_group_ece", "ece_gap", "roc_auc", "ece[a]"))


def test_worst_cell_differs_from_worst_group():
    # group a: y=[0,0,0,1] p=[0,0,0,0] -> acc 3/4, but its (y=1) cell has accuracy 0
    # group b: y=[0,1] p=[1,1] -> acc 1/2
    y, p, s = [0, 0, 0, 1, 0, 1], [0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 1, 1]
    r = M.evaluate(y, p, sensitive_features=s, metrics=["worst_group_accuracy", "worst_cell_accuracy"],
                   per_group=False)
    assert r == {"n": 6, "worst_group_accuracy": 0.5, "worst_cell_accuracy": 0.0}


def test_evaluate_metrics_argument_is_checked():
    with pytest.raises(ValueError, match="cannot compute \\['eo'\\]; valid choices"):
        M.evaluate(Y, P, sensitive_features=S, metrics=["eo"])
    with pytest.raises(ValueError, match="need y_prob"):
        M.evaluate(Y, P, sensitive_features=S, metrics=["ece"])
    with pytest.raises(TypeError, match="wrap it in a list"):
        M.evaluate(Y, P, sensitive_features=S, metrics="dpd")


# --------------------------------------------------------------------------- evaluate against fairlearn / sklearn
@pytest.mark.parametrize("n_groups", [2, 4])
def test_evaluate_against_fairlearn_and_sklearn(n_groups):
    rng = np.random.default_rng(10 + n_groups)
    n = 1200
    s = rng.integers(0, n_groups, n)
    y = rng.integers(0, 2, n)
    p1 = np.clip(0.2 + 0.1 * s + 0.4 * y + rng.normal(0, 0.15, n), 0, 1)
    p = (p1 >= 0.5).astype(int)
    names = [f"g{g}" for g in range(n_groups)]
    r = M.evaluate(y, p, sensitive_features=s, group_names=names, y_prob=p1)
    kw = dict(sensitive_features=s)
    assert r["dpd"] == pytest.approx(fl_dpd(y, p, **kw), abs=1e-12)
    assert r["eo_max"] == pytest.approx(fl_eod(y, p, **kw), abs=1e-12)
    frame = MetricFrame(metrics={"tpr": true_positive_rate, "fpr": false_positive_rate, "acc": accuracy_score,
                                 "f1": f1_score, "recall": recall_score}, y_true=y, y_pred=p, **kw)
    gaps = frame.difference()
    assert r["tpr_gap"] == pytest.approx(gaps["tpr"]) and r["fpr_gap"] == pytest.approx(gaps["fpr"])
    assert r["eo_sum"] == pytest.approx(gaps["tpr"] + gaps["fpr"])
    assert r["worst_group_accuracy"] == pytest.approx(frame.group_min()["acc"])
    assert r["accuracy_gap"] == pytest.approx(gaps["acc"])
    assert r["min_group_f1"] == pytest.approx(frame.group_min()["f1"])
    assert r["min_group_recall"] == pytest.approx(frame.group_min()["recall"])
    assert r["f1_gap"] == pytest.approx(gaps["f1"])
    assert r["accuracy"] == pytest.approx(accuracy_score(y, p))
    assert r["roc_auc"] == pytest.approx(roc_auc_score(y, p1))
    assert r["weighted_f1_error"] == pytest.approx(100 * (1 - f1_score(y, p, average="weighted")))
    cells = MetricFrame(metrics=accuracy_score, y_true=y, y_pred=p, sensitive_features={"y": y, "s": s})
    assert r["worst_cell_accuracy"] == pytest.approx(cells.group_min())
    for g, name in enumerate(names):
        assert r[f"accuracy[{name}]"] == pytest.approx(frame.by_group.loc[g, "acc"])
        assert r[f"ece[{name}]"] == pytest.approx(M.expected_calibration_error(y[s == g], p1[s == g]))
    ece = [r[f"ece[{name}]"] for name in names]
    assert r["worst_group_ece"] == pytest.approx(max(ece)) and r["ece_gap"] == pytest.approx(max(ece) - min(ece))
    # the same numbers as the package's own functions (one definition each)
    assert r["eo_sum"] == M.equalized_odds_sum(y, p, **kw) and r["ece"] == M.expected_calibration_error(y, p1)


def test_evaluate_multiclass_declared_matches_per_class_fairlearn():
    rng = np.random.default_rng(5)
    n, k = 900, 3
    s, y = rng.integers(0, 3, n), rng.integers(0, k, n)
    p = np.where(rng.random(n) < 0.4 + 0.2 * s, y, rng.integers(0, k, n))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = M.evaluate(y, p, sensitive_features=s, classes=range(k), metrics=["dpd", "eo_max", "accuracy"])
    assert r["dpd"] == pytest.approx(max(fl_dpd(y == c, p == c, sensitive_features=s) for c in range(k)))
    assert r["eo_max"] == pytest.approx(max(fl_eod(y == c, p == c, sensitive_features=s) for c in range(k)))


def test_counted_metrics_equal_evaluate():
    rng = np.random.default_rng(8)
    for trial in range(5):
        n, g = 60, 3 + trial % 2
        s = rng.integers(0, g, n)
        y, p = rng.integers(0, 2, n), rng.integers(0, 2, n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            r = M.evaluate(y, p, sensitive_features=s, group_names=range(g), metrics=list(COUNTED))
        for metric in COUNTED:
            value = counted_metric(y == 1, p == 1, s[None, :], g, metric)[0]
            assert value == pytest.approx(r[metric], abs=1e-12, nan_ok=True), metric


# --------------------------------------------------------------------------- intervals
def test_bounded_interval_near_one_stays_inside():
    values = [1.0, 0.99, 1.0, 0.97, 1.0]
    t = M.summarize_over_seeds(values)
    assert t["ci_high"] > 1.0                       # the t interval leaves [0, 1]: what the bootstrap fixes
    b = M.summarize_over_seeds(values, metric="accuracy")
    assert 0.0 <= b["ci_low"] <= b["mean"] <= b["ci_high"] <= 1.0
    assert (b["mean"], b["std"], b["n"]) == (t["mean"], t["std"], t["n"])
    gaps = M.summarize_over_seeds([0.0, 0.01, 0.0, 0.02], metric="dpd")
    assert gaps["ci_low"] >= 0.0
    with pytest.raises(ValueError, match="outside the bounds"):
        M.summarize_over_seeds([0.5, 1.2], metric="accuracy")
    with pytest.raises(ValueError, match="unknown metric"):
        M.summarize_over_seeds([0.5, 0.7], metric="acc")


def test_seed_bootstrap_agrees_with_scipy_directly():
    values = np.array([0.81, 0.78, 0.9, 0.85, 0.83, 0.88])
    ours = M.summarize_over_seeds(values, metric="accuracy", confidence=0.9, random_state=3)
    ref = stats.bootstrap((values,), np.mean, method="percentile", confidence_level=0.9,
                          rng=np.random.default_rng(3)).confidence_interval
    assert (ours["ci_low"], ours["ci_high"]) == pytest.approx((ref.low, ref.high))


def test_summarize_frame_bounded_uses_metric_bounds_only_when_asked():
    import pandas as pd

    df = pd.DataFrame({"m": ["x"] * 4, "accuracy": [1.0, 0.98, 1.0, 0.99], "other": [1.0, 0.98, 1.0, 0.99]})
    plain = M.summarize_frame(df, by="m", value_columns=["accuracy", "other"])
    assert plain.loc["x", "accuracy_ci_high"] > 1.0          # unchanged default (same numbers as before)
    bounded = M.summarize_frame(df, by="m", value_columns=["accuracy", "other"], bounded=True)
    assert bounded.loc["x", "accuracy_ci_high"] <= 1.0
    assert bounded.loc["x", "other_ci_high"] == plain.loc["x", "other_ci_high"]   # not a canonical name


def test_summarize_frame_bounded_covers_per_group_rates_and_nothing_else():
    import pandas as pd

    values = [1.0, 1.0, 0.6, 1.0, 0.95]  # the Student t interval of these leaves [0, 1]
    df = pd.DataFrame({"m": ["x"] * 5, "f1[a]": values, "ece[b]": values, "count[a]": values, "f1": values})
    assert M.summarize_over_seeds(values)["ci_high"] > 1.0
    bounded = M.summarize_frame(df, by="m", value_columns=["f1[a]", "ece[b]", "count[a]", "f1"], bounded=True)
    boot = M.summarize_over_seeds(values, bounds=(0.0, 1.0))
    for column in ("f1[a]", "ece[b]"):
        assert (bounded.loc["x", f"{column}_ci_low"], bounded.loc["x", f"{column}_ci_high"]) == (
            boot["ci_low"], boot["ci_high"])
    t = M.summarize_over_seeds(values)
    for column in ("count[a]", "f1"):  # a count, and a name that is neither a metric nor a per-group rate
        assert bounded.loc["x", f"{column}_ci_high"] == t["ci_high"]
    assert M.column_bounds("recall[g1]") == (0.0, 1.0) and M.column_bounds("eo_sum") == (0.0, 2.0)
    assert M.column_bounds("f1[group 1]") == (0.0, 1.0)  # a prefix with a digit
    assert M.column_bounds("count[g1]") is None and M.column_bounds("seconds") is None


def test_test_set_bootstrap_agrees_with_scipy_directly():
    rng = np.random.default_rng(2)
    n = 300
    s = np.repeat([0, 1, 2], [80, 100, 120])
    y = rng.integers(0, 2, n)
    p = (rng.random(n) < 0.3 + 0.2 * s).astype(int)
    ours = M.bootstrap_test_set(y, p, sensitive_features=s, metric="dpd", n_resamples=400, random_state=4)
    # independent: scipy resamples each group's predictions and takes max - min of their means
    ref = stats.bootstrap(tuple(p[s == g] for g in range(3)), lambda *g: max(map(np.mean, g)) - min(map(np.mean, g)),
                          method="percentile", n_resamples=400, vectorized=False, rng=np.random.default_rng(4))
    assert (ours["ci_low"], ours["ci_high"]) == pytest.approx((ref.confidence_interval.low,
                                                               ref.confidence_interval.high))
    assert ours["estimate"] == pytest.approx(fl_dpd(y, p, sensitive_features=s))
    # one group: a plain bootstrap of the accuracy
    one = M.bootstrap_test_set(y, p, sensitive_features=np.zeros(n, int), metric="accuracy", n_resamples=300,
                               random_state=1)
    ref = stats.bootstrap(((y == p).astype(float),), np.mean, method="percentile", n_resamples=300,
                          rng=np.random.default_rng(1)).confidence_interval
    assert (one["ci_low"], one["ci_high"]) == pytest.approx((ref.low, ref.high))


def test_test_set_bootstrap_generic_path_and_bounds():
    rng = np.random.default_rng(6)
    n = 120
    s = rng.integers(0, 2, n)
    y = rng.integers(0, 2, n)
    prob = np.clip(0.5 + 0.4 * (y - 0.5) + rng.normal(0, 0.2, n), 0, 1)
    out = M.bootstrap_test_set(y, (prob >= 0.5).astype(int), sensitive_features=s, y_prob=prob, metric="ece",
                               n_resamples=60)
    assert 0 <= out["ci_low"] <= out["ci_high"] <= 1 and out["n_undefined"] == 0
    assert out["estimate"] == pytest.approx(M.expected_calibration_error(y, prob))


# --------------------------------------------------------------------------- permutation null
def _null_data(rng, sizes, rates):
    s = np.repeat(np.arange(len(sizes)), sizes)
    y = rng.integers(0, 2, len(s))
    p = (rng.random(len(s)) < np.asarray(rates)[s]).astype(int)
    return y, p, s


def test_permutation_null_distribution_is_fairlearn_on_permuted_groups():
    rng = np.random.default_rng(0)
    y, p, s = _null_data(rng, [30, 20, 10], [0.5, 0.5, 0.5])
    out = M.gap_permutation_null(y, p, sensitive_features=s, metric="eo_max", n_permutations=25, random_state=7)
    perms = np.random.default_rng(7)
    expected = [fl_eod(y, p, sensitive_features=perms.permutation(s)) for _ in range(25)]
    np.testing.assert_allclose(out["null"], expected, atol=1e-12)
    assert out["observed"] == pytest.approx(fl_eod(y, p, sensitive_features=s))
    assert out["p_value"] == pytest.approx((1 + np.sum(np.array(expected) >= out["observed"] - 1e-12)) / 26)
    assert out["group_sizes"] == {0: 30, 1: 20, 2: 10}


def test_permutation_null_reuses_its_permutations_across_gaps_and_models_of_one_split():
    # The permutations of one split and seed are drawn once and reused (notebooks ask for several gaps of
    # several models on the same split): every reuse must still be fairlearn on the documented permutations.
    from fairlearn.metrics import demographic_parity_difference as fl_dpd

    rng = np.random.default_rng(1)
    y, p, s = _null_data(rng, [25, 15, 10], [0.3, 0.5, 0.6])
    other = (rng.random(len(s)) < 0.5).astype(int)  # a second model's predictions on the same split
    for preds in (p, other, p):
        for metric, reference in (("dpd", fl_dpd), ("eo_max", fl_eod)):
            out = M.gap_permutation_null(y, preds, sensitive_features=s, metric=metric, n_permutations=30,
                                         random_state=3)
            perms = np.random.default_rng(3)
            expected = [reference(y, preds, sensitive_features=perms.permutation(s)) for _ in range(30)]
            np.testing.assert_allclose(out["null"], expected, atol=1e-12)
    fresh = M.gap_permutation_null(y, p, sensitive_features=s, metric="dpd", n_permutations=30, random_state=4)
    perms = np.random.default_rng(4)
    np.testing.assert_allclose(fresh["null"], [fl_dpd(y, p, sensitive_features=perms.permutation(s)) for _ in range(30)],
                               atol=1e-12)


def test_permutation_p_value_is_roughly_uniform_without_a_difference():
    rng = np.random.default_rng(1)
    p_values = [M.gap_permutation_null(*_null_data(rng, [40, 30, 20, 10], [0.4] * 4)[:2],
                                       sensitive_features=np.repeat(np.arange(4), [40, 30, 20, 10]),
                                       n_permutations=199, random_state=k)["p_value"] for k in range(300)]
    assert abs(np.mean(np.array(p_values) <= 0.05) - 0.05) < 0.035
    assert abs(np.mean(p_values) - 0.5) < 0.06


def test_permutation_p_value_is_tiny_with_a_planted_difference():
    rng = np.random.default_rng(2)
    y, p, s = _null_data(rng, [100, 100], [0.3, 0.7])
    out = M.gap_permutation_null(y, p, sensitive_features=s, n_permutations=999)
    assert out["p_value"] == pytest.approx(1 / 1000) and out["observed"] > out["null_q95"]


def test_permutation_null_mean_grows_as_groups_shrink():
    rng = np.random.default_rng(3)
    means = []
    for size in (400, 100, 25):
        y, p, s = _null_data(rng, [size] * 4, [0.5] * 4)
        means.append(M.gap_permutation_null(y, p, sensitive_features=s, n_permutations=300)["null_mean"])
    assert means[0] < means[1] < means[2]
    # expected range of 4 normals is about 2.06 sd; sd of a rate over 25 examples is 0.1
    assert means[2] == pytest.approx(0.206, abs=0.04)


def test_permutation_null_generic_path_and_bad_metric():
    rng = np.random.default_rng(4)
    y, p, s = _null_data(rng, [20, 20], [0.5, 0.5])
    prob = np.where(p == 1, 0.8, 0.2)
    out = M.gap_permutation_null(y, p, sensitive_features=s, y_prob=prob, metric="ece_gap", n_permutations=20)
    perms = np.random.default_rng(0)
    expected = []
    for _ in range(20):
        perm = perms.permutation(s)
        ece = [M.expected_calibration_error(y[perm == g], prob[perm == g]) for g in (0, 1)]
        expected.append(max(ece) - min(ece))
    np.testing.assert_allclose(out["null"], expected, atol=1e-12)
    with pytest.raises(ValueError, match="metric must be one of the gaps"):
        M.gap_permutation_null(y, p, sensitive_features=s, metric="accuracy")
