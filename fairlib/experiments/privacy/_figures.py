"""Notebook 03's figures: utility and gaps per strategy, and the utility-bias trade-off (labels from METRICS).

Whiskers are the intervals of :func:`~fairlib.experiments.privacy.summarize` (percentile bootstrap of the mean
over seeds, inside each metric's bounds); every caption states them and the number of seeds, read from the
table's ``<metric>_n`` columns. The axes always hold every whisker: nothing is clipped.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ...metrics import METRICS
from ._evaluation import GAP_COLUMNS, NULL_PERMUTATIONS

__all__ = ["STRATEGY_COLOURS", "metric_title", "whisker_caption", "plot_strategy_bars", "plot_tradeoff"]

STRATEGY_COLOURS = {"erm": "0.55", "unl": "tab:orange", "adv": "tab:red", "orth": "tab:blue",
                    "orth_shift": "tab:cyan", "orth_olora": "tab:purple"}
_MARKERS = ("o", "s", "^", "D", "v")
_BARS = ("accuracy", "roc_auc", "dpd", "tpr_gap", "fpr_gap")


def metric_title(name: str) -> str:
    """The figure label of a canonical metric with its direction (``↑`` higher is better, ``↓`` lower)."""
    info = METRICS[name]
    return f"{info.label} {'↑' if info.direction == 'higher' else '↓'}"


def _errors(row: Any, column: str) -> np.ndarray:
    # An interval that is undefined (one seed) draws no whisker; whisker_caption says how many lack one.
    mean = np.asarray(row[f"{column}_mean"], dtype=float)
    return np.nan_to_num(np.vstack([mean - np.asarray(row[f"{column}_ci_low"], dtype=float),
                                    np.asarray(row[f"{column}_ci_high"], dtype=float) - mean]))


def _seeds(counts: Sequence[int]) -> str:
    low, high = int(min(counts)), int(max(counts))
    return f"{low} seeds" if low == high else f"{low} to {high} seeds"


def whisker_caption(summary: Any, columns: Sequence[str], *, what: str = "bars") -> str:
    """The caption line of a figure drawn from ``summary``: what the marks and whiskers are, over how many seeds.

    The seed counts are read from the ``<column>_n`` columns of the plotted rows; intervals that are undefined
    (fewer than two seeds) are counted and named.

    Raises
    ------
    ValueError
        An interval outside [0, 1]: not :func:`~fairlib.experiments.privacy.summarize`'s bounded intervals,
        which is what the caption states.
    """
    for c in columns:
        ends = np.asarray([summary[f"{c}_ci_low"], summary[f"{c}_ci_high"]], dtype=float)
        if np.any((ends < 0) | (ends > 1)):
            raise ValueError(f"the intervals of {c!r} leave [0, 1]: not the bounded bootstrap intervals of "
                             f"fairlib.experiments.privacy.summarize")
    counts = np.concatenate([np.asarray(summary[f"{c}_n"], dtype=int).ravel() for c in columns])
    undefined = sum(int(np.isnan(np.asarray(summary[f"{c}_ci_low"], dtype=float)).sum()) for c in columns)
    text = (f"{what}: mean over {_seeds(counts)}; whiskers: 95% percentile-bootstrap interval of that mean "
            f"over seeds (inside [0, 1])")
    if undefined:
        text += f"; {undefined} interval(s) undefined (one seed): no whisker"
    return text


def _limits(low: float, high: float, values: Any) -> tuple[float, float]:
    # The axis range: [low, high], widened to hold every whisker end (never clipped).
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) and values.min() < low:
        low = float(values.min()) - 0.02
    if len(values) and values.max() > high:
        high = float(values.max()) + 0.02
    return low, high


def plot_strategy_bars(summary: Any, *, strategies: Sequence[str], task_labels: Mapping[str, str],
                       title: str, nulls: Any = None) -> Any:
    """One row of bar panels per task: accuracy, ROC AUC and the three gaps per strategy (mean, 95% interval).

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`~fairlib.experiments.privacy.summarize`'s table, indexed by (task, strategy).
    strategies : sequence of str
    task_labels : mapping
        Task key -> readable label, in row order.
    title : str
        First line of the caption; the second (:func:`whisker_caption`) says what bars and whiskers are and over
        how many seeds, and what the null marks are.
    nulls : pandas.DataFrame, optional
        :func:`~fairlib.experiments.privacy.null_table`: a black dash on each gap's bar marks the gap that
        exchangeable groups of the same sizes give (mean over seeds of each run's permutation-null mean).
    """
    import matplotlib.pyplot as plt

    tasks = list(task_labels)
    fig, axes = plt.subplots(len(tasks), len(_BARS), figsize=(2.6 * len(_BARS), 2.3 * len(tasks)), squeeze=False)
    for i, task in enumerate(tasks):
        part = summary.loc[task].reindex(list(strategies))
        for j, column in enumerate(_BARS):
            ax = axes[i, j]
            ax.bar(list(strategies), part[f"{column}_mean"].to_numpy(), yerr=_errors(part, column), capsize=3,
                   color=[STRATEGY_COLOURS.get(s, "0.3") for s in strategies])
            if nulls is not None and column in GAP_COLUMNS:
                null = [nulls.loc[(task, s, column), "null_mean"] for s in strategies]
                ax.scatter(list(strategies), null, marker="_", s=260, color="black", linewidths=2, zorder=3)
            ax.set_ylim(*_limits(0.0, 1.05, [part[f"{column}_ci_low"], part[f"{column}_ci_high"]]))
            ax.set_title(metric_title(column) if i == 0 else "", fontsize=8)
            ax.tick_params(labelsize=8)
            if j == 0:
                ax.set_ylabel(task_labels[task].replace(": ", ":\n"), fontsize=7)
    caption = whisker_caption(summary.loc[tasks], _BARS)
    if nulls is not None:
        caption += (f"\nblack dash: the gap of exchangeable groups of the same sizes (permutation null, "
                    f"{NULL_PERMUTATIONS} permutations per run, mean over seeds)")
    fig.suptitle(f"{title}\n{caption}", fontsize=9)
    fig.tight_layout()
    return fig


def plot_tradeoff(summary: Any, *, strategies: Sequence[str], task_labels: Mapping[str, str], title: str) -> Any:
    """Accuracy against each of the three gaps, one point per strategy and task (mean, 95% interval both ways;
    the caption, from :func:`whisker_caption`, says which interval and over how many seeds)."""
    import matplotlib.pyplot as plt

    tasks = list(task_labels)
    markers = dict(zip(tasks, _MARKERS * (len(tasks) // len(_MARKERS) + 1)))
    fig, axes = plt.subplots(1, len(GAP_COLUMNS), figsize=(12, 3.8), sharey=True)
    for ax, gap in zip(axes, GAP_COLUMNS):
        for task in tasks:
            for strategy in strategies:
                r = summary.loc[(task, strategy)]
                ax.errorbar(r[f"{gap}_mean"], r["accuracy_mean"], xerr=_errors(r, gap), yerr=_errors(r, "accuracy"),
                            fmt=markers[task], color=STRATEGY_COLOURS.get(strategy, "0.3"), ms=6, capsize=2,
                            alpha=0.85)
        ax.set_xlabel(metric_title(gap))
        rows = summary.loc[tasks]
        ax.set_xlim(*_limits(-0.02, 1.02, [rows[f"{gap}_ci_low"], rows[f"{gap}_ci_high"]]))
        ax.set_ylim(*_limits(0.0, 1.02, [rows["accuracy_ci_low"], rows["accuracy_ci_high"]]))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(metric_title("accuracy"))
    handles = [plt.Line2D([], [], color=STRATEGY_COLOURS.get(s, "0.3"), marker="o", ls="", label=s) for s in strategies]
    handles += [plt.Line2D([], [], color="0.3", marker=markers[t], ls="", label=task_labels[t]) for t in tasks]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=7, frameon=False)
    fig.suptitle(f"{title}\n{whisker_caption(summary.loc[tasks], ('accuracy', *GAP_COLUMNS), what='points')}",
                 fontsize=9)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    return fig
