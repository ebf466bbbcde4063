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
- Labels are checked against the declared classes: binary {0, 1} by default (``pos_label=`` another
  positive class, ``classes=`` all labels, more than two for multi-class). A stray label or a probability
  in ``y_pred`` is an error naming the value and its count; NaN or None in labels or groups is an error.
  (Deprecated: with ``classes=None`` and more than two labels in ``y_true``, they are taken as multi-class
  with a ``FutureWarning``.)
- One vocabulary: :data:`METRICS` maps each canonical name (``accuracy``, ``dpd``, ``eo_max``, ``eo_sum``,
  ``worst_group_accuracy``, ``worst_cell_accuracy``, ...) to its figure label, formula, direction and
  bounds; :func:`evaluate` returns all of them for one prediction as one flat record.
- Uncertainty: :func:`summarize_over_seeds` (t interval, or a percentile bootstrap inside the bounds of a
  bounded metric; :func:`column_bounds` says which columns are), :func:`paired_over_seeds`, :func:`bootstrap_test_set` (test-set resampling by group),
  :func:`gap_permutation_null` (what a max - min gap is under exchangeable groups of the same sizes).
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
from ._evaluate import EVALUATE_KEYS, GROUP_KEYS, evaluate
from ._inputs import resolve_groups
from ._group import f1_gap, group_metrics, min_group_f1, min_group_recall
from ._intervals import (UNIT_INTERVAL_PREFIXES, bootstrap_test_set, column_bounds, paired_over_seeds, summarize_frame,
                         summarize_over_seeds)
from ._permutation import gap_permutation_null
from ._summary import SUMMARY_KEYS, fairness_summary
from ._vocabulary import GAP_METRICS, METRICS, MetricInfo, metric_info

__all__ = [
    "resolve_groups",
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
    "column_bounds",
    "UNIT_INTERVAL_PREFIXES",
    "paired_over_seeds",
    "summarize_frame",
    "fairness_summary",
    "SUMMARY_KEYS",
    "METRICS",
    "MetricInfo",
    "metric_info",
    "GAP_METRICS",
    "evaluate",
    "EVALUATE_KEYS",
    "GROUP_KEYS",
    "bootstrap_test_set",
    "gap_permutation_null",
]
