"""Backbones, classifiers and the three ways of fine-tuning them (LoRA, full, linear probe)."""

from ._adapt import LORA_TARGETS, METHODS, LoraSpec, adapt, count_parameters, trainable_state_dict
from ._backbones import (BACKBONE_PREPROCESSING, CheckpointMissingError, TimmUnavailableError, cls_pool, image_classifier, import_timm,
                         load_backbone, load_timm_backbone, load_tokenizer, mean_pool, minilm_path, mlp_classifier,
                         preprocessing, text_classifier, vit_from_config)
from ._classifier import MLP, Classifier
from ._gemma import (GEMMA3_270M, GEMMA_PACKAGE, convert_gguf_causal_lm, gemma3_270m_path, gemma_gguf_file,
                     gemma_sequence_classifier, tiny_gemma3_config)
from ._memory import training_state_gb
from ._tiny_vit import TinyViTSpec, images_to_tensor

__all__ = [
    "Classifier", "MLP", "LoraSpec", "LORA_TARGETS", "METHODS", "adapt", "count_parameters",
    "trainable_state_dict", "CheckpointMissingError", "TimmUnavailableError", "import_timm", "load_timm_backbone",
    "load_backbone", "load_tokenizer", "minilm_path", "image_classifier", "text_classifier", "mlp_classifier",
    "vit_from_config", "cls_pool", "mean_pool", "TinyViTSpec",
    "images_to_tensor", "training_state_gb", "BACKBONE_PREPROCESSING", "preprocessing",
    "GEMMA3_270M", "GEMMA_PACKAGE", "convert_gguf_causal_lm", "gemma3_270m_path", "gemma_gguf_file",
    "gemma_sequence_classifier", "tiny_gemma3_config",
]
