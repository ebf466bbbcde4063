"""FairLoRA (arXiv 2410.17358): fine-tuning with a penalty on the variance of the per-group losses.

The objective of every training step is

    loss = mean cross-entropy + lambda * Var_g(L_g),      L_g = mean loss of the examples of group g,

where the groups are the sensitive attribute, the class (the paper's "per-class" variance), or class x attribute,
and the statistics are those of the *global* batch. The regulariser is a loss term of the one training loop
(:func:`fairlib.train.fit`); it does not care what trains, so the same term gives FairLoRA (LoRA adapters)
and "fair full fine-tuning" (all weights). Experiments comparing them are in
:mod:`fairlib.experiments.fairlora`.

Definitions
-----------
- Per-group means ``L_g = S_g / n_g`` from the group's loss sum ``S_g`` and count ``n_g`` in the global batch.
- The variance is the *population* variance over the groups present in the batch, unweighted:
  ``Var = (1/G') sum_g (L_g - mean_g L_g)^2`` over the ``G'`` groups with ``n_g > 0``. Every group counts
  once whatever its size, which is the point: a small minority group weighs as much as the majority.
- A group absent from the global batch is left out (it has no loss to compare): the variance is taken over
  the groups present. With fewer than two groups present the penalty is exactly 0 (with a gradient of 0).
  With small batches and rare groups this happens often; ``TrainConfig(group_balanced=True)`` samples the
  (sensitive) groups evenly and makes it rare.
- With gradient accumulation the statistics are those of each micro-batch (each call), not of the
  accumulated batch.

Several processes
-----------------
Under ``accelerate launch`` each process holds a share of the global batch (``split_batches``). The term
all-reduces the per-group sums and counts (one collective per step) so that every process computes the
penalty of the global batch. To keep gradients exact, the global sum of group ``g`` is built as
``S_g = s_g + stopgrad(allreduce(s_g) - s_g)``: its value is the global sum, and its gradient reaches only the
local share ``s_g`` (the other processes' shares are constants here; their gradients are computed on their own
processes). Summing the processes' gradients therefore gives the gradient of the global penalty. DDP
*averages* gradients over the ``N`` processes, so the term multiplies its gradient (not its value) by ``N``:
it returns ``N * P - (N - 1) * stopgrad(P)``, whose value is ``P`` and whose gradient is ``N dP``. The mean
cross-entropy needs no such correction (the mean of equal shares' means is the global mean). The two-process
loss and gradient therefore equal the single-process ones on the same global batch (tested).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._validation import bounded, choice, validate_fields

__all__ = ["GROUPINGS", "FairLoRARegularizer", "group_index", "num_loss_groups", "global_group_sums",
           "group_loss_variance", "loss_variance_penalty"]

#: How examples are grouped for the variance: by sensitive attribute ``s``, by class ``y``, or by both.
GROUPINGS = ("attribute", "class", "class_attribute")


def num_loss_groups(by: str, *, num_classes: int, num_attributes: int) -> int:
    """Number of loss groups of a grouping (``class_attribute``: ``num_classes * num_attributes``)."""
    if by not in GROUPINGS:
        raise ValueError(f"by={by!r}; valid choices: {GROUPINGS}")
    return {"attribute": num_attributes, "class": num_classes,
            "class_attribute": num_classes * num_attributes}[by]


def group_index(y: torch.Tensor, s: torch.Tensor, *, by: str, num_attributes: int) -> torch.Tensor:
    """Loss-group code of each example: ``s``, ``y`` or ``y * num_attributes + s``.

    Parameters
    ----------
    y, s : LongTensor of shape (n,)
        Labels and sensitive attributes (integer codes).
    by : {"attribute", "class", "class_attribute"}
    num_attributes : int
        Number of values of ``s`` (used by ``class_attribute``).
    """
    if by == "attribute":
        return s.long()
    if by == "class":
        return y.long()
    if by == "class_attribute":
        return y.long() * num_attributes + s.long()
    raise ValueError(f"by={by!r}; valid choices: {GROUPINGS}")


def _num_processes(accelerator: Any) -> int:
    return 1 if accelerator is None else int(getattr(accelerator, "num_processes", 1))


def global_group_sums(per_sample_loss: torch.Tensor, groups: torch.Tensor, *, num_groups: int,
                      accelerator: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-group loss sums and counts of the global batch, differentiable through this process's share.

    Parameters
    ----------
    per_sample_loss : Tensor of shape (n,)
        Unreduced loss of this process's examples.
    groups : LongTensor of shape (n,)
        Group code of each example, in ``[0, num_groups)``.
    num_groups : int
    accelerator : accelerate.Accelerator, optional
        When it runs several processes, sums and counts are all-reduced (one collective per call).

    Returns
    -------
    sums : Tensor of shape (num_groups,)
        Value: the global per-group sums. Gradient: through this process's examples only (see the module notes).
    counts : Tensor of shape (num_groups,)
        Global number of examples per group (no gradient), in the loss's dtype.
    """
    groups = groups.to(per_sample_loss.device).long()
    # Checked on CPU only: on a GPU the check would synchronise every step (index_add asserts there instead).
    if groups.numel() and groups.device.type == "cpu" and (int(groups.min()) < 0 or int(groups.max()) >= num_groups):
        raise ValueError(f"group codes must lie in [0, {num_groups}); got range "
                         f"[{int(groups.min())}, {int(groups.max())}]")
    local = per_sample_loss.new_zeros(num_groups).index_add(0, groups, per_sample_loss)
    counts = torch.bincount(groups, minlength=num_groups).to(per_sample_loss.dtype)
    if _num_processes(accelerator) == 1:
        return local, counts
    # One all-reduce for both statistics; the others' shares enter as constants (their gradient is theirs).
    reduced = accelerator.reduce(torch.cat([local.detach(), counts]), reduction="sum")
    others = reduced[:num_groups] - local.detach()
    return local + others, reduced[num_groups:]


def group_loss_variance(sums: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Population variance of the per-group mean losses over the groups present (``counts > 0``).

    Exactly 0 with fewer than two groups present; absent groups get a zero gradient. Written with masks, not
    indexing, so that it never synchronises a GPU.
    """
    present = (counts > 0).to(sums.dtype)
    k = present.sum().clamp(min=1.0)
    means = sums / counts.clamp(min=1.0)
    centre = (means * present).sum() / k
    return (((means - centre) ** 2) * present).sum() / k


def loss_variance_penalty(per_sample_loss: torch.Tensor, groups: torch.Tensor, *, num_groups: int, lam: float,
                          accelerator: Any = None) -> torch.Tensor:
    """``lam * Var_g(L_g)`` of the global batch, with the gradient scaled for DDP's averaging.

    Parameters
    ----------
    per_sample_loss, groups, num_groups, accelerator
        As in :func:`global_group_sums`.
    lam : float
        Strength lambda (>= 0).

    Returns
    -------
    Tensor (scalar)
        Value ``lam * Var`` of the global batch on every process; its gradient, averaged over the processes
        by DDP, is the gradient of the global penalty (see the module notes).
    """
    sums, counts = global_group_sums(per_sample_loss, groups, num_groups=num_groups, accelerator=accelerator)
    penalty = lam * group_loss_variance(sums, counts)
    n = _num_processes(accelerator)
    if n > 1:
        penalty = n * penalty - (n - 1) * penalty.detach()
    return penalty


@dataclass(frozen=True)
class FairLoRARegularizer:
    """The FairLoRA loss term for :func:`fairlib.train.fit`: ``lam * Var_g(L_g)`` over the global batch.

    Parameters
    ----------
    lam : float
        Strength lambda. ``lam = 0`` still computes the penalty (same code path) and adds exactly zero, so the
        run is bitwise that of plain fine-tuning with the same seed.
    by : {"class", "attribute", "class_attribute"}
        Groups of the variance: the class (the paper's per-class variance), the sensitive attribute, or both.
    num_classes, num_attributes : int
        Number of labels and of sensitive-attribute values (``len(data.class_names)``,
        ``len(data.group_names)``); see :meth:`for_dataset`.

    Examples
    --------
    >>> term = FairLoRARegularizer.for_dataset(splits.train, lam=1.0, by="class_attribute")  # doctest: +SKIP
    >>> fit(model, splits.train, config=TrainConfig(), loss_terms=[term])                  # doctest: +SKIP
    """

    lam: float = bounded(1.0, ge=0)
    by: str = choice("class", GROUPINGS)
    num_classes: int = bounded(2, ge=1)
    num_attributes: int = bounded(2, ge=1)

    def __post_init__(self) -> None:
        validate_fields(self)

    @classmethod
    def for_dataset(cls, data: Any, *, lam: float, by: str = "class") -> "FairLoRARegularizer":
        """The term for a :class:`~fairlib.data.GroupedDataset` (group counts from its class and group names)."""
        return cls(lam=lam, by=by, num_classes=len(data.class_names), num_attributes=len(data.group_names))

    @property
    def num_groups(self) -> int:
        return num_loss_groups(self.by, num_classes=self.num_classes, num_attributes=self.num_attributes)

    def groups_of(self, y: Any, s: Any) -> np.ndarray:
        """Loss-group code of each example (numpy), e.g. to count groups of a dataset."""
        return group_index(torch.as_tensor(np.asarray(y)), torch.as_tensor(np.asarray(s)), by=self.by,
                           num_attributes=self.num_attributes).numpy()

    def __call__(self, logits: torch.Tensor, batch: dict, *, per_sample_loss: torch.Tensor,
                 accelerator: Any = None) -> torch.Tensor:
        groups = group_index(batch["y"], batch["s"], by=self.by, num_attributes=self.num_attributes)
        return loss_variance_penalty(per_sample_loss, groups, num_groups=self.num_groups, lam=self.lam,
                                     accelerator=accelerator)
