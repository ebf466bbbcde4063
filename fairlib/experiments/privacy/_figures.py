"""Notebook 03's figures: utility and gaps per strategy, and the utility-bias trade-off (labels from METRICS)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ...metrics import METRICS
from ._evaluation import GAP_COLUMNS

__all__ = ["STRATEGY_COLOURS", "metric_title", "plot_strategy_bars", "plot_tradeoff"]

STRATEGY_COLOURS = {"erm": "0.55", "unl": "tab:orange", "adv": "tab:red", "orth": "tab:blue"}
_MARKERS = ("o", "s", "^", "D", "v")
_BARS = ("accuracy", "roc_auc", "dpd", "tpr_gap", "fpr_gap")


def metric_title(name: str) -> str:
    """The figure label of a canonical metric with its direction (``↑`` higher is better, ``↓`` lower)."""
    info = METRICS[name]
    return f"{info.label} {'↑' if info.direction == 'higher' else '↓'}"


def _errors(row: Any, column: str) -> np.ndarray:
    mean = np.asarray(row[f"{column}_mean"], dtype=float)
    return np.nan_to_num(np.vstack([mean - np.asarray(row[f"{column}_ci_low"], dtype=float),
                                    np.asarray(row[f"{column}_ci_high"], dtype=float) - mean]))


def plot_strategy_bars(summary: Any, *, strategies: Sequence[str], task_labels: Mapping[str, str],
                       title: str, seeds: int) -> Any:
    """One row of bar panels per task: accuracy, ROC AUC and the three gaps per strategy (mean, 95% CI).

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`~fairlib.experiments.privacy.summarize`'s table, indexed by (task, strategy).
    strategies : sequence of str
    task_labels : mapping
        Task key -> readable label, in row order.
    title : str
    seeds : int
        Seeds behind each mean (named in the caption).
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
            ax.set_ylim(0, 1.05)  # every metric lies in [0, 1]; wide t-intervals of few seeds are clipped
            ax.set_title(metric_title(column) if i == 0 else "", fontsize=8)
            ax.tick_params(labelsize=8)
            if j == 0:
                ax.set_ylabel(task_labels[task].replace(": ", ":\n"), fontsize=7)
    fig.suptitle(f"{title}\nbars: mean over {seeds} seeds; whiskers: 95% Student-t interval over seeds "
                 f"(clipped to [0, 1])", fontsize=9)
    fig.tight_layout()
    return fig


def plot_tradeoff(summary: Any, *, strategies: Sequence[str], task_labels: Mapping[str, str], title: str,
                  seeds: int) -> Any:
    """Accuracy against each of the three gaps, one point per strategy and task (mean, 95% CI both ways)."""
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
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(metric_title("accuracy"))
    handles = [plt.Line2D([], [], color=STRATEGY_COLOURS.get(s, "0.3"), marker="o", ls="", label=s) for s in strategies]
    handles += [plt.Line2D([], [], color="0.3", marker=markers[t], ls="", label=task_labels[t]) for t in tasks]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=7, frameon=False)
    fig.suptitle(f"{title}\npoints: mean over {seeds} seeds; whiskers: 95% Student-t intervals over seeds",
                 fontsize=9)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    return fig
