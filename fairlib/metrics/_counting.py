"""Binary-label metrics of many groupings at once by per-group counting (resampling and permutation loops)."""

from __future__ import annotations

import warnings

import numpy as np

#: Metrics that counting gives for binary labels; the others go through :func:`evaluate` each time.
COUNTED = ("accuracy", "worst_group_accuracy", "worst_cell_accuracy", "accuracy_gap", "min_group_f1",
           "min_group_recall", "f1_gap", "dpd", "tpr_gap", "fpr_gap", "eo_max", "eo_sum")


def _reduce_rows(rates: np.ndarray, how: str) -> np.ndarray:
    """Per row, max - min (``"spread"``) or min (``"min"``) over the defined entries; NaN where too few are."""
    defined = np.isfinite(rates).sum(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows
        low = np.nanmin(rates, axis=1)
        if how == "min":
            return np.where(defined >= 1, low, np.nan)
        return np.where(defined >= 2, np.nanmax(rates, axis=1) - low, np.nan)


def counted_metric(is_pos: np.ndarray, is_sel: np.ndarray, codes: np.ndarray, n_groups: int,
                   metric: str) -> np.ndarray:
    """``metric`` for each row of ``codes``.

    Parameters
    ----------
    is_pos, is_sel : bool arrays of shape (n,) or (B, n)
        ``y_true == pos_label`` and ``y_pred == pos_label`` (one row per grouping, or shared by all rows).
    codes : int array of shape (B, n)
        Group codes ``0 .. n_groups - 1``, one row per grouping (a permutation or a resample).
    n_groups : int
    metric : str
        One of :data:`COUNTED`; the same definition as :func:`fairlib.metrics.evaluate` (tested).

    Returns
    -------
    numpy.ndarray of shape (B,)
        NaN where the metric is undefined.
    """
    rows = codes.shape[0]
    # One integer count per (row, group, cell), the cell being 2 * is_pos + is_sel: TN, FP, FN, TP.
    cell = 2 * np.asarray(is_pos, dtype=np.int64) + np.asarray(is_sel, dtype=np.int64)
    flat = ((codes.astype(np.int64) + n_groups * np.arange(rows, dtype=np.int64)[:, None]) * 4 + cell).ravel()
    cells = np.bincount(flat, minlength=rows * n_groups * 4).reshape(rows, n_groups, 4).astype(float)
    count = cells.sum(axis=2)
    tp = cells[..., 3]
    pos, sel = cells[..., 2] + tp, cells[..., 1] + tp
    fp, fn = sel - tp, pos - tp
    neg = count - pos
    with np.errstate(invalid="ignore", divide="ignore"):
        if metric == "accuracy":
            return (count - fp - fn).sum(axis=1) / count.sum(axis=1)
        if metric in ("worst_group_accuracy", "accuracy_gap"):
            return _reduce_rows((count - fp - fn) / count, "min" if metric == "worst_group_accuracy" else "spread")
        if metric == "worst_cell_accuracy":
            return _reduce_rows(np.concatenate([tp / pos, (neg - fp) / neg], axis=1), "min")
        if metric in ("min_group_f1", "f1_gap"):
            return _reduce_rows(2 * tp / (2 * tp + fp + fn), "min" if metric == "min_group_f1" else "spread")
        if metric == "min_group_recall":
            return _reduce_rows(tp / pos, "min")
        if metric == "dpd":
            return _reduce_rows(sel / count, "spread")
        d_tpr, d_fpr = _reduce_rows(tp / pos, "spread"), _reduce_rows(fp / neg, "spread")
    if metric == "tpr_gap":
        return d_tpr
    if metric == "fpr_gap":
        return d_fpr
    if metric == "eo_max":
        return np.maximum(d_tpr, d_fpr)
    if metric == "eo_sum":
        return d_tpr + d_fpr
    raise ValueError(f"counted_metric cannot compute {metric!r}; valid choices: {COUNTED}")
