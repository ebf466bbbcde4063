"""One name per metric: what each canonical name means, how figures label it, which way is better, its range.

A name means one thing everywhere. Where papers define a metric differently, the variants have different
names: fairlearn's equalized-odds difference (the larger of the two gaps) is ``eo_max``, paper 4's ΔEO (their
sum) is ``eo_sum``, paper 3's equal-opportunity gap is ``tpr_gap``. The minimum accuracy over sensitive groups
is ``worst_group_accuracy``; the group-DRO "worst-group accuracy" of the Waterbirds papers, a minimum over
(label, group) cells, is ``worst_cell_accuracy``.

Notation: groups g are the values of the sensitive feature (only groups with members count, and a rate only
where it is defined), classes c the labels; ``sel_g = P(ŷ = pos | g)``, ``TPR_g = P(ŷ = pos | y = pos, g)``,
``FPR_g = P(ŷ = pos | y ≠ pos, g)``. A gap ``Δr = max_g r_g - min_g r_g``. With multi-class labels every
class is taken one-vs-rest as ``pos`` and a gap is the largest over classes.
"""

from __future__ import annotations

import math
import types
from dataclasses import dataclass

DIRECTIONS = ("higher", "lower")


@dataclass(frozen=True)
class MetricInfo:
    """What one canonical metric name means.

    Parameters
    ----------
    name : str
        The canonical name (the key of :data:`METRICS` and of the record of :func:`evaluate`).
    label : str
        Axis or legend label for figures.
    formula : str
        The definition, in the notation of this module's docstring.
    direction : {"higher", "lower"}
        Which way is better (for utility) or fairer (for a gap).
    bounds : tuple of float
        ``(low, high)``: the values the metric can take; intervals of it are kept inside.
    source : str
        Where it is computed (a function of :mod:`fairlib.metrics`, or elsewhere for attack metrics).
    """

    name: str
    label: str
    formula: str
    direction: str
    bounds: tuple[float, float]
    source: str

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"{self.name}: direction must be one of {DIRECTIONS}, got {self.direction!r}")
        low, high = self.bounds
        if not (low < high) or math.isnan(low) or math.isnan(high):
            raise ValueError(f"{self.name}: bounds must be (low, high) with low < high, got {self.bounds}")

    @property
    def higher_is_better(self) -> bool:
        """True when a larger value is better (or fairer)."""
        return self.direction == "higher"


def _m(name: str, label: str, formula: str, direction: str, bounds: tuple[float, float], source: str) -> MetricInfo:
    return MetricInfo(name, label, formula, direction, (float(bounds[0]), float(bounds[1])), source)


_ALL = (
    # ------------------------------------------------------------------ utility
    _m("accuracy", "accuracy", "mean(ŷ = y) over all examples", "higher", (0, 1), "evaluate"),
    _m("weighted_f1_error", "error (%) = 100 - weighted F1",
       "100 · (1 - Σ_c n_c/n · F1_c), F1 of each class one-vs-rest weighted by its support (paper 4)",
       "lower", (0, 100), "weighted_f1_error"),
    _m("roc_auc", "ROC AUC (task)", "area under the ROC curve of the positive-class probability for y (binary)",
       "higher", (0, 1), "evaluate"),
    # ------------------------------------------------------------------ worst group
    _m("worst_group_accuracy", "worst-group accuracy", "min_g acc_g, acc_g = mean(ŷ = y | g)", "higher",
       (0, 1), "evaluate"),
    _m("worst_cell_accuracy", "worst (label, group) accuracy",
       "min_{c,g} mean(ŷ = c | y = c, g) over the (label, group) cells with members (group DRO's worst group)",
       "higher", (0, 1), "evaluate"),
    _m("accuracy_gap", "accuracy gap (max - min)", "max_g acc_g - min_g acc_g", "lower", (0, 1), "evaluate"),
    _m("min_group_f1", "min-group F1",
       "min_g F1_g (F1 of pos; multi-class: macro F1 over the classes present in g) (paper 2)", "higher",
       (0, 1), "min_group_f1"),
    _m("min_group_recall", "min-group recall",
       "min_g TPR_g (multi-class: macro recall over the classes with support in g) (paper 2)", "higher",
       (0, 1), "min_group_recall"),
    _m("f1_gap", "F1 gap (max - min)", "max_g F1_g - min_g F1_g (paper 2)", "lower", (0, 1), "f1_gap"),
    # ------------------------------------------------------------------ group-fairness gaps
    _m("dpd", "demographic parity difference", "Δsel = max_g sel_g - min_g sel_g (fairlearn; paper 4's ΔDP)",
       "lower", (0, 1), "demographic_parity_difference"),
    _m("tpr_gap", "ΔTPR (equal opportunity)", "ΔTPR = max_g TPR_g - min_g TPR_g (paper 3's equal opportunity)",
       "lower", (0, 1), "equal_opportunity_difference"),
    _m("fpr_gap", "ΔFPR", "ΔFPR = max_g FPR_g - min_g FPR_g", "lower", (0, 1), "fpr_parity_difference"),
    _m("eo_max", "equalized odds, max(ΔTPR, ΔFPR)",
       "max(ΔTPR, ΔFPR): fairlearn's equalized_odds_difference; NaN if either gap is undefined", "lower",
       (0, 1), "equalized_odds_difference"),
    _m("eo_sum", "ΔEO = ΔTPR + ΔFPR (paper 4)", "ΔTPR + ΔFPR (paper 4's ΔEO); NaN if either gap is undefined",
       "lower", (0, 2), "equalized_odds_sum"),
    # ------------------------------------------------------------------ calibration
    _m("ece", "ECE", "Σ_b |B_b|/n · |acc(B_b) - conf(B_b)| over equal-width bins of the top-class confidence",
       "lower", (0, 1), "expected_calibration_error"),
    _m("worst_group_ece", "worst-group ECE", "max_g ECE_g", "lower", (0, 1), "ece_by_group"),
    _m("ece_gap", "ECE gap (max - min)", "max_g ECE_g - min_g ECE_g", "lower", (0, 1), "ece_by_group"),
    # ------------------------------------------------------------------ membership inference and leakage
    _m("mia_auc", "membership-inference AUC",
       "area under the attack's ROC curve, members vs non-members (0.5: no leak)", "lower", (0, 1),
       "fairlib.methods.membership.mia_metrics"),
    _m("mia_tpr_at_1pct_fpr", "MIA TPR at 1% FPR",
       "largest TPR of the attack among the thresholds with FPR <= 0.01", "lower", (0, 1),
       "fairlib.methods.membership.mia_metrics"),
    _m("mia_advantage", "membership advantage", "max over thresholds of TPR - FPR (Yeom et al.)", "lower",
       (0, 1), "fairlib.methods.membership.mia_metrics"),
    _m("leakage", "leakage of s (probe balanced accuracy)",
       "balanced accuracy of a linear probe predicting s from the representation (1/G: nothing leaks)",
       "lower", (0, 1), "fairlib.experiments.privacy"),
)

#: Canonical name -> :class:`MetricInfo` (label, formula, direction, bounds). Read-only.
METRICS = types.MappingProxyType({m.name: m for m in _ALL})

#: The gaps (max - min over groups) that :func:`gap_permutation_null` can test.
GAP_METRICS = ("dpd", "tpr_gap", "fpr_gap", "eo_max", "eo_sum", "f1_gap", "accuracy_gap", "ece_gap")


def metric_info(name: str) -> MetricInfo:
    """The :class:`MetricInfo` of a canonical name.

    Raises
    ------
    ValueError
        For an unknown name, listing the canonical names.
    """
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; canonical names: {tuple(METRICS)}")
    return METRICS[name]
