"""Notebook 04's grid as data (:func:`jobs`), one run of it (:func:`run_job`), and reading it back as records
(:class:`FisherExperiment`).

Every run of the notebook is a :class:`~fairlib.experiments.RunSpec`: the pre-trained models (``pretrain``: the
Adult MLPs, and each image task's frozen backbone with its head) first, then every fine-tuning run (head methods
and Retrain), each ``after`` the pre-trained model it starts from. A run stores its logits (and a head's weights);
:meth:`FisherExperiment.records` evaluates them with :func:`fairlib.metrics.evaluate` when read.
"""

from __future__ import annotations

import functools
from typing import Any, Iterator

import pandas as pd

from ...config import overrides_of
from .. import RunSpec
from ._constants import REVIEW_METHODS
from ._studies import AdultStudy, BackboneUnavailable, ImageStudy, adult_pretrain_spec, image_pretrain_spec
from ._summaries import dedupe, fisher_profile
from ._tasks import head_spec, retrain_spec

__all__ = ["jobs", "run_job", "FisherExperiment", "GPU_HOURS"]

#: Estimated GPU-hours per run (the heads train on cached features; only a hub backbone's one pass over every
#: image costs GPU time, charged to its pre-training run).
GPU_HOURS = {"hub_backbone": 0.2}


def _profile(profile: Any) -> Any:
    from ...config import get_profile

    return get_profile(profile) if isinstance(profile, str) else profile


def _entries(profile: Any) -> Iterator[tuple]:
    """Every record source of the notebook, in the notebook's order: ``("pre", source, run)`` (the pre-trained
    model evaluated as it is), ``("head" | "retrain", source, spec)``. ``source`` is ``("adult", depth, penalty,
    intensity, form)`` (``form`` the fair penalty's, "" without one) or ``("image", task, backbone)``."""
    c = profile.fisher
    name = profile  # the Profile: its specs carry its overrides
    runs = range(c.n_runs)
    f_b = ("adult", 2, "", 0.0, "")

    keys: dict[tuple, str] = {}

    def key(source: tuple) -> str:
        if source not in keys:
            keys[source] = _pretrain_spec(profile, source).key
        return keys[source]

    def head(source: tuple, task: str, method: str, run: int, **kw: Any) -> tuple:
        return ("head", source, head_spec(name, c, task=task, pretrained=key(source), method=method, run=run, **kw))

    for run in runs:  # Fig. 4, Adult
        yield ("pre", f_b, run)
        for method in ("TL", "f+SVD", "OURS"):
            yield head(f_b, "adult", method, run)
    for task in c.image_tasks:  # Fig. 4, images
        source = ("image", task, c.image_backbone)
        for run in runs:
            yield ("pre", source, run)
            for method in ("TL", "f+SVD", "OURS"):
                yield head(source, task, method, run)
    for source in _fair_sources(c):  # Table 2: fair pre-trained models, each penalty form
        for run in runs:
            yield ("pre", source, run)
            yield head(source, "adult", "OURS", run)
    f_f = _fig1_source(c)
    for run in runs:  # Fig. 1: TL on f_F
        yield head(f_f, "adult", "TL", run)
    for run in runs:  # Table 3
        yield ("retrain", f_b, retrain_spec(name, c, task="adult", pretrained=key(f_b), run=run))
        for kind in ("eo", "dp"):
            for intensity in c.intensities:
                yield ("retrain", f_b, retrain_spec(name, c, task="adult", pretrained=key(f_b), run=run,
                                                    penalty=kind, intensity=intensity))
    for depth in c.depths:  # Table 4, Adult
        for run in runs:
            yield head(("adult", depth, "", 0.0, ""), "adult", "OURS", run)
    for task in c.image_tasks:  # Table 4, images
        for variant in c.image_variants:
            for run in runs:
                yield head(("image", task, variant), task, "OURS", run)
    for alpha in c.alphas:  # Fig. 5
        for run in runs:
            yield head(f_b, "adult", "OURS", run, alpha=float(alpha))
    grid = [("adamw", lr) for lr in c.review_adamw_lrs] + [("sgd", lr) for lr in c.review_sgd_lrs]
    for optimizer, lr in grid:  # the reviewer: optimiser x learning rate
        for run in range(c.review_runs):
            for method in REVIEW_METHODS:
                yield head(f_b, "adult", method, run, lr=lr, optimizer=optimizer)
    for rank in c.review_ranks:  # the reviewer: rank
        for run in runs:
            for method in ("f+SVD", "OURS", "OURS (shuffled I_N)"):
                yield head(f_b, "adult", method, run, rank=rank)


def _fair_sources(c: Any) -> list[tuple]:
    """Table 2's fair pre-trained models: each penalty form of ``table2_penalties`` x constraint x intensity."""
    return [("adult", 2, kind, float(i), form) for form in c.table2_penalties for kind in ("eo", "dp")
            for i in c.intensities]


def _fig1_source(c: Any) -> tuple:
    """Fig. 1's ``f_F``: demographic parity at ``fig1_intensity``, in the profile's ``fair_penalty`` form."""
    return ("adult", 2, "dp", float(c.fig1_intensity), c.fair_penalty)


def _pretrain_spec(profile: Any, source: tuple) -> RunSpec:
    if source[0] == "adult":
        _, depth, penalty, intensity, form = source
        return adult_pretrain_spec(profile, depth=depth, penalty=penalty, intensity=intensity, form=form or None)
    _, task, backbone = source
    spec = image_pretrain_spec(profile, task=task, backbone=backbone)
    hub = "/" in backbone
    return RunSpec.make(spec.notebook, profile, spec.method, spec.seed,
                        gpu_hours=GPU_HOURS["hub_backbone"] if hub else 0.0, **dict(spec.params))


def _sources(profile: Any) -> list[tuple]:
    c = profile.fisher
    adult = [("adult", 2, "", 0.0, ""), *_fair_sources(c), *(("adult", d, "", 0.0, "") for d in c.depths)]
    if _fig1_source(c) not in adult:  # fig1_intensity outside the intensities: its f_F is pre-trained too
        adult.append(_fig1_source(c))
    images = [("image", t, b) for t in c.image_tasks for b in dict.fromkeys((c.image_backbone, *c.image_variants))]
    return adult + images


def jobs(profile: Any) -> list[RunSpec]:
    """Every run of notebook 04 at ``profile`` (a name or a :class:`~fairlib.config.Profile`), each once: the
    pre-trained models first, then the fine-tuning runs in the notebook's order."""
    profile = _profile(profile)
    out = {(_pretrain_spec(profile, s)).key: _pretrain_spec(profile, s) for s in _sources(profile)}
    for entry in _entries(profile):
        if entry[0] != "pre":
            out.setdefault(entry[2].key, entry[2])
    return list(out.values())


@functools.lru_cache(maxsize=8)
def _study(profile_name: str, overrides: Any, source_kind: str, task: str) -> Any:
    """One study per worker process, profile (with the grid's overrides) and task (data and features loaded once)."""
    from ...config import get_profile

    profile = get_profile(profile_name, **overrides)
    return AdultStudy(profile) if source_kind == "adult" else ImageStudy(profile, task=task)


def _source_of(profile: Any, spec: RunSpec) -> tuple:
    wanted = spec.key if spec.method == "pretrain" else spec.param("pretrained")
    for source in _sources(profile):
        if _pretrain_spec(profile, source).key == wanted:
            return source
    raise ValueError(f"run {spec.describe()}: no pre-trained model of notebook 04 at profile {profile.name!r} has "
                     f"key {wanted}")


def _pretrained(profile: Any, source: tuple) -> Any:
    if source[0] == "adult":
        _, depth, penalty, intensity, form = source
        return _study(profile.name, overrides_of(profile), "adult", "adult").pretrained(
            depth=depth, penalty=penalty, intensity=intensity, form=form or None)
    _, task, backbone = source
    return _study(profile.name, overrides_of(profile), "image", task).pretrained(backbone)


def run_job(spec: RunSpec) -> None:
    """Train run ``spec`` of notebook 04 unless it is stored, and store it (logits, and a head's weights)."""
    if spec.notebook != "04":
        raise ValueError(f"run {spec.describe()} is not a run of notebook 04")
    profile = spec.config()  # the grid's profile, overrides included
    source = _source_of(profile, spec)
    try:
        pre = _pretrained(profile, source)
    except BackboneUnavailable:
        return  # recorded as skipped, with the reason, when the notebook reads the grid
    if spec.method == "pretrain":
        return
    study = _study(profile.name, overrides_of(profile), source[0], "adult" if source[0] == "adult" else source[1])
    if spec.method.startswith("Retrain"):
        study.task.retrain_records(pre, spec)
    else:
        study.task.head_records(pre, spec)


class FisherExperiment:
    """Notebook 04's experiment at one profile: its studies, pre-trained models and records, read from the run
    store (a missing run is trained on the spot; run :func:`fairlib.experiments.run_jobs` first to train the
    grid in parallel).

    Parameters
    ----------
    profile : fairlib.config.Profile
    """

    def __init__(self, profile: Any):
        self.profile, self.cfg = profile, profile.fisher
        self.adult = AdultStudy(profile)
        self.images = {}
        for task in self.cfg.image_tasks:
            study = ImageStudy(profile, task=task)
            self.images[study.task.name] = study
        self.skipped: dict[str, str] = {}

    def study(self, source: tuple) -> Any:
        if source[0] == "adult":
            return self.adult
        return next(s for s in self.images.values() if s.info.key == source[1])

    def pretrained(self, source: tuple) -> Any:
        """The pre-trained model of ``source`` (``("adult", depth, penalty, intensity, form)`` or ``("image", task,
        backbone)``); ``None`` (and an entry in :attr:`skipped`) when its backbone cannot be built here."""
        if source[0] == "adult":
            _, depth, penalty, intensity, form = source
            return self.adult.pretrained(depth=depth, penalty=penalty, intensity=intensity, form=form or None)
        study = self.study(source)
        try:
            return study.pretrained(source[2])
        except BackboneUnavailable as error:
            self.skipped[f"{study.task.name} / {source[2]}"] = str(error)
            return None

    def records(self) -> pd.DataFrame:
        """One row per run (of :func:`jobs`, and the pre-trained models as they are) and split, in the
        notebook's order, evaluated from the stored logits (each record once, :func:`dedupe`)."""
        rows: list[dict] = []
        seen: set = set()
        for kind, source, item in _entries(self.profile):
            # A run that several experiments share (f_B's OURS run is in Fig. 4, Fig. 5 and the reviews) gives
            # the same rows each time, which dedupe would drop: it is evaluated once, where it first appears.
            identity = (kind, source, item) if kind == "pre" else (kind, item.key)
            if identity in seen:
                continue
            seen.add(identity)
            pre = self.pretrained(source)
            if pre is None:
                continue
            task = self.study(source).task
            if kind == "pre":
                rows += task.pretrained_records(pre, run=item)
            elif kind == "head":
                rows += task.head_records(pre, item)
            else:
                rows += task.retrain_records(pre, item)
        return dedupe(rows)

    @property
    def image_pretrained(self) -> dict:
        """Fig. 4's pre-trained model of each image task, by task name."""
        return {name: self.pretrained(("image", s.info.key, self.cfg.image_backbone))
                for name, s in self.images.items()}

    def variant_names(self) -> dict[str, list[str]]:
        """Table 4's pre-trained model names per image task (Fig. 4's first; skipped backbones left out)."""
        out = {}
        for name, study in self.images.items():
            names = [self.image_pretrained[name].name]
            for variant in self.cfg.image_variants:
                pre = self.pretrained(("image", study.info.key, variant))
                if pre is not None and pre.name not in names:
                    names.append(pre.name)
            out[name] = names
        return out

    def fair_models(self) -> dict:
        """The fair pre-trained models of Table 2 (every form of ``table2_penalties``), by name."""
        return {m.name: m for m in (self.pretrained(source) for source in _fair_sources(self.cfg))}

    def deep_models(self) -> dict:
        """The MLP-k of Table 4, by name."""
        return {m.name: m for m in (self.pretrained(("adult", d, "", 0.0, "")) for d in self.cfg.depths)}

    def image_models(self) -> list:
        """Every image pre-trained model built (Fig. 4's and Table 4's)."""
        self.variant_names()
        return [pre for study in self.images.values() for pre in study.models.values()]

    def paper_names(self) -> dict:
        """``(task name, backbone display name) -> (paper dataset, paper model)`` for Table 4's image rows that
        have a paper counterpart (none on stand-ins)."""
        out = {}
        for name, study in self.images.items():
            for variant in self.cfg.image_variants:
                model = study.paper_model(variant)
                if study.info.paper_name and model:
                    out[(name, study.display_name(variant))] = (study.info.paper_name, model)
        return out

    def fisher_profile(self) -> dict:
        """Fig. 3: :func:`fisher_profile` of ``f_B``'s OURS runs (the per-group Fisher rows they stored)."""
        f_b = self.adult.pretrained()
        return fisher_profile([self.adult.task.run_details(f_b, method="OURS", run=run)
                               for run in range(self.cfg.n_runs)])

    def backbone_pretraining(self) -> dict:
        """Held-out Fashion-MNIST accuracy of each stand-in ViT's own pre-training (image models built)."""
        return {pre.name: (pre.info.get("backbone_pretraining") or {})["held_out_accuracy"]
                for pre in self.image_models() if "held_out_accuracy" in (pre.info.get("backbone_pretraining") or {})}

    def cache_counts(self) -> dict:
        return {name: {"computed": s.cache.computed, "loaded": s.cache.loaded, "reused": s.cache.reused}
                for name, s in self.images.items()}
