"""The training loop (HF Accelerate), run caching, and stand-in pre-training."""

from ._config import TrainConfig
from ._loop import (FitResult, LossTerm, Predictions, end_processes, extract_features, fit, make_accelerator, predict,
                    resolve_mixed_precision, show_progress, unwrap_classifier)
from ._pretrain import pretrained_tiny_vit
from ._runs import (PRESENTATION_ONLY, DamagedRun, RunStore, check_run_folder, code_fingerprint, library_versions,
                    run_key)
from ._seed import seed_everything
from ._torchdata import GroupedTorchDataset, as_torch, text_lengths, tokenize_texts, trim_padding

__all__ = [
    "TrainConfig", "fit", "end_processes", "predict", "extract_features", "make_accelerator", "unwrap_classifier", "FitResult",
    "LossTerm", "Predictions", "show_progress", "resolve_mixed_precision", "pretrained_tiny_vit", "RunStore", "run_key",
    "code_fingerprint", "library_versions", "check_run_folder", "DamagedRun", "PRESENTATION_ONLY", "seed_everything",
    "GroupedTorchDataset", "as_torch", "tokenize_texts", "trim_padding", "text_lengths",
]
