"""Notebook 05's grid as data (:func:`jobs`), one run (:func:`run_job`), and collecting what the runs stored.

The grid of a profile, per task: the **pre-trained model** (``pretrain``, one run per task, every other run of
the task after it), then for every seed, every applicable method and every grid point one run, in the order
the notebook records them. The post-processing baseline runs after the LoRA run of its seed; Unl and Orth after
the auditor's sensitive adapter of their seed (``auditor``, one per task and seed). A run stores its predictions
and probabilities on validation and test (and its parameter count and training seconds), never metrics: the
metrics are computed by :func:`collect` with :func:`fairlib.metrics.evaluate`.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from ... import paths
from ...config import ConfigError, get_profile
from ...data import GroupedDataset
from .._spec import RunSpec
from ._evaluation import NULL_COLUMNS, NULL_GAPS, gap_nulls, evaluate_split
from ._methods import get_method, not_applicable_reason, setting_label
from ._runs import SeedContext
from ._tasks import BenchmarkTask, build_task, task_traits

__all__ = ["NOTEBOOK", "seeds_of", "jobs", "run_job", "train_job", "run_in_process", "collect", "load_task", "tasks_of",
           "task_params"]

NOTEBOOK = "05"
#: Estimated GPU-hours of one run on a real data set at the full profile (stand-ins: 0): whole-model runs
#: dominate; head-only and post-processing runs reuse features or scores; the pre-trained model is a head.
_HOURS_REAL = {"whole": 0.3, "two-party": 0.3, "light": 0.3 / 20, "pretrain": 0.3 / 3, "auditor": 0.3 / 3}
_REAL_KINDS = ("celeba", "utkface", "waterbirds")


def _profile(profile: Any) -> Any:
    return get_profile(profile) if isinstance(profile, str) else profile


def seeds_of(profile: Any, task: str | None = None, method: str | None = None) -> tuple[int, ...]:
    """The training seeds of notebook 05 at ``profile``: ``profile.benchmark.seeds``, else the profile's.

    With ``task``, the seeds that task runs: the first ``n`` when ``benchmark.seed_limits`` limits it to ``n``.
    With ``method`` too, the seeds that method runs on that task: of those, the first ``n`` when
    ``benchmark.method_seed_limits`` limits the method to ``n``.
    """
    profile = _profile(profile)
    seeds = tuple(profile.benchmark.seeds or profile.seeds)
    limit = dict(profile.benchmark.seed_limits).get(task) if task is not None else None
    seeds = seeds[:limit] if limit is not None else seeds
    method_limit = dict(profile.benchmark.method_seed_limits).get(method) if method is not None else None
    return seeds[:method_limit] if method_limit is not None else seeds


def task_params(key: str, profile: Any) -> dict:
    """The settings task ``key``'s data and pre-trained model depend on (part of every run key of the task)."""
    cfg = profile.benchmark
    kind = key.split(":")[0]
    modality = task_traits(key, profile=profile).modality
    budget = cfg.budget(modality)
    out = {"key": key, "data_seed": cfg.data_seed, "version": 2,
           "pretrain": {k: getattr(budget, k) for k in ("pretrain_fraction", "pretrain_epochs", "pretrain_lr",
                                                         "batch_size")}}
    if kind == "adult":
        out["mlp_hidden"] = profile.fisher.hidden
    elif kind == "standin":
        out.update(n_standin=cfg.n_standin, correlation=cfg.standin_correlation, image_backbone=cfg.image_backbone)
        out["backbone"] = (profile.stand_in_vit.to_dict() if cfg.image_backbone == "stand-in"
                           else {"hub": cfg.image_backbone, "image_size": cfg.image_size})
    elif kind in _REAL_KINDS:
        out["backbone"] = {"hub": cfg.image_backbone, "image_size": cfg.image_size}
    elif kind == "text":
        out.update(n_text_standin=cfg.n_text_standin, text_max_length=cfg.text_max_length)
    else:  # a registered extension: every data setting of the section
        out.update(n_standin=cfg.n_standin, n_text_standin=cfg.n_text_standin, image_backbone=cfg.image_backbone)
    return out


def _hours(key: str, what: str) -> float:
    real = key.split(":")[0] in _REAL_KINDS or key == "text:measuring-hate-speech"
    return _HOURS_REAL[what] if real else 0.0


def _pretrain_spec(key: str, profile: Any) -> RunSpec:
    return RunSpec.make(NOTEBOOK, profile, "pretrain", profile.benchmark.data_seed,
                        gpu_hours=_hours(key, "pretrain"), task=task_params(key, profile))


def _auditor_spec(key: str, profile: Any, seed: int, pre: RunSpec) -> RunSpec:
    from ._runs import two_party_uses

    cfg = profile.benchmark
    return RunSpec.make(NOTEBOOK, profile, "auditor", seed, gpu_hours=_hours(key, "auditor"), task=key,
                        pretrained=pre.key, split_fractions=list(cfg.split_fractions),
                        uses=two_party_uses(cfg, profile, cfg.budget(task_traits(key, profile=profile).modality)))


def jobs(profile: Any, *, tasks: Sequence[str] | None = None, methods: Sequence[str] | None = None,
         seeds: Sequence[int] | None = None) -> list[RunSpec]:
    """Every run of notebook 05 at ``profile``, dependencies first.

    Parameters
    ----------
    profile : str or fairlib.config.Profile
    tasks, methods, seeds : optional
        A part of the grid (default: the profile's ``benchmark.tasks``, ``benchmark.methods`` and each task's
        :func:`seeds_of`).

    Returns
    -------
    list of RunSpec
        Per task: ``pretrain``; then per seed, per applicable method (config order), per grid point, one run
        (``params``: ``task``, ``setting``, ``pretrained``, ``split_fractions``, ``uses`` and, for a run that
        consumes another, ``requires``/``auditor``), each Unl/Orth preceded by the seed's ``auditor`` run.
    """
    profile = _profile(profile)
    cfg = profile.benchmark
    chosen = [get_method(m) for m in (methods or cfg.methods)]
    out: list[RunSpec] = []
    for key in tasks or cfg.tasks:
        traits = task_traits(key, profile=profile)
        budget = cfg.budget(traits.modality)
        pre = _pretrain_spec(key, profile)
        out.append(pre)
        runnable = [m for m in chosen if not_applicable_reason(m, traits) is None]
        # a method limited to fewer seeds (benchmark.method_seed_limits) runs on the task's first ones only
        limited = {m.key: set(seeds_of(profile, key, m.key)) for m in runnable
                   if m.key in dict(cfg.method_seed_limits)}
        for seed in seeds or seeds_of(profile, key):
            made: dict[tuple[str, str], RunSpec] = {}
            auditor = None
            for method in runnable:
                if method.key in limited and seed not in limited[method.key]:
                    continue
                for params in method.grid(cfg):
                    after, extra = [pre], {}
                    if method.requires:
                        upstream = made.get((method.requires, "{}"))
                        if upstream is None:
                            raise ConfigError(f"method {method.key!r} needs {method.requires!r} on task {key!r}: add "
                                              f"it to BenchmarkConfig.methods before {method.key!r}")
                        after.append(upstream)
                        extra["requires"] = upstream.key
                    if method.key in ("unl", "orth"):
                        if auditor is None:
                            auditor = _auditor_spec(key, profile, seed, pre)
                            out.append(auditor)
                        after.append(auditor)
                        extra["auditor"] = auditor.key
                    what = "light" if method.kind in ("reference", "head", "post-processing") else method.kind
                    spec = RunSpec.make(NOTEBOOK, profile, method.key, seed, after=tuple(after),
                                        gpu_hours=_hours(key, what), task=key, setting=params, pretrained=pre.key,
                                        split_fractions=list(cfg.split_fractions),
                                        uses=method.uses(cfg, profile, budget), **extra)
                    made[(method.key, json.dumps(params, sort_keys=True))] = spec
                    out.append(spec)
    return out


# ------------------------------------------------------------------------------------------------ running
_TASKS: dict[str, BenchmarkTask] = {}  # per process: built tasks (with their pre-trained model), by pretrain key


def _store(spec: RunSpec, store: Any) -> Any:
    from ...train import RunStore

    return store if store is not None else RunStore(spec.namespace)


def _pretrain_train(task: BenchmarkTask, profile: Any, progress: bool) -> tuple[nn.Module, Any]:
    """The pre-trained classifier of ``task`` before training, and the function that trains it."""
    from ...models import Classifier
    from ...train import TrainConfig, extract_features, fit, seed_everything

    cfg = profile.benchmark
    budget = cfg.budget(task.modality)
    seed_everything(cfg.data_seed)
    classifier = task.make_classifier()

    def train() -> tuple[dict, dict]:
        config = TrainConfig(epochs=budget.pretrain_epochs, lr=budget.pretrain_lr, batch_size=budget.batch_size,
                             seed=cfg.data_seed)
        start = time.perf_counter()
        if task.pretrain == "whole":
            fit(classifier, task.pretrain_pool, config=config, encode=task.encode, transform=task.transform,
                desc="pre-train", progress=progress)
            state = classifier.state_dict()
        else:
            x = extract_features(classifier, task.pretrain_pool, encode=task.encode, transform=task.transform)
            head_only = Classifier(nn.Identity(), classifier.head)
            fit(head_only, GroupedDataset(name="pre-training features", x=x, y=task.pretrain_pool.y,
                                          s=task.pretrain_pool.s, group_names=task.pretrain_pool.group_names,
                                          class_names=task.pretrain_pool.class_names,
                                          sensitive_name=task.pretrain_pool.sensitive_name),
                config=config, desc="pre-train head", progress=progress)
            state = {f"head.{k}": v for k, v in classifier.head.state_dict().items()}
        return {"seconds": time.perf_counter() - start, "examples": len(task.pretrain_pool)}, state

    return classifier, train


def load_task(key: str, profile: Any, *, store: Any = None, pretrained: bool = True,
              progress: bool = False) -> BenchmarkTask:
    """Task ``key`` (built once per process); with ``pretrained``, its stored pre-trained model and pool features.

    Raises
    ------
    RuntimeError
        If the pre-trained model is asked for and not stored (its run must come first).
    """
    from ...train import extract_features

    profile = _profile(profile)
    pre = _pretrain_spec(key, profile)
    cache_key = f"{pre.key}:{getattr(store, 'root', '')}"
    task = _TASKS.get(cache_key)
    if task is None:
        task = _TASKS[cache_key] = build_task(key, profile=profile)
    if pretrained and task.pretrained is None:
        stored = _store(pre, store).load(pre.to_dict())
        if stored is None:
            raise RuntimeError(f"the pre-trained model of task {key!r} ({pre.describe()}) is not stored: run it "
                               f"first (its runs are listed after it by jobs())")
        record, tensors = stored
        classifier, _ = _pretrain_train(task, profile, progress)
        classifier.load_state_dict({**classifier.state_dict(), **tensors})
        classifier.requires_grad_(False).eval()
        task.pretrained, task.pretrain_record = classifier, record
        task.pool_features = extract_features(classifier, task.pool, encode=task.encode, transform=task.transform)
    return task


def _context(spec: RunSpec, profile: Any, task: BenchmarkTask, store: Any, progress: bool) -> SeedContext:
    from ._tasks import TaskTraits  # noqa: F401 - documentation of what traits the grid assumed

    exchange = paths.CACHE / "exchange" / spec.namespace
    if store is not None and getattr(store, "root", None) is not None:
        exchange = Path(store.root).parent / "exchange"
    cfg = profile.benchmark

    def upstream(method: str, params: dict) -> tuple[dict, dict]:
        key = spec.param("requires")
        match = [j for j in jobs(profile, tasks=[spec.param("task")], methods=[method], seeds=[spec.seed])
                 if j.key == key]
        if not match:
            raise RuntimeError(f"run {spec.describe()} needs {method!r}, which is not its declared upstream run")
        stored = _store(match[0], store).load(match[0].to_dict())
        if stored is None:
            raise RuntimeError(f"run {spec.describe()} needs {match[0].describe()}, which is not stored")
        return stored

    auditor = spec.param("auditor", None)
    return SeedContext(task=task, seed=spec.seed, splits=task.splits(spec.seed, cfg.split_fractions),
                       profile=profile, workdir=exchange / spec.key, upstream=upstream,
                       auditor_dir=exchange / (auditor or spec.key) / "auditor_sensitive", progress=progress)


def _tensors(outcome: Any) -> dict:
    out = {}
    for name in ("val_pred", "test_pred", "val_prob", "test_prob", "val_index"):
        value = getattr(outcome, name)
        if value is not None:
            out[name] = torch.as_tensor(np.asarray(value))
    return out


def train_job(spec: RunSpec, profile: Any, *, store: Any = None, progress: bool = False) -> None:
    """Train run ``spec`` of ``profile`` unless stored, and store it.

    Parameters
    ----------
    spec : RunSpec
        One of ``jobs(profile)``.
    profile : str or fairlib.config.Profile
        The profile the spec was made from (a modified profile in tests).
    store : fairlib.train.RunStore, optional
        Default ``RunStore(spec.namespace)``.
    """
    profile = _profile(profile)
    store = _store(spec, store)
    if store.contains(spec.to_dict()):
        return
    key = spec.param("task")["key"] if spec.method == "pretrain" else spec.param("task")
    if spec.method == "pretrain":
        task = load_task(key, profile, store=store, pretrained=False, progress=progress)
        _, train = _pretrain_train(task, profile, progress)
        store.run(spec.to_dict(), train)
        return
    task = load_task(key, profile, store=store, pretrained=spec.method != "auditor", progress=progress)
    ctx = _context(spec, profile, task, store, progress)
    if spec.method == "auditor":
        store.run(spec.to_dict(), lambda: ({"seconds": ctx.sensitive_adapter()[1]}, {}))
        return
    method = get_method(spec.method)
    reason = not_applicable_reason(method, task)
    if reason:
        raise ConfigError(f"run {spec.describe()}: {reason}; the grid's TaskTraits of {key!r} disagree with the task")
    params = dict(spec.param("setting"))

    def train() -> tuple[dict, dict]:
        with warnings.catch_warnings():
            # peft asks transformers a deprecated question on every wrap; the notebook would print it per run.
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            outcome = method.run(ctx, params)
        return ({"trainable_parameters": int(outcome.trainable_parameters),
                 "train_seconds": float(outcome.train_seconds), "details": outcome.details}, _tensors(outcome))

    store.run(spec.to_dict(), train)


_GRID_KEYS: dict[str, frozenset] = {}  # per process: the run keys of jobs(profile), by the profile's settings


def _grid_keys(profile: Any) -> frozenset:
    """The keys of ``jobs(profile)``, built once per process and profile (a pool worker checks every run it
    is given against them; rebuilding the grid for each of 453 smoke runs cost about 40 CPU seconds)."""
    signature = json.dumps(profile.to_dict(), sort_keys=True, default=str)
    if signature not in _GRID_KEYS:
        _GRID_KEYS[signature] = frozenset(j.key for j in jobs(profile))
    return _GRID_KEYS[signature]


def run_job(spec: RunSpec) -> None:
    """Train run ``spec`` unless stored (the executor's entry point; the profile is rebuilt with the grid's
    overrides, ``get_profile(spec.profile, **spec.overrides)``).

    Raises
    ------
    ConfigError
        If ``spec`` is not a run of that profile's grid (a hand-made spec: use :func:`train_job`).
    """
    profile = get_profile(spec.profile, **spec.overrides)
    if spec.key not in _grid_keys(profile):
        raise ConfigError(f"run {spec.describe()} is not in notebook 05's grid at profile {spec.profile!r}; a run "
                          f"outside the grid is trained with train_job(spec, profile)")
    train_job(spec, profile)


def run_in_process(specs: Sequence[RunSpec], profile: Any, *, store: Any = None) -> None:
    """Train ``specs`` (in order: dependencies first, as :func:`jobs` lists them) in this process."""
    for spec in specs:
        train_job(spec, profile, store=store)


# ----------------------------------------------------------------------------------------------- collecting
def collect(profile: Any, specs: Sequence[RunSpec] | None = None, *, methods: Sequence[str] | None = None,
            store: Any = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The records of every stored method run, evaluated now, and the methods that do not apply.

    Parameters
    ----------
    profile : str or fairlib.config.Profile
    specs : list of RunSpec, optional
        Default ``jobs(profile)``; ``pretrain`` and ``auditor`` runs are not methods and give no record.
    methods : sequence of str, optional
        The methods the grid was made for (default the profile's), for the list of those that do not apply.
    store : fairlib.train.RunStore, optional

    Returns
    -------
    records : DataFrame
        One row per (task, method, setting, seed, split): :func:`evaluate_split`'s metrics,
        ``trainable_parameters`` and ``train_seconds``; on the test split each gap's permutation null
        (:func:`gap_nulls` with ``random_state`` = the seed; NaN on validation).
    skipped : DataFrame
        ``task, method, label, reason`` of each method that does not apply to a task.

    Raises
    ------
    RuntimeError
        If a run is not stored (run the grid first).
    """
    profile = _profile(profile)
    cfg = profile.benchmark
    specs = list(specs) if specs is not None else jobs(profile)
    rows, skipped = [], []
    tasks: dict[str, BenchmarkTask] = {}
    for spec in specs:
        if spec.method in ("pretrain", "auditor"):
            continue
        key = spec.param("task")
        if key not in tasks:
            tasks[key] = load_task(key, profile, store=store, pretrained=False)
        task = tasks[key]
        stored = _store(spec, store).load(spec.to_dict())
        if stored is None:
            raise RuntimeError(f"run {spec.describe()} is not stored: run the grid first (run_jobs(jobs(profile)))")
        record, tensors = stored
        method = get_method(spec.method)
        params = dict(spec.param("setting"))
        splits = task.splits(spec.seed, cfg.split_fractions)
        val, test = splits.val, splits.test
        index = tensors["val_index"].numpy() if "val_index" in tensors else np.arange(len(val))
        prob = {name: tensors[f"{name}_prob"].numpy() if f"{name}_prob" in tensors else None for name in ("val", "test")}
        metrics = {
            "val": evaluate_split(val.y[index], tensors["val_pred"].numpy(), val.s[index], group_names=task.group_names,
                                  prob=prob["val"], num_classes=task.num_classes),
            "test": evaluate_split(test.y, tensors["test_pred"].numpy(), test.s, group_names=task.group_names,
                                   prob=prob["test"], num_classes=task.num_classes)}
        base = {"task": key, "task_label": task.label, "modality": task.modality, "method": method.key,
                "method_label": method.label, "family": method.family, "kind": method.kind,
                "setting": setting_label(params), "params": json.dumps(params, sort_keys=True), "seed": int(spec.seed),
                # the groups of a fairness regulariser's loss variance (FairLoRA's reading); "" for other methods
                "grouping": str((spec.param("uses", None) or {}).get("fair_groups", "")),
                "trainable_parameters": int(record["trainable_parameters"]),
                "train_seconds": float(record["train_seconds"])}
        # The permutation null of each gap, beside the gap, on the test split (what the ranking reports).
        nulls = {"val": dict.fromkeys((f"{g}_{c}" for g in NULL_GAPS for c in NULL_COLUMNS), float("nan")),
                 "test": gap_nulls(test.y, tensors["test_pred"].numpy(), test.s, group_names=task.group_names,
                                   num_classes=task.num_classes, random_state=int(spec.seed))}
        for split in ("val", "test"):
            rows.append({**base, "split": split, **metrics[split], **nulls[split]})
    chosen = [get_method(m) for m in (methods or cfg.methods)]
    for key in dict.fromkeys(s.param("task")["key"] for s in specs if s.method == "pretrain"):
        traits = task_traits(key, profile=profile)
        for method in chosen:
            reason = not_applicable_reason(method, traits)
            if reason:
                skipped.append({"task": key, "method": method.key, "label": method.label, "reason": reason})
    return pd.DataFrame(rows), pd.DataFrame(skipped, columns=["task", "method", "label", "reason"])


def tasks_of(profile: Any, *, store: Any = None) -> dict[str, BenchmarkTask]:
    """Every task of ``profile`` (data and splits; no model trained), by key."""
    profile = _profile(profile)
    return {key: load_task(key, profile, store=store, pretrained=False) for key in profile.benchmark.tasks}
