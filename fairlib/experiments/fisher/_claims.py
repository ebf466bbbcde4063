"""Notebook 04's paper-vs-reproduced rows and claims."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ... import evidence
from ...claims import checks_of, claims_of
from ._constants import PAPER_TABLE3, PAPER_TABLE4, PAPER_TABLE2
from ._studies import AdultStudy
from ._summaries import _settings, select


# ------------------------------------------------------------------------------------ paper vs reproduced
def format_mean_std(mean: float, std: float | None, digits: int = 3) -> str:
    """``"16.165 ± 0.340"`` (``"16.165"`` without a std)."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "—"
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _pooled_verdict(paper: float, ours: float | None, paper_std: float | None, ours_std: float | None) -> str:
    if ours is None or (isinstance(ours, float) and math.isnan(ours)):
        return "not run at this profile"
    stds = [v for v in (paper_std, ours_std) if v is not None and not math.isnan(v)]
    if not stds:
        return "compared"
    spread = math.sqrt(sum(v * v for v in stds) / len(stds))
    if spread == 0:
        return "compared"
    return "within 2 pooled std" if abs(ours - paper) <= 2 * spread else "differs by > 2 pooled std"


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def paper_rows(t2: pd.DataFrame, t3: pd.DataFrame, t4: pd.DataFrame, fig4: pd.DataFrame, *,
               t4_paper_names: dict, stand_in_images: bool) -> list[dict]:
    """Every number of Tables 2-4 and of Fig. 4's Adult column, the paper's against ours.

    Parameters
    ----------
    t2, t3, t4, fig4 : DataFrame
        From :func:`table2`, :func:`table3`, :func:`table4`, :func:`fig4_summary`.
    t4_paper_names : dict
        ``(task, pretrained name) -> (paper dataset, paper model)`` for Table 4's image rows that have a paper
        counterpart (none on stand-ins).
    stand_in_images : bool
        The image rows then say why they are not compared.

    Returns
    -------
    list of dict
        Rows for :func:`fairlib.report.paper_vs_reproduced` (``claim, paper, ours, paper_std, ours_std,
        verdict``).
    """
    rows = []

    def add(claim: str, paper: float | None, paper_std: float | None, ours: Any, ours_std: Any,
            verdict: str | None = None) -> None:
        ours, ours_std = _num(ours), _num(ours_std)
        if verdict is None:
            verdict = _pooled_verdict(paper, ours, paper_std, ours_std) if paper is not None else "compared"
        rows.append({"claim": claim, "paper": paper, "ours": ours, "paper_std": paper_std, "ours_std": ours_std,
                     "verdict": verdict})

    for (kind, intensity), (err_pre, err_ft, bias_pre, bias_ft) in PAPER_TABLE2.items():
        key = (kind, float(intensity))
        ours = t2.loc[key] if key in t2.index else None
        get = (lambda c: ours[c] if ours is not None else None)
        tag = f"Table 2, {kind} {intensity:g}"
        add(f"{tag}: error pre-train", err_pre, None, get("err_pretrain_mean"), get("err_pretrain_std"))
        add(f"{tag}: error fine-tune", err_ft[0], err_ft[1], get("err_finetune_mean"), get("err_finetune_std"))
        add(f"{tag}: bias pre-train", bias_pre, None, get("bias_pretrain_mean"), get("bias_pretrain_std"))
        add(f"{tag}: bias fine-tune", bias_ft[0], bias_ft[1], get("bias_finetune_mean"), get("bias_finetune_std"))
    for (model, intensity), values in PAPER_TABLE3.items():
        key = (model, float(intensity))
        ours = t3.loc[key] if key in t3.index else None
        tag = f"Table 3, {model}" + (f" {intensity:g}" if intensity else "")
        for metric, (mean, std) in zip(("weighted_f1_error", "eo_sum", "dpd"), values):
            label = {"weighted_f1_error": "error", "eo_sum": "Delta_EO", "dpd": "Delta_DP"}[metric]
            add(f"{tag}: {label}", mean, std, ours[f"{metric}_mean"] if ours is not None else None,
                ours[f"{metric}_std"] if ours is not None else None)
    reverse = {v: k for k, v in t4_paper_names.items()}
    for (dataset, model), values in PAPER_TABLE4.items():
        if dataset == "Adult":
            key = ("Adult", model)
        else:
            key = reverse.get((dataset, model))
        have = key is not None and key in t4.index
        for metric, (mean, std) in zip(("weighted_f1_error", "eo_sum", "dpd"), values):
            label = {"weighted_f1_error": "error", "eo_sum": "Delta_EO", "dpd": "Delta_DP"}[metric]
            verdict = None
            if not have:
                verdict = ("not run: stand-in images at this profile" if stand_in_images and dataset != "Adult"
                           else "not run at this profile")
            add(f"Table 4, {dataset} {model}: {label}", mean, std,
                t4.loc[key, f"{metric}_mean"] if have else None, t4.loc[key, f"{metric}_std"] if have else None,
                verdict)
    ours_t3 = PAPER_TABLE3[("OURS", 0.0)]
    for method in ("TL", "f+SVD", "OURS"):
        key = ("Adult", method)
        have = key in fig4.index
        for metric, idx in (("weighted_f1_error", 0), ("eo_sum", 1), ("dpd", 2)):
            label = {"weighted_f1_error": "error", "eo_sum": "Delta_EO", "dpd": "Delta_DP"}[metric]
            paper, paper_std = ours_t3[idx] if method == "OURS" else (None, None)
            verdict = None if method == "OURS" else "paper: bar chart only, no number in the text"
            add(f"Fig. 4, Adult {method}: {label}", paper, paper_std,
                fig4.loc[key, f"{metric}_mean"] if have else None, fig4.loc[key, f"{metric}_std"] if have else None,
                verdict)
    return rows


#: A paired difference smaller than this share of the baseline's run-to-run std is negligible next to what a
#: different split does (the grey band of the reviewer's figure).
NEGLIGIBLE = 0.1

#: Catalogue ids of notebook 04's claims (:func:`fairlib.claims.claims_of`), in the order they are recorded.
CLAIM_IDS = tuple(c.id for c in claims_of("04"))
#: Ids of its checks (implementation properties, never reproductions).
CHECK_IDS = tuple(k.id for k in checks_of("04"))

#: Claims-catalogue metric name of each record column (the catalogue's ``error`` is paper 4's error in %).
_CLAIM_METRIC = {"weighted_f1_error": "error", "dpd": "dpd", "eo_sum": "eo_sum", "auc": "auc"}


def _per_run(records: pd.DataFrame, filters: dict, metric: str) -> pd.Series:
    values = select(records, **filters).set_index("run")[metric].astype(float)
    if values.index.duplicated().any():
        raise ValueError(f"filters select more than one record per run: {filters}")
    return values


def _pair(records: pd.DataFrame, a: dict, b: dict, metric: str) -> dict:
    """One paired comparison ``a - b`` of ``metric`` on test, over the runs present in both (a missing run on
    either side is dropped explicitly, not silently: the row's ``n`` says how many remain)."""
    left, right = _per_run(records, a, metric), _per_run(records, b, metric)
    common = left.index.intersection(right.index)
    return {"a": left.loc[common].to_numpy(), "b": right.loc[common].to_numpy(), "metric": _CLAIM_METRIC[metric]}


def _trend(records: pd.DataFrame, blocks: list[tuple[float, dict]], metric: str) -> dict:
    """A sweep: ``x`` = the swept value of each block, ``y`` = ``metric`` of each of its runs."""
    xs, ys = [], []
    for x, filters in blocks:
        values = _per_run(records, filters, metric)
        xs += [float(x)] * len(values)
        ys += values.tolist()
    return {"x": np.asarray(xs), "y": np.asarray(ys), "metric": _CLAIM_METRIC[metric]}


def claim_rows(records: pd.DataFrame, *, cfg: Any, profile: str, image_tasks: dict[str, str],
               separability: pd.DataFrame, fisher: dict, stand_in_images: bool) -> list[dict]:
    """Notebook 04's claim rows (every catalogue claim, :data:`CLAIM_IDS`) and check rows (:data:`CHECK_IDS`),
    each from :mod:`fairlib.evidence`.

    Comparisons between methods are paired by run (same split, same seed). Table 3's numbers are ``match``
    claims (our mean's interval against the paper's value ± its std); the qualitative claims are
    ``superiority`` (paired t intervals, Holm across a claim's comparisons) or ``trend`` (OLS slope over the
    sweep); the parameter counts and the full-rank identity are checks. The image-set claim of Fig. 4 is
    ``not run (stand-in)`` when the image task is a stand-in, with the stand-in's result as its evidence.

    Parameters
    ----------
    records : DataFrame
        All runs (canonical metric names).
    cfg : FisherSVDConfig
    profile : str
    image_tasks : dict
        Image task name -> name of its Fig. 4 pre-trained model.
    separability : DataFrame
        Fig. 1: columns ``run``, ``model`` (``"f_B"``, ``"f_F"``), ``auc``.
    fisher : dict
        :func:`fisher_profile` of ``f_B``'s OURS runs.
    stand_in_images : bool
        The image tasks stand in for CelebA and LFW+a.
    """
    settings = _settings(cfg)
    ours = {"task": "Adult", "pretrained": "f_B", "method": "OURS", "rank": cfg.rank, "alpha": 0.5, **settings}
    pre = {"task": "Adult", "pretrained": "f_B", "method": "pre-trained"}
    data = f"Adult (the paper's data), {profile} profile, test parts of {cfg.n_runs} runs"
    gap_of = {"EO": "eo_sum", "DP": "dpd"}
    retrain = {(kind, float(i)): {"task": "Adult", "pretrained": "f_B", "method": f"Retrain+{kind}",
                                   "intensity": float(i)} for kind in ("EO", "DP") for i in cfg.intensities}
    rows = []
    # Table 3: OURS's numbers against the paper's (match)
    for cid, metric in (("p4.table3.ours_error", "weighted_f1_error"), ("p4.table3.ours_eo_sum", "eo_sum"),
                        ("p4.table3.ours_dpd", "dpd")):
        rows.append(evidence.evaluate(cid, a=_per_run(records, ours, metric).to_numpy(), data=data))
    rows.append(evidence.evaluate("p4.ours.reduces_bias", data=data, comparisons={
        f"OURS - pre-trained, {m}": _pair(records, ours, pre, m) for m in ("eo_sum", "dpd")}))
    rows.append(evidence.evaluate("p4.ours.error_below_retrain", data=data, comparisons={
        f"OURS - Retrain+{k} {i:g}": _pair(records, ours, f, "weighted_f1_error") for (k, i), f in retrain.items()}))
    rows.append(evidence.evaluate("p4.ours.other_gap_below_retrain", data=data, comparisons={
        f"OURS - Retrain+{k} {i:g}, {gap_of['DP' if k == 'EO' else 'EO']}":
            _pair(records, ours, f, gap_of["DP" if k == "EO" else "EO"]) for (k, i), f in retrain.items()}))
    rows.append(evidence.evaluate("p4.retrain.error_rises", data=data, comparisons={
        f"Retrain+{k}": _trend(records, [(i, retrain[(k, float(i))]) for i in cfg.intensities], "weighted_f1_error")
        for k in ("EO", "DP")}))
    rows.append(evidence.evaluate("p4.retrain.bias_falls", data=data, comparisons={
        f"Retrain+{k}, {gap_of[k]}": _trend(records, [(i, retrain[(k, float(i))]) for i in cfg.intensities], gap_of[k])
        for k in ("EO", "DP")}))
    fair = {}
    for kind in ("EO", "DP"):
        for intensity in cfg.intensities:
            name = AdultStudy.name_of(penalty=kind.lower(), intensity=intensity, form=cfg.fair_penalty)
            fair[f"{name}: OURS - pre-trained, {gap_of[kind]}"] = _pair(
                records, {**ours, "pretrained": name}, {**pre, "pretrained": name}, gap_of[kind])
    rows.append(evidence.evaluate("p4.fair_pretraining.bias_rises", data=data, comparisons=fair))
    others = {"TL": {"task": "Adult", "pretrained": "f_B", "method": "TL", **settings},
              "f+SVD": {"task": "Adult", "pretrained": "f_B", "method": "f+SVD", "rank": cfg.rank, **settings}}
    rows.append(evidence.evaluate("p4.fig4.adult.error", data=data, comparisons={
        f"OURS - {m}": _pair(records, ours, f, "weighted_f1_error") for m, f in others.items()}))
    rows.append(evidence.evaluate("p4.fig4.adult.gaps", data=data, comparisons={
        f"OURS - {m}, {g}": _pair(records, ours, f, g) for m, f in others.items() for g in ("dpd", "eo_sum")}))
    # Fig. 4 on the image sets
    if image_tasks:
        comparisons = {}
        for task, pre_name in image_tasks.items():
            a = {**ours, "task": task, "pretrained": pre_name}
            for method in ("TL", "f+SVD"):
                b = {**others[method], "task": task, "pretrained": pre_name}
                for metric in ("weighted_f1_error", "dpd", "eo_sum"):
                    comparisons[f"{task}: OURS - {method}, {_CLAIM_METRIC[metric]}"] = _pair(records, a, b, metric)
        rows.append(evidence.evaluate("p4.fig4.images", comparisons=comparisons, stand_in=stand_in_images,
                                      data=f"{', '.join(image_tasks)}, {profile} profile, {cfg.n_runs} runs"))
    else:
        rows.append(evidence.not_run("p4.fig4.images", evidence.Reason.PROFILE, data=f"{profile} profile"))
    # Fig. 1 and Fig. 3
    auc = separability.pivot(index="run", columns="model", values="auc").dropna()
    rows.append(evidence.evaluate("p4.fig1.separation", a=auc["f_B"].to_numpy(), b=auc["f_F"].to_numpy(),
                                  data=f"{data}: group AUC of TL's positive predictions, f_B minus f_F"))
    rows.append(evidence.evaluate("p4.fig3.important_weights_differ", a=np.asarray(fisher["spearman"]),
                                  data=f"{data}: Spearman rho between the groups' unit rankings of f_B"))
    # Table 4 (Adult depths) and Fig. 5 (alpha)
    if len(cfg.depths) >= 2:
        blocks = [(d, {**ours, "pretrained": f"MLP-{d}"}) for d in cfg.depths]
        rows.append(evidence.evaluate("p4.table4.depth", data=data,
                                      **{k: v for k, v in _trend(records, blocks, "weighted_f1_error").items()}))
    else:
        rows.append(evidence.not_run("p4.table4.depth", evidence.Reason.PROFILE, data=f"{profile} profile"))
    alphas = [(a, {**ours, "alpha": float(a)}) for a in cfg.alphas]
    rows.append(evidence.evaluate("p4.fig5.error_falls", data=data,
                                  **_trend(records, alphas, "weighted_f1_error")))
    rows.append(evidence.evaluate("p4.fig5.gaps_rise", data=data, comparisons={
        g: _trend(records, alphas, g) for g in ("dpd", "eo_sum")}))
    # checks: properties of the implementation, never reproductions
    ours_params = int(select(records, **ours)["trainable_parameters"].max())
    retrain_params = int(select(records, task="Adult", pretrained="f_B", method="Retrain")["trainable_parameters"].max())
    rows.append(evidence.check_row("check.p4.parameters_ours", ours_params, data=data))
    rows.append(evidence.check_row("check.p4.parameters_retrain", retrain_params, data=data))
    rows.append(evidence.check_row("check.p4.full_rank_identity", float(select(records, **ours)["init_logit_gap"].max()),
                                   data=f"{data}: largest logit difference before fine-tuning"))
    return rows
