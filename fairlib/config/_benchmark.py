"""Configuration of notebook 05 (one benchmark of every method of the four papers, on the same tasks)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import ClassVar, Optional

from .._validation import ConfigError, bounded, check_seed_limits, check_seed_list, choice, validate_fields
from ._seeds import STANDIN_SEEDS, VERDICT_SEEDS
from ._tasks import check_task_key

__all__ = ["BenchmarkConfig", "ModalityBudget", "BENCHMARK_PROFILES", "BENCHMARK_METHODS", "PAPER_BENCHMARK_METHODS",
           "PEFT_BENCHMARK_METHODS", "STANDIN_BENCHMARK_TASKS",
           "PAPER_BENCHMARK_TASKS", "BENCHMARK_TASK_KINDS", "BENCHMARK_SELECTION_METRICS"]

#: Every method of the benchmark, in display order (keys of :data:`fairlib.experiments.benchmark.METHODS`);
#: ``"pretrained"`` is the reference: the pre-trained model every method starts from, not adapted.
PAPER_BENCHMARK_METHODS = ("pretrained", "probe", "full", "lora", "fairlora", "fairlora_cxa", "fair_full", "erm", "unl",
                           "adv", "orth", "tl", "fsvd", "fisher_svd", "threshold")
#: Notebook 06's PEFT family in this registry (issue 15): each adapter at its recipe (peft's default width on peft's
#: default modules) and BitFit, one run per task and seed; LoRA, the probe and full fine-tuning are already here.
#: The full profile runs them; the stand-in profiles leave them to notebook 06 (they would add ~230 runs at smoke).
PEFT_BENCHMARK_METHODS = ("peft_dora", "peft_rslora", "peft_vera", "peft_ia3", "peft_loha", "peft_lokr", "peft_adalora",
                          "peft_oft", "peft_boft", "peft_prompt_tuning", "peft_bitfit")
BENCHMARK_METHODS = PAPER_BENCHMARK_METHODS + PEFT_BENCHMARK_METHODS
#: The stand-in profiles' tasks: Adult (real at every profile), the CelebA-like image stand-in of notebook 03 and
#: notebook 01's religion hate-speech text stand-in (templated comments, frozen MiniLM; smoke and test leave it out,
#: a user adds it with `tasks`).
STANDIN_BENCHMARK_TASKS = ("adult", "standin:celeba-like:upper-body:low-contrast", "text:religion-standin")
#: Full profile: Adult, the papers' image sets (CelebA Smiling / sensitive Male, papers 3-4; UTK-Face gender /
#: race, papers 1 and 3; Waterbirds, paper 2) and the measuring-hate-speech corpus (paper 1; text, religion groups).
PAPER_BENCHMARK_TASKS = ("adult", "celeba:Smiling", "utkface:gender", "waterbirds", "text:measuring-hate-speech")
#: First part of a task key (see :func:`fairlib.experiments.benchmark.build_task`).
BENCHMARK_TASK_KINDS = ("adult", "standin", "celeba", "utkface", "waterbirds", "text")
#: Validation metrics a method's hyper-parameter can be chosen by (higher is better for all of them).
BENCHMARK_SELECTION_METRICS = ("min_group_f1", "accuracy", "worst_cell_accuracy")
_HUB_VIT = "google/vit-base-patch16-224-in21k"


@dataclass(frozen=True)
class ModalityBudget:
    """Training budget shared by every method on the tasks of one modality (tabular, image, text).

    Parameters
    ----------
    epochs, batch_size : int
        Fine-tuning of the whole model (full FT, LoRA, FairLoRA, fair full FT, the two-party strategies).
    lr_full, lr_lora : float
        AdamW learning rates of full fine-tuning and of LoRA (the two-party developer uses ``lr_lora``).
    lora_rank : int
    lora_alpha : float
    head_epochs, lr_head : int, float
        Head-only methods (probe, TL, f+SVD, Fisher-neutralised SVD), trained on cached backbone features.
    pretrain_fraction : float
        Share of the task's data held out to build the *pre-trained model* every method starts from
        (tabular: the whole MLP, paper 4's 60%; image/text: the head on the frozen backbone's features).
    pretrain_epochs, pretrain_lr : int, float
        Training of that pre-trained model.
    """

    epochs: int = bounded(3, ge=1)
    batch_size: int = bounded(64, ge=2)
    lr_full: float = bounded(1e-3, gt=0)
    lr_lora: float = bounded(3e-3, gt=0)
    lora_rank: int = bounded(4, ge=1)
    lora_alpha: float = bounded(8.0, gt=0)
    head_epochs: int = bounded(20, ge=1)
    lr_head: float = bounded(1e-2, gt=0)
    pretrain_fraction: float = bounded(0.3, gt=0, lt=1)
    pretrain_epochs: int = bounded(20, ge=1)
    pretrain_lr: float = bounded(1e-2, gt=0)

    def __post_init__(self) -> None:
        validate_fields(self)

    def to_dict(self) -> dict:
        return asdict(self)


_TABULAR = ModalityBudget(epochs=5, batch_size=512, lr_full=3e-3, lr_lora=1e-2, lora_rank=2, lora_alpha=2.0,
                          head_epochs=10, lr_head=1e-2, pretrain_fraction=0.6, pretrain_epochs=20, pretrain_lr=1e-2)
_IMAGE = ModalityBudget()
_TEXT = ModalityBudget(epochs=2, batch_size=32, lr_full=5e-5, lr_lora=5e-4, lora_rank=8, lora_alpha=16.0,
                       head_epochs=20, lr_head=1e-2, pretrain_fraction=0.3, pretrain_epochs=20, pretrain_lr=1e-2)


@dataclass(frozen=True)
class BenchmarkConfig:
    """Tasks, methods, budgets and the small validation grids of the benchmark.

    Parameters
    ----------
    tasks : tuple of str
        Task keys: ``"adult"``; ``"standin:celeba-like:<garment>:<appearance>"`` or
        ``"standin:utk-like:<garment>"`` (notebook 03's stand-ins); ``"celeba:<target>"`` (sensitive Male),
        ``"utkface:<target>"`` (sensitive race), ``"waterbirds"``; ``"text:religion-standin"`` (notebook 01's
        template stand-in) or ``"text:measuring-hate-speech"`` (the corpus, religion groups), both on the
        frozen MiniLM encoder.
    methods : tuple of str
        Keys of :data:`fairlib.experiments.benchmark.METHODS`; a method that does not apply to a task (the
        two-party strategies need a ViT) is recorded as not applicable there. Default: the papers' methods
        (:data:`PAPER_BENCHMARK_METHODS`); the full profile adds notebook 06's PEFT family
        (:data:`PEFT_BENCHMARK_METHODS`).
    image_backbone : str
        ``"stand-in"`` (the ViT fairlib pre-trains on Fashion-MNIST, ``profile.stand_in_vit``) or a hub id /
        local directory of a transformers ViT.
    n_standin : int
        Examples drawn for an image stand-in task (before the pre-training share is held out).
    standin_correlation : float
        CelebA-like stand-ins: ``P(s = 1 | y = 1)``.
    image_size : int
        Input resolution of real images (hub backbones).
    n_text_standin : int
        Examples drawn for the text stand-in task (before the pre-training share is held out).
    text_max_length : int
        Tokens per text (longer texts are truncated; notebook 01 uses the same lengths).
    data_seed : int
        Draw of the stand-ins and the pre-training / new-task partition (one pre-trained model per task). The
        seeds of the profile then re-split the new task into train / validation / test and seed training.
    split_fractions : tuple of three floats
        Train / validation / test shares of the new task (default: the ratios of paper 4's Table 1 for Adult,
        12,287 / 5,000 / 10,315).
    tabular, image, text : ModalityBudget
    fair_lambdas : tuple of float
        Grid of the FairLoRA / fair full FT strength (chosen on validation).
    fair_groups : {"class", "attribute", "class_attribute"}
        Groups of fair full FT's loss variance (default per-class, the reading of paper 2's headline). FairLoRA
        runs both of paper 2's readings as two named methods, whatever this value: ``"fairlora"``
        ("FairLoRA (per-class)", the paper's) and ``"fairlora_cxa"`` ("FairLoRA (class x attribute)", the
        label x sensitive-attribute cells).
    svd_rank : int
        Rank of f+SVD and Fisher-neutralised SVD (paper 4: 2).
    fisher_alphas : tuple of float
        Grid of the neutralisation weight alpha (paper 4: 0.5; its ablation: [0.5, 1)).
    orth_lambdas : tuple of float
        Grid of Orth's penalty weight (the other two-party hyper-parameters are notebook 03's,
        ``profile.privacy``).
    threshold_constraints : tuple of str
        fairlearn ``ThresholdOptimizer`` constraints tried (chosen on validation).
    threshold_objective : str
        Its objective (``"accuracy_score"`` or ``"balanced_accuracy_score"``, the two that every constraint accepts).
    threshold_grid_size : int
    selection_metric : str
        Validation metric that chooses each method's hyper-parameter (mean over seeds; higher is better).
    rank_metrics : tuple of str
        Metrics whose ranks are averaged in the ranking table.
    seeds : tuple of int, optional
        Training seeds of this notebook's runs (each re-splits the new task and seeds training); None: the
        profile's ``seeds``. The smoke profile runs 10 (:data:`~fairlib.config.VERDICT_SEEDS`), so that every paired
        comparison a claim of notebook 05 decides on has 10 seeds (issue 12's power at smoke).
    seed_limits : tuple of (str, int) pairs
        Tasks that run only the first ``n`` of the seeds, to keep a profile's cost: ``(("text:...", 3),)``.
        A limit may name a task that ``tasks`` leaves out (it then has no effect); it must be a valid task key.
        The smoke profile runs the image stand-in on 5 (:data:`~fairlib.config.STANDIN_SEEDS`: its rows are
        not run (stand-in)), leaves the text stand-in out of ``tasks`` and, where a user adds it, keeps it at 3
        seeds (its whole-model runs cost more than every other task's together; no verdict rests on it: only real
        data decides, and Adult runs every seed).
    method_seed_limits : tuple of (str, int) pairs
        Methods that run only the first ``n`` of each task's seeds (after ``seed_limits``), to keep a profile's
        cost: ``(("fairlora_cxa", 3),)``. The smoke profile runs FairLoRA's second reading (class x attribute)
        on 3 seeds: no claim rests on it, it is shown beside the paper's per-class reading.
    """

    notebook: ClassVar[str] = "05"

    tasks: tuple[str, ...] = STANDIN_BENCHMARK_TASKS
    methods: tuple[str, ...] = PAPER_BENCHMARK_METHODS
    image_backbone: str = "stand-in"
    n_standin: int = bounded(2000, ge=100)
    standin_correlation: float = bounded(0.8, ge=0, le=1)
    image_size: int = bounded(224, ge=8)
    n_text_standin: int = bounded(600, ge=100)
    text_max_length: int = bounded(32, ge=4)
    data_seed: int = bounded(0, ge=0)
    split_fractions: tuple[float, ...] = bounded((0.45, 0.18, 0.37), gt=0, lt=1, unique=False)
    tabular: ModalityBudget = field(default_factory=lambda: _TABULAR)
    image: ModalityBudget = field(default_factory=lambda: _IMAGE)
    text: ModalityBudget = field(default_factory=lambda: _TEXT)
    fair_lambdas: tuple[float, ...] = bounded((1.0, 10.0), gt=0)
    fair_groups: str = choice("class", ("class", "attribute", "class_attribute"))
    svd_rank: int = bounded(2, ge=1)
    fisher_alphas: tuple[float, ...] = bounded((0.5,), ge=0, le=1)
    orth_lambdas: tuple[float, ...] = bounded((0.1, 1.0), ge=0)
    threshold_constraints: tuple[str, ...] = ("demographic_parity", "equalized_odds")
    threshold_objective: str = choice("accuracy_score", ("accuracy_score", "balanced_accuracy_score"))
    threshold_grid_size: int = bounded(1000, ge=10)
    selection_metric: str = choice("min_group_f1", BENCHMARK_SELECTION_METRICS)
    rank_metrics: tuple[str, ...] = ("accuracy", "dpd", "eo_max", "min_group_f1")
    seeds: Optional[tuple[int, ...]] = None
    seed_limits: tuple[tuple[str, int], ...] = ()
    method_seed_limits: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        validate_fields(self)
        check_seed_list(self)
        # A limit may name a task this selection does not run (it then limits nothing: a profile's limits survive a
        # user's narrower `tasks`), but it must be a task key the benchmark knows.
        check_seed_limits(self)
        for task, _ in self.seed_limits:
            check_task_key(task, where="BenchmarkConfig.seed_limits", kinds=BENCHMARK_TASK_KINDS, default_target=True)
        for pair in self.method_seed_limits:
            if not (isinstance(pair, tuple) and len(pair) == 2 and pair[0] in BENCHMARK_METHODS
                    and isinstance(pair[1], int) and not isinstance(pair[1], bool) and pair[1] >= 2):
                raise ConfigError(f"BenchmarkConfig.method_seed_limits: {pair!r} is invalid: a (method, n) pair with a "
                                  f"method of {BENCHMARK_METHODS} and an int n >= 2")
        if len({m for m, _ in self.method_seed_limits}) != len(self.method_seed_limits):
            raise ConfigError("BenchmarkConfig.method_seed_limits must not name a method twice")
        if not self.tasks or not self.methods:
            raise ConfigError("BenchmarkConfig.tasks and .methods must not be empty")
        for task in self.tasks:
            check_task_key(task, where="BenchmarkConfig.tasks", kinds=BENCHMARK_TASK_KINDS, default_target=True)
        unknown = [m for m in self.methods if m not in BENCHMARK_METHODS]
        if unknown:
            raise ConfigError(f"BenchmarkConfig.methods: {unknown} unknown; valid choices: {BENCHMARK_METHODS}")
        if len(self.split_fractions) != 3 or abs(sum(self.split_fractions) - 1) > 1e-9:
            raise ConfigError(f"BenchmarkConfig.split_fractions = {self.split_fractions!r} is invalid: three "
                              f"shares summing to 1")
        valid = ("demographic_parity", "equalized_odds", "true_positive_rate_parity", "false_positive_rate_parity")
        bad = [c for c in self.threshold_constraints if c not in valid]
        if not self.threshold_constraints or bad:
            raise ConfigError(f"BenchmarkConfig.threshold_constraints = {self.threshold_constraints!r} is invalid; "
                              f"valid choices: {valid}")
        ranked = ("accuracy", "weighted_f1_error", "dpd", "eo_max", "eo_sum", "min_group_f1")
        if not self.rank_metrics or any(m not in ranked for m in self.rank_metrics):
            raise ConfigError(f"BenchmarkConfig.rank_metrics = {self.rank_metrics!r} is invalid; valid choices: "
                              f"{ranked}")
        for name in ("fair_lambdas", "fisher_alphas", "orth_lambdas", "threshold_constraints"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ConfigError(f"BenchmarkConfig.{name} must not repeat a value")

    def budget(self, modality: str) -> ModalityBudget:
        """The :class:`ModalityBudget` of ``"tabular"``, ``"image"`` or ``"text"``."""
        if modality not in ("tabular", "image", "text"):
            raise ConfigError(f"modality={modality!r}; valid choices: ('tabular', 'image', 'text')")
        return getattr(self, modality)

    def requirements(self, profile) -> list:
        """Datasets and checkpoints the benchmark needs (``python -m fairlib reproduce --dry-run``)."""
        from .. import paths
        from .._plan import Requirement

        needs = []
        kinds = {t.split(":")[0] for t in self.tasks}
        sources = {
            "celeba": ("celeba", "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (see data/README.md)"),
            "utkface": ("utkface", "https://susanqq.github.io/UTKFace/ (see data/README.md)"),
            "waterbirds": ("waterbirds", "https://nlp.stanford.edu/data/dro/waterbird_complete95_forest2water2.tar.gz"),
        }
        for kind, (name, url) in sources.items():
            if kind in kinds:
                needs.append(Requirement("dataset", name, str(paths.DATA / name), url))
        if any(t == "text:measuring-hate-speech" for t in self.tasks):
            needs.append(Requirement("dataset", "measuring-hate-speech", str(paths.DATA / "measuring-hate-speech"),
                                     "huggingface-cli download ucberkeley-dlab/measuring-hate-speech "
                                     "--repo-type dataset (see data/README.md)"))
        if kinds & {"celeba", "utkface", "waterbirds", "standin"} and self.image_backbone != "stand-in":
            needs.append(Requirement("checkpoint", self.image_backbone, self.image_backbone,
                                     f"huggingface-cli download {self.image_backbone}"))
        return needs


BENCHMARK_PROFILES = {
    # VERDICT_SEEDS (10) on Adult, the real data every verdict of this notebook rests on (issue 12's power at smoke);
    # STANDIN_SEEDS (5, the full profile's count) on the image stand-in, whose rows are not run (stand-in) and which
    # decides nothing (fairlib.config._seeds says why).
    # The text stand-in runs at full only (and where a user adds it with `tasks`, on 3 seeds): measured at commit
    # d18de77, its 45 runs on 3 seeds cost 148 of the smoke reproduction's 1,982 CPU s (MiniLM whole-model runs of
    # 5-7 s each; ~74 s on 2 cores) and added only stand-in evidence (Adult decides the verdicts, the image stand-in
    # is paper 3's only evidence); on 10 seeds they would cost ~490 CPU s, past the 20-minute budget.
    # FairLoRA's second reading (class x attribute) runs on the first 3 seeds of each task: measured at smoke, one
    # run costs ~0.7 CPU s on Adult and ~2.6 estimated on the image stand-in; no claim rests on it (the claims use
    # per-class).
    "smoke": BenchmarkConfig(tasks=STANDIN_BENCHMARK_TASKS[:2], seeds=VERDICT_SEEDS,
                             seed_limits=((STANDIN_BENCHMARK_TASKS[1], len(STANDIN_SEEDS)), ("text:religion-standin", 3)),
                             method_seed_limits=(("fairlora_cxa", 3),)),
    # The papers' real sets with ViT-Base (ImageNet-21k) as the image backbone; budgets are our choices,
    # close to notebooks 02 and 03's full profiles (none of the papers runs this comparison).
    "full": BenchmarkConfig(tasks=PAPER_BENCHMARK_TASKS, image_backbone=_HUB_VIT, n_standin=4000,
                            image=ModalityBudget(epochs=5, batch_size=64, lr_full=1e-5, lr_lora=5e-4, lora_rank=16,
                                                 lora_alpha=16.0, head_epochs=20, lr_head=1e-3, pretrain_fraction=0.3,
                                                 pretrain_epochs=20, pretrain_lr=1e-3),
                            fair_lambdas=(0.1, 1.0, 10.0, 100.0), fisher_alphas=(0.5, 0.7, 0.9),
                            orth_lambdas=(0.1, 1.0, 10.0), text_max_length=256, methods=BENCHMARK_METHODS),
    # The text task is left out to keep the notebook test short; tests/test_benchmark.py covers it.
    "test": BenchmarkConfig(tasks=STANDIN_BENCHMARK_TASKS[:2], n_standin=700,
                            tabular=ModalityBudget(epochs=3, batch_size=512, lr_full=3e-3, lr_lora=1e-2, lora_rank=2,
                                                   lora_alpha=2.0, head_epochs=5, lr_head=1e-2, pretrain_fraction=0.6,
                                                   pretrain_epochs=3, pretrain_lr=1e-2),
                            image=ModalityBudget(epochs=1, head_epochs=10, pretrain_epochs=10),
                            fair_lambdas=(10.0,), orth_lambdas=(0.1,), threshold_grid_size=200),
}
