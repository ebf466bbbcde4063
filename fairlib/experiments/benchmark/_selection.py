"""Choosing each method's setting on validation, the ranking over seeds, the Pareto front, paired differences."""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import pandas as pd

from ... import metrics as fm
from ._evaluation import METRIC_LABELS, NULL_GAPS, RECORDED_METRICS, oriented

__all__ = ["pareto_front", "select_settings", "chosen_records", "summarize_records", "ranking_table",
           "format_ranking", "paired_difference"]


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
        scores = oriented(metric) * means.to_numpy(dtype=float)
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
    """Mean, std and 95% CI over seeds (:func:`fairlib.metrics.summarize_frame`) of ``split``'s records.

    Every recorded metric is bounded (:data:`fairlib.metrics.METRICS`), so the interval is the percentile
    bootstrap of the mean over seeds (``bounded=True``): it lies between the smallest and the largest per-seed
    value and never leaves the metric's range.
    """
    return fm.summarize_frame(records, by=list(by), value_columns=list(metrics), split=split, warn_undefined=False,
                              bounded=True)


def _ranks(values: np.ndarray, metric: str) -> np.ndarray:
    from scipy.stats import rankdata

    out = np.full(len(values), np.nan)
    finite = np.isfinite(values)
    if finite.any():
        out[finite] = rankdata(-oriented(metric) * values[finite], method="average")
    return out


def ranking_table(chosen: pd.DataFrame, *, rank_metrics: Sequence[str], metrics: Sequence[str] = RECORDED_METRICS,
                  split: str = "test") -> pd.DataFrame:
    """Per task, every method at its chosen setting: mean and 95% CI of each metric, ranks, mean rank.

    The interval is the percentile bootstrap over seeds (:func:`summarize_records`). Beside each gap of
    :data:`NULL_GAPS`, when the records carry its permutation null (:func:`gap_nulls`): ``<gap>_null_mean`` and
    ``<gap>_null_q95`` (means over seeds of the per-seed null mean and 95th percentile) and ``<gap>_above_null``
    (the number of seeds whose gap exceeds its null at p < 0.05).

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
    for gap in NULL_GAPS:
        if f"{gap}_null_mean" in part.columns:
            grouped = part.groupby(["task", "method"], sort=False)
            table[f"{gap}_null_mean"] = grouped[f"{gap}_null_mean"].mean()
            table[f"{gap}_null_q95"] = grouped[f"{gap}_null_q95"].mean()
            table[f"{gap}_above_null"] = grouped[f"{gap}_p"].agg(lambda p: int((p < 0.05).sum()))
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
    """The ranking as text: ``mean [ci_low, ci_high]`` per metric, for display.

    A gap with a recorded permutation null is followed by a column ``"<label>: null"``: the mean gap of
    exchangeable groups and in how many seeds the observed gap exceeds it at p < 0.05.
    """
    out = pd.DataFrame(index=table.index)
    out["setting"] = table["setting"]
    for metric in metrics:
        mean, lo, hi = (table[f"{metric}_{k}"].to_numpy(dtype=float) for k in ("mean", "ci_low", "ci_high"))
        out[METRIC_LABELS.get(metric, metric)] = [
            "—" if not np.isfinite(m) else (f"{m:.{digits}f}" if not np.isfinite(a) else
                                           f"{m:.{digits}f} [{a:.{digits}f}, {b:.{digits}f}]")
            for m, a, b in zip(mean, lo, hi)]
        if f"{metric}_null_mean" in table.columns:  # the permutation null beside the gap
            null, above, n = (table[f"{metric}_{k}"].to_numpy(dtype=float) for k in ("null_mean", "above_null", "n"))
            out[f"{METRIC_LABELS.get(metric, metric)}: null"] = [
                "—" if not np.isfinite(v) else f"{v:.{digits}f} (p<.05 in {int(k)}/{int(c)})"
                for v, k, c in zip(null, above, n)]
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

    return fm.paired_over_seeds(side(method), side(baseline), higher_is_better=oriented(metric) > 0)

