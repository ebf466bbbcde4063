"""Notebook 01 (Ding et al. 2024): LoRA vs full fine-tuning vs the base model, per subgroup.

The grid (:func:`jobs`, :func:`run_job`; registered as notebook ``"01"`` in
:data:`fairlib.experiments.EXPERIMENTS`), the evaluation of the stored runs with :func:`fairlib.metrics.evaluate`
(:class:`Evaluation`), membership inference from the stored targets and shadows, the figures, and the claim
rows of the claims engine. :data:`RENAMED` maps the names of the records before the one vocabulary to the
canonical ones (:func:`renamed` applies it).
"""

from ._claims import FAIRNESS_CLAIMS, MIN_SEEDS, RANK_CLAIMS, claim_rows, claims_table, underpowered
from ._evaluation import (FAIRNESS_METRICS, CalibrationPanel, INTERVAL, METHOD_LABELS, NULL_GAPS, RECORD_METRICS, RENAMED,
                          RENAMED_GROUP_COLUMNS, UNIT_INTERVAL_PREFIXES, Evaluation, column_bounds, data_summary,
                          ece_table, evaluate_predictions, example_texts, gap_nulls, group_columns,
                          paired_differences, renamed, seeds_by_backbone, summarize_records)
from ._figures import plot_calibration, plot_ece_by_group, plot_group_fairness, plot_mia, plot_rank_ablation
from ._grid import NOTEBOOK, STANDIN_TASKS, LoRAFairnessExperiment, jobs, plan_label, require, run_job
from ._membership import MIAResult, auc_by_ranks, bootstrap_auc, membership_inference
from ._models import last_token_pool, sequence_classifier, vision_classifier

#: Figure names of the membership-inference figures, per domain (Fig. 4 vision, Fig. 5 language).
MIA_FIGURES = {"vision": "01_fig4_mia_vision", "text": "01_fig5_mia_text"}

__all__ = [
    "NOTEBOOK", "STANDIN_TASKS", "LoRAFairnessExperiment", "jobs", "run_job", "require", "plan_label",
    "Evaluation", "CalibrationPanel", "evaluate_predictions", "RECORD_METRICS", "FAIRNESS_METRICS", "METHOD_LABELS", "RENAMED",
    "RENAMED_GROUP_COLUMNS", "renamed", "group_columns", "summarize_records", "paired_differences", "ece_table",
    "data_summary", "seeds_by_backbone", "example_texts", "INTERVAL", "UNIT_INTERVAL_PREFIXES", "column_bounds", "NULL_GAPS", "gap_nulls",
    "MIAResult", "membership_inference", "auc_by_ranks", "bootstrap_auc", "MIA_FIGURES",
    "plot_group_fairness", "plot_calibration", "plot_ece_by_group", "plot_mia", "plot_rank_ablation",
    "claim_rows", "claims_table", "underpowered", "MIN_SEEDS", "FAIRNESS_CLAIMS", "RANK_CLAIMS",
    "last_token_pool", "sequence_classifier", "vision_classifier",
]
