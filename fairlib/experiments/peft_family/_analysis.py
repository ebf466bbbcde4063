"""Notebook 06's tables, figures and claim rows: the PEFT family's fairness at a matched parameter budget."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from ... import evidence
from ... import metrics as fm
from ...claims import claims_of
from ...config import OWN_SIZE

__all__ = ["SUMMARY_METRICS", "summary_table", "comparison_budget", "group_table", "group_accuracy_table",
           "group_metrics_long", "plot_gap_vs_parameters",
           "plot_group_heatmap", "plot_accuracy_vs_gap", "claim_rows"]

SUMMARY_METRICS = ("accuracy", "worst_group_accuracy", "dpd", "eo_max", "ece", "worst_group_ece")


def summary_table(records: pd.DataFrame, *, lam: float = 0.0) -> pd.DataFrame:
    """Test metrics per (task, budget, method): mean and bounded 95% interval over seeds, seeds, adapter parameters.

    ``budget`` names the budget (``"matched 0.1%"``, ``"recipe"``, ``"own size"`` for the references).
    """
    part = records[(records["split"] == "test") & (records["lam"] == lam)]
    rows = []
    for (task, budget, method), g in part.groupby(["task", "budget", "method"], sort=False):
        row = {"task": task, "budget": budget, "method": method, "method_label": g["method_label"].iloc[0],
               "kind": g["kind"].iloc[0], "task_label": g["task_label"].iloc[0], "stand_in": bool(g["stand_in"].iloc[0]),
               "seeds": int(g["seed"].nunique()), "adapter_parameters": int(g["adapter_parameters"].iloc[0]),
               "step_seconds": float(g["step_seconds"].mean())}
        for metric in SUMMARY_METRICS:
            s = fm.summarize_over_seeds(g[metric].to_numpy(dtype=float), metric=metric)
            row.update({f"{metric}_mean": s["mean"], f"{metric}_ci_low": s["ci_low"], f"{metric}_ci_high": s["ci_high"]})
        for gap in ("dpd", "eo_max"):
            if f"{gap}_null_mean" in g:
                row[f"{gap}_null_mean"] = float(g[f"{gap}_null_mean"].dropna().mean())
        rows.append(row)
    return pd.DataFrame(rows).set_index(["task", "budget", "method"])


def comparison_budget(records: pd.DataFrame, task: str) -> str:
    """The matched budget of ``task`` at which the most adapters ran (ties: the larger level): the heat maps'."""
    part = records[(records["task"] == task) & records["budget"].str.startswith("matched")]
    if part.empty:
        raise ValueError(f"task {task!r} has no run at a matched budget; budgets run: "
                         f"{sorted(records.loc[records['task'] == task, 'budget'].unique())}")
    counts = part.groupby("budget").agg(methods=("method", "nunique"), level=("level", "first"))
    return counts.sort_values(["methods", "level"]).index[-1]


def group_table(records: pd.DataFrame, *, task: str, budget: str, metric: str = "accuracy",
                groups: Sequence[str] | None = None) -> pd.DataFrame:
    """Method x group mean test ``metric`` over seeds at ``budget`` (and the references, ``"own size"``), ``lam = 0``.

    ``metric``: a per-group column of the records (``accuracy``, ``f1``, ``ece``, ``selection_rate``, ...).
    ``groups``: the task's group names, in order (default: every group with a recorded value for ``task``).

    Raises
    ------
    ValueError
        If a group of ``groups`` has no recorded column, or ``budget`` has no run for ``task``.
    """
    part = records[(records["split"] == "test") & records["budget"].isin([budget, OWN_SIZE]) & (records["lam"] == 0.0)
                   & (records["task"] == task)]
    if not (part["budget"] == budget).any():
        raise ValueError(f"budget {budget!r} has no run for task {task!r}; budgets run: "
                         f"{sorted(records.loc[records['task'] == task, 'budget'].unique())}")
    if groups is None:
        columns = [c for c in part.columns if c.startswith(f"{metric}[") and part[c].notna().any()]
    else:
        columns = [f"{metric}[{g}]" for g in groups]
        missing = [c for c in columns if c not in part.columns]
        if missing:
            raise ValueError(f"groups {missing} of task {task!r} have no recorded {metric}; recorded: "
                             f"{[c for c in part.columns if c.startswith(f'{metric}[')]}")
    table = part.groupby("method_label", sort=False)[columns].mean()
    table.columns = [c[len(metric) + 1:-1] for c in columns]
    table.index.name = "method"
    return table


def group_accuracy_table(records: pd.DataFrame, *, task: str, budget: str,
                         groups: Sequence[str] | None = None) -> pd.DataFrame:
    """Method x group mean test accuracy over seeds (the heat map's numbers): :func:`group_table` of accuracy."""
    return group_table(records, task=task, budget=budget, metric="accuracy", groups=groups)


def group_metrics_long(records: pd.DataFrame, *, metrics: Sequence[str] = ("accuracy", "f1", "ece")) -> pd.DataFrame:
    """Per task, budget, method and group: each per-group ``metric``'s test mean over seeds, and the seeds (``lam = 0``).

    The names are :data:`fairlib.metrics.METRICS`' (``f1``: the group's F1 of the positive class, macro over
    classes for more than two; ``ece``: the group's expected calibration error, 15 bins).
    """
    part = records[(records["split"] == "test") & (records["lam"] == 0.0)]
    rows = []
    for (task, budget, method), g in part.groupby(["task", "budget", "method"], sort=False):
        groups = [c[len("accuracy["):-1] for c in g.columns if c.startswith("accuracy[") and g[c].notna().any()]
        for group in groups:
            rows.append({"task": task, "budget": budget, "method": method, "method_label": g["method_label"].iloc[0],
                         "group": group, "seeds": int(g["seed"].nunique()),
                         **{m: float(g[f"{m}[{group}]"].mean()) for m in metrics}})
    return pd.DataFrame(rows)


def _colours(records: pd.DataFrame) -> dict:
    # One distinct colour per method, fixed by the family's display order (PEFT_METHODS), so a method has the
    # same colour in every panel, figure and selection: tab20's ten strong colours first, then their light pairs;
    # a label outside the registry gets one after them.
    import matplotlib.pyplot as plt
    import seaborn as sns

    from ...methods.peft_family import PEFT_METHODS

    labels = list(dict.fromkeys([m.label for m in PEFT_METHODS.values()] + list(records["method_label"])))
    tab20 = plt.get_cmap("tab20").colors
    palette = (tab20[0::2] + tab20[1::2]) if len(labels) <= 20 else sns.color_palette("husl", len(labels))
    return {label: palette[i] for i, label in enumerate(labels)}


#: Marker per budget: each matched level its own, the recipe a square, the references (own size) a diamond.
_MARKERS = ("v", "o", "^", "P", "X", "*")


def _markers(budgets: Sequence[str]) -> dict:
    matched = sorted({b for b in budgets if b.startswith("matched")}, key=lambda b: float(b.split()[1].rstrip("%")))
    out = {b: _MARKERS[i % len(_MARKERS)] for i, b in enumerate(matched)}
    out.update({"recipe": "s", OWN_SIZE: "D"})
    return out


def _legend_below(fig: Any, colours: dict, markers: dict, seeds: dict) -> None:
    """Two legends under the panels, where they cover no point: colour = method, marker = budget (with its seeds)."""
    from matplotlib.lines import Line2D

    methods = [Line2D([], [], color=c, marker="o", linestyle="", label=label) for label, c in colours.items()]
    budgets = [Line2D([], [], color="0.35", marker=markers[b], linestyle="", label=f"{b} ({seeds[b]} seeds)")
               for b in markers if b in seeds]
    fig.legend(handles=methods, title="method (colour)", loc="upper left", bbox_to_anchor=(0.0, 0.0),
               ncol=min(len(methods), 7), fontsize=7, title_fontsize=7, frameon=False)
    fig.legend(handles=budgets, title="budget (marker); whiskers: 95% interval over seeds", loc="upper right",
               bbox_to_anchor=(1.0, 0.0), ncol=1, fontsize=7, title_fontsize=7, frameon=False)


def _seed_counts(part: pd.DataFrame) -> dict:
    # Per budget, the seeds behind its points ("3", or "3-10" where tasks or methods differ): one point per task
    # and method, so its seeds are counted per task and method.
    out = {}
    for budget, g in part.groupby("budget", sort=False):
        counts = sorted(set(g.groupby(["task", "method_label"])["seed"].nunique()) if "seed" in g else set(g["seeds"]))
        out[budget] = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    return out


def _panel_title(records: pd.DataFrame, task: str) -> str:
    row = records[records["task"] == task].iloc[0]
    return f"{row['task_label']} ({'stand-in' if row['stand_in'] else 'real data'})"


def plot_gap_vs_parameters(records: pd.DataFrame, *, metric: str = "dpd", title: str = "") -> Any:
    """Gap against trainable adapter parameters (log x), one point per method and budget, one panel per task.

    Colour = method (the same in every panel and figure), marker = budget (one per matched level, squares at
    the recipe, diamonds for the references at their own size); the legends under the panels name both and the
    seeds behind each budget. Whiskers: 95% interval over seeds. Methods at one budget share a parameter count
    (that is what matching means), so their points are spread sideways by at most +-8% of x to stay legible.
    """
    import matplotlib.pyplot as plt

    part = records[(records["split"] == "test") & (records["lam"] == 0.0) & (records["adapter_parameters"] > 0)]
    tasks = list(dict.fromkeys(part["task"]))
    colours = _colours(records[records["split"] == "test"])  # the same colours as every other figure of 06
    markers = _markers(list(dict.fromkeys(records["budget"])))
    order = {label: i for i, label in enumerate(colours)}
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4.2), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        here = part[part["task"] == task]
        for (label, budget), g in here.groupby(["method_label", "budget"], sort=False):
            s = fm.summarize_over_seeds(g[metric].to_numpy(dtype=float), metric=metric)
            peers = list(dict.fromkeys(here.loc[here["budget"] == budget, "method_label"]))
            k, i = len(peers), peers.index(label)
            x = g["adapter_parameters"].iloc[0] * 10 ** (0.035 * (i - (k - 1) / 2) / max(1, (k - 1) / 2) if k > 1 else 0.0)
            ax.errorbar([x], [s["mean"]], yerr=[[s["mean"] - s["ci_low"]], [s["ci_high"] - s["mean"]]],
                        fmt=markers[budget], capsize=3, color=colours[label], alpha=0.85, markersize=6,
                        zorder=2 + order[label] / 100)
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xlabel("trainable adapter parameters (head excluded, log scale)")
        ax.set_ylabel(f"{fm.METRICS[metric].label} (test)")
        ax.set_title(_panel_title(records, task), fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    _legend_below(fig, {k: c for k, c in colours.items() if k in set(part["method_label"])}, markers,
                  _seed_counts(part))
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


def plot_accuracy_vs_gap(summary: pd.DataFrame, *, budgets: dict, metric: str = "dpd", title: str = "") -> Any:
    """Accuracy against a gap per method, bounded 95% intervals over seeds on both axes, one panel per task.

    ``budgets``: per task, the budget shown (with the references, own size); each panel's title names it.
    Colour = method, marker = budget, as in :func:`plot_gap_vs_parameters`; the legends are under the panels.
    """
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(summary.index.get_level_values("task")))
    everything = summary.reset_index()
    flat = everything[everything.apply(lambda r: r["budget"] in (budgets[r["task"]], OWN_SIZE), axis=1)]
    colours = _colours(everything)  # the same colours and markers as every other figure of 06
    markers = _markers(list(dict.fromkeys(everything["budget"])))
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4.2), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        shown = summary.loc[task]
        shown = shown[shown.index.get_level_values("budget").isin([budgets[task], OWN_SIZE])]
        for (budget, method), r in shown.iterrows():
            ax.errorbar([r[f"{metric}_mean"]], [r["accuracy_mean"]],
                        xerr=[[r[f"{metric}_mean"] - r[f"{metric}_ci_low"]], [r[f"{metric}_ci_high"] - r[f"{metric}_mean"]]],
                        yerr=[[r["accuracy_mean"] - r["accuracy_ci_low"]], [r["accuracy_ci_high"] - r["accuracy_mean"]]],
                        fmt=markers[budget], capsize=3, color=colours[r["method_label"]], alpha=0.85, markersize=6)
        ax.set_xlabel(f"{fm.METRICS[metric].label} (test; lower is fairer)")
        ax.set_ylabel("accuracy (test)")
        ax.set_title(f"{_panel_title(summary.reset_index(), task)}, {budgets[task]}", fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    _legend_below(fig, {k: c for k, c in colours.items() if k in set(flat["method_label"])}, markers,
                  _seed_counts(flat))
    return fig


def _paired(part: pd.DataFrame, a: str, b: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    sides = [part[part["method"] == m].set_index("seed")[metric].astype(float) for m in (a, b)]
    joined = pd.concat(sides, axis=1, join="inner").sort_index().dropna()
    return joined.iloc[:, 0].to_numpy(), joined.iloc[:, 1].to_numpy()


def claim_rows(records: pd.DataFrame, *, tasks: dict, profile: str) -> list[dict]:
    """Notebook 06's catalogue claims (:func:`fairlib.claims.claims_of` ``"06"``) through the claims engine.

    ``06.lora_not_less_fair``: LoRA minus every other adapter at each matched budget, per task and gap, paired by
    seed, Holm-corrected together (non-inferiority with the catalogue's margin). ``06.gap_vs_parameters``: the
    slope of DPD on log2(adapter parameters) over every run of every adapter and budget (and BitFit, full FT).
    ``06.variance_term_worst_group``: each adapter at each matched budget with the variance term (its lambda the
    best mean validation worst-group accuracy, as notebook 02 chooses) minus without, worst-group accuracy; not run when the profile runs no lambda. Stand-in tasks never decide.
    """
    test = records[records["split"] == "test"]
    rows = []
    for c in claims_of("06"):
        real, stand = {}, {}
        if c.id == "06.lora_not_less_fair":
            part = test[test["budget"].str.startswith("matched") & (test["lam"] == 0.0) & (test["kind"] == "adapter")]
            for (task, budget), g in part.groupby(["task", "budget"]):
                for other in [m for m in dict.fromkeys(g["method"]) if m != "lora"]:
                    for metric in c.metric.split("+"):
                        a, b = _paired(g, "lora", other, metric)
                        if len(a) >= 2:
                            (stand if tasks[task].stand_in else real)[
                                f"{tasks[task].label} | {budget} | LoRA - {other} | {metric}"] = \
                                {"a": a, "b": b, "metric": metric}
        elif c.id == "06.gap_vs_parameters":
            part = test[(test["lam"] == 0.0) & (test["adapter_parameters"] > 0)]
            for task, g in part.groupby("task"):
                (stand if tasks[task].stand_in else real)[tasks[task].label] = {
                    "x": g["adapter_parameters"].to_numpy(dtype=float), "y": g[c.metric].to_numpy(dtype=float)}
        elif c.id == "06.variance_term_worst_group":
            val = records[(records["split"] == "val") & records["budget"].str.startswith("matched") & (records["lam"] > 0)]
            if val.empty:
                rows.append(evidence.not_run(c.id, evidence.Reason.PROFILE,
                                             data=f"no variance_lambdas at the {profile} profile"))
                continue
            for (task, budget, method), g in val.groupby(["task", "budget", "method"]):
                lam = g.groupby("lam")[c.metric].mean().idxmax()
                t = test[(test["task"] == task) & (test["method"] == method) & (test["budget"] == budget)]
                both = t[t["lam"].isin([0.0, lam])].assign(method=lambda d: np.where(d["lam"] > 0, "with", "without"))
                a, b = _paired(both, "with", "without", c.metric)
                if len(a) >= 2:
                    (stand if tasks[task].stand_in else real)[f"{tasks[task].label} | {budget} | {method}"] = \
                        {"a": a, "b": b}
        if real:
            rows.append(evidence.evaluate(c.id, comparisons=real, data=f"test split; {profile} profile"))
        elif stand:
            rows.append(evidence.evaluate(c.id, comparisons=stand, stand_in=True,
                                          data=f"stand-in tasks only; test split; {profile} profile"))
        else:
            rows.append(evidence.not_run(c.id, evidence.Reason.PROFILE, data=f"nothing to compare at {profile}"))
    return rows
