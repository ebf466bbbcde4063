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

    Raises
    ------
    ValueError
        A label other than 0/1 (or False/True), a code outside ``0 .. num_groups - 1``, NaN in any input,
        unequal lengths, or ``num_groups < 1``; each message names the offending values and their counts.
    """
    if not (isinstance(num_groups, (int, np.integer)) and not isinstance(num_groups, bool) and num_groups >= 1):
        raise ValueError(f"num_groups must be a positive integer, got {num_groups!r}")
    y_true, y_pred = _inputs.as_labels(y_true, y_pred)
    raw = np.asarray(sensitive_features)
    if raw.ndim != 1 or len(raw) != len(y_true):
        raise ValueError(f"sensitive_features must be 1-D with one code per example ({len(y_true)}), "
                         f"got shape {raw.shape}")
    _inputs.check_missing("sensitive_features", raw)
    for name, values in (("y_true", y_true), ("y_pred", y_pred)):
        if not np.isin(values, (0, 1)).all():
            stray = values[~np.isin(values, (0, 1))]
            raise ValueError(f"binary_group_rates takes labels in {{0, 1}}; {name} holds {len(stray)} other "
                             f"value(s): {_inputs.describe_values(stray)}")
    if not (np.issubdtype(raw.dtype, np.integer) or np.issubdtype(raw.dtype, np.bool_)
            or (np.issubdtype(raw.dtype, np.floating) and np.all(raw == np.round(raw)))):
        raise ValueError(f"sensitive_features must be integer group codes 0..{num_groups - 1}, got dtype "
                         f"{raw.dtype} ({_inputs.describe_values(raw)})")
    codes = raw.astype(np.int64)
    bad = (codes < 0) | (codes >= num_groups)
    if bad.any():
        raise ValueError(f"sensitive_features must be group codes in 0..{num_groups - 1} (num_groups="
                         f"{num_groups}); {bad.sum()} code(s) outside: {_inputs.describe_values(codes[bad])}")
    y, pred = y_true == 1, y_pred == 1
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
               combine: Callable, name: str, classes: Sequence | None = None) -> float | pd.Series:
    _inputs.check_method(method)
    y_true, y_pred = _inputs.as_labels(y_true, y_pred)
    codes, names = _inputs.resolve_groups(sensitive_features, group_names, len(y_true))
    positives, multiclass = _inputs.classes_to_compare(y_true, y_pred, pos_label, classes)
    for i in np.flatnonzero(np.bincount(codes, minlength=len(names)) == 0):
        _inputs.warn_empty(names[i])
    per_class = [combine([_rate_difference(y_true, y_pred, codes, names, c, r, method, multiclass)
                          for r in rates]) for c in positives]
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
    classes : sequence, optional
        All labels: two for binary labels (``pos_label`` one of them), more for multi-class. Default:
        binary, ``{0, 1}`` (or ``pos_label`` and one other label); a label outside the declared classes (a
        stray 2, probabilities) is an error naming the value and its count.

    Returns
    -------
    float or pandas.Series
        NaN, with a warning, where fewer than two groups have a defined rate.

    Raises
    ------
    ValueError
        Labels outside the declared classes; NaN or None in any input.
"""


def demographic_parity_difference(y_true: Any, y_pred: Any, *, sensitive_features: Any,
                                  group_names: Sequence | None = None, method: str = "between_groups",
                                  pos_label: Any = 1, classes: Sequence | None = None) -> float | pd.Series:
    """Difference in selection rate P(y_pred = pos | group) across groups (fairlearn's DPD, paper 4's ΔDP).
    """
    return _disparity(y_true, y_pred, sensitive_features, group_names, method, pos_label,
                      ("selection_rate",), _single, "demographic_parity_difference", classes)


def equal_opportunity_difference(y_true: Any, y_pred: Any, *, sensitive_features: Any,
                                 group_names: Sequence | None = None, method: str = "between_groups",
                                 pos_label: Any = 1, classes: Sequence | None = None) -> float | pd.Series:
    """Difference in TPR across groups (ΔTPR; paper 3's equal-opportunity gap)."""
    return _disparity(y_true, y_pred, sensitive_features, group_names, method, pos_label, ("tpr",), _single,
                      "equal_opportunity_difference", classes)


def fpr_parity_difference(y_true: Any, y_pred: Any, *, sensitive_features: Any,
                          group_names: Sequence | None = None, method: str = "between_groups",
                          pos_label: Any = 1, classes: Sequence | None = None) -> float | pd.Series:
    """Difference in false-positive rate across groups (ΔFPR; paper 3's FPR parity)."""
    return _disparity(y_true, y_pred, sensitive_features, group_names, method, pos_label, ("fpr",), _single,
                      "fpr_parity_difference", classes)


def equalized_odds_difference(y_true: Any, y_pred: Any, *, sensitive_features: Any,
                              group_names: Sequence | None = None, method: str = "between_groups",
                              pos_label: Any = 1, classes: Sequence | None = None) -> float | pd.Series:
    """max(ΔTPR, ΔFPR): fairlearn's ``equalized_odds_difference`` (agg="worst_case").

    NaN if either ΔTPR or ΔFPR is undefined, since the other alone would understate the gap.
    """
    return _disparity(y_true, y_pred, sensitive_features, group_names, method, pos_label, ("tpr", "fpr"),
                      _maximum, "equalized_odds_difference", classes)


def equalized_odds_sum(y_true: Any, y_pred: Any, *, sensitive_features: Any, group_names: Sequence | None = None,
                       method: str = "between_groups", pos_label: Any = 1,
                       classes: Sequence | None = None) -> float | pd.Series:
    """ΔTPR + ΔFPR: paper 4's ΔEO (for two groups, 2 x fairlearn's ``agg="mean"``).

    NaN if either ΔTPR or ΔFPR is undefined.
    """
    return _disparity(y_true, y_pred, sensitive_features, group_names, method, pos_label, ("tpr", "fpr"), _sum,
                      "equalized_odds_sum", classes)


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
