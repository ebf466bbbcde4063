"""One evaluation of one prediction: every canonical metric and the per-group values, in one flat record."""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from . import _calibration, _disparity, _group, _inputs

#: Scalar keys of :func:`evaluate`'s record, in order (every one a canonical name of :data:`METRICS`, but ``n``).
EVALUATE_KEYS = (
    "n", "accuracy", "weighted_f1_error", "roc_auc", "worst_group_accuracy", "worst_cell_accuracy",
    "accuracy_gap", "min_group_f1", "min_group_recall", "f1_gap", "dpd", "tpr_gap", "fpr_gap", "eo_max",
    "eo_sum", "ece", "worst_group_ece", "ece_gap",
)
#: Per-group columns of the record: key ``f"{column}[{group}]"`` for each group name.
GROUP_KEYS = ("count", "accuracy", "f1", "recall", "fpr", "selection_rate", "ece")

_NEEDS_PROB = frozenset({"roc_auc", "ece", "worst_group_ece", "ece_gap"})
_FROM_TABLE = frozenset({"min_group_f1", "min_group_recall", "f1_gap"})
_GAPS = {"dpd": _disparity.demographic_parity_difference, "tpr_gap": _disparity.equal_opportunity_difference,
         "fpr_gap": _disparity.fpr_parity_difference, "eo_max": _disparity.equalized_odds_difference,
         "eo_sum": _disparity.equalized_odds_sum}


def _requested(metrics: Sequence[str] | None, has_prob: bool) -> tuple[str, ...]:
    if metrics is None:
        return EVALUATE_KEYS[1:]
    if isinstance(metrics, str):
        raise TypeError(f"metrics must be a sequence of names, got the string {metrics!r} (wrap it in a list)")
    unknown = [m for m in metrics if m not in EVALUATE_KEYS[1:]]
    if unknown:
        raise ValueError(f"evaluate cannot compute {unknown}; valid choices: {EVALUATE_KEYS[1:]}")
    missing_prob = [m for m in metrics if m in _NEEDS_PROB and not has_prob]
    if missing_prob:
        raise ValueError(f"metrics {missing_prob} need y_prob (class probabilities), which was not given")
    return tuple(dict.fromkeys(metrics))


def _cell_accuracies(y_true: np.ndarray, y_pred: np.ndarray, codes: np.ndarray, n_groups: int) -> list[float]:
    return [float(np.mean(y_pred[m] == c)) for c in np.unique(y_true) for g in range(n_groups)
            if (m := (y_true == c) & (codes == g)).any()]


def _roc_auc(y_true: np.ndarray, y_prob: np.ndarray, pos_label: Any, multiclass: bool) -> float:
    prob = np.asarray(y_prob, dtype=float)
    if multiclass or (prob.ndim == 2 and prob.shape[1] != 2):
        warnings.warn("roc_auc is defined here for binary labels only; it is NaN", UserWarning,
                      stacklevel=_inputs.user_stacklevel())
        return float("nan")
    if not _inputs.is_zero_one(pos_label):
        raise ValueError(f"roc_auc reads the probability of pos_label from y_prob, so pos_label must be 0 or 1 "
                         f"(a column index), got {pos_label!r}")
    score = (prob[:, 1] if prob.ndim == 2 else prob) if pos_label == 1 else (
        prob[:, 0] if prob.ndim == 2 else 1.0 - prob)
    positive = y_true == pos_label
    if positive.all() or not positive.any():
        warnings.warn("roc_auc: y_true holds a single class; it is NaN", UserWarning,
                      stacklevel=_inputs.user_stacklevel())
        return float("nan")
    if np.isnan(score).any():
        warnings.warn(f"roc_auc: {np.isnan(score).sum()} probabilities are NaN; it is NaN", UserWarning,
                      stacklevel=_inputs.user_stacklevel())
        return float("nan")
    return float(roc_auc_score(positive, score))


def evaluate(y_true: Any, y_pred: Any, *, sensitive_features: Any, y_prob: Any = None,
             group_names: Sequence | None = None, metrics: Sequence[str] | None = None, pos_label: Any = 1,
             classes: Sequence | None = None, n_bins: int = 15, per_group: bool = True) -> dict:
    """Every canonical metric of one prediction, and the per-group values they are made of, as one flat dict.

    The names and their formulas are those of :data:`fairlib.metrics.METRICS`; each value is computed by the
    function of this package that defines it (the same numbers as calling it directly).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        True and predicted labels (hard predictions).
    sensitive_features : array-like of shape (n,)
        Group of each example: integer codes into ``group_names``, or the names themselves.
    y_prob : array-like of shape (n, C) or (n,), optional
        Class probabilities (or that of class 1); needed by ``roc_auc``, ``ece``, ``worst_group_ece``,
        ``ece_gap`` and ``ece[<group>]``, which are NaN without it. ``y_true`` must then hold class indices.
    group_names : sequence, optional
        All groups in display order (a listed group without members stays visible, as NaN).
    metrics : sequence of str, optional
        The scalar metrics to compute (default: all of :data:`EVALUATE_KEYS`). Only those, plus ``n``, are
        returned; asking for one that needs ``y_prob`` without it is an error.
    pos_label : scalar, default 1
        Positive class of the rates for binary labels.
    classes : sequence, optional
        All labels: two for binary, more for multi-class (every class one-vs-rest, gaps take the worst
        class). Default: binary labels in {0, 1}; a stray label is an error.
    n_bins : int, default 15
        Bins of the ECE.
    per_group : bool, default True
        Add the per-group keys.

    Returns
    -------
    dict
        Flat record. Scalars under their canonical names, in the order of :data:`EVALUATE_KEYS` (``n`` first),
        then, if ``per_group``, for each column of :data:`GROUP_KEYS` and each group name ``g`` (in
        ``group_names`` order) the key ``f"{column}[{g}]"``: ``count``, ``accuracy``, ``f1``, ``recall``
        (binary: TPR of ``pos_label``), ``fpr``, ``selection_rate`` (the columns of :func:`group_metrics`) and
        ``ece``. Undefined values are NaN, each with one warning naming the group and the reason.

    Raises
    ------
    ValueError
        Labels outside the declared classes, NaN or None in any label or group, unknown metric names.
    """
    y_true, y_pred = _inputs.as_labels(y_true, y_pred)
    codes, names = _inputs.resolve_groups(sensitive_features, group_names, len(y_true))
    wanted = _requested(metrics, y_prob is not None)
    with _inputs.each_warning_once():
        positives, multiclass = _inputs.classes_to_compare(y_true, y_pred, pos_label, classes)
        # The inference of the deprecated path is made once here and passed on explicitly.
        declared = classes if (classes is not None or not multiclass) else positives
        common = dict(sensitive_features=codes, group_names=names, pos_label=pos_label, classes=declared)
        out: dict[str, Any] = {"n": int(len(y_true))}
        table = None
        if per_group or _FROM_TABLE & set(wanted):
            table = _group.group_metrics(y_true, y_pred, **common)
        counts = np.bincount(codes, minlength=len(names))
        hits = np.bincount(codes, weights=(y_true == y_pred), minlength=len(names))
        with np.errstate(invalid="ignore", divide="ignore"):
            group_accuracy = pd.Series(hits / counts, index=pd.Index(names, name="group"))
        ece_by_group = None
        if y_prob is not None and (per_group or {"worst_group_ece", "ece_gap"} & set(wanted)):
            ece_by_group = _calibration.ece_by_group(y_true, y_prob, sensitive_features=codes, group_names=names,
                                                     n_bins=n_bins)
        nan = float("nan")
        for key in wanted:
            if key == "accuracy":
                value = float(np.mean(y_true == y_pred))
            elif key == "weighted_f1_error":
                value = _disparity.weighted_f1_error(y_true, y_pred)
            elif key == "roc_auc":
                value = _roc_auc(y_true, y_prob, pos_label, multiclass) if y_prob is not None else nan
            elif key == "worst_group_accuracy":
                value = _inputs.worst(group_accuracy, key, lowest=True)
            elif key == "worst_cell_accuracy":
                value = float(min(_cell_accuracies(y_true, y_pred, codes, len(names))))
            elif key == "accuracy_gap":
                value = _inputs.spread(group_accuracy, key)
            elif key == "min_group_f1":
                value = _inputs.worst(table["f1"], key, lowest=True)
            elif key == "min_group_recall":
                value = _inputs.worst(table["recall"], key, lowest=True)
            elif key == "f1_gap":
                value = _inputs.spread(table["f1"], key)
            elif key in _GAPS:
                value = float(_GAPS[key](y_true, y_pred, **common))
            elif key == "ece":
                value = (_calibration.expected_calibration_error(y_true, y_prob, n_bins=n_bins)
                         if y_prob is not None else nan)
            elif key == "worst_group_ece":
                value = _inputs.worst(ece_by_group, key, lowest=False) if ece_by_group is not None else nan
            else:  # ece_gap
                value = _inputs.spread(ece_by_group, key) if ece_by_group is not None else nan
            out[key] = float(value)
        if per_group:
            columns = {**{c: table[c] for c in GROUP_KEYS if c != "ece"},
                       "ece": ece_by_group if ece_by_group is not None else pd.Series(nan, index=table.index)}
            for column in GROUP_KEYS:
                for name, value in zip(names, columns[column].to_numpy()):
                    out[f"{column}[{name}]"] = int(value) if column == "count" else float(value)
    return out
