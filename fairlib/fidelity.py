"""The fidelity catalogue: for each paper figure and table a notebook regenerates, what the paper used and what each
profile uses, aspect by aspect (data, model, recipe, seeds), every difference in one place.

The paper side is declared here as data (:data:`FIDELITY`, one tuple of :class:`Aspect` per notebook), from the
papers' texts in ``shared/papers/`` and the constants of :mod:`fairlib.config` that hold the papers' and the
authors' own values (``PAPER_VISION_BACKBONES``, ``AUTHORS_RECIPES``, ...). The profile side is never typed here: each
aspect *reads* it from a :class:`fairlib.config.Profile` (``read``), so a changed configuration changes the table.

Each row says whether a profile's value differs from the paper's (``differs``, per profile) and names, in
``stated_in``, a short phrase of the notebook's markdown where that difference is explained; ``tests/test_fidelity.py``
checks that every phrase of a row that differs is found in that notebook's markdown cells. Where the paper (the text
available to us) gives no value, the paper side is :data:`NOT_STATED` and every profile's value counts as a
difference: it is our choice, and the notebook must say so.

The notebooks put :func:`fidelity_table` in a cell after their settings and :func:`fidelity_rows` in their results
JSON (``metrics["fidelity"]``); the reproduction report renders the rows (:func:`markdown_rows`).
"""

from __future__ import annotations

import dataclasses
import operator
from typing import Any, Callable, Optional, Union

from .config import (ADULT_TABLE1_FRACTIONS, AUTHORS_RECIPES, AUTHORS_SHADOW_RECIPES, FAIRLORA_HUB_BACKBONES,
                     FAIRLORA_READINGS, FISHER_VARIANTS, PAPER_PRIVACY_TASKS, PAPER_TEXT_BACKBONES,
                     PAPER_VISION_BACKBONES, VIT_BASE_IN21K, Profile, get_profile)

__all__ = ["Aspect", "FIDELITY", "NOT_STATED", "NOTEBOOKS", "ORDER", "COLUMNS", "fidelity_rows", "fidelity_table",
           "markdown_rows", "profile_value"]

#: Paper side of an aspect the paper's text (as available to us) does not give: every profile's value is a choice.
NOT_STATED = "not stated in the paper"

#: The profiles' columns, smallest first.
ORDER = ("test", "smoke", "full")
#: Columns of a fidelity row, in order (``differs`` is a dict per profile; the table flattens it).
COLUMNS = ("element", "aspect", "paper", *ORDER, "differs", "stated_in", "reads")

Reader = Union[str, tuple, Callable[[Profile], Any]]


@dataclasses.dataclass(frozen=True)
class Aspect:
    """One aspect of one paper element, the paper's value and how a profile's value is read.

    Parameters
    ----------
    element : str
        The paper's figure or table (``"Fig. 1"``, ``"Table 2"``), or the group of them the aspect applies to.
    aspect : str
        What is compared (``"backbones"``, ``"epochs, learning rate"``, ``"seeds"``).
    paper : str
        What the paper used, in words (shown in the table).
    paper_value : object
        The paper's value in the form ``read`` returns, compared with ``==``; :data:`NOT_STATED` where the paper
        gives none (every profile then differs).
    read : str, tuple of str, or callable
        A dotted field path of :class:`fairlib.config.Profile` (``"lora_fairness.vision_backbones"``), a tuple of
        paths (a tuple of values), or a function of the profile (for values derived from several fields).
    stated_in : str
        A short phrase found in the notebook's markdown where the difference is explained.
    show : callable, optional
        Formats a profile's value for the table (default :func:`_show`).
    reads : tuple of str
        The configuration fields a callable ``read`` uses (documentation; paths are listed automatically).
    """

    element: str
    aspect: str
    paper: str
    paper_value: Any
    read: Reader
    stated_in: str
    show: Optional[Callable[[Any], str]] = None
    reads: tuple[str, ...] = ()

    def value(self, profile: Profile) -> Any:
        """The profile's value of this aspect."""
        return profile_value(profile, self.read)

    def fields(self) -> tuple[str, ...]:
        """The configuration fields this aspect reads."""
        if isinstance(self.read, str):
            return (self.read,)
        if isinstance(self.read, tuple):
            return self.read
        return self.reads

    def differs(self, profile: Profile) -> bool:
        """True where the profile's value is not the paper's (always, where the paper states none)."""
        return self.paper_value == NOT_STATED or self.value(profile) != self.paper_value


def profile_value(profile: Profile, read: Reader) -> Any:
    """Read one value from a profile: a dotted path, a tuple of paths, or a function of the profile."""
    if isinstance(read, str):
        return operator.attrgetter(read)(profile)
    if isinstance(read, tuple):
        return tuple(operator.attrgetter(path)(profile) for path in read)
    return read(profile)


def _show(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (tuple, list)):
        return ", ".join(_show(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_show(v)}" for k, v in value.items())
    return str(value)


def _seeds(section: str) -> Callable[[Profile], tuple]:
    def read(p: Profile) -> tuple:
        return tuple(getattr(p, section).seeds or p.seeds)
    return read


def _short(name: str) -> str:
    """A hub id without its organisation (``google/vit-base-patch16-224-in21k`` -> ``vit-base-patch16-224-in21k``)."""
    return name.rsplit("/", 1)[-1]


# ---------------------------------------------------------------------------------------------------------------
# 01 · Ding et al. (2024)
_VISION_RECIPES = {k: v for k, v in AUTHORS_RECIPES.items() if k.split("|")[0] in PAPER_VISION_BACKBONES}
_TEXT_RECIPES = {k: v for k, v in AUTHORS_RECIPES.items() if k.split("|")[0] in PAPER_TEXT_BACKBONES}


def _recipes(domain: str) -> Callable[[Profile], dict]:
    def read(p: Profile) -> dict:
        lc = p.lora_fairness
        if domain == "vision":
            keys = [(b, t) for b in lc.vision_backbones for t in lc.vision_tasks]
        else:
            keys = [(b, lc.text_attribute) for b in lc.text_backbones]
        return {f"{b}|{t}|{m}": lc.recipe(b, t, m) for b, t in keys for m in ("full", "lora")}
    return read


def _show_recipes(value: dict) -> str:
    return "; ".join(f"{_short(k.split('|')[0])} {k.split('|')[1]} {k.split('|')[2]}: {e} ep, lr {lr:g}"
                     for k, (e, lr) in value.items())


def _mia_epochs(domain: str) -> Callable[[Profile], tuple]:
    # (LoRA target, full target, LoRA shadow) epochs: the Fig. 1 / 2 recipe unless mia_<domain>_epochs fixes them.
    def read(p: Profile) -> tuple:
        return tuple(p.lora_fairness.mia_recipe(domain, m)[0] for m in ("lora", "full", "lora"))
    return read


def _paper_mia_epochs(backbone: str, task: str) -> tuple:
    return (AUTHORS_RECIPES[f"{backbone}|{task}|lora"][0], AUTHORS_RECIPES[f"{backbone}|{task}|full"][0],
            AUTHORS_SHADOW_RECIPES[backbone][0])


def _show_mia_epochs(value: tuple) -> str:
    return f"LoRA target {value[0]}, full-FT target {value[1]}, shadows {value[2]} epochs"


def _data_size(domain: str) -> Callable[[Profile], str]:
    def read(p: Profile) -> str:
        lc = p.lora_fairness
        stand_in = lc.vision_dataset == "utk_like" if domain == "vision" else lc.text_dataset == "religion_standin"
        n_train, n_test = getattr(lc, f"{domain}_n_train"), getattr(lc, f"{domain}_n_test")
        if stand_in:
            return f"stand-in: {n_train} train / {n_test} test examples (data seed {lc.data_seed})"
        cap = "all" if n_train == 0 else f"at most {n_train}"
        return f"{cap} training rows; random {lc.test_fraction:.0%} held out for test (seed {lc.data_seed})"
    return read


_SWIN, _VIT, _LLAMA = PAPER_VISION_BACKBONES[1], PAPER_VISION_BACKBONES[0], PAPER_TEXT_BACKBONES[0]

_NB01 = (
    Aspect("Fig. 1", "data", "UTK-Face, gender and age (9 bins); groups = race (5)", "utkface",
           "lora_fairness.vision_dataset", "the UTK-Face stand-in draws Fashion-MNIST images",
           show={"utk_like": "UTK-Face stand-in: Fashion-MNIST, 5 appearance groups", "utkface": "UTK-Face"}.get),
    Aspect("Fig. 1", "data size and split", "all of UTK-Face; the split is not given in the text", NOT_STATED,
           _data_size("vision"), "a random share of the real datasets is held out",
           reads=("lora_fairness.vision_n_train", "vision_n_test", "test_fraction", "data_seed")),
    Aspect("Fig. 1", "backbones", "ViT-Base (in21k), Swin-v2-Large", PAPER_VISION_BACKBONES,
           "lora_fairness.vision_backbones",
           "standing in for the paper's contrast between ViT-Base and the stronger Swin-v2-Large", show=_show),
    Aspect("Fig. 1", "LoRA rank, alpha (query/value, head trained)", "r = 16, alpha = 16", (16, 16.0),
           ("lora_fairness.vision_rank", "lora_fairness.vision_alpha"), "LoRA r = 16, α = 16 on query/value"),
    Aspect("Fig. 1", "epochs, learning rate", "the authors' per-model recipes: " + _show_recipes(_VISION_RECIPES),
           _VISION_RECIPES, _recipes("vision"), "shorter budgets than the authors' recipes", show=_show_recipes,
           reads=("lora_fairness.recipes", "vision_epochs", "vision_lr_*")),
    Aspect("Figs. 1–2", "effective batch, warm-up, weight decay", "32, 1% (cosine), 0.001", (32, 0.01, 0.001),
           ("lora_fairness.effective_batch_size", "lora_fairness.warmup_ratio", "lora_fairness.weight_decay"),
           "effective batch"),
    Aspect("Figs. 1–3, rank ablation", "training seeds", "13, 1337, 42, 666, 888 (5)", (13, 1337, 42, 666, 888),
           _seeds("lora_fairness"), "other seeds than the authors' five", reads=("lora_fairness.seeds", "seeds")),
    Aspect("Fig. 2", "data", "measuring-hate-speech (D-Lab), religion subset; label = hate_speech_score > 0.5",
           ("measuring_hate_speech", "religion"), ("lora_fairness.text_dataset", "lora_fairness.text_attribute"),
           "generates one from templates"),
    Aspect("Fig. 2", "data size and split", "the whole religion subset; the split is not given in the text",
           NOT_STATED, _data_size("text"), "a random share of the real datasets is held out",
           reads=("lora_fairness.text_n_train", "text_n_test", "test_fraction", "data_seed")),
    Aspect("Fig. 2", "backbones", "Llama-2 7B, Mistral 7B (decoders, sequence classification)", PAPER_TEXT_BACKBONES,
           "lora_fairness.text_backbones", "classified by the real pretrained MiniLM encoder"),
    Aspect("Fig. 2", "LoRA rank, alpha (q/v)", "r = 8, alpha = 16", (8, 16.0),
           ("lora_fairness.text_rank", "lora_fairness.text_alpha"), "r = 8, α = 16"),
    Aspect("Fig. 2", "epochs, learning rate", "the authors' per-model recipes: " + _show_recipes(_TEXT_RECIPES),
           _TEXT_RECIPES, _recipes("text"), "shorter budgets than the authors' recipes", show=_show_recipes,
           reads=("lora_fairness.recipes", "text_epochs", "text_lr_*")),
    Aspect("Fig. 3", "vision model calibrated (figure)", "Swin-v2-Large on UTK-Face gender", (_SWIN, "gender"),
           lambda p: (p.lora_fairness.calibrated_vision_backbone(), p.lora_fairness.vision_tasks[0]),
           "the stand-in profiles calibrate and attack the main stand-in ViT",
           reads=("lora_fairness.calibration_vision_backbone", "vision_tasks[0]")),
    Aspect("Fig. 3", "text models calibrated (figure)", "Llama-2 7B on religion", (_LLAMA,),
           lambda p: p.lora_fairness.calibrated_text_backbones(),
           "the stand-in profiles show every text model (MiniLM and the decoder LLM)",
           reads=("lora_fairness.calibration_text_backbones",)),
    Aspect("Fig. 4", "attacked model, task", "Swin-v2-Large, UTK-Face gender", (_SWIN, "gender"),
           lambda p: (p.lora_fairness.attacked_vision_backbone(), p.lora_fairness.mia_vision_task),
           "the stand-in profiles calibrate and attack the main stand-in ViT",
           reads=("lora_fairness.mia_vision_backbone", "mia_vision_task")),
    Aspect("Figs. 4–5", "shadow models", "16 (LoRA, also for full-FT targets)", 16, "lora_fairness.n_shadows",
           "The paper uses 16 shadows; this profile uses the number printed above"),
    Aspect("Fig. 4", "candidate pool", "not stated in the text (shadows on random halves)", NOT_STATED,
           "lora_fairness.mia_vision_candidates", "the paper's text gives no pool size"),
    Aspect("Fig. 4", "target and shadow epochs", "targets: the Fig. 1 recipe; shadows: the authors' "
           + _show_mia_epochs(_paper_mia_epochs(_SWIN, "gender")), _paper_mia_epochs(_SWIN, "gender"),
           _mia_epochs("vision"), "not the Fig. 1 / Fig. 2 recipe", show=_show_mia_epochs,
           reads=("lora_fairness.mia_vision_epochs", "recipes")),
    Aspect("Fig. 5", "attacked model, task", "Llama-2 7B, religion", (_LLAMA, "religion"),
           lambda p: (p.lora_fairness.text_backbones[0], p.lora_fairness.text_attribute),
           "The text attack uses the first text backbone", reads=("lora_fairness.text_backbones[0]", "text_attribute")),
    Aspect("Fig. 5", "candidate pool", "not stated in the text", NOT_STATED, "lora_fairness.mia_text_candidates",
           "the paper's text gives no pool size"),
    Aspect("Fig. 5", "target and shadow epochs", "targets: the Fig. 2 recipe; shadows: the authors' "
           + _show_mia_epochs(_paper_mia_epochs(_LLAMA, "religion")), _paper_mia_epochs(_LLAMA, "religion"),
           _mia_epochs("text"), "not the Fig. 1 / Fig. 2 recipe", show=_show_mia_epochs,
           reads=("lora_fairness.mia_text_epochs",)),
    Aspect("Rank ablation", "ranks", "a sweep of ranks (values not stated in the text)", NOT_STATED,
           "lora_fairness.ranks", "The ranks of the sweep are ours"),
    Aspect("Rank ablation", "alpha / rank", "alpha = 2r (the authors' sweep)", 2.0,
           "lora_fairness.rank_alpha_over_rank", "the authors' sweep used α = 2r"),
)

# ---------------------------------------------------------------------------------------------------------------
# 02 · FairLoRA (2024)
_ALL02 = "Figs. 1–3 (λ sweep, comparison, rank)"
_NB02 = (
    Aspect(_ALL02, "data", "Waterbirds, GeoDE, FGVC-Aircraft (distribution shift)", ("waterbirds", "geode", "aircraft"),
           lambda p: (p.fairlora.dataset,), "the notebook runs one dataset per execution",
           reads=("fairlora.dataset",)),
    Aspect(_ALL02, "data size", "the full datasets and their splits", NOT_STATED,
           lambda p: (f"stand-in: {p.fairlora.n_train} train, {p.fairlora.n_eval} validation, {p.fairlora.n_eval} "
                      f"test" if p.fairlora.dataset == "waterbirds_like" else "the dataset's own split"),
           "Stand-in numbers test whether the method behaves as claimed",
           reads=("fairlora.dataset", "n_train", "n_eval")),
    Aspect(_ALL02, "groups of the loss variance", "per-class (the headline; the method text also allows subgroups)",
           ("class",), "fairlora.groupings", "runs **both readings side by side**",
           show=lambda v: ", ".join(FAIRLORA_READINGS[g] for g in v)),
    Aspect(_ALL02, "backbones", "ViT, DINO, CLIP", FAIRLORA_HUB_BACKBONES, "fairlora.backbones",
           "in place of ViT/DINO/CLIP"),
    Aspect(_ALL02, "λ grid", "orders of magnitude (values not stated)", NOT_STATED, "fairlora.lambdas",
           "the exact λ grid and ranks) are our choices"),
    Aspect(_ALL02, "rank, ranks swept", "not stated", NOT_STATED, ("fairlora.rank", "fairlora.ranks"),
           "the exact λ grid and ranks) are our choices"),
    Aspect(_ALL02, "epochs, learning rates (LoRA, full), batch", "not stated", NOT_STATED,
           ("fairlora.epochs", "fairlora.lr_lora", "fairlora.lr_full", "fairlora.batch_size"),
           "(epochs, learning rates, the exact λ grid and ranks) are our choices"),
    Aspect(_ALL02, "seeds (λ sweep at λ > 0: first sweep_seeds)", "not stated", NOT_STATED,
           lambda p: (_seeds("fairlora")(p), p.fairlora.sweep_seeds),
           "the seeds are ours, since the paper's text gives no seed list", show=lambda v: f"{_show(v[0])} ({len(v[0])}); λ > 0 sweep on "
                                                f"{v[1] or len(v[0])}", reads=("fairlora.seeds", "sweep_seeds")),
)

# ---------------------------------------------------------------------------------------------------------------
# 03 · Kamalaruban et al. (2025)
_ALL03 = "strategy comparison (Erm, Unl, Adv, Orth)"
_NB03 = (
    Aspect(_ALL03, "data", "CelebA (Smiling, Attractive, Bald; sensitive Male) and UTK-Face", PAPER_PRIVACY_TASKS,
           "privacy.tasks", "use **stand-ins** built from Fashion-MNIST"),
    Aspect(_ALL03, "data size, parties' split", "each party's own data set; sizes not stated", NOT_STATED,
           ("privacy.n", "privacy.auditor_fraction"), "splits each task's training pool into two disjoint parts",
           show=lambda v: f"{'all' if v[0] == 0 else v[0]} examples per task; auditor's share {v[1]:.0%}"),
    Aspect(_ALL03, "backbone", "ViT-Base, frozen", VIT_BASE_IN21K, "privacy.backbone",
           "the small ViT that fairlib pre-trains on Fashion-MNIST, standing in for ViT-Base"),
    Aspect(_ALL03, "LoRA rank, alpha", "not stated", NOT_STATED, ("privacy.rank", "privacy.alpha"),
           "rank, learning rates and epochs are our choices at every profile"),
    Aspect(_ALL03, "epochs, learning rate, batch (developer; auditor epochs)", "not stated", NOT_STATED,
           ("privacy.epochs", "privacy.lr", "privacy.batch_size", "privacy.auditor_epochs"),
           "rank, learning rates and epochs are our choices at every profile"),
    Aspect(_ALL03, "Orth regulariser", "decorrelates learned representations and sensitive features (no further "
           "detail)", NOT_STATED, ("privacy.orth_lambda", "privacy.variant_seeds"), "is our reading",
           show=lambda v: f"orth: h_d decorrelated from h_s = the auditor adapter's representation (lambda {v[0]:g}); "
                          f"variants orth_shift (h_s - h_0, principal directions) and orth_olora (adapter weights)"
                          + ("" if v[1] is None else f" on the first {v[1]} seeds")),
    Aspect(_ALL03, "training budget per strategy", "not stated", NOT_STATED, "privacy.epochs",
           "gives the developer the same steps over the same data",
           show=lambda v: f"every strategy: developer {v} epochs of adapter and head, then one head-only epoch"),
    Aspect(_ALL03, "seeds", "not stated", NOT_STATED, _seeds("privacy"), "The seeds are ours (the paper's text gives none)",
           reads=("privacy.seeds", "seeds")),
)

# ---------------------------------------------------------------------------------------------------------------
# 04 · Zhang & Zhou (2024)
_NB04 = (
    Aspect("Tables 1–3, Figs. 1, 3–5 (Adult)", "pre-training share; new task's train / val / test",
           "60%; 12,287 / 5,000 / 10,315 rows (61% of Adult in all)", (0.6, (12287, 5000, 10315)),
           ("fisher.pretrain_fraction", "fisher.new_task_fractions"), "We keep Table 1's proportions on the 40% pool",
           show=lambda v: f"{v[0]:.0%}; the other {1 - v[0]:.0%} split " + " / ".join(f"{f:.1%}" for f in v[1])
                          + (" (Table 1's proportions)" if tuple(v[1]) == ADULT_TABLE1_FRACTIONS else "")),
    Aspect("Tables 2–4, Figs. 1, 3–5 (Adult)", "MLP hidden units, SVD rank (742 / 46 parameters)", "20, 2", (20, 2),
           ("fisher.hidden", "fisher.rank"), "742"),
    Aspect("Tables 2–4, Figs. 4–5", "runs per configuration", "10 (mean ± std)", 10, "fisher.n_runs",
           "fewer runs per configuration than the paper's ten"),
    Aspect("Tables 2–4, Figs. 4–5", "fine-tuning: epochs, lr, batch, optimiser", "not stated", NOT_STATED,
           ("fisher.finetune_epochs", "fisher.finetune_lr", "fisher.batch_size", "fisher.optimizer"),
           "the paper gives no hyper-parameters"),
    Aspect("Tables 2–4, Figs. 1, 3–5", "pre-training: epochs, lr, batch", "not stated", NOT_STATED,
           ("fisher.pretrain_epochs", "fisher.pretrain_lr", "fisher.pretrain_batch_size"),
           "the paper gives no hyper-parameters"),
    Aspect("Table 2, Fig. 1", "fair pre-training f_F", "Zafar et al.'s covariance constraint (DP; EO on "
           "misclassified points)", "zafar_covariance", "fisher.fair_penalty",
           "as a named alternative",
           show=lambda v: {"zafar_covariance": "Zafar et al.'s covariance penalty on the logit margin (per batch)",
                           "probability_gap": "penalty on the batch's probability-based Delta_DP / Delta_EO"}.get(v, v)),
    Aspect("Table 3", "Retrain+EO / Retrain+DP penalty", "not stated (\"two types of fairness constraints\")",
           NOT_STATED, lambda p: "probability_gap", "The paper does not say which constraint its Table 3 baselines",
           show=lambda v: "penalty on the batch's probability-based Delta_DP / Delta_EO",
           reads=("code: FisherExperiment._train_retrain (no configuration field)",)),
    Aspect("Tables 2–3", "fairness intensities", "0.1, 0.5, 0.9", (0.1, 0.5, 0.9), "fisher.intensities",
           "fairness intensities"),
    Aspect("Fig. 1", "f_F's DP intensity", "not stated", NOT_STATED, "fisher.fig1_intensity", "is ours (`fig1_intensity`): the paper does not give it"),
    Aspect("Fig. 3", "Fisher of", "a model trained on each group (the caption)", "a model per group",
           lambda p: "one model", "the figure here shows one model, its Fisher on each group's examples",
           show=lambda v: "f_B's last layer (one model), Fisher on each group's training examples",
           reads=("code: FisherExperiment.fisher_profile (no configuration field)",)),
    Aspect("Fig. 4", "image data", "CelebA (WavyHair, sensitive Male), LFW+a (gender, sensitive HeavyMakeup)",
           ("celeba", "lfwa"), "fisher.image_tasks", "the `smoke` profile uses a"),
    Aspect("Fig. 4", "image backbone (frozen)", "ResNet-18", "microsoft/resnet-18", "fisher.image_backbone",
           "the `smoke` profile uses a"),
    Aspect("Table 4", "MLP depths (linear layers)", "3, 4, 5", (3, 4, 5), "fisher.depths", "MLP-k has k linear layers"),
    Aspect("Table 4", "image architectures", "ResNet-50, DenseNet-121", FISHER_VARIANTS[3:], "fisher.image_variants",
           "the `smoke` profile swaps"),
    Aspect("Fig. 5", "alphas", "in [0.5, 1) (grid not stated)", NOT_STATED, "fisher.alphas", "The alphas are ours"),
)

#: The catalogue: notebook -> its aspects. 05 and 06 regenerate no paper figure or table (05 re-tests the papers'
#: claims on common tasks, 06 is this repository's own study), so they have no fidelity table.
FIDELITY: dict[str, tuple[Aspect, ...]] = {"01": _NB01, "02": _NB02, "03": _NB03, "04": _NB04}
NOTEBOOKS = tuple(FIDELITY)


def fidelity_rows(notebook: str, profile: Optional[Profile] = None) -> list[dict]:
    """The fidelity rows of one notebook, one per aspect, with every profile's value.

    Parameters
    ----------
    notebook : str
        Two-digit number among :data:`NOTEBOOKS`.
    profile : Profile, optional
        The configuration the notebook runs (overrides included): it gives the column of its profile's name; the
        other columns are the registered profiles.

    Returns
    -------
    list of dict
        Keys :data:`COLUMNS`: ``paper`` and each profile's value as text, ``differs`` ``{profile: bool}``,
        ``stated_in`` the phrase of the notebook's markdown that explains a difference, ``reads`` the fields read.

    Raises
    ------
    ValueError
        If ``notebook`` has no fidelity catalogue (the message lists those that have).
    """
    if notebook not in FIDELITY:
        raise ValueError(f"notebook {notebook!r} has no fidelity catalogue; valid: {NOTEBOOKS}")
    profiles = {name: profile if profile is not None and profile.name == name else get_profile(name)
                for name in ORDER}
    rows = []
    for a in FIDELITY[notebook]:
        show = a.show or _show
        row = {"element": a.element, "aspect": a.aspect, "paper": a.paper}
        row.update({name: show(a.value(p)) for name, p in profiles.items()})
        row["differs"] = {name: a.differs(p) for name, p in profiles.items()}
        row["stated_in"] = a.stated_in
        row["reads"] = ", ".join(a.fields())
        rows.append(row)
    return rows


def fidelity_table(notebook: str, profile: Optional[Profile] = None) -> Any:
    """:func:`fidelity_rows` as a pandas DataFrame (``differs`` flattened to ``differs_<profile>`` columns)."""
    import pandas as pd

    rows = fidelity_rows(notebook, profile)
    flat = [{k: v for k, v in r.items() if k != "differs"} | {f"differs_{n}": d for n, d in r["differs"].items()}
            for r in rows]
    return pd.DataFrame(flat).set_index(["element", "aspect"])


def markdown_rows(rows: list[dict]) -> list[str]:
    """The rows as a markdown table (lines); a differing profile's value is marked with a dagger."""
    names = [n for n in ORDER if rows and n in rows[0]]

    def cell(text: Any) -> str:
        return str(text).replace("|", "/").replace("\n", " ")

    lines = ["| element | aspect | paper | " + " | ".join(names) + " | where the notebook says it |",
             "|---|---|---|" + "---|" * len(names) + "---|"]
    for r in rows:
        values = [cell(r[n]) + (" †" if r["differs"].get(n) else "") for n in names]
        stated = f"“{cell(r['stated_in'])}”" if any(r["differs"].values()) else "—"
        lines.append("| " + " | ".join([cell(r["element"]), cell(r["aspect"]), cell(r["paper"]), *values, stated])
                     + " |")
    return lines
