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

__all__ = ["CLAIM_STRATEGY", "POWER_SEEDS", "claim_comparisons", "claim_rows", "claims_table", "reading_notes"]

#: Seeds per seed-paired comparison below which a claim is underpowered (issue 12; the claims engine's).
POWER_SEEDS = evidence.MIN_SEEDS

#: Catalogue id -> the strategy it compares with Erm (B = Erm in every claim of paper 3).
CLAIM_STRATEGY = {"p3.orth.reduces_bias": "orth", "p3.orth.keeps_utility": "orth",
                  "p3.orth.reduces_bias.shift": "orth_shift", "p3.orth.keeps_utility.shift": "orth_shift",
                  "p3.orth.reduces_bias.olora": "orth_olora", "p3.orth.keeps_utility.olora": "orth_olora",
                  "p3.adv.fpr_gap": "adv", "p3.adv.dpd": "adv", "p3.unl.no_clear_benefit": "unl"}


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
        Decides whether the data stand in for the paper's (then every row is ``not run (stand-in)``, and its
        ``evidence`` holds the stand-in's own verdict and interval, with ``mde`` and ``seeds_needed``).
    profile : str
    """
    tasks = ", ".join(task_label(t) for t in dict.fromkeys(runs.task))
    stand_in = is_stand_in(config)
    every = runs.seed.nunique()
    rows = []
    for c in claims_of(NOTEBOOK):
        strategy = CLAIM_STRATEGY[c.id]
        seeds = runs[runs.strategy == strategy].seed.nunique()
        data = f"{config.backbone} backbone; {tasks}; {profile} profile, {seeds} seeds, paired with Erm by seed"
        comparisons = claim_comparisons(runs, c.id)
        row = evidence.evaluate(c.id, comparisons=comparisons, data=data, stand_in=stand_in)
        if row["evidence"]:
            # The stand-in's own test, complete: its minimum detectable effect and seeds needed beside its verdict.
            own = evidence.evaluate(c.id, comparisons=comparisons, data=data, stand_in=False)
            row["evidence"].update(mde=own["mde"], seeds_needed=own["seeds_needed"])
        notes = [(row.get("detail") or {}).get("power")]  # a stand-in row's, from the claims engine
        if seeds < every:
            notes.append(f"{strategy} runs on the configuration's variant_seeds = {seeds} of the {every} seeds only "
                         f"(the smoke budget)")
        elif seeds < POWER_SEEDS and notes[0] is None:
            notes.append(f"{seeds} seeds per comparison, fewer than {POWER_SEEDS}: read its verdict as underpowered")
        if any(notes):
            row["detail"] = {**(row.get("detail") or {}), "power": "; ".join(n for n in notes if n)}
        rows.append(row)
    return rows


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


def _seed_counts(rows: list[dict]) -> list[int]:
    return [int(shown["n"]) for r in rows for shown in [r["evidence"] or r] if shown.get("n") is not None]


def reading_notes(rows: list[dict], *, nulls: Any) -> str:
    """The numbers of "Reading the results", generated from the claim rows and the permutation-null table.

    Parameters
    ----------
    rows : list of dict
        :func:`claim_rows`.
    nulls : pandas.DataFrame
        :func:`~fairlib.experiments.privacy.null_table`.

    Returns
    -------
    str
        Markdown bullets: the seeds each claim's comparisons rest on (and whether that meets
        :data:`POWER_SEEDS`), the verdicts (the stand-in's own where the row is ``not run (stand-in)``) with the
        minimum detectable effect and seeds needed of every inconclusive one, and how many mean gaps lie above
        their permutation null's 95th percentile.
    """
    fewer = [r["id"] for r in rows if "variant_seeds" in (r.get("detail") or {}).get("power", "")]
    counts = _seed_counts([r for r in rows if r["id"] not in fewer]) or _seed_counts(rows)
    low, high = min(counts), max(counts)
    seeds = f"{low}" if low == high else f"{low} to {high}"
    lines = [f"- **Seeds.** Every comparison the claims rest on has {seeds} seeds per strategy, paired with Erm by "
             f"seed."]
    if fewer:
        lines[0] = lines[0].replace("Every comparison the claims rest on", "Every comparison of the other claims")
        lines.insert(0, f"- **Orth variants on fewer seeds.** {', '.join(f'`{i}`' for i in fewer)} rest on "
                        f"{min(_seed_counts([r for r in rows if r['id'] in fewer]))} seeds (the variants' "
                        f"`variant_seeds`; each row's `detail` says so): underpowered by design.")
    if low >= POWER_SEEDS:
        lines[-1] += f" That meets the target of at least {POWER_SEEDS} per comparison."
    else:
        lines[-1] += (f" That is fewer than the target of {POWER_SEEDS} per comparison, so every claim stays "
                     f"underpowered at this profile; each inconclusive row's seeds needed says what its observed "
                     f"spread would need.")
        if rows and all(r["reason"] == evidence.Reason.STAND_IN.value for r in rows):
            lines[-1] += (f" No verdict rests on these runs (every claim is `not run (stand-in)`), so the smoke "
                          f"profile gives them the full profile's number of seeds and keeps {POWER_SEEDS} for the "
                          f"comparisons that decide a verdict (`fairlib.config.STANDIN_SEEDS`).")
    verdicts: dict[str, list[str]] = {}
    inconclusive = []
    for r in rows:
        shown = r["evidence"] or r
        verdicts.setdefault(shown["verdict"], []).append(r["id"])
        if shown["verdict"] == "inconclusive":
            if shown.get("mde") is None:
                inconclusive.append(f"`{r['id']}` (no spread to state a detectable effect from)")
                continue
            needed = shown.get("seeds_needed")
            needed = ("seeds cannot resolve it: its observed effect is nil or beyond the engine's cap"
                      if needed is None else f"its observed effect would need {needed} seeds")
            inconclusive.append(f"`{r['id']}` (minimum detectable effect {shown['mde']:.3f} at n = {shown['n']}; "
                                f"{needed})")
    stand_in = any(r["evidence"] for r in rows)
    which = "Stand-in verdicts (the paper's data did not run)" if stand_in else "Verdicts"
    lines.append(f"- **{which}.** " + "; ".join(f"{v}: {len(ids)} ({', '.join(f'`{i}`' for i in ids)})"
                                               for v, ids in verdicts.items()) + ".")
    if inconclusive:
        lines.append("- **Inconclusive.** " + "; ".join(inconclusive) + ".")
    above = int((nulls["observed"] > nulls["null_q95"]).sum())
    lines.append(f"- **Gaps beside noise.** {above} of the {len(nulls)} mean gaps (task x strategy x gap) lie above "
                 f"the 95th percentile of their permutation null (averaged over seeds); the other "
                 f"{len(nulls) - above} are within what exchangeable groups of the same sizes produce.")
    return "\n".join(lines)
