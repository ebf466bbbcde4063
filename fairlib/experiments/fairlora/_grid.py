"""The grid of notebook 02 as data (:func:`jobs`) and one run of it (:func:`run_job`).

One run = one backbone, one adaptation (``"lora"`` or ``"full"``), one lambda (0 = unregularised), one rank
(LoRA only) and one seed; it trains with :func:`fairlib.train.fit` plus :class:`FairLoRARegularizer` and stores
its logits on validation and test (with the labels and groups they belong to), never metrics: metrics are
computed when the runs are collected (:mod:`._evaluation`), so a metric fix never serves stale numbers.

The grid, per backbone:

- the lambda sweep: LoRA (rank ``cfg.rank``) and full fine-tuning at lambda = 0 and at every ``cfg.lambdas``;
- the rank sweep at the other ranks: LoRA (lambda = 0) and FairLoRA at the lambda chosen on *validation* at
  rank ``cfg.rank``. Those FairLoRA runs depend on the sweep's runs (``after``): their spec names the
  selection (metric, candidate lambdas, seeds), and the run resolves it from the stored sweep before training.
"""

from __future__ import annotations

import copy
import functools
import time
from typing import Any

import numpy as np
import torch

from ...config import STAND_IN_VIT, FairLoRAConfig, get_profile
from ...data import GroupedDataset, Splits
from ...methods.fairlora import FairLoRARegularizer
from ...models import preprocessing
from .. import RunSpec

__all__ = ["NOTEBOOK", "METHOD_ORDER", "GPU_HOURS", "method_name", "seeds_of", "jobs", "run_job", "load_run", "run_spec",
           "load_fairlora_data", "load_fairlora_backbone", "resolved_lambda"]

NOTEBOOK = "02"
METHOD_ORDER = ("LoRA", "FairLoRA", "FFT", "Fair FFT")
#: Estimated GPU-hours of one run on a hub backbone (Waterbirds, ViT-Base size): a lambda-sweep run, a rank-sweep
#: run. Stand-in runs are counted as 0 (CPU minutes).
GPU_HOURS = {"lambda_sweep": 0.5, "rank_sweep": 0.4}


def method_name(adaptation: str, lam: float) -> str:
    """``"LoRA"``, ``"FairLoRA"``, ``"FFT"`` or ``"Fair FFT"``."""
    if adaptation not in ("lora", "full"):
        raise ValueError(f"adaptation={adaptation!r}; valid choices: ('lora', 'full')")
    if adaptation == "lora":
        return "FairLoRA" if lam > 0 else "LoRA"
    return "Fair FFT" if lam > 0 else "FFT"


def _profile(profile: Any) -> Any:
    return get_profile(profile) if isinstance(profile, str) else profile


def seeds_of(profile: Any) -> tuple[int, ...]:
    """The training seeds of notebook 02 at ``profile``: ``profile.fairlora.seeds``, else the profile's."""
    profile = _profile(profile)
    return tuple(profile.fairlora.seeds or profile.seeds)


# -- what defines a run -----------------------------------------------------------------------------------------
def _train_dict(profile: Any, adaptation: str, seed: int) -> dict:
    from dataclasses import asdict

    from ...train import TrainConfig

    c = profile.fairlora
    return asdict(TrainConfig(epochs=c.epochs, lr=c.lr_lora if adaptation == "lora" else c.lr_full,
                              batch_size=c.batch_size, weight_decay=c.weight_decay, warmup_ratio=c.warmup_ratio,
                              seed=seed, mixed_precision=profile.mixed_precision, group_balanced=c.group_balanced))


def _backbone_dict(profile: Any, backbone: str) -> dict:
    if backbone == STAND_IN_VIT:
        return {"stand_in_vit": profile.stand_in_vit.to_dict()}
    return {"hub": backbone, "image_size": profile.fairlora.image_size}


def _data_dict(cfg: FairLoRAConfig) -> dict:
    if cfg.dataset == "waterbirds_like":
        return dict(dataset=cfg.dataset, n_train=cfg.n_train, n_eval=cfg.n_eval, spurious=cfg.spurious,
                    seed=cfg.data_seed)
    return {"dataset": cfg.dataset}  # the real set's own split (its files are checked by the loader)


def run_spec(profile: Any, *, backbone: str, adaptation: str, lam: float | None, rank: int, seed: int,
             select: dict | None = None, after: tuple = ()) -> RunSpec:
    """The :class:`RunSpec` of one run. Irrelevant fields are normalised: every lambda = 0 run is the same
    whatever the grouping, full fine-tuning has no rank (0). ``lam=None`` with ``select`` is a FairLoRA run at
    the lambda the validation selection ``select`` chooses (resolved from the stored sweep)."""
    profile = _profile(profile)
    cfg = profile.fairlora
    lora = adaptation == "lora"
    regularised = select is not None or (lam is not None and lam > 0)
    hub = cfg.dataset != "waterbirds_like"
    hours = GPU_HOURS["rank_sweep" if (lora and rank != cfg.rank) else "lambda_sweep"] if hub else 0.0
    params = dict(backbone=backbone, backbone_spec=_backbone_dict(profile, backbone), data=_data_dict(cfg),
                  adaptation=adaptation, lam=None if lam is None else float(lam),
                  groups=cfg.groups if regularised else None, rank=int(rank) if lora else 0,
                  alpha=float(cfg.alpha_over_rank * rank) if lora else 0.0,
                  train=_train_dict(profile, adaptation, seed))
    if select is not None:
        params["select"] = select
    method = "FairLoRA" if select is not None else method_name(adaptation, lam)
    return RunSpec.make(NOTEBOOK, profile, method, seed, after=after, gpu_hours=hours, **params)


def jobs(profile: Any) -> list[RunSpec]:
    """Every run of notebook 02 at ``profile`` (a name or a :class:`fairlib.config.Profile`), in the order the
    notebook records them: per backbone the lambda sweep (adaptation, lambda, seed), then the rank sweep at the
    ranks other than ``cfg.rank`` (LoRA, then FairLoRA at the validation-chosen lambda; rank, seed)."""
    profile = _profile(profile)
    cfg = profile.fairlora
    grid: list[RunSpec] = []
    for backbone in cfg.backbones:
        for adaptation in ("lora", "full"):
            for lam in (0.0, *cfg.lambdas):
                for seed in seeds_of(profile):
                    grid.append(run_spec(profile, backbone=backbone, adaptation=adaptation, lam=lam, rank=cfg.rank,
                                         seed=seed))
        candidates = tuple(run_spec(profile, backbone=backbone, adaptation="lora", lam=lam, rank=cfg.rank, seed=seed)
                           for lam in cfg.lambdas for seed in seeds_of(profile))
        select = {"metric": cfg.selection_metric, "split": "val", "rank": cfg.rank, "lambdas": list(cfg.lambdas),
                  "seeds": list(seeds_of(profile))}
        for fair in (False, True):
            for rank in cfg.ranks:
                if rank == cfg.rank:
                    continue  # the lambda sweep's runs
                for seed in seeds_of(profile):
                    if fair:
                        grid.append(run_spec(profile, backbone=backbone, adaptation="lora", lam=None, rank=rank,
                                             seed=seed, select=select, after=candidates))
                    else:
                        grid.append(run_spec(profile, backbone=backbone, adaptation="lora", lam=0.0, rank=rank,
                                             seed=seed))
    return grid


# -- data and backbone ------------------------------------------------------------------------------------------
def _image_parts(data: GroupedDataset) -> Splits:
    split = np.asarray(data.info["split"])
    parts = {p: data.subset(np.flatnonzero(split == p)) for p in ("train", "val", "test")}
    return Splits(**parts)


def load_fairlora_data(cfg: FairLoRAConfig, *, verbose: bool = True) -> Splits:
    """The data of the comparisons: the Waterbirds-like stand-in, or Waterbirds itself.

    Returns
    -------
    Splits
        GroupedDatasets; for Waterbirds ``x`` holds image paths (see :func:`fairlib.data.load_waterbirds`).

    Raises
    ------
    fairlib.data.MissingDataError
        ``dataset="waterbirds"`` and the data are not in ``data/waterbirds`` (the message says how to get them).
    """
    if cfg.dataset == "waterbirds_like":
        from ...data import waterbirds_like

        return waterbirds_like(n_train=cfg.n_train, n_eval=cfg.n_eval, seed=cfg.data_seed, spurious=cfg.spurious)
    from ...data import load_waterbirds

    return _image_parts(load_waterbirds(verbose=verbose))


def load_fairlora_backbone(name: str, *, stand_in_vit: Any = None) -> torch.nn.Module:
    """The backbone ``name``: the stand-in ViT (``"stand-in-vit"``) or a hub checkpoint, loaded locally.

    Raises
    ------
    fairlib.models.CheckpointMissingError
        A hub checkpoint that is not cached locally (nothing is downloaded).
    """
    if name == STAND_IN_VIT:
        from ...train import pretrained_tiny_vit

        return pretrained_tiny_vit(stand_in_vit, verbose=False) if stand_in_vit is not None else \
            pretrained_tiny_vit(verbose=False)
    from ...models import load_backbone

    return load_backbone(name, auto_class=preprocessing(name)["auto_class"])


@functools.lru_cache(maxsize=2)
def _context(profile_name: str, overrides: Any, backbone: str) -> tuple[Any, Splits, torch.nn.Module]:
    """Profile (rebuilt with the grid's overrides), data and backbone template of a worker process, loaded once
    per (profile, backbone)."""
    profile = get_profile(profile_name, **overrides)
    splits = load_fairlora_data(profile.fairlora, verbose=False)
    return profile, splits, load_fairlora_backbone(backbone, stand_in_vit=profile.stand_in_vit)


# -- one run ----------------------------------------------------------------------------------------------------
def _datasets(profile: Any, splits: Splits, backbone: str, seed: int) -> tuple[Any, Any, Any]:
    cfg = profile.fairlora
    if cfg.dataset == "waterbirds_like":
        return splits.train, splits.val, splits.test
    from ...data import ImageFileDataset, make_image_processor

    pre = preprocessing(backbone)
    processor = make_image_processor(size=cfg.image_size, image_mean=pre["mean"], image_std=pre["std"])
    return tuple(ImageFileDataset.from_grouped(part, processor=processor, train=part is splits.train, seed=seed)
                 for part in (splits.train, splits.val, splits.test))


def resolved_lambda(spec: RunSpec) -> float:
    """The lambda of a run: its own, or the one its validation selection chooses from the stored sweep.

    Raises
    ------
    RuntimeError
        A selection whose candidate runs are not all stored (the executor runs them first, by ``after``).
    """
    lam = spec.param("lam")
    if lam is not None:
        return float(lam)
    from ._evaluation import records_of, select_lambda

    select = spec.param("select")
    candidates = [run_spec(spec.config(), backbone=spec.param("backbone"), adaptation="lora", lam=lam, rank=select["rank"],
                           seed=seed) for lam in select["lambdas"] for seed in select["seeds"]]
    _, splits, _ = _context(spec.profile, spec.overrides, spec.param("backbone"))
    records = records_of(candidates, group_names=tuple(splits.train.group_names))
    return float(select_lambda(records, metric=select["metric"])["lam"].iloc[0])


def _train(spec: RunSpec) -> tuple[dict, dict]:
    from ...models import LoraSpec, adapt, count_parameters, image_classifier
    from ...train import TrainConfig, fit, predict, seed_everything

    profile, splits, template = _context(spec.profile, spec.overrides, spec.param("backbone"))
    if _backbone_dict(profile, spec.param("backbone")) != spec.to_dict()["params"]["backbone_spec"]:
        raise RuntimeError(f"run {spec.describe()} was declared for another backbone than profile "
                           f"{spec.profile!r} defines now; recompute the grid with jobs({spec.profile!r})")
    adaptation, rank, seed = spec.param("adaptation"), spec.param("rank"), spec.seed
    lam = resolved_lambda(spec)
    config = TrainConfig(**spec.to_dict()["params"]["train"])
    train, val, test = _datasets(profile, splits, spec.param("backbone"), seed)
    seed_everything(seed)
    classifier = image_classifier(copy.deepcopy(template), num_labels=len(splits.train.class_names))
    lora = LoraSpec(r=rank, alpha=spec.param("alpha")) if adaptation == "lora" else None
    model = adapt(classifier, adaptation, lora=lora)
    groups = spec.param("groups")
    terms = [FairLoRARegularizer.for_dataset(splits.train, lam=lam, by=groups)] if lam > 0 else []
    start = time.perf_counter()
    history = fit(model, train, config=config, loss_terms=terms, progress=False, num_workers=profile.num_workers,
                  desc=f"{spec.method}{f' r={rank}' if adaptation == 'lora' else ''} lambda={lam:g} seed={seed}")
    seconds = time.perf_counter() - start
    result = {"lam": lam, "trainable_parameters": count_parameters(model)["trainable"], "train_seconds": seconds,
              "epoch_losses": history.epoch_losses}
    tensors = {}
    for split, data in (("val", val), ("test", test)):
        p = predict(model, data, num_workers=profile.num_workers)
        tensors.update({f"{split}.logits": torch.from_numpy(np.ascontiguousarray(p.logits)),
                        f"{split}.y": torch.from_numpy(np.asarray(p.y, dtype=np.int64)),
                        f"{split}.s": torch.from_numpy(np.asarray(p.s, dtype=np.int64))})
    return result, tensors


def run_job(spec: RunSpec) -> None:
    """Train run ``spec`` unless it is stored; store its record and its validation and test logits."""
    from ...train import RunStore

    RunStore(spec.namespace).run(spec.to_dict(), lambda: _train(spec))


def load_run(spec: RunSpec) -> tuple[dict, dict]:
    """``(record, tensors)`` of a stored run: record as :func:`run_job` stored it (``lam`` resolved), tensors
    ``"<split>.logits"``, ``"<split>.y"``, ``"<split>.s"`` for ``split`` in val, test.

    Raises
    ------
    RuntimeError
        The run is not stored (run the grid first: ``run_jobs(jobs(profile))``).
    """
    from ...train import RunStore

    stored = RunStore(spec.namespace).load(spec.to_dict())
    if stored is None:
        raise RuntimeError(f"run {spec.describe()} is not stored; run the grid first "
                           f"(fairlib.experiments.run_jobs(jobs({spec.profile!r})))")
    return stored
