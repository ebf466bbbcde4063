"""Notebook 03's experiment: Kamalaruban et al.'s four strategies (Erm, Unl, Adv, Orth) as a grid of runs.

The mechanisms (the roles, the losses, :func:`~fairlib.methods.privacy_strategies.run_strategy`) live in
:mod:`fairlib.methods`; this package holds the experiment: its grid (:func:`jobs`, :func:`run_job`), the
collection and evaluation of the stored runs (:func:`collect`, one evaluator, canonical metric names), the
seed-paired differences, the claim rows (:func:`claim_rows`, through :mod:`fairlib.evidence`) and the figures.
"""

from ._claims import CLAIM_STRATEGY, POWER_SEEDS, claim_comparisons, claim_rows, claims_table, reading_notes
from ._evaluation import (AUDIT_COLUMNS, GAP_COLUMNS, METRIC_COLUMNS, NULL_PERMUTATIONS, NULL_RANDOM_STATE, RENAMED, adv_rounds,
                          audit_of_run, audit_table, collect, evaluate_run, gap_nulls, keyed, leakage, means, null_table, paired_differences,
                          rename_record, summarize)
from ._figures import STRATEGY_COLOURS, metric_title, plot_strategy_bars, plot_tradeoff, whisker_caption
from ._grid import (AUDITOR, NEEDS_SENSITIVE, NOTEBOOK, RECEIVED, VARIANTS, backbone_info, config_of, developer_jobs, grid_records, jobs,
                    probe_predictions, run_job, seeds_of, strategy_seeds)
from ._tasks import data_table, is_stand_in, load_task, require, split_task, task_labels
from ...methods.privacy_strategies import ORTH_VARIANTS, STRATEGIES, task_label

__all__ = [
    "STRATEGIES", "task_label", "task_labels", "backbone_info", "adv_rounds", "claims_table", "keyed", "means", "grid_records",
    "jobs", "seeds_of", "run_job", "developer_jobs", "config_of", "NOTEBOOK", "AUDITOR", "NEEDS_SENSITIVE", "probe_predictions",
    "load_task", "split_task", "data_table", "require", "is_stand_in",
    "collect", "evaluate_run", "leakage", "summarize", "paired_differences", "METRIC_COLUMNS", "GAP_COLUMNS",
    "gap_nulls", "null_table", "AUDIT_COLUMNS", "audit_of_run", "audit_table", "RECEIVED", "VARIANTS",
    "strategy_seeds", "ORTH_VARIANTS", "NULL_PERMUTATIONS", "NULL_RANDOM_STATE",
    "RENAMED", "rename_record",
    "claim_rows", "claim_comparisons", "CLAIM_STRATEGY", "POWER_SEEDS", "reading_notes",
    "plot_strategy_bars", "plot_tradeoff", "metric_title", "whisker_caption", "STRATEGY_COLOURS",
]
