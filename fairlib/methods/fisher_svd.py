"""Fisher-neutralised weighted SVD of the last linear layer (Zhang & Zhou 2024, arXiv 2403.00625).

The method, on a model whose feature extractor is frozen:

1. per sensitive group ``s``, the empirical Fisher diagonal of the last layer's weight,
   ``F_s = mean_{i in s} (dL_i/dW)^2`` with ``L_i`` the cross-entropy of sample ``i`` at its true label (Eq. 1);
2. one importance per *row* of the paper's ``W`` (``d x k`` = ``in x out``), i.e. per input unit:
   ``I_s[i] = sqrt(sum_j F_s[i, j])``;
3. neutralisation ``I_N = (I_1 + I_2) / 2`` (Eq. 2; ablation ``alpha I_1 + (1 - alpha) I_2``);
4. weighted SVD ``diag(I_N) W = U S V^T``, ``A = diag(I_N)^-1 U_r S_r``, ``B = V_r^T`` (Eq. 4), and the layer
   ``x -> x A B + b`` replaces the original one and is fine-tuned (Algorithm 1).

Orientation. The paper writes ``Z = X W + b`` with ``W`` of shape ``(in, out)``; ``torch.nn.Linear.weight`` is
``(out, in)``, i.e. ``W.T``. :func:`group_fisher_diagonal` returns Fisher values in torch's ``(out, in)``
layout (so they line up with ``layer.weight``); :func:`row_importance` reduces over ``out`` and returns one value
per input unit; :func:`weighted_svd_factors` and :func:`svd_factors` take the paper's ``(in, out)`` matrix,
i.e. ``layer.weight.T``.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

__all__ = [
    "group_fisher_diagonal",
    "group_fisher_diagonal_loop",
    "row_importance",
    "neutralize",
    "neutralized_importance",
    "weighted_svd_factors",
    "svd_factors",
    "FactorizedLinear",
    "replace_last_linear",
]


# ---------------------------------------------------------------------------------------------- Fisher


def _check_inputs(layer: nn.Linear, features: torch.Tensor, labels: torch.Tensor, groups: torch.Tensor,
                  num_groups: int | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    if not isinstance(layer, nn.Linear):
        raise TypeError(f"layer must be a torch.nn.Linear, got {type(layer).__name__}")
    features = torch.as_tensor(features)
    labels = torch.as_tensor(labels).long().reshape(-1)
    groups = torch.as_tensor(groups).long().reshape(-1)
    if features.ndim != 2 or features.shape[1] != layer.in_features:
        raise ValueError(f"features must have shape (n, {layer.in_features}), got {tuple(features.shape)}")
    n = features.shape[0]
    if labels.shape[0] != n or groups.shape[0] != n:
        raise ValueError(f"features, labels and groups must have the same length, got {n}, {labels.shape[0]}, "
                         f"{groups.shape[0]}")
    if n == 0:
        raise ValueError("no samples: the Fisher diagonal is a mean over samples")
    if labels.min() < 0 or labels.max() >= layer.out_features:
        raise ValueError(f"labels must lie in 0 .. {layer.out_features - 1}")
    if groups.min() < 0:
        raise ValueError("group codes must be non-negative integers 0 .. num_groups - 1")
    if num_groups is None:
        num_groups = int(groups.max()) + 1
    elif int(groups.max()) >= num_groups:
        raise ValueError(f"group code {int(groups.max())} is out of range for num_groups={num_groups}")
    counts = torch.bincount(groups, minlength=num_groups)
    empty = [g for g in range(num_groups) if counts[g] == 0]
    if empty:
        # An empty group would silently give a zero (or NaN) importance, which then dominates the neutralisation.
        raise ValueError(f"group {empty[0]} has no samples (groups without samples: {empty}); the per-group Fisher "
                         f"diagonal is undefined")
    return features, labels, groups, num_groups


def _params(layer: nn.Linear, dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    params = {name: p.detach() for name, p in layer.named_parameters()}
    if dtype is not None:
        params = {name: p.to(dtype) for name, p in params.items()}
    return params


def _per_sample_loss(layer: nn.Linear) -> Callable:
    def loss(params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits = functional_call(layer, params, (x.unsqueeze(0),))
        return F.cross_entropy(logits, y.unsqueeze(0))

    return loss


def group_fisher_diagonal(layer: nn.Linear, features: torch.Tensor, labels: torch.Tensor, *,
                          groups: torch.Tensor, num_groups: int | None = None, batch_size: int = 4096,
                          dtype: torch.dtype | None = torch.float64,
                          include_bias: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Empirical Fisher diagonal of a final linear layer, per sensitive group (Eq. 1 of the paper).

    ``F_g = mean over the samples of group g of (d CE(layer(x_i), y_i) / d weight)^2``, with the true labels
    ``y_i`` (the *empirical* Fisher). Per-sample gradients are computed all at once with
    ``torch.func.vmap(grad(...))`` over ``functional_call``, in chunks of ``batch_size`` samples.

    Parameters
    ----------
    layer : nn.Linear
        The last layer (``out`` classes, ``in`` features); it is not modified.
    features : Tensor, shape (n, in)
        The frozen penultimate representation of each sample.
    labels : Tensor of int, shape (n,)
        True class of each sample, ``0 .. out - 1``.
    groups : Tensor of int, shape (n,)
        Sensitive-group code of each sample, ``0 .. num_groups - 1``.
    num_groups : int, optional
        Default: ``groups.max() + 1``.
    batch_size : int
        Samples per vectorised chunk (bounds the memory of the per-sample gradients).
    dtype : torch.dtype or None
        Precision of the computation; ``None`` keeps the layer's. The default float64 makes the mean over many
        samples accurate to ~1e-15 and costs little for a classification head.
    include_bias : bool
        Also return the Fisher diagonal of the bias.

    Returns
    -------
    Tensor, shape (num_groups, out, in)
        The Fisher diagonal of ``layer.weight`` (torch's ``(out, in)`` layout), one slice per group;
        with ``include_bias`` a tuple ``(weight_fisher, bias_fisher)``, the latter of shape ``(num_groups, out)``.

    Raises
    ------
    ValueError
        If a group in ``0 .. num_groups - 1`` has no samples (the message names it), or on inconsistent shapes,
        labels or group codes.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    features, labels, groups, num_groups = _check_inputs(layer, features, labels, groups, num_groups)
    params = _params(layer, dtype)
    work_dtype, device = params["weight"].dtype, params["weight"].device
    features, labels, groups = features.to(device), labels.to(device), groups.to(device)
    per_sample_grads = vmap(grad(_per_sample_loss(layer)), in_dims=(None, 0, 0))

    sums = {name: torch.zeros((num_groups, *p.shape), dtype=work_dtype, device=device) for name, p in params.items()}
    for start in range(0, features.shape[0], batch_size):
        x = features[start:start + batch_size].to(work_dtype)
        grads = per_sample_grads(params, x, labels[start:start + batch_size])
        g = groups[start:start + batch_size]
        for name, value in grads.items():
            sums[name].index_add_(0, g, value.square())
    counts = torch.bincount(groups, minlength=num_groups).to(work_dtype)
    weight = sums["weight"] / counts[:, None, None]
    if not include_bias:
        return weight
    if "bias" not in sums:
        raise ValueError("include_bias=True but the layer has no bias")
    return weight, sums["bias"] / counts[:, None]


def group_fisher_diagonal_loop(layer: nn.Linear, features: torch.Tensor, labels: torch.Tensor, *,
                               groups: torch.Tensor, num_groups: int | None = None,
                               dtype: torch.dtype | None = torch.float64,
                               include_bias: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Reference implementation of :func:`group_fisher_diagonal`: one autograd backward pass per sample.

    Slow by design (a Python loop); kept for the tests and ``bench/bench_fisher.py``. Same parameters, returns
    and errors as :func:`group_fisher_diagonal` (without ``batch_size``).
    """
    features, labels, groups, num_groups = _check_inputs(layer, features, labels, groups, num_groups)
    params = _params(layer, dtype)
    work_dtype, device = params["weight"].dtype, params["weight"].device
    features, labels, groups = features.to(device), labels.to(device), groups.to(device)
    weight = params["weight"].clone().requires_grad_(True)
    bias = params["bias"].clone().requires_grad_(True) if "bias" in params else None
    sum_w = torch.zeros((num_groups, *weight.shape), dtype=work_dtype, device=device)
    sum_b = torch.zeros((num_groups, layer.out_features), dtype=work_dtype, device=device)
    for i in range(features.shape[0]):
        logits = F.linear(features[i:i + 1].to(work_dtype), weight, bias)
        loss = F.cross_entropy(logits, labels[i:i + 1])
        inputs = (weight,) if bias is None else (weight, bias)
        grads = torch.autograd.grad(loss, inputs)
        g = int(groups[i])
        sum_w[g] += grads[0].square()
        if bias is not None:
            sum_b[g] += grads[1].square()
    counts = torch.bincount(groups, minlength=num_groups).to(work_dtype)
    fisher_w = sum_w / counts[:, None, None]
    if not include_bias:
        return fisher_w
    if bias is None:
        raise ValueError("include_bias=True but the layer has no bias")
    return fisher_w, sum_b / counts[:, None]


# ------------------------------------------------------------------------------------------ importance


def row_importance(fisher_diag: torch.Tensor) -> torch.Tensor:
    """One importance per input unit: ``I_g[i] = sqrt(sum_j F_g[j, i])``.

    The paper's ``W`` is ``(in, out)`` and its "row" ``i`` is input unit ``i`` (``I_{W_i} = sum_j I_{W_ij}``,
    then ``diag(sqrt(.))``). Here ``fisher_diag`` is in torch's ``(out, in)`` layout, as returned by
    :func:`group_fisher_diagonal`, so the sum runs over the *output* axis (dimension -2).

    Parameters
    ----------
    fisher_diag : Tensor, shape (num_groups, out, in) or (out, in)

    Returns
    -------
    Tensor, shape (num_groups, in) or (in,)

    Raises
    ------
    ValueError
        If ``fisher_diag`` has fewer than 2 dimensions or negative entries (a Fisher diagonal is a mean of
        squares).
    """
    fisher_diag = torch.as_tensor(fisher_diag)
    if fisher_diag.ndim not in (2, 3):
        raise ValueError(f"fisher_diag must have shape (num_groups, out, in) or (out, in), got "
                         f"{tuple(fisher_diag.shape)}")
    if (fisher_diag < 0).any():
        raise ValueError("fisher_diag has negative entries; a Fisher diagonal is a mean of squares")
    return fisher_diag.sum(dim=-2).sqrt()


def neutralize(importance: torch.Tensor, *, alpha: float = 0.5) -> torch.Tensor:
    """Neutralised importance ``I_N = alpha I_1 + (1 - alpha) I_2`` (Eq. 2 and the ablation of Fig. 5).

    Group order follows the group codes: ``I_1`` is ``importance[0]`` (code 0, the paper's ``S = 1``) and
    ``I_2`` is ``importance[1]``. The paper's method is ``alpha = 0.5``; its ablation uses ``alpha in [0.5, 1)``;
    any ``alpha in [0, 1]`` is accepted here.

    With more than two groups the paper is silent; the rule here: only ``alpha = 0.5`` is accepted and means
    "every group weighs the same", ``I_N = mean_g I_g`` (which is Eq. 2 when there are two groups). Any other
    ``alpha`` with ``num_groups != 2`` raises, since which group gets ``alpha`` would be ambiguous.

    Parameters
    ----------
    importance : Tensor, shape (num_groups, in)
        Per-group row importances from :func:`row_importance`.
    alpha : float
        Weight of group 0.

    Returns
    -------
    Tensor, shape (in,)

    Raises
    ------
    ValueError
        If ``alpha`` is not a number in ``[0, 1]``, if ``importance`` is not 2-d with at least two groups, or if
        ``alpha != 0.5`` with a number of groups other than two.
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
    importance = torch.as_tensor(importance)
    if importance.ndim != 2:
        raise ValueError(f"importance must have shape (num_groups, in), got {tuple(importance.shape)}")
    num_groups = importance.shape[0]
    if num_groups < 2:
        raise ValueError(f"neutralisation needs at least two groups, got {num_groups}")
    if num_groups == 2:
        return alpha * importance[0] + (1.0 - alpha) * importance[1]
    if alpha != 0.5:
        raise ValueError(f"alpha={alpha} is defined for exactly two groups; with {num_groups} groups only "
                         f"alpha=0.5 (the unweighted mean over groups) is supported")
    return importance.mean(dim=0)


def neutralized_importance(layer: nn.Linear, features: torch.Tensor, labels: torch.Tensor, *,
                           groups: torch.Tensor, num_groups: int | None = None, alpha: float = 0.5
                           ) -> dict[str, torch.Tensor]:
    """Steps 1-3 of the method in one call: per-group Fisher, row importances, neutralised importance.

    Parameters
    ----------
    layer, features, labels, groups, num_groups
        As in :func:`group_fisher_diagonal`.
    alpha : float
        As in :func:`neutralize`.

    Returns
    -------
    dict
        ``fisher`` (num_groups, out, in), ``per_group`` (num_groups, in) and ``importance`` (in,), the
        ``I_N`` that :meth:`FactorizedLinear.from_linear` takes.
    """
    fisher = group_fisher_diagonal(layer, features, labels, groups=groups, num_groups=num_groups)
    per_group = row_importance(fisher)
    return {"fisher": fisher, "per_group": per_group, "importance": neutralize(per_group, alpha=alpha)}


# ----------------------------------------------------------------------------------------- factorising


def _check_rank(rank: int, weight: torch.Tensor) -> None:
    full = min(weight.shape)
    if isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= full:
        raise ValueError(f"rank must be an int in [1, {full}] for a {tuple(weight.shape)} weight, got {rank!r}")


def svd_factors(weight: torch.Tensor, *, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Truncated plain SVD ``W ~= A B`` (the paper's f+SVD baseline, Eq. 3): ``A = U_r S_r``, ``B = V_r^T``.

    Parameters
    ----------
    weight : Tensor, shape (in, out)
        The paper's orientation, i.e. ``linear.weight.T``.
    rank : int
        ``1 .. min(in, out)``; at ``min(in, out)`` the product reconstructs ``weight``.

    Returns
    -------
    A : Tensor, shape (in, rank)
    B : Tensor, shape (rank, out)
        In ``weight``'s dtype; the SVD itself runs in float64.
    """
    weight = torch.as_tensor(weight)
    if weight.ndim != 2:
        raise ValueError(f"weight must be 2-d (in, out), got {tuple(weight.shape)}")
    _check_rank(rank, weight)
    u, s, vh = torch.linalg.svd(weight.detach().double(), full_matrices=False)
    a = u[:, :rank] * s[:rank]
    return a.to(weight.dtype), vh[:rank].to(weight.dtype)


def weighted_svd_factors(weight_in_out: torch.Tensor, importance: torch.Tensor, *, rank: int,
                         eps: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor]:
    """Importance-weighted truncated SVD (Eq. 4): minimise ``||I (W - A B)||_F`` over rank-``r`` ``A B``.

    With ``I = diag(importance)``: ``I W = U S V^T``, ``A = I^-1 U_r S_r``, ``B = V_r^T``. By Eckart-Young on
    ``I W`` this is the exact minimiser of the weighted error, which equals ``sqrt(sum of the dropped S^2)``.

    Zero importance: an input unit with zero importance would make ``I`` singular. Importances are clamped
    below at ``eps * max(importance)``; a *relative* floor keeps the result invariant to rescaling
    ``importance`` (as the unclamped method is) and reconstructs ``W`` at full rank. If every importance is
    zero the weighting carries no information and uniform weights (the plain SVD) are used.

    Parameters
    ----------
    weight_in_out : Tensor, shape (in, out)
        The paper's orientation, i.e. ``linear.weight.T``.
    importance : Tensor, shape (in,)
        Non-negative importance per input unit, e.g. :func:`neutralize` of :func:`row_importance`.
    rank : int
        ``1 .. min(in, out)``.
    eps : float
        Relative floor of the importances, in ``(0, 1]``.

    Returns
    -------
    A : Tensor, shape (in, rank)
    B : Tensor, shape (rank, out)
        In ``weight_in_out``'s dtype; the computation runs in float64 because ``I^-1`` can be ill-conditioned.

    Raises
    ------
    ValueError
        On shape mismatch, an invalid ``rank`` or ``eps``, or negative / non-finite importances.
    """
    weight = torch.as_tensor(weight_in_out)
    importance = torch.as_tensor(importance)
    if weight.ndim != 2:
        raise ValueError(f"weight_in_out must be 2-d (in, out), got {tuple(weight.shape)}")
    if importance.shape != (weight.shape[0],):
        raise ValueError(f"importance must have shape ({weight.shape[0]},) = (in,), got {tuple(importance.shape)}")
    _check_rank(rank, weight)
    if not 0.0 < eps <= 1.0:
        raise ValueError(f"eps must be in (0, 1], got {eps!r}")
    imp = importance.detach().double()
    if not torch.isfinite(imp).all() or (imp < 0).any():
        raise ValueError("importance must be finite and non-negative")
    top = imp.max()
    imp = torch.ones_like(imp) if top == 0 else imp.clamp_min(eps * top)
    w = weight.detach().double()
    u, s, vh = torch.linalg.svd(imp[:, None] * w, full_matrices=False)
    a = (u[:, :rank] * s[:rank]) / imp[:, None]
    return a.to(weight.dtype), vh[:rank].to(weight.dtype)


class FactorizedLinear(nn.Module):
    """``x -> x @ A @ B + bias``: the two small layers that replace the last linear layer (Algorithm 1).

    ``A`` (``in x r``) is the paper's first layer ``I_N^-1 U_r S_r`` and ``B`` (``r x out``) its second layer
    ``V_r^T`` with the original bias. All three are trainable parameters: for the Adult MLP (``20 x 2`` head,
    rank 2) that is ``40 + 4 + 2 = 46``, the paper's count.

    Parameters
    ----------
    A : Tensor, shape (in, rank)
    B : Tensor, shape (rank, out)
    bias : Tensor, shape (out,), optional
    """

    def __init__(self, A: torch.Tensor, B: torch.Tensor, bias: torch.Tensor | None = None):
        super().__init__()
        if A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[0]:
            raise ValueError(f"A (in, r) and B (r, out) do not chain: {tuple(A.shape)} and {tuple(B.shape)}")
        if bias is not None and bias.shape != (B.shape[1],):
            raise ValueError(f"bias must have shape ({B.shape[1]},), got {tuple(bias.shape)}")
        self.A = nn.Parameter(A.detach().clone())
        self.B = nn.Parameter(B.detach().clone())
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone())

    @property
    def in_features(self) -> int:
        return self.A.shape[0]

    @property
    def out_features(self) -> int:
        return self.B.shape[1]

    @property
    def rank(self) -> int:
        return self.A.shape[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (x A) B costs r (in + out) per sample instead of in * out for the merged product.
        out = (x @ self.A) @ self.B
        return out if self.bias is None else out + self.bias

    def merged_weight(self) -> torch.Tensor:
        """``(A B)^T``: the equivalent ``nn.Linear.weight``, shape ``(out, in)``."""
        return (self.A @ self.B).T

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, rank={self.rank}, " \
               f"bias={self.bias is not None}"

    @classmethod
    def from_linear(cls, layer: nn.Linear, *, rank: int, importance: torch.Tensor | None = None,
                    eps: float = 1e-6) -> "FactorizedLinear":
        """Factorise ``layer`` by the weighted SVD (or the plain SVD when ``importance`` is None).

        Parameters
        ----------
        layer : nn.Linear
            Not modified; its weight is transposed to the paper's ``(in, out)``.
        rank : int
        importance : Tensor, shape (in,), optional
            Neutralised importance ``I_N``; None gives the f+SVD baseline.
        eps : float
            See :func:`weighted_svd_factors`.

        Returns
        -------
        FactorizedLinear
            On ``layer``'s device and dtype; equal to ``layer`` at ``rank = min(in, out)``.
        """
        if not isinstance(layer, nn.Linear):
            raise TypeError(f"layer must be a torch.nn.Linear, got {type(layer).__name__}")
        weight = layer.weight.detach().T
        if importance is None:
            a, b = svd_factors(weight, rank=rank)
        else:
            a, b = weighted_svd_factors(weight, torch.as_tensor(importance).to(weight.device), rank=rank, eps=eps)
        return cls(a, b, None if layer.bias is None else layer.bias.detach())


def replace_last_linear(model: nn.Module, attribute_name: str = "head", *, rank: int,
                        importance: torch.Tensor | None = None, eps: float = 1e-6) -> FactorizedLinear:
    """Replace ``model.<attribute_name>`` (an ``nn.Linear``) by its :class:`FactorizedLinear`, in place.

    Parameters
    ----------
    model : nn.Module
        E.g. a :class:`fairlib.models.Classifier`, whose last layer is ``head``.
    attribute_name : str
        Dotted path of the layer (``"head"``, ``"classifier.fc"``).
    rank, importance, eps
        See :meth:`FactorizedLinear.from_linear`.

    Returns
    -------
    FactorizedLinear
        The new layer (already set on ``model``). Freezing the rest of the model is the caller's choice.
    """
    *path, name = attribute_name.split(".")
    parent = model
    for part in path:
        parent = getattr(parent, part)
    layer = getattr(parent, name)
    factorized = FactorizedLinear.from_linear(layer, rank=rank, importance=importance, eps=eps)
    setattr(parent, name, factorized)
    return factorized
