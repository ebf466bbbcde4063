"""The small ViT that stands in for ViT-Base in the smoke profile (fairlib pre-trains it on Fashion-MNIST)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .._validation import bounded, validate_fields

__all__ = ["TinyViTSpec", "images_to_tensor"]


@dataclass(frozen=True)
class TinyViTSpec:
    """Architecture and pre-training budget of the stand-in ViT (28x28 grey images, patch 4).

    The defaults give about 139k parameters; one pre-training epoch over 50,000 images takes about a
    minute on 2 cores.
    """

    hidden_size: int = bounded(64, ge=8)
    num_hidden_layers: int = bounded(4, ge=1)
    num_attention_heads: int = bounded(4, ge=1)
    intermediate_size: int = bounded(128, ge=8)
    patch_size: int = bounded(4, ge=1)
    pretrain_images: int = bounded(50_000, ge=100, le=50_000)
    pretrain_epochs: int = bounded(2, ge=1)
    pretrain_lr: float = bounded(2e-3, gt=0)
    seed: int = bounded(0, ge=0)

    def __post_init__(self) -> None:
        validate_fields(self)

    def vit_config(self) -> dict:
        return dict(image_size=28, num_channels=1, patch_size=self.patch_size, hidden_size=self.hidden_size,
                    num_hidden_layers=self.num_hidden_layers, num_attention_heads=self.num_attention_heads,
                    intermediate_size=self.intermediate_size, hidden_dropout_prob=0.0,
                    attention_probs_dropout_prob=0.0)

    def to_dict(self) -> dict:
        return asdict(self)


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 ``(n, 28, 28)`` -> float ``(n, 1, 28, 28)`` scaled to [-1, 1] (what the stand-in ViT expects)."""
    return torch.from_numpy(np.asarray(images, dtype=np.float32)).unsqueeze(1).div(127.5).sub(1.0)
