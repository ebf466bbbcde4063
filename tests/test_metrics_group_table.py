"""`group_metrics` applies each metric function group by group: bit for bit what fairlearn's MetricFrame gives."""

import warnings
from functools import partial

import numpy as np
import pytest
from fairlearn.metrics import MetricFrame, count, false_positive_rate, selection_rate
from sklearn.metrics import accuracy_score, f1_score, recall_score

from fairlib.metrics import group_metrics


def _metric_frame(y, p, s, *, multiclass):
    """The independent reference: one MetricFrame over the same functions, as fairlib used before."""
    average = dict(average="macro") if multiclass else dict(average="binary", pos_label=1)
    metrics = {"count": count, "accuracy": accuracy_score, "f1": partial(f1_score, zero_division=np.nan, **average),
               "recall": partial(recall_score, zero_division=np.nan, **average),
               "fpr": lambda t, q: false_positive_rate(t == 1, q == 1, pos_label=True),
               "selection_rate": partial(selection_rate, pos_label=1)}
    return MetricFrame(metrics=metrics, y_true=y, y_pred=p, sensitive_features=s).by_group


@pytest.mark.parametrize("seed, n, groups, classes", [(0, 4000, 2, 2), (1, 500, 3, 2), (2, 900, 4, 3), (3, 31, 5, 2)])
def test_group_table_equals_metricframe_bitwise(seed, n, groups, classes):
    rng = np.random.default_rng(seed)
    y, p, s = rng.integers(0, classes, n), rng.integers(0, classes, n), rng.integers(0, groups, n)
    names = [f"g{g}" for g in range(groups)]
    declared = list(range(classes)) if classes > 2 else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = group_metrics(y, p, sensitive_features=s, group_names=names, classes=declared)
        reference = _metric_frame(y, p, s, multiclass=classes > 2)
    for g, name in enumerate(names):
        for column in ("count", "accuracy", "f1", "recall", "fpr", "selection_rate"):
            got, want = float(table.loc[name, column]), float(reference.loc[g, column])
            assert got == want or (np.isnan(got) and np.isnan(want)), (name, column, got, want)


def test_group_without_members_or_positives_is_nan_not_zero():
    # hand-made: group 0 has labels 0/1, group 1 only negatives, group 2 no member at all
    y = np.array([1, 0, 1, 0, 0, 0])
    p = np.array([1, 1, 0, 0, 1, 0])
    s = np.array([0, 0, 0, 1, 1, 1])
    with pytest.warns(UserWarning):
        table = group_metrics(y, p, sensitive_features=s, group_names=["a", "b", "c"])
    assert table.loc["a", "recall"] == 0.5 and table.loc["a", "fpr"] == 1.0
    assert table.loc["a", "selection_rate"] == pytest.approx(2 / 3) and table.loc["a", "count"] == 3
    assert np.isnan(table.loc["b", "recall"]) and table.loc["b", "fpr"] == pytest.approx(1 / 3)
    assert table.loc["c", "count"] == 0 and table.loc["c", ["accuracy", "f1", "recall", "fpr"]].isna().all()


@pytest.mark.parametrize("seed", range(25))
def test_binary_counting_path_equals_metricframe_bitwise_on_small_skewed_groups(seed):
    """Binary labels go through per-group confusion counts: with small, skewed groups (some without positives,
    without negatives or without a positive prediction) every defined value equals MetricFrame's bit for bit;
    undefined ones are NaN where MetricFrame's functions give NaN, and FPR without negatives is NaN (fairlearn: 0)."""
    rng = np.random.default_rng(100 + seed)
    n, groups = int(rng.integers(8, 60)), int(rng.integers(2, 7))
    s = rng.integers(0, groups, n)
    rate = rng.uniform(0, 1, groups)[s]  # per-group positive rate: some groups all 0 or all 1 at small sizes
    y = (rng.uniform(size=n) < rate ** 2).astype(int)
    p = np.where(rng.uniform(size=n) < 0.7, y, 1 - y)
    present = np.unique(s)
    names = [f"g{g}" for g in range(groups)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = group_metrics(y, p, sensitive_features=s, group_names=names)
        reference = _metric_frame(y, p, s, multiclass=False)
    for g in range(groups):
        row = table.loc[names[g]]
        if g not in present:
            assert row["count"] == 0 and row.drop("count").isna().all()
            continue
        for column in ("count", "accuracy", "f1", "recall", "fpr", "selection_rate"):
            got, want = float(row[column]), float(reference.loc[g, column])
            if column == "fpr" and (y[s == g] == 1).all():
                assert np.isnan(got) and want == 0.0
                continue
            assert got == want or (np.isnan(got) and np.isnan(want)), (names[g], column, got, want)
