"""Expected calibration error and the binned data behind reliability diagrams."""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd

from . import _inputs


def _confidence_correct(y_true: Any, y_prob: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-class confidence, whether the top class is the true one, and whether the row has a NaN."""
    prob = np.asarray(y_prob, dtype=float)
    y_true = np.asarray(y_true)
    if prob.ndim == 1:
        prob = np.column_stack([1.0 - prob, prob])
    elif prob.ndim != 2:
        raise ValueError(f"y_prob must have shape (n,) or (n, C), got {prob.shape}")
    if len(prob) != len(y_true) or y_true.ndim != 1:
        raise ValueError(f"y_true must be 1-D with one label per row of y_prob ({len(prob)}), got {y_true.shape}")
    _inputs.check_missing("y_true", y_true)
    nan_rows = np.isnan(prob).any(axis=1)
    defined = prob[~nan_rows]
    if prob.shape[1] > 1 and not np.allclose(defined.sum(axis=1), 1.0, atol=1e-3):
        # Logits passed by mistake would otherwise give a plausible-looking number.
        raise ValueError("each row of y_prob must be a probability vector summing to 1 (got logits?)")
    outside = (defined < -1e-6) | (defined > 1 + 1e-6)
    if outside.any():
        raise ValueError(f"y_prob must lie in [0, 1]; {outside.sum()} value(s) outside: "
                         f"{_inputs.describe_values(defined[outside])} (logits or scores instead of probabilities?)")
    if len(y_true) and (not np.issubdtype(y_true.dtype, np.integer) or y_true.min() < 0
                        or y_true.max() >= prob.shape[1]):
        raise ValueError(f"y_true must hold class indices 0..{prob.shape[1] - 1} (the columns of y_prob)")
    confidence = np.where(nan_rows, np.nan, np.nan_to_num(prob).max(axis=1))
    # argmax takes the first maximum, so a 0.5 tie in the binary case predicts class 0.
    return confidence, np.nan_to_num(prob).argmax(axis=1) == y_true, nan_rows


def _warn_nan_rows(nan_rows: np.ndarray, what: str) -> None:
    warnings.warn(f"{what}: {nan_rows.sum()} of {len(nan_rows)} rows of y_prob contain NaN (a diverged "
                  f"model?); the ECE is NaN", UserWarning, stacklevel=_inputs.user_stacklevel())


def _bins(confidence: np.ndarray, correct: np.ndarray, n_bins: int) -> pd.DataFrame:
    if not (isinstance(n_bins, (int, np.integer)) and n_bins >= 1):
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Bins are (lower, upper], the first one also holding 0; comparing with the edges themselves keeps
    # confidences that sit on an edge in the bin the table shows for them.
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(index, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(index, weights=confidence, minlength=n_bins) / count
        accuracy = np.bincount(index, weights=correct, minlength=n_bins) / count
    return pd.DataFrame({"bin_lower": edges[:-1], "bin_upper": edges[1:], "count": count,
                         "confidence": mean_conf, "accuracy": accuracy})


def _ece(bins: pd.DataFrame) -> float:
    n = bins["count"].sum()
    if n == 0:
        return float("nan")
    filled = bins[bins["count"] > 0]
    return float((filled["count"] / n * (filled["accuracy"] - filled["confidence"]).abs()).sum())


def reliability_diagram(y_true: Any, y_prob: Any, *, n_bins: int = 15) -> pd.DataFrame:
    """Binned confidence and accuracy: the data of a reliability diagram and a confidence histogram.

    Parameters
    ----------
    y_true : array-like of int, shape (n,)
        True class index.
    y_prob : array-like of shape (n, C) or (n,)
        Class probabilities, or the probability of class 1 for binary labels.
    n_bins : int, default 15
        Equal-width bins over [0, 1], each (lower, upper] (the first also holds 0).

    Raises
    ------
    ValueError
        NaN in ``y_prob`` or ``y_true``, probabilities outside [0, 1], rows not summing to 1.

    Returns
    -------
    pandas.DataFrame
        One row per bin: ``bin_lower, bin_upper, count, confidence`` (mean top-class probability),
        ``accuracy`` (share whose top class is right). Empty bins have count 0 and NaN confidence/accuracy.
    """
    confidence, correct, nan_rows = _confidence_correct(y_true, y_prob)
    if nan_rows.any():
        raise ValueError(f"y_prob has NaN in {nan_rows.sum()} of {len(nan_rows)} rows; a reliability diagram "
                         f"needs every probability")
    return _bins(confidence, correct, n_bins)


def expected_calibration_error(y_true: Any, y_prob: Any, *, n_bins: int = 15) -> float:
    """Expected calibration error of the top-class confidence.

    ``ECE = sum_b |B_b| / n * |acc(B_b) - conf(B_b)|`` over equal-width confidence bins (Guo et al., 2017).

    Parameters
    ----------
    y_true, y_prob, n_bins
        As in :func:`reliability_diagram`.

    Returns
    -------
    float
        In [0, 1]; NaN with a warning when there is no example or when any row of ``y_prob`` has a NaN (the
        calibration of the rest would flatter a model that failed on those rows).

    Raises
    ------
    ValueError
        Probabilities outside [0, 1], rows not summing to 1, NaN in ``y_true``.
    """
    confidence, correct, nan_rows = _confidence_correct(y_true, y_prob)
    if len(confidence) == 0:
        warnings.warn("expected_calibration_error: no examples; the ECE is NaN", UserWarning, stacklevel=2)
    if nan_rows.any():
        _warn_nan_rows(nan_rows, "expected_calibration_error")
        _bins(confidence[:0], correct[:0], n_bins)  # n_bins is still checked
        return float("nan")
    return _ece(_bins(confidence, correct, n_bins))


def _ece_per_group(y_true, y_prob, codes, names, *, n_bins: int, warn_empty: bool) -> pd.Series:
    confidence, correct, nan_rows = _confidence_correct(y_true, y_prob)
    values = []
    for i, name in enumerate(names):
        members = codes == i
        if not members.any() and warn_empty:
            _inputs.warn_empty(name)
        if nan_rows[members].any():
            _warn_nan_rows(nan_rows[members], f"group {name!r}")
            values.append(float("nan"))
            continue
        values.append(_ece(_bins(confidence[members], correct[members], n_bins)))
    return pd.Series(values, index=pd.Index(names, name="group"), name="ece")


def ece_by_group(y_true: Any, y_prob: Any, *, sensitive_features: Any, group_names: Sequence | None = None,
                 n_bins: int = 15) -> pd.Series:
    """Expected calibration error within each group.

    Parameters
    ----------
    y_true, y_prob, n_bins
        As in :func:`reliability_diagram`.
    sensitive_features, group_names
        As in :func:`group_metrics`.

    Returns
    -------
    pandas.Series
        ECE per group name; NaN with a warning for a group without members or with NaN probabilities.
    """
    codes, names = _inputs.resolve_groups(sensitive_features, group_names, len(np.asarray(y_true)))
    return _ece_per_group(y_true, y_prob, codes, names, n_bins=n_bins, warn_empty=True)
