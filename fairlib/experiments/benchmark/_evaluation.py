"""What notebook 05 records of every run: the canonical metrics of :func:`fairlib.metrics.evaluate`.

Runs store predictions and probabilities only; the metrics are computed here at collection time, so a fix to a
metric never serves a stale number.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from ... import metrics as fm

__all__ = ["RECORDED_METRICS", "FAIRNESS_METRICS", "LOWER_IS_BETTER", "METRIC_LABELS", "GROUP_COLUMNS", "RENAMED",
           "NULL_GAPS", "NULL_PERMUTATIONS", "NULL_COLUMNS", "rename_record", "evaluate_split", "gap_nulls",
           "oriented"]

#: Scalar metrics of every run and split (canonical names of :data:`fairlib.metrics.METRICS`).
RECORDED_METRICS = ("accuracy", "weighted_f1_error", "dpd", "eo_max", "eo_sum", "min_group_f1", "worst_cell_accuracy")
#: Fairness axes of the Pareto plots (utility on the other axis: accuracy).
FAIRNESS_METRICS = ("dpd", "eo_max", "eo_sum", "min_group_f1")
LOWER_IS_BETTER = frozenset(name for name in (*RECORDED_METRICS, "ece") if fm.METRICS[name].direction == "lower")
#: Figure and table labels: those of the one vocabulary.
METRIC_LABELS = {name: fm.METRICS[name].label for name in (*RECORDED_METRICS, "ece")}
#: Max - min gaps recorded beside their permutation null (:func:`gap_nulls`).
NULL_GAPS = ("dpd", "eo_max", "eo_sum")
#: Permutations of each null (the p-value's resolution is 1 / (1 + NULL_PERMUTATIONS)).
NULL_PERMUTATIONS = 999
#: What is recorded per gap (``<gap>_<column>``), test split only.
NULL_COLUMNS = ("null_mean", "null_q95", "p")
#: Per-group columns recorded (``<column>[<group>]``); ``recall`` is the group's TPR.
GROUP_COLUMNS = ("count", "f1", "selection_rate", "recall", "fpr")

#: Names of notebook 05's records before the one vocabulary -> the canonical names (per-group ``tpr[g]`` became
#: ``recall[g]``; ``worst_group_accuracy`` was over label x group cells, hence ``worst_cell_accuracy``).
RENAMED = {"demographic_parity_difference": "dpd", "equalized_odds_difference": "eo_max",
           "equalized_odds_sum": "eo_sum", "worst_group_accuracy": "worst_cell_accuracy", "tpr": "recall"}


def rename_record(record: dict) -> dict:
    """A record (a run's metrics) with its old keys under the canonical names (:data:`RENAMED`).

    Keys ``"<old>"``, ``"<old>_<suffix>"`` (summaries: ``_mean``, ``_ci_low``, ...), ``"rank_<old>"`` and
    ``"<old>[<group>]"`` are renamed; other keys are kept.
    """
    out = {}
    for key, value in record.items():
        new = key
        if "[" in key and key.endswith("]"):
            column, group = key[:-1].split("[", 1)
            new = f"{RENAMED.get(column, column)}[{group}]"
        else:
            for old, canonical in RENAMED.items():
                for prefix, suffix in (("", ""), ("", "_"), ("rank_", ""), ("val_", "")):
                    if key == prefix + old or (suffix and key.startswith(old + suffix)):
                        new = prefix + canonical + key[len(prefix + old):]
                        break
                if new != key:
                    break
        out[new] = value
    return out


def oriented(metric: str) -> float:
    """+1 when higher is better for ``metric``, -1 when lower is."""
    return -1.0 if metric in LOWER_IS_BETTER else 1.0


def evaluate_split(y: np.ndarray, y_pred: np.ndarray, s: np.ndarray, *, group_names: Sequence[str],
                   prob: np.ndarray | None = None, num_classes: int = 2) -> dict:
    """The recorded metrics of one prediction, and the per-group values they are made of.

    :func:`fairlib.metrics.evaluate` restricted to :data:`RECORDED_METRICS` (plus ``ece`` when ``prob`` is
    given, NaN otherwise) and the per-group columns :data:`GROUP_COLUMNS`; undefined values are NaN.

    Parameters
    ----------
    y, y_pred, s : arrays (n,)
        Labels, predictions, group codes ``0 .. len(group_names) - 1``.
    group_names : sequence of str
    prob : array (n, C), optional
        Class probabilities; None for hard predictions (post-processing).
    num_classes : int
        Classes of the task (``classes=range(num_classes)``).
    """
    metrics = list(RECORDED_METRICS) + (["ece"] if prob is not None else [])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # undefined per-group values are NaN, as documented
        full = fm.evaluate(np.asarray(y).astype(np.int64), np.asarray(y_pred).astype(np.int64),
                           sensitive_features=np.asarray(s).astype(np.int64), y_prob=prob,
                           group_names=list(group_names), metrics=metrics, classes=list(range(num_classes)))
    out = {"n": full["n"], **{m: full[m] for m in RECORDED_METRICS},
           "ece": full["ece"] if prob is not None else float("nan")}
    for name in group_names:
        for column in GROUP_COLUMNS:
            out[f"{column}[{name}]"] = full[f"{column}[{name}]"]
    return out


def gap_nulls(y: np.ndarray, y_pred: np.ndarray, s: np.ndarray, *, group_names: Sequence[str], num_classes: int = 2,
              random_state: int = 0, n_permutations: int = NULL_PERMUTATIONS) -> dict:
    """Each gap of :data:`NULL_GAPS` beside what exchangeable groups of the same sizes give.

    :func:`fairlib.metrics.gap_permutation_null` per gap (same permutations for every gap: the same
    ``random_state``), reduced to ``<gap>_null_mean`` (mean gap under the null), ``<gap>_null_q95`` (its 95th
    percentile) and ``<gap>_p`` (one-sided permutation p-value of the observed gap).

    Parameters
    ----------
    y, y_pred, s : arrays (n,)
        As in :func:`evaluate_split`.
    group_names : sequence of str
    num_classes : int
    random_state : int
        Seed of the permutations (notebook 05 passes the run's seed).
    n_permutations : int
    """
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a gap undefined under some permutations: left out, as documented
        for gap in NULL_GAPS:
            null = fm.gap_permutation_null(np.asarray(y).astype(np.int64), np.asarray(y_pred).astype(np.int64),
                                           sensitive_features=np.asarray(s).astype(np.int64), metric=gap,
                                           group_names=list(group_names), classes=list(range(num_classes)),
                                           n_permutations=n_permutations, random_state=random_state)
            out.update({f"{gap}_null_mean": null["null_mean"], f"{gap}_null_q95": null["null_q95"],
                        f"{gap}_p": null["p_value"]})
    return out
