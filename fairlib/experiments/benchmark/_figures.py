"""Notebook 05's tables (methods, tasks, Pareto membership, headline) and figures (Pareto fronts, cost)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from ._evaluation import FAIRNESS_METRICS, LOWER_IS_BETTER, METRIC_LABELS
from ._methods import FAMILIES, METHODS, get_method, setting_label
from ._selection import pareto_front
from ._tasks import BenchmarkTask

__all__ = ["method_table", "task_table", "pareto_membership", "headline", "plot_pareto", "plot_cost"]


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


def _upper(metric: str) -> float:
    from ... import metrics as fm

    return float(fm.METRICS[metric].bounds[1])


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
            ax.set_xlim(*_limits(fx, upper=_upper(metric)))
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
