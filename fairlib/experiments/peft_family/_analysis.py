"""Notebook 06's tables, figures and claim rows: the PEFT family's fairness at a matched parameter budget."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from ... import evidence
from ... import metrics as fm
from ...claims import claims_of

__all__ = ["SUMMARY_METRICS", "summary_table", "group_accuracy_table", "plot_gap_vs_parameters",
           "plot_group_heatmap", "plot_accuracy_vs_gap", "claim_rows"]

SUMMARY_METRICS = ("accuracy", "worst_group_accuracy", "dpd", "eo_max")


def summary_table(records: pd.DataFrame, *, budget: str = "matched", lam: float = 0.0) -> pd.DataFrame:
    """Test metrics per (task, method): mean and bounded 95% interval over seeds, seeds, adapter parameters."""
    part = records[(records["split"] == "test") & (records["budget"] == budget) & (records["lam"] == lam)]
    rows = []
    for (task, method), g in part.groupby(["task", "method"], sort=False):
        row = {"task": task, "method": method, "method_label": g["method_label"].iloc[0], "kind": g["kind"].iloc[0],
               "task_label": g["task_label"].iloc[0], "stand_in": bool(g["stand_in"].iloc[0]),
               "seeds": int(g["seed"].nunique()), "adapter_parameters": int(g["adapter_parameters"].iloc[0]),
               "step_seconds": float(g["step_seconds"].mean())}
        for metric in SUMMARY_METRICS:
            s = fm.summarize_over_seeds(g[metric].to_numpy(dtype=float), metric=metric)
            row.update({f"{metric}_mean": s["mean"], f"{metric}_ci_low": s["ci_low"], f"{metric}_ci_high": s["ci_high"]})
        for gap in ("dpd", "eo_max"):
            if f"{gap}_null_mean" in g:
                row[f"{gap}_null_mean"] = float(g[f"{gap}_null_mean"].dropna().mean())
        rows.append(row)
    return pd.DataFrame(rows).set_index(["task", "method"])


def group_accuracy_table(records: pd.DataFrame, *, task: str, budget: str = "matched",
                         groups: Sequence[str] | None = None) -> pd.DataFrame:
    """Method x group mean test accuracy over seeds (the heat map's numbers), at ``lam = 0``.

    ``groups``: the task's group names, in order (default: every group with a recorded accuracy for ``task``).

    Raises
    ------
    ValueError
        If a group of ``groups`` has no recorded accuracy column.
    """
    part = records[(records["split"] == "test") & (records["budget"] == budget) & (records["lam"] == 0.0)
                   & (records["task"] == task)]
    if groups is None:
        columns = [c for c in part.columns if c.startswith("accuracy[") and part[c].notna().any()]
    else:
        columns = [f"accuracy[{g}]" for g in groups]
        missing = [c for c in columns if c not in part.columns]
        if missing:
            raise ValueError(f"groups {missing} of task {task!r} have no recorded accuracy; recorded: "
                             f"{[c for c in part.columns if c.startswith('accuracy[')]}")
    table = part.groupby("method_label", sort=False)[columns].mean()
    table.columns = [c[len("accuracy["):-1] for c in columns]
    table.index.name = "method"
    return table


def _colours(records: pd.DataFrame) -> dict:
    # One colour per method in every panel and figure (the methods' display order).
    import matplotlib.pyplot as plt

    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {label: cycle[i % len(cycle)] for i, label in enumerate(dict.fromkeys(records["method_label"]))}


def _panel_title(records: pd.DataFrame, task: str) -> str:
    row = records[records["task"] == task].iloc[0]
    return f"{row['task_label']} ({'stand-in' if row['stand_in'] else 'real data'})"


def plot_gap_vs_parameters(records: pd.DataFrame, *, metric: str = "dpd", title: str = "") -> Any:
    """Gap against trainable adapter parameters (log x), one marker per method and budget, one panel per task."""
    import matplotlib.pyplot as plt

    part = records[(records["split"] == "test") & (records["lam"] == 0.0) & (records["adapter_parameters"] > 0)]
    tasks = list(dict.fromkeys(part["task"]))
    colours = _colours(records)
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4.2), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for (label, budget), g in part[part["task"] == task].groupby(["method_label", "budget"], sort=False):
            s = fm.summarize_over_seeds(g[metric].to_numpy(dtype=float), metric=metric)
            x = g["adapter_parameters"].iloc[0]
            ax.errorbar([x], [s["mean"]], yerr=[[s["mean"] - s["ci_low"]], [s["ci_high"] - s["mean"]]],
                        fmt="o" if budget == "matched" else "s", capsize=3, color=colours[label], alpha=0.8,
                        label=f"{label} ({budget}, {g['seed'].nunique()} seeds)")
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xlabel("trainable adapter parameters (head excluded, log scale)")
        ax.set_ylabel(f"{fm.METRICS[metric].label} (test)")
        ax.set_title(_panel_title(records, task), fontsize=9)
        ax.legend(fontsize=6, ncol=2)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_group_heatmap(table: pd.DataFrame, *, title: str = "") -> Any:
    """Method x group accuracy heat map (:func:`seaborn.heatmap`), the value written in each cell."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(1.2 * table.shape[1] + 3, 0.4 * table.shape[0] + 1.5))
    sns.heatmap(table.astype(float), annot=True, fmt=".2f", cmap="viridis", vmin=0.0, vmax=1.0, ax=ax,
                annot_kws={"fontsize": 7}, cbar_kws={"label": "test accuracy (mean over seeds)"})
    ax.set_xlabel("group")
    ax.set_ylabel("method")
    ax.tick_params(axis="x", labelrotation=30)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_accuracy_vs_gap(summary: pd.DataFrame, *, metric: str = "dpd", title: str = "") -> Any:
    """Accuracy against a gap per method, bounded 95% intervals on both axes, one panel per task."""
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(summary.index.get_level_values("task")))
    colours = _colours(summary)
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4.2), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for method, r in summary.loc[task].iterrows():
            ax.errorbar([r[f"{metric}_mean"]], [r["accuracy_mean"]],
                        xerr=[[r[f"{metric}_mean"] - r[f"{metric}_ci_low"]], [r[f"{metric}_ci_high"] - r[f"{metric}_mean"]]],
                        yerr=[[r["accuracy_mean"] - r["accuracy_ci_low"]], [r["accuracy_ci_high"] - r["accuracy_mean"]]],
                        fmt="o", capsize=3, color=colours[r["method_label"]], alpha=0.8,
                        label=f"{r['method_label']} ({r['seeds']} seeds)")
        ax.set_xlabel(f"{fm.METRICS[metric].label} (test; lower is fairer)")
        ax.set_ylabel("accuracy (test)")
        ax.set_title(_panel_title(summary.reset_index(), task), fontsize=9)
        ax.legend(fontsize=6, ncol=2)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _paired(part: pd.DataFrame, a: str, b: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    sides = [part[part["method"] == m].set_index("seed")[metric].astype(float) for m in (a, b)]
    joined = pd.concat(sides, axis=1, join="inner").sort_index().dropna()
    return joined.iloc[:, 0].to_numpy(), joined.iloc[:, 1].to_numpy()


def claim_rows(records: pd.DataFrame, *, tasks: dict, profile: str) -> list[dict]:
    """Notebook 06's catalogue claims (:func:`fairlib.claims.claims_of` ``"06"``) through the claims engine.

    ``06.lora_not_less_fair``: LoRA minus every other adapter at the matched budget, per task and gap, paired by
    seed, Holm-corrected together (non-inferiority with the catalogue's margin). ``06.gap_vs_parameters``: the
    slope of DPD on log2(adapter parameters) over every run of every adapter and budget (and BitFit, full FT).
    ``06.variance_term_worst_group``: each adapter with the variance term (best lambda on validation) minus
    without, worst-group accuracy; not run when the profile runs no lambda. Stand-in tasks never decide.
    """
    test = records[records["split"] == "test"]
    rows = []
    for c in claims_of("06"):
        real, stand = {}, {}
        if c.id == "06.lora_not_less_fair":
            part = test[(test["budget"] == "matched") & (test["lam"] == 0.0) & (test["kind"] == "adapter")]
            for task, g in part.groupby("task"):
                for other in [m for m in dict.fromkeys(g["method"]) if m != "lora"]:
                    for metric in c.metric.split("+"):
                        a, b = _paired(g, "lora", other, metric)
                        if len(a) >= 2:
                            (stand if tasks[task].stand_in else real)[f"{tasks[task].label} | LoRA - {other} | {metric}"] = \
                                {"a": a, "b": b, "metric": metric}
        elif c.id == "06.gap_vs_parameters":
            part = test[(test["lam"] == 0.0) & (test["adapter_parameters"] > 0)]
            for task, g in part.groupby("task"):
                (stand if tasks[task].stand_in else real)[tasks[task].label] = {
                    "x": g["adapter_parameters"].to_numpy(dtype=float), "y": g[c.metric].to_numpy(dtype=float)}
        elif c.id == "06.variance_term_worst_group":
            val = records[(records["split"] == "val") & (records["budget"] == "matched") & (records["lam"] > 0)]
            if val.empty:
                rows.append(evidence.not_run(c.id, evidence.Reason.PROFILE,
                                             data=f"no variance_lambdas at the {profile} profile"))
                continue
            for (task, method), g in val.groupby(["task", "method"]):
                lam = g.groupby("lam")[c.metric].mean().idxmax()
                t = test[(test["task"] == task) & (test["method"] == method) & (test["budget"] == "matched")]
                both = t[t["lam"].isin([0.0, lam])].assign(method=lambda d: np.where(d["lam"] > 0, "with", "without"))
                a, b = _paired(both, "with", "without", c.metric)
                if len(a) >= 2:
                    (stand if tasks[task].stand_in else real)[f"{tasks[task].label} | {method}"] = {"a": a, "b": b}
        if real:
            rows.append(evidence.evaluate(c.id, comparisons=real, data=f"test split; {profile} profile"))
        elif stand:
            rows.append(evidence.evaluate(c.id, comparisons=stand, stand_in=True,
                                          data=f"stand-in tasks only; test split; {profile} profile"))
        else:
            rows.append(evidence.not_run(c.id, evidence.Reason.PROFILE, data=f"nothing to compare at {profile}"))
    return rows
