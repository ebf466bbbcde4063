"""Notebook 05: every method of the four papers on the same tasks, splits, seeds and metrics.

Protocol
--------
*Task* (:mod:`._tasks`). A labelled pool with a sensitive attribute, partitioned once (``data_seed``) into a
**pre-training share** and the **new task**, as paper 4 does for Adult (60 / 40). The pre-training share builds
*the pre-trained model* every method starts from: on Adult paper 4's two-layer MLP (34 -> 20 -> 2, 742
parameters); on image and text tasks the frozen backbone with a head trained on its features. Each seed
re-splits the new task into train / validation / test (``split_fractions``, stratified by label x group) and
seeds the training; datasets with an official split (Waterbirds, CelebA) keep it.

*Methods* (:data:`METHODS`, a registry; runs in :mod:`._runs`): the pre-trained model (reference), linear
probe, full fine-tuning, LoRA, FairLoRA in paper 2's two readings of its groups (``fairlora``: per-class, the
paper's headline; ``fairlora_cxa``: class x attribute cells), fair full fine-tuning (papers 1-2), the two-party strategies Erm / Unl /
Adv / Orth (paper 3, image tasks with a ViT only), TL, f+SVD and Fisher-neutralised SVD (paper 4, head-only, on
cached backbone features), and fairlearn's ``ThresholdOptimizer`` on LoRA's scores (post-processing). Every
grid point of a method runs for every seed; the point with the best mean *validation* ``selection_metric`` is
reported (:func:`select_settings`).

*Grid* (:func:`jobs`, :func:`run_job`): the runs as data, run by :func:`fairlib.experiments.run_jobs`; a run
stores predictions and probabilities; :func:`collect` evaluates them with :func:`fairlib.metrics.evaluate` under
the canonical metric names (:data:`RECORDED_METRICS`; :data:`RENAMED` maps the names of earlier records).

*Outputs*: :func:`ranking_table`, :func:`plot_pareto`, :func:`plot_cost`, :func:`claim_rows`.

Extension points: :func:`register_method` with a :class:`Method` whose ``run(ctx, params)`` returns an
:class:`Outcome`; :func:`register_task_kind` with a builder (``backbone_task`` is the model for a backbone task)
and its :class:`TaskTraits`.
"""

from ._claims import CLAIM_METHODS, claim_rows, claims_table, paired_values
from ._evaluation import (FAIRNESS_METRICS, GROUP_COLUMNS, LOWER_IS_BETTER, METRIC_LABELS, NULL_COLUMNS, NULL_GAPS,
                          NULL_PERMUTATIONS, RECORDED_METRICS, RENAMED, evaluate_split, gap_nulls, rename_record)
from ._figures import (cost_caption, cost_headline, data_label, headline, method_table, pareto_caption, pareto_membership, plot_cost,
                       plot_pareto, seed_counts, task_table)
from ._grid import NOTEBOOK, collect, seeds_of, jobs, load_task, run_in_process, run_job, task_params, tasks_of, train_job
from ._methods import (FAMILIES, METHODS, Method, Outcome, UnknownMethodError, get_method, not_applicable_reason,
                       register_method, setting_label)
from ._runs import SeedContext
from ._selection import (chosen_records, format_ranking, paired_difference, pareto_front, ranking_table,
                         select_settings, summarize_records)
from ._tasks import (TASK_KINDS, TASK_TRAITS, TEXT_TASKS, BenchmarkTask, TaskTraits, TaskUnavailableError,
                     UnknownTaskError, backbone_task, build_task, partition, register_task_kind, task_traits,
                     with_pool_index)

__all__ = [
    "NOTEBOOK", "seeds_of", "jobs", "run_job", "train_job", "run_in_process", "collect", "load_task", "tasks_of", "task_params",
    "RECORDED_METRICS", "FAIRNESS_METRICS", "LOWER_IS_BETTER", "METRIC_LABELS", "GROUP_COLUMNS", "RENAMED",
    "rename_record", "evaluate_split", "NULL_GAPS", "NULL_PERMUTATIONS", "NULL_COLUMNS", "gap_nulls",
    "pareto_front", "select_settings", "chosen_records", "summarize_records", "ranking_table", "format_ranking",
    "paired_difference", "claim_rows", "claims_table", "paired_values", "CLAIM_METHODS",
    "FAMILIES", "Method", "Outcome", "METHODS", "register_method", "get_method", "not_applicable_reason",
    "setting_label", "UnknownMethodError",
    "BenchmarkTask", "TaskTraits", "TASK_KINDS", "TASK_TRAITS", "TEXT_TASKS", "register_task_kind", "build_task",
    "task_traits", "backbone_task", "partition", "with_pool_index", "UnknownTaskError", "TaskUnavailableError",
    "SeedContext", "method_table", "task_table", "pareto_membership", "headline", "plot_pareto", "plot_cost",
    "data_label", "seed_counts", "pareto_caption", "cost_caption", "cost_headline",
]
