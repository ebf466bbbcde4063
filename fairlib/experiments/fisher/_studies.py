"""Notebook 04's pre-trained models: Adult MLPs, and frozen image backbones with a linear head."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
import torch
from torch import nn

from ...config import ADULT_TABLE1_SIZES, STAND_IN_VIT
from ...data import GroupedDataset
from ...methods.fair_penalties import PENALTY_FORMS, make_penalty
from ...methods.feature_cache import FeatureCache, fit_on_features
from .. import RunSpec
from ._constants import VERSION
from ._tasks import NewTask, Pretrained, _metrics_of, two_way_split


def _form_of(cfg: Any, penalty: str, form: str | None) -> str:
    """The penalty form of a fair pre-trained model: ``form``, else the profile's ``fair_penalty``; "" if none."""
    if not penalty:
        return ""
    form = form or cfg.fair_penalty
    if form not in PENALTY_FORMS:
        raise ValueError(f"fair penalty form {form!r}; valid: {PENALTY_FORMS}")
    return form


def adult_pretrain_spec(profile: Any, *, depth: int = 2, penalty: str = "", intensity: float = 0.0,
                        form: str | None = None) -> RunSpec:
    """The :class:`RunSpec` of pre-training an Adult MLP with ``depth`` linear layers on the 60% (with a DP/EO
    penalty of ``intensity`` in ``form``, default the profile's ``fair_penalty``, or none)."""
    from ...train import TrainConfig

    cfg = profile.fisher
    form = _form_of(cfg, penalty, form)
    # A penalised model's spec names its form; the unpenalised ones keep the keys they had.
    extra = {"fair_penalty": form} if penalty else {}
    config = TrainConfig(epochs=cfg.pretrain_epochs, lr=cfg.pretrain_lr, batch_size=cfg.pretrain_batch_size,
                         seed=cfg.split_seed)
    data = {"dataset": "adult", "sensitive": "sex", "pretrain_fraction": cfg.pretrain_fraction,
            "split_seed": cfg.split_seed}
    return RunSpec.make("04", profile, "pretrain", cfg.split_seed, version=VERSION, what="adult-mlp", data=data,
                        hidden=[cfg.hidden] * (depth - 1), penalty=penalty or None,
                        intensity=float(intensity) if penalty else 0.0, train=asdict(config), **extra)


def _store(profile: Any, store: Any) -> Any:
    from ...train import RunStore

    return store if store is not None else RunStore(f"04-{profile.name}")


class AdultStudy:
    """Adult at the paper's protocol: one 60/40 split, pre-trained MLPs (cached), the new task's runs.

    Parameters
    ----------
    profile : fairlib.config.Profile
        Reads ``profile.fisher``.
    store : RunStore, optional
        Default ``RunStore("04-<profile>")``.

    Attributes
    ----------
    task : NewTask
        The new task (the 40%), on which every method runs.
    pretrain_data : GroupedDataset
        The 60% the MLPs pre-train on (standardised with its own statistics; the pool with the same ones).
    """

    def __init__(self, profile: Any, *, store: Any = None):
        from ...data import Splits, load_adult, standardize

        self.profile, self.cfg = profile, profile.fisher
        if self.cfg.num_threads > 0:
            torch.set_num_threads(self.cfg.num_threads)
        self.store = _store(profile, store)
        data = load_adult(sensitive="sex", verbose=False)
        self.source = data.info["source"]
        c = self.cfg
        first, rest = two_way_split(data, fraction=c.pretrain_fraction, seed=c.split_seed)
        # The pool is scaled with the pre-training statistics: the pre-trained model's own input pipeline.
        pool = data.subset(rest)
        scaled = standardize(Splits(train=data.subset(first), val=pool, test=pool))
        self.pretrain_data = scaled.train
        self.task = NewTask(name="Adult", key="adult", pool=scaled.val, fractions=c.new_task_fractions, cfg=c,
                            store=self.store, stand_in=False, profile=profile)
        self._models: dict[str, Pretrained] = {}

    def split_sizes(self, run: int = 0) -> pd.DataFrame:
        """Adult's split sizes three ways: the paper's Table 1, Table 1's proportions applied to our new task's
        pool, and the parts run ``run`` actually uses (train / validation / test, their total, its share of
        Adult's complete rows)."""
        n_adult = len(self.pretrain_data) + len(self.task.pool)
        pool = len(self.task.pool)
        shares = [s / sum(ADULT_TABLE1_SIZES) for s in ADULT_TABLE1_SIZES]
        rows = {"paper's Table 1": list(ADULT_TABLE1_SIZES),
                "Table 1's proportions of our new task": [round(pool * f) for f in shares],
                f"used (run {run})": [len(part) for part in self.task.split(run)]}
        out = pd.DataFrame.from_dict(rows, orient="index", columns=["train", "validation", "test"])
        out["total"] = out.sum(axis=1)
        out["share of Adult"] = out["total"] / n_adult
        return out

    @staticmethod
    def name_of(*, depth: int = 2, penalty: str = "", intensity: float = 0.0, form: str = "") -> str:
        """``"f_B"`` (two layers, no penalty), ``"f_F (EO, 0.1, zafar_covariance)"``, ``"MLP-3"``.

        A fair model's name carries its penalty ``form`` (one of ``PENALTY_FORMS``; required with ``penalty``).
        """
        if penalty:
            if form not in PENALTY_FORMS:
                raise ValueError(f"a fair model's name needs its penalty form; got {form!r}, valid: {PENALTY_FORMS}")
            return f"f_F ({penalty.upper()}, {intensity:g}, {form})"
        return "f_B" if depth == 2 else f"MLP-{depth}"

    def pretrained(self, *, depth: int = 2, penalty: str = "", intensity: float = 0.0,
                   form: str | None = None) -> Pretrained:
        """The MLP with ``depth`` linear layers pre-trained on the 60% (with a DP/EO penalty or none).

        ``depth = 2`` is the paper's two-layer MLP (34 -> hidden -> 2). ``form`` is the penalty's form
        (``"zafar_covariance"`` or ``"probability_gap"``; default the profile's ``fair_penalty``). Trained once
        and cached (RunStore); later calls rebuild it from the stored weights.
        """
        from ...models import count_parameters, mlp_classifier
        from ...train import TrainConfig, seed_everything

        form = _form_of(self.cfg, penalty, form)
        name = self.name_of(depth=depth, penalty=penalty, intensity=intensity, form=form)
        if name in self._models:
            return self._models[name]
        c = self.cfg
        spec = adult_pretrain_spec(self.profile, depth=depth, penalty=penalty, intensity=intensity, form=form)
        config = TrainConfig(**spec.param("train"))
        hidden = (c.hidden,) * (depth - 1)

        def build() -> nn.Module:
            seed_everything(c.split_seed)
            return mlp_classifier(self.pretrain_data.x.shape[1], hidden=hidden)

        def train() -> tuple[dict, dict]:
            model = build()
            terms = [make_penalty(form, kind=penalty, intensity=float(intensity))] if penalty else []
            history = fit_on_features(model, self.pretrain_data, config=config, loss_terms=terms,
                                      desc=f"pre-train {name}", progress=False)
            record = {"epoch_losses": history.epoch_losses, "seconds": history.seconds,
                      "parameters": count_parameters(model)["total"],
                      "pretrain_data": _metrics_of(model, self.pretrain_data)}
            return record, model.state_dict()

        record, tensors = self.store.run(spec.to_dict(), train)
        model = build()
        model.load_state_dict(tensors)
        model.eval().requires_grad_(False)
        with torch.no_grad():
            x = model.features(torch.as_tensor(self.task.pool.x)).numpy()
        features = dataclasses.replace(self.task.pool, x=x)
        self._models[name] = Pretrained(name=name, key=spec.key, model=model, features=features, info=record)
        return self._models[name]


# ------------------------------------------------------------------------------------------------- images
class BackboneUnavailable(RuntimeError):
    """A Table 4 backbone cannot be built here (e.g. DenseNet needs timm, which does not import)."""


@dataclass(frozen=True)
class ImageTask:
    """An image task of the paper (or its stand-in): how to load it and how to split its new task."""

    key: str
    title: str
    paper_name: str | None
    fractions: tuple[float, float, float] | None  # None: FisherSVDConfig.image_fractions


#: The image tasks: the stand-in, and the paper's two (Table 1's proportions for the new task's parts).
IMAGE_TASKS = {
    "celeba_like": ImageTask("celeba_like", "CelebA-like stand-in", None, None),
    "celeba": ImageTask("celeba", "CelebA (WavyHair, sensitive Male)", "CelebA",
                        (194599 / 206599, 4000 / 206599, 8000 / 206599)),
    "lfwa": ImageTask("lfwa", "LFW+a (gender, sensitive HeavyMakeup)", "LFW+a",
                      (6885 / 13143, 1000 / 13143, 5258 / 13143)),
}
_IMAGENET = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


def _flat_pool(output: Any, inputs: Any) -> torch.Tensor:
    """ResNet's globally pooled map ``(n, c, 1, 1)`` as ``(n, c)``; timm models already return ``(n, c)``."""
    pooled = getattr(output, "pooler_output", output)
    return pooled.flatten(1)


def _load_image_data(task: ImageTask, cfg: Any) -> GroupedDataset:
    if task.key == "celeba_like":
        from ...data import celeba_like

        return celeba_like(n=cfg.image_n, seed=cfg.split_seed)
    if task.key == "celeba":
        from ...data import load_celeba

        return load_celeba(target="Wavy_Hair", sensitive="Male", verbose=False)
    from ...data import load_lfwa

    return load_lfwa(target="Male", sensitive="Heavy_Makeup", verbose=False)


def require(profile: Any) -> None:
    """Fail fast, before any training, when the profile's image data or checkpoints are missing.

    Raises
    ------
    FileNotFoundError
        Naming every missing dataset or checkpoint, where it was looked for and how to get it.
    """
    from ..._plan import require_section

    require_section(profile, "fisher", readers="Datasets are read by fairlib.data.load_celeba / load_lfwa "
                                               "(see data/README.md); checkpoints by fairlib.models.load_backbone.")


def stand_in_variant(profile: Any, name: str) -> Any:
    """The TinyViTSpec of a stand-in backbone name.

    ``"stand-in-vit"`` is the profile's stand-in ViT (Fig. 4). Table 4's three share one pre-training budget
    (``variant_pretrain_images`` x ``variant_pretrain_epochs``) so that only the architecture differs:
    ``"stand-in-vit-reference"`` (the stand-in's architecture), ``"-deeper"`` (twice the layers) and
    ``"-wider"`` (twice the hidden and intermediate sizes).
    """
    base, cfg = profile.stand_in_vit, profile.fisher
    if name == STAND_IN_VIT:
        return base
    reference = dataclasses.replace(base, pretrain_images=cfg.variant_pretrain_images,
                                    pretrain_epochs=cfg.variant_pretrain_epochs)
    if name == "stand-in-vit-reference":
        return reference
    if name == "stand-in-vit-deeper":
        return dataclasses.replace(reference, num_hidden_layers=2 * base.num_hidden_layers)
    if name == "stand-in-vit-wider":
        return dataclasses.replace(reference, hidden_size=2 * base.hidden_size,
                                   intermediate_size=2 * base.intermediate_size)
    raise ValueError(f"{name!r} is not a stand-in backbone; valid: {STAND_IN_VIT!r}, "
                     f"'stand-in-vit-reference', 'stand-in-vit-deeper', 'stand-in-vit-wider'")


def image_data_spec(cfg: Any, task: str) -> dict:
    """Identity of an image task's examples and of their pre-training / new-task split."""
    return {"dataset": task, "seed": cfg.split_seed, "pretrain_fraction": cfg.image_pretrain_fraction,
            **({"image_n": cfg.image_n} if task == "celeba_like" else {})}


def backbone_identity(profile: Any, backbone: str) -> dict:
    """What determines a frozen backbone (its stand-in ViT spec, or its hub id and input size)."""
    if backbone.startswith(STAND_IN_VIT):
        return {"stand_in_vit": stand_in_variant(profile, backbone).to_dict()}
    if backbone.startswith("timm/"):
        return {"timm": backbone, "image_size": profile.fisher.image_size}
    return {"hub": backbone, "image_size": profile.fisher.image_size}


def image_pretrain_spec(profile: Any, *, task: str, backbone: str) -> RunSpec:
    """The :class:`RunSpec` of an image task's pre-trained model: ``backbone`` (frozen, its features of every
    image cached on disk) with a linear head trained on the pre-training share."""
    from ...train import TrainConfig

    cfg = profile.fisher
    config = TrainConfig(epochs=cfg.head_pretrain_epochs, lr=cfg.head_pretrain_lr, batch_size=cfg.batch_size,
                         seed=cfg.split_seed)
    return RunSpec.make("04", profile, "pretrain", cfg.split_seed, version=VERSION, what="image-head",
                        backbone=backbone_identity(profile, backbone),
                        data=image_data_spec(cfg, task), train=asdict(config))


class ImageStudy:
    """One image task: the frozen backbones' features (computed once, cached), heads pre-trained on a share of
    the images, and the new task's runs on the rest.

    Parameters
    ----------
    profile : fairlib.config.Profile
    task : str
        A key of :data:`IMAGE_TASKS`.
    store : RunStore, optional
    cache : FeatureCache, optional
        Default: on disk under ``CACHE/features``.
    """

    def __init__(self, profile: Any, *, task: str, store: Any = None, cache: FeatureCache | None = None):
        if task not in IMAGE_TASKS:
            raise ValueError(f"task={task!r}; valid: {tuple(IMAGE_TASKS)}")
        self.profile, self.cfg, self.info = profile, profile.fisher, IMAGE_TASKS[task]
        if self.cfg.num_threads > 0:
            torch.set_num_threads(self.cfg.num_threads)
        self.store = _store(profile, store)
        self.cache = cache if cache is not None else FeatureCache()
        self.data = _load_image_data(self.info, self.cfg)
        c = self.cfg
        self.pretrain_index, self.pool_index = two_way_split(self.data, fraction=c.image_pretrain_fraction,
                                                             seed=c.split_seed)
        self.stand_in = self.info.key == "celeba_like"
        self.data_spec = image_data_spec(c, task)
        name = self.data.name if self.stand_in else self.info.title
        self.task = NewTask(name=name, key=task, pool=self.data.subset(self.pool_index),
                            fractions=self.info.fractions or c.image_fractions, cfg=c, store=self.store,
                            stand_in=self.stand_in or c.stand_in_images, profile=profile)
        self._models: dict[str, Pretrained] = {}

    @property
    def models(self) -> dict[str, Pretrained]:
        """The pre-trained models built so far, by backbone name."""
        return dict(self._models)

    # -- backbones ----------------------------------------------------------------------------------------
    def vit_spec(self, name: str) -> Any:
        """The TinyViTSpec of a stand-in backbone name (see :func:`stand_in_variant`)."""
        return stand_in_variant(self.profile, name)

    def display_name(self, backbone: str) -> str:
        """``"stand-in ViT 4x64 (50k x 2)"`` / ``"ResNet-18"`` / ``"DenseNet-121"``."""
        if backbone.startswith(STAND_IN_VIT):
            s = self.vit_spec(backbone)
            return (f"stand-in ViT {s.num_hidden_layers}x{s.hidden_size} "
                    f"({s.pretrain_images / 1000:g}k images x {s.pretrain_epochs})")
        tail = backbone.split("/")[-1].split(".")[0]
        return {"resnet-18": "ResNet-18", "resnet-50": "ResNet-50", "densenet121": "DenseNet-121"}.get(tail, tail)

    @staticmethod
    def paper_model(backbone: str) -> str | None:
        """The paper's Table 4 model name of a hub backbone (None for stand-ins)."""
        tail = backbone.split("/")[-1]
        return "ResNet-50" if "resnet-50" in tail else "DenseNet" if "densenet" in tail else \
            "ResNet-18" if "resnet-18" in tail else None

    def classifier(self, backbone: str) -> tuple[nn.Module, dict]:
        """A frozen backbone with a fresh 2-class head, and its identity spec.

        Raises
        ------
        BackboneUnavailable
            DenseNet when timm does not import (it imports torchvision, which the CPU stack here lacks).
        fairlib.models.CheckpointMissingError
            A hub checkpoint that is not cached locally.
        """
        from ...models import Classifier, TimmUnavailableError, image_classifier, load_backbone, load_timm_backbone

        if backbone.startswith(STAND_IN_VIT):
            from ...train import pretrained_tiny_vit

            spec = self.vit_spec(backbone)
            model = image_classifier(pretrained_tiny_vit(spec, verbose=False), num_labels=2)
            identity = backbone_identity(self.profile, backbone)
        elif backbone.startswith("timm/"):
            try:
                net = load_timm_backbone(backbone)
            except TimmUnavailableError as error:
                raise BackboneUnavailable(f"{backbone}: transformers has no DenseNet, and {error}") from None
            model = Classifier(net, nn.Linear(net.num_features, 2), pool=_flat_pool, model_type="timm")
            identity = backbone_identity(self.profile, backbone)
        else:
            net = load_backbone(backbone, auto_class="AutoModel")
            width = net.config.hidden_sizes[-1] if hasattr(net.config, "hidden_sizes") else net.config.hidden_size
            model = Classifier(net, nn.Linear(width, 2), pool=_flat_pool, model_type=net.config.model_type)
            identity = backbone_identity(self.profile, backbone)
        model.eval().requires_grad_(False)
        if torch.cuda.is_available() and not backbone.startswith(STAND_IN_VIT):
            # One forward pass over every image is the only heavy step at full scale; heads train on CPU.
            model.backbone.to("cuda")
        return model, identity

    def _inputs(self, identity: dict) -> Any:
        if self.stand_in:
            return self.data
        from ...data import ImageFileDataset, make_image_processor

        processor = make_image_processor(size=self.cfg.image_size, image_mean=_IMAGENET["mean"],
                                         image_std=_IMAGENET["std"])
        return ImageFileDataset.from_grouped(self.data, processor=processor, train=False, seed=0)

    def features(self, backbone: str) -> tuple[GroupedDataset, nn.Module, dict]:
        """Features of every image of the task under ``backbone``: computed once, then from the cache."""
        model, identity = self.classifier(backbone)
        spec = {"backbone": identity, "data": self.data_spec}
        inputs = self._inputs(identity)
        if self.stand_in:
            feats = self.cache.features(model, self.data, spec=spec)
        else:
            from ...train import extract_features

            x = self.cache.array(spec, lambda: extract_features(model, inputs, batch_size=64))
            feats = dataclasses.replace(self.data, x=x, info={})
        return feats, model, identity

    def pretrained(self, backbone: str) -> Pretrained:
        """``backbone`` (frozen) with a head trained on the pre-training share's cached features."""
        from ...train import TrainConfig, seed_everything

        if backbone in self._models:
            return self._models[backbone]
        c = self.cfg
        spec = image_pretrain_spec(self.profile, task=self.info.key, backbone=backbone)
        feats, model, identity = self.features(backbone)
        config = TrainConfig(**spec.param("train"))
        width = model.head.in_features

        def build() -> nn.Linear:
            seed_everything(c.split_seed)
            return nn.Linear(width, 2)

        def train() -> tuple[dict, dict]:
            head = build()
            history = fit_on_features(head, feats.subset(self.pretrain_index), config=config, progress=False)
            return ({"epoch_losses": history.epoch_losses, "seconds": history.seconds,
                     "pretrain_data": _metrics_of(head, feats.subset(self.pretrain_index))}, head.state_dict())

        record, tensors = self.store.run(spec.to_dict(), train)
        head = build()
        head.load_state_dict(tensors)
        model.head = head.eval().requires_grad_(False)
        record = {**record, "backbone_parameters": sum(p.numel() for p in model.backbone.parameters()),
                  # the stand-in ViT's own pre-training record (held-out Fashion-MNIST accuracy), if any
                  "backbone_pretraining": getattr(model.backbone, "fairlib_pretraining", None)}
        pre = Pretrained(name=self.display_name(backbone), key=spec.key, model=model,
                         features=feats.subset(self.pool_index), info=record)
        self._models[backbone] = pre
        return pre


