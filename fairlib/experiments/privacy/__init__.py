"""Notebook 03's experiment: Kamalaruban et al.'s four strategies (Erm, Unl, Adv, Orth) as a grid of runs.

The mechanisms (the roles, the losses, :func:`~fairlib.methods.privacy_strategies.run_strategy`) live in
:mod:`fairlib.methods`; this package holds the experiment: its grid (:func:`jobs`, :func:`run_job`), the
collection and evaluation of the stored runs (:func:`collect`, one evaluator, canonical metric names), the
seed-paired differences, the claim rows (:func:`claim_rows`, through :mod:`fairlib.evidence`) and the figures.
"""

from ._claims import CLAIM_STRATEGY, claim_comparisons, claim_rows, claims_table
from ._evaluation import (GAP_COLUMNS, METRIC_COLUMNS, RENAMED, adv_rounds, collect, evaluate_run, keyed, leakage,
                          means, paired_differences, rename_record, summarize)
from ._figures import STRATEGY_COLOURS, metric_title, plot_strategy_bars, plot_tradeoff
from ._grid import (AUDITOR, NEEDS_SENSITIVE, NOTEBOOK, backbone_info, config_of, developer_jobs, grid_records, jobs, probe_predictions,
                    run_job)
from ._tasks import data_table, is_stand_in, load_task, require, split_task, task_labels
from ...methods.privacy_strategies import STRATEGIES, task_label

__all__ = [
    "STRATEGIES", "task_label", "task_labels", "backbone_info", "adv_rounds", "claims_table", "keyed", "means", "grid_records",
    "jobs", "run_job", "developer_jobs", "config_of", "NOTEBOOK", "AUDITOR", "NEEDS_SENSITIVE", "probe_predictions",
    "load_task", "split_task", "data_table", "require", "is_stand_in",
    "collect", "evaluate_run", "leakage", "summarize", "paired_differences", "METRIC_COLUMNS", "GAP_COLUMNS",
    "RENAMED", "rename_record",
    "claim_rows", "claim_comparisons", "CLAIM_STRATEGY",
    "plot_strategy_bars", "plot_tradeoff", "metric_title", "STRATEGY_COLOURS",
]
