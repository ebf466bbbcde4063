"""Notebook 01's claim rows, every one from the claims engine (:mod:`fairlib.evidence`) with its catalogue id.

Comparisons, all paired by seed (A = LoRA, B = full fine-tuning unless said otherwise):

- ``p1.fairness.<metric>`` (worst-group accuracy, DPD, EOD; non-inferiority with the catalogue's margin): one
  comparison per (domain, backbone, task), Holm-corrected together;
- ``p1.calibration.ece`` (equivalence): ECE, one comparison per (domain, backbone, task);
- ``p1.membership.auc`` (equivalence): the LiRA AUC of the LoRA target minus the full-FT target over the whole
  pool, one comparison per attacked domain. There is one target per method (as in the paper), so n = 1 and no
  seed interval exists: the row is inconclusive by construction (underpowered at every profile, said under
  ``detail["power"]``), and the candidate-bootstrap interval is shown beside it under ``detail``;
- ``p1.rank.<metric>`` (trend, "does not depend on the rank"): OLS slope of the metric on log2(rank) over every
  rank-ablation run;
- ``p1.base_model.matters_more`` (superiority): per (task, metric), A = |metric on base 1 - metric on base 2|
  (the same method and seed, averaged over LoRA and full FT), B = |LoRA - full FT| (the same base and seed,
  averaged over the two bases). Not run with one base model.

A claim whose comparisons use stand-in data is ``not run (stand-in)``, the stand-in result under ``evidence``.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ...config import DECODER_BACKBONES
from ...evidence import MIN_SEEDS, Reason, evaluate, not_run

__all__ = ["claim_rows", "claims_table", "underpowered", "FAIRNESS_CLAIMS", "RANK_CLAIMS", "MIN_SEEDS"]

#: Catalogue ids of the fairness claims, per canonical metric.
FAIRNESS_CLAIMS = {"worst_group_accuracy": "p1.fairness.worst_group_accuracy", "dpd": "p1.fairness.dpd",
                   "eo_max": "p1.fairness.eo_max"}
#: Catalogue ids of the rank claims, per canonical metric.
RANK_CLAIMS = {"dpd": "p1.rank.dpd", "eo_max": "p1.rank.eo_max"}


def _pairs(records: pd.DataFrame, metric: str, a: str = "lora", b: str = "full") -> dict[str, dict]:
    """Per (domain, backbone, task): ``{"a": A per seed, "b": B per seed, "metric": metric}``, the LoRA runs at
    the main rank; seeds where either value is undefined (NaN) are left out, and the label says how many."""
    out = {}
    main = records[records["method"].isin([a, b])]
    for (domain, backbone, task), part in main.groupby(["domain", "backbone", "task"], sort=False):
        lora_rank = part.loc[part["method"] == a, "rank"]
        if len(lora_rank):
            part = part[(part["method"] != a) | (part["rank"] == lora_rank.iloc[0])]
        side = pd.concat({m: part[part["method"] == m].set_index("seed")[metric].astype(float) for m in (a, b)},
                         axis=1).dropna()
        dropped = int(part["seed"].nunique() - len(side))
        label = f"{domain} {backbone} / {task}" + (f" ({dropped} seed(s) undefined, left out)" if dropped else "")
        if len(side):
            out[label] = {"a": side[a].to_numpy(), "b": side[b].to_numpy(), "metric": metric}
    return out


def _row(claim_id: str, comparisons: Mapping[str, dict], *, data: str, stand_in: bool) -> dict:
    if not comparisons:
        return not_run(claim_id, Reason.MISSING, data=f"{data}: no comparison has a defined value")
    row = evaluate(claim_id, comparisons=dict(comparisons), data=data, stand_in=stand_in)
    few = {label: len(c["a"]) for label, c in comparisons.items() if "a" in c and len(c["a"]) < MIN_SEEDS}
    power = (row.get("detail") or {}).get("power")  # a stand-in row's, from the claims engine
    if few and power is None:
        power = ("underpowered: " + "; ".join(f"{label} rests on {n} seed(s)" for label, n in few.items())
                 + f" (< {MIN_SEEDS})")
    if any(backbone in label for label in few for backbone in DECODER_BACKBONES):
        power += "; text_seed_limits runs the decoder LLM on fewer seeds to keep the CPU budget, as Fig. 2 states"
    if power is not None:
        row["detail"] = {**(row.get("detail") or {}), "power": power}
    return row


def claim_rows(*, records: pd.DataFrame, ranks: pd.DataFrame, vision: pd.DataFrame, mia: Mapping[str, Any],
               profile: str, stand_in: Mapping[str, bool]) -> list[dict]:
    """The rows of every notebook-01 claim of the catalogue (:func:`fairlib.claims.claims_of` ``("01")``).

    Parameters
    ----------
    records : DataFrame
        Fig. 1 and Fig. 2 records (canonical metric names).
    ranks : DataFrame
        Rank-ablation records.
    vision : DataFrame
        Fig. 1 records (for the base-model comparison).
    mia : dict
        :class:`MIAResult` per attacked domain.
    profile : str
        Named in each row's ``data``.
    stand_in : dict
        ``{"vision": bool, "text": bool}``: whether each domain's data stand in for the paper's.

    Returns
    -------
    list of dict
        Rows of :func:`fairlib.evidence.evaluate` (or :func:`fairlib.evidence.not_run`), in catalogue order.
    """
    domains = sorted(set(records["domain"]))
    any_stand_in = any(stand_in[d] for d in domains)
    where = f"profile {profile}, " + ", ".join(f"{d}: {'stand-in' if stand_in[d] else 'paper data'}"
                                               for d in domains)
    rows = []
    for metric, claim_id in FAIRNESS_CLAIMS.items():
        rows.append(_row(claim_id, _pairs(records, metric), data=where, stand_in=any_stand_in))
    rows.append(_row("p1.calibration.ece", _pairs(records, "ece"), data=where, stand_in=any_stand_in))

    comparisons, detail = {}, {}
    for domain, result in mia.items():
        boot = result.auc_bootstrap.loc[("lora - full", "all")]
        comparisons[f"{domain} {result.backbone} / {result.task}"] = {"differences": [float(boot["auc"])]}
        detail[domain] = {"auc_difference": float(boot["auc"]), "bootstrap_ci": [float(boot["ci_low"]),
                                                                                 float(boot["ci_high"])],
                          "bootstrap": "candidates resampled, 95% percentile"}
    mia_stand_in = any(stand_in[d] for d in mia)
    if comparisons:
        row = _row("p1.membership.auc", comparisons, data=f"profile {profile}, one target per method (n = 1)",
                   stand_in=mia_stand_in)
        detail["power"] = (f"underpowered: one LoRA and one full fine-tuning target per attacked domain (the paper's "
                           f"design), so each comparison rests on n = 1 pair and has no seed interval; {MIN_SEEDS} "
                           f"target pairs per domain would add {2 * (MIN_SEEDS - 1) * len(comparisons)} target runs, "
                           f"not run at any profile")
        row["detail"] = detail
    else:
        row = not_run("p1.membership.auc", Reason.PROFILE, data=f"profile {profile}: no domain attacked")
    rows.append(row)

    rank_data = f"profile {profile}, rank ablation on {', '.join(sorted(set(ranks['backbone'])))} " \
                f"/ {', '.join(sorted(set(ranks['task'])))}"
    for metric, claim_id in RANK_CLAIMS.items():
        finite = ranks[["rank", metric]].dropna()
        comparison = {"x": finite["rank"].to_numpy(dtype=float), "y": finite[metric].to_numpy(dtype=float)}
        rows.append(evaluate(claim_id, comparisons={f"{metric} vs rank ({len(finite)} runs)": comparison},
                             data=rank_data, stand_in=stand_in["vision"]))

    rows.append(_base_model_row(vision, profile=profile, stand_in=stand_in["vision"]))
    return rows


def _base_model_row(vision: pd.DataFrame, *, profile: str, stand_in: bool,
                    metrics: Sequence[str] = ("worst_group_accuracy", "dpd", "eo_max")) -> dict:
    backbones = list(dict.fromkeys(vision["backbone"]))
    if len(backbones) < 2:
        return not_run("p1.base_model.matters_more", Reason.PROFILE,
                       data=f"profile {profile}: one base model only ({backbones})")
    first, second = backbones[:2]
    main = vision[vision["method"].isin(["lora", "full"])]
    comparisons = {}
    for task in main["task"].unique():
        for metric in metrics:
            table = main[main["task"] == task].pivot_table(index="seed", columns=["backbone", "method"],
                                                           values=metric, dropna=False)
            base = ((table[(first, "lora")] - table[(second, "lora")]).abs()
                    + (table[(first, "full")] - table[(second, "full")]).abs()) / 2
            method = ((table[(first, "lora")] - table[(first, "full")]).abs()
                      + (table[(second, "lora")] - table[(second, "full")]).abs()) / 2
            both = pd.concat({"a": base, "b": method}, axis=1).dropna()
            if len(both):
                comparisons[f"{task} {metric}"] = {"a": both["a"].to_numpy(), "b": both["b"].to_numpy(),
                                                   "metric": metric}
    return _row("p1.base_model.matters_more", comparisons, stand_in=stand_in,
                data=f"profile {profile}, bases {first} vs {second}")


def claims_table(rows: Sequence[Mapping[str, Any]], *, profile: str) -> pd.DataFrame:
    """The claim rows as a table (index ``id``): statement, test, interval, n, verdict, reason, stand-in evidence,
    and the profile that produced them (so that a stand-in number is never read as the paper's)."""
    records = []
    for row in rows:
        evidence = row.get("evidence") or {}
        records.append({"id": row["id"], "statement": row["statement"], "kind": row["kind"], "metric": row["metric"],
                        "margin": row["margin"], "estimate": row["estimate"], "ci_low": row["ci_low"],
                        "ci_high": row["ci_high"], "n": row["n"], "verdict": row["verdict"], "reason": row["reason"],
                        "stand_in_estimate": evidence.get("estimate"), "stand_in_ci_low": evidence.get("ci_low"),
                        "stand_in_ci_high": evidence.get("ci_high"), "stand_in_verdict": evidence.get("verdict"),
                        "data": row["data"], "profile": profile})
    return pd.DataFrame.from_records(records).set_index("id")


def underpowered(rows: Sequence[Mapping[str, Any]], *, min_n: int = MIN_SEEDS) -> dict[str, int]:
    """``{claim id: n}`` of the claims whose smallest comparison rests on fewer than ``min_n`` seeds or runs
    (a stand-in row reads its evidence's comparisons; a row that was not run is left out)."""
    out = {}
    for row in rows:
        ns = [c["n"] for c in row.get("comparisons") or []]
        if not ns and row["verdict"] != "not run":
            ns = [row["n"]]
        if ns and min(ns) < min_n:
            out[row["id"]] = int(min(ns))
    return out
