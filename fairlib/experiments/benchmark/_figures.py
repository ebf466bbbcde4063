"""Notebook 05's tables (methods, tasks, Pareto membership, headline) and figures (Pareto fronts, cost)."""

from __future__ import annotations

import textwrap
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ._evaluation import FAIRNESS_METRICS, LOWER_IS_BETTER, METRIC_LABELS, NULL_GAPS, NULL_PERMUTATIONS
from ._methods import FAMILIES, METHODS, get_method, setting_label
from ._selection import pareto_front
from ._tasks import BenchmarkTask

__all__ = ["method_table", "task_table", "pareto_membership", "headline", "plot_pareto", "plot_cost",
           "data_label", "seed_counts", "pareto_caption", "cost_caption", "cost_headline"]


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


def cost_headline(ranking: pd.DataFrame, *, task_labels: dict[str, str] | None = None) -> str:
    """What the cost figure says, per task, as Markdown: LoRA's training time against full fine-tuning's, and
    what post-processing adds to its LoRA run (means over seeds, from ``ranking``)."""
    lines = []
    for task in dict.fromkeys(ranking.index.get_level_values("task")):
        part = ranking.xs(task, level="task")
        seconds = part["train_seconds_mean"].astype(float)
        said = []
        if {"lora", "full"} <= set(part.index) and seconds["full"] > 0:
            said.append(f"LoRA trains {int(part.loc['lora', 'trainable_parameters']):,} parameters in "
                        f"{seconds['lora']:.2f} s, full fine-tuning {int(part.loc['full', 'trainable_parameters']):,}"
                        f" in {seconds['full']:.2f} s (ratio {seconds['lora'] / seconds['full']:.2f})")
        if {"lora", "threshold"} <= set(part.index):
            said.append(f"post-processing adds {seconds['threshold'] - seconds['lora']:.3f} s to its LoRA run")
        if said:
            lines.append(f"- **{(task_labels or {}).get(task, task)}**: " + "; ".join(said) + ".")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------- figures
_FAMILY_COLOURS = {"reference": "0.45", "p1": "tab:blue", "p2": "tab:green", "p3": "tab:orange", "p4": "tab:purple",
                   "post": "black", "peft": "tab:brown"}
#: Notebook 06's family (eleven methods): a colour and marker each, no pair repeated and none of the papers' colours.
_PEFT_STYLES = {"peft_dora": ("tab:brown", "<"), "peft_rslora": ("tab:brown", ">"), "peft_vera": ("tab:pink", "p"),
                "peft_ia3": ("tab:pink", "*"), "peft_loha": ("tab:olive", "d"), "peft_lokr": ("tab:olive", "H"),
                "peft_adalora": ("tab:cyan", "8"), "peft_oft": ("tab:cyan", "<"), "peft_boft": ("tab:cyan", ">"),
                "peft_prompt_tuning": ("tab:olive", "*"), "peft_bitfit": ("tab:brown", "p")}
_MARKERS = {"pretrained": "X", "probe": "v", "full": "s", "lora": "o", "fairlora": "o", "fairlora_cxa": "h", "fair_full": "s", "erm": "o",
            "unl": "v", "adv": "^", "orth": "D", "tl": "s", "fsvd": "^", "fisher_svd": "D", "threshold": "P"}


def _upper(metric: str) -> float:
    from ... import metrics as fm

    return float(fm.METRICS[metric].bounds[1])


def _style(method: str) -> dict:
    if method in _PEFT_STYLES:
        colour, marker = _PEFT_STYLES[method]
        return {"color": colour, "marker": marker}
    family = METHODS[method].family if method in METHODS else "reference"
    return {"color": _FAMILY_COLOURS[family], "marker": _MARKERS.get(method, "o")}


def _limits(values: np.ndarray, *, upper: float) -> tuple[float, float]:
    """Axis limits that hold every value given (means, interval ends, nulls): nothing is clipped."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return 0.0, upper
    lo, hi = float(finite.min()), float(finite.max())
    pad = max(0.08 * (hi - lo), 0.02 * upper)
    return max(lo - pad, -0.02 * upper), min(hi + pad, 1.02 * upper)


def _arm(length: float) -> float:
    """A whisker's length: 0 where undefined; a last-bit negative (the mean of equal values) is 0."""
    return max(float(np.nan_to_num(length)), 0.0)


def data_label(stand_in: bool) -> str:
    """How a task's data is named in a figure: a stand-in as such, the paper's data as real."""
    return "stand-in" if stand_in else "real data"


def seed_counts(ranking: pd.DataFrame, metrics: Sequence[str]) -> tuple[int, int]:
    """Smallest and largest number of seeds behind the intervals of ``metrics`` in ``ranking``."""
    counts = np.concatenate([ranking[f"{m}_n"].to_numpy(dtype=float) for m in metrics])
    counts = counts[np.isfinite(counts)]
    return (int(counts.min()), int(counts.max())) if len(counts) else (0, 0)


def _seeds_text(low: int, high: int) -> str:
    return f"{low} seeds" if low == high else f"{low} to {high} seeds"


def _task_seeds(ranking: pd.DataFrame, task: str, metrics: Sequence[str]) -> str:
    return _seeds_text(*seed_counts(ranking.xs(task, level="task", drop_level=False), metrics))


def _rows_text(ranking: pd.DataFrame, stand_in: Mapping[str, bool], task_labels: Mapping[str, str],
               metrics: Sequence[str]) -> str:
    return "; ".join(f"{task_labels.get(t, t)} ({data_label(bool(stand_in.get(t, True)))}, "
                     f"{_task_seeds(ranking, t, metrics)})"
                     for t in dict.fromkeys(ranking.index.get_level_values("task")))


def pareto_caption(ranking: pd.DataFrame, *, stand_in: Mapping[str, bool], task_labels: Mapping[str, str],
                   metrics: Sequence[str] = FAIRNESS_METRICS, utility: str = "accuracy") -> str:
    """The caption of :func:`plot_pareto`, generated from the numbers it shows (seeds per task from ``_n``)."""
    rows = _rows_text(ranking, stand_in, task_labels, [utility, *metrics])
    gaps = [METRIC_LABELS.get(g, g) for g in metrics if g in NULL_GAPS and f"{g}_null_mean" in ranking.columns]
    text = (f"Test {utility} against each fairness metric, one row per task: {rows}. Markers: the mean over the "
            f"task's seeds of each method at its chosen setting. Whiskers (both axes): 95% percentile-bootstrap "
            f"interval of that mean over the seeds (scipy.stats.bootstrap, 9,999 resamples), which stays inside the "
            f"metric's range; the axes hold every whisker, none is cut. Ringed and joined: the Pareto front of the "
            f"means.")
    if gaps:
        text += (f" Grey bars on the {', '.join(gaps)} panels: the permutation null of the gap (mean over seeds of "
                 f"the mean gap of {NULL_PERMUTATIONS} permutations of the group labels, groups of the same "
                 f"sizes), joined to the method's gap: how large a gap noise alone gives.")
    return text


def cost_caption(ranking: pd.DataFrame, *, stand_in: Mapping[str, bool], task_labels: Mapping[str, str]) -> str:
    """The caption of :func:`plot_cost`, generated from the numbers it shows (seeds per task from ``_n``)."""
    panels = _rows_text(ranking, stand_in, task_labels, ["accuracy"])
    return (f"Trainable parameters against training seconds, one panel per task: {panels}. Points: the mean "
            f"training time over the task's seeds (parameter counts do not vary with the seed); no whiskers. The "
            f"pre-trained reference trains nothing and is not drawn.")


def _log_axes(ax: Any) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(NullFormatter())


def plot_pareto(ranking: pd.DataFrame, *, metrics: Sequence[str] = FAIRNESS_METRICS, utility: str = "accuracy",
                task_labels: dict[str, str] | None = None, stand_in: Mapping[str, bool] | None = None,
                title: str = "") -> Any:
    """Utility against each fairness metric per task (test, mean and 95% CI); the Pareto front ringed and joined.

    One row of panels per task, one column per fairness metric. A point is on the front when no other method
    is at least as good on both axes and better on one (:func:`pareto_front`). Whiskers are the ranking's
    intervals (bootstrap over seeds, inside the metric's bounds); the axis limits hold every whisker. On a gap
    with a recorded permutation null (``<gap>_null_mean``), a grey bar marks the null, joined to the gap.
    ``stand_in`` (task -> bool) labels each row "stand-in" or "real data"; ``title`` should not name either.
    """
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(ranking.index.get_level_values("task")))
    fig, axes = plt.subplots(len(tasks), len(metrics), figsize=(3.4 * len(metrics), 3.0 * len(tasks) + 0.9),
                             squeeze=False)
    nulls_drawn = False
    for i, task in enumerate(tasks):
        part = ranking.xs(task, level="task")
        ux, ulo, uhi = (part[f"{utility}_{k}"].to_numpy(dtype=float) for k in ("mean", "ci_low", "ci_high"))
        for j, metric in enumerate(metrics):
            ax = axes[i, j]
            fx, flo, fhi = (part[f"{metric}_{k}"].to_numpy(dtype=float) for k in ("mean", "ci_low", "ci_high"))
            null = (part[f"{metric}_null_mean"].to_numpy(dtype=float) if f"{metric}_null_mean" in part.columns
                    else np.full(len(part), np.nan))
            front = pareto_front(fx, ux, maximize_x=metric not in LOWER_IS_BETTER, maximize_y=True)
            for k, method in enumerate(part.index):
                style = _style(method)
                if np.isfinite(null[k]) and np.isfinite(fx[k]):
                    ax.plot([null[k], fx[k]], [ux[k], ux[k]], "-", color="0.6", lw=0.6, zorder=1)
                    ax.plot(null[k], ux[k], "|", color="0.4", ms=9, mew=1.4, zorder=1)
                    nulls_drawn = True
                ax.errorbar(fx[k], ux[k], xerr=[[_arm(fx[k] - flo[k])], [_arm(fhi[k] - fx[k])]],
                            yerr=[[_arm(ux[k] - ulo[k])], [_arm(uhi[k] - ux[k])]],
                            fmt=style["marker"], color=style["color"], ms=6, capsize=2, elinewidth=0.8, alpha=0.85)
                if front[k]:
                    ax.plot(fx[k], ux[k], "o", ms=13, mfc="none", mec="crimson", mew=1.4)
            order = np.flatnonzero(front)[np.argsort(fx[front])]
            ax.plot(fx[order], ux[order], "--", color="crimson", lw=0.9)
            # The front's methods are named above the panel, in the front's order along x, not beside their
            # points: front points often sit close together, where labels would cover each other and the whiskers.
            names = [METHODS[m].label if m in METHODS else str(m) for m in part.index[order]]
            ax.set_title(textwrap.fill("front: " + ", ".join(names), 62), fontsize=6, loc="left", color="crimson")
            # Limits hold every mean, whisker end and null: the bootstrap intervals stay inside the metric's
            # bounds, so nothing is cut at the frame.
            ax.set_xlim(*_limits(np.concatenate([fx, flo, fhi, null]), upper=_upper(metric)))
            ax.set_ylim(*_limits(np.concatenate([ux, ulo, uhi]), upper=1.0))
            arrow = "lower = fairer" if metric in LOWER_IS_BETTER else "higher = fairer"
            ax.set_xlabel(f"{METRIC_LABELS.get(metric, metric)} ({arrow})", fontsize=7)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
            if j == 0:  # the row's task, wrapped so that it stays within its row's height
                name = (task_labels or {}).get(task, task)
                kind = f" ({data_label(bool(stand_in[task]))})" if stand_in is not None and task in stand_in else ""
                ax.set_ylabel(f"{textwrap.fill(name + kind, 34)}\n{utility} (higher = better)", fontsize=7)
    handles = [plt.Line2D([], [], ls="", **_style(m), label=METHODS[m].label) for m in METHODS
               if m in set(ranking.index.get_level_values("method"))]
    handles.append(plt.Line2D([], [], ls="--", marker="o", mfc="none", color="crimson", label="Pareto front"))
    if nulls_drawn:
        handles.append(plt.Line2D([], [], ls="", marker="|", ms=9, mew=1.4, color="0.4",
                                  label="gap of exchangeable groups (permutation null)"))
    fig.legend(handles=handles, loc="lower center", ncol=min(8, len(handles)), fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.75 / (3.0 * len(tasks) + 0.9), 1, 1))  # room for the two-row legend
    return fig


def plot_cost(ranking: pd.DataFrame, *, task_labels: dict[str, str] | None = None,
              stand_in: Mapping[str, bool] | None = None, title: str = "") -> Any:
    """Trainable parameters (log) against mean training seconds (log) of every method, one panel per task.

    ``stand_in`` (task -> bool) labels each panel "stand-in" or "real data"; ``title`` should not name either.
    """
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
        kind = f" ({data_label(bool(stand_in[task]))})" if stand_in is not None and task in stand_in else ""
        ax.set_title(f"{(task_labels or {}).get(task, task)}{kind}", fontsize=8)
        ax.grid(alpha=0.3, which="both")
        ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
