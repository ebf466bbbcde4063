"""Notebook 02's claim rows, from the claims engine (:mod:`fairlib.evidence`) and the catalogue
(:mod:`fairlib.claims`, ids ``p2.*``).

Every claim is tested on each reading of FairLoRA's groups: ``p2.<claim>`` on the per-class reading (the
paper's headline), ``p2.<claim>.subgroups`` on the class x attribute subgroups (:data:`CLAIM_SUFFIX`). A
reading that the profile does not run gives ``not run (profile)`` rows.

Every comparison is paired by seed (same seed = same initialisation and batch order) on the test split; with
several backbones each backbone is one comparison under the claim (Holm-corrected by the engine). On a
stand-in (the Waterbirds-like set) every row is ``not run (stand-in data)`` with the stand-in's result kept
beside it under ``evidence``: the catalogue's claims are about the paper's data.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ... import evidence
from ...claims import claims_of
from ._evaluation import per_seed, reading_records
from ._grid import CLAIM_SUFFIX, READINGS

__all__ = ["claim_rows", "claims_table", "OTHERS", "reading_of_claim"]

#: Catalogue topic -> the method FairLoRA is compared with.
OTHERS = {"vs_lora": "LoRA", "vs_fair_fft": "Fair FFT"}


def _paired(records: pd.DataFrame, a: dict, b: dict, metric: str) -> dict:
    both = pd.concat({"a": per_seed(records, a, metric), "b": per_seed(records, b, metric)}, axis=1, join="inner")
    both = both.dropna()  # a seed where either side is undefined (NaN) does not enter the comparison
    return {"a": both["a"].to_numpy(), "b": both["b"].to_numpy()}


def reading_of_claim(claim_id: str) -> tuple[str, str]:
    """``(groups, base id)`` of a claim of notebook 02: ``"p2.vs_lora.f1_gap.subgroups"`` ->
    ``("class_attribute", "p2.vs_lora.f1_gap")``; an id without a reading suffix is the per-class reading."""
    for groups, suffix in CLAIM_SUFFIX.items():
        if suffix and claim_id.endswith(suffix):
            return groups, claim_id[: -len(suffix)]
    return "class", claim_id


def claim_rows(comparison: pd.DataFrame, ranks: pd.DataFrame, *, ranks_swept: Sequence[int], stand_in: bool,
               data: str, groupings: Sequence[str] = tuple(READINGS)) -> list[dict]:
    """One engine row per catalogue claim of notebook 02.

    Parameters
    ----------
    comparison : DataFrame
        Records of the compared methods (:func:`comparison_records`): LoRA and FFT (``groups`` "none"),
        FairLoRA and fair FFT per reading (``groups``) at their chosen lambda.
    ranks : DataFrame
        Records of the rank sweep (:func:`rank_sweep_records`), with the same ``groups`` column.
    ranks_swept : sequence of int
        The ranks of the sweep; the low-rank claim compares the smallest with the largest.
    stand_in : bool
        The data stand in for the paper's: every row is ``not run (stand-in data)``, its result under
        ``evidence``.
    data : str
        What the numbers come from, recorded in each row (the reading is appended).
    groupings : sequence of str
        The readings the profile ran; a claim of another reading is ``not run (profile)``.

    Returns
    -------
    list of dict
        Rows valid for :func:`fairlib.evidence.validate_row`, in catalogue order.
    """
    backbones = list(dict.fromkeys(comparison["backbone"]))
    lo, hi = min(ranks_swept), max(ranks_swept)
    rows = []
    for c in claims_of("02"):
        groups, base = reading_of_claim(c.id)
        said = f"{data}; {READINGS[groups]} reading"
        if groups not in groupings:
            rows.append(evidence.not_run(c, evidence.Reason.PROFILE, data=said))
            continue
        comparisons = {}
        for backbone in backbones:
            comp = reading_records(comparison[comparison["backbone"] == backbone], groups)
            part = reading_records(ranks[ranks["backbone"] == backbone], groups)
            topic = base.split(".")[1]
            if topic in OTHERS:
                comparisons[backbone] = _paired(comp, {"method": "FairLoRA"}, {"method": OTHERS[topic]}, c.metric)
            elif base == "p2.rank.not_needed":
                fair = part[(part["split"] == "test") & (part["method"] == "FairLoRA")].dropna(subset=[c.metric])
                comparisons[backbone] = {"x": fair["rank"].to_numpy(dtype=float),
                                         "y": fair[c.metric].to_numpy(dtype=float)}
            elif base == "p2.rank.low_rank_fairlora_vs_high_rank_lora":
                comparisons[backbone] = _paired(part, {"method": "FairLoRA", "rank": lo},
                                                {"method": "LoRA", "rank": hi}, c.metric)
            else:
                raise KeyError(f"claim {c.id} of notebook 02 has no test here; add it to claim_rows")
        rows.append(evidence.evaluate(c, comparisons=comparisons, data=said, stand_in=stand_in))
    return rows


def claims_table(rows: Sequence[dict], *, profile: str) -> pd.DataFrame:
    """The rows as a table: verdict, the interval that decided it (or the stand-in's, under ``evidence``)."""
    out = []
    for row in rows:
        shown = row["evidence"] if row.get("evidence") else row
        out.append({"id": row["id"], "reading": READINGS[reading_of_claim(row["id"])[0]],
                    "statement": row["statement"], "kind": row["kind"], "metric": row["metric"],
                    "verdict": row["verdict"], "reason": row["reason"],
                    "estimate": shown.get("estimate"), "ci_low": shown.get("ci_low"), "ci_high": shown.get("ci_high"),
                    "level": shown.get("level"), "n": shown.get("n"),
                    "evidence_verdict": row["evidence"]["verdict"] if row.get("evidence") else None,
                    "margin": row["margin"], "mde": row["mde"], "seeds_needed": row["seeds_needed"],
                    "profile": profile})
    table = pd.DataFrame(out).set_index("id")
    return table.replace({np.nan: None}) if len(table) else table
