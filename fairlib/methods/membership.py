"""Membership inference: LiRA (Carlini et al. 2022) and the loss-threshold baseline, evaluated per group.

Paper 1 (Ding et al. 2024, Figs. 4-5) attacks each target model with the Likelihood Ratio Attack and reports
the ROC and the TPR at low FPR per subgroup. The authors' code trains the shadow models but has no Gaussian fit;
this module is that missing part, plus the metrics.

Workflow
--------
1. ``keep = shadow_membership(n_candidates, n_shadows, seed=...)``: which candidates each shadow trains on.
2. Train shadow ``i`` on the candidates where ``keep[i]`` is True; score every candidate with every shadow
   and with the target by :func:`logit_scaled_confidence_from_logits` (or ``logit_scaled_confidence``).
3. ``scores = lira_scores(target_phi, shadow_phi, keep)``: higher means "more likely a member".
4. ``mia_metrics(scores, is_member)`` overall, ``mia_by_group(...)`` per subgroup.

Conventions
-----------
- Every score is "higher = more likely a member"; the metrics assume that orientation.
- ``is_member`` says whether each candidate was in the *target* model's training set.
- A value that cannot be computed (a group without members or without non-members) is NaN with a
  ``UserWarning`` naming the group, as in :mod:`fairlib.metrics`; nothing is dropped silently.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy.special import logsumexp
from scipy.stats import norm
from sklearn.metrics import roc_auc_score, roc_curve

# The metrics package's group resolution, so that a group table here reads like fairlib.metrics' tables
# (integer codes or names, listed-but-absent groups kept as NaN rows).
from fairlib.metrics import resolve_groups

__all__ = [
    "logit_scaled_confidence",
    "logit_scaled_confidence_from_logits",
    "lira_scores",
    "shadow_membership",
    "target_membership",
    "membership_digest",
    "loss_threshold_scores",
    "roc_curve_points",
    "tpr_at_fpr",
    "mia_metrics",
    "mia_by_group",
]

# Carlini et al.'s reference code adds 1e-45 inside both logs; clamping to it instead leaves every
# probability above it untouched, while still bounding phi at about +-103.6 for a saturated softmax.
_PROB_FLOOR = 1e-45

_THIS_FILE = os.path.abspath(__file__)


def _stacklevel() -> int:
    """``stacklevel`` that attributes a warning to the first caller outside this module."""
    # Public functions call each other (mia_by_group -> per-group metrics), so a fixed level would
    # sometimes point into this file rather than at the user's line.
    frame, level = sys._getframe(2), 2
    while frame is not None and os.path.abspath(frame.f_code.co_filename) == _THIS_FILE:
        frame, level = frame.f_back, level + 1
    return level


def _warn(message: str) -> None:
    warnings.warn(message, UserWarning, stacklevel=_stacklevel())


# --------------------------------------------------------------------------------------------------------
# Logit-scaled confidence
# --------------------------------------------------------------------------------------------------------

def _as_matrix_and_labels(values: Any, labels: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(values, dtype=np.float64)
    labels = np.asarray(labels)
    if values.ndim != 2 or values.shape[1] < 2:
        raise ValueError(f"{what} must have shape (n, C) with C >= 2 classes, got {values.shape}")
    if labels.ndim != 1 or len(labels) != len(values):
        raise ValueError(f"labels must be 1-D with one entry per row of {what} ({len(values)}), got {labels.shape}")
    if len(labels) and (not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0
                        or labels.max() >= values.shape[1]):
        raise ValueError(f"labels must be class indices 0..{values.shape[1] - 1} (the columns of {what})")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{what} must be finite (found NaN or inf)")
    return values, labels.astype(np.int64)


def logit_scaled_confidence(probs: Any, labels: Any) -> np.ndarray:
    """Logit-scaled confidence ``phi = log p_y - log sum_{j != y} p_j`` from class probabilities.

    Parameters
    ----------
    probs : array-like of shape (n, C)
        Class probabilities (softmax outputs). Rows need not be normalised: ``phi`` is a ratio of the row's
        own entries, so any positive scale cancels.
    labels : array-like of int, shape (n,)
        True class index of each example.

    Returns
    -------
    numpy.ndarray of shape (n,)
        ``phi`` per example (float64). Carlini et al. (2022, Sec. IV-C) apply this transform because the
        confidence ``p_y`` of a trained model piles up near 1, whereas ``phi`` is close to Gaussian across
        shadow models, which is what LiRA's fit assumes.

    Notes
    -----
    The denominator is the sum of the other classes' probabilities, not ``1 - p_y``: for a confident model
    ``1 - p_y`` cancels catastrophically (it is exactly 0 once ``p_y`` rounds to 1), while the sum keeps the
    small probabilities' precision. Both probabilities are clamped below at 1e-45 (the constant of the
    authors' code) so that a zero gives a large finite ``phi`` rather than +-inf, which would break the
    Gaussian fits. Prefer :func:`logit_scaled_confidence_from_logits` whenever the logits are available:
    a float32 softmax underflows long before the logits lose information.
    """
    probs, labels = _as_matrix_and_labels(probs, labels, "probs")
    if np.any(probs < 0):
        raise ValueError("probs must be non-negative (got logits? use logit_scaled_confidence_from_logits)")
    rows = np.arange(len(labels))
    p_true = probs[rows, labels]
    others = probs.copy()
    others[rows, labels] = 0.0
    p_rest = others.sum(axis=1)
    return np.log(np.maximum(p_true, _PROB_FLOOR)) - np.log(np.maximum(p_rest, _PROB_FLOOR))


def logit_scaled_confidence_from_logits(logits: Any, labels: Any) -> np.ndarray:
    """Logit-scaled confidence computed from logits: ``phi = z_y - logsumexp_{j != y} z_j``.

    Parameters
    ----------
    logits : array-like of shape (n, C)
        Unnormalised class scores of the model (finite).
    labels : array-like of int, shape (n,)
        True class index of each example.

    Returns
    -------
    numpy.ndarray of shape (n,)
        ``phi`` per example (float64); equal to :func:`logit_scaled_confidence` of ``softmax(logits)``
        wherever the softmax does not underflow.

    Notes
    -----
    The softmax normaliser cancels between numerator and denominator, so no probability (and no log of
    zero) is ever formed; ``logsumexp`` shifts by the maximum, so large logits do not overflow either.
    """
    logits, labels = _as_matrix_and_labels(logits, labels, "logits")
    rows = np.arange(len(labels))
    z_true = logits[rows, labels]
    others = logits.copy()
    # -inf contributes exp(-inf) = 0 to the sum, i.e. the true class is left out of the denominator.
    others[rows, labels] = -np.inf
    return z_true - logsumexp(others, axis=1)


# --------------------------------------------------------------------------------------------------------
# Shadow models and LiRA
# --------------------------------------------------------------------------------------------------------

def target_membership(n_candidates: int, *, seed: int) -> np.ndarray:
    """Which candidates an attacked target trains on: a random half (``n // 2``), drawn from ``seed``.

    Returns
    -------
    numpy.ndarray of bool, shape (n,)
    """
    if isinstance(n_candidates, bool) or not isinstance(n_candidates, (int, np.integer)) or n_candidates < 1:
        raise ValueError(f"n_candidates must be an integer >= 1, got {n_candidates!r}")
    member = np.zeros(n_candidates, dtype=bool)
    member[np.random.default_rng([seed, 7]).permutation(n_candidates)[: n_candidates // 2]] = True
    return member


def membership_digest(members: Any) -> str:
    """``"<n>:<16 hex>"``: the pool size and a sha256 of a membership vector, for a run's parameters (a run that
    trains on another membership gets another run-store key)."""
    import hashlib

    members = np.asarray(members, dtype=bool)
    return f"{len(members)}:{hashlib.sha256(np.packbits(members).tobytes()).hexdigest()[:16]}"


def shadow_membership(n_candidates: int, n_shadows: int, *, seed: int) -> np.ndarray:
    """Which candidates each shadow model trains on, balanced per example (Carlini et al.'s scheme).

    Parameters
    ----------
    n_candidates : int
        Size ``n`` of the candidate pool (the examples whose membership is attacked).
    n_shadows : int
        Number ``k >= 2`` of shadow models (paper 1 uses 16).
    seed : int
        Seed of the assignment; the same seed gives the same matrix.

    Returns
    -------
    numpy.ndarray of bool, shape (k, n)
        ``keep[i, j]`` is True when shadow ``i`` trains on candidate ``j``.

    Notes
    -----
    As in the authors' ``train.py``, each example independently picks a random subset of exactly
    ``k / 2`` shadows, rather than each shadow picking a random half of the pool: then every example has
    the same number of IN and OUT shadows to fit its two Gaussians on. Each shadow consequently holds
    about ``n / 2`` examples (exactly half in expectation, binomial spread around it). For odd ``k`` a
    random half of the examples (rounded down) is IN for ``(k + 1) / 2`` shadows and the rest for
    ``(k - 1) / 2``, which keeps the expected shadow size at ``n / 2``; the reference code always rounds
    down instead, shrinking every shadow.
    """
    for name, value, low in (("n_candidates", n_candidates, 1), ("n_shadows", n_shadows, 2)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    rng = np.random.default_rng(seed)
    # The rank of a uniform draw within its column is a uniformly random permutation of the shadows.
    ranks = rng.random((n_shadows, n_candidates)).argsort(axis=0).argsort(axis=0)
    n_in = np.full(n_candidates, n_shadows // 2)
    if n_shadows % 2:
        n_in[rng.permutation(n_candidates)[: n_candidates // 2]] += 1
    return ranks < n_in[None, :]


def _side_fit(shadow_phi: np.ndarray, mask: np.ndarray, *, global_variance: bool
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """Per-example mean and std of ``shadow_phi`` where ``mask`` (one side, IN or OUT) is True.

    Returns the per-example mean and std (NaN where the example has no shadow on this side), the count
    per example, and the fallback mean and std pooled over every shadow value of this side.
    """
    count = mask.sum(axis=0)
    values = np.where(mask, shadow_phi, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = values.sum(axis=0) / count
        squares = np.where(mask, (shadow_phi - mean[None, :]) ** 2, 0.0).sum(axis=0)
        # ddof=0 (the Gaussian MLE, as the reference code's np.std): one shadow gives std 0 and the floor,
        # where ddof=1 would give NaN.
        std = np.sqrt(squares / count)
    if global_variance:
        # Pooled within-example variance: each example keeps its own mean, all share one spread. The
        # reference code's np.std over the whole array would also count how far apart the means are.
        std = np.where(count > 0, np.sqrt(squares.sum() / count.sum()), np.nan)
    everything = shadow_phi[mask]
    return mean, std, count, float(everything.mean()), float(everything.std())


def lira_scores(target_phi: Any, shadow_phi: Any, shadow_in: Any, *, online: bool = True,
                global_variance: bool = False, min_std: float = 1e-3) -> np.ndarray:
    """Likelihood Ratio Attack scores (Carlini et al. 2022) from shadow models' logit-scaled confidences.

    Parameters
    ----------
    target_phi : array-like of shape (n,)
        Logit-scaled confidence of the target model on each candidate.
    shadow_phi : array-like of shape (k, n)
        Logit-scaled confidence of each shadow model on each candidate.
    shadow_in : array-like of bool, shape (k, n)
        Whether shadow ``i`` was trained on candidate ``j`` (e.g. from :func:`shadow_membership`).
    online : bool, default True
        True: the two-sided likelihood ratio of the IN and OUT fits (online LiRA). False: offline LiRA, which
        uses only the OUT shadows (so the shadows need never have seen the candidates).
    global_variance : bool, default False
        Replace each example's std by one std pooled over the examples (separately for IN and OUT); the
        paper recommends this below about 64 shadows, where per-example variances are too noisy.
    min_std : float, default 1e-3
        Floor of every std. An example whose shadow values coincide (one shadow on a side, or a saturated
        and clamped confidence) would otherwise have a zero-width Gaussian and an infinite score.

    Returns
    -------
    numpy.ndarray of shape (n,)
        Score per candidate; higher means more likely a member of the target's training set.

        - online: ``log N(phi; mu_in, s_in) - log N(phi; mu_out, s_out)``, the log-likelihood ratio.
        - offline: ``-log Pr[Z > phi]`` with ``Z ~ N(mu_out, s_out)``: the one-sided test of the paper
          (Algorithm 1, offline), since membership only raises the confidence. The authors' plotting code
          uses the two-sided ``-log N(phi; mu_out, s_out)`` instead, which also flags unusually *low*
          confidences as members; we follow the paper.

    Warns
    -----
    UserWarning
        With the number of examples that have no IN (online only) or no OUT shadow. Such an example is not
        dropped: the missing side is replaced by the mean and std of all shadow values of that side over
        all examples (the overall spread, which includes how far the examples' means differ, since the
        example's own mean is unknown). Its score is then close to a global threshold on ``phi``, weaker
        than a per-example fit.

    Raises
    ------
    ValueError
        On mismatched shapes, non-finite values, or when no shadow value at all exists for a side the
        chosen variant needs.

    Notes
    -----
    Means are sample means (the reference code uses medians; with balanced shadows the two are close for
    Gaussian-looking ``phi``). Stds use ``ddof=0``. A single target model is scored; to attack each shadow
    in turn (leave-one-out, as Carlini et al. do), call this with that shadow's row as ``target_phi`` and
    the other rows as the shadows.
    """
    target_phi = np.asarray(target_phi, dtype=np.float64)
    shadow_phi = np.asarray(shadow_phi, dtype=np.float64)
    shadow_in = np.asarray(shadow_in)
    if target_phi.ndim != 1:
        raise ValueError(f"target_phi must be 1-D (one value per candidate), got shape {target_phi.shape}")
    n = len(target_phi)
    if shadow_phi.ndim != 2 or shadow_phi.shape[1] != n or shadow_in.shape != shadow_phi.shape:
        raise ValueError(f"shadow_phi and shadow_in must both have shape (k, {n}), got {shadow_phi.shape} "
                         f"and {shadow_in.shape}")
    if shadow_in.dtype != bool:
        if not np.isin(shadow_in, (0, 1)).all():
            raise ValueError("shadow_in must be boolean (or 0/1)")
        shadow_in = shadow_in.astype(bool)
    if not (np.all(np.isfinite(target_phi)) and np.all(np.isfinite(shadow_phi))):
        raise ValueError("target_phi and shadow_phi must be finite (found NaN or inf)")
    if not min_std > 0:
        raise ValueError(f"min_std must be > 0, got {min_std!r}")

    def fit(mask: np.ndarray, side: str) -> tuple[np.ndarray, np.ndarray]:
        if not mask.any():
            raise ValueError(f"no shadow model is {side} for any candidate; cannot fit the {side} Gaussians")
        mean, std, count, global_mean, global_std = _side_fit(shadow_phi, mask, global_variance=global_variance)
        missing = count == 0
        if missing.any():
            _warn(f"lira_scores: {int(missing.sum())} of {n} examples have no {side} shadow model; their {side} "
                  f"Gaussian is the one fitted to all {side} shadow values (mean {global_mean:.3g}, "
                  f"std {global_std:.3g} before the min_std floor)")
            mean = np.where(missing, global_mean, mean)
            std = np.where(missing, global_std, std)
        return mean, np.maximum(std, min_std)

    mu_out, s_out = fit(~shadow_in, "OUT")
    if not online:
        return -norm.logsf(target_phi, loc=mu_out, scale=s_out)
    mu_in, s_in = fit(shadow_in, "IN")
    return norm.logpdf(target_phi, loc=mu_in, scale=s_in) - norm.logpdf(target_phi, loc=mu_out, scale=s_out)


def loss_threshold_scores(losses: Any) -> np.ndarray:
    """Loss-threshold attack (Yeom et al. 2018): the score is minus the target's per-example loss.

    Parameters
    ----------
    losses : array-like of shape (n,)
        Per-example loss of the target model (e.g. cross-entropy).

    Returns
    -------
    numpy.ndarray of shape (n,)
        ``-losses``, so that, as for every score here, higher means more likely a member.
    """
    losses = np.asarray(losses, dtype=np.float64)
    if losses.ndim != 1 or not np.all(np.isfinite(losses)):
        raise ValueError(f"losses must be a finite 1-D array, got shape {losses.shape}")
    return -losses


# --------------------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------------------

def _scores_and_membership(scores: Any, is_member: Any) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64)
    is_member = np.asarray(is_member)
    if scores.ndim != 1 or is_member.shape != scores.shape:
        raise ValueError(f"scores and is_member must be 1-D of equal length, got {scores.shape} and "
                         f"{is_member.shape}")
    if is_member.dtype != bool:
        if not np.isin(is_member, (0, 1)).all():
            raise ValueError("is_member must be boolean (or 0/1)")
        is_member = is_member.astype(bool)
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores must be finite (found NaN or inf)")
    return scores, is_member


def _require_both(is_member: np.ndarray) -> None:
    n_members = int(is_member.sum())
    if n_members == 0 or n_members == len(is_member):
        raise ValueError(f"need both members and non-members, got {n_members} members of {len(is_member)}")


def _roc(scores: np.ndarray, is_member: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # drop_intermediate=False: sklearn's thinning removes collinear points, and with tied scores the
    # best TPR under an FPR budget can sit on such a point.
    return roc_curve(is_member, scores, drop_intermediate=False)


def roc_curve_points(scores: Any, is_member: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every point of the attack's ROC curve.

    Parameters
    ----------
    scores : array-like of shape (n,)
        Attack scores, higher = more likely a member.
    is_member : array-like of bool, shape (n,)
        Whether each example was in the target's training set.

    Returns
    -------
    fpr, tpr, thresholds : numpy.ndarray
        As :func:`sklearn.metrics.roc_curve` with ``drop_intermediate=False`` (no point is thinned out),
        starting at ``(0, 0)`` with threshold ``inf``. Plot on log-log axes to see the low-FPR regime, as
        Carlini et al. recommend.
    """
    scores, is_member = _scores_and_membership(scores, is_member)
    _require_both(is_member)
    return _roc(scores, is_member)


def _tpr_at(fpr_curve: np.ndarray, tpr_curve: np.ndarray, fpr: float) -> float:
    # (0, 0) is always on the curve, so the set is never empty.
    return float(tpr_curve[fpr_curve <= fpr].max())


def _check_fpr(fpr: Any) -> float:
    if isinstance(fpr, bool) or not isinstance(fpr, (int, float, np.integer, np.floating)) or not 0 <= fpr <= 1:
        raise ValueError(f"fpr must be a number in [0, 1], got {fpr!r}")
    return float(fpr)


def tpr_at_fpr(scores: Any, is_member: Any, *, fpr: float) -> float:
    """Largest TPR of the attack among the thresholds whose FPR is at most ``fpr``.

    Parameters
    ----------
    scores, is_member
        As in :func:`roc_curve_points`.
    fpr : float in [0, 1]
        FPR budget.

    Returns
    -------
    float
        Read off the empirical ROC without interpolation. With ``m`` non-members the attainable FPRs are
        multiples of ``1 / m``: a budget below ``1 / m`` yields the TPR at zero false positives, so e.g. the
        TPR at 0.1% FPR only means what it says with at least 1000 non-members.
    """
    fpr = _check_fpr(fpr)
    fpr_curve, tpr_curve, _ = roc_curve_points(scores, is_member)
    return _tpr_at(fpr_curve, tpr_curve, fpr)


def _fpr_key(fpr: float) -> str:
    return f"tpr@{fpr * 100:.6g}%fpr"


def _metrics(scores: np.ndarray, is_member: np.ndarray, fprs: tuple[float, ...]) -> dict[str, float]:
    fpr_curve, tpr_curve, _ = _roc(scores, is_member)
    out = {"auc": float(roc_auc_score(is_member, scores))}
    out.update({_fpr_key(f): _tpr_at(fpr_curve, tpr_curve, f) for f in fprs})
    out["advantage"] = float(np.max(tpr_curve - fpr_curve))
    return out


def _check_fprs(fprs: Any) -> tuple[float, ...]:
    fprs = tuple(_check_fpr(f) for f in fprs)
    if not fprs:
        raise ValueError("fprs must not be empty")
    return fprs


def mia_metrics(scores: Any, is_member: Any, *, fprs: Sequence[float] = (0.001, 0.01)) -> dict[str, float]:
    """AUC, TPR at low FPR and membership advantage of an attack.

    Parameters
    ----------
    scores, is_member
        As in :func:`roc_curve_points`.
    fprs : sequence of float, default (0.001, 0.01)
        FPR budgets of the ``tpr@...`` entries.

    Returns
    -------
    dict
        ``auc`` (ROC AUC), one ``tpr@<100*fpr>%fpr`` per budget (``tpr@0.1%fpr``, ``tpr@1%fpr`` by
        default; see :func:`tpr_at_fpr`), and ``advantage`` = max over thresholds of TPR - FPR (Yeom et
        al.'s membership advantage; 0 for a useless attack, 1 for a perfect one).

    Notes
    -----
    TPR at 0.1% FPR needs at least 1000 non-members to be resolvable (see :func:`tpr_at_fpr`).
    """
    fprs = _check_fprs(fprs)
    scores, is_member = _scores_and_membership(scores, is_member)
    _require_both(is_member)
    return _metrics(scores, is_member, fprs)


def mia_by_group(scores: Any, is_member: Any, *, sensitive_features: Any, group_names: Sequence | None = None,
                 fprs: Sequence[float] = (0.001, 0.01)) -> pd.DataFrame:
    """:func:`mia_metrics` per sensitive group, plus a row ``"all"`` for the whole candidate pool.

    Parameters
    ----------
    scores, is_member
        As in :func:`roc_curve_points`.
    sensitive_features : array-like of shape (n,)
        Group of each candidate: integer codes into ``group_names``, or the group names themselves.
    group_names : sequence, optional
        All groups, in display order; a listed group absent from the data appears with NaN metrics.
        Default: the sorted distinct values of ``sensitive_features``. No group may be called ``"all"``.
    fprs : sequence of float, default (0.001, 0.01)
        FPR budgets of the ``tpr@...`` columns.

    Returns
    -------
    pandas.DataFrame
        Index ``group`` (the groups, then ``"all"``); columns ``n_members``, ``n_nonmembers``,
        ``min_resolvable_fpr`` (= 1 / ``n_nonmembers``, the smallest non-zero FPR the group's ROC can
        attain), ``auc``, the ``tpr@...`` columns and ``advantage``.

    Warns
    -----
    UserWarning
        For each group (or the whole pool) without members or without non-members, naming it; its
        metrics are NaN, never 0 or 0.5.

    Notes
    -----
    Compare ``min_resolvable_fpr`` with the budgets before reading a ``tpr@...`` column: TPR at 0.1% FPR
    needs >= 1000 non-members in the group, and below that it is the TPR at zero false positives. Small
    groups are exactly where this bites, so a per-group low-FPR comparison may need a larger candidate pool.
    """
    fprs = _check_fprs(fprs)
    scores, is_member = _scores_and_membership(scores, is_member)
    codes, names = resolve_groups(sensitive_features, group_names, len(scores))
    if "all" in names:
        raise ValueError('no group may be named "all": that row holds the whole candidate pool')
    metric_columns = ["auc", *(_fpr_key(f) for f in fprs), "advantage"]
    rows = []
    subsets = [(name, codes == code) for code, name in enumerate(names)]
    subsets.append(("all", np.ones(len(scores), dtype=bool)))
    for name, rows_of_group in subsets:
        members = is_member[rows_of_group]
        n_members, n_nonmembers = int(members.sum()), int((~members).sum())
        row = {"n_members": n_members, "n_nonmembers": n_nonmembers,
               "min_resolvable_fpr": 1.0 / n_nonmembers if n_nonmembers else np.nan}
        if n_members and n_nonmembers:
            row.update(_metrics(scores[rows_of_group], members, fprs))
        else:
            lacking = "members" if not n_members else "non-members"
            _warn(f"group {name!r} has no {lacking} ({n_members} members, {n_nonmembers} non-members); "
                  f"its attack metrics are NaN")
            row.update(dict.fromkeys(metric_columns, np.nan))
        rows.append(row)
    table = pd.DataFrame(rows, index=pd.Index([*names, "all"], name="group"))
    return table[["n_members", "n_nonmembers", "min_resolvable_fpr", *metric_columns]]
