"""Figures of notebook 02: metrics against lambda and against the LoRA rank, per-group F1 of each method.

Metrics are labelled with :data:`fairlib.metrics.METRICS` labels; whiskers are 95% percentile-bootstrap intervals of
the mean over seeds, inside the metrics' bounds (:data:`WHISKERS`, written in every figure's title). Given the
permutation nulls (:func:`gap_nulls`), every point of a gap panel carries a grey dash at its null's mean: what
exchangeable groups of the same sizes give.
Every regularised curve or bar names its reading of the groups (per-class, the paper's headline; class x
attribute subgroups); the number of seeds behind each point is written in the figure.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from ...metrics import METRICS
from ._evaluation import FAIRNESS_METRICS, label_order, reading_records, summarize_records
from ._grid import READINGS, method_label

#: What the whiskers are, in every figure's title (:func:`summarize_records`' interval).
WHISKERS = "whiskers: 95% percentile-bootstrap interval of the mean over seeds"

__all__ = ["plot_lambda_sweep", "plot_rank_sweep", "plot_group_f1"]


def _title(metric: str) -> str:
    info = METRICS[metric]
    return info.label + ("" if info.higher_is_better else " (lower = fairer)")


# -- figures ---------------------------------------------------------------------------------------------------
_COLOURS = {"lora": "tab:blue", "full": "tab:orange", "LoRA": "tab:blue", "FairLoRA": "tab:green",
            "FFT": "tab:orange", "Fair FFT": "tab:red"}
#: Line style of each reading (solid: per-class, the paper's; dashed: class x attribute subgroups).
_STYLES = {"class": "-", "class_attribute": "--"}
#: Colours of the methods' labels (per reading a lighter / darker shade).
_LABEL_COLOURS = {"LoRA": "tab:blue", method_label("FairLoRA", "class"): "tab:green",
                  method_label("FairLoRA", "class_attribute"): "yellowgreen", "FFT": "tab:orange",
                  method_label("Fair FFT", "class"): "tab:red", method_label("Fair FFT", "class_attribute"): "lightcoral"}


#: How a gap's permutation null is drawn beside its point: a grey horizontal dash at the null's mean.
_NULL_STYLE = dict(marker="_", ms=11, mew=2.2, color="0.55", ls="none", zorder=1)
_NULL_LABEL = "permutation null (mean)"


def _null_means(nulls: pd.DataFrame | None, metric: str, **filters: Any) -> dict:
    """``{lam: null mean}`` of the null rows of ``metric`` matching ``filters`` (column -> value or set)."""
    if nulls is None or not len(nulls):
        return {}
    part = nulls[nulls["metric"] == metric]
    for column, value in filters.items():
        part = part[part[column].isin(value)] if isinstance(value, (set, list, tuple)) else part[part[column] == value]
    return dict(zip(part["lam"].astype(float), part["null_mean"].astype(float)))


def _seed_counts(records: pd.DataFrame, by: Sequence[str]) -> str:
    """``"n seeds"`` or ``"a-b seeds"``: the range of the number of test seeds behind each point."""
    test = records[records["split"] == "test"]
    n = test.groupby(list(by), observed=True)["seed"].nunique()
    return f"{n.min()} seeds" if n.min() == n.max() else f"{n.min()}-{n.max()} seeds per point"


def _null_count(nulls: pd.DataFrame) -> str:
    """How the nulls were drawn, for a caption: permutations and the seed they use."""
    n = sorted(set(nulls["n_permutations"]))
    return f"{'/'.join(map(str, n))} permutations of the groups on each point's first seed"


def _errorbar(ax: Any, x: np.ndarray, summary: pd.DataFrame, metric: str, **kwargs: Any) -> None:
    mean = summary[f"{metric}_mean"].to_numpy(dtype=float)
    low = np.nan_to_num(mean - summary[f"{metric}_ci_low"].to_numpy(dtype=float))
    high = np.nan_to_num(summary[f"{metric}_ci_high"].to_numpy(dtype=float) - mean)
    ax.errorbar(x, mean, yerr=[low, high], capsize=3, marker="o", **kwargs)


def plot_lambda_sweep(records: pd.DataFrame, *, metrics: Sequence[str] = (*FAIRNESS_METRICS, "accuracy"),
                      selection_metric: str = "min_group_f1", best: pd.DataFrame | None = None,
                      nulls: pd.DataFrame | None = None, title: str = "") -> Any:
    """Metric vs lambda (log axis; lambda = 0 drawn at the left edge), one line per adaptation, 95% CI bars.

    One row of panels per backbone: the test metrics, then the validation ``selection_metric`` that chooses
    lambda (the chosen lambda circled when ``best`` is given). ``nulls`` (rows of :func:`gap_nulls`) adds a grey
    dash per point of a gap panel at its permutation null's mean.
    """
    import matplotlib.pyplot as plt

    backbones = list(dict.fromkeys(records["backbone"]))
    lams = np.sort(records["lam"].unique())
    positive = lams[lams > 0]
    zero_at = positive.min() / 10 if len(positive) else 1.0
    panels = [(m, "test") for m in metrics] + [(selection_metric, "val")]
    fig, axes = plt.subplots(len(backbones), len(panels), figsize=(2.6 * len(panels), 2.5 * len(backbones) + 0.6),
                             squeeze=False)
    for i, backbone in enumerate(backbones):
        part = records[records["backbone"] == backbone]
        for j, (metric, split) in enumerate(panels):
            ax = axes[i, j]
            for k, groups in enumerate(g for g in READINGS if g in set(part["groups"])):
                summary = summarize_records(reading_records(part, groups), by=["adaptation", "lam"], split=split,
                                            value_columns=[metric])
                for adaptation, name, dodge in (("lora", "LoRA / FairLoRA", 0.9), ("full", "FFT / Fair FFT", 1.04)):
                    if adaptation not in summary.index.get_level_values(0):
                        continue
                    s = summary.loc[adaptation]
                    dodge *= 1.0 + 0.05 * k
                    # a small multiplicative offset keeps the lines' error bars apart on the log axis
                    x = np.where(s.index.to_numpy() > 0, s.index.to_numpy(), zero_at) * dodge
                    _errorbar(ax, x, s, metric, color=_COLOURS[adaptation], ls=_STYLES[groups],
                              label=f"{name}, {READINGS[groups]}", markersize=4)
                    if split == "test":
                        ranks = set(part.loc[part["adaptation"] == adaptation, "rank"])
                        null = {**_null_means(nulls, metric, backbone=backbone, adaptation=adaptation,
                                              groups="none", rank=ranks),
                                **_null_means(nulls, metric, backbone=backbone, adaptation=adaptation,
                                              groups=groups, rank=ranks)}
                        lams = s.index.to_numpy(dtype=float)
                        at = [(xi, null[lam]) for xi, lam in zip(x, lams) if lam in null]
                        if at:
                            ax.plot(*zip(*at), **_NULL_STYLE,
                                    label=_NULL_LABEL if (i, j, k, adaptation) == (0, 0, 0, "lora") else None)
                    if best is not None and split == "val":
                        table = best.reset_index()
                        chosen = table[(table["backbone"] == backbone) & (table["adaptation"] == adaptation)
                                       & (table["groups"] == groups)]["lam"]
                        for lam in chosen:
                            ax.plot([lam * dodge], [s.loc[lam, f"{metric}_mean"]], "o", ms=11, mfc="none",
                                    color=_COLOURS[adaptation])
            ax.set_xscale("log")
            ax.set_ylim(-0.03, 1.03)  # every metric here, and its interval, lies in [0, 1]
            ticks = [zero_at, *positive]
            ax.set_xticks(ticks, ["0", *[f"{v:g}" for v in positive]], fontsize=7)
            ax.minorticks_off()
            ax.set_title(f"{_title(metric)}\n[{split}]", fontsize=8)
            ax.set_xlabel("lambda", fontsize=8)
            ax.tick_params(labelsize=7)
            if j == 0:
                ax.set_ylabel(backbone, fontsize=8)
    axes[0, 0].legend(fontsize=6)
    marked = nulls is not None and len(nulls) > 0
    fig.suptitle(f"{title}\nreadings of the groups: solid per-class (the paper's), dashed class x attribute "
                 f"subgroups; lambda = 0: {_seed_counts(records[records['lam'] == 0], ['adaptation'])}, lambda > 0: "
                 f"{_seed_counts(records[records['lam'] > 0], ['adaptation', 'groups', 'lam'])}"
                 + (f"; grey dashes: permutation null of the gap ({_null_count(nulls)})" if marked else "")
                 + f"\n{WHISKERS}", fontsize=9)
    fig.tight_layout()
    return fig


def plot_rank_sweep(records: pd.DataFrame, comparison: pd.DataFrame, *,
                    metrics: Sequence[str] = ("min_group_f1", "eo_max", "accuracy"),
                    nulls: pd.DataFrame | None = None, title: str = "") -> Any:
    """Metric vs LoRA rank for LoRA and FairLoRA per reading (test, 95% CI); FFT and Fair FFT (per reading) as
    horizontal references. ``nulls`` (rows of :func:`gap_nulls`) adds a grey dash per point of a gap panel at
    its permutation null's mean."""
    import matplotlib.pyplot as plt

    backbones = list(dict.fromkeys(records["backbone"]))
    fig, axes = plt.subplots(len(backbones), len(metrics), figsize=(3.2 * len(metrics), 2.6 * len(backbones) + 0.6),
                             squeeze=False)
    for i, backbone in enumerate(backbones):
        part = records[records["backbone"] == backbone]
        ref = summarize_records(comparison[comparison["backbone"] == backbone], by=["label"], value_columns=metrics)
        for j, metric in enumerate(metrics):
            ax = axes[i, j]
            summary = summarize_records(part, by=["label", "rank"], value_columns=[metric])
            present = summary.index.get_level_values(0)
            for k, label in enumerate(l for l in label_order() if "FFT" not in l and l in present):
                s = summary.loc[label]
                x = s.index.to_numpy() * (0.92 + 0.06 * k)
                _errorbar(ax, x, s, metric, color=_LABEL_COLOURS[label], label=label, markersize=4)
                if nulls is not None and len(nulls):
                    mine = part[part["label"] == label]
                    at = []
                    for xi, rank in zip(x, s.index):
                        lam = set(mine.loc[mine["rank"] == rank, "lam"].astype(float))
                        value = _null_means(nulls, metric, backbone=backbone, label=label, rank=rank, lam=lam)
                        at += [(xi, v) for v in value.values()]
                    if at:
                        ax.plot(*zip(*at), **_NULL_STYLE, label=_NULL_LABEL if (i, k) == (0, 0) else None)
            for label in (l for l in label_order() if "FFT" in l and l in ref.index):
                ax.axhline(ref.loc[label, f"{metric}_mean"], color=_LABEL_COLOURS[label],
                           ls=":" if "subgroups" in label else "--", lw=1, label=label)
            ax.set_xscale("log", base=2)
            ax.set_ylim(-0.03, 1.03)
            ranks = sorted(summary.index.get_level_values("rank").unique())
            ax.set_xticks(ranks, [str(r) for r in ranks])
            ax.minorticks_off()
            ax.set_title(_title(metric), fontsize=8)
            ax.set_xlabel("LoRA rank", fontsize=8)
            ax.tick_params(labelsize=7)
            if j == 0:
                ax.set_ylabel(backbone, fontsize=8)
    axes[0, 0].legend(fontsize=6)
    marked = nulls is not None and len(nulls) > 0
    fig.suptitle(f"{title}\nFairLoRA per reading of the groups (per-class: the paper's); "
                 f"{_seed_counts(records, ['label', 'rank'])}"
                 + (f"; grey dashes: permutation null of the gap ({_null_count(nulls)})" if marked else "")
                 + f"\n{WHISKERS}", fontsize=9)
    fig.tight_layout()
    return fig


def plot_group_f1(comparison: pd.DataFrame, *, group_names: Sequence[str], title: str = "") -> Any:
    """Per-group test F1 of each method, regularised ones per reading (bars: mean over seeds, whiskers: 95%
    percentile-bootstrap interval of the mean), one panel per backbone."""
    import matplotlib.pyplot as plt

    backbones = list(dict.fromkeys(comparison["backbone"]))
    columns = [f"f1[{g}]" for g in group_names]
    fig, axes = plt.subplots(1, len(backbones), figsize=(7.0 * len(backbones), 3.6), squeeze=False)
    width = 0.8 / len(group_names)
    for ax, backbone in zip(axes[0], backbones):
        summary = summarize_records(comparison[comparison["backbone"] == backbone], by=["label"],
                                    value_columns=columns)
        methods = [m for m in label_order() if m in summary.index]
        x = np.arange(len(methods))
        for k, (group, column) in enumerate(zip(group_names, columns)):
            s = summary.loc[methods]
            mean = s[f"{column}_mean"].to_numpy(dtype=float)
            err = [np.nan_to_num(mean - s[f"{column}_ci_low"].to_numpy(dtype=float)),
                   np.nan_to_num(s[f"{column}_ci_high"].to_numpy(dtype=float) - mean)]
            ax.bar(x + (k - (len(group_names) - 1) / 2) * width, mean, width, yerr=err, capsize=3,
                   label=f"group: {group}")
        ax.set_xticks(x, [m.replace(" [", "\n[") for m in methods], fontsize=6)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("test F1", fontsize=8)
        ax.set_title(backbone, fontsize=8)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{title}\n[per-class]: the paper's reading of the groups; [class x attribute subgroups]: the "
                 f"other; {_seed_counts(comparison, ['label'])}\nbars: mean; {WHISKERS}", fontsize=9)
    fig.tight_layout()
    return fig
