"""Notebook 03's grid as data: per task and seed, the auditor's sensitive adapter, then the four strategies.

:func:`jobs` lists every run; :func:`run_job` trains one unless it is stored. What a developer run stores
(:class:`fairlib.train.RunStore`, namespace ``03-<profile>``): the trained task adapter, the test set's class
probabilities, labels and groups, and the experimenter's linear-probe predictions of ``s`` (with their folds) and the developer-side leakage audit's out-of-fold probe
probabilities of ``s`` on the developer's own examples from what it received (:mod:`fairlib.methods.privacy_audit`);
plus, in ``metrics.json``, facts of the run (exchanged parameters, the auditor's signals, seconds). No metric
is stored: :mod:`fairlib.experiments.privacy` recomputes them with :func:`fairlib.metrics.evaluate` when it
collects the runs. An auditor run stores the exchange folder it sends (adapter tensors, config and signals), so
that a developer run on another machine can rebuild that folder from the run store.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ... import paths
from ...config import get_profile
from ...methods.privacy_roles import check_exchange
from ...methods.privacy_audit import AUDIT_FOLDS, probe_out_of_fold
from ...methods.privacy_strategies import (ORTH_VARIANTS, STRATEGIES, adapter_shift, backbone_factory,
                                           base_representation, run_strategy, train_sensitive_adapter)
from ...models import LoraSpec
from ...train import RunStore
from .._spec import RunSpec

__all__ = ["NOTEBOOK", "AUDITOR", "NEEDS_SENSITIVE", "VARIANTS", "seeds_of", "strategy_seeds", "jobs", "run_job", "developer_jobs", "RECEIVED", "config_of", "resolve", "backbone_info", "grid_records"]

NOTEBOOK = "03"
#: Method name of the auditor's sensitive-adapter run (one per task and seed, shared by Unl and Orth).
AUDITOR = "auditor"
#: Strategies that start from the auditor's sensitive adapter.
NEEDS_SENSITIVE = ("unl", *ORTH_VARIANTS)
#: Orth's named variants (the paper's form is ``orth``); they run on ``variant_seeds`` seeds when that is set.
VARIANTS = tuple(v for v in ORTH_VARIANTS if v != "orth")
#: Configuration fields that do not enter a run's identity (the task list and the seed list: a run has one of
#: each; threads, set by the executor).
_NOT_IN_SPEC = ("tasks", "cpu_threads", "seeds", "variant_seeds")


def resolve(profile: Any) -> Any:
    """A :class:`fairlib.config.Profile` from a profile or its name."""
    return get_profile(profile) if isinstance(profile, str) else profile


def seeds_of(profile: Any) -> tuple[int, ...]:
    """The seeds of notebook 03 at ``profile`` (a name or a profile): ``profile.privacy.seeds``, else the profile's."""
    profile = resolve(profile)
    return tuple(profile.privacy.seeds or profile.seeds)


def strategy_seeds(profile: Any, strategy: str) -> tuple[int, ...]:
    """The seeds ``strategy`` runs on: :func:`seeds_of`, the first ``variant_seeds`` of them for :data:`VARIANTS`."""
    profile = resolve(profile)
    seeds = seeds_of(profile)
    limit = profile.privacy.variant_seeds
    return seeds[:limit] if strategy in VARIANTS and limit is not None else seeds


def _gpu_hours(config: Any, method: str) -> float:
    # Estimates of the former hand count: a stand-in run is CPU minutes; a ViT-Base developer run on CelebA
    # about half a GPU-hour, the auditor's adapter (fewer epochs, half the pool) half of that.
    if config.backbone == "stand-in":
        return 0.0
    return 0.25 if method == AUDITOR else 0.5


def _common(profile: Any) -> dict:
    pc = profile.privacy
    return {"privacy": {k: v for k, v in dataclasses.asdict(pc).items() if k not in _NOT_IN_SPEC},
            "stand_in_vit": dataclasses.asdict(profile.stand_in_vit) if pc.backbone == "stand-in" else None}


def jobs(profile: Any) -> list[RunSpec]:
    """Every run of notebook 03 at ``profile`` (a name or a :class:`~fairlib.config.Profile`), in order.

    Per task and seed: the auditor's sensitive adapter (method ``"auditor"``), then ``erm``, ``unl``,
    ``adv``, ``orth`` and (on :func:`strategy_seeds`) ``orth_shift`` and ``orth_olora``; the strategies of
    :data:`NEEDS_SENSITIVE` run after the auditor's run and name its key (``sensitive_adapter``).
    """
    profile = resolve(profile)
    pc, common = profile.privacy, _common(profile)
    grid: list[RunSpec] = []
    for task in pc.tasks:
        for seed in seeds_of(profile):
            auditor = RunSpec.make(NOTEBOOK, profile, AUDITOR, seed, gpu_hours=_gpu_hours(pc, AUDITOR),
                                   task=task, **common)
            grid.append(auditor)
            for strategy in STRATEGIES:
                if seed not in strategy_seeds(profile, strategy):
                    continue
                needs = strategy in NEEDS_SENSITIVE
                grid.append(RunSpec.make(NOTEBOOK, profile, strategy, seed, after=(auditor,) if needs else (),
                                         gpu_hours=_gpu_hours(pc, strategy), task=task,
                                         sensitive_adapter=auditor.key if needs else None, **common))
    return grid


def grid_records(grid: list[RunSpec]) -> list[dict]:
    """Each spec of a grid as ``to_dict()`` plus its ``key`` and ``after`` (what the results JSON records)."""
    return [{**spec.to_dict(), "key": spec.key, "after": list(spec.after)} for spec in grid]


def developer_jobs(profile: Any) -> list[RunSpec]:
    """The strategy runs of :func:`jobs` (the ones the notebook evaluates), in order."""
    return [spec for spec in jobs(profile) if spec.method != AUDITOR]


def config_of(spec: RunSpec) -> tuple[Any, Any]:
    """``(PrivacyLoraConfig, TinyViTSpec or None)`` that a spec was made from (its one task as ``tasks``)."""
    from ...config import PrivacyLoraConfig
    from ...models import TinyViTSpec

    params = spec.to_dict()["params"]
    pc = PrivacyLoraConfig(**{**params["privacy"], "tasks": (params["task"],)})
    vit = TinyViTSpec(**params["stand_in_vit"]) if params["stand_in_vit"] is not None else None
    return pc, vit


_BACKBONES: dict[str, Any] = {}


def _backbone(pc: Any, vit: Any) -> Any:
    # One frozen backbone per worker process (every party of every run gets its own deep copy of it).
    key = json.dumps([pc.backbone, dataclasses.asdict(vit) if vit is not None else None], sort_keys=True)
    if key not in _BACKBONES:
        _BACKBONES[key] = backbone_factory(pc.backbone, stand_in_vit=vit)
    return _BACKBONES[key]


def backbone_info(profile: Any) -> dict:
    """``name``, ``hidden_size`` and ``num_hidden_layers`` of the profile's backbone (loaded, or pre-trained once)."""
    profile = resolve(profile)
    pc = profile.privacy
    factory = _backbone(pc, profile.stand_in_vit if pc.backbone == "stand-in" else None)
    return {"name": pc.backbone, "hidden_size": factory.config.hidden_size,
            "num_hidden_layers": factory.config.num_hidden_layers}


def _device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _exchange_root(spec: RunSpec) -> Path:
    return paths.CACHE / "exchange" / spec.namespace


def _sensitive_folder(spec: RunSpec) -> Path:
    """The exchange folder of the auditor's adapter a ``unl``/``orth`` spec names, rebuilt from the store if absent."""
    from safetensors.torch import save_file

    from ...methods.privacy_roles import ExchangeError

    key = spec.param("sensitive_adapter")
    folder = _exchange_root(spec) / key / "auditor_sensitive"
    try:
        check_exchange(folder)
        return folder
    except ExchangeError:
        pass
    auditor = next((s for s in jobs(spec.config()) if s.key == key), None)
    stored = RunStore(spec.namespace).load(auditor.to_dict()) if auditor is not None else None
    if stored is None:
        raise RuntimeError(f"run {spec.describe()} needs the auditor's sensitive adapter {key}, which is not stored: "
                           f"run the grid (fairlib.experiments.run_jobs) so that it runs first")
    record, tensors = stored
    partial = folder.with_name(folder.name + f".partial{time.time_ns()}")
    partial.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(partial / "adapter_model.safetensors"),
              metadata={"format": "pt"})
    (partial / "adapter_config.json").write_text(json.dumps(record["adapter_config"], indent=2))
    if record["signals"]:
        (partial / "signals.json").write_text(json.dumps(record["signals"], indent=1))
    check_exchange(partial)
    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    partial.rename(folder)
    return folder


def _train_auditor(spec: RunSpec) -> tuple[dict, dict]:
    from safetensors.torch import load_file

    from ._tasks import split_task

    pc, vit = config_of(spec)
    _, auditor_view, _, _ = split_task(spec.param("task"), pc, spec.seed)
    folder = _exchange_root(spec) / spec.key / "auditor_sensitive"
    start = time.perf_counter()
    signals = train_sensitive_adapter(auditor_view, folder, backbone=_backbone(pc, vit)(),
                                      lora=LoraSpec(r=pc.rank, alpha=pc.alpha), lr=pc.lr, batch_size=pc.batch_size,
                                      epochs=pc.auditor_epochs, seed=spec.seed, device=_device())
    record = {"signals": signals, "adapter_config": json.loads((folder / "adapter_config.json").read_text()),
              "seconds": time.perf_counter() - start}
    return record, load_file(str(folder / "adapter_model.safetensors"))


def probe_predictions(features: np.ndarray, s: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The experimenter's two-fold linear probe for ``s``: out-of-fold predictions and each example's fold.

    ``leakage`` is then the mean over the two folds of the balanced accuracy on the fold
    (:func:`fairlib.experiments.privacy.leakage`).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    fold = rng.permutation(len(s)) % 2
    predicted = np.empty(len(s), dtype=np.int64)
    for k in (0, 1):
        train, test = fold != k, fold == k
        scaler = StandardScaler().fit(features[train])
        probe = LogisticRegression(max_iter=500).fit(scaler.transform(features[train]), s[train])
        predicted[test] = probe.predict(scaler.transform(features[test]))
    return predicted, fold.astype(np.int64)


def _train_developer(spec: RunSpec) -> tuple[dict, dict]:
    from ._tasks import split_task

    pc, vit = config_of(spec)
    strategy, seed, device = spec.method, spec.seed, _device()
    start = time.perf_counter()
    developer_view, auditor_view, test, transform, developer_s = split_task(spec.param("task"), pc, seed,
                                                                           developer_groups=True)
    workdir = _exchange_root(spec) / spec.key
    sensitive = _sensitive_folder(spec) if strategy in NEEDS_SENSITIVE else None
    developer, received = run_strategy(
        strategy, developer_view, backbone=_backbone(pc, vit), lora=LoraSpec(r=pc.rank, alpha=pc.alpha),
        epochs=pc.epochs, lr=pc.lr, batch_size=pc.batch_size, seed=seed, workdir=workdir, auditor_view=auditor_view,
        sensitive_adapter=sensitive, unlearn_scale=pc.unlearn_scale, orth_lambda=pc.orth_lambda,
        orth_components=pc.orth_components, adv_lambda=pc.adv_lambda, adv_lr=pc.adv_lr,
        adv_refit_epochs=pc.adv_refit_epochs, device=device)
    prob = developer.predict_proba(test.x, transform=transform)
    probe, fold = probe_predictions(developer.features(test.x, transform=transform), test.s, seed)
    exported = developer.export_adapter(workdir / f"{strategy}_final")
    received_features = _received(strategy, developer_view, _backbone(pc, vit), workdir, sensitive, transform, device)
    audit = probe_out_of_fold(received_features, developer_s, folds=AUDIT_FOLDS, seed=seed)
    record = {"task": spec.param("task"), "strategy": strategy, "seed": seed,
              "group_names": list(test.group_names), "class_names": list(test.class_names),
              "exchanged_parameters": check_exchange(exported)["parameters"], "auditor_signals": received,
              "sensitive_adapter_signals": check_exchange(sensitive)["signals"] if sensitive is not None else {},
              "developer_steps": developer.steps, "developer_examples": developer.examples,
              "audit_received": RECEIVED[strategy], "seconds": time.perf_counter() - start}
    tensors = {f"adapter/{n}": p.detach().cpu() for n, p in developer.model.named_parameters() if ".default." in n}
    tensors.update({"test/prob": torch.as_tensor(prob), "test/y": torch.as_tensor(np.asarray(test.y, dtype=np.int64)),
                    "test/s": torch.as_tensor(np.asarray(test.s, dtype=np.int64)),
                    "test/probe_s": torch.as_tensor(probe), "test/probe_fold": torch.as_tensor(fold)})
    tensors.update({"audit/proba": torch.as_tensor(audit), "audit/s": torch.as_tensor(developer_s)})
    return record, tensors


#: What the developer received, per strategy: the input of the developer-side leakage audit.
RECEIVED = {"erm": "nothing (baseline: its own h_0(x))", "unl": "sensitive adapter: h_s(x) - h_0(x)",
            "adv": "returned adapter per round: h_returned(x) - h_sent(x), rounds side by side",
            **{v: "sensitive adapter: h_s(x) - h_0(x)" for v in ORTH_VARIANTS}}


def _received(strategy: str, view: Any, backbone: Any, workdir: Path, sensitive: Path | None, transform: Any,
              device: str) -> np.ndarray:
    # Per developer example, everything the developer received, as the shift it causes in its representation
    # of its own images (fairlib.methods.privacy_audit). Erm receives nothing: its audit reads the developer's own
    # frozen representation h_0(x), the baseline of what it could predict of s before receiving anything.
    if strategy == "erm":
        return base_representation(backbone, view.x, transform=transform, device=device)
    if strategy in NEEDS_SENSITIVE:
        return adapter_shift(backbone, sensitive, view.x, transform=transform, device=device)
    if strategy == "adv":
        rounds = sorted(workdir.glob("adv_round*_auditor"), key=lambda p: int(p.name[9:].split("_")[0]))
        return np.concatenate([adapter_shift(backbone, folder, view.x, transform=transform, device=device,
                                             reference=folder.with_name(folder.name.replace("_auditor", "_developer")))
                               for folder in rounds], axis=1)
    raise ValueError(f"strategy {strategy!r}: no audit input defined; valid choices: {STRATEGIES}")


def run_job(spec: RunSpec) -> None:
    """Train and store one run of :func:`jobs` unless it is stored.

    Raises
    ------
    ValueError
        A spec of another notebook or an unknown method (naming the valid ones).
    """
    if spec.notebook != NOTEBOOK:
        raise ValueError(f"run {spec.describe()} is not a run of notebook {NOTEBOOK}")
    if spec.method not in (AUDITOR, *STRATEGIES):
        raise ValueError(f"run {spec.describe()}: method {spec.method!r}; valid choices: {(AUDITOR, *STRATEGIES)}")
    train = _train_auditor if spec.method == AUDITOR else _train_developer
    RunStore(spec.namespace).run(spec.to_dict(), lambda: train(spec))
