"""The papers' claims re-tested on notebook 05's common tasks."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ._evaluation import METRIC_LABELS
from ._selection import paired_difference

__all__ = ["claim_rows"]


def _better_verdict(s: dict) -> str:
    if s["n"] >= 2 and s["ci_low"] > 0:
        return "reproduced"
    if s["n"] and s["mean"] > 0:
        return "same direction, not significant"
    return "not reproduced"


def _not_worse_verdict(s: dict, what: str) -> str:
    if s["n"] >= 2 and s["ci_high"] < 0:
        return f"not reproduced ({what})"
    return "reproduced"


def claim_rows(chosen: pd.DataFrame, *, task_labels: dict[str, str] | None = None) -> list[dict]:
    """The four papers' claims, re-tested on each common task with seed-paired differences (test split).

    ``ours`` is the mean per-seed difference oriented so that positive favours the claim's method (gaps:
    baseline minus method). Verdicts: "reproduced" when the 95% CI of the difference excludes 0 in the claim's
    direction, "same direction, not significant" when only the mean does, else "not reproduced"; for claims of
    the form "X is not less fair than Y", "reproduced" unless X is significantly less fair. Parameter counts are
    compared exactly. A claim whose methods did not run on a task is left out for that task.
    """
    rows: list[dict] = []
    labels = task_labels or {}
    present = chosen.groupby("task")["method"].agg(lambda m: set(m)).to_dict()

    def add(claim: str, task: str, paper: Any, s: dict, verdict: str) -> None:
        rows.append({"claim": f"{claim} [{labels.get(task, task)}]", "paper": paper, "ours": s["mean"],
                     "ours_std": s["std"], "verdict": verdict, "ci": (s["ci_low"], s["ci_high"]), "n": s["n"],
                     "task": task})

    for task, methods in present.items():
        if {"lora", "full"} <= methods:
            for metric in ("eo_max", "dpd"):
                s = paired_difference(chosen, task=task, method="lora", baseline="full", metric=metric)
                add(f"Paper 1: LoRA not less fair than full FT, {METRIC_LABELS[metric]} (full FT - LoRA)", task,
                    "LoRA not consistently less fair", s, _not_worse_verdict(s, "LoRA significantly less fair"))
        for baseline, name in (("lora", "LoRA"), ("fair_full", "fair full FT")):
            if {"fairlora", baseline} <= methods:
                s = paired_difference(chosen, task=task, method="fairlora", baseline=baseline, metric="min_group_f1")
                add(f"Paper 2: FairLoRA fairer than {name}, min-group F1 (improvement)", task, f"FairLoRA > {name}",
                    s, _better_verdict(s))
        if {"orth", "erm"} <= methods:
            s = paired_difference(chosen, task=task, method="orth", baseline="erm",
                                  metric="dpd")
            acc = paired_difference(chosen, task=task, method="orth", baseline="erm", metric="accuracy")
            verdict = _better_verdict(s)
            if acc["n"] >= 2 and acc["ci_high"] < 0 and verdict != "not reproduced":
                verdict = "not reproduced (accuracy significantly lower)"
            add("Paper 3: Orth lowers the DP gap vs Erm and keeps accuracy, DP difference (Erm - Orth)", task,
                "reduces bias, keeps utility", s, verdict)
        if {"unl", "erm"} <= methods:
            s = paired_difference(chosen, task=task, method="unl", baseline="erm",
                                  metric="dpd")
            clear = s["n"] >= 2 and s["ci_low"] > 0
            add("Paper 3: Unl gives no clear benefit, DP difference (Erm - Unl)", task, "no clear benefit", s,
                "not reproduced (Unl clearly lowers the DP gap)" if clear else "reproduced")
        if {"fisher_svd", "tl"} <= methods:
            for metric in ("dpd", "eo_sum", "weighted_f1_error"):
                s = paired_difference(chosen, task=task, method="fisher_svd", baseline="tl", metric=metric)
                add(f"Paper 4: Fisher-neutralised SVD better than TL, {METRIC_LABELS[metric]} (TL - OURS)", task,
                    "OURS < TL", s, _better_verdict(s))
        if task == "adult":
            test = chosen[(chosen["task"] == task) & (chosen["split"] == "test")]
            for method, paper, name in (("fisher_svd", 46, "Fisher-neutralised SVD"),
                                        ("full", 742, "retraining (full FT)")):
                if method in methods:
                    count = int(test.loc[test["method"] == method, "trainable_parameters"].iloc[0])
                    rows.append({"claim": f"Paper 4: trainable parameters of {name} on the Adult MLP", "paper": paper,
                                 "ours": count, "verdict": "reproduced" if count == paper else "not reproduced",
                                 "task": task})
    return rows

