"""Notebook 02's experiment (FairLoRA, arXiv 2410.17358): LoRA, FairLoRA, full fine-tuning and fair full
fine-tuning, as a grid of jobs.

- :func:`jobs` ``(profile) -> list[RunSpec]``: every run (the lambda sweep, the rank sweep); :func:`run_job`
  trains one unless stored, and stores its logits (registered as notebook ``"02"`` in
  :data:`fairlib.experiments.EXPERIMENTS`).
- :func:`collect`: the stored runs as records, metrics computed now by :func:`fairlib.metrics.evaluate`;
  :func:`select_lambda` (on validation), :func:`comparison_records`, summaries; :func:`gap_nulls`: each
  gap (:data:`NULL_GAPS`) beside its permutation null.
- Figures (:func:`plot_lambda_sweep`, :func:`plot_rank_sweep`, :func:`plot_group_f1`) and claim rows from the
  claims engine (:func:`claim_rows`).

Methods are named by adaptation and lambda: LoRA (lora, 0), FairLoRA (lora, > 0), FFT (full, 0), Fair FFT
(full, > 0). FairLoRA and Fair FFT run once per reading of the regulariser's groups (:data:`READINGS`:
per-class, the paper's headline; class x attribute subgroups), labelled ``"FairLoRA [per-class]"`` etc. Their
lambda is chosen per backbone and reading on *validation*, never on test.
"""

from ._claims import OTHERS, claim_rows, claims_table, reading_of_claim
from ._evaluation import (FAIRNESS_METRICS, NULL_GAPS, RENAMED, REPORTED_METRICS, gap_nulls, collect, comparison_records,
                          comparison_summary, evaluate_predictions, label_group_counts, label_order,
                          lambda_sweep_records, main_rank_records, oriented, paired_improvement, reading_records,
                          per_seed, rank_sweep_records, record_of, records_of, rename_keys, select_lambda,
                          summarize_records, trainable_parameter_counts, counts_record)
from ._figures import plot_group_f1, plot_lambda_sweep, plot_rank_sweep
from ._grid import (CLAIM_SUFFIX, GPU_HOURS, METHOD_ORDER, NOTEBOOK, READINGS, jobs, load_fairlora_backbone,
                    load_fairlora_data, load_run, method_label, method_name, resolved_lambda, run_job, run_spec,
                    seeds_of, sweep_seeds_of)

__all__ = [
    "NOTEBOOK", "METHOD_ORDER", "READINGS", "CLAIM_SUFFIX", "GPU_HOURS", "method_name", "method_label", "seeds_of",
    "sweep_seeds_of", "main_rank_records", "reading_records", "label_order", "reading_of_claim", "jobs", "run_job", "run_spec", "load_run",
    "resolved_lambda", "load_fairlora_data", "load_fairlora_backbone",
    "REPORTED_METRICS", "FAIRNESS_METRICS", "NULL_GAPS", "gap_nulls", "RENAMED", "rename_keys", "evaluate_predictions", "oriented", "record_of", "records_of",
    "collect", "lambda_sweep_records", "rank_sweep_records", "select_lambda", "comparison_records",
    "summarize_records", "comparison_summary", "per_seed", "paired_improvement", "label_group_counts",
    "trainable_parameter_counts", "counts_record",
    "plot_lambda_sweep", "plot_rank_sweep", "plot_group_f1",
    "claim_rows", "claims_table", "OTHERS",
]
