"""Heads trained on cached features: a frozen backbone runs once per dataset, not once per epoch.

When only the last layer (or its factors) trains, the backbone's output for an example never changes, so
computing it again every epoch and every run is pure waste. :class:`FeatureCache` computes the features of a
dataset once per (backbone, data) key, keeps them in memory and on disk, and returns them as a
:class:`~fairlib.data.GroupedDataset` whose ``x`` is the feature matrix; :func:`fit_on_features` and
:func:`predict_on_features` then train and evaluate a head on those tensors directly.

Why not :func:`fairlib.train.fit` for the heads: its DataLoader + Accelerate path costs ~5 ms per batch in
indexing, collation and wrapping, about 25x the forward/backward of a 46-parameter head, and notebook 04 trains
hundreds of such heads. :func:`fit_on_features` is the same optimisation (same :class:`~fairlib.train.TrainConfig`,
optimisers, schedules, shuffling and ``LossTerm`` protocol) on tensors held in memory; the tests check that it
follows ``fit`` step for step (to float rounding: AdamW runs as torch's fused kernel here).
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data import GroupedDataset

__all__ = ["FeatureCache", "fit_on_features", "predict_on_features", "schedule_factor"]


class FeatureCache:
    """Features of a frozen backbone, computed once per (backbone, data) key and reused.

    Parameters
    ----------
    root : path, optional
        Folder of the on-disk copies (``<key>.npy``); default ``CACHE/features``. ``None`` with
        ``disk=False`` keeps everything in memory.
    disk : bool
        Also store the features on disk, so that a later process (a re-run of the notebook) skips the backbone.

    Attributes
    ----------
    computed, loaded, reused : int
        How many requests ran the backbone, read the disk copy, or were served from memory.
    """

    def __init__(self, root: str | Path | None = None, *, disk: bool = True):
        from .. import paths

        self.root = Path(root) if root is not None else paths.CACHE / "features"
        self.disk = disk
        self._memory: dict[str, np.ndarray] = {}
        self.computed = self.loaded = self.reused = 0

    def key(self, spec: dict) -> str:
        from ..train import run_key

        return run_key(spec)

    def array(self, spec: dict, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """The array stored under ``spec``, or ``compute()`` stored under it.

        Parameters
        ----------
        spec : dict
            Everything the features depend on (backbone weights' identity, data, preprocessing).
        compute : callable
            Returns the feature matrix ``(n, d)``; called only when no copy exists.
        """
        key = self.key(spec)
        if key in self._memory:
            self.reused += 1
            return self._memory[key]
        path = self.root / f"{key}.npy"
        if self.disk and path.exists():
            value = np.load(path)
            self.loaded += 1
        else:
            value = np.ascontiguousarray(np.asarray(compute(), dtype=np.float32))
            self.computed += 1
            if self.disk:
                from ..report import atomic_write

                # np.save appends ".npy" to a name without it; the temporary file of atomic_write has it.
                atomic_write(path, lambda tmp: np.save(tmp, value))
        value.setflags(write=False)  # shared between callers: nobody may change it in place
        self._memory[key] = value
        return value

    def features(self, model: nn.Module, data: GroupedDataset, *, spec: dict, batch_size: int = 256,
                 transform: Callable | None = None) -> GroupedDataset:
        """``data`` with ``x`` replaced by ``model``'s penultimate features (cached under ``spec``).

        Parameters
        ----------
        model : nn.Module
            A :class:`fairlib.models.Classifier` (its ``features`` are used, in evaluation mode, without
            gradients).
        data : GroupedDataset
        spec : dict
            Cache key: must identify the backbone *and* the examples (e.g. dataset name, size, seed).
        batch_size : int
        transform : callable, optional
            Per-example loading (image files), as in :func:`fairlib.train.extract_features`.

        Returns
        -------
        GroupedDataset
            Same examples, labels and groups; ``x`` float32 ``(n, d)``; ``info["feature_key"]`` the key.
        """
        from ..train import extract_features

        x = self.array(spec, lambda: extract_features(model, data, batch_size=batch_size, transform=transform))
        if len(x) != len(data):
            raise ValueError(f"cached features under {self.key(spec)} have {len(x)} rows, the data {len(data)}: "
                             f"the spec does not identify the examples")
        return dataclasses.replace(data, x=x, info={**data.info, "feature_key": self.key(spec)})


def schedule_factor(name: str, step: int, *, total_steps: int, warmup_steps: int) -> float:
    """Learning-rate multiplier at ``step`` for ``"cosine"``, ``"linear"`` or ``"constant"`` after warm-up.

    The same curves as transformers' ``get_scheduler`` (``cosine``, ``linear``, ``constant_with_warmup``),
    which :func:`fairlib.train.fit` uses: linear warm-up from 0, then half a cosine period / a straight line
    down to 0 at ``total_steps``, or flat.
    """
    if step < warmup_steps:
        return step / max(1, warmup_steps)
    if name == "constant":
        return 1.0
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    if name == "linear":
        return max(0.0, 1.0 - progress)
    if name == "cosine":
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))
    raise ValueError(f"schedule={name!r}; valid choices: ('cosine', 'linear', 'constant')")


def _tensors(data: GroupedDataset) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    try:
        array = np.asarray(data.x, dtype=np.float32)
        # Cached features are read-only (shared); torch wants its own writable memory.
        x = torch.from_numpy(array if array.flags.writeable else array.copy())
    except (TypeError, ValueError):
        raise ValueError(f"{data.name}: x must be a numeric array (n, ...) held in memory, e.g. a feature matrix; "
                         f"compute the features first (FeatureCache.features)") from None
    if x.ndim < 2:
        raise ValueError(f"{data.name}: x must have shape (n, ...), got {tuple(x.shape)}")
    return x, torch.as_tensor(data.y, dtype=torch.long), torch.as_tensor(data.s, dtype=torch.long)


def fit_on_features(model: nn.Module, train: GroupedDataset, *, config: Any, loss_terms: Sequence[Any] = (),
                    desc: str = "head", progress: bool | None = None) -> Any:
    """Train the trainable parameters of ``model`` on a feature matrix held in memory, in place.

    The optimisation of :func:`fairlib.train.fit` (one process, no mixed precision; AdamW fused): each epoch draws one
    permutation from the seeded generator, batches of ``config.batch_size``, loss = mean cross-entropy + the
    ``loss_terms`` (called as ``term(logits, batch, per_sample_loss=..., accelerator=None)`` with
    ``batch = {"x", "y", "s", "index"}``), AdamW or SGD, the warm-up + schedule of ``config``, optional
    gradient clipping.

    Parameters
    ----------
    model : nn.Module
        Maps a batch of ``x`` to logits (a head, a factorised head, or a whole MLP on raw tabular inputs).
    train : GroupedDataset
        ``x`` a float array ``(n, ...)`` in memory: cached features, tabular inputs, or (to time the
        alternative, ``bench/bench_feature_cache.py``) raw images under a frozen backbone.
    config : fairlib.train.TrainConfig
        ``grad_accum_steps`` must be 1, ``group_balanced`` False and ``mixed_precision`` "no".
    loss_terms : sequence of LossTerm
    desc : str
        Label of the progress bar.
    progress : bool, optional
        Default: on unless ``FAIRLIB_PROGRESS=0``.

    Returns
    -------
    fairlib.train.FitResult
    """
    from tqdm.auto import tqdm

    from ..train import FitResult, seed_everything, show_progress

    if config.grad_accum_steps != 1 or config.group_balanced or config.mixed_precision != "no":
        raise ValueError("fit_on_features supports grad_accum_steps=1, group_balanced=False and "
                         "mixed_precision='no' only; use fairlib.train.fit for the others")
    x, y, s = _tensors(train)
    n = len(y)
    if n == 0:
        raise ValueError(f"{train.name}: no training examples")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    generator = seed_everything(config.seed)
    if config.optimizer == "adamw":
        # The fused kernel is the same update in one call per step: ~35% faster on heads of a few tensors,
        # equal to fit()'s AdamW up to float rounding.
        optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, fused=True)
    else:
        optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    steps_per_epoch = -(-n // config.batch_size)
    total = max(1, config.epochs * steps_per_epoch)
    warmup = int(config.warmup_ratio * total)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: schedule_factor(config.schedule, step, total_steps=total, warmup_steps=warmup))

    result = FitResult(num_processes=1)
    show = show_progress() if progress is None else progress
    bar = tqdm(total=config.epochs, desc=desc, disable=not show, leave=False)
    start = time.perf_counter()
    model.train()
    for _ in range(config.epochs):
        # The draws of fit()'s DataLoader, in order, so that the same seed gives the same batches: the loader's
        # base seed, the sampler's permutation, and the (empty) remainder permutation the sampler makes when
        # it is exhausted. tests/test_fisher_experiments.py checks the match against fit().
        torch.empty((), dtype=torch.int64).random_(generator=generator)
        order = torch.randperm(n, generator=generator)
        torch.randperm(n, generator=generator)
        total_loss, count = 0.0, 0
        for begin in range(0, n, config.batch_size):
            index = order[begin:begin + config.batch_size]
            batch = {"x": x[index], "y": y[index], "s": s[index], "index": index}
            logits = model(batch["x"])
            per_sample = F.cross_entropy(logits.float(), batch["y"], reduction="none")
            loss = per_sample.mean()
            for term in loss_terms:
                loss = loss + term(logits, batch, per_sample_loss=per_sample, accelerator=None)
            loss.backward()
            if config.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            total_loss += float(loss.detach()) * len(index)
            count += len(index)
            result.steps += 1
        result.epoch_losses.append(total_loss / count)
        bar.update()
    bar.close()
    result.seconds = time.perf_counter() - start
    model.eval()
    return result


@torch.no_grad()
def predict_on_features(model: nn.Module, data: GroupedDataset) -> Any:
    """Logits of ``model`` on every row of ``data.x`` (evaluation mode), as :class:`fairlib.train.Predictions`."""
    from ..train import Predictions

    x, y, s = _tensors(data)
    was_training = model.training
    model.eval()
    logits = model(x).float().numpy() if len(y) else np.zeros((0, 2), dtype=np.float32)
    model.train(was_training)
    return Predictions(logits=logits, y=y.numpy(), s=s.numpy())
