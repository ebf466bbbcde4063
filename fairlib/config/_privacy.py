"""Configuration of notebook 03 (fairness-aware LoRA under demographic privacy constraints, Kamalaruban et al.)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

from .._validation import ConfigError, bounded, check_seed_list, validate_fields
from ._seeds import STANDIN_SEEDS
from ._tasks import check_task_key

__all__ = ["PrivacyLoraConfig", "PRIVACY_PROFILES", "STANDIN_PRIVACY_TASKS", "PAPER_PRIVACY_TASKS", "VIT_BASE_IN21K"]

VIT_BASE_IN21K = "google/vit-base-patch16-224-in21k"

#: Stand-in targets (named stand-ins everywhere): two CelebA-like tasks whose binary "sensitive" appearance is
#: correlated with the label (as Male is with Smiling / Attractive / Bald), and a UTK-like task with five
#: appearance groups independent of the label.
STANDIN_PRIVACY_TASKS = ("standin:celeba-like:upper-body:low-contrast", "standin:celeba-like:footwear:inverted",
                         "standin:utk-like:upper-body")
#: The paper's targets: CelebA attributes with sensitive Male, and UTK-Face (gender target, race groups).
PAPER_PRIVACY_TASKS = ("celeba:Smiling", "celeba:Attractive", "celeba:Bald", "utkface:gender")
_TASK_KINDS = ("standin", "celeba", "utkface")


@dataclass(frozen=True)
class PrivacyLoraConfig:
    """Tasks, LoRA and the four strategies' hyper-parameters.

    Parameters
    ----------
    backbone : str
        ``"stand-in"`` (the ViT fairlib pre-trains, ``profile.stand_in_vit``) or a hub id / local directory
        (the paper: ViT-Base, ImageNet-21k pre-trained, frozen).
    tasks : tuple of str
        ``standin:celeba-like:<garment task>:<appearance>``, ``standin:utk-like:<garment task>``,
        ``celeba:<target attribute>`` (sensitive Male) or ``utkface:<target>`` (sensitive race).
    n : int
        Stand-ins: examples drawn per task. Real data: cap on the training pool (0 = all of it).
    test_fraction : float
        Held-out share for evaluation (stand-ins and UTK-Face; CelebA uses its official test split).
    auditor_fraction : float
        Share of the training pool held by the auditor (with s, without y); the rest is the developer's.
    correlation : float
        CelebA-like stand-ins: ``P(s = 1 | y = 1)``.
    rank, alpha : int, float
        LoRA rank and alpha (both parties' adapters).
    epochs, lr, batch_size : int, float, int
        Developer training (Adam, constant rate); ``adv`` runs one round per epoch.
    auditor_epochs : int
        Epochs of the auditor's sensitive adapter (``unl``, ``orth``).
    unlearn_scale : float
        ``unl``: multiple of the sensitive adapter's update that is subtracted.
    orth_lambda, orth_components
        The Orth forms (``orth``, the paper's; ``orth_shift``; ``orth_olora``: see
        :mod:`fairlib.methods.privacy_strategies`): penalty weight; principal directions of the representation
        shift kept by ``orth_shift``. Notebook 03 runs all three forms as named strategies (no field chooses
        one); elsewhere (notebook 05, the command line) ``orth`` is the paper's form.
    adv_lambda, adv_lr, adv_refit_epochs
        ``adv``: gradient-reversal weight, learning rate of the auditor's adapter update (with Adam it, not
        ``adv_lambda``, sets the step: see :mod:`fairlib.methods.privacy_strategies`), adversary refit epochs.

    Notes
    -----
    The runs of a profile (and their GPU-hour estimates, for ``--dry-run``) are declared by
    :func:`fairlib.experiments.privacy.jobs`.
    image_size : int
        Input resolution of real images (224 for ViT-Base/16).
    cpu_threads : int
        Torch threads (1 on shared CPUs, where small models run faster single-threaded; 0 = torch's default).
    seeds : tuple of int, optional
        Seeds of this notebook's runs (one auditor adapter and four strategy runs per task and seed); None: the
        profile's ``seeds``. The smoke profile runs :data:`~fairlib.config.STANDIN_SEEDS` (5): its data stand in
        for the paper's, so no verdict rests on them (``fairlib.config._seeds``).
    variant_seeds : int, optional
        The Orth variants ``orth_shift`` and ``orth_olora`` run on the first ``variant_seeds`` seeds only (None:
        every seed); the paper's form ``orth`` and the other strategies run on every seed.
    """

    notebook: ClassVar[str] = "03"

    backbone: str = "stand-in"
    tasks: tuple[str, ...] = STANDIN_PRIVACY_TASKS
    n: int = bounded(1000, ge=0)
    test_fraction: float = bounded(0.3, gt=0, lt=1)
    auditor_fraction: float = bounded(0.5, gt=0, lt=1)
    correlation: float = bounded(0.8, ge=0, le=1)
    rank: int = bounded(4, ge=1)
    alpha: float = bounded(8.0, gt=0)
    epochs: int = bounded(3, ge=1)
    lr: float = bounded(3e-3, gt=0)
    batch_size: int = bounded(64, ge=1)
    auditor_epochs: int = bounded(2, ge=1)
    unlearn_scale: float = bounded(1.0, ge=0)
    orth_lambda: float = bounded(0.1, ge=0)
    orth_components: int = bounded(4, ge=1)
    adv_lambda: float = bounded(1.0, ge=0)
    adv_lr: float = bounded(3e-3, gt=0)
    adv_refit_epochs: int = bounded(10, ge=1)
    image_size: int = bounded(224, ge=8)
    cpu_threads: int = bounded(1, ge=0)
    seeds: Optional[tuple[int, ...]] = None
    variant_seeds: Optional[int] = None

    def __post_init__(self) -> None:
        validate_fields(self)
        check_seed_list(self)
        if self.variant_seeds is not None and (isinstance(self.variant_seeds, bool) or
                                               not isinstance(self.variant_seeds, int) or self.variant_seeds < 1):
            raise ConfigError(f"PrivacyLoraConfig.variant_seeds must be None or an int >= 1, got "
                              f"{self.variant_seeds!r}")
        if not self.tasks:
            raise ConfigError("PrivacyLoraConfig.tasks must not be empty")
        for task in self.tasks:
            check_task_key(task, where="PrivacyLoraConfig.tasks", kinds=_TASK_KINDS)

    def requirements(self, profile) -> list:
        from .._plan import Requirement
        from .. import paths

        needs = []
        if self.backbone != "stand-in":
            needs.append(Requirement("checkpoint", self.backbone, self.backbone,
                                     f"huggingface-cli download {self.backbone}"))
        kinds = {t.split(":")[0] for t in self.tasks}
        if "celeba" in kinds:
            needs.append(Requirement("dataset", "celeba", str(paths.DATA / "celeba"),
                                     "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (see data/README.md)"))
        if "utkface" in kinds:
            needs.append(Requirement("dataset", "utkface", str(paths.DATA / "utkface"),
                                     "https://susanqq.github.io/UTKFace/ (see data/README.md)"))
        return needs


PRIVACY_PROFILES = {
    # Stand-in evidence only (paper 3's claims are about CelebA and UTK-Face): STANDIN_SEEDS, the full profile's 5
    # (fairlib.config._seeds says why), for the auditor's adapter, the four strategies and both Orth variants
    # (105 short CPU runs = 3 tasks x 5 seeds x 7).
    "smoke": PrivacyLoraConfig(seeds=STANDIN_SEEDS),
    # Paper scale. The text available to us states a frozen ViT-Base with LoRA on CelebA (Smiling, Attractive,
    # Bald, ...; sensitive Male) and UTK-Face; rank, rates and epochs below are our choices, not the paper's.
    "full": PrivacyLoraConfig(backbone=VIT_BASE_IN21K, tasks=PAPER_PRIVACY_TASKS, n=0, rank=16, alpha=16.0,
                              epochs=5, lr=1e-4, batch_size=64, auditor_epochs=3, adv_lr=1e-4, adv_refit_epochs=5,
                              cpu_threads=0),
    "test": PrivacyLoraConfig(tasks=STANDIN_PRIVACY_TASKS[:2], n=400, epochs=2, auditor_epochs=1,
                              adv_refit_epochs=5),
}
