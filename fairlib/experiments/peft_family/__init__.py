"""Notebook 06: the fairness of the PEFT family (peft's methods) at a matched budget of trainable parameters.

Tasks, splits and pre-trained models are notebook 05's (:mod:`fairlib.experiments.benchmark`); every adapter is
built through peft's own config (:data:`PEFT_METHODS`); each method's placement and width are chosen so that its
trainable adapter parameters are within ``tolerance`` of a share of the backbone (:func:`match_budget`).
Grid: :func:`jobs` / :func:`run_job`; records: :func:`collect`; outputs in :mod:`._analysis`; LiRA per group in
:mod:`._membership`.
"""

from ._analysis import (SUMMARY_METRICS, claim_rows, comparison_budget, group_accuracy_table, group_metrics_long,
                        group_table, plot_accuracy_vs_gap, plot_gap_vs_parameters,
                        plot_group_heatmap, summary_table)
from ._grid import (LIRA_TARGET, NOTEBOOK, backbone_parameters, budget_choices, collect, jobs, lira_membership, lira_pool,
                    lira_role, plan_without_data, run_job, seeds_of, skipped, train_job)
from ._membership import LIRA_FPR, LiraResult, lira_by_group, plot_lira_by_group
from ...methods.peft_family import (FEEDFORWARD, INPUT, MODULE_SETS, PEFT_METHODS, TOKEN_MODEL_TYPES, BudgetChoice, NotApplicable, PeftMethod, Placement,
                       adalora_allocation, adapter_parameters, get_peft_method, head_parameters, match_budget,
                       placements, recipe_choice, target_regex, trainable_names, wrap)

__all__ = ["NOTEBOOK", "seeds_of", "jobs", "run_job", "train_job", "collect", "budget_choices", "skipped", "backbone_parameters",
           "PEFT_METHODS", "PeftMethod", "Placement", "BudgetChoice", "NotApplicable", "MODULE_SETS", "FEEDFORWARD", "INPUT",
           "TOKEN_MODEL_TYPES",
           "get_peft_method", "placements", "target_regex", "wrap", "trainable_names", "adapter_parameters",
           "head_parameters", "match_budget", "recipe_choice", "adalora_allocation", "SUMMARY_METRICS",
           "comparison_budget", "group_table", "group_metrics_long",
           "summary_table", "group_accuracy_table", "plot_gap_vs_parameters", "plot_group_heatmap",
           "plot_accuracy_vs_gap", "claim_rows", "plan_without_data", "LIRA_TARGET", "LIRA_FPR", "LiraResult",
           "lira_by_group", "lira_membership", "lira_pool", "lira_role", "plot_lira_by_group"]
