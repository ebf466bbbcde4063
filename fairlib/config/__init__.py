"""Run profiles: one frozen, validated configuration per scale.

``smoke``
    CPU, minutes: real data and real weights that ship in packages, or backbones fairlib pre-trains itself
    on shipped data. Stand-ins are named as such in every title.
``full``
    The papers' datasets (from the user's data directory) and hub checkpoints, on GPUs.
``test``
    The smoke profile shrunk for the test suite: the same data and code paths with fewer seeds, epochs
    and runs. Its numbers check the code, not the papers.

Notebooks read fields (``cfg.fisher.n_runs``); they never branch on the profile's name.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._validation import ConfigError, bounded, choice, validate_fields
from ..models import TinyViTSpec
from ._overrides import FrozenDict, apply_overrides, diff_overrides, freeze, thaw
from ._seeds import STANDIN_SEEDS, VERDICT_SEEDS
from ._fisher import (ADULT_TABLE1_FRACTIONS, ADULT_TABLE1_SIZES, FAIR_PENALTY_FORMS, FISHER_VARIANTS, FisherSVDConfig,
                      FISHER_PROFILES)
from ._fairlora import (FAIRLORA_DATASETS, FAIRLORA_HUB_BACKBONES, FAIRLORA_PROFILES, FAIRLORA_READINGS, STAND_IN_VIT,
                        FairLoRAConfig)
from ._privacy import PAPER_PRIVACY_TASKS, PRIVACY_PROFILES, VIT_BASE_IN21K, PrivacyLoraConfig
from ._benchmark import BENCHMARK_PROFILES, BenchmarkConfig, ModalityBudget
from ._peft_family import OWN_SIZE, PEFT_FAMILY_PROFILES, PeftFamilyConfig, budget_name
from ._lora_fairness import (AUTHORS_RECIPES, AUTHORS_SHADOW_RECIPES, DECODER_BACKBONES, GEMMA3_270M, GEMMA3_TINY,
                             LORA_FAIRNESS_PROFILES, MINILM, PAPER_TEXT_BACKBONES, PAPER_VISION_BACKBONES, STAND_IN_VIT_WEAK, TEXT_METHODS,
                             VISION_METHODS, LoRAFairnessConfig)

__all__ = ["Profile", "get_profile", "overrides_of", "FrozenDict", "freeze", "thaw", "PROFILE_NAMES", "ConfigError",
           "FisherSVDConfig", "FAIR_PENALTY_FORMS", "ADULT_TABLE1_SIZES", "FairLoRAConfig", "FAIRLORA_READINGS",
           "FAIRLORA_DATASETS", "PrivacyLoraConfig",
           "BenchmarkConfig", "ModalityBudget", "PeftFamilyConfig", "OWN_SIZE", "budget_name",
           "LoRAFairnessConfig", "STAND_IN_VIT",
           "STAND_IN_VIT_WEAK", "MINILM", "TEXT_METHODS", "VISION_METHODS", "FAIRLORA_HUB_BACKBONES",
           "GEMMA3_270M", "GEMMA3_TINY", "DECODER_BACKBONES", "VERDICT_SEEDS", "STANDIN_SEEDS",
           # the papers' and the authors' own values (the paper side of fairlib.fidelity)
           "PAPER_VISION_BACKBONES", "PAPER_TEXT_BACKBONES", "AUTHORS_RECIPES", "AUTHORS_SHADOW_RECIPES",
           "PAPER_PRIVACY_TASKS", "VIT_BASE_IN21K", "ADULT_TABLE1_FRACTIONS", "FISHER_VARIANTS"]

PROFILE_NAMES = ("smoke", "full", "test")


@dataclass(frozen=True)
class Profile:
    """Everything a notebook needs to know about the scale it runs at.

    Parameters
    ----------
    name : {"smoke", "full", "test"}
    description : str
        One sentence printed at the top of every notebook and stored in the results JSON.
    stand_in : bool
        True where data or backbones stand in for the papers' (smoke, test): titles then say "stand-in".
    device : {"cpu", "auto"}
        "auto" lets Accelerate pick the GPU(s) it was launched on.
    mixed_precision : {"no", "bf16", "fp16"}
    num_workers : int
        Data-loading worker processes (0 = load in the training process).
    seeds : tuple of int
        Seeds over which every experiment is repeated (confidence intervals are over these).
    stand_in_vit : TinyViTSpec
        Architecture and pre-training budget of the ViT fairlib pre-trains on Fashion-MNIST (stand-in
        backbone of the smoke and test profiles).
    fisher : FisherSVDConfig
        Notebook 04.
    fairlora : FairLoRAConfig
        Notebook 02 (data, backbones, lambda and rank sweeps, training budget of the FairLoRA comparisons).
    privacy : PrivacyLoraConfig
        Notebook 03 (tasks, LoRA and the Erm/Unl/Adv/Orth hyper-parameters).
    benchmark : BenchmarkConfig
        Notebook 05 (tasks, methods, budgets and validation grids of the benchmark of every method).
    lora_fairness : LoRAFairnessConfig
        Notebook 01 (LoRA vs full fine-tuning: data, models, the authors' recipes, LiRA, rank ablation).
    peft_family : PeftFamilyConfig
        Notebook 06 (the PEFT family at a matched parameter budget, on notebook 05's tasks).
    """

    name: str = choice("smoke", PROFILE_NAMES)
    description: str = ""
    stand_in: bool = True
    device: str = choice("cpu", ("cpu", "auto"))
    mixed_precision: str = choice("no", ("no", "bf16", "fp16"))
    num_workers: int = bounded(0, ge=0)
    seeds: tuple[int, ...] = bounded((0, 1, 2), ge=0)
    stand_in_vit: TinyViTSpec = field(default_factory=TinyViTSpec)
    fisher: FisherSVDConfig = field(default_factory=FisherSVDConfig)
    fairlora: FairLoRAConfig = field(default_factory=FairLoRAConfig)
    privacy: PrivacyLoraConfig = field(default_factory=PrivacyLoraConfig)
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)
    lora_fairness: LoRAFairnessConfig = field(default_factory=LoRAFairnessConfig)
    peft_family: PeftFamilyConfig = field(default_factory=PeftFamilyConfig)

    def __post_init__(self) -> None:
        validate_fields(self)

    def requirements_and_plans(self, only: list[str] | None = None) -> tuple[dict, dict]:
        """Datasets/checkpoints needed and runs planned, per notebook, from each section of this profile.

        A section takes part by defining ``notebook`` (its two-digit number), ``requirements(profile)`` and
        ``plan(profile)`` (omitted when the notebook's grid is declared in :mod:`fairlib.experiments`, whose
        ``jobs`` give the plan); see :mod:`fairlib._plan`.
        """
        needs: dict[str, list] = {}
        plans: dict[str, list] = {}
        for f in dataclasses.fields(self):
            section = getattr(self, f.name)
            number = getattr(section, "notebook", None)
            if number is None or (only and number not in {n.zfill(2) for n in only}):
                continue
            needs[number] = list(section.requirements(self))
            if hasattr(section, "plan"):  # a section whose grid is declared (fairlib.experiments) has no estimate
                plans[number] = list(section.plan(self))
        return needs, plans

    def to_dict(self) -> dict:
        """The profile as plain JSON-ready values (stored in every results JSON)."""
        return dataclasses.asdict(self)

    def label(self, what: str, *, stand_in: bool | None = None) -> str:
        """Title text naming the profile and, where it applies, the stand-in.

        ``label("Fashion-MNIST groups")`` gives ``"Fashion-MNIST groups [smoke profile, stand-in]"``; pass
        ``stand_in=False`` for data that is the paper's own at every profile (Adult).
        """
        is_stand_in = self.stand_in if stand_in is None else stand_in
        return f"{what} [{self.name} profile{', stand-in' if is_stand_in else ''}]"


_PROFILES = {
    "smoke": dict(description="CPU, minutes: shipped data and weights, fairlib-pretrained stand-in backbones",
                  stand_in=True, device="cpu", mixed_precision="no", num_workers=0, seeds=(0, 1, 2)),
    "full": dict(description="Paper scale: the papers' datasets and hub checkpoints, on GPUs via Accelerate",
                 stand_in=False, device="auto", mixed_precision="bf16", num_workers=4,
                 seeds=(13, 1337, 42, 666, 888)),
    "test": dict(description="Test-suite size: smoke data and code paths, fewer seeds/epochs/runs",
                 stand_in=True, device="cpu", mixed_precision="no", num_workers=0, seeds=(0, 1),
                 stand_in_vit=TinyViTSpec(pretrain_images=8_000, pretrain_epochs=1)),
}


#: Profile fields that are not overrides: the profile's identity.
_NOT_OVERRIDABLE = ("name",)


def _registered(name: str) -> Profile:
    if name not in _PROFILES:
        raise ConfigError(f"unknown profile {name!r}; valid profiles: {PROFILE_NAMES}")
    return Profile(name=name, fisher=FISHER_PROFILES[name], fairlora=FAIRLORA_PROFILES[name],
                   privacy=PRIVACY_PROFILES[name], benchmark=BENCHMARK_PROFILES[name],
                   lora_fairness=LORA_FAIRNESS_PROFILES[name], peft_family=PEFT_FAMILY_PROFILES[name],
                   **_PROFILES[name])


@functools.lru_cache(maxsize=None)
def _registered_cached(name: str) -> Profile:
    # Read-only use (diffs): callers of get_profile get a fresh object.
    return _registered(name)


def get_profile(name: str = "smoke", /, **overrides: Any) -> Profile:
    """Return the frozen configuration of profile ``name``, with ``overrides`` applied.

    Parameters
    ----------
    name : {"smoke", "full", "test"}
    **overrides
        Top-level :class:`Profile` fields (``seeds=[0, 1]``), or a dict of fields per section
        (``fairlora=dict(epochs=1, lambdas=[1.0])``, ``stand_in_vit=dict(pretrain_epochs=1)``). ``None`` (also
        inside a section's dict) keeps the profile's value; lists are taken as tuples; every value is validated
        by its dataclass. A top-level ``seeds`` also sets the ``seeds`` of every section that has its own
        (``fairlora.seeds``), unless that section's dict names ``seeds`` itself: "run with these seeds".

    Returns
    -------
    Profile
        ``overrides_of(get_profile(name, **o))`` gives back the overrides that changed something, and
        ``get_profile(name, **overrides_of(p)) == p``.

    Raises
    ------
    ConfigError
        If ``name`` is not a known profile, an override names no field (the message lists the valid fields),
        or a value is invalid (the dataclass's message, naming field and value).

    Examples
    --------
    >>> get_profile("test", seeds=[3], fairlora=dict(lambdas=[1.0], epochs=None)).fairlora.seeds
    (3,)
    """
    profile = _registered(name)
    given = {k: v for k, v in overrides.items() if v is not None}
    seeds = given.get("seeds")
    if seeds is not None:  # propagate to the sections that have seeds of their own
        for f in dataclasses.fields(profile):
            section = getattr(profile, f.name)
            if dataclasses.is_dataclass(section) and "seeds" in {g.name for g in dataclasses.fields(section)}:
                mine = given.get(f.name)
                if mine is None:
                    given[f.name] = {"seeds": seeds}
                elif isinstance(mine, Mapping) and mine.get("seeds") is None:
                    given[f.name] = {**mine, "seeds": seeds}
    return apply_overrides(profile, given, where=f"get_profile({name!r})", reserved=_NOT_OVERRIDABLE)


def overrides_of(profile: Profile) -> FrozenDict:
    """The overrides that rebuild ``profile`` from the registered profile of its name.

    Returns
    -------
    FrozenDict
        Nested, hashable, JSON-able; empty for a registered profile. ``get_profile(profile.name,
        **overrides_of(profile)) == profile``.

    Raises
    ------
    ConfigError
        If ``profile`` is not a :class:`Profile`, or cannot be rebuilt from its overrides (a Profile changed with
        ``dataclasses.replace`` whose top-level ``seeds`` differ while a section keeps seeds of its own unset).
    """
    if not isinstance(profile, Profile):
        raise ConfigError(f"expected a fairlib.config.Profile, got {type(profile).__name__} {profile!r}")
    cached = _OVERRIDES_SEEN.get(id(profile))
    if cached is not None and cached[0] is profile:  # a grid asks once per run: the diff is computed once
        return cached[1]
    frozen = freeze(diff_overrides(profile, _registered_cached(profile.name), reserved=_NOT_OVERRIDABLE),
                    f"overrides of profile {profile.name!r}")
    if frozen and get_profile(profile.name, **frozen) != profile:
        raise ConfigError(f"profile {profile.name!r} cannot be rebuilt from its overrides {thaw(frozen)}; build it "
                          f"with get_profile({profile.name!r}, **overrides)")
    if len(_OVERRIDES_SEEN) >= 16:
        _OVERRIDES_SEEN.clear()
    _OVERRIDES_SEEN[id(profile)] = (profile, frozen)  # holds the profile, so its id is not reused meanwhile
    return frozen


_OVERRIDES_SEEN: dict[int, tuple] = {}
