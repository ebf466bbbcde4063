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
from dataclasses import dataclass, field

from .._validation import ConfigError, bounded, choice, validate_fields
from ..models import TinyViTSpec
from ._fisher import FisherSVDConfig, FISHER_PROFILES
from ._fairlora import FAIRLORA_HUB_BACKBONES, FAIRLORA_PROFILES, STAND_IN_VIT, FairLoRAConfig
from ._privacy import PRIVACY_PROFILES, PrivacyLoraConfig
from ._benchmark import BENCHMARK_PROFILES, BenchmarkConfig, ModalityBudget
from ._peft_family import PEFT_FAMILY_PROFILES, PeftFamilyConfig
from ._lora_fairness import (LORA_FAIRNESS_PROFILES, MINILM, STAND_IN_VIT_WEAK, TEXT_METHODS, VISION_METHODS,
                             LoRAFairnessConfig)

__all__ = ["Profile", "get_profile", "PROFILE_NAMES", "ConfigError", "FisherSVDConfig", "FairLoRAConfig",
           "PrivacyLoraConfig", "BenchmarkConfig", "ModalityBudget", "PeftFamilyConfig", "LoRAFairnessConfig", "STAND_IN_VIT",
           "STAND_IN_VIT_WEAK", "MINILM", "TEXT_METHODS", "VISION_METHODS", "FAIRLORA_HUB_BACKBONES"]

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


def get_profile(name: str = "smoke") -> Profile:
    """Return the frozen configuration of profile ``name``.

    Parameters
    ----------
    name : {"smoke", "full", "test"}

    Raises
    ------
    ConfigError
        If ``name`` is not a known profile (the message lists the valid ones).
    """
    if name not in _PROFILES:
        raise ConfigError(f"unknown profile {name!r}; valid profiles: {PROFILE_NAMES}")
    return Profile(name=name, fisher=FISHER_PROFILES[name], fairlora=FAIRLORA_PROFILES[name],
                   privacy=PRIVACY_PROFILES[name], benchmark=BENCHMARK_PROFILES[name],
                   lora_fairness=LORA_FAIRNESS_PROFILES[name], peft_family=PEFT_FAMILY_PROFILES[name],
                   **_PROFILES[name])
