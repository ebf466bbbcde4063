"""Classifiers of notebook 01: a linear head on a vision encoder or a text model."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["last_token_pool", "vision_classifier", "sequence_classifier"]


def last_token_pool(output: Any, inputs: dict) -> torch.Tensor:
    """State of each sequence's last non-padding token (decoder LLMs as classifiers; right padding)."""
    last = inputs["attention_mask"].sum(dim=1).clamp(min=1) - 1
    return output.last_hidden_state[torch.arange(len(last), device=last.device), last]


def _pooler_pool(output: Any, inputs: Any) -> torch.Tensor:
    return output.pooler_output


def vision_classifier(backbone: nn.Module, *, num_labels: int) -> nn.Module:
    """A linear head on a vision encoder: [CLS] for ViT-like encoders, the pooled output for Swin-v2."""
    from ...models import Classifier, image_classifier

    if backbone.config.model_type in ("swin", "swinv2"):
        width = backbone.config.hidden_size
        return Classifier(backbone, nn.Linear(width, num_labels), pool=_pooler_pool,
                          model_type=backbone.config.model_type)
    return image_classifier(backbone, num_labels=num_labels)


def sequence_classifier(backbone: nn.Module, *, num_labels: int) -> nn.Module:
    """A linear head on a text model: mean-pooled tokens for encoders (MiniLM), the last token for decoders
    (a bare decoder, or the transformer of a ``*ForSequenceClassification`` such as Gemma-3's)."""
    from ...models import Classifier, text_classifier

    if hasattr(backbone, "score") and hasattr(backbone, "model"):
        # A decoder loaded as *ForSequenceClassification (Gemma-3): its transformer, last-token pooling (as the
        # class pools) and a new linear head drawn from the run's seed.
        return Classifier(backbone.model, nn.Linear(backbone.config.hidden_size, num_labels), pool=last_token_pool,
                          model_type=backbone.config.model_type)
    if getattr(backbone.config, "is_decoder", False) or backbone.config.model_type in (
            "llama", "mistral", "gemma", "gemma3_text", "gpt2", "qwen2"):
        return Classifier(backbone, nn.Linear(backbone.config.hidden_size, num_labels), pool=last_token_pool,
                          model_type=backbone.config.model_type)
    return text_classifier(backbone, num_labels=num_labels)
