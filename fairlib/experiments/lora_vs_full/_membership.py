"""Membership inference of notebook 01 from stored runs: LiRA and the loss-threshold attack per group, and the
paired bootstrap of the LiRA AUC of the LoRA target minus the full fine-tuning target."""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from ...methods import membership as mi

__all__ = ["auc_by_ranks", "bootstrap_auc", "MIAResult", "membership_inference", "cross_entropy"]


def cross_entropy(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-example cross-entropy of logits (float64, max-shifted)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]


def auc_by_ranks(scores: Any, is_member: Any) -> np.ndarray | float:
    """ROC AUC from the rank-sum (Mann-Whitney) formula, ties counted half; rows of a matrix at once.

    Parameters
    ----------
    scores : array-like of shape (n,) or (B, n)
        Attack scores (higher = more likely a member); a matrix holds B resamples.
    is_member : array-like of bool, same shape

    Returns
    -------
    float or numpy.ndarray of shape (B,)
        Equal to :func:`sklearn.metrics.roc_auc_score`; NaN where a row lacks members or non-members.
    """
    scores = np.asarray(scores, dtype=np.float64)
    member = np.asarray(is_member, dtype=bool)
    single = scores.ndim == 1
    scores, member = np.atleast_2d(scores), np.atleast_2d(member)
    if scores.shape != member.shape:
        raise ValueError(f"scores and is_member must have the same shape, got {scores.shape} and {member.shape}")
    ranks = rankdata(scores, axis=1)
    m = member.sum(axis=1).astype(np.float64)
    k = member.shape[1] - m
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = ((ranks * member).sum(axis=1) - m * (m + 1) / 2) / (m * k)
    auc = np.where((m > 0) & (k > 0), auc, np.nan)
    return float(auc[0]) if single else auc


def bootstrap_auc(scores: dict[str, Any], is_member: Any, *, groups: Any, group_names: Sequence[str],
                  n_boot: int = 1000, seed: int = 0, confidence: float = 0.95,
                  difference: tuple[str, str] | None = ("lora", "full")) -> pd.DataFrame:
    """AUC per attacked model and group with percentile-bootstrap intervals, and their paired difference.

    Candidates are resampled with replacement within each group (and over the whole pool for ``"all"``); the
    same resample is used for every model, so the difference of two models' AUCs is paired.

    Parameters
    ----------
    scores : dict
        Attack scores per model name (all on the same candidates).
    is_member : array-like of bool
    groups : array-like of int
        Group codes into ``group_names``.
    n_boot : int
        Resamples (0: no interval).
    difference : (str, str) or None
        Two keys of ``scores``; adds rows ``"<a> - <b>"``.

    Returns
    -------
    pandas.DataFrame
        Index (model, group) with the groups then ``"all"``; columns ``auc, ci_low, ci_high``.
    """
    member = np.asarray(is_member, dtype=bool)
    groups = np.asarray(groups)
    rng = np.random.default_rng(seed)
    alpha = (1 - confidence) / 2
    subsets = [(name, np.flatnonzero(groups == g)) for g, name in enumerate(group_names)]
    subsets.append(("all", np.arange(len(member))))
    models = list(scores)
    pairs = [difference] if difference is not None and all(d in scores for d in difference) else []
    rows = []
    for name, index in subsets:
        draws = rng.integers(0, len(index), size=(n_boot, len(index))) if n_boot and len(index) else None
        point, boot = {}, {}
        for model in models:
            values = np.asarray(scores[model], dtype=np.float64)[index]
            point[model] = auc_by_ranks(values, member[index]) if len(index) else float("nan")
            if draws is not None:
                boot[model] = auc_by_ranks(values[draws], member[index][draws])
        entries = [(m, point[m], boot.get(m)) for m in models]
        entries += [(f"{a} - {b}", point[a] - point[b], boot[a] - boot[b] if draws is not None else None)
                    for a, b in pairs]
        for model, value, samples in entries:
            low = high = float("nan")
            if samples is not None and np.isfinite(samples).sum() >= 2:
                low, high = np.nanquantile(samples, [alpha, 1 - alpha])
            rows.append({"model": model, "group": name, "auc": float(value), "ci_low": float(low),
                         "ci_high": float(high)})
    return pd.DataFrame(rows).set_index(["model", "group"])


@dataclasses.dataclass
class MIAResult:
    """Everything the membership-inference figures and tables need, for one domain.

    ``scores[attack][method]`` are per-candidate scores (``attack`` in ``"lira"``, ``"loss"``; ``method`` the
    target's adaptation); ``tables[(attack, method)]`` is :func:`fairlib.methods.membership.mia_by_group`.
    """

    domain: str
    backbone: str
    task: str
    group_names: tuple[str, ...]
    y: np.ndarray
    s: np.ndarray
    is_member: np.ndarray
    shadow_in: np.ndarray
    target_phi: dict
    shadow_phi: np.ndarray
    scores: dict
    tables: dict
    auc_bootstrap: pd.DataFrame
    records: list

    def table(self) -> pd.DataFrame:
        """All per-group tables stacked: index (attack, target, group)."""
        parts = {(attack, method): t for (attack, method), t in self.tables.items()}
        return pd.concat(parts, names=["attack", "target", "group"])


def membership_inference(experiment: Any, domain: str) -> MIAResult:
    """LiRA and the loss-threshold attack on the stored LoRA and full fine-tuning targets of ``domain``.

    Parameters
    ----------
    experiment : LoRAFairnessExperiment
        Its runs of ``domain``'s membership inference must be stored.
    domain : {"vision", "text"}
    """
    c = experiment.cfg
    backbone, task = experiment.mia_backbone_and_task(domain)
    pool = experiment.mia_pool(domain)
    n = len(pool)
    is_member, shadow_in = experiment.target_membership(n), experiment.shadow_membership(n)
    logits, records = {}, []
    for role, spec in experiment.mia_specs(domain):
        result, tensors = experiment.load(spec)
        logits[role] = tensors["logits"].numpy().astype(np.float64)
        trained_on = is_member if role.startswith("target") else shadow_in[int(role.split()[1])]
        records.append({"domain": domain, "role": "target" if role.startswith("target") else role,
                        "method": spec.method, "seed": spec.seed, "members": int(trained_on.sum()),
                        "trainable_parameters": result["trainable_parameters"],
                        "train_seconds": result["train_seconds"]})
    shadow_phi = np.stack([mi.logit_scaled_confidence_from_logits(logits[f"shadow {i}"], pool.y)
                           for i in range(c.n_shadows)])
    target_phi, scores, tables = {}, {"lira": {}, "loss": {}}, {}
    for method in ("lora", "full"):
        z = logits[f"target {method}"]
        target_phi[method] = mi.logit_scaled_confidence_from_logits(z, pool.y)
        scores["lira"][method] = mi.lira_scores(target_phi[method], shadow_phi, shadow_in, online=c.lira_online,
                                                global_variance=c.lira_global_variance)
        scores["loss"][method] = mi.loss_threshold_scores(cross_entropy(z, pool.y))
        for attack in ("lira", "loss"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # a group without members shows as NaN rows
                tables[(attack, method)] = mi.mia_by_group(scores[attack][method], is_member,
                                                           sensitive_features=pool.s,
                                                           group_names=pool.group_names, fprs=c.mia_fprs)
    boot = bootstrap_auc(scores["lira"], is_member, groups=pool.s, group_names=pool.group_names,
                         n_boot=c.bootstrap, seed=c.mia_seed)
    return MIAResult(domain=domain, backbone=backbone, task=task, group_names=tuple(pool.group_names),
                     y=pool.y, s=pool.s, is_member=is_member, shadow_in=shadow_in, target_phi=target_phi,
                     shadow_phi=shadow_phi, scores=scores, tables=tables, auc_bootstrap=boot, records=records)
