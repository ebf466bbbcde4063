"""Figures of notebook 01: group fairness (Figs. 1-2), calibration (Fig. 3), membership inference (Figs. 4-5)
and the rank ablation. Metrics are labelled with their :data:`fairlib.metrics.METRICS` labels."""

from __future__ import annotations

import textwrap
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ... import metrics as fm
from ...methods.membership import roc_curve_points
from ._evaluation import METHOD_LABELS, group_columns, summarize_records
from ._membership import MIAResult

__all__ = ["plot_group_fairness", "plot_calibration", "plot_ece_by_group", "plot_mia", "plot_rank_ablation"]

_COLOURS = {"probe": "tab:gray", "lora": "tab:blue", "full": "tab:orange"}


def _label(metric: str) -> str:
    """The METRICS label of ``metric``, with which way is better."""
    info = fm.METRICS[metric]
    return f"{info.label} ({'higher' if info.higher_is_better else 'lower'} = better)"


def _bars(ax: Any, records: pd.DataFrame, *, columns: Sequence[str], labels: Sequence[str],
          methods: Sequence[str], nulls: pd.DataFrame | None = None) -> None:
    """Grouped bars: one cluster per column, one bar per method (mean over seeds, whiskers: the interval of
    :func:`summarize_records`, inside the metric's bounds). A column without an interval (fewer than two
    defined seeds) gets no whisker. ``nulls`` (rows of :func:`gap_nulls` with ``method`` and ``metric``) adds a
    black tick per bar at the permutation null's mean: what exchangeable groups of the same sizes give."""
    summary = summarize_records(records, by=["method"], value_columns=columns)
    methods = [m for m in methods if m in summary.index]
    width = 0.8 / max(len(methods), 1)
    x = np.arange(len(columns))
    marked = False
    for k, method in enumerate(methods):
        s = summary.loc[method]
        mean = np.array([s[f"{c}_mean"] for c in columns], dtype=float)
        low = np.nan_to_num(mean - np.array([s[f"{c}_ci_low"] for c in columns], dtype=float))
        high = np.nan_to_num(np.array([s[f"{c}_ci_high"] for c in columns], dtype=float) - mean)
        where = x + (k - (len(methods) - 1) / 2) * width
        ax.bar(where, mean, width, yerr=[low, high], capsize=2, color=_COLOURS[method], label=METHOD_LABELS[method])
        if nulls is not None:
            for position, column in zip(where, columns):
                row = nulls[(nulls["method"] == method) & (nulls["metric"] == column)]
                if len(row) and np.isfinite(row["null_mean"].iloc[0]):
                    ax.plot([position - width / 2, position + width / 2], [row["null_mean"].iloc[0]] * 2,
                            color="black", lw=1.8, label=None if marked else "permutation null (mean)")
                    marked = True
    ax.set_xticks(x, labels, fontsize=7, rotation=20)
    ax.tick_params(labelsize=7)


def plot_group_fairness(records: pd.DataFrame, *, group_names: dict[str, Sequence[str]],
                        group_sizes: dict[str, Sequence[int]] | None = None, methods: Sequence[str],
                        per_group: Sequence[str] = ("accuracy", "eod_ovr"), nulls: pd.DataFrame | None = None,
                        title: str = "") -> Any:
    """Figs. 1-2: per (backbone, task) row, group-wise panels then the between-groups gaps.

    ``per_group`` chooses the per-group panels: ``accuracy`` (group accuracy), ``dpd_ovr`` / ``eod_ovr`` (each group
    against all others pooled, the authors' convention). The last panel shows the between-groups values
    (max - min over groups: accuracy gap, DPD, EOD), with a black tick per bar at the permutation null's mean
    when ``nulls`` (:func:`gap_nulls`) is given. Bars: mean over seeds; whiskers: 95% percentile-bootstrap
    interval of the mean (inside [0, 1]).
    """
    import matplotlib.pyplot as plt

    titles = {"accuracy": "group accuracy", "dpd_ovr": "DPD, group vs rest (lower = fairer)",
              "eod_ovr": "EOD, group vs rest (lower = fairer)"}
    cells = list(records.groupby(["backbone", "task"], sort=False).groups)
    ncols = len(per_group) + 1
    fig, axes = plt.subplots(len(cells), ncols, figsize=(3.3 * ncols, 2.5 * len(cells) + 0.7), squeeze=False)
    for i, (backbone, task) in enumerate(cells):
        part = records[(records["backbone"] == backbone) & (records["task"] == task)]
        names = list(group_names[task])
        sizes = (group_sizes or {}).get(task)
        ticks = [f"{g} ({n})" for g, n in zip(names, sizes)] if sizes is not None else names
        for j, prefix in enumerate(per_group):
            _bars(axes[i, j], part, columns=group_columns(prefix, names), labels=ticks, methods=methods)
            axes[i, j].set_title(f"{titles[prefix]}", fontsize=8)
        gaps = ["accuracy_gap", "dpd", "eo_max"]
        cell_nulls = None if nulls is None else nulls[(nulls["backbone"] == backbone) & (nulls["task"] == task)]
        _bars(axes[i, -1], part, columns=gaps, labels=[fm.METRICS[g].label for g in gaps], methods=methods,
              nulls=cell_nulls)
        axes[i, -1].set_title("between groups: max - min (lower = fairer)" + (
            "\nblack: permutation null" if cell_nulls is not None and len(cell_nulls) else ""), fontsize=8)
        if i == 0 and cell_nulls is not None and len(cell_nulls):
            axes[i, -1].legend(fontsize=6)
        axes[i, 0].set_ylabel(f"{backbone}\n{task}\n({part['seed'].nunique()} seeds)", fontsize=8)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_calibration(panels: Sequence[Any], *, n_bins: int = 15, title: str = "") -> Any:
    """Fig. 3: confidence histograms (top) and reliability diagrams (bottom), one column per panel.

    ``panels``: :class:`CalibrationPanel` s (``Evaluation.calibration_panels``), each with a ``title`` and
    ``by_method = {method: (y, probs)}``; each method is drawn in its colour with its ECE.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(panels), figsize=(3.6 * len(panels), 5.6), squeeze=False)
    edges = np.linspace(0, 1, n_bins + 1)
    for j, panel in enumerate(panels):
        name, by_method = textwrap.fill(panel.title, 48), panel.by_method
        top, bottom = axes[0, j], axes[1, j]
        for k, (method, (y, probs)) in enumerate(by_method.items()):
            table = fm.reliability_diagram(y, probs, n_bins=n_bins)
            ece = fm.expected_calibration_error(y, probs, n_bins=n_bins)
            colour, label = _COLOURS[method], f"{METHOD_LABELS[method]} (ECE {ece:.3f})"
            top.hist(probs.max(axis=1), bins=edges, histtype="step", lw=1.5, color=colour, label=label,
                     weights=np.full(len(probs), 1 / max(len(probs), 1)))
            filled = table["count"] > 0
            width = (edges[1] - edges[0]) / (len(by_method) + 0.5)
            centre = (table["bin_lower"] + table["bin_upper"]) / 2
            bottom.bar(centre[filled] + (k - (len(by_method) - 1) / 2) * width, table["accuracy"][filled], width,
                       color=colour, alpha=0.75, label=label)
        bottom.plot([0, 1], [0, 1], ls=":", color="purple", lw=1.2, label="perfect calibration")
        top.set_title(name, fontsize=8)
        top.set_xlabel("confidence (top-class probability)", fontsize=7)
        top.set_ylabel("share of examples", fontsize=7)
        bottom.set_xlabel("confidence", fontsize=7)
        bottom.set_ylabel("accuracy in bin", fontsize=7)
        bottom.set_xlim(0, 1)
        bottom.set_ylim(0, 1.02)
        for ax in (top, bottom):
            ax.tick_params(labelsize=7)
            ax.legend(fontsize=6, loc="upper left")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_ece_by_group(records: pd.DataFrame, table: pd.DataFrame, *, group_names: dict[tuple[str, str], Sequence[str]],
                      methods: Sequence[str] = ("lora", "full"), title: str = "") -> Any:
    """ECE per group (bars: mean over seeds, whiskers: 95% percentile-bootstrap interval of the mean, inside
    [0, 1]) per (domain, backbone, task); the worst group of each method (highest mean ECE) is outlined in black."""
    import matplotlib.pyplot as plt

    cells = list(records.groupby(["domain", "backbone", "task"], sort=False).groups)
    ncols = min(3, len(cells))
    nrows = -(-len(cells) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.8 * ncols, 2.9 * nrows + 0.5), squeeze=False)
    for ax in axes.ravel()[len(cells):]:
        ax.set_visible(False)
    for ax, (domain, backbone, task) in zip(axes.ravel(), cells):
        part = records[(records["domain"] == domain) & (records["backbone"] == backbone) & (records["task"] == task)]
        names = list(group_names[(domain, task)])
        _bars(ax, part, columns=group_columns("ece", names), labels=names, methods=methods)
        shown = [m for m in methods if m in set(part["method"])]
        width = 0.8 / max(len(shown), 1)
        for k, method in enumerate(shown):
            row = table[(table["domain"] == domain) & (table["backbone"] == backbone) & (table["task"] == task)
                        & (table["method"] == method)]
            if len(row):
                g = names.index(row["worst_group"].iloc[0])
                mean = row[f"ece[{names[g]}]_mean"].iloc[0]
                ax.bar(g + (k - (len(shown) - 1) / 2) * width, mean, width, fill=False, edgecolor="black", lw=1.6)
        ax.set_title(f"{backbone} / {task}\n(outlined: worst-calibrated group)", fontsize=8)
        ax.set_ylabel("ECE (lower = better)", fontsize=7)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_mia(result: MIAResult, *, fprs: Sequence[float] = (0.001, 0.01), title: str = "") -> Any:
    """Figs. 4-5: LiRA ROC curves per group on log-log axes for the LoRA and the full-FT target (the
    loss-threshold attack on the whole pool dashed), and the LiRA AUC per group with bootstrap 95% CIs."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(11.5, 3.6))
    colours = plt.get_cmap("tab10")
    floor = 1.0 / max(int((~result.is_member).sum()), 1)
    for ax, method in zip(axes[:2], ("lora", "full")):
        for g, name in enumerate((*result.group_names, "all")):
            rows = np.ones(len(result.s), bool) if name == "all" else result.s == g
            member = result.is_member[rows]
            if member.all() or not member.any():
                continue
            fpr, tpr, _ = roc_curve_points(result.scores["lira"][method][rows], member)
            auc = result.tables[("lira", method)].loc[name, "auc"]
            ax.plot(np.maximum(fpr, floor / 2), np.maximum(tpr, floor / 2), lw=2.0 if name == "all" else 1.0,
                    color="black" if name == "all" else colours(g), label=f"{name} (AUC {auc:.2f})")
        fpr, tpr, _ = roc_curve_points(result.scores["loss"][method], result.is_member)
        ax.plot(np.maximum(fpr, floor / 2), np.maximum(tpr, floor / 2), ls="--", color="gray", lw=1,
                label=f"loss threshold, all (AUC {result.tables[('loss', method)].loc['all', 'auc']:.2f})")
        ax.plot([floor / 2, 1], [floor / 2, 1], ls=":", color="silver", lw=1)
        for f in fprs:
            ax.axvline(f, color="silver", lw=0.6)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(floor / 2, 1)
        ax.set_ylim(floor / 2, 1.05)
        ax.set_xlabel("false-positive rate", fontsize=7)
        ax.set_ylabel("true-positive rate", fontsize=7)
        ax.set_title(f"LiRA on the {METHOD_LABELS[method]} target", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=5.5, loc="lower right")
    ax = axes[2]
    boot = result.auc_bootstrap
    names = [*result.group_names, "all"]
    x = np.arange(len(names))
    for k, method in enumerate(("lora", "full")):
        part = boot.xs(method, level="model").reindex(names)
        err = [np.nan_to_num(part["auc"] - part["ci_low"]), np.nan_to_num(part["ci_high"] - part["auc"])]
        ax.bar(x + (k - 0.5) * 0.4, part["auc"], 0.4, yerr=err, capsize=2, color=_COLOURS[method],
               label=METHOD_LABELS[method])
    ax.axhline(0.5, color="gray", ls=":", lw=1)
    ax.set_xticks(x, names, fontsize=7, rotation=20)
    # The axis reaches every whisker: nothing is clipped (AUC and its percentile interval lie in [0, 1]).
    shown = boot.loc[boot.index.get_level_values("model").isin(["lora", "full"]), ["auc", "ci_low", "ci_high"]]
    lowest = np.nanmin(shown.to_numpy(dtype=float)) if np.isfinite(shown.to_numpy(dtype=float)).any() else 0.3
    ax.set_ylim(max(0.0, min(0.3, lowest - 0.02)), 1.0)
    ax.set_ylabel("LiRA AUC (0.5 = chance)", fontsize=7)
    ax.set_title("AUC per group, bootstrap 95% CI", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_rank_ablation(ranks: pd.DataFrame, references: pd.DataFrame, *,
                       metrics: Sequence[str] = ("accuracy", "worst_group_accuracy", "dpd", "eo_max", "ece"), title: str = "") -> Any:
    """Metric vs LoRA rank (log axis; mean and 95% percentile-bootstrap interval of the mean over seeds, inside
    the metric's bounds); full FT and the base model dashed at their means."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(2.8 * len(metrics), 2.9), squeeze=False)
    summary = summarize_records(ranks, by=["rank"], value_columns=metrics)
    ref = summarize_records(references, by=["method"], value_columns=metrics)
    for ax, metric in zip(axes[0], metrics):
        mean = summary[f"{metric}_mean"].to_numpy(dtype=float)
        err = [np.nan_to_num(mean - summary[f"{metric}_ci_low"].to_numpy(dtype=float)),
               np.nan_to_num(summary[f"{metric}_ci_high"].to_numpy(dtype=float) - mean)]
        ax.errorbar(summary.index.to_numpy(), mean, yerr=err, marker="o", capsize=3, color=_COLOURS["lora"],
                    label="LoRA", markersize=4)
        for method in ("full", "probe"):
            if method in ref.index:
                ax.axhline(ref.loc[method, f"{metric}_mean"], ls="--", lw=1, color=_COLOURS[method],
                           label=METHOD_LABELS[method])
        ax.set_xscale("log", base=2)
        ax.set_xticks(summary.index.to_numpy(), [str(r) for r in summary.index])
        ax.minorticks_off()
        ax.set_title(_label(metric), fontsize=8)
        ax.set_xlabel("LoRA rank", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
