"""Configuration of notebook 04 (Fisher-neutralised weighted SVD, Zhang & Zhou, arXiv 2403.00625)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .._validation import ConfigError, bounded, choice, validate_fields
from ._fairlora import STAND_IN_VIT

__all__ = ["FisherSVDConfig", "FISHER_PROFILES", "ADULT_TABLE1_FRACTIONS", "ADULT_TABLE1_SIZES",
           "FISHER_IMAGE_TASKS", "FISHER_VARIANTS", "FAIR_PENALTY_FORMS"]

#: The paper's Table 1 sizes of Adult's train / validation / test sets (27,602 rows in all).
ADULT_TABLE1_SIZES = (12287, 5000, 10315)
#: Train / validation / test shares of Adult's new task: the proportions of the paper's Table 1 sizes.
ADULT_TABLE1_FRACTIONS = (12287 / 27602, 5000 / 27602, 10315 / 27602)
#: Forms of the fair pre-trained model's penalty (``fairlib.methods.fair_penalties.PENALTY_FORMS``): Zafar et al.'s
#: covariance constraint (the paper's citation for f_F) and the probability gap of the reported metric.
FAIR_PENALTY_FORMS = ("zafar_covariance", "probability_gap")
#: Image tasks the runner knows (see ``fairlib.experiments.fisher.IMAGE_TASKS``).
FISHER_IMAGE_TASKS = ("celeba_like", "celeba", "lfwa")
#: Table 4's image architectures: stand-in ViTs deeper / wider than the reference, or the paper's hub models.
FISHER_VARIANTS = ("stand-in-vit-reference", "stand-in-vit-deeper", "stand-in-vit-wider", "microsoft/resnet-50",
                   "timm/densenet121.tv_in1k")


@dataclass(frozen=True)
class FisherSVDConfig:
    """The paper's Adult protocol, its ablations, the reviewer's experiment and the image experiments.

    Parameters
    ----------
    pretrain_fraction : float
        Share of Adult that pre-trains the MLP (the paper: 60%); the rest is the new task's pool.
    new_task_fractions : tuple of three floats
        Train / validation / test shares of the new task's pool in every run (default: Table 1's proportions).
    split_seed : int
        Seed of the pre-training / new-task split (fixed: one pre-trained model per configuration, as in the
        paper's Tables 2-3, which give one pre-trained number each).
    n_runs : int
        Fine-tuning runs per configuration (the paper: 10); run ``r`` re-splits the new task with seed ``r``
        and trains with seed ``r``.
    hidden : int
        Hidden units per layer of the MLP (20 reproduces the paper's 742 / 46 parameter counts).
    rank : int
        Rank kept by the (weighted) SVD of the last layer (2 = full rank of a 20 x 2 layer, the paper's 46).
    pretrain_epochs, pretrain_lr, pretrain_batch_size
        Pre-training of the MLPs (AdamW, cosine schedule).
    finetune_epochs, finetune_lr, batch_size, optimizer
        Fine-tuning of every method on the new task (the paper gives no values; these are ours).
    intensities : tuple of float
        Fairness-penalty intensities of fair pre-training (Table 2) and Retrain+DP/EO (Table 3).
    fig1_intensity : float
        Demographic-parity intensity of the fair pre-trained model ``f_F`` of Fig. 1.
    fair_penalty : {"zafar_covariance", "probability_gap"}
        Penalty of the fair pre-trained models ``f_F``: the one Fig. 1 uses and Table 2's claims are decided on.
        Default ``"zafar_covariance"``, the paper's citation (Zafar et al., arXiv:1507.05259 for DP and
        arXiv:1610.08452 for EO; :class:`fairlib.methods.fair_penalties.CovariancePenalty`);
        ``"probability_gap"`` penalises the soft ``Delta_DP`` / ``Delta_EO`` instead (``FairnessPenalty``).
    table2_penalties : tuple of str
        Penalties whose fair pre-trained models Table 2 shows, one block of rows each; must contain
        ``fair_penalty``. Retrain+DP/EO (Table 3) keep the probability gap.
    depths : tuple of int
        Linear layers of the MLPs of Table 4 (MLP-3/4/5: 2, 3, 4 hidden layers of ``hidden`` units).
    alphas : tuple of float
        Neutralisation weights of Fig. 5 (``alpha I_1 + (1 - alpha) I_2``, the paper: [0.5, 1)); must hold 0.5.
    review_runs : int
        Runs per setting of the reviewer's optimiser / learning-rate sweep.
    review_adamw_lrs, review_sgd_lrs : tuple of float
        Learning rates of that sweep (SGD needs larger steps than AdamW for the same movement).
    review_ranks : tuple of int
        Ranks compared in the reviewer's rank experiment (below full rank the factorisation is lossy).
    image_tasks : tuple of str
        ``"celeba_like"`` (the Fashion-MNIST stand-in), ``"celeba"`` (WavyHair, sensitive Male),
        ``"lfwa"`` (gender, sensitive HeavyMakeup).
    image_backbone : str
        Frozen feature extractor of Fig. 4's image columns: ``"stand-in-vit"`` or a hub id
        (``"microsoft/resnet-18"``).
    image_variants : tuple of str
        Table 4's image architectures (see :data:`FISHER_VARIANTS`).
    image_n : int
        Stand-in: images drawn (pre-training of the head and the new task together).
    image_pretrain_fraction : float
        Share of an image task's examples that trains the pre-trained model's head (the rest is the new task).
    image_fractions : tuple of three floats
        Stand-in new task's train / validation / test shares (real sets use their Table 1 proportions).
    head_pretrain_epochs, head_pretrain_lr : int, float
        Training of the image head of the pre-trained model.
    variant_pretrain_images, variant_pretrain_epochs : int
        Pre-training budget of the stand-in ViTs of Table 4 (the reference, deeper and wider alike).
    image_size : int
        Input resolution of hub backbones.
    num_threads : int
        torch CPU threads (1: the tensors are tiny and the machine shared; 0 keeps torch's default).
    """

    notebook: ClassVar[str] = "04"

    pretrain_fraction: float = bounded(0.6, gt=0, lt=1)
    new_task_fractions: tuple[float, ...] = bounded(ADULT_TABLE1_FRACTIONS, gt=0, lt=1, unique=False)
    split_seed: int = bounded(0, ge=0)
    n_runs: int = bounded(10, ge=1)
    hidden: int = bounded(20, ge=1)
    rank: int = bounded(2, ge=1)
    pretrain_epochs: int = bounded(20, ge=1)
    pretrain_lr: float = bounded(3e-3, gt=0)
    pretrain_batch_size: int = bounded(512, ge=2)
    finetune_epochs: int = bounded(10, ge=1)
    finetune_lr: float = bounded(1e-2, gt=0)
    batch_size: int = bounded(512, ge=2)
    optimizer: str = choice("adamw", ("adamw", "sgd"))
    intensities: tuple[float, ...] = bounded((0.1, 0.5, 0.9), gt=0)
    fig1_intensity: float = bounded(0.9, gt=0)
    fair_penalty: str = choice("zafar_covariance", FAIR_PENALTY_FORMS)
    table2_penalties: tuple[str, ...] = FAIR_PENALTY_FORMS
    depths: tuple[int, ...] = bounded((3, 4, 5), ge=2)
    alphas: tuple[float, ...] = bounded((0.5, 0.6, 0.7, 0.8, 0.9, 0.95), ge=0.5, lt=1)
    review_runs: int = bounded(5, ge=2)
    review_adamw_lrs: tuple[float, ...] = bounded((1e-3, 1e-2, 1e-1), gt=0)
    review_sgd_lrs: tuple[float, ...] = bounded((1e-2, 1e-1, 1.0), gt=0)
    review_ranks: tuple[int, ...] = bounded((1, 2), ge=1)
    image_tasks: tuple[str, ...] = ("celeba_like",)
    image_backbone: str = STAND_IN_VIT
    image_variants: tuple[str, ...] = ("stand-in-vit-reference", "stand-in-vit-deeper", "stand-in-vit-wider")
    image_n: int = bounded(3000, ge=100)
    image_pretrain_fraction: float = bounded(0.3, gt=0, lt=1)
    image_fractions: tuple[float, ...] = bounded((0.5, 0.2, 0.3), gt=0, lt=1, unique=False)
    head_pretrain_epochs: int = bounded(20, ge=1)
    head_pretrain_lr: float = bounded(1e-2, gt=0)
    variant_pretrain_images: int = bounded(8000, ge=100, le=50_000)
    variant_pretrain_epochs: int = bounded(1, ge=1)
    image_size: int = bounded(224, ge=16)
    num_threads: int = bounded(1, ge=0)

    def __post_init__(self) -> None:
        validate_fields(self)
        for name in ("new_task_fractions", "image_fractions"):
            value = getattr(self, name)
            if len(value) != 3 or abs(sum(value) - 1) > 1e-9:
                raise ConfigError(f"FisherSVDConfig.{name} = {value!r} is invalid: three shares summing to 1")
        if 0.5 not in self.alphas:
            raise ConfigError(f"FisherSVDConfig.alphas = {self.alphas!r} is invalid: must contain 0.5 (the method)")
        if self.rank > self.hidden or max(self.review_ranks) > 2:
            raise ConfigError("FisherSVDConfig.rank and .review_ranks must not exceed the rank of the 2-class "
                              f"last layer (min(hidden, 2) = {min(self.hidden, 2)})")
        if self.rank not in self.review_ranks:
            raise ConfigError(f"FisherSVDConfig.review_ranks = {self.review_ranks!r} must contain rank = {self.rank}")
        unknown = [t for t in self.image_tasks if t not in FISHER_IMAGE_TASKS]
        if unknown:
            raise ConfigError(f"FisherSVDConfig.image_tasks: {unknown} unknown; valid: {FISHER_IMAGE_TASKS}")
        unknown = [v for v in self.image_variants if v not in FISHER_VARIANTS]
        if unknown:
            raise ConfigError(f"FisherSVDConfig.image_variants: {unknown} unknown; valid: {FISHER_VARIANTS}")
        unknown = [p for p in self.table2_penalties if p not in FAIR_PENALTY_FORMS]
        if unknown or not self.table2_penalties:
            raise ConfigError(f"FisherSVDConfig.table2_penalties = {self.table2_penalties!r} is invalid: one or more "
                              f"of {FAIR_PENALTY_FORMS}")
        if self.fair_penalty not in self.table2_penalties:
            raise ConfigError(f"FisherSVDConfig.table2_penalties = {self.table2_penalties!r} must contain "
                              f"fair_penalty = {self.fair_penalty!r} (Table 2's claims are decided on it)")
        for name in ("depths", "alphas", "intensities", "review_ranks", "image_tasks", "image_variants",
                     "table2_penalties"):
            value = getattr(self, name)
            if len(set(value)) != len(value):
                raise ConfigError(f"FisherSVDConfig.{name} = {value!r} must not repeat a value")

    @property
    def stand_in_images(self) -> bool:
        """True when the image experiments run on the stand-in (data and backbone)."""
        return self.image_backbone == STAND_IN_VIT

    def requirements(self, profile) -> list:
        """Datasets and checkpoints the image experiments need (Adult ships with the environment)."""
        from .. import paths
        from .._plan import Requirement

        needs = []
        if "celeba" in self.image_tasks:
            needs.append(Requirement("dataset", "celeba", str(paths.DATA / "celeba"),
                                     "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (Align&Cropped images, "
                                     "list_attr_celeba.txt, list_eval_partition.txt; see data/README.md)"))
        if "lfwa" in self.image_tasks:
            needs.append(Requirement("dataset", "lfwa", str(paths.DATA / "lfwa"),
                                     "https://vis-www.cs.umass.edu/lfw/ (lfw.tgz) and "
                                     "https://www.cs.columbia.edu/CAVE/databases/pubfig/download/lfw_attributes.txt"))
        hub = [b for b in (self.image_backbone, *self.image_variants) if "/" in b and not b.startswith("timm/")]
        for name in hub:
            needs.append(Requirement("checkpoint", name, name, f"huggingface-cli download {name}"))
        return needs


FISHER_PROFILES = {
    "smoke": FisherSVDConfig(),
    # Paper scale. Adult is the same as in the smoke profile (the paper's own data ships); the images are CelebA
    # and LFW+a through a frozen ResNet-18 (Table 4: ResNet-50 and DenseNet-121, the latter timm-only).
    "full": FisherSVDConfig(image_tasks=("celeba", "lfwa"), image_backbone="microsoft/resnet-18",
                            image_variants=("microsoft/resnet-50", "timm/densenet121.tv_in1k"),
                            image_pretrain_fraction=0.2, num_threads=0),
    "test": FisherSVDConfig(n_runs=2, pretrain_epochs=3, finetune_epochs=3, alphas=(0.5, 0.9), review_runs=2,
                            review_adamw_lrs=(1e-2, 1e-1), review_sgd_lrs=(1e-1,), image_n=600,
                            head_pretrain_epochs=5, image_variants=("stand-in-vit-reference",)),
}
