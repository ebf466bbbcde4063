"""The experiments of notebook 02: LoRA, FairLoRA, full fine-tuning and fair full fine-tuning.

One run = one backbone, one adaptation (``"lora"`` or ``"full"``), one lambda (0 = unregularised), one rank
(LoRA only) and one seed; it trains with :func:`fairlib.train.fit` plus :class:`FairLoRARegularizer` and is
evaluated on validation and test. Runs are cached by :class:`fairlib.train.RunStore`, so the lambda sweep, the
comparison and the rank sweep share the runs they have in common and a re-run of the notebook trains nothing.

Methods are named by adaptation and lambda: LoRA (lora, 0), FairLoRA (lora, > 0), FFT (full, 0), Fair FFT
(full, > 0). The lambda of FairLoRA and of Fair FFT in the comparison is chosen per backbone on *validation*
(:func:`select_lambda`), never on test.

Records are long tables: one row per run and split (``"val"``, ``"test"``) with the reported metrics
(:data:`REPORTED_METRICS`) and the per-group F1 and recall as ``f1[<group>]``, ``recall[<group>]``. ``rank``
is 0 for full fine-tuning (not applicable).
"""

from __future__ import annotations

import copy
import time
import warnings
from dataclasses import asdict
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from .. import metrics as fm
from ..config._fairlora import STAND_IN_VIT, FairLoRAConfig
from ..data import GroupedDataset, Splits
from ..models import BACKBONE_PREPROCESSING, preprocessing
from .fairlora import FairLoRARegularizer

__all__ = [
    "REPORTED_METRICS", "FAIRNESS_METRICS", "LOWER_IS_BETTER", "METHOD_ORDER", "method_name", "evaluate",
    "load_fairlora_data", "load_fairlora_backbone", "FairLoRAExperiment", "select_lambda", "comparison_records",
    "paired_improvement", "claim_rows", "summarize_records", "plot_lambda_sweep", "plot_rank_sweep",
    "plot_group_f1", "HUB_PREPROCESSING", "label_group_counts", "comparison_summary",
]

#: Metrics recorded for every run and split (``worst_group_accuracy``: the lowest accuracy over label x group).
REPORTED_METRICS = ("accuracy", "min_group_f1", "min_group_recall", "f1_gap", "equalized_odds_difference",
                    "worst_group_accuracy")
#: The paper's fairness metrics.
FAIRNESS_METRICS = ("min_group_f1", "min_group_recall", "f1_gap", "equalized_odds_difference")
#: Metrics where a smaller value is fairer.
LOWER_IS_BETTER = frozenset({"f1_gap", "equalized_odds_difference"})
METHOD_ORDER = ("LoRA", "FairLoRA", "FFT", "Fair FFT")

#: Image normalisation and transformers class of each hub backbone of paper 2 (fairlib.models.preprocessing).
HUB_PREPROCESSING = {name: BACKBONE_PREPROCESSING[name] for name in
                     ("google/vit-base-patch16-224-in21k", "facebook/dinov2-base", "openai/clip-vit-base-patch16")}


def method_name(adaptation: str, lam: float) -> str:
    """``"LoRA"``, ``"FairLoRA"``, ``"FFT"`` or ``"Fair FFT"``."""
    if adaptation not in ("lora", "full"):
        raise ValueError(f"adaptation={adaptation!r}; valid choices: ('lora', 'full')")
    if adaptation == "lora":
        return "FairLoRA" if lam > 0 else "LoRA"
    return "Fair FFT" if lam > 0 else "FFT"


def evaluate(y: np.ndarray, y_pred: np.ndarray, s: np.ndarray, *, group_names: Sequence[str]) -> dict:
    """Reported metrics of one prediction, groups = the sensitive attribute ``s``.

    Returns
    -------
    dict
        :data:`REPORTED_METRICS` plus ``f1[<group>]`` and ``recall[<group>]`` for every group.
    """
    y, y_pred, s = (np.asarray(a) for a in (y, y_pred, s))
    with warnings.catch_warnings():
        # An undefined per-group value is NaN (the metric's documented behaviour); no need to repeat it per run.
        warnings.simplefilter("ignore", UserWarning)
        summary = fm.fairness_summary(y, y_pred, sensitive_features=s, group_names=list(group_names))
        table = fm.group_metrics(y, y_pred, sensitive_features=s, group_names=list(group_names))
    cells = [(y_pred[(y == c) & (s == g)] == c).mean() for c in np.unique(y) for g in range(len(group_names))
             if ((y == c) & (s == g)).any()]
    out = {k: summary[k] for k in REPORTED_METRICS if k in summary}
    out["worst_group_accuracy"] = float(min(cells))
    for name, row in table.iterrows():
        out[f"f1[{name}]"] = float(row["f1"])
        out[f"recall[{name}]"] = float(row["recall"])
    return out


def label_group_counts(splits: Splits) -> pd.DataFrame:
    """Examples per (label, group) cell in each split: the spurious correlation at a glance."""
    columns = {}
    for part in ("train", "val", "test"):
        data = getattr(splits, part)
        counts = np.zeros((len(data.class_names), len(data.group_names)), dtype=np.int64)
        np.add.at(counts, (np.asarray(data.y), np.asarray(data.s)), 1)
        columns[part] = counts.ravel()
    index = pd.MultiIndex.from_product([list(splits.train.class_names), list(splits.train.group_names)],
                                       names=["label", "group"])
    return pd.DataFrame(columns, index=index)


def _image_parts(data: GroupedDataset) -> Splits:
    split = np.asarray(data.info["split"])
    parts = {p: data.subset(np.flatnonzero(split == p)) for p in ("train", "val", "test")}
    return Splits(**parts)


def load_fairlora_data(cfg: FairLoRAConfig, *, verbose: bool = True) -> Splits:
    """The data of the comparisons: the Waterbirds-like stand-in, or Waterbirds itself.

    Returns
    -------
    Splits
        GroupedDatasets; for Waterbirds ``x`` holds image paths (see :func:`fairlib.data.load_waterbirds`).

    Raises
    ------
    fairlib.data.MissingDataError
        ``dataset="waterbirds"`` and the data are not in ``data/waterbirds`` (the message says how to get them).
    """
    if cfg.dataset == "waterbirds_like":
        from ..data import waterbirds_like

        return waterbirds_like(n_train=cfg.n_train, n_eval=cfg.n_eval, seed=cfg.data_seed, spurious=cfg.spurious)
    try:
        from ..data import load_waterbirds
    except ImportError as error:  # only on a checkout without the loaders branch
        raise RuntimeError("the full profile needs fairlib.data.load_waterbirds (branch `loaders`); merge it "
                           "into this checkout first") from error
    return _image_parts(load_waterbirds(verbose=verbose))


def load_fairlora_backbone(name: str, *, stand_in_vit: Any = None) -> torch.nn.Module:
    """The backbone ``name``: the stand-in ViT (``"stand-in-vit"``) or a hub checkpoint, loaded locally.

    Raises
    ------
    fairlib.models.CheckpointMissingError
        A hub checkpoint that is not cached locally (nothing is downloaded).
    """
    if name == STAND_IN_VIT:
        from ..train import pretrained_tiny_vit

        return pretrained_tiny_vit(stand_in_vit, verbose=False) if stand_in_vit is not None else \
            pretrained_tiny_vit(verbose=False)
    from ..models import load_backbone

    auto_class = preprocessing(name)["auto_class"]
    return load_backbone(name, auto_class=auto_class)


class FairLoRAExperiment:
    """All runs on one backbone: data and backbone loaded once, each run cached by its full configuration.

    Parameters
    ----------
    profile : fairlib.config.Profile
        Reads ``profile.fairlora``, ``profile.seeds``, ``profile.stand_in_vit``, ``profile.mixed_precision``.
    backbone : str
        One of ``profile.fairlora.backbones``.
    splits : Splits, optional
        Pre-loaded data (default: :func:`load_fairlora_data`), shared between backbones.
    store : RunStore, optional
        Default ``RunStore("02-<profile>")``.
    progress : bool
        Progress bars of :func:`fairlib.train.fit` (off: a notebook would print one per run).

    Notes
    -----
    With ``num_threads > 0`` this sets ``torch.set_num_threads`` for the process (one thread is the fastest
    on a small machine shared with other jobs).
    """

    def __init__(self, profile: Any, *, backbone: str, splits: Splits | None = None, store: Any = None,
                 progress: bool = False):
        from ..train import RunStore

        self.profile, self.cfg, self.backbone_name = profile, profile.fairlora, backbone
        if self.cfg.num_threads > 0:
            torch.set_num_threads(self.cfg.num_threads)
        self.splits = splits if splits is not None else load_fairlora_data(self.cfg)
        self.template = load_fairlora_backbone(backbone, stand_in_vit=profile.stand_in_vit)
        self.store = store if store is not None else RunStore(f"02-{profile.name}")
        self.progress = progress
        self.group_names = tuple(self.splits.train.group_names)

    # -- what defines a run ---------------------------------------------------------------------------------
    def train_config(self, adaptation: str, seed: int) -> Any:
        from ..train import TrainConfig

        c = self.cfg
        return TrainConfig(epochs=c.epochs, lr=c.lr_lora if adaptation == "lora" else c.lr_full,
                           batch_size=c.batch_size, weight_decay=c.weight_decay, warmup_ratio=c.warmup_ratio,
                           seed=seed, mixed_precision=self.profile.mixed_precision, group_balanced=c.group_balanced)

    def _backbone_spec(self) -> Any:
        if self.backbone_name == STAND_IN_VIT:
            return {"stand_in_vit": self.profile.stand_in_vit.to_dict()}
        return {"hub": self.backbone_name, "image_size": self.cfg.image_size}

    def _data_spec(self) -> dict:
        c = self.cfg
        if c.dataset == "waterbirds_like":
            return dict(dataset=c.dataset, n_train=c.n_train, n_eval=c.n_eval, spurious=c.spurious, seed=c.data_seed)
        return dict(dataset=c.dataset, sizes=[len(p.y) for p in (self.splits.train, self.splits.val, self.splits.test)])

    def spec(self, *, adaptation: str, lam: float, rank: int, seed: int) -> dict:
        """Everything that determines a run (the RunStore key). Irrelevant fields are normalised so that,
        e.g., every lambda = 0 run is the same whatever the grouping, and full fine-tuning has no rank."""
        lora = adaptation == "lora"
        return {"notebook": "02", "version": 2, "data": self._data_spec(), "backbone": self._backbone_spec(),
                "adaptation": adaptation, "lam": float(lam), "groups": self.cfg.groups if lam > 0 else None,
                "rank": int(rank) if lora else 0, "alpha": float(self.cfg.alpha_over_rank * rank) if lora else 0.0,
                "train": asdict(self.train_config(adaptation, seed))}

    # -- one run --------------------------------------------------------------------------------------------
    def _datasets(self, seed: int) -> tuple[Any, Any, Any]:
        s = self.splits
        if self.cfg.dataset == "waterbirds_like":
            return s.train, s.val, s.test
        from ..data import ImageFileDataset, make_image_processor

        pre = preprocessing(self.backbone_name)
        processor = make_image_processor(size=self.cfg.image_size, image_mean=pre["mean"], image_std=pre["std"])
        return tuple(ImageFileDataset.from_grouped(part, processor=processor, train=part is s.train, seed=seed)
                     for part in (s.train, s.val, s.test))

    def build_model(self, *, adaptation: str, rank: int, seed: int) -> torch.nn.Module:
        """A fresh classifier on a copy of the backbone, prepared for ``adaptation`` (seeded)."""
        from ..models import LoraSpec, adapt, image_classifier
        from ..train import seed_everything

        seed_everything(seed)
        classifier = image_classifier(copy.deepcopy(self.template), num_labels=len(self.splits.train.class_names))
        lora = LoraSpec(r=rank, alpha=self.cfg.alpha_over_rank * rank) if adaptation == "lora" else None
        return adapt(classifier, adaptation, lora=lora)

    def _train_and_evaluate(self, *, adaptation: str, lam: float, rank: int, seed: int) -> tuple[dict, dict | None]:
        from ..models import count_parameters, trainable_state_dict
        from ..train import fit, predict

        train, val, test = self._datasets(seed)
        model = self.build_model(adaptation=adaptation, rank=rank, seed=seed)
        terms = [FairLoRARegularizer.for_dataset(self.splits.train, lam=lam, by=self.cfg.groups)] if lam > 0 else []
        name = method_name(adaptation, lam)
        start = time.perf_counter()
        history = fit(model, train, config=self.train_config(adaptation, seed), loss_terms=terms,
                      desc=f"{name}{f' r={rank}' if adaptation == 'lora' else ''} lambda={lam:g} seed={seed}", progress=self.progress,
                      num_workers=self.profile.num_workers)
        seconds = time.perf_counter() - start
        result = {"trainable_parameters": count_parameters(model)["trainable"], "train_seconds": seconds,
                  "epoch_losses": history.epoch_losses}
        for split, data in (("val", val), ("test", test)):
            p = predict(model, data, num_workers=self.profile.num_workers)
            result[split] = evaluate(p.y, p.y_pred, p.s, group_names=self.group_names)
        state = trainable_state_dict(model)
        # Adapters and heads are small; a full fine-tuned ViT-Base is not worth caching per run.
        tensors = state if sum(t.numel() for t in state.values()) <= 2_000_000 else None
        return result, tensors

    def run(self, *, adaptation: str, lam: float, rank: int | None = None, seed: int) -> list[dict]:
        """Train (or reuse) one run; two records, for validation and test."""
        rank = self.cfg.rank if rank is None else rank
        spec = self.spec(adaptation=adaptation, lam=lam, rank=rank, seed=seed)
        fresh = []

        def train() -> tuple[dict, dict | None]:
            fresh.append(True)
            return self._train_and_evaluate(adaptation=adaptation, lam=lam, rank=rank, seed=seed)

        result, _ = self.store.run(spec, train)
        base = {"backbone": self.backbone_name, "method": method_name(adaptation, lam), "adaptation": adaptation,
                "lam": float(lam), "rank": spec["rank"], "seed": int(seed),
                "trainable_parameters": result["trainable_parameters"], "train_seconds": result["train_seconds"],
                "reused": not fresh}
        return [{**base, "split": split, **result[split]} for split in ("val", "test")]

    # -- the sweeps ------------------------------------------------------------------------------------------
    def lambda_sweep(self, *, seeds: Sequence[int] | None = None) -> pd.DataFrame:
        """LoRA and full fine-tuning at lambda = 0 and every ``cfg.lambdas``, rank ``cfg.rank``, every seed."""
        rows = []
        for adaptation in ("lora", "full"):
            for lam in (0.0, *self.cfg.lambdas):
                for seed in seeds or self.profile.seeds:
                    rows += self.run(adaptation=adaptation, lam=lam, seed=seed)
        return pd.DataFrame(rows)

    def rank_sweep(self, *, fair_lambda: float, seeds: Sequence[int] | None = None) -> pd.DataFrame:
        """LoRA and FairLoRA (at ``fair_lambda``, chosen at rank ``cfg.rank``) at every ``cfg.ranks``."""
        rows = []
        for lam in (0.0, fair_lambda):
            for rank in self.cfg.ranks:
                for seed in seeds or self.profile.seeds:
                    rows += self.run(adaptation="lora", lam=lam, rank=rank, seed=seed)
        return pd.DataFrame(rows)


def _oriented(metric: str) -> float:
    return -1.0 if metric in LOWER_IS_BETTER else 1.0


def select_lambda(records: pd.DataFrame, *, metric: str = "min_group_f1") -> pd.DataFrame:
    """The best lambda > 0 per backbone and adaptation, by the mean *validation* metric over seeds.

    Parameters
    ----------
    records : DataFrame
        Lambda-sweep records (both splits; only ``split == "val"`` rows choose).
    metric : str
        Higher is better unless it is in :data:`LOWER_IS_BETTER`. Ties go to the smaller lambda.

    Returns
    -------
    DataFrame
        One row per (backbone, method) of the regularised methods: ``lam``, the validation mean of ``metric``
        at that lambda and at lambda = 0, and the test mean at that lambda (reported, never used to choose).
    """
    rows = []
    means = records.groupby(["backbone", "adaptation", "lam", "split"], sort=True)[metric].mean()
    for (backbone, adaptation), _ in records.groupby(["backbone", "adaptation"], sort=False):
        val = means.loc[(backbone, adaptation)].xs("val", level="split")
        candidates = val[val.index > 0]
        best = candidates.index[int(np.argmax(_oriented(metric) * candidates.to_numpy()))]
        rows.append({"backbone": backbone, "method": method_name(adaptation, best), "adaptation": adaptation,
                     "selection_metric": metric, "lam": float(best), f"val_{metric}": float(val.loc[best]),
                     f"val_{metric}_at_lambda_0": float(val.loc[0.0]) if 0.0 in val.index else float("nan"),
                     f"test_{metric}": float(means.loc[(backbone, adaptation, best, "test")])})
    return pd.DataFrame(rows).set_index(["backbone", "method"])


def comparison_records(sweep: pd.DataFrame, best: pd.DataFrame) -> pd.DataFrame:
    """The four methods of the comparison from the lambda sweep: lambda = 0 and the selected lambda."""
    keep = sweep["lam"] == 0.0
    for (backbone, _), row in best.iterrows():
        keep |= (sweep["backbone"] == backbone) & (sweep["adaptation"] == row["adaptation"]) & \
                (sweep["lam"] == row["lam"])
    out = sweep[keep].copy()
    out["method"] = pd.Categorical(out["method"], categories=METHOD_ORDER, ordered=True)
    return out.sort_values(["backbone", "method", "seed", "split"], kind="stable").reset_index(drop=True)


def summarize_records(records: pd.DataFrame, *, by: Sequence[str], split: str = "test",
                      value_columns: Sequence[str] = REPORTED_METRICS) -> pd.DataFrame:
    """Mean, std and 95% CI over seeds of each metric (see :func:`fairlib.metrics.summarize_frame`)."""
    part = records[records["split"] == split]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # NaN (undefined) values are dropped and counted in *_n
        return fm.summarize_frame(part, by=list(by), value_columns=list(value_columns))


def comparison_summary(comparison: pd.DataFrame, *, metrics: Sequence[str] = REPORTED_METRICS) -> pd.DataFrame:
    """Test metrics of the four methods per backbone: mean and 95% CI over seeds, with the lambda used."""
    summary = summarize_records(comparison, by=["backbone", "method"], value_columns=metrics)
    lam = comparison[comparison["split"] == "test"].groupby(["backbone", "method"], observed=True)["lam"].first()
    summary.insert(0, "lam", lam.reindex(summary.index).to_numpy())
    return summary


def paired_improvement(records: pd.DataFrame, *, method: dict, baseline: dict, metric: str,
                       split: str = "test") -> dict:
    """How much fairer ``method`` is than ``baseline`` on ``metric``, per seed, summarised over seeds.

    Parameters
    ----------
    records : DataFrame
    method, baseline : dict
        Column filters selecting each side's runs (e.g. ``{"method": "FairLoRA", "rank": 8}``); each side must
        have one run per seed.
    metric : str
        Oriented so that a positive improvement is fairer/better (``LOWER_IS_BETTER`` metrics are negated).

    Returns
    -------
    dict
        :func:`fairlib.metrics.summarize_over_seeds` of the per-seed improvements, plus ``per_seed`` and the
        means of both sides.
    """
    def side(filters: dict) -> pd.Series:
        part = records[records["split"] == split]
        for column, value in filters.items():
            part = part[part[column] == value]
        if part["seed"].duplicated().any():
            raise ValueError(f"filters {filters} select more than one run per seed")
        return part.set_index("seed")[metric].astype(float)

    return fm.paired_over_seeds(side(method), side(baseline), higher_is_better=_oriented(metric) > 0)


def _verdict(summary: dict) -> str:
    if summary["n"] >= 2 and summary["ci_low"] > 0:
        return "reproduced"
    if summary["mean"] > 0:
        return "same direction, not significant"
    return "not reproduced"


_LABELS = {"min_group_f1": "min-group F1", "min_group_recall": "min-group recall", "f1_gap": "F1 gap",
           "equalized_odds_difference": "EOD", "accuracy": "accuracy", "worst_group_accuracy": "worst-group accuracy"}


def claim_rows(comparison: pd.DataFrame, ranks: pd.DataFrame, *, ranks_swept: Sequence[int]) -> list[dict]:
    """Paper-vs-reproduced rows (for :func:`fairlib.report.paper_vs_reproduced`), per backbone.

    ``ours`` is the mean per-seed improvement on test (positive = the claim's direction; gaps negated), with
    its std; the verdict is "reproduced" when the 95% CI of the improvement excludes 0, "same direction, not
    significant" when only the mean points the claim's way, else "not reproduced". The rank claim holds when
    FairLoRA at the largest rank is not significantly fairer than at the smallest; a second rank row compares
    FairLoRA at the smallest rank with LoRA at the largest ("reproduced" if significantly fairer, "no significant
    difference", or "not reproduced" if significantly less fair).
    """
    rows = []
    for backbone in comparison["backbone"].unique():
        comp = comparison[comparison["backbone"] == backbone]
        tag = f" [{backbone}]"
        for other in ("LoRA", "Fair FFT"):
            for metric in FAIRNESS_METRICS:
                s = paired_improvement(comp, method={"method": "FairLoRA"}, baseline={"method": other}, metric=metric)
                rows.append({"claim": f"FairLoRA fairer than {other}: {_LABELS[metric]} (improvement){tag}",
                             "paper": f"FairLoRA > {other}", "ours": s["mean"], "ours_std": s["std"],
                             "verdict": _verdict(s), "ci": (s["ci_low"], s["ci_high"]), "n": s["n"]})
        part = ranks[ranks["backbone"] == backbone]
        lo, hi = min(ranks_swept), max(ranks_swept)
        s = paired_improvement(part, method={"method": "FairLoRA", "rank": hi},
                               baseline={"method": "FairLoRA", "rank": lo}, metric="min_group_f1")
        holds = not (s["n"] >= 2 and s["ci_low"] > 0)
        rows.append({"claim": f"Higher rank not needed: FairLoRA min-group F1, rank {hi} minus rank {lo}{tag}",
                     "paper": "no gain from higher rank", "ours": s["mean"], "ours_std": s["std"],
                     "verdict": "reproduced" if holds else "not reproduced (higher rank fairer)",
                     "ci": (s["ci_low"], s["ci_high"]), "n": s["n"]})
        s = paired_improvement(part, method={"method": "FairLoRA", "rank": lo},
                               baseline={"method": "LoRA", "rank": hi}, metric="min_group_f1")
        if s["n"] >= 2 and s["ci_high"] < 0:
            verdict = "not reproduced (LoRA at the higher rank is fairer)"
        else:
            verdict = "reproduced" if s["n"] >= 2 and s["ci_low"] > 0 else "no significant difference"
        rows.append({"claim": f"FairLoRA at rank {lo} vs LoRA at rank {hi}: min-group F1 (improvement){tag}",
                     "paper": "FairLoRA at low rank >= LoRA at high rank", "ours": s["mean"], "ours_std": s["std"],
                     "verdict": verdict, "ci": (s["ci_low"], s["ci_high"]), "n": s["n"]})
    return rows


# -- figures ---------------------------------------------------------------------------------------------------
_COLOURS = {"lora": "tab:blue", "full": "tab:orange", "LoRA": "tab:blue", "FairLoRA": "tab:green",
            "FFT": "tab:orange", "Fair FFT": "tab:red"}


def _errorbar(ax: Any, x: np.ndarray, summary: pd.DataFrame, metric: str, **kwargs: Any) -> None:
    mean = summary[f"{metric}_mean"].to_numpy(dtype=float)
    low = np.nan_to_num(mean - summary[f"{metric}_ci_low"].to_numpy(dtype=float))
    high = np.nan_to_num(summary[f"{metric}_ci_high"].to_numpy(dtype=float) - mean)
    ax.errorbar(x, mean, yerr=[low, high], capsize=3, marker="o", **kwargs)


def plot_lambda_sweep(records: pd.DataFrame, *, metrics: Sequence[str] = (*FAIRNESS_METRICS, "accuracy"),
                      selection_metric: str = "min_group_f1", best: pd.DataFrame | None = None,
                      title: str = "") -> Any:
    """Metric vs lambda (log axis; lambda = 0 drawn at the left edge), one line per adaptation, 95% CI bars.

    One row of panels per backbone: the test metrics, then the validation ``selection_metric`` that chooses
    lambda (the chosen lambda circled when ``best`` is given).
    """
    import matplotlib.pyplot as plt

    backbones = list(dict.fromkeys(records["backbone"]))
    lams = np.sort(records["lam"].unique())
    positive = lams[lams > 0]
    zero_at = positive.min() / 10 if len(positive) else 1.0
    panels = [(m, "test") for m in metrics] + [(selection_metric, "val")]
    fig, axes = plt.subplots(len(backbones), len(panels), figsize=(2.6 * len(panels), 2.5 * len(backbones) + 0.6),
                             squeeze=False)
    for i, backbone in enumerate(backbones):
        part = records[records["backbone"] == backbone]
        for j, (metric, split) in enumerate(panels):
            ax = axes[i, j]
            summary = summarize_records(part, by=["adaptation", "lam"], split=split, value_columns=[metric])
            for adaptation, label, dodge in (("lora", "LoRA / FairLoRA", 0.92), ("full", "FFT / Fair FFT", 1.08)):
                if adaptation not in summary.index.get_level_values(0):
                    continue
                s = summary.loc[adaptation]
                # a small multiplicative offset keeps the two lines' error bars apart on the log axis
                x = np.where(s.index.to_numpy() > 0, s.index.to_numpy(), zero_at) * dodge
                _errorbar(ax, x, s, metric, color=_COLOURS[adaptation], label=label, markersize=4)
                if best is not None and split == "val":
                    table = best.reset_index()
                    chosen = table[(table["backbone"] == backbone) & (table["adaptation"] == adaptation)]["lam"]
                    for lam in chosen:
                        ax.plot([lam * dodge], [s.loc[lam, f"{metric}_mean"]], "o", ms=11, mfc="none",
                                color=_COLOURS[adaptation])
            ax.set_xscale("log")
            ax.set_ylim(-0.03, 1.03)  # every metric here lies in [0, 1]; wide t-intervals of few seeds are cut
            ticks = [zero_at, *positive]
            ax.set_xticks(ticks, ["0", *[f"{v:g}" for v in positive]], fontsize=7)
            ax.minorticks_off()
            arrow = " (lower = fairer)" if metric in LOWER_IS_BETTER else ""
            ax.set_title(f"{_LABELS.get(metric, metric)}{arrow}\n[{split}]", fontsize=8)
            ax.set_xlabel("lambda", fontsize=8)
            ax.tick_params(labelsize=7)
            if j == 0:
                ax.set_ylabel(backbone, fontsize=8)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_rank_sweep(records: pd.DataFrame, comparison: pd.DataFrame, *,
                    metrics: Sequence[str] = ("min_group_f1", "equalized_odds_difference", "accuracy"),
                    title: str = "") -> Any:
    """Metric vs LoRA rank for LoRA and FairLoRA (test, 95% CI); FFT and Fair FFT as horizontal references."""
    import matplotlib.pyplot as plt

    backbones = list(dict.fromkeys(records["backbone"]))
    fig, axes = plt.subplots(len(backbones), len(metrics), figsize=(3.2 * len(metrics), 2.6 * len(backbones) + 0.6),
                             squeeze=False)
    for i, backbone in enumerate(backbones):
        part = records[records["backbone"] == backbone]
        ref = summarize_records(comparison[comparison["backbone"] == backbone], by=["method"], value_columns=metrics)
        for j, metric in enumerate(metrics):
            ax = axes[i, j]
            summary = summarize_records(part, by=["method", "rank"], value_columns=[metric])
            for method, dodge in (("LoRA", 0.94), ("FairLoRA", 1.06)):
                if method in summary.index.get_level_values(0):
                    s = summary.loc[method]
                    _errorbar(ax, s.index.to_numpy() * dodge, s, metric, color=_COLOURS[method], label=method,
                              markersize=4)
            for method in ("FFT", "Fair FFT"):
                if method in ref.index:
                    ax.axhline(ref.loc[method, f"{metric}_mean"], color=_COLOURS[method], ls="--", lw=1, label=method)
            ax.set_xscale("log", base=2)
            ax.set_ylim(-0.03, 1.03)
            ranks = sorted(summary.index.get_level_values("rank").unique())
            ax.set_xticks(ranks, [str(r) for r in ranks])
            ax.minorticks_off()
            arrow = " (lower = fairer)" if metric in LOWER_IS_BETTER else ""
            ax.set_title(f"{_LABELS.get(metric, metric)}{arrow}", fontsize=8)
            ax.set_xlabel("LoRA rank", fontsize=8)
            ax.tick_params(labelsize=7)
            if j == 0:
                ax.set_ylabel(backbone, fontsize=8)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_group_f1(comparison: pd.DataFrame, *, group_names: Sequence[str], title: str = "") -> Any:
    """Per-group test F1 of each method (bars: mean over seeds, whiskers: 95% CI), one panel per backbone."""
    import matplotlib.pyplot as plt

    backbones = list(dict.fromkeys(comparison["backbone"]))
    columns = [f"f1[{g}]" for g in group_names]
    fig, axes = plt.subplots(1, len(backbones), figsize=(4.8 * len(backbones), 3.2), squeeze=False)
    width = 0.8 / len(group_names)
    for ax, backbone in zip(axes[0], backbones):
        summary = summarize_records(comparison[comparison["backbone"] == backbone], by=["method"],
                                    value_columns=columns)
        methods = [m for m in METHOD_ORDER if m in summary.index]
        x = np.arange(len(methods))
        for k, (group, column) in enumerate(zip(group_names, columns)):
            s = summary.loc[methods]
            mean = s[f"{column}_mean"].to_numpy(dtype=float)
            err = [np.nan_to_num(mean - s[f"{column}_ci_low"].to_numpy(dtype=float)),
                   np.nan_to_num(s[f"{column}_ci_high"].to_numpy(dtype=float) - mean)]
            ax.bar(x + (k - (len(group_names) - 1) / 2) * width, mean, width, yerr=err, capsize=3,
                   label=f"group: {group}")
        ax.set_xticks(x, methods, fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("test F1", fontsize=8)
        ax.set_title(backbone, fontsize=8)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
