"""Notebook 04's figures."""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ...data import GroupedDataset
from ._constants import METRICS, REVIEW_METHODS, _COLOURS, _LABELS
from ._claims import NEGLIGIBLE
from ._tasks import GroupedDataset
from ._summaries import pca_2d


# -------------------------------------------------------------------------------------------------- figures
def _dots(ax: Any, summary: pd.DataFrame, methods: Sequence[str], metric: str) -> None:
    # Points with whiskers, not bars: the axis is zoomed on small differences and a cut bar would mislead.
    for k, method in enumerate(methods):
        if method not in summary.index:
            continue
        row = summary.loc[method]
        ax.errorbar([k], [row[f"{metric}_mean"]], yerr=[np.nan_to_num(row[f"{metric}_std"])], fmt="o", ms=6,
                    capsize=4, color=_COLOURS.get(method), label=method)


def plot_fig4(summary: pd.DataFrame, *, nulls: pd.DataFrame | None = None, title: str = "") -> Any:
    """Fig. 4: one panel per task and metric, points = mean over runs, whiskers = std (the paper's ±).

    ``nulls`` (rows of :func:`gap_nulls` with ``table == "fig4"``) adds a grey dash beside each method's point of
    a gap panel at its permutation null's mean (what exchangeable groups of the same sizes give); a null off
    the zoomed axis is written at the panel's foot instead, with its value.
    """
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(summary.index.get_level_values("task")))
    methods = [m for m in ("pre-trained", "TL", "f+SVD", "OURS") if m in summary.index.get_level_values("method")]
    fig, axes = plt.subplots(len(METRICS), len(tasks), figsize=(3.3 * len(tasks), 7.2), squeeze=False)
    for j, task in enumerate(tasks):
        part = summary.xs(task, level="task")
        for i, metric in enumerate(METRICS):
            ax = axes[i, j]
            _dots(ax, part, methods, metric)
            means = part[f"{metric}_mean"].to_numpy(dtype=float)
            spread = np.nanmax(part[f"{metric}_std"].to_numpy(dtype=float)) if len(part) else 0
            lo, hi = np.nanmin(means) - 3 * spread, np.nanmax(means) + 3 * spread
            pad = max(hi - lo, 1e-3) * 0.15
            ax.set_ylim(max(0.0, lo - pad), hi + pad)  # the differences are small: zoom on them
            if nulls is not None and len(nulls):
                _null_marks(ax, nulls[(nulls["task"] == task) & (nulls["metric"] == metric)], methods)
            ax.set_xticks(range(len(methods)), methods, fontsize=7)
            ax.set_xlim(-0.6, len(methods) - 0.4)
            ax.set_ylabel(_LABELS[metric], fontsize=7)
            if i == 0:
                ax.set_title(task, fontsize=8)
            ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def _null_marks(ax: Any, nulls: pd.DataFrame, methods: Sequence[str]) -> None:
    """A grey dash at each method's permutation-null mean, or its value at the panel's foot when it lies off
    the (zoomed) axis."""
    low, high = ax.get_ylim()
    off = []
    for k, method in enumerate(methods):
        value = nulls.loc[nulls["method"] == method, "null_mean"].astype(float)
        if not len(value) or not np.isfinite(value.iloc[0]):
            continue
        v = float(value.iloc[0])
        if low <= v <= high:
            ax.plot([k + 0.12, k + 0.38], [v, v], color="0.55", lw=2.2, solid_capstyle="butt")
        else:
            off.append(f"{v:.3f}")
    if off:
        ax.text(0.02, 0.02, f"null off the zoomed axis: {', '.join(dict.fromkeys(off))}", transform=ax.transAxes,
                fontsize=6, color="0.4", va="bottom")


def plot_fig1(points: dict[str, GroupedDataset], *, group_names: Sequence[str], auc: dict[str, float],
              title: str = "") -> Any:
    """Fig. 1: PCA (2-D) of the frozen representations of test examples predicted positive after fine-tuning,
    one panel per pre-trained model, coloured by group (blue = group 0, orange = group 1, as the paper)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(points), figsize=(4.2 * len(points), 3.8), squeeze=False)
    for ax, (name, data) in zip(axes[0], points.items()):
        scores = pca_2d(data.x)
        for g, colour in ((0, "tab:blue"), (1, "tab:orange")):
            member = data.s == g
            ax.scatter(scores[member, 0], scores[member, 1], s=4, alpha=0.45, color=colour, rasterized=True,
                       label=f"{group_names[g]} (n={int(member.sum())})")
        ax.set_title(f"{name}: group AUC {auc.get(name, float('nan')):.3f}", fontsize=8)
        ax.set_xlabel("PC 1", fontsize=7)
        ax.set_ylabel("PC 2", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, markerscale=3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_fig3(profile: dict, *, group_names: Sequence[str], title: str = "") -> Any:
    """Fig. 3: per-group Fisher row sums of the last layer (one value per hidden unit), mean over runs with
    the runs' range as whiskers; one panel per group, as the paper, plus the groups' ratio."""
    import matplotlib.pyplot as plt

    runs = np.asarray(profile["per_run"], dtype=float)
    mean = runs.mean(axis=0)
    units = np.arange(mean.shape[1])
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    top = float(np.max(runs)) * 1.05
    for g, ax in enumerate(axes[:2]):
        err = [mean[g] - runs[:, g].min(axis=0), runs[:, g].max(axis=0) - mean[g]]
        ax.bar(units, mean[g], yerr=err, color="tab:blue" if g == 0 else "tab:orange", capsize=1.5)
        ax.set_ylim(0, top)
        ax.set_title(f"Fisher row sums, group {group_names[g]}", fontsize=8)
        ax.set_xlabel("hidden unit (row of W)", fontsize=7)
        ax.tick_params(labelsize=7)
    live = (runs > 1e-6 * runs.max()).all(axis=1)
    ratio = np.where(live, runs[:, 0] / np.where(live, runs[:, 1], 1.0), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a unit silent in every run has no ratio
        axes[2].bar(units, np.nanmean(ratio, axis=0), color="0.5")
    axes[2].axhline(1.0, color="k", lw=0.8)
    axes[2].set_yscale("log")
    axes[2].set_title(f"ratio {group_names[0]} / {group_names[1]} (silent units left out)", fontsize=8)
    axes[2].set_xlabel("hidden unit", fontsize=7)
    axes[2].tick_params(labelsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_fig5(summary: pd.DataFrame, *, group: str = "group 0", title: str = "") -> Any:
    """Fig. 5: OURS against alpha (mean ± std over runs), one panel per metric."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(METRICS), figsize=(3.6 * len(METRICS), 3.0))
    alphas = summary.index.to_numpy(dtype=float)
    for ax, metric in zip(axes, METRICS):
        mean = summary[f"{metric}_mean"].to_numpy(dtype=float)
        std = np.nan_to_num(summary[f"{metric}_std"].to_numpy(dtype=float))
        ax.plot(alphas, mean, "o-", color=_COLOURS["OURS"])
        ax.fill_between(alphas, mean - std, mean + std, color=_COLOURS["OURS"], alpha=0.2)
        ax.set_xlabel(f"alpha (weight of the importance of {group})", fontsize=7)
        ax.set_title(_LABELS[metric], fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_review_lr(summary: pd.DataFrame, gaps: pd.DataFrame, *, pretrained: dict[str, float],
                   spread: dict[str, float] | None = None, title: str = "") -> Any:
    """Reviewer: each metric against the learning rate (log), one row per optimiser, one line per head method
    (mean over runs; dashed: the pre-trained model); last column: how far apart the methods' fine-tuned weights
    are. Bottom row: paired difference to TL (grey band: +-:data:`NEGLIGIBLE` x ``spread[metric]``, the
    run-to-run std, i.e. differences too small to matter), and how far fine-tuning moved each method's weights."""
    import matplotlib.pyplot as plt

    optimizers = list(dict.fromkeys(summary.index.get_level_values("optimizer")))
    ncols = len(METRICS) + 1
    fig, axes = plt.subplots(len(optimizers) + 1, ncols, figsize=(3.3 * ncols, 2.5 * (len(optimizers) + 1)),
                             squeeze=False)
    gap_means = gaps.groupby(["optimizer", "lr"]).mean(numeric_only=True)
    for i, optimizer in enumerate(optimizers):
        part = summary.xs(optimizer, level="optimizer")
        marker = "o-" if i == 0 else "s--"
        for j, metric in enumerate(METRICS):
            ax = axes[i, j]
            for method in REVIEW_METHODS:
                if method in part.index.get_level_values("method"):
                    s = part.xs(method, level="method")
                    ax.plot(s.index.to_numpy(dtype=float), s[f"{metric}_mean"], "o-", ms=3, color=_COLOURS[method],
                            label=method)
            ax.axhline(pretrained[metric], color="0.4", ls="--", lw=0.8, label="pre-trained")
            ax.set_xscale("log")
            ax.set_title(f"{optimizer}: {_LABELS[metric]}", fontsize=7)
            ax.tick_params(labelsize=6)
            ax = axes[-1, j]
            for method in REVIEW_METHODS[1:]:
                if method in part.index.get_level_values("method"):
                    s = part.xs(method, level="method")
                    ax.plot(s.index.to_numpy(dtype=float), s[f"{metric}_minus_TL"], marker, ms=3,
                            color=_COLOURS[method], label=f"{method} [{optimizer}]")
            ax.axhline(0.0, color="k", lw=0.6)
            if spread and i == 0:
                ax.axhspan(-NEGLIGIBLE * spread[metric], NEGLIGIBLE * spread[metric], color="0.85", zorder=0)
            ax.set_xscale("log")
            ax.set_title(f"{metric}: method minus TL (paired mean)", fontsize=7)
            ax.set_xlabel("learning rate", fontsize=7)
            ax.tick_params(labelsize=6)
        g = gap_means.xs(optimizer, level="optimizer")
        ax = axes[i, -1]
        for column, colour in (("OURS vs f+SVD", "tab:green"), ("f+SVD vs TL", "tab:orange")):
            ax.plot(g.index.to_numpy(dtype=float), np.maximum(g[column].to_numpy(dtype=float), 1e-12), "o-", ms=3,
                    color=colour, label=column)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{optimizer}: max |W_a - W_b| after fine-tuning", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.legend(fontsize=6)
        ax = axes[-1, -1]
        for method in REVIEW_METHODS:
            ax.plot(g.index.to_numpy(dtype=float), g[f"{method} moved"], marker, ms=3, color=_COLOURS[method],
                    label=f"{method} [{optimizer}]")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title("max |W_after - W_pre-trained|", fontsize=7)
        ax.set_xlabel("learning rate", fontsize=7)
        ax.tick_params(labelsize=6)
    axes[0, 0].legend(fontsize=6)
    axes[-1, 0].legend(fontsize=5)
    axes[-1, -1].legend(fontsize=5)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_review_rank(summary: pd.DataFrame, *, title: str = "") -> Any:
    """Reviewer: change of each metric from the pre-trained model (paired by run) made by the factorised heads,
    before fine-tuning (hollow) and after (filled), at each rank; whiskers: 95% CI over runs."""
    import matplotlib.pyplot as plt

    ranks = sorted(set(summary.index.get_level_values("rank")))
    methods = [m for m in ("f+SVD", "OURS", "OURS (shuffled I_N)") if m in summary.index.get_level_values("method")]
    fig, axes = plt.subplots(1, len(METRICS), figsize=(3.9 * len(METRICS), 3.2))
    step = 0.8 / (2 * len(methods))
    for ax, metric in zip(axes, METRICS):
        for r_i, rank in enumerate(ranks):
            for k, method in enumerate(methods):
                if (rank, method) not in summary.index:
                    continue
                row = summary.loc[(rank, method)]
                for j, (prefix, face) in enumerate((("init_", "white"), ("", _COLOURS[method]))):
                    column = f"{prefix}{metric}_change"
                    mean = row[f"{column}_mean"]
                    err = [[np.nan_to_num(mean - row[f"{column}_ci_low"])],
                           [np.nan_to_num(row[f"{column}_ci_high"] - mean)]]
                    x = r_i - 0.4 + step * (2 * k + j + 0.5)
                    label = f"{method}, {'before' if j == 0 else 'after'} fine-tuning" if r_i == 0 else None
                    ax.errorbar([x], [mean], yerr=err, fmt="o", ms=5, mfc=face, color=_COLOURS[method], capsize=2,
                                label=label)
        ax.axhline(0.0, color="0.4", ls="--", lw=0.8)
        ax.set_xticks(range(len(ranks)), [f"rank {r}" for r in ranks], fontsize=7)
        ax.set_title(f"change of {_LABELS[metric]}\nfrom the pre-trained model", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    return fig
