"""LiRA per group on notebook 06's attacked task: every method's target against shadows of its own method.

Each method that runs at the matched level ``lira_level`` (and each reference at its own size) trains one target on
a random half of a candidate pool and ``lira_shadows`` shadows on balanced halves (:func:`jobs` lists them); the
online LiRA score of each candidate compares the target's logit-scaled confidence with the shadows' IN and OUT
Gaussians (:func:`fairlib.methods.membership.lira_scores`), and the attack's AUC and TPR at a low FPR are read per
group (:func:`fairlib.methods.membership.mia_by_group`), with percentile-bootstrap intervals over the candidates.
"""

from __future__ import annotations

import dataclasses
import textwrap
import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ...methods import membership as mi
from ..lora_vs_full import bootstrap_auc
from ._grid import LIRA_TARGET, _load_task, _profile, _store, jobs, lira_membership, lira_pool, lira_role
from ...methods.peft_family import PEFT_METHODS, get_peft_method

__all__ = ["LiraResult", "lira_by_group", "plot_lira_by_group", "LIRA_FPR"]

#: The low false-positive rate at which the attack's TPR is read (1%: a 200-candidate pool resolves it).
LIRA_FPR = 0.01


@dataclasses.dataclass
class LiraResult:
    """The attack on every method's target: ``table`` (one row per method and group, then ``"all"``), the
    per-candidate ``scores`` per method, and the pool's membership, labels and groups."""

    task: str | None
    group_names: tuple[str, ...]
    is_member: np.ndarray
    shadow_in: np.ndarray
    y: np.ndarray
    s: np.ndarray
    scores: dict[str, np.ndarray]
    table: pd.DataFrame
    reason: str | None = None

    def describe(self) -> str:
        """One sentence: for how many methods the whole-pool AUC interval contains 0.5, or why no attack ran."""
        if self.table.empty:
            return f"LiRA not run: {self.reason or 'no LiRA run in the grid'}"
        chance = self.at_chance()
        return (f"whole-pool AUC interval contains 0.5 (chance) for {len(chance)} of {len(self.scores)} methods"
                + (f": {', '.join(chance)}" if chance else ""))

    def auc_table(self) -> pd.DataFrame:
        """Method x group AUC (the whole pool in column ``all``); empty when no attack ran."""
        if self.table.empty:
            return pd.DataFrame()
        return self.table.pivot_table(index="method_label", columns="group", values="auc", sort=False)

    def at_chance(self) -> list[str]:
        """The methods whose whole-pool AUC interval contains 0.5: the attack does not tell their members apart."""
        if self.table.empty:
            return []
        pool = self.table[self.table["group"] == "all"]
        return pool.loc[(pool["auc_ci_low"] <= 0.5) & (pool["auc_ci_high"] >= 0.5), "method"].tolist()


def lira_by_group(profile: Any, specs: Sequence[Any] | None = None, *, store: Any = None) -> LiraResult:
    """Online LiRA (global variance) on each method's stored target, per group of the candidate pool.

    Parameters
    ----------
    profile : str or Profile
        ``peft_family.lira_task`` names the attacked task (None, or a task not among ``peft_family.tasks``: no
        attack; the result's table is empty and its ``reason`` says why).
    specs : sequence of RunSpec, optional
        The grid (default :func:`jobs`); its LiRA runs must be stored.

    Returns
    -------
    LiraResult
        ``table`` columns: ``method, method_label, kind, budget, adapter_parameters, trainable_parameters, group,
        n_members, n_nonmembers, auc, auc_ci_low, auc_ci_high, tpr@1%fpr, min_resolvable_fpr, shadows``.

    Raises
    ------
    RuntimeError
        If a LiRA run is not stored (run the grid first).
    """
    profile = _profile(profile)
    cfg = profile.peft_family
    if not cfg.attacks:
        empty = np.zeros(0)
        reason = ("peft_family.lira_task is None" if cfg.lira_task is None else
                  f"the attacked task {cfg.lira_task!r} (peft_family.lira_task) is not among tasks {cfg.tasks}")
        return LiraResult(task=None, group_names=(), is_member=empty.astype(bool), shadow_in=empty.astype(bool),
                          y=empty, s=empty, scores={}, table=pd.DataFrame(), reason=reason)
    specs = [s for s in (specs if specs is not None else jobs(profile)) if lira_role(s) is not None]
    task = _load_task(cfg.lira_task, profile, store=store, pretrained=False)
    pool = lira_pool(task, profile)
    is_member, shadow_in = lira_membership(cfg)
    logits: dict[str, dict[str, np.ndarray]] = {}
    meta: dict[str, dict] = {}
    for spec in specs:
        stored = _store(spec, store).load(spec.to_dict())
        if stored is None:
            raise RuntimeError(f"LiRA run {spec.describe()} is not stored: run the grid first "
                               f"(run_jobs(jobs(profile)))")
        record, tensors = stored
        logits.setdefault(spec.method, {})[lira_role(spec)] = tensors["pool_logits"].numpy().astype(np.float64)
        if lira_role(spec) == LIRA_TARGET:
            meta[spec.method] = {"budget": spec.param("budget"), "adapter_parameters": record["adapter_parameters"],
                                 "trainable_parameters": record["trainable_parameters"]}
    scores, rows = {}, []
    key = f"tpr@{LIRA_FPR * 100:.6g}%fpr"  # mia_by_group's column name
    for method in [m for m in PEFT_METHODS if m in logits]:
        runs = logits[method]
        shadow_phi = np.stack([mi.logit_scaled_confidence_from_logits(runs[f"lira shadow {i}"], pool.y)
                               for i in range(cfg.lira_shadows)])
        target_phi = mi.logit_scaled_confidence_from_logits(runs[LIRA_TARGET], pool.y)
        scores[method] = mi.lira_scores(target_phi, shadow_phi, shadow_in, online=True, global_variance=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # a group without members shows as a NaN row
            table = mi.mia_by_group(scores[method], is_member, sensitive_features=pool.s,
                                    group_names=list(pool.group_names), fprs=(LIRA_FPR,))
        boot = bootstrap_auc({method: scores[method]}, is_member, groups=pool.s, group_names=list(pool.group_names),
                             n_boot=cfg.lira_bootstrap, seed=cfg.lira_seed, difference=None).xs(method, level="model")
        info = get_peft_method(method)
        for group, row in table.iterrows():
            rows.append({"method": method, "method_label": info.label, "kind": info.kind, **meta[method],
                         "group": group, "n_members": int(row["n_members"]), "n_nonmembers": int(row["n_nonmembers"]),
                         "auc": float(row["auc"]), "auc_ci_low": float(boot.loc[group, "ci_low"]),
                         "auc_ci_high": float(boot.loc[group, "ci_high"]), key: float(row[key]),
                         "min_resolvable_fpr": float(row["min_resolvable_fpr"]), "shadows": int(cfg.lira_shadows)})
    return LiraResult(task=cfg.lira_task, group_names=tuple(pool.group_names), is_member=is_member,
                      shadow_in=shadow_in, y=pool.y, s=pool.s, scores=scores, table=pd.DataFrame(rows))


def plot_lira_by_group(result: LiraResult, *, title: str = "") -> Any:
    """Heat map of LiRA's AUC, method x group (then the whole pool), each cell annotated with the AUC and its 95%
    bootstrap interval; colours centred on 0.5 (chance), red where the attack tells members apart."""
    import matplotlib.pyplot as plt

    table = result.table
    if table.empty:
        fig, ax = plt.subplots(figsize=(5, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, textwrap.fill(f"LiRA not run: {result.reason or 'no LiRA run in the grid'}", 80),
                ha="center", va="center", fontsize=8)
        return fig
    methods = list(dict.fromkeys(table["method"]))
    groups = [*result.group_names, "all"]
    grid = table.pivot(index="method", columns="group", values="auc").reindex(index=methods, columns=groups)
    low = table.pivot(index="method", columns="group", values="auc_ci_low").reindex(index=methods, columns=groups)
    high = table.pivot(index="method", columns="group", values="auc_ci_high").reindex(index=methods, columns=groups)
    labels = dict(zip(table["method"], table["method_label"]))
    values = grid.to_numpy(dtype=float)
    spread = max(0.05, float(np.nanmax(np.abs(values - 0.5))) if np.isfinite(values).any() else 0.05)
    fig, ax = plt.subplots(figsize=(1.35 * len(groups) + 2.4, 0.42 * len(methods) + 1.8))
    image = ax.imshow(values, cmap="RdBu_r", vmin=0.5 - spread, vmax=0.5 + spread, aspect="auto")
    for i in range(len(methods)):
        for j in range(len(groups)):
            if np.isfinite(values[i, j]):
                dark = abs(values[i, j] - 0.5) > 0.6 * spread  # white on the saturated ends of the scale
                ax.text(j, i, f"{values[i, j]:.2f}\n[{low.iat[i, j]:.2f}, {high.iat[i, j]:.2f}]", ha="center",
                        va="center", fontsize=6, color="white" if dark else "black")
    ax.set_xticks(range(len(groups)), groups, fontsize=7, rotation=20, ha="right")
    ax.set_yticks(range(len(methods)), [labels[m] for m in methods], fontsize=7)
    ax.axvline(len(groups) - 1.5, color="black", lw=0.8)
    fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02).set_label("LiRA AUC (0.5 = chance)", fontsize=7)
    ax.set_title(textwrap.fill(title, 90), fontsize=8)
    fig.tight_layout()
    return fig
