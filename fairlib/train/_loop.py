"""The training loop of the notebooks (all but notebook 03's two-party strategies), on HF Accelerate (CPU, one GPU, or
several with `accelerate launch`)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, WeightedRandomSampler

from ..data import GroupedDataset
from ._config import TrainConfig
from ._seed import seed_everything
from ._torchdata import as_torch, text_lengths, trim_padding

__all__ = ["LossTerm", "FitResult", "Predictions", "fit", "predict", "extract_features", "make_accelerator",
           "unwrap_classifier", "show_progress", "resolve_mixed_precision", "end_processes"]


class LossTerm(Protocol):
    """An extra loss term: ``loss = mean cross-entropy + sum(term(...) for term in loss_terms)``.

    ``per_sample_loss`` is the unreduced cross-entropy of this process's share of the batch; ``accelerator``
    lets a term gather statistics over the global batch when several processes run.
    """

    def __call__(self, logits: torch.Tensor, batch: dict, *, per_sample_loss: torch.Tensor,
                 accelerator: Any) -> torch.Tensor: ...


@dataclass
class FitResult:
    """What a training run reports besides the trained model."""

    epoch_losses: list[float] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    num_processes: int = 1


@dataclass
class Predictions:
    """Logits with the labels and groups of the examples they belong to (in dataset order)."""

    logits: np.ndarray
    y: np.ndarray
    s: np.ndarray

    @property
    def probs(self) -> np.ndarray:
        z = self.logits - self.logits.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    @property
    def y_pred(self) -> np.ndarray:
        return self.logits.argmax(axis=1)


def show_progress() -> bool:
    """Progress bars on unless ``FAIRLIB_PROGRESS=0`` (the test suite turns them off)."""
    return os.environ.get("FAIRLIB_PROGRESS", "1") != "0"


def resolve_mixed_precision(requested: str, *, on_gpu: bool, bf16_supported: bool) -> str:
    """The precision to train in: ``requested``, except bf16 on a GPU without it (V100, T4) becomes fp16.

    On the CPU mixed precision buys nothing here and changes results, so it is switched off.
    """
    if requested not in ("no", "bf16", "fp16"):
        raise ValueError(f"mixed_precision={requested!r}; valid choices: ('no', 'bf16', 'fp16')")
    if not on_gpu:
        return "no"
    if requested == "bf16" and not bf16_supported:
        import warnings

        warnings.warn("this GPU has no bf16: training in fp16 (with loss scaling) instead", stacklevel=3)
        return "fp16"
    return requested


def make_accelerator(*, mixed_precision: str = "no", cpu: bool | None = None) -> Any:
    """An ``accelerate.Accelerator`` whose dataloaders split each global batch across processes.

    ``cpu=None`` uses the CPU unless CUDA is available (``accelerate launch`` decides the processes).
    ``mixed_precision`` is resolved by :func:`resolve_mixed_precision` (bf16 where the GPU supports it).
    """
    from accelerate import Accelerator
    from accelerate.utils import DataLoaderConfiguration

    use_cpu = (not torch.cuda.is_available()) if cpu is None else cpu
    on_gpu = not use_cpu and torch.cuda.is_available()
    precision = resolve_mixed_precision(mixed_precision, on_gpu=on_gpu,
                                        bf16_supported=on_gpu and torch.cuda.is_bf16_supported())
    already = torch.distributed.is_available() and torch.distributed.is_initialized()
    if not already and torch.distributed.is_available():
        _import_group_defaults()
    accelerator = Accelerator(cpu=use_cpu, mixed_precision=precision,
                              dataloader_config=DataLoaderConfiguration(split_batches=True))
    if not already and torch.distributed.is_available() and torch.distributed.is_initialized():
        _register_teardown()
    return accelerator


# -- process teardown ---------------------------------------------------------------------------------------------
# A process group that fairlib initialised (through accelerate, under `accelerate launch`) is torn down once, at
# the end of the process, never between two `fit` calls of a notebook: `end_processes()` explicitly (the scripts
# and `python -m fairlib run` call it), or an atexit hook registered with the group. The hook does nothing after
# an uncaught exception: waiting for the other processes then could hang, and the launcher reports the failure.
_teardown = {"registered": False, "owned": False, "failed": False}


def _import_group_defaults() -> None:
    """Import ``torch.distributed.nn`` while no process group exists.

    Its functions take ``group=group.WORLD`` as a default argument, bound when the module is imported.
    ``DistributedDataParallel`` imports it on first use: imported after the group is initialised, those
    defaults hold the group for the life of the process, ``destroy_process_group`` cannot free it, and its
    gloo threads outlive the teardown into interpreter exit, where a peer closing its sockets aborted a rank
    (SIGABRT, about one launch in ten on CI). Imported first, the defaults hold ``None``.
    """
    import torch.distributed.nn  # noqa: F401


def _register_teardown() -> None:
    import atexit
    import sys

    _teardown["owned"] = True
    if _teardown["registered"]:
        return
    _teardown["registered"] = True
    previous = sys.excepthook

    def note_failure(*exc_info):
        _teardown["failed"] = True
        previous(*exc_info)

    sys.excepthook = note_failure
    atexit.register(lambda: None if _teardown["failed"] else end_processes())


def end_processes() -> bool:
    """Wait for every process, then destroy the process group that fairlib initialised; once, at the end.

    Call it at the end of a script run under ``accelerate launch`` (on success). Without a group, or with one
    that fairlib did not create, it does nothing. Returns True when it destroyed the group.
    """
    dist = torch.distributed
    if not (_teardown["owned"] and dist.is_available() and dist.is_initialized()):
        return False
    dist.barrier()
    from accelerate import PartialState

    PartialState().destroy_process_group()
    _teardown["owned"] = False
    return True


def _loader(dataset: Any, *, batch_size: int, shuffle: bool, generator: torch.Generator | None,
            group_balanced: bool = False, groups: np.ndarray | None = None, num_workers: int = 0) -> DataLoader:
    sampler = None
    if group_balanced:
        counts = np.bincount(groups)
        weights = torch.as_tensor(1.0 / counts[groups], dtype=torch.double)
        sampler = WeightedRandomSampler(weights, num_samples=len(groups), replacement=True, generator=generator)
        shuffle = False
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, sampler=sampler, generator=generator,
                      num_workers=num_workers)


def _scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int) -> Any:
    from transformers import get_scheduler

    name = {"cosine": "cosine", "linear": "linear", "constant": "constant_with_warmup"}[config.schedule]
    return get_scheduler(name, optimizer, num_warmup_steps=int(config.warmup_ratio * total_steps),
                         num_training_steps=total_steps)


def fit(model: nn.Module, train: GroupedDataset | Any, *, config: TrainConfig,
        loss_terms: Sequence[LossTerm] = (), encode: Callable | None = None, transform: Callable | None = None,
        accelerator: Any = None, desc: str = "train", progress: bool | None = None,
        num_workers: int = 0) -> FitResult:
    """Train the parameters of ``model`` that require gradients, in place.

    Parameters
    ----------
    model : nn.Module
        Maps ``batch["x"]`` to logits (a :class:`fairlib.models.Classifier`, possibly wrapped by peft).
    train : GroupedDataset or torch Dataset yielding ``{"x", "y", "s", "index"}``
    config : TrainConfig
    loss_terms : sequence of LossTerm
        Regularisers added to the mean cross-entropy (fairness penalties, FairLoRA's variance, ...).
    encode, transform : callable, optional
        See :func:`fairlib.train.as_torch`.
    accelerator : accelerate.Accelerator, optional
        Default: :func:`make_accelerator` with the config's mixed precision.
    desc : str
        Label of the progress bar.
    progress : bool, optional
        Show a tqdm bar (default: on unless ``FAIRLIB_PROGRESS=0``).
    num_workers : int
        Data-loading worker processes.

    Returns
    -------
    FitResult
    """
    from tqdm.auto import tqdm

    accelerator = accelerator or make_accelerator(mixed_precision=config.mixed_precision)
    generator = seed_everything(config.seed)
    dataset = as_torch(train, encode=encode, transform=transform)
    groups = np.asarray(getattr(dataset, "s", torch.zeros(len(dataset), dtype=torch.long)))
    loader = _loader(dataset, batch_size=config.batch_size, shuffle=True, generator=generator,
                     group_balanced=config.group_balanced, groups=groups, num_workers=num_workers)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters: call fairlib.models.adapt(...) first")
    if config.optimizer == "adamw":
        optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    else:
        optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    total_steps = max(1, config.epochs * -(-len(loader) // config.grad_accum_steps))
    scheduler = _scheduler(optimizer, config, total_steps)
    accelerator.gradient_accumulation_steps = config.grad_accum_steps
    prepared_model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)

    result = FitResult(num_processes=accelerator.num_processes)
    show = (show_progress() if progress is None else progress) and accelerator.is_local_main_process
    start = time.perf_counter()
    prepared_model.train()
    bar = tqdm(total=config.epochs * len(loader), desc=desc, disable=not show, leave=False)
    for _ in range(config.epochs):
        total, count = torch.zeros((), dtype=torch.float64), 0
        for batch in loader:
            with accelerator.accumulate(prepared_model):
                logits = prepared_model(trim_padding(batch["x"]))
                per_sample = F.cross_entropy(logits.float(), batch["y"], reduction="none")
                loss = per_sample.mean()
                for term in loss_terms:
                    loss = loss + term(logits, batch, per_sample_loss=per_sample, accelerator=accelerator)
                accelerator.backward(loss)
                if config.max_grad_norm > 0 and accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(params, config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            total += loss.detach().double() * len(batch["y"])
            count += len(batch["y"])
            result.steps += 1
            bar.update()
        mean_loss = accelerator.reduce(total.to(accelerator.device), reduction="sum").item()
        result.epoch_losses.append(mean_loss / (count * accelerator.num_processes))
        bar.set_postfix(loss=f"{result.epoch_losses[-1]:.4f}")
    bar.close()
    result.seconds = time.perf_counter() - start
    prepared_model.eval()
    return result


def _device_of(model: nn.Module) -> torch.device | None:
    param = next(model.parameters(), None)
    return None if param is None else param.device


def unwrap_classifier(model: nn.Module) -> nn.Module:
    """The :class:`~fairlib.models.Classifier` inside a peft or DDP wrapper (for ``.features``)."""
    inner = getattr(model, "module", model)
    if hasattr(inner, "get_base_model"):
        inner = inner.get_base_model()
    return inner


def _to_device(x: Any, device: torch.device) -> Any:
    if isinstance(x, dict):
        return {k: _to_device(v, device) for k, v in x.items()}
    return x.to(device) if isinstance(x, torch.Tensor) else x


@torch.no_grad()
def _batched(model_fn: Callable, data: GroupedDataset | Any, *, batch_size: int, encode: Callable | None,
             transform: Callable | None, num_workers: int = 0, device: torch.device | None = None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    dataset = as_torch(data, encode=encode, transform=transform)
    # Tokenised texts are visited shortest first, each batch cut to its own longest text (trim_padding), and
    # put back in order; other inputs in order. Which examples share a batch does not change any output.
    lengths = text_lengths(dataset)
    order = np.argsort(lengths, kind="stable") if lengths is not None else None
    outputs, ys, ss = [], [], []
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                            sampler=order.tolist() if order is not None else None):
        # Inputs go where the model's weights are (a GPU at full scale); outputs come back as numpy.
        x = trim_padding(batch["x"])
        x = x if device is None else _to_device(x, device)
        outputs.append(model_fn(x).float().cpu().numpy())
        ys.append(batch["y"].numpy())
        ss.append(batch["s"].numpy())
    out, y, s = np.concatenate(outputs), np.concatenate(ys), np.concatenate(ss)
    if order is not None:
        back = np.empty_like(order)
        back[order] = np.arange(len(order))
        out, y, s = out[back], y[back], s[back]
    return out, y, s


def predict(model: nn.Module, data: GroupedDataset | Any, *, batch_size: int = 512, encode: Callable | None = None,
            transform: Callable | None = None, num_workers: int = 0) -> Predictions:
    """Logits of ``model`` on every example of ``data``, in order, in evaluation mode.

    Evaluation runs on the main process; under ``accelerate launch`` call it on the unwrapped model.
    """
    was_training = model.training
    model.eval()
    logits, y, s = _batched(model, data, batch_size=batch_size, encode=encode, transform=transform,
                            num_workers=num_workers, device=_device_of(model))
    model.train(was_training)
    return Predictions(logits=logits, y=y, s=s)


def extract_features(model: nn.Module, data: GroupedDataset | Any, *, batch_size: int = 512,
                     encode: Callable | None = None, transform: Callable | None = None) -> np.ndarray:
    """Penultimate representations (the input of the head) of every example, in order."""
    classifier = unwrap_classifier(model)
    was_training = classifier.training
    classifier.eval()
    features, _, _ = _batched(classifier.features, data, batch_size=batch_size, encode=encode, transform=transform,
                              device=_device_of(classifier))
    classifier.train(was_training)
    return features
