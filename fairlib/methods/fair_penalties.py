"""Differentiable group-fairness penalties for in-processing training (Zhang & Zhou 2024, Sections 4.3-4.4).

The paper trains a *fair pre-trained model* (Table 2) and the *Retrain+DP / Retrain+EO* baselines (Table 3) with
a demographic-parity or equalized-odds constraint "incorporated into the objective function", at "regularizer
intensities" 0.1, 0.5 and 0.9. It does not give the penalty's formula. What the text supports, and what this
module implements: a regulariser added to the loss and weighted by the intensity,

    loss = mean cross-entropy + intensity * gap(probs),

where ``gap`` is the soft (probability-based) version of the metric the paper reports: ``Delta_DP`` for "dp" and
``Delta_EO = Delta_TPR + Delta_FPR`` (a sum) for "eo", computed on the predicted positive-class probabilities so
that it is differentiable. The gap enters linearly, with no square and no slack: the paper names neither, and
the linear form keeps ``intensity`` an exchange rate between cross-entropy and the reported bias metric.
(fairtorch-style losses weight a possibly squared constraint violation by ``alpha``; the paper does not say it
used fairtorch.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from .._validation import ConfigError, validate_fields

__all__ = ["demographic_parity_penalty", "equalized_odds_penalty", "positive_probs", "FairnessPenalty"]


def _as_1d(name: str, value: Any, n: int | None = None) -> torch.Tensor:
    value = torch.as_tensor(value)
    if value.ndim != 1:
        raise ValueError(f"{name} must be 1-d, got shape {tuple(value.shape)}")
    if n is not None and value.shape[0] != n:
        raise ValueError(f"{name} has {value.shape[0]} entries, expected {n}")
    return value


def _group_gap(probs: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    # Groups absent from the batch have no mean: the gap is over the groups present, and 0 below two groups
    # (a batch with one group carries no disparity signal, and NaN would poison the whole loss).
    present, inverse = torch.unique(groups, return_inverse=True)
    if present.numel() < 2:
        return (probs * 0).sum()  # stays on the autograd graph, so backward() works even on a zero penalty
    sums = probs.new_zeros(present.numel()).index_add(0, inverse, probs)
    counts = torch.bincount(inverse, minlength=present.numel()).to(probs.dtype)
    means = sums / counts
    return means.max() - means.min()


def demographic_parity_penalty(probs: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """Soft demographic-parity gap ``max_g mean(p | s = g) - min_g mean(p | s = g)``.

    For two groups this is ``|mean(p | s = a) - mean(p | s = b)|``, the paper's ``Delta_DP`` with the predicted
    probability in place of the hard prediction.

    Parameters
    ----------
    probs : Tensor, shape (n,)
        Predicted probability of the positive class (differentiable).
    groups : Tensor of int, shape (n,)
        Sensitive-group code of each sample (any integer codes).

    Returns
    -------
    Tensor, scalar
        Over the groups present in ``groups``; 0 (still attached to ``probs``' graph) if fewer than two are.
    """
    probs = _as_1d("probs", probs)
    groups = _as_1d("groups", groups, probs.shape[0])
    return _group_gap(probs, groups)


def equalized_odds_penalty(probs: torch.Tensor, labels: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """Soft equalized-odds gap ``sum_{y in {0, 1}} (max_g - min_g) mean(p | s = g, Y = y)``.

    For two groups, the ``y = 1`` term is the soft ``Delta_TPR`` and the ``y = 0`` term the soft ``Delta_FPR``;
    their *sum* is the paper's ``Delta_EO`` (fairlearn's default is the max instead).

    Parameters
    ----------
    probs : Tensor, shape (n,)
        Predicted probability of the positive class (differentiable).
    labels : Tensor of int, shape (n,)
        True labels in ``{0, 1}``.
    groups : Tensor of int, shape (n,)

    Returns
    -------
    Tensor, scalar
        Each label's term is over the groups present among the samples with that label, and 0 if fewer than
        two groups (or no sample) have that label.

    Raises
    ------
    ValueError
        If ``labels`` holds values other than 0 and 1.
    """
    probs = _as_1d("probs", probs)
    labels = _as_1d("labels", labels, probs.shape[0])
    groups = _as_1d("groups", groups, probs.shape[0])
    if ((labels != 0) & (labels != 1)).any():
        raise ValueError("equalized_odds_penalty needs binary labels in {0, 1}")
    total = (probs * 0).sum()
    for y in (0, 1):
        mask = labels == y
        total = total + _group_gap(probs[mask], groups[mask])
    return total


def positive_probs(logits: torch.Tensor) -> torch.Tensor:
    """Positive-class probability from binary logits: softmax column 1 of ``(n, 2)``, sigmoid of ``(n,)``/``(n, 1)``.

    Raises
    ------
    ValueError
        For more than two classes (the penalties are defined for a binary task).
    """
    logits = logits.float()  # mixed-precision logits would make small gaps round to 0
    if logits.ndim == 2 and logits.shape[1] == 2:
        return torch.softmax(logits, dim=1)[:, 1]
    if logits.ndim == 1 or (logits.ndim == 2 and logits.shape[1] == 1):
        return torch.sigmoid(logits.reshape(-1))
    raise ValueError(f"binary logits of shape (n, 2), (n, 1) or (n,) expected, got {tuple(logits.shape)}")


@dataclass(frozen=True)
class FairnessPenalty:
    """Extra loss term ``intensity * gap`` for :func:`fairlib.train.fit` (``loss_terms=[FairnessPenalty(...)]``).

    Parameters
    ----------
    kind : {"dp", "eo"}
        "dp": :func:`demographic_parity_penalty`; "eo": :func:`equalized_odds_penalty`.
    intensity : float
        Weight of the penalty relative to the mean cross-entropy: the paper's "regularizer intensity"
        (0.1, 0.5, 0.9). Finite and ``>= 0``; 0 switches the term off. Values above 1 are allowed (the paper
        does not bound it; it only uses values below 1).

    Notes
    -----
    The gap is computed on the batch the term receives. Under several processes each one sees its share of
    the global batch, so the penalty is that of the share (DDP then averages the gradients): with one process
    it is exactly the batch gap. A batch lacking a group is handled as in the penalty functions (present groups
    only, 0 below two).
    """

    # No defaults: which constraint and how strong are the experiment's choice, never implicit.
    kind: str = field(metadata={"choices": ("dp", "eo")})
    intensity: float = field(metadata={"ge": 0.0})

    def __post_init__(self) -> None:
        validate_fields(self)
        if math.isinf(self.intensity):
            raise ConfigError(f"FairnessPenalty.intensity = {self.intensity!r} is invalid: must be finite")

    def __call__(self, logits: torch.Tensor, batch: dict, *, per_sample_loss: torch.Tensor | None = None,
                 accelerator: Any = None) -> torch.Tensor:
        """``intensity * gap(positive_probs(logits))`` with ``batch["y"]`` and ``batch["s"]``.

        ``per_sample_loss`` and ``accelerator`` are accepted for :class:`fairlib.train.LossTerm` and unused.
        """
        probs = positive_probs(logits)
        groups = torch.as_tensor(batch["s"], device=probs.device).reshape(-1)
        if self.kind == "dp":
            gap = demographic_parity_penalty(probs, groups)
        else:
            labels = torch.as_tensor(batch["y"], device=probs.device).reshape(-1)
            gap = equalized_odds_penalty(probs, labels, groups)
        return self.intensity * gap
