"""A classifier = feature extractor + linear head, whatever the backbone."""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

__all__ = ["Classifier", "MLP"]


class Classifier(nn.Module):
    """``head(features(x))`` with the penultimate representation exposed.

    Parameters
    ----------
    backbone : nn.Module
        Maps inputs to features. For transformers models the ``pool`` function picks the representation.
    head : nn.Linear
        The last linear layer; the name ``head`` is what LoRA keeps trainable (``modules_to_save``) and what
        the Fisher-SVD method factorises.
    pool : callable, optional
        ``pool(backbone_output, inputs) -> (batch, features)``; default: the output itself.
    model_type : str
        transformers' ``model_type`` of the backbone (``"vit"``, ``"bert"``, ...), which decides the LoRA
        target modules; ``"mlp"`` for plain MLPs.
    """

    def __init__(self, backbone: nn.Module, head: nn.Linear, *, pool: Callable | None = None,
                 model_type: str = "mlp"):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self._pool = pool
        self.model_type = model_type

    def features(self, x: Any) -> torch.Tensor:
        out = self.backbone(**x) if isinstance(x, dict) else self.backbone(x)
        return self._pool(out, x) if self._pool is not None else out

    def forward(self, x: Any) -> torch.Tensor:
        return self.head(self.features(x))


class MLP(nn.Sequential):
    """Fully connected ReLU network: ``in -> hidden[0] -> ... -> hidden[-1]`` (the head is separate)."""

    def __init__(self, in_features: int, hidden: tuple[int, ...]):
        layers: list[nn.Module] = []
        for width in hidden:
            layers += [nn.Linear(in_features, width), nn.ReLU()]
            in_features = width
        super().__init__(*layers)
        self.out_features = in_features
