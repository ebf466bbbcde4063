"""Optimisation settings of one training run."""

from __future__ import annotations

from dataclasses import dataclass

from .._validation import bounded, choice, validate_fields

__all__ = ["TrainConfig"]


@dataclass(frozen=True)
class TrainConfig:
    """How one run trains.

    Parameters
    ----------
    epochs : int
    lr : float
    batch_size : int
        The *global* batch: with N processes each sees ``batch_size / N`` examples per step, so results do
        not depend on how many processes run (Accelerate's ``split_batches``).
    grad_accum_steps : int
        Optimiser step every this many batches (effective batch = batch_size x grad_accum_steps).
    weight_decay : float
    schedule : {"cosine", "linear", "constant"}
        Learning-rate schedule after warm-up.
    warmup_ratio : float
        Fraction of steps of linear warm-up (Ding et al.: 1%).
    optimizer : {"adamw", "sgd"}
    momentum : float
        SGD only.
    max_grad_norm : float
        Gradient clipping (0 = off).
    seed : int
        Seeds initialisation of new parameters, shuffling and dropout: the same seed gives the same run.
    mixed_precision : {"no", "bf16", "fp16"}
    group_balanced : bool
        Sample batches with replacement so every (sensitive) group is equally likely.
    """

    epochs: int = bounded(1, ge=1)
    lr: float = bounded(1e-3, gt=0)
    batch_size: int = bounded(64, ge=1)
    grad_accum_steps: int = bounded(1, ge=1)
    weight_decay: float = bounded(0.0, ge=0)
    schedule: str = choice("cosine", ("cosine", "linear", "constant"))
    warmup_ratio: float = bounded(0.0, ge=0, lt=1)
    optimizer: str = choice("adamw", ("adamw", "sgd"))
    momentum: float = bounded(0.0, ge=0, lt=1)
    max_grad_norm: float = bounded(0.0, ge=0)
    seed: int = bounded(0, ge=0)
    mixed_precision: str = choice("no", ("no", "bf16", "fp16"))
    group_balanced: bool = False

    def __post_init__(self) -> None:
        validate_fields(self)
