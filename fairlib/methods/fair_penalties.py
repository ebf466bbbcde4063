"""Differentiable group-fairness penalties for in-processing training (Zhang & Zhou 2024, Sections 4.3-4.4).

The paper trains a *fair pre-trained model* (Table 2) and the *Retrain+DP / Retrain+EO* baselines (Table 3) with
a demographic-parity or equalized-odds constraint "incorporated into the objective function", at "regularizer
intensities" 0.1, 0.5 and 0.9. Its text does not write the penalty's formula. One reading of the text, and the
first form this module implements (``"probability_gap"``): a regulariser added to the loss and weighted by the intensity,

    loss = mean cross-entropy + intensity * gap(probs),

where ``gap`` is the soft (probability-based) version of the metric the paper reports: ``Delta_DP`` for "dp" and
``Delta_EO = Delta_TPR + Delta_FPR`` (a sum) for "eo", computed on the predicted positive-class probabilities so
that it is differentiable. The gap enters linearly, with no square and no slack: the paper names neither, and
the linear form keeps ``intensity`` an exchange rate between cross-entropy and the reported bias metric.
(fairtorch-style losses weight a possibly squared constraint violation by ``alpha``; the paper does not say it
used fairtorch.)

The paper does, however, cite the method its fair pre-trained model ``f_F`` follows (Section 3.2: "the
in-processing fairness-aware learning approach" of Zafar et al., arXiv:1507.05259; its bibliography also lists
the same authors' arXiv:1610.08452 for equalized odds). Those constrain a **covariance with the signed distance to
the decision boundary** instead of a gap of probabilities: :func:`zafar_dp_covariance`,
:func:`zafar_eo_covariance` and :class:`CovariancePenalty`. Both forms are named (:data:`PENALTY_FORMS`) and
built by :func:`make_penalty`:

* ``"zafar_covariance"``: ``loss = mean cross-entropy + intensity * |Cov|`` (the paper's citation);
* ``"probability_gap"``: ``loss = mean cross-entropy + intensity * gap(probs)`` (:class:`FairnessPenalty`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from .._validation import ConfigError, validate_fields

__all__ = ["demographic_parity_penalty", "equalized_odds_penalty", "positive_probs", "FairnessPenalty",
           "decision_margin", "group_covariances", "zafar_dp_covariance", "zafar_eo_covariance",
           "CovariancePenalty", "PENALTY_FORMS", "make_penalty"]

#: The named forms of a fairness penalty (:func:`make_penalty`): Zafar et al.'s covariance constraint (the form
#: the paper cites for its fair pre-trained model) and the probability gap of the reported metric.
PENALTY_FORMS = ("zafar_covariance", "probability_gap")


def _as_1d(name: str, value: Any, n: int | None = None) -> torch.Tensor:
    value = torch.as_tensor(value)
    if value.ndim != 1:
        raise ValueError(f"{name} must be 1-d, got shape {tuple(value.shape)}")
    if n is not None and value.shape[0] != n:
        raise ValueError(f"{name} has {value.shape[0]} entries, expected {n}")
    return value


def _binary_batch(function: str, name: str, values: Any, labels: Any, groups: Any
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``values``, ``labels``, ``groups`` as 1-d tensors of one length; ``labels`` must be in ``{0, 1}``."""
    values = _as_1d(name, values)
    labels = _as_1d("labels", labels, values.shape[0])
    groups = _as_1d("groups", groups, values.shape[0])
    if ((labels != 0) & (labels != 1)).any():
        raise ValueError(f"{function} needs binary labels in {{0, 1}}")
    return values, labels, groups


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
    probs, labels, groups = _binary_batch("equalized_odds_penalty", "probs", probs, labels, groups)
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
class _BatchPenalty:
    """A fairness penalty on the batch as a :class:`fairlib.train.LossTerm`: ``intensity * penalty`` of the scores
    a subclass derives from the logits (``_scores``), by its demographic-parity (``_dp(scores, groups)``) or
    equalized-odds (``_eo(scores, labels, groups)``) function, with ``batch["y"]`` and ``batch["s"]``."""

    kind: str = field(metadata={"choices": ("dp", "eo")})
    intensity: float = field(metadata={"ge": 0.0})

    def __post_init__(self) -> None:
        validate_fields(self)
        if math.isinf(self.intensity):
            raise ConfigError(f"{type(self).__name__}.intensity = {self.intensity!r} is invalid: must be finite")

    def __call__(self, logits: torch.Tensor, batch: dict, *, per_sample_loss: torch.Tensor | None = None,
                 accelerator: Any = None) -> torch.Tensor:
        """``intensity * penalty`` of the batch; ``per_sample_loss`` and ``accelerator`` are accepted for
        :class:`fairlib.train.LossTerm` and unused."""
        scores = self._scores(logits)
        groups = torch.as_tensor(batch["s"], device=scores.device).reshape(-1)
        if self.kind == "dp":
            value = self._dp(scores, groups)
        else:
            labels = torch.as_tensor(batch["y"], device=scores.device).reshape(-1)
            value = self._eo(scores, labels, groups)
        return self.intensity * value


@dataclass(frozen=True)
class FairnessPenalty(_BatchPenalty):
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

    # No defaults (fields of _BatchPenalty): which constraint and how strong are the experiment's choice.

    @staticmethod
    def _scores(logits: torch.Tensor) -> torch.Tensor:
        return positive_probs(logits)

    _dp = staticmethod(demographic_parity_penalty)
    _eo = staticmethod(equalized_odds_penalty)


# ------------------------------------------------------------------------------------ Zafar et al. covariances
def decision_margin(logits: torch.Tensor) -> torch.Tensor:
    """Signed distance to the decision boundary ``d_theta(x)`` of a binary classifier: the logit margin.

    ``z_1 - z_0`` for ``(n, 2)`` logits (``softmax`` predicts 1 exactly when it is > 0), the logit itself for
    ``(n,)`` or ``(n, 1)``. For a linear model it is Zafar et al.'s ``theta^T x``; for a network it is the same
    quantity on the last layer's input (the "distance" up to the norm of the last layer's weight difference).

    Raises
    ------
    ValueError
        For more than two classes.
    """
    logits = logits.float()
    if logits.ndim == 2 and logits.shape[1] == 2:
        return logits[:, 1] - logits[:, 0]
    if logits.ndim == 1 or (logits.ndim == 2 and logits.shape[1] == 1):
        return logits.reshape(-1)
    raise ValueError(f"binary logits of shape (n, 2), (n, 1) or (n,) expected, got {tuple(logits.shape)}")


def group_covariances(values: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """``Cov(1[s = g], v) = (1/N) sum_i (1[s_i = g] - mean_i 1[s_i = g]) * v_i`` for each group ``g`` present.

    The empirical covariance of Zafar et al. (arXiv:1507.05259, Eq. 3; ``N`` in the denominator, the batch's own
    mean of the indicator), one entry per group code present in ``groups``, in ascending code order. A categorical
    attribute is one-hot encoded, one covariance per value, as in their Section 3 for non-binary attributes; for
    two groups the two entries are opposite numbers (the indicators sum to 1), so either is "the" covariance
    ``Cov(z, d)`` with ``z`` binary.

    Parameters
    ----------
    values : Tensor, shape (n,)
        ``d_theta(x_i)`` (or, for disparate mistreatment, ``g_theta(y_i, x_i)``); differentiable.
    groups : Tensor of int, shape (n,)
        Sensitive-group code of each sample (any integer codes).

    Returns
    -------
    Tensor, shape (k,)
        ``k`` = number of distinct codes; empty for an empty batch.
    """
    values = _as_1d("values", values).float()
    groups = _as_1d("groups", groups, values.shape[0])
    present = torch.unique(groups)
    if values.numel() == 0:
        return values.new_zeros(0)
    indicators = (groups.reshape(1, -1) == present.reshape(-1, 1)).to(values.dtype)  # (k, n) one-hot
    centred = indicators - indicators.mean(dim=1, keepdim=True)
    return (centred * values.reshape(1, -1)).mean(dim=1)


def _largest_abs(covariances: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    # One group (or none): every indicator is constant, the covariance 0; keep it on the graph.
    if covariances.numel() < 2:
        return (values * 0).sum()
    return covariances.abs().max()


def zafar_dp_covariance(margin: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """Demographic-parity ("disparate impact") covariance of Zafar et al. (arXiv:1507.05259): ``|Cov(z, d)|``.

    ``Cov(z, d_theta(x)) = (1/N) sum_i (z_i - mean z) d_theta(x_i)``, with ``z`` the sensitive attribute and
    ``d_theta`` the signed distance to the decision boundary (:func:`decision_margin`). Zafar et al. bound it,
    ``|Cov| <= c``, as a proxy for equal positive rates: a boundary whose signed distances do not co-vary with
    ``z`` puts both groups on its positive side alike. For more than two groups the value is the largest
    ``|Cov(1[s = g], d)|`` over the groups (each one-hot constraint must hold); for two it is ``|Cov(z, d)|``.

    Parameters
    ----------
    margin : Tensor, shape (n,)
        ``d_theta(x)`` of each sample (differentiable).
    groups : Tensor of int, shape (n,)

    Returns
    -------
    Tensor, scalar
        ``>= 0``; 0 (attached to ``margin``'s graph) when fewer than two groups are present.
    """
    margin = _as_1d("margin", margin)
    groups = _as_1d("groups", groups, margin.shape[0])
    return _largest_abs(group_covariances(margin, groups), margin)


def zafar_eo_covariance(margin: torch.Tensor, labels: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """Equalized-odds ("disparate mistreatment") covariance of Zafar et al. (arXiv:1610.08452).

    Our reading of their Section 4 (and of their released code's FPR / FNR constraints): with labels
    ``y in {-1, +1}`` (here ``2 * labels - 1``), the distance of a **misclassified** point is
    ``g_theta(y, x) = min(0, y d_theta(x))`` (0 for a correctly classified point, ``-|d|`` for a misclassified
    one). The false-positive-rate constraint keeps only the negatives, ``g^FPR = min(0, (1 - y)/2 * y d)``, the
    false-negative-rate one only the positives, ``g^FNR = min(0, (1 + y)/2 * y d)``, and each bounds
    ``|Cov(z, g) | = |(1/N) sum_i (z_i - mean z) g_i|`` with ``N`` and ``mean z`` over **all** samples of the batch
    (the zeros of the other label included, as in their formula). Equalized odds asks for both (their constraint
    type "FPR and FNR"); as a single penalty we add the two, matching the paper's
    ``Delta_EO = Delta_TPR + Delta_FPR`` (a sum; equal FNRs are equal TPRs):

        ``|Cov(z, g^FPR)| + |Cov(z, g^FNR)|``

    (for more than two groups each term is the largest over the one-hot indicators, as in
    :func:`zafar_dp_covariance`). Only misclassified points carry gradient; a batch without errors gives 0.

    Parameters
    ----------
    margin : Tensor, shape (n,)
        ``d_theta(x)`` (differentiable).
    labels : Tensor of int, shape (n,)
        True labels in ``{0, 1}``.
    groups : Tensor of int, shape (n,)

    Returns
    -------
    Tensor, scalar

    Raises
    ------
    ValueError
        If ``labels`` holds values other than 0 and 1.
    """
    margin, labels, groups = _binary_batch("zafar_eo_covariance", "margin", margin, labels, groups)
    signed = (2 * labels.to(margin.dtype) - 1) * margin.float()  # y d_theta(x), y in {-1, +1}
    mistreated = torch.clamp(signed, max=0.0)  # min(0, y d)
    total = (margin * 0).sum()
    for y in (0, 1):  # y = 0: false positives; y = 1: false negatives
        g = mistreated * (labels == y).to(mistreated.dtype)
        total = total + _largest_abs(group_covariances(g, groups), margin)
    return total


@dataclass(frozen=True)
class CovariancePenalty(_BatchPenalty):
    """Extra loss term ``intensity * |Cov|`` (Zafar et al.) for :func:`fairlib.train.fit`.

    ``loss = mean cross-entropy + intensity * |Cov|``: the covariance enters **in absolute value, not squared**.
    Zafar et al. state the constraint as ``|Cov| <= c``; its penalty (Lagrangian) form is linear in ``|Cov|``, and
    the linear form keeps ``intensity`` an exchange rate, as in :class:`FairnessPenalty`. A square would weaken the
    pull near 0, where the fair model is meant to sit.

    Parameters
    ----------
    kind : {"dp", "eo"}
        "dp": :func:`zafar_dp_covariance` (arXiv:1507.05259); "eo": :func:`zafar_eo_covariance`
        (arXiv:1610.08452, false-positive and false-negative covariances added).
    intensity : float
        Weight relative to the mean cross-entropy (the paper's 0.1, 0.5, 0.9). Finite and ``>= 0``.

    Notes
    -----
    Zafar et al. solve a constrained convex program on the whole training set (a logistic regression); here the
    covariance is that of the mini-batch the term receives (a stochastic estimate of the training set's), and
    ``d_theta`` is the network's logit margin (:func:`decision_margin`). Under several processes each sees its
    share of the batch, as for :class:`FairnessPenalty`.
    """

    @staticmethod
    def _scores(logits: torch.Tensor) -> torch.Tensor:
        return decision_margin(logits)

    _dp = staticmethod(zafar_dp_covariance)
    _eo = staticmethod(zafar_eo_covariance)


def make_penalty(form: str, *, kind: str, intensity: float) -> FairnessPenalty | CovariancePenalty:
    """The loss term of fairness penalty ``form`` (one of :data:`PENALTY_FORMS`) for constraint ``kind``.

    Parameters
    ----------
    form : {"zafar_covariance", "probability_gap"}
        :class:`CovariancePenalty` or :class:`FairnessPenalty`.
    kind : {"dp", "eo"}
    intensity : float

    Raises
    ------
    ConfigError
        For an unknown ``form`` (naming the valid ones) or an invalid ``kind`` / ``intensity``.
    """
    if form == "zafar_covariance":
        return CovariancePenalty(kind=kind, intensity=intensity)
    if form == "probability_gap":
        return FairnessPenalty(kind=kind, intensity=intensity)
    raise ConfigError(f"fairness penalty form {form!r} is unknown; valid: {PENALTY_FORMS}")
