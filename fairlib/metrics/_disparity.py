"""Disparities of selection rate, TPR and FPR across groups, and the weighted-F1 error."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from . import _inputs

_RATE_NAMES = {"selection_rate": "selection rate", "tpr": "TPR", "fpr": "FPR"}


def _fractions(y_true: np.ndarray, y_pred: np.ndarray, codes: np.ndarray, n_groups: int, positive: Any,
               rate: str) -> tuple[np.ndarray, np.ndarray]:
    """Numerator and denominator of ``rate`` per group, with ``positive`` as the positive class."""
    is_pos = y_true == positive
    selected = y_pred == positive
    # Counting instead of one MetricFrame per group keeps the one-vs-rest variant a subtraction away.
    if rate == "selection_rate":
        hits, among = selected, np.ones_like(is_pos)
    elif rate == "tpr":
        hits, among = selected & is_pos, is_pos
    else:
        hits, among = selected & ~is_pos, ~is_pos
    return (np.bincount(codes, weights=hits, minlength=n_groups),
            np.bincount(codes, weights=among, minlength=n_groups))


def binary_group_rates(y_true: Any, y_pred: Any, *, sensitive_features: Any, num_groups: int) -> dict[str, np.ndarray]:
    """Per-group counts and rates of class 1 for binary labels, by counting (no MetricFrame).

    The gaps of this module are spreads of these rates; recording them per run lets a results file show what
    each gap is made of. Much faster than one MetricFrame per metric when thousands of runs are evaluated.

    Parameters
    ----------
    y_true, y_pred : array-like of {0, 1}, shape (n,)
    sensitive_features : array-like of int, shape (n,)
        Group codes ``0 .. num_groups - 1``.
    num_groups : int
        Groups absent from the data get count 0 and NaN rates.

    Returns
    -------
    dict of numpy.ndarray, each of shape (num_groups,)
        ``count``, ``selection_rate``, ``tpr``, ``fpr``, ``f1`` (of class 1); NaN where the denominator is 0
        (no members, no positives, no negatives, neither positives nor predicted positives).
    """
    y, pred = (np.asarray(a) == 1 for a in (y_true, y_pred))
    codes = np.asarray(sensitive_features, dtype=np.int64)
    count = np.bincount(codes, minlength=num_groups).astype(float)
    positives = np.bincount(codes, weights=y, minlength=num_groups)
    selected = np.bincount(codes, weights=pred, minlength=num_groups)
    tp = np.bincount(codes, weights=y & pred, minlength=num_groups)
    fp, fn = selected - tp, positives - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"count": count, "selection_rate": selected / count, "tpr": tp / positives,
                "fpr": fp / (count - positives), "f1": 2 * tp / (2 * tp + fp + fn)}


def _why(rate: str, positive: Any) -> str:
    return {"selection_rate": "no members", "tpr": f"no examples with y_true == {positive!r}",
            "fpr": f"no examples with y_true != {positive!r}"}[rate]


def _rate_difference(y_true, y_pred, codes, names, positive, rate, method, label) -> float | pd.Series:
    hits, among = _fractions(y_true, y_pred, codes, len(names), positive, rate)
    members = np.bincount(codes, minlength=len(names))
    what = f"{_RATE_NAMES[rate]} of class {positive!r}" if label else _RATE_NAMES[rate]
    with np.errstate(invalid="ignore", divide="ignore"):
        values = pd.Series(hits / among, index=pd.Index(names, name="group"))
        # Empty groups were reported once by the caller, not once per class and rate.
        for i in np.flatnonzero((among == 0) & (members > 0)):
            _inputs.warn_undefined(names[i], what, _why(rate, positive))
        if method == "between_groups":
            return _inputs.spread(values, f"difference in {what}")
        rest_among = among.sum() - among
        rest = pd.Series((hits.sum() - hits) / rest_among, index=values.index)
    for i in np.flatnonzero(rest_among == 0):
        _inputs.warn_undefined(names[i], f"{what} of the other groups pooled", "they have none to count")
    return (values - rest).abs()


def _disparity(y_true, y_pred, sensitive_features, group_names, method, pos_label, rates: Sequence[str],
               combine: Callable, name: str) -> float | pd.Series:
    _inputs.check_method(method)
    y_true, y_pred = _inputs.as_labels(y_true, y_pred)
    codes, names = _inputs.resolve_groups(sensitive_features, group_names, len(y_true))
    classes, multiclass = _inputs.classes_to_compare(y_true, y_pred, pos_label)
    for i in np.flatnonzero(np.bincount(codes, minlength=len(names)) == 0):
        _inputs.warn_empty(names[i])
    per_class = [combine([_rate_difference(y_true, y_pred, codes, names, c, r, method, multiclass)
                          for r in rates]) for c in classes]
    if not multiclass:
        result = per_class[0]
    elif method == "one_vs_rest":
        # A class undefined for a group (warned above) is skipped, the worst defined class is kept.
        result = pd.concat(per_class, axis=1).max(axis=1, skipna=True)
    else:
        result = _inputs.worst(pd.Series(per_class, dtype=float), f"{name} over classes", lowest=False)
    return result.rename(name) if isinstance(result, pd.Series) else float(result)


def _single(parts):
    return parts[0]


def _maximum(parts):
    # np.maximum propagates NaN: an undefined TPR gap must not let the FPR gap pass for the whole.
    return np.maximum(parts[0], parts[1])


def _sum(parts):
    return parts[0] + parts[1]


_SHARED_DOC = """
    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        True and predicted labels.
    sensitive_features : array-like of shape (n,)
        Group of each example (codes into ``group_names`` or names), as in :func:`group_metrics`.
    group_names : sequence, optional
        All groups in order; a listed group without members is NaN (with a warning) and left out.
    method : {"between_groups", "one_vs_rest"}, default "between_groups"
        ``"between_groups"``: max - min of the per-group rates over the groups where the rate is defined
        (fairlearn's convention). ``"one_vs_rest"``: for each group, ``|rate(group) - rate(all others
        pooled)|`` (the convention of paper 1's code), returned as a Series.
    pos_label : scalar, default 1
        Positive class for binary labels. Multi-class labels (more than two distinct values): each class
        is taken one-vs-rest as the positive class, and the maximum over classes is returned (per group for
        ``"one_vs_rest"``); ``pos_label`` is then unused.

    Returns
    -------
    float or pandas.Series
        NaN, with a warning, where fewer than two groups have a defined rate.
"""


def demographic_parity_difference(y_true: Any, y_pred: Any, *, sensitive_features: Any,
                                  group_names: Sequence | None = None, method: str = "between_groups",
                                  pos_label: Any = 1) -> float | pd.Series:
    """Difference in selection rate P(y_pred = pos | group) across groups (fairlearn's DPD, paper 4's ΔDP).
    """
    return _disparity(y_true, y_pred, sensitive_features, group_names, method, pos_label,
                      ("selection_rate",), _single, "demographic_parity_difference")


def equal_opportunity_difference(y_true: Any, y_pred: Any, *, sensitive_features: Any,
                                 group_names: Sequence | None = None, method: str = "between_groups",
                                 pos_label: Any = 1) -> float | pd.Series:
    """Difference in TPR across groups (ΔTPR; paper 3's equal-opportunity gap)."""
    return _disparity(y_true, y_pred, sensitive_features, group_names, method, pos_label, ("tpr",), _single,
                      "equal_opportunity_difference")


def fpr_parity_difference(y_true: Any, y_pred: Any, *, sensitive_features: Any,
                          group_names: Sequence | None = None, method: str = "between_groups",
                          pos_label: Any = 1) -> float | pd.Series:
    """Difference in false-positive rate across groups (ΔFPR; paper 3's FPR parity)."""
    return _disparity(y_true, y_pred, sensitive_features, group_names, method, pos_label, ("fpr",), _single,
                      "fpr_parity_difference")


def equalized_odds_difference(y_true: Any, y_pred: Any, *, sensitive_features: Any,
                              group_names: Sequence | None = None, method: str = "between_groups",
                              pos_label: Any = 1) -> float | pd.Series:
    """max(ΔTPR, ΔFPR): fairlearn's ``equalized_odds_difference`` (agg="worst_case").

    NaN if either ΔTPR or ΔFPR is undefined, since the other alone would understate the gap.
    """
    return _disparity(y_true, y_pred, sensitive_features, group_names, method, pos_label, ("tpr", "fpr"),
                      _maximum, "equalized_odds_difference")


def equalized_odds_sum(y_true: Any, y_pred: Any, *, sensitive_features: Any, group_names: Sequence | None = None,
                       method: str = "between_groups", pos_label: Any = 1) -> float | pd.Series:
    """ΔTPR + ΔFPR: paper 4's ΔEO (for two groups, 2 x fairlearn's ``agg="mean"``).

    NaN if either ΔTPR or ΔFPR is undefined.
    """
    return _disparity(y_true, y_pred, sensitive_features, group_names, method, pos_label, ("tpr", "fpr"), _sum,
                      "equalized_odds_sum")


for _f in (demographic_parity_difference, equal_opportunity_difference, fpr_parity_difference,
           equalized_odds_difference, equalized_odds_sum):
    _f.__doc__ = _f.__doc__.rstrip() + "\n" + _SHARED_DOC


def weighted_f1_error(y_true: Any, y_pred: Any, *, sensitive_features: Any = None) -> float:
    """Error as paper 4 reports it: ``100 - 100 * F1``, F1 support-weighted over classes, in percent.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        True and predicted labels.
    sensitive_features : array-like, optional
        Not used: accepted so that every scalar metric takes the same call; the error is over all examples.

    Returns
    -------
    float
    """
    y_true, y_pred = _inputs.as_labels(y_true, y_pred)
    return float(100.0 - 100.0 * f1_score(y_true, y_pred, average="weighted", zero_division=0))
