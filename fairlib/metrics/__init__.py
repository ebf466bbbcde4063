"""Fairness, utility and calibration metrics per sensitive group, and their aggregation over seeds.

Conventions
-----------
- ``sensitive_features`` holds each example's group (integer codes into ``group_names``, or names).
- A value that is undefined (a group without members, without positives for TPR/recall, without
  negatives for FPR) is NaN with a ``UserWarning`` naming the group and the reason, never a silent 0.
  Gaps are taken over the groups where the value is defined; below two such groups a gap is NaN.
- Gaps: ``method="between_groups"`` is max - min over groups (fairlearn); ``"one_vs_rest"`` compares each
  group with all others pooled (paper 1's code) and returns one value per group.
- ``equalized_odds_difference`` is fairlearn's max(ΔTPR, ΔFPR); ``equalized_odds_sum`` is paper 4's
  ΔTPR + ΔFPR. Multi-class labels: rates are per class one-vs-rest, and gaps take the worst class.
"""

from ._calibration import ece_by_group, expected_calibration_error, reliability_diagram
from ._disparity import (
    binary_group_rates,
    demographic_parity_difference,
    equal_opportunity_difference,
    equalized_odds_difference,
    equalized_odds_sum,
    fpr_parity_difference,
    weighted_f1_error,
)
from ._group import f1_gap, group_metrics, min_group_f1, min_group_recall
from ._intervals import paired_over_seeds, summarize_frame, summarize_over_seeds
from ._summary import SUMMARY_KEYS, fairness_summary

__all__ = [
    "group_metrics",
    "min_group_f1",
    "min_group_recall",
    "f1_gap",
    "binary_group_rates",
    "demographic_parity_difference",
    "equalized_odds_difference",
    "equalized_odds_sum",
    "equal_opportunity_difference",
    "fpr_parity_difference",
    "weighted_f1_error",
    "expected_calibration_error",
    "ece_by_group",
    "reliability_diagram",
    "summarize_over_seeds",
    "paired_over_seeds",
    "summarize_frame",
    "fairness_summary",
    "SUMMARY_KEYS",
]
