"""The papers' claims re-tested on notebook 05's common tasks, through the claims engine (:mod:`fairlib.evidence`).

Each catalogue claim of notebook 05 (:func:`fairlib.claims.claims_of`) names two methods; on every task where both
ran, their per-seed test values at the chosen settings (paired by seed: same split, same seed) form one comparison
per metric, all Holm-corrected together under the claim. Only tasks on real data decide a verdict; a claim that only
stand-in tasks could test is ``not run (stand-in)`` with the stand-in's result as its evidence. The parameter counts
of paper 4's Adult MLP are checks, not claims.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from ... import evidence
from ...claims import claims_of

__all__ = ["CLAIM_METHODS", "CLAIM_METRICS", "claim_rows", "claims_table", "paired_values"]

#: Catalogue id -> (A, B): the methods whose paired difference A - B each claim tests.
CLAIM_METHODS = {
    "x.p1.lora_not_less_fair": ("lora", "full"),
    "x.p2.fairlora_vs_lora": ("fairlora", "lora"),
    "x.p2.fairlora_vs_fair_fft": ("fairlora", "fair_full"),
    "x.p3.orth_lowers_dpd": ("orth", "erm"),
    "x.p3.orth_keeps_accuracy": ("orth", "erm"),
    "x.p3.unl_no_clear_benefit": ("unl", "erm"),
    "x.p4.fisher_vs_tl": ("fisher_svd", "tl"),
}
#: The catalogue's metric names -> the recorded columns (``error`` is paper 4's 100 - weighted F1).
CLAIM_METRICS = {"error": "weighted_f1_error"}
_CHECKS = {"check.x.parameters_ours": "fisher_svd", "check.x.parameters_retrain": "full"}


def paired_values(chosen: pd.DataFrame, *, task: str, a: str, b: str, metric: str,
                  split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """Per-seed values of methods ``a`` and ``b`` on ``task`` (seeds both have, in seed order; NaN pairs dropped)."""
    part = chosen[(chosen["task"] == task) & (chosen["split"] == split)]
    sides = []
    for method in (a, b):
        rows = part[part["method"] == method]
        if rows["seed"].duplicated().any():
            raise ValueError(f"method {method!r} has more than one record per seed on {task!r}: select settings first")
        sides.append(rows.set_index("seed")[metric].astype(float))
    joined = pd.concat(sides, axis=1, join="inner").sort_index().dropna()
    return joined.iloc[:, 0].to_numpy(), joined.iloc[:, 1].to_numpy()


def claim_rows(chosen: pd.DataFrame, *, tasks: Mapping[str, Any], profile: str) -> list[dict]:
    """Every claim and check row of notebook 05 (:func:`fairlib.evidence.validate_row` holds for each).

    Parameters
    ----------
    chosen : DataFrame
        Records at the chosen settings (:func:`chosen_records`).
    tasks : mapping
        Task key -> object with ``label`` and ``stand_in`` (a :class:`BenchmarkTask`).
    profile : str
        Named in each row's ``data``.
    """
    rows: list[dict] = []
    present = chosen.groupby("task")["method"].agg(lambda m: set(m)).to_dict()
    for c in claims_of("05"):
        a, b = CLAIM_METHODS[c.id]
        real: dict[str, dict] = {}
        stand_in: dict[str, dict] = {}
        for key, methods in present.items():
            if not {a, b} <= methods:
                continue
            for metric in c.metric.split("+"):
                va, vb = paired_values(chosen, task=key, a=a, b=b, metric=CLAIM_METRICS.get(metric, metric))
                if len(va) < 2:
                    continue
                comparison = {"a": va, "b": vb, "metric": metric}
                (stand_in if tasks[key].stand_in else real)[f"{tasks[key].label} | {metric}"] = comparison
        # each task named with the seeds its comparisons rest on (a task a profile limits to fewer seeds shows it)
        names = lambda part: ", ".join(dict.fromkeys(f"{label.split(' | ')[0]} ({len(c['a'])} seeds)"  # noqa: E731
                                                     for label, c in part.items()))
        if real:
            row = evidence.evaluate(c.id, comparisons=real, data=f"{names(real)}; test split, paired by seed; "
                                                                 f"{profile} profile")
            if stand_in:
                stand = evidence.evaluate(c.id, comparisons=stand_in, data=names(stand_in))
                row["evidence"] = {"stand-in": names(stand_in), **{k: stand[k] for k in (
                    "estimate", "ci_low", "ci_high", "level", "n", "verdict", "deciding")}}
            rows.append(row)
        elif stand_in:
            rows.append(evidence.evaluate(c.id, comparisons=stand_in, stand_in=True,
                                          data=f"{names(stand_in)} (stand-in); test split; {profile} profile"))
        else:
            rows.append(evidence.not_run(c.id, evidence.Reason.PROFILE,
                                         data=f"{a} and {b} did not both run on a task of the {profile} profile"))
    adult = chosen[(chosen["task"] == "adult") & (chosen["split"] == "test")]
    for check_id, method in _CHECKS.items():
        counts = adult.loc[adult["method"] == method, "trainable_parameters"]
        if len(counts):
            rows.append(evidence.check_row(check_id, float(counts.iloc[0]),
                                           data=f"Adult MLP, {method}; {profile} profile"))
    return rows


def claims_table(rows: list[dict]) -> pd.DataFrame:
    """The rows as a table: verdict, the deciding comparison and its interval, n, and the reason or check value."""
    records = []
    for row in rows:
        if row["kind"] == "check":
            records.append({"id": row["id"], "statement": row["statement"], "kind": "check",
                            "verdict": "holds" if row["holds"] else "does not hold",
                            "estimate": row["value"], "expected": row["expected"]})
            continue
        records.append({"id": row["id"], "statement": row["statement"], "kind": row["kind"], "verdict": row["verdict"],
                        "reason": row["reason"], "metric": row["metric"], "deciding": row.get("deciding"),
                        "estimate": row["estimate"], "ci_low": row["ci_low"], "ci_high": row["ci_high"],
                        "level": row.get("level"), "margin": row["margin"], "n": row["n"], "mde": row["mde"],
                        "seeds_needed": row["seeds_needed"], "data": row["data"],
                        "stand-in evidence": None if not row.get("evidence") else
                        f"{row['evidence'].get('verdict')} [{row['evidence'].get('ci_low')}, "
                        f"{row['evidence'].get('ci_high')}]"})
    return pd.DataFrame.from_records(records).set_index("id")
