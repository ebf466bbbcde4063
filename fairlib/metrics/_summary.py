"""All scalar metrics of one evaluation, under stable names, for the results JSON."""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np
from sklearn.metrics import accuracy_score

from . import _calibration, _disparity, _group, _inputs

SUMMARY_KEYS = (
    "n", "accuracy", "weighted_f1_error", "min_group_f1", "min_group_recall", "f1_gap",
    "demographic_parity_difference", "equalized_odds_difference", "equalized_odds_sum",
    "equal_opportunity_difference", "fpr_parity_difference", "ece", "max_group_ece",
)


def fairness_summary(y_true: Any, y_pred: Any, *, sensitive_features: Any, y_prob: Any = None,
                     group_names: Sequence | None = None, pos_label: Any = 1, n_bins: int = 15,
                     classes: Sequence | None = None) -> dict:
    """Every scalar metric of the package for one prediction, gaps taken between groups (max - min).

    Parameters
    ----------
    y_true, y_pred, sensitive_features, group_names, pos_label, classes
        As in :func:`group_metrics`.
    y_prob : array-like of shape (n, C) or (n,), optional
        Class probabilities; without them ``ece`` and ``max_group_ece`` are NaN.
    n_bins : int, default 15
        Bins of the ECE.

    Returns
    -------
    dict
        Keys, always all present and in this order: ``n, accuracy, weighted_f1_error, min_group_f1,
        min_group_recall, f1_gap, demographic_parity_difference, equalized_odds_difference,
        equalized_odds_sum, equal_opportunity_difference, fpr_parity_difference, ece, max_group_ece``.
        Undefined values are NaN (stored as null by :func:`fairlib.report.to_jsonable`).
    """
    y_true, y_pred = _inputs.as_labels(y_true, y_pred)
    group = dict(sensitive_features=sensitive_features, group_names=group_names)
    rates = dict(group, pos_label=pos_label, classes=classes)
    # The metrics share their undefined cases; each warning is re-issued once instead of once per metric.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = {
            "n": len(y_true),
            "accuracy": float(accuracy_score(y_true, y_pred)),
            "weighted_f1_error": _disparity.weighted_f1_error(y_true, y_pred),
            "min_group_f1": _group.min_group_f1(y_true, y_pred, **rates),
            "min_group_recall": _group.min_group_recall(y_true, y_pred, **rates),
            "f1_gap": _group.f1_gap(y_true, y_pred, **rates),
            "demographic_parity_difference": _disparity.demographic_parity_difference(y_true, y_pred, **rates),
            "equalized_odds_difference": _disparity.equalized_odds_difference(y_true, y_pred, **rates),
            "equalized_odds_sum": _disparity.equalized_odds_sum(y_true, y_pred, **rates),
            "equal_opportunity_difference": _disparity.equal_opportunity_difference(y_true, y_pred, **rates),
            "fpr_parity_difference": _disparity.fpr_parity_difference(y_true, y_pred, **rates),
            "ece": float("nan"),
            "max_group_ece": float("nan"),
        }
        if y_prob is not None:
            out["ece"] = _calibration.expected_calibration_error(y_true, y_prob, n_bins=n_bins)
            by_group = _calibration.ece_by_group(y_true, y_prob, n_bins=n_bins, **group)
            out["max_group_ece"] = float(np.nanmax(by_group)) if by_group.notna().any() else float("nan")
    seen = set()
    for w in caught:
        key = (str(w.message), w.category)
        if key not in seen:
            seen.add(key)
            warnings.warn(w.message, w.category, stacklevel=2)
    return out
