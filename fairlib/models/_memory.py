"""How much accelerator memory a fine-tuning run's parameters, gradients and optimizer state need."""

from __future__ import annotations

__all__ = ["training_state_gb"]

_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}


def training_state_gb(total_params: int, trainable_params: int, *, weights: str = "bf16",
                      optimizer: str = "adamw") -> float:
    """Memory (GB, 1e9 bytes) of the weights, the gradients and the optimizer state of one training run.

    Frozen weights are stored in ``weights`` precision; every trainable parameter carries an fp32 master
    copy, an fp32 gradient and the optimizer's fp32 moments (AdamW two, SGD with momentum one). Activations
    come on top and scale with batch size and sequence length (gradient checkpointing bounds them).

    Parameters
    ----------
    total_params, trainable_params : int
        Counts as :func:`fairlib.models.count_parameters` reports them.
    weights : {"bf16", "fp16", "fp32"}
    optimizer : {"adamw", "sgd"}

    Returns
    -------
    float

    Examples
    --------
    A 7B model with LoRA (about 4M trainable parameters) needs about 14 GB of weights and state, so it fits
    on one 80 GB GPU; full fine-tuning of the same model needs about 112 GB before activations and does not.

    >>> round(training_state_gb(7_000_000_000, 4_000_000), 1)
    14.1
    >>> round(training_state_gb(7_000_000_000, 7_000_000_000))
    112
    """
    if weights not in _BYTES:
        raise ValueError(f"weights={weights!r}; valid choices: {tuple(_BYTES)}")
    moments = {"adamw": 2, "sgd": 1}
    if optimizer not in moments:
        raise ValueError(f"optimizer={optimizer!r}; valid choices: {tuple(moments)}")
    if not 0 <= trainable_params <= total_params:
        raise ValueError(f"need 0 <= trainable_params <= total_params, got {trainable_params} and {total_params}")
    frozen = total_params - trainable_params
    # A trainable parameter: its fp32 master weight, its fp32 gradient and the optimizer's fp32 moments.
    per_trainable = 4 + 4 + 4 * moments[optimizer]
    return (frozen * _BYTES[weights] + trainable_params * per_trainable) / 1e9
