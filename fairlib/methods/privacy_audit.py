"""Developer-side leakage audit of Kamalaruban et al.'s (2025) two-party strategies.

The developer never holds ``s``; but what it receives may still let it recover ``s`` for its own examples. This
module measures how well: an experimenter who knows ``s`` of the developer's training examples fits a
cross-validated logistic probe for ``s`` on *everything the developer receives*, expressed per example of the
developer's own data:

- ``unl`` and the ``orth`` forms: the sensitive adapter, i.e. the shift ``h_s(x) - h_0(x)`` it causes in the
  [CLS] representation of each developer image
  (:func:`fairlib.methods.privacy_strategies.adapter_shift`);
- ``adv``: in every round, the adapter the auditor returns, i.e. the shift ``h_returned(x) - h_sent(x)`` of each
  developer image, the rounds side by side. The scalars sent with it (adversary loss and accuracy) are
  per-round averages over the *auditor's* data: one number per round, the same for every developer example, so
  they cannot tell the developer's examples apart and do not enter a per-example probe;
- ``erm``: nothing is received; there is nothing to audit.

A probe AUC near 0.5 (balanced accuracy near ``1 / groups``) means the received quantity does not reveal ``s``
of the developer's examples to a linear reader; near 1, the developer could label its own data with ``s``.
The existing final-representation probe (``leakage`` in notebook 03) asks something else: how much of ``s`` the
developer's *trained model* carries on test images.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["probe_out_of_fold", "audit_scores", "leakage_audit", "AUDIT_FOLDS", "AUDIT_RESAMPLES"]

#: Folds of the cross-validated probe, and bootstrap resamples of the audit's intervals.
AUDIT_FOLDS = 5
AUDIT_RESAMPLES = 1000


def probe_out_of_fold(features: Any, s: Any, *, folds: int = AUDIT_FOLDS, seed: int = 0) -> np.ndarray:
    """Out-of-fold class probabilities of a standardised logistic probe predicting ``s`` from ``features``.

    Parameters
    ----------
    features : array (n, d)
    s : array of int (n,)
        Group codes ``0 .. G - 1``.
    folds : int
        Stratified folds (scikit-learn's ``StratifiedKFold``, shuffled with ``seed``); each example is predicted
        by the probe fitted on the other folds.
    seed : int

    Returns
    -------
    numpy.ndarray (n, G)
        ``P(s = g | features)`` of each example, from the probe that did not see it.

    Raises
    ------
    ValueError
        Mismatched lengths, fewer than two groups, or a group smaller than ``folds``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.asarray(features, dtype=np.float64)
    s = np.asarray(s, dtype=np.int64)
    if x.ndim != 2 or len(x) != len(s):
        raise ValueError(f"features must be (n, d) with n = len(s) = {len(s)}, got shape {x.shape}")
    counts = np.bincount(s)
    if (counts > 0).sum() < 2:
        raise ValueError("the audit needs at least two groups in s")
    if counts[counts > 0].min() < folds:
        raise ValueError(f"every group needs at least folds={folds} examples, got counts {counts.tolist()}")
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return cross_val_predict(probe, x, s, cv=split, method="predict_proba")


def _auc_rows(score: np.ndarray, positive: np.ndarray) -> np.ndarray:
    # Mann-Whitney AUC of each row (ties count one half): rank-sum of the positives.
    from scipy.stats import rankdata

    ranks = rankdata(score, axis=1)
    n_pos = positive.sum(axis=1)
    n_neg = positive.shape[1] - n_pos
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((ranks * positive).sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def _scores(s: np.ndarray, proba: np.ndarray, index: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray]:
    # Balanced accuracy and (macro one-vs-rest) AUC of each row of resampled indices.
    s_b, p_b = s[index], proba[index]
    predicted = p_b.argmax(axis=2)
    recalls, aucs = [], []
    for g in range(groups):
        member = s_b == g
        with np.errstate(invalid="ignore", divide="ignore"):
            recalls.append((member & (predicted == g)).sum(axis=1) / member.sum(axis=1))
        aucs.append(_auc_rows(p_b[:, :, g], member))
    balanced = np.mean(recalls, axis=0)
    auc = aucs[1] if groups == 2 else np.mean(aucs, axis=0)
    return balanced, auc


def audit_scores(s: Any, proba: Any, *, n_resamples: int = AUDIT_RESAMPLES, confidence: float = 0.95,
                 random_state: int = 0) -> dict:
    """Balanced accuracy and AUC of out-of-fold probe probabilities, with percentile-bootstrap intervals.

    Parameters
    ----------
    s : array of int (n,)
    proba : array (n, G)
        :func:`probe_out_of_fold`'s probabilities.
    n_resamples, confidence, random_state
        Examples are resampled with replacement *within each group* (the group sizes stay fixed, so every
        resample has every group and its AUC is defined); the interval is the percentile interval.

    Returns
    -------
    dict
        ``balanced_accuracy`` (mean recall over groups of the arg-max prediction; chance ``1 / G``), ``auc``
        (binary: ROC AUC of ``P(s = 1)``; more groups: the mean over groups of one-vs-rest AUCs; chance 0.5),
        each with ``_ci_low`` and ``_ci_high``; ``chance_balanced_accuracy``, ``n``, ``groups``,
        ``n_resamples``.
    """
    s = np.asarray(s, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or len(proba) != len(s):
        raise ValueError(f"proba must be (n, G) with n = len(s) = {len(s)}, got shape {proba.shape}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    groups = proba.shape[1]
    if groups < 2 or s.min() < 0 or s.max() >= groups or len(np.unique(s)) < groups:
        raise ValueError(f"s must hold every one of the {groups} groups of proba's columns")
    balanced, auc = _scores(s, proba, np.arange(len(s))[None, :], groups)
    rng = np.random.default_rng(random_state)
    strata = [np.flatnonzero(s == g) for g in range(groups)]
    index = np.concatenate([rng.choice(idx, size=(n_resamples, len(idx)), replace=True) for idx in strata], axis=1)
    boot_balanced, boot_auc = _scores(s, proba, index, groups)
    tail = (1 - confidence) / 2 * 100
    out = {"balanced_accuracy": float(balanced[0]), "auc": float(auc[0])}
    for name, values in (("balanced_accuracy", boot_balanced), ("auc", boot_auc)):
        low, high = np.percentile(values, [tail, 100 - tail])
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = float(low), float(high)
    out.update(chance_balanced_accuracy=1.0 / groups, n=int(len(s)), groups=int(groups), n_resamples=int(n_resamples))
    return out


def leakage_audit(features: Any, s: Any, *, folds: int = AUDIT_FOLDS, seed: int = 0,
                  n_resamples: int = AUDIT_RESAMPLES) -> dict:
    """How well ``s`` of the developer's examples can be read from what the developer received.

    :func:`probe_out_of_fold` then :func:`audit_scores` (same ``seed`` for the folds and the resampling).

    Parameters
    ----------
    features : array (n, d)
        Per developer example, everything it received (see the module docstring).
    s : array of int (n,)
        The developer's examples' groups, known to the experimenter only.
    """
    proba = probe_out_of_fold(features, s, folds=folds, seed=seed)
    return audit_scores(s, proba, n_resamples=n_resamples, random_state=seed)
