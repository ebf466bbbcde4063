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


def adapt(model: Classifier | nn.Module, method: str, *, lora: LoraSpec | None = None) -> nn.Module:
    """Prepare ``model`` for one fine-tuning method, setting which parameters train.

    Parameters
    ----------
    model : Classifier or transformers backbone
        A :class:`Classifier`; or, with ``method="lora"`` only, a bare transformers backbone (no ``head``,
        its ``config.model_type`` picks the targets): it gets the adapters alone, every other weight frozen,
        for callers that keep their heads outside the wrapped model (notebook 03's roles keep them private).
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
    has_head = hasattr(model, "head")
    if not has_head and method != "lora":
        raise ValueError(f"method={method!r} needs a Classifier (with a head); a bare backbone "
                         f"({type(model).__name__}) can only take method='lora'")
    if method == "full":
        model.requires_grad_(True)
        return model
    if method == "probe":
        model.requires_grad_(False)
        model.head.requires_grad_(True)
        return model
    from peft import LoraConfig, get_peft_model

    spec = lora or LoraSpec()
    model_type = model.model_type if has_head else getattr(getattr(model, "config", None), "model_type", None)
    targets = spec.target_modules or LORA_TARGETS.get(model_type)
    if targets is None:
        raise ValueError(f"no default LoRA targets for model_type {model_type!r}; pass "
                         f"LoraSpec(target_modules=...) (known: {sorted(LORA_TARGETS)})")
    if not has_head:
        model.requires_grad_(False)
    config = LoraConfig(r=spec.r, lora_alpha=spec.alpha, lora_dropout=spec.dropout, target_modules=list(targets),
                        modules_to_save=["head"] if has_head else None,
                        init_lora_weights=True if spec.init == "default" else "gaussian")
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
