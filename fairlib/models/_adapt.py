"""How a classifier is fine-tuned: LoRA (through peft), full fine-tuning, or a linear probe."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from .._validation import bounded, choice, validate_fields
from ._classifier import Classifier

__all__ = ["LoraSpec", "LORA_TARGETS", "adapt", "count_parameters", "trainable_state_dict", "METHODS"]

METHODS = ("lora", "full", "probe")

#: Attention projections LoRA adapts, by transformers ``model_type`` (names as in transformers 5.x, where
#: ViT/DINOv2 call them q_proj/v_proj but BERT/MiniLM and Swin-v2 keep query/value).
LORA_TARGETS = {
    "vit": ("q_proj", "v_proj"), "dinov2": ("q_proj", "v_proj"), "clip_vision_model": ("q_proj", "v_proj"),
    "clip": ("q_proj", "v_proj"), "bert": ("query", "value"), "swinv2": ("query", "value"),
    "llama": ("q_proj", "v_proj"), "mistral": ("q_proj", "v_proj"), "gemma3_text": ("q_proj", "v_proj"),
    "gemma3": ("q_proj", "v_proj"),
}


@dataclass(frozen=True)
class LoraSpec:
    """LoRA hyper-parameters (Ding et al.'s vision setting by default: r = alpha = 16, no dropout).

    ``target_modules=None`` picks the attention query/value projections of the architecture.
    """

    r: int = bounded(16, ge=1)
    alpha: float = bounded(16.0, gt=0)
    dropout: float = bounded(0.0, ge=0, lt=1)
    target_modules: tuple[str, ...] | None = None
    init: str = choice("default", ("default", "gaussian"))

    def __post_init__(self) -> None:
        validate_fields(self)


def adapt(model: Classifier, method: str, *, lora: LoraSpec | None = None) -> nn.Module:
    """Prepare ``model`` for one fine-tuning method, setting which parameters train.

    Parameters
    ----------
    model : Classifier
    method : {"lora", "full", "probe"}
        ``"lora"`` wraps the model with peft (adapters on the attention query/value projections, head
        trained); ``"full"`` trains everything; ``"probe"`` trains the head only (the "base model" of
        Ding et al.).
    lora : LoraSpec, optional
        Used with ``method="lora"`` (default ``LoraSpec()``).

    Returns
    -------
    nn.Module
        The model to train (a ``peft.PeftModel`` for LoRA).
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r}; valid choices: {METHODS}")
    if method == "full":
        model.requires_grad_(True)
        return model
    if method == "probe":
        model.requires_grad_(False)
        model.head.requires_grad_(True)
        return model
    from peft import LoraConfig, get_peft_model

    spec = lora or LoraSpec()
    targets = spec.target_modules or LORA_TARGETS.get(model.model_type)
    if targets is None:
        raise ValueError(f"no default LoRA targets for model_type {model.model_type!r}; pass "
                         f"LoraSpec(target_modules=...) (known: {sorted(LORA_TARGETS)})")
    config = LoraConfig(r=spec.r, lora_alpha=spec.alpha, lora_dropout=spec.dropout, target_modules=list(targets),
                        modules_to_save=["head"], init_lora_weights=True if spec.init == "default" else "gaussian")
    return get_peft_model(model, config)


def count_parameters(model: nn.Module) -> dict[str, int]:
    """Trainable and total parameter counts (peft's saved copies of the head counted once)."""
    seen: set[int] = set()
    trainable = total = 0
    for name, param in model.named_parameters():
        if id(param) in seen or ".original_module." in name:
            continue
        seen.add(id(param))
        total += param.numel()
        trainable += param.numel() if param.requires_grad else 0
    return {"trainable": trainable, "total": total}


def trainable_state_dict(model: nn.Module) -> dict:
    """The tensors a finished run must store: only those that trained (adapter + head, head, or all)."""
    return {name: p.detach().cpu().clone() for name, p in model.named_parameters() if p.requires_grad}
