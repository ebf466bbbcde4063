"""Per-group metric table (fairlearn's and scikit-learn's metric functions per group) and the scalars read off it."""

from __future__ import annotations

from functools import partial
from typing import Any, Sequence

import numpy as np
import pandas as pd
from fairlearn.metrics import count, false_positive_rate, selection_rate
from sklearn.metrics import accuracy_score, f1_score, recall_score

from . import _inputs

COLUMNS = ("count", "accuracy", "f1", "recall", "fpr", "selection_rate")


def _metric_functions(pos_label: Any, multiclass: bool) -> dict:
    # zero_division=nan keeps sklearn from turning an undefined F1/recall into a silent 0; with average="macro"
    # sklearn then also leaves classes without support out of the mean instead of counting them as 0.
    if multiclass:
        f1 = partial(f1_score, average="macro", zero_division=np.nan)
        recall = partial(recall_score, average="macro", zero_division=np.nan)
    else:
        f1 = partial(f1_score, average="binary", pos_label=pos_label, zero_division=np.nan)
        recall = partial(recall_score, average="binary", pos_label=pos_label, zero_division=np.nan)

    def fpr(y_true, y_pred):
        # Binarised first: fairlearn's rates accept only two labels.
        return false_positive_rate(y_true == pos_label, y_pred == pos_label, pos_label=True)

    return {"count": count, "accuracy": accuracy_score, "f1": f1, "recall": recall, "fpr": fpr,
            "selection_rate": partial(selection_rate, pos_label=pos_label)}


def _binary_columns(is_pos: np.ndarray, is_sel: np.ndarray, codes: np.ndarray, n_groups: int,
                    columns: Sequence[str]) -> np.ndarray:
    """``columns`` per group for binary labels from each group's four confusion counts, in one pass.

    The same numbers as the functions of :func:`_metric_functions` applied group by group, bit for bit (tested):
    each is one division of exact integer counts, as scikit-learn and fairlearn compute them (accuracy
    ``(tp + tn) / n``, F1 ``2 tp / (positives + selected)``, recall ``tp / positives``, FPR ``fp / negatives``,
    selection rate ``selected / n``), without ~1 ms of input checking per function, group and table (most of
    the time notebooks 04 and 05 spend evaluating their stored runs). Undefined values are NaN (0/0); a group
    without members is an all-NaN row.
    """
    cells = np.bincount(4 * codes.astype(np.int64) + 2 * is_pos + is_sel, minlength=4 * n_groups)
    tn, fp, fn, tp = cells.reshape(n_groups, 4).astype(float).T
    n, pos, sel = tn + fp + fn + tp, fn + tp, fp + tp
    with np.errstate(invalid="ignore", divide="ignore"):
        values = {"count": np.where(n > 0, n, np.nan), "accuracy": (tp + tn) / n, "f1": 2 * tp / (pos + sel),
                  "recall": tp / pos, "fpr": fp / (n - pos), "selection_rate": sel / n}
    out = np.column_stack([values[c] for c in columns])
    out[n == 0] = np.nan
    return out


def _group_table(y_true: np.ndarray, y_pred: np.ndarray, codes: np.ndarray, names: tuple, *, pos_label: Any,
                 multiclass: bool, columns: Sequence[str] = COLUMNS) -> pd.DataFrame:
    """The requested per-group columns, NaN (with one warning each) where a value is undefined."""
    functions = _metric_functions(pos_label, multiclass)
    # What fairlearn's MetricFrame does (each function applied to each group's rows, in their order), done here
    # group by group: the same functions on the same slices give the same numbers, without MetricFrame's
    # re-stacking of every column element by element, which made most of evaluate's time. A group without
    # members stays an all-NaN row.
    table = pd.DataFrame(np.nan, index=pd.Index(names, name="group"), columns=list(columns), dtype=float)
    if multiclass:
        for i in range(len(names)):
            members = codes == i
            if members.any():
                yt, yp = y_true[members], y_pred[members]
                table.iloc[i] = [float(functions[c](yt, yp)) for c in columns]
    else:
        table[:] = _binary_columns(y_true == pos_label, y_pred == pos_label, codes, len(names), columns)
    n = np.bincount(codes, minlength=len(names))
    positives = np.bincount(codes, weights=(y_true == pos_label), minlength=len(names))
    predicted = np.bincount(codes, weights=(y_pred == pos_label), minlength=len(names))
    if "count" in table:
        table["count"] = n
    for i, name in enumerate(names):
        if n[i] == 0:
            _inputs.warn_empty(name)
            continue
        if "recall" in table and not multiclass and positives[i] == 0:
            _inputs.warn_undefined(name, "TPR", f"no examples with y_true == {pos_label!r}")
        if "fpr" in table and positives[i] == n[i]:
            # fairlearn reports 0/0 as 0 here; that would read as a perfect FPR.
            table.iloc[i, table.columns.get_loc("fpr")] = np.nan
            _inputs.warn_undefined(name, "FPR", f"no examples with y_true != {pos_label!r}")
        if "f1" in table and not multiclass and positives[i] == 0 and predicted[i] == 0:
            _inputs.warn_undefined(name, "F1", f"no example has y_true or y_pred == {pos_label!r}")
    return table


def group_metrics(y_true: Any, y_pred: Any, *, sensitive_features: Any, group_names: Sequence | None = None,
                  y_prob: Any = None, pos_label: Any = 1, n_bins: int = 15,
                  classes: Sequence | None = None) -> pd.DataFrame:
    """Per-group count, accuracy, F1, recall, false-positive rate, selection rate (and ECE).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        True and predicted labels.
    sensitive_features : array-like of shape (n,)
        Group of each example: integer codes into ``group_names``, or the group names themselves.
    group_names : sequence, optional
        All groups, in display order. Groups listed here but absent from the data appear with count 0 and
        NaN metrics (and a warning). Default: the sorted distinct values of ``sensitive_features``.
    y_prob : array-like of shape (n, C) or (n,), optional
        Class probabilities (or the positive-class probability for binary labels); adds an ``ece`` column.
    pos_label : scalar, default 1
        Positive class of recall, FPR, selection rate and F1 for binary labels.
    n_bins : int, default 15
        Number of confidence bins of the ECE.
    classes : sequence, optional
        All labels. Two: binary with ``pos_label``; more: multi-class. Default: binary, ``{0, 1}`` (or
        ``pos_label`` and one other label). A label outside them (a stray 2, a probability) is an error
        naming the value and its count.

    Returns
    -------
    pandas.DataFrame
        Indexed by group name, columns ``count, accuracy, f1, recall, fpr, selection_rate`` (+ ``ece``).
        Binary labels: ``recall`` is the TPR of ``pos_label``. Multi-class labels (more than two distinct
        values): ``f1`` and ``recall`` are macro-averaged over the classes occurring in the group (recall over
        the classes with support there), while ``fpr`` and ``selection_rate`` are ``pos_label`` one-vs-rest.

    Raises
    ------
    ValueError
        Labels outside the declared classes; NaN or None in ``y_true``, ``y_pred`` or ``sensitive_features``.

    Warns
    -----
    UserWarning
        For each undefined value, naming the group and why: no members; no positives (recall); no
        negatives (FPR); no positive label or prediction (binary F1). The value is NaN, never 0.
    """
    y_true, y_pred = _inputs.as_labels(y_true, y_pred)
    codes, names = _inputs.resolve_groups(sensitive_features, group_names, len(y_true))
    _, multiclass = _inputs.classes_to_compare(y_true, y_pred, pos_label, classes)
    table = _group_table(y_true, y_pred, codes, names, pos_label=pos_label, multiclass=multiclass)
    table["count"] = table["count"].astype(np.int64)
    if y_prob is not None:
        from ._calibration import _ece_per_group
        table["ece"] = _ece_per_group(y_true, y_prob, codes, names, n_bins=n_bins, warn_empty=False)
    return table


def _single_column(y_true, y_pred, sensitive_features, group_names, pos_label, column, classes) -> tuple:
    y_true, y_pred = _inputs.as_labels(y_true, y_pred)
    codes, names = _inputs.resolve_groups(sensitive_features, group_names, len(y_true))
    _, multiclass = _inputs.classes_to_compare(y_true, y_pred, pos_label, classes)
    table = _group_table(y_true, y_pred, codes, names, pos_label=pos_label, multiclass=multiclass,
                         columns=(column,))
    return table[column], (y_true, y_pred, codes, names, multiclass)


def min_group_f1(y_true: Any, y_pred: Any, *, sensitive_features: Any, group_names: Sequence | None = None,
                 pos_label: Any = 1, classes: Sequence | None = None) -> float:
    """Lowest per-group F1 (macro within a group for multi-class labels).

    Parameters
    ----------
    y_true, y_pred, sensitive_features, group_names, pos_label, classes
        As in :func:`group_metrics`.

    Returns
    -------
    float
        Minimum over the groups where F1 is defined; NaN with a warning if it is defined for none.
    """
    f1, _ = _single_column(y_true, y_pred, sensitive_features, group_names, pos_label, "f1", classes)
    return _inputs.worst(f1, "min_group_f1", lowest=True)


def min_group_recall(y_true: Any, y_pred: Any, *, sensitive_features: Any, group_names: Sequence | None = None,
                     pos_label: Any = 1, classes: Sequence | None = None) -> float:
    """Lowest per-group recall (TPR of ``pos_label``; macro recall within a group for multi-class labels).

    Parameters
    ----------
    y_true, y_pred, sensitive_features, group_names, pos_label, classes
        As in :func:`group_metrics`.

    Returns
    -------
    float
        Minimum over the groups where recall is defined; NaN with a warning if it is defined for none.
    """
    recall, _ = _single_column(y_true, y_pred, sensitive_features, group_names, pos_label, "recall", classes)
    return _inputs.worst(recall, "min_group_recall", lowest=True)


def f1_gap(y_true: Any, y_pred: Any, *, sensitive_features: Any, group_names: Sequence | None = None,
           method: str = "between_groups", pos_label: Any = 1,
           classes: Sequence | None = None) -> float | pd.Series:
    """Gap in F1 between groups (FairLoRA's "F1 gap").

    Parameters
    ----------
    y_true, y_pred, sensitive_features, group_names, pos_label, classes
        As in :func:`group_metrics`.
    method : {"between_groups", "one_vs_rest"}, default "between_groups"
        ``"between_groups"``: max - min of the per-group F1. ``"one_vs_rest"``: for each group,
        ``|F1(group) - F1(all other groups pooled)|``.

    Returns
    -------
    float or pandas.Series
        The gap (NaN with a warning if fewer than two groups have a defined F1), or for ``"one_vs_rest"``
        one value per group.
    """
    _inputs.check_method(method)
    f1, (y_true, y_pred, codes, names, multiclass) = _single_column(
        y_true, y_pred, sensitive_features, group_names, pos_label, "f1", classes)
    if method == "between_groups":
        return _inputs.spread(f1, "f1_gap")
    score = _metric_functions(pos_label, multiclass)["f1"]
    rest = pd.Series([score(y_true[codes != i], y_pred[codes != i]) if np.any(codes != i) else np.nan
                      for i in range(len(names))], index=f1.index)
    for name in rest.index[rest.isna()]:
        _inputs.warn_undefined(name, "F1 of the other groups pooled", "they have no members or no positives")
    return (f1 - rest).abs().rename("f1_gap")
