"""Notebook 03's claim rows, each from :mod:`fairlib.evidence` under its catalogue id (:mod:`fairlib.claims`).

Every comparison is seed-paired (same task, same seed) against Erm, one per task (and per gap for the claims
that span the three gaps); the engine applies Holm over them and decides from the interval. On stand-in data
(the smoke and test profiles) a claim about CelebA / UTK-Face is ``not run (stand-in)``, with the stand-in's
result under ``evidence``.
"""

from __future__ import annotations

from typing import Any

from ... import evidence
from ...claims import MARGINS, claims_of
from ...methods.privacy_strategies import task_label
from ._grid import NOTEBOOK
from ._tasks import is_stand_in

__all__ = ["CLAIM_STRATEGY", "claim_comparisons", "claim_rows", "claims_table"]

#: Catalogue id -> the strategy it compares with Erm (B = Erm in every claim of paper 3).
CLAIM_STRATEGY = {"p3.orth.reduces_bias": "orth", "p3.orth.keeps_utility": "orth", "p3.adv.fpr_gap": "adv",
                  "p3.adv.dpd": "adv", "p3.unl.no_clear_benefit": "unl"}


def claim_comparisons(runs: Any, claim_id: str, *, baseline: str = "erm") -> dict:
    """The seed-paired comparisons of one claim: ``{"<task label> <metric>": {"a", "b", "metric"[, "margin"]}}``.

    ``a`` holds the strategy's per-seed values and ``b`` Erm's, over the seeds both ran (in seed order).
    """
    from ...claims import claim

    c = claim(claim_id)
    strategy = CLAIM_STRATEGY[claim_id]
    metrics = c.metric.split("+")
    out = {}
    for task in dict.fromkeys(runs.task):
        part = runs[runs.task == task]
        a = part[part.strategy == strategy].set_index("seed")
        b = part[part.strategy == baseline].set_index("seed")
        seeds = sorted(set(a.index) & set(b.index))
        for metric in metrics:
            label = task_label(task) if len(metrics) == 1 else f"{task_label(task)}: {metric}"
            comp = {"a": a.loc[seeds, metric].to_numpy(float), "b": b.loc[seeds, metric].to_numpy(float),
                    "metric": metric}
            if c.kind == "equivalence":
                comp["margin"] = MARGINS[metric]
            out[label] = comp
    return out


def claim_rows(runs: Any, *, config: Any, profile: str) -> list[dict]:
    """One engine row per catalogue claim of notebook 03, in catalogue order.

    Parameters
    ----------
    runs : pandas.DataFrame
        :func:`~fairlib.experiments.privacy.collect`'s rows.
    config : fairlib.config.PrivacyLoraConfig
        Decides whether the data stand in for the paper's (then every row is ``not run (stand-in)``).
    profile : str
    """
    tasks = ", ".join(task_label(t) for t in dict.fromkeys(runs.task))
    seeds = runs.seed.nunique()
    data = f"{config.backbone} backbone; {tasks}; {profile} profile, {seeds} seeds, paired with Erm by seed"
    return [evidence.evaluate(c.id, comparisons=claim_comparisons(runs, c.id), data=data,
                              stand_in=is_stand_in(config))
            for c in claims_of(NOTEBOOK)]


def claims_table(rows: list[dict]) -> Any:
    """The claim rows as a table: statement, verdict (and reason), the deciding comparison and its interval;
    for a ``not run (stand-in)`` row, the stand-in's own verdict and interval beside it."""
    import pandas as pd

    def interval(r: dict) -> str:
        if r is None or r.get("ci_low") is None:
            return ""
        return f"{r['estimate']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}] ({r['level']:.0%}, n = {r['n']})"

    records = []
    for r in rows:
        shown = r["evidence"] if r["evidence"] else r
        records.append({"id": r["id"], "statement": r["statement"], "kind": r["kind"],
                        "verdict": r["verdict"] + (f" ({r['reason']})" if r["reason"] else ""),
                        "deciding comparison": r.get("deciding") or "", "metric": r["metric"],
                        "estimate [interval]": interval(shown if shown.get("ci_low") is not None else None),
                        "stand-in verdict": r["evidence"]["verdict"] if r["evidence"] else ""})
    return pd.DataFrame.from_records(records).set_index("id")
