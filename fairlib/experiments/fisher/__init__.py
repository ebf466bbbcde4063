"""Notebook 04's experiment: Zhang & Zhou's Fisher-neutralised weighted SVD on Adult and on images.

The paper's method (the Fisher-neutralised SVD of a last layer) and its mechanisms live in
:mod:`fairlib.methods.fisher_svd`, :mod:`fairlib.methods.feature_cache` and :mod:`fairlib.methods.fair_penalties`;
this package is the experiment built on them: its grid, its runs, its summaries, figures and claims.

Protocol (the paper's Section 3.2 and 4.1, and our reading where it is silent):

* **Pre-trained model.** Adult: a ReLU MLP (34 inputs, ``hidden`` units per hidden layer, 2 outputs) trained
  on 60% of the rows (one model per configuration: plain ``f_B``, fair ``f_F`` with a DP or EO penalty, deeper
  MLP-3/4/5). ``f_F``'s penalty is Zafar et al.'s covariance constraint by default (the paper's citation,
  ``fair_penalty``); Table 2 also shows the probability-gap penalty as a named alternative.
  Images: a frozen backbone with a linear head trained on a pre-training share of the images.
* **New task.** The remaining rows/images, with the *same* label and sensitive attribute. Every run ``r``
  re-splits that pool into train / validation / test (Table 1's proportions) with seed ``r``.
* **Methods.** TL fine-tunes the last layer; f+SVD replaces it by its plain SVD factors and fine-tunes those;
  OURS uses the Fisher-neutralised weighted SVD; Retrain trains all 742 parameters of the MLP, optionally with
  a DP or EO penalty (the probability gap). A control, "OURS (shuffled I_N)", uses the same importances
  assigned to random units.
* **Metrics** (the paper's, under fairlib's canonical names): ``weighted_f1_error`` = 100 - weighted F1 (%),
  ``dpd`` = |difference of selection rates| (the paper's Delta_DP), ``eo_sum`` = Delta_TPR + Delta_FPR (the
  paper's Delta_EO).
* **Gaps against noise.** Beside each gap of Fig. 4, Table 2 and Table 3, :func:`gap_nulls` records what
  exchangeable groups of the same sizes give (a permutation null on each row's first run).
"""

from ._claims import CHECK_IDS, CLAIM_IDS, NEGLIGIBLE, claim_rows, format_mean_std, paper_rows
from ._constants import (GROUP_COLUMNS, HEAD_METHODS, METHOD_ORDER, METRICS, PAPER_TABLE2, PAPER_TABLE3,
                         PAPER_TABLE4, RENAMED, REVIEW_METHODS, VERSION, canonical_key, rename_record)
from ._figures import plot_fig1, plot_fig3, plot_fig4, plot_fig5, plot_review_lr, plot_review_rank
from ._grid import GPU_HOURS, FisherExperiment, jobs, run_job
from ._studies import (IMAGE_TASKS, AdultStudy, BackboneUnavailable, ImageStudy, adult_pretrain_spec,
                       image_pretrain_spec, require, stand_in_variant)
from ._summaries import (RECORD_KEY, alpha_summary, dedupe, fig1_points, fig1_separability, fig4_summary,
                         fisher_profile, group_separability, pca_2d, positive_representations, rank_summary,
                         review_selected, review_summary, select, summarize, table2, table2_by_penalty, table3,
                         table4, weight_gaps)
from ._summaries import NULL_GAPS, NULL_PERMUTATIONS, gap_nulls, null_configurations, stored_test_predictions
from ._tasks import NewTask, Pretrained, head_spec, record_metrics, retrain_spec, two_way_split

__all__ = [
    "METRICS", "HEAD_METHODS", "REVIEW_METHODS", "METHOD_ORDER", "IMAGE_TASKS", "PAPER_TABLE2", "PAPER_TABLE3",
    "PAPER_TABLE4", "VERSION", "NEGLIGIBLE", "GROUP_COLUMNS", "RENAMED", "canonical_key", "rename_record",
    "jobs", "run_job", "FisherExperiment", "GPU_HOURS", "head_spec", "retrain_spec", "adult_pretrain_spec",
    "image_pretrain_spec", "record_metrics", "two_way_split", "Pretrained", "NewTask", "AdultStudy",
    "ImageStudy", "stand_in_variant", "BackboneUnavailable", "require", "RECORD_KEY", "dedupe", "select",
    "summarize", "fig4_summary", "table2", "table2_by_penalty", "table3", "table4", "alpha_summary",
    "review_summary", "review_selected",
    "rank_summary", "fig1_separability", "fig1_points", "weight_gaps", "fisher_profile", "positive_representations",
    "pca_2d", "group_separability", "paper_rows", "claim_rows", "CLAIM_IDS", "CHECK_IDS", "plot_fig1", "plot_fig3",
    "plot_fig4", "plot_fig5", "plot_review_lr", "plot_review_rank", "format_mean_std",
    "NULL_GAPS", "NULL_PERMUTATIONS", "gap_nulls", "null_configurations", "stored_test_predictions",
]
