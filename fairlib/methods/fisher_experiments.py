"""The experiments of notebook 04: Zhang & Zhou's Fisher-neutralised weighted SVD on Adult and on images.

Protocol (the paper's Section 3.2 and 4.1, and our reading where it is silent):

* **Pre-trained model.** Adult: a ReLU MLP (34 inputs, ``hidden`` units per hidden layer, 2 outputs) trained
  on 60% of the rows (one model per configuration: plain ``f_B``, fair ``f_F`` with a DP or EO penalty, deeper
  MLP-3/4/5). Images: a frozen backbone with a linear head trained on a pre-training share of the images.
* **New task.** The remaining rows/images, with the *same* label and sensitive attribute: the paper's "new
  task" on Adult is the held-out 40% of the same income prediction (it names no other target). Every run
  ``r`` re-splits that pool into train / validation / test (Table 1's proportions) with seed ``r``.
* **Methods.** TL fine-tunes the last layer; f+SVD replaces it by its plain SVD factors ``A = U_r S_r``,
  ``B = V_r^T`` (plus the bias) and fine-tunes those; OURS uses the Fisher-neutralised weighted SVD
  ``A = I_N^-1 U_r S_r`` (:mod:`fairlib.methods.fisher_svd`, Fisher on the run's training split); Retrain
  trains all 742 parameters of the MLP from the pre-trained weights, optionally with a DP or EO penalty
  (:class:`~fairlib.methods.fair_penalties.FairnessPenalty`). A control, "OURS (shuffled I_N)", uses the same
  importances assigned to random hidden units.
* **Speed.** Head-only methods train on the frozen features of the pool, computed once per pre-trained model
  (images: once per backbone and dataset, on disk, :class:`~fairlib.methods.feature_cache.FeatureCache`), with
  :func:`~fairlib.methods.feature_cache.fit_on_features`. Every run is cached by :class:`fairlib.train.RunStore`
  under its full specification.
* **Metrics** (the paper's): error = 100 - weighted F1 (%), ``Delta_DP`` = |difference of selection rates|,
  ``Delta_EO`` = ``Delta_TPR + Delta_FPR`` (a sum, :func:`fairlib.metrics.equalized_odds_sum`).

Records are long tables: one row per run and split with :data:`METRICS`, the per-group selection rate, TPR and
FPR (``sel0, sel1, tpr0, ...``; group codes 0 and 1) and, for head methods, the same metrics of the head before
fine-tuning (``init_*``) and the largest logit difference to the pre-trained head before fine-tuning.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from .. import metrics as fm
from ..claims import CLAIMS
from ..config._fisher import FISHER_STAND_IN_VIT
from ..data import GroupedDataset, make_splits
from .fair_penalties import FairnessPenalty
from .feature_cache import FeatureCache, fit_on_features, predict_on_features
from .fisher_svd import FactorizedLinear, neutralized_importance

__all__ = [
    "METRICS", "HEAD_METHODS", "REVIEW_METHODS", "METHOD_ORDER", "IMAGE_TASKS", "PAPER_TABLE2", "PAPER_TABLE3",
    "PAPER_TABLE4", "VERSION", "NEGLIGIBLE", "evaluate", "two_way_split", "Pretrained", "NewTask", "AdultStudy",
    "ImageStudy", "stand_in_variant", "BackboneUnavailable", "require", "RECORD_KEY", "dedupe", "select",
    "summarize", "fig4_summary", "table2", "table3", "table4", "alpha_summary", "review_summary", "review_selected", "rank_summary",
    "weight_gaps", "fisher_profile", "positive_representations", "pca_2d", "group_separability", "paper_rows",
    "claim_rows", "CLAIM_NAMES", "plot_fig1", "plot_fig3", "plot_fig4", "plot_fig5", "plot_review_lr",
    "plot_review_rank", "format_mean_std",
]

#: Bump when a change makes stored runs stale (it is part of every RunStore key).
VERSION = 3
#: The paper's three metrics (error in %, the two gaps as fractions).
METRICS = ("error", "dp", "eo")
#: Methods that train only the last layer (or its factors) on cached features.
HEAD_METHODS = ("TL", "f+SVD", "OURS", "OURS (shuffled I_N)")
#: Methods of the reviewer's optimiser x learning-rate sweep.
REVIEW_METHODS = ("TL", "f+SVD", "OURS")
METHOD_ORDER = ("pre-trained", "TL", "f+SVD", "OURS", "OURS (shuffled I_N)", "Retrain", "Retrain+EO", "Retrain+DP")
_LABELS = {"error": "error (%) = 100 - weighted F1", "dp": "Delta_DP", "eo": "Delta_EO = Delta_TPR + Delta_FPR"}
_COLOURS = {"pre-trained": "0.45", "TL": "tab:blue", "f+SVD": "tab:orange", "OURS": "tab:green",
            "OURS (shuffled I_N)": "tab:purple", "Retrain": "tab:brown", "Retrain+EO": "tab:red",
            "Retrain+DP": "tab:pink"}


# ------------------------------------------------------------------------------------------------ the paper
#: Table 2: (constraint, intensity) -> error pre-train, error fine-tune (mean, std), bias pre-train, bias
#: fine-tune (mean, std); the bias is Delta_EO for the EO rows and Delta_DP for the DP rows.
PAPER_TABLE2 = {
    ("EO", 0.1): (16.835, (16.676, 0.313), 0.068, (0.206, 0.024)),
    ("EO", 0.5): (17.469, (17.168, 0.941), 0.012, (0.183, 0.037)),
    ("EO", 0.9): (18.744, (17.343, 0.973), 0.008, (0.186, 0.017)),
    ("DP", 0.1): (17.332, (17.479, 0.068), 0.125, (0.171, 0.009)),
    ("DP", 0.5): (17.489, (17.773, 0.034), 0.047, (0.173, 0.023)),
    ("DP", 0.9): (20.160, (17.071, 0.036), 0.031, (0.172, 0.018)),
}
#: Table 3: row -> (error, Delta_EO, Delta_DP), each (mean, std); the pre-trained model has no std.
PAPER_TABLE3 = {
    ("pre-trained", 0.0): ((16.165, None), (0.223, None), (0.192, None)),
    ("Retrain+EO", 0.1): ((16.763, 0.223), (0.214, 0.027), (0.196, 0.027)),
    ("Retrain+EO", 0.5): ((17.440, 0.676), (0.150, 0.040), (0.183, 0.011)),
    ("Retrain+EO", 0.9): ((18.810, 0.588), (0.147, 0.031), (0.184, 0.032)),
    ("Retrain+DP", 0.1): ((16.752, 0.263), (0.206, 0.035), (0.174, 0.026)),
    ("Retrain+DP", 0.5): ((17.659, 0.375), (0.201, 0.024), (0.168, 0.023)),
    ("Retrain+DP", 0.9): ((18.472, 0.228), (0.204, 0.023), (0.143, 0.021)),
    ("OURS", 0.0): ((15.829, 0.340), (0.197, 0.011), (0.180, 0.022)),
}
#: Table 4: (dataset, model) -> (error, Delta_EO, Delta_DP), each (mean, std).
PAPER_TABLE4 = {
    ("Adult", "MLP-3"): ((16.678, 0.681), (0.185, 0.023), (0.162, 0.027)),
    ("Adult", "MLP-4"): ((16.237, 0.456), (0.173, 0.029), (0.170, 0.022)),
    ("Adult", "MLP-5"): ((16.166, 0.337), (0.179, 0.012), (0.166, 0.014)),
    ("LFW+a", "ResNet-50"): ((10.634, 0.241), (0.218, 0.081), (0.080, 0.032)),
    ("LFW+a", "DenseNet"): ((9.775, 0.131), (0.232, 0.054), (0.073, 0.009)),
    ("CelebA", "ResNet-50"): ((17.582, 0.226), (0.243, 0.061), (0.182, 0.005)),
    ("CelebA", "DenseNet"): ((18.438, 0.174), (0.201, 0.028), (0.169, 0.009)),
}


# -------------------------------------------------------------------------------------------------- metrics
def evaluate(y: np.ndarray, y_pred: np.ndarray, s: np.ndarray) -> dict:
    """The paper's metrics of one prediction, plus the per-group rates they are made of.

    Returns
    -------
    dict
        ``error`` (100 - weighted F1, %), ``dp`` (|selection-rate gap|), ``eo`` (|TPR gap| + |FPR gap|),
        ``accuracy``, and ``sel{g}``, ``tpr{g}``, ``fpr{g}`` for groups ``g = 0, 1`` (NaN where undefined).
    """
    y, y_pred, s = (np.asarray(a).astype(np.int64) for a in (y, y_pred, s))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # an undefined rate is NaN, recorded as such
        out = {"error": fm.weighted_f1_error(y, y_pred),
               "dp": float(fm.demographic_parity_difference(y, y_pred, sensitive_features=s, group_names=(0, 1))),
               "eo": float(fm.equalized_odds_sum(y, y_pred, sensitive_features=s, group_names=(0, 1))),
               "accuracy": float((y == y_pred).mean()) if len(y) else float("nan")}
    rates = fm.binary_group_rates(y, y_pred, sensitive_features=s, num_groups=2)
    for g in (0, 1):
        out[f"sel{g}"] = float(rates["selection_rate"][g])
        out[f"tpr{g}"] = float(rates["tpr"][g])
        out[f"fpr{g}"] = float(rates["fpr"][g])
    return out


def _metrics_of(model: nn.Module, data: GroupedDataset) -> dict:
    p = predict_on_features(model, data)
    return evaluate(p.y, p.y_pred, p.s)


# ---------------------------------------------------------------------------------------------- the runner
def two_way_split(data: GroupedDataset, *, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a stratified (label x group) split into a ``fraction`` share and the rest (every example
    lands in exactly one part)."""
    index = dataclasses.replace(data, x=np.arange(len(data)), info={})
    parts = make_splits(index, fractions=(fraction, 1 - fraction, 0.0), seed=seed)
    rest = np.sort(np.concatenate([parts.val.x, parts.test.x]))  # rounding may leave a row in the empty third
    return np.asarray(parts.train.x), rest


@dataclass
class Pretrained:
    """A pre-trained model and the frozen features of its new task's pool.

    Attributes
    ----------
    name : str
        ``"f_B"``, ``"f_F (DP, 0.9)"``, ``"MLP-3"``, or the image backbone's name.
    spec : dict
        Everything that determines the model (part of every fine-tuning run's key).
    model : fairlib.models.Classifier
        ``head(backbone(x))``; ``head`` is the ``nn.Linear`` the methods start from.
    features : GroupedDataset
        The pool of the new task with ``x`` = ``model.features(x)`` (the head's input), in pool order.
    info : dict
        The pre-training record (epochs' losses, seconds, parameter counts).
    """

    name: str
    spec: dict
    model: nn.Module
    features: GroupedDataset
    info: dict = field(default_factory=dict)


class NewTask:
    """One dataset's new task: the pool of examples, its per-run splits, and every method, cached.

    Parameters
    ----------
    name : str
        Short name in records and titles (``"Adult"``, ``"CelebA-like stand-in"``).
    pool : GroupedDataset
        The new task's examples (raw inputs; only Retrain reads them, head methods read the features).
    fractions : tuple of three floats
        Train / validation / test shares of every run's split (stratified by label and group).
    spec : dict
        Identity of the pool (data, pre-training split) for the run keys.
    cfg : FisherSVDConfig
    store : fairlib.train.RunStore
    stand_in : bool
        The data or backbone stands in for the paper's (named in titles).
    """

    def __init__(self, *, name: str, pool: GroupedDataset, fractions: Sequence[float], spec: dict, cfg: Any,
                 store: Any, stand_in: bool):
        self.name, self.pool, self.fractions, self.spec = name, pool, tuple(fractions), spec
        self.cfg, self.store, self.stand_in = cfg, store, stand_in
        self._splits: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.trained_now = 0
        self.seconds_now = 0.0

    # -- data ---------------------------------------------------------------------------------------------
    def split(self, run: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pool indices of run ``run``'s train, validation and test parts (stratified, seed ``run``)."""
        if run not in self._splits:
            index = dataclasses.replace(self.pool, x=np.arange(len(self.pool)), info={})
            parts = make_splits(index, fractions=self.fractions, seed=int(run))
            self._splits[run] = (parts.train.x, parts.val.x, parts.test.x)
        return self._splits[run]

    def parts(self, data: GroupedDataset, run: int) -> tuple[GroupedDataset, GroupedDataset, GroupedDataset]:
        """``data`` (the pool, or its features) cut into run ``run``'s three parts."""
        if len(data) != len(self.pool):
            raise ValueError(f"{self.name}: data has {len(data)} rows, the pool {len(self.pool)}")
        return tuple(data.subset(i) for i in self.split(run))

    # -- training configurations --------------------------------------------------------------------------
    def train_config(self, *, run: int, lr: float | None = None, optimizer: str | None = None) -> Any:
        from ..train import TrainConfig

        c = self.cfg
        return TrainConfig(epochs=c.finetune_epochs, lr=c.finetune_lr if lr is None else lr, batch_size=c.batch_size,
                           optimizer=c.optimizer if optimizer is None else optimizer, seed=int(run))

    def _base(self, pre: Pretrained, *, method: str, run: int, rank: int = 0, alpha: float = float("nan"),
              penalty: str = "", intensity: float = 0.0, lr: float = float("nan"), optimizer: str = "") -> dict:
        return {"task": self.name, "pretrained": pre.name, "method": method, "rank": int(rank), "alpha": float(alpha),
                "penalty": penalty, "intensity": float(intensity), "optimizer": optimizer, "lr": float(lr),
                "run": int(run)}

    # -- the pre-trained model as it is -------------------------------------------------------------------
    def pretrained_records(self, pre: Pretrained, *, run: int) -> list[dict]:
        """The pre-trained model evaluated on run ``run``'s validation and test parts (nothing trains)."""
        _, val, test = self.parts(pre.features, run)
        base = self._base(pre, method="pre-trained", run=run)
        params = sum(p.numel() for p in pre.model.parameters())
        return [{**base, "split": split, **_metrics_of(pre.model.head, part), "trainable_parameters": 0,
                 "total_parameters": params, "train_seconds": 0.0, "reused": True}
                for split, part in (("val", val), ("test", test))]

    # -- head methods -------------------------------------------------------------------------------------
    def build_head(self, pre: Pretrained, *, method: str, run: int, rank: int, alpha: float = 0.5
                   ) -> tuple[nn.Module, dict]:
        """The trainable head of ``method`` before fine-tuning, and its Fisher quantities (OURS).

        TL: a copy of the pre-trained ``nn.Linear``. f+SVD: :meth:`FactorizedLinear.from_linear` (plain SVD).
        OURS: per-group empirical Fisher diagonals of the pre-trained head on run ``run``'s training features,
        row importances, neutralisation with ``alpha``, weighted SVD. The shuffled control permutes ``I_N``
        over the hidden units with a generator seeded by ``run``.
        """
        layer = pre.model.head
        extra: dict = {}
        if method == "TL":
            head = copy.deepcopy(layer)
        elif method == "f+SVD":
            head = FactorizedLinear.from_linear(layer, rank=rank)
        elif method in ("OURS", "OURS (shuffled I_N)"):
            train, _, _ = self.parts(pre.features, run)
            steps = neutralized_importance(layer, torch.as_tensor(train.x), torch.as_tensor(train.y),
                                           groups=torch.as_tensor(train.s), num_groups=2, alpha=alpha)
            fisher, per_group, importance = steps["fisher"], steps["per_group"], steps["importance"]
            if method != "OURS":
                order = torch.randperm(len(importance), generator=torch.Generator().manual_seed(int(run)))
                importance = importance[order]
            head = FactorizedLinear.from_linear(layer, rank=rank, importance=importance.float())
            extra = {"fisher_rows": fisher.sum(dim=-2).tolist(), "importance_per_group": per_group.tolist(),
                     "importance": importance.tolist()}
        else:
            raise ValueError(f"method={method!r}; valid head methods: {HEAD_METHODS}")
        head.requires_grad_(True)
        return head, extra

    def head_spec(self, pre: Pretrained, *, method: str, run: int, rank: int, alpha: float, config: Any) -> dict:
        """Everything that determines a head run (its RunStore key); irrelevant fields normalised."""
        return {"notebook": "04", "version": VERSION, "task": self.spec, "fractions": list(self.fractions),
                "pretrained": pre.spec, "method": method, "rank": 0 if method == "TL" else int(rank),
                "alpha": float(alpha) if method.startswith("OURS") else None, "train": asdict(config)}

    def _train_head(self, pre: Pretrained, *, method: str, run: int, rank: int, alpha: float, config: Any
                    ) -> tuple[dict, dict]:
        from ..models import count_parameters

        train, val, test = self.parts(pre.features, run)
        head, extra = self.build_head(pre, method=method, run=run, rank=rank, alpha=alpha)
        result: dict = {"trainable_parameters": count_parameters(head)["trainable"], **extra}
        with torch.no_grad():
            x = torch.as_tensor(test.x)
            new, old = head(x), pre.model.head(x)
            result["init_logit_gap"] = float((new - old).abs().max())
            # Softmax ignores a shift common to both logits: the decision depends on z1 - z0 only.
            result["init_margin_gap"] = float(((new[:, 1] - new[:, 0]) - (old[:, 1] - old[:, 0])).abs().max())
        # Before fine-tuning, on test only: at full rank it is the pre-trained model (the gap says so), below
        # full rank it shows what the truncation alone does.
        result["init_test"] = _metrics_of(head, test)
        start = time.perf_counter()
        history = fit_on_features(head, train, config=config, desc=f"{method} run {run}", progress=False)
        result["train_seconds"] = time.perf_counter() - start
        result["epoch_losses"] = history.epoch_losses
        for split, part in (("val", val), ("test", test)):
            result[split] = _metrics_of(head, part)
        return result, {k: v.detach().clone() for k, v in head.state_dict().items()}

    def _head_result(self, pre: Pretrained, *, method: str, run: int, rank: int | None = None, alpha: float = 0.5,
                     lr: float | None = None, optimizer: str | None = None) -> tuple[dict, dict, dict, bool]:
        rank = self.cfg.rank if rank is None else rank
        config = self.train_config(run=run, lr=lr, optimizer=optimizer)
        spec = self.head_spec(pre, method=method, run=run, rank=rank, alpha=alpha, config=config)
        fresh = []

        def train() -> tuple[dict, dict]:
            fresh.append(True)
            return self._train_head(pre, method=method, run=run, rank=rank, alpha=alpha, config=config)

        result, tensors = self.store.run(spec, train)
        if fresh:
            self.trained_now += 1
            self.seconds_now += result["train_seconds"]
        return spec, result, tensors, bool(fresh)

    def finetune(self, pre: Pretrained, *, method: str, run: int, rank: int | None = None, alpha: float = 0.5,
                 lr: float | None = None, optimizer: str | None = None) -> list[dict]:
        """Train (or reuse) one head run; two records (validation, test).

        Parameters
        ----------
        pre : Pretrained
        method : {"TL", "f+SVD", "OURS", "OURS (shuffled I_N)"}
        run : int
            Split and training seed.
        rank : int, optional
            Default ``cfg.rank`` (ignored by TL).
        alpha : float
            Neutralisation weight (OURS and its control).
        lr, optimizer : optional
            Default ``cfg.finetune_lr`` and ``cfg.optimizer``.
        """
        spec, result, _, fresh = self._head_result(pre, method=method, run=run, rank=rank, alpha=alpha, lr=lr,
                                                   optimizer=optimizer)
        base = self._base(pre, method=method, run=run, rank=spec["rank"],
                          alpha=alpha if method.startswith("OURS") else float("nan"),
                          lr=spec["train"]["lr"], optimizer=spec["train"]["optimizer"])
        rows = []
        for split in ("val", "test"):
            init = {f"init_{k}": result["init_test"][k] if split == "test" else float("nan")
                    for k in (*METRICS, "accuracy")}
            rows.append({**base, "split": split, **result[split], **init,
                         "init_logit_gap": result["init_logit_gap"], "init_margin_gap": result["init_margin_gap"],
                         "trainable_parameters": result["trainable_parameters"],
                         "train_seconds": result["train_seconds"], "reused": not fresh})
        return rows

    def run_details(self, pre: Pretrained, *, method: str, run: int, rank: int | None = None, alpha: float = 0.5,
                    lr: float | None = None, optimizer: str | None = None) -> dict:
        """The stored result of a head run (Fisher rows and importances for OURS, epoch losses)."""
        return self._head_result(pre, method=method, run=run, rank=rank, alpha=alpha, lr=lr, optimizer=optimizer)[1]

    def trained_head(self, pre: Pretrained, *, method: str, run: int, rank: int | None = None, alpha: float = 0.5,
                     lr: float | None = None, optimizer: str | None = None) -> nn.Module:
        """The fine-tuned head of a (stored) run, rebuilt and loaded with its trained weights."""
        _, _, tensors, _ = self._head_result(pre, method=method, run=run, rank=rank, alpha=alpha, lr=lr,
                                             optimizer=optimizer)
        # The stored tensors define the head completely (no need to recompute the Fisher to rebuild it).
        if "A" in tensors:
            head = FactorizedLinear(tensors["A"], tensors["B"], tensors.get("bias"))
        else:
            head = nn.Linear(tensors["weight"].shape[1], tensors["weight"].shape[0], bias="bias" in tensors)
            head.load_state_dict(tensors)
        return head.eval().requires_grad_(False)

    # -- retraining the whole MLP -------------------------------------------------------------------------
    def retrain(self, pre: Pretrained, *, run: int, penalty: str = "", intensity: float = 0.0) -> list[dict]:
        """All parameters of the pre-trained MLP trained on run ``run`` (from its pre-trained weights),
        with a ``penalty`` ("dp" or "eo") of ``intensity`` or none ("")."""
        from ..models import count_parameters

        if penalty not in ("", "dp", "eo"):
            raise ValueError(f"penalty={penalty!r}; valid: '', 'dp', 'eo'")
        config = self.train_config(run=run)
        spec = {"notebook": "04", "version": VERSION, "task": self.spec, "fractions": list(self.fractions),
                "pretrained": pre.spec, "method": "retrain", "penalty": penalty or None,
                "intensity": float(intensity) if penalty else 0.0, "train": asdict(config)}
        fresh = []

        def train() -> tuple[dict, dict]:
            fresh.append(True)
            model = copy.deepcopy(pre.model).requires_grad_(True)
            train_part, val, test = self.parts(self.pool, run)
            terms = [FairnessPenalty(kind=penalty, intensity=float(intensity))] if penalty else []
            start = time.perf_counter()
            history = fit_on_features(model, train_part, config=config, loss_terms=terms, progress=False)
            result = {"trainable_parameters": count_parameters(model)["trainable"],
                      "train_seconds": time.perf_counter() - start, "epoch_losses": history.epoch_losses}
            for split, part in (("val", val), ("test", test)):
                result[split] = _metrics_of(model, part)
            return result, None

        result, _ = self.store.run(spec, train)
        if fresh:
            self.trained_now += 1
            self.seconds_now += result["train_seconds"]
        method = "Retrain" + (f"+{penalty.upper()}" if penalty else "")
        base = self._base(pre, method=method, run=run, penalty=penalty, intensity=intensity if penalty else 0.0,
                          lr=config.lr, optimizer=config.optimizer)
        return [{**base, "split": split, **result[split], "trainable_parameters": result["trainable_parameters"],
                 "train_seconds": result["train_seconds"], "reused": not fresh} for split in ("val", "test")]


def _store(profile: Any, store: Any) -> Any:
    from ..train import RunStore

    return store if store is not None else RunStore(f"04-{profile.name}")


class AdultStudy:
    """Adult at the paper's protocol: one 60/40 split, pre-trained MLPs (cached), the new task's runs.

    Parameters
    ----------
    profile : fairlib.config.Profile
        Reads ``profile.fisher``.
    store : RunStore, optional
        Default ``RunStore("04-<profile>")``.

    Attributes
    ----------
    task : NewTask
        The new task (the 40%), on which every method runs.
    pretrain_data : GroupedDataset
        The 60% the MLPs pre-train on (standardised with its own statistics; the pool with the same ones).
    """

    def __init__(self, profile: Any, *, store: Any = None):
        from ..data import Splits, load_adult, standardize

        self.profile, self.cfg = profile, profile.fisher
        if self.cfg.num_threads > 0:
            torch.set_num_threads(self.cfg.num_threads)
        self.store = _store(profile, store)
        data = load_adult(sensitive="sex", verbose=False)
        self.source = data.info["source"]
        c = self.cfg
        first, rest = two_way_split(data, fraction=c.pretrain_fraction, seed=c.split_seed)
        # The pool is scaled with the pre-training statistics: the pre-trained model's own input pipeline.
        pool = data.subset(rest)
        scaled = standardize(Splits(train=data.subset(first), val=pool, test=pool))
        self.pretrain_data = scaled.train
        spec = {"dataset": "adult", "sensitive": "sex", "rows": len(data), "pretrain_fraction": c.pretrain_fraction,
                "split_seed": c.split_seed}
        self.task = NewTask(name="Adult", pool=scaled.val, fractions=c.new_task_fractions, spec=spec, cfg=c,
                            store=self.store, stand_in=False)
        self._models: dict[str, Pretrained] = {}

    @staticmethod
    def name_of(*, depth: int = 2, penalty: str = "", intensity: float = 0.0) -> str:
        """``"f_B"`` (two layers, no penalty), ``"f_F (EO, 0.1)"``, ``"MLP-3"``."""
        if penalty:
            return f"f_F ({penalty.upper()}, {intensity:g})"
        return "f_B" if depth == 2 else f"MLP-{depth}"

    def pretrained(self, *, depth: int = 2, penalty: str = "", intensity: float = 0.0) -> Pretrained:
        """The MLP with ``depth`` linear layers pre-trained on the 60% (with a DP/EO penalty or none).

        ``depth = 2`` is the paper's two-layer MLP (34 -> hidden -> 2). Trained once and cached (RunStore);
        later calls rebuild it from the stored weights.
        """
        from ..models import count_parameters, mlp_classifier
        from ..train import TrainConfig, seed_everything

        name = self.name_of(depth=depth, penalty=penalty, intensity=intensity)
        if name in self._models:
            return self._models[name]
        c = self.cfg
        config = TrainConfig(epochs=c.pretrain_epochs, lr=c.pretrain_lr, batch_size=c.pretrain_batch_size,
                             seed=c.split_seed)
        hidden = (c.hidden,) * (depth - 1)
        spec = {"notebook": "04", "version": VERSION, "what": "adult-mlp", "data": self.task.spec,
                "in_features": int(self.pretrain_data.x.shape[1]), "hidden": list(hidden),
                "penalty": penalty or None, "intensity": float(intensity) if penalty else 0.0,
                "train": asdict(config)}

        def build() -> nn.Module:
            seed_everything(c.split_seed)
            return mlp_classifier(self.pretrain_data.x.shape[1], hidden=hidden)

        def train() -> tuple[dict, dict]:
            model = build()
            terms = [FairnessPenalty(kind=penalty, intensity=float(intensity))] if penalty else []
            history = fit_on_features(model, self.pretrain_data, config=config, loss_terms=terms,
                                      desc=f"pre-train {name}", progress=False)
            record = {"epoch_losses": history.epoch_losses, "seconds": history.seconds,
                      "parameters": count_parameters(model)["total"],
                      "pretrain_data": _metrics_of(model, self.pretrain_data)}
            return record, model.state_dict()

        record, tensors = self.store.run(spec, train)
        model = build()
        model.load_state_dict(tensors)
        model.eval().requires_grad_(False)
        with torch.no_grad():
            x = model.features(torch.as_tensor(self.task.pool.x)).numpy()
        features = dataclasses.replace(self.task.pool, x=x)
        self._models[name] = Pretrained(name=name, spec=spec, model=model, features=features, info=record)
        return self._models[name]


# ------------------------------------------------------------------------------------------------- images
class BackboneUnavailable(RuntimeError):
    """A Table 4 backbone cannot be built here (e.g. DenseNet needs timm, which does not import)."""


@dataclass(frozen=True)
class ImageTask:
    """An image task of the paper (or its stand-in): how to load it and how to split its new task."""

    key: str
    title: str
    paper_name: str | None
    fractions: tuple[float, float, float] | None  # None: FisherSVDConfig.image_fractions


#: The image tasks: the stand-in, and the paper's two (Table 1's proportions for the new task's parts).
IMAGE_TASKS = {
    "celeba_like": ImageTask("celeba_like", "CelebA-like stand-in", None, None),
    "celeba": ImageTask("celeba", "CelebA (WavyHair, sensitive Male)", "CelebA",
                        (194599 / 206599, 4000 / 206599, 8000 / 206599)),
    "lfwa": ImageTask("lfwa", "LFW+a (gender, sensitive HeavyMakeup)", "LFW+a",
                      (6885 / 13143, 1000 / 13143, 5258 / 13143)),
}
_IMAGENET = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


def _flat_pool(output: Any, inputs: Any) -> torch.Tensor:
    """ResNet's globally pooled map ``(n, c, 1, 1)`` as ``(n, c)``; timm models already return ``(n, c)``."""
    pooled = getattr(output, "pooler_output", output)
    return pooled.flatten(1)


def _load_image_data(task: ImageTask, cfg: Any) -> GroupedDataset:
    if task.key == "celeba_like":
        from ..data import celeba_like

        return celeba_like(n=cfg.image_n, seed=cfg.split_seed)
    if task.key == "celeba":
        from ..data import load_celeba

        return load_celeba(target="Wavy_Hair", sensitive="Male", verbose=False)
    from ..data import load_lfwa

    return load_lfwa(target="Male", sensitive="Heavy_Makeup", verbose=False)


def require(profile: Any) -> None:
    """Fail fast, before any training, when the profile's image data or checkpoints are missing.

    Raises
    ------
    FileNotFoundError
        Naming every missing dataset or checkpoint, where it was looked for and how to get it.
    """
    from .._plan import require_section

    require_section(profile, "fisher", readers="Datasets are read by fairlib.data.load_celeba / load_lfwa "
                                               "(see data/README.md); checkpoints by fairlib.models.load_backbone.")


def stand_in_variant(profile: Any, name: str) -> Any:
    """The TinyViTSpec of a stand-in backbone name.

    ``"stand-in-vit"`` is the profile's stand-in ViT (Fig. 4). Table 4's three share one pre-training budget
    (``variant_pretrain_images`` x ``variant_pretrain_epochs``) so that only the architecture differs:
    ``"stand-in-vit-reference"`` (the stand-in's architecture), ``"-deeper"`` (twice the layers) and
    ``"-wider"`` (twice the hidden and intermediate sizes).
    """
    base, cfg = profile.stand_in_vit, profile.fisher
    if name == FISHER_STAND_IN_VIT:
        return base
    reference = dataclasses.replace(base, pretrain_images=cfg.variant_pretrain_images,
                                    pretrain_epochs=cfg.variant_pretrain_epochs)
    if name == "stand-in-vit-reference":
        return reference
    if name == "stand-in-vit-deeper":
        return dataclasses.replace(reference, num_hidden_layers=2 * base.num_hidden_layers)
    if name == "stand-in-vit-wider":
        return dataclasses.replace(reference, hidden_size=2 * base.hidden_size,
                                   intermediate_size=2 * base.intermediate_size)
    raise ValueError(f"{name!r} is not a stand-in backbone; valid: {FISHER_STAND_IN_VIT!r}, "
                     f"'stand-in-vit-reference', 'stand-in-vit-deeper', 'stand-in-vit-wider'")


class ImageStudy:
    """One image task: the frozen backbones' features (computed once, cached), heads pre-trained on a share of
    the images, and the new task's runs on the rest.

    Parameters
    ----------
    profile : fairlib.config.Profile
    task : str
        A key of :data:`IMAGE_TASKS`.
    store : RunStore, optional
    cache : FeatureCache, optional
        Default: on disk under ``CACHE/features``.
    """

    def __init__(self, profile: Any, *, task: str, store: Any = None, cache: FeatureCache | None = None):
        if task not in IMAGE_TASKS:
            raise ValueError(f"task={task!r}; valid: {tuple(IMAGE_TASKS)}")
        self.profile, self.cfg, self.info = profile, profile.fisher, IMAGE_TASKS[task]
        if self.cfg.num_threads > 0:
            torch.set_num_threads(self.cfg.num_threads)
        self.store = _store(profile, store)
        self.cache = cache if cache is not None else FeatureCache()
        self.data = _load_image_data(self.info, self.cfg)
        c = self.cfg
        self.pretrain_index, self.pool_index = two_way_split(self.data, fraction=c.image_pretrain_fraction,
                                                             seed=c.split_seed)
        self.stand_in = self.info.key == "celeba_like"
        self.data_spec = {"dataset": task, "n": len(self.data), "seed": c.split_seed,
                          **({"image_n": c.image_n} if self.stand_in else {})}
        name = self.data.name if self.stand_in else self.info.title
        self.task = NewTask(name=name, pool=self.data.subset(self.pool_index),
                            fractions=self.info.fractions or c.image_fractions,
                            spec={**self.data_spec, "pretrain_fraction": c.image_pretrain_fraction}, cfg=c,
                            store=self.store, stand_in=self.stand_in or c.stand_in_images)
        self._models: dict[str, Pretrained] = {}

    # -- backbones ----------------------------------------------------------------------------------------
    def vit_spec(self, name: str) -> Any:
        """The TinyViTSpec of a stand-in backbone name (see :func:`stand_in_variant`)."""
        return stand_in_variant(self.profile, name)

    def display_name(self, backbone: str) -> str:
        """``"stand-in ViT 4x64 (50k x 2)"`` / ``"ResNet-18"`` / ``"DenseNet-121"``."""
        if backbone.startswith(FISHER_STAND_IN_VIT):
            s = self.vit_spec(backbone)
            return (f"stand-in ViT {s.num_hidden_layers}x{s.hidden_size} "
                    f"({s.pretrain_images / 1000:g}k images x {s.pretrain_epochs})")
        tail = backbone.split("/")[-1].split(".")[0]
        return {"resnet-18": "ResNet-18", "resnet-50": "ResNet-50", "densenet121": "DenseNet-121"}.get(tail, tail)

    @staticmethod
    def paper_model(backbone: str) -> str | None:
        """The paper's Table 4 model name of a hub backbone (None for stand-ins)."""
        tail = backbone.split("/")[-1]
        return "ResNet-50" if "resnet-50" in tail else "DenseNet" if "densenet" in tail else \
            "ResNet-18" if "resnet-18" in tail else None

    def classifier(self, backbone: str) -> tuple[nn.Module, dict]:
        """A frozen backbone with a fresh 2-class head, and its identity spec.

        Raises
        ------
        BackboneUnavailable
            DenseNet when timm does not import (it imports torchvision, which the CPU stack here lacks).
        fairlib.models.CheckpointMissingError
            A hub checkpoint that is not cached locally.
        """
        from ..models import Classifier, TimmUnavailableError, image_classifier, load_backbone, load_timm_backbone

        if backbone.startswith(FISHER_STAND_IN_VIT):
            from ..train import pretrained_tiny_vit

            spec = self.vit_spec(backbone)
            model = image_classifier(pretrained_tiny_vit(spec, verbose=False), num_labels=2)
            identity = {"stand_in_vit": spec.to_dict()}
        elif backbone.startswith("timm/"):
            try:
                net = load_timm_backbone(backbone)
            except TimmUnavailableError as error:
                raise BackboneUnavailable(f"{backbone}: transformers has no DenseNet, and {error}") from None
            model = Classifier(net, nn.Linear(net.num_features, 2), pool=_flat_pool, model_type="timm")
            identity = {"timm": backbone, "image_size": self.cfg.image_size}
        else:
            net = load_backbone(backbone, auto_class="AutoModel")
            width = net.config.hidden_sizes[-1] if hasattr(net.config, "hidden_sizes") else net.config.hidden_size
            model = Classifier(net, nn.Linear(width, 2), pool=_flat_pool, model_type=net.config.model_type)
            identity = {"hub": backbone, "image_size": self.cfg.image_size}
        model.eval().requires_grad_(False)
        if torch.cuda.is_available() and not backbone.startswith(FISHER_STAND_IN_VIT):
            # One forward pass over every image is the only heavy step at full scale; heads train on CPU.
            model.backbone.to("cuda")
        return model, identity

    def _inputs(self, identity: dict) -> Any:
        if self.stand_in:
            return self.data
        from ..data import ImageFileDataset, make_image_processor

        processor = make_image_processor(size=self.cfg.image_size, image_mean=_IMAGENET["mean"],
                                         image_std=_IMAGENET["std"])
        return ImageFileDataset.from_grouped(self.data, processor=processor, train=False, seed=0)

    def features(self, backbone: str) -> tuple[GroupedDataset, nn.Module, dict]:
        """Features of every image of the task under ``backbone``: computed once, then from the cache."""
        model, identity = self.classifier(backbone)
        spec = {"backbone": identity, "data": self.data_spec}
        inputs = self._inputs(identity)
        if self.stand_in:
            feats = self.cache.features(model, self.data, spec=spec)
        else:
            from ..train import extract_features

            x = self.cache.array(spec, lambda: extract_features(model, inputs, batch_size=64))
            feats = dataclasses.replace(self.data, x=x, info={})
        return feats, model, identity

    def pretrained(self, backbone: str) -> Pretrained:
        """``backbone`` (frozen) with a head trained on the pre-training share's cached features."""
        from ..train import TrainConfig, seed_everything

        if backbone in self._models:
            return self._models[backbone]
        c = self.cfg
        feats, model, identity = self.features(backbone)
        config = TrainConfig(epochs=c.head_pretrain_epochs, lr=c.head_pretrain_lr, batch_size=c.batch_size,
                             seed=c.split_seed)
        spec = {"notebook": "04", "version": VERSION, "what": "image-head", "backbone": identity,
                "data": self.task.spec, "train": asdict(config)}
        width = model.head.in_features

        def build() -> nn.Linear:
            seed_everything(c.split_seed)
            return nn.Linear(width, 2)

        def train() -> tuple[dict, dict]:
            head = build()
            history = fit_on_features(head, feats.subset(self.pretrain_index), config=config, progress=False)
            return ({"epoch_losses": history.epoch_losses, "seconds": history.seconds,
                     "pretrain_data": _metrics_of(head, feats.subset(self.pretrain_index))}, head.state_dict())

        record, tensors = self.store.run(spec, train)
        head = build()
        head.load_state_dict(tensors)
        model.head = head.eval().requires_grad_(False)
        record = {**record, "backbone_parameters": sum(p.numel() for p in model.backbone.parameters()),
                  # the stand-in ViT's own pre-training record (held-out Fashion-MNIST accuracy), if any
                  "backbone_pretraining": getattr(model.backbone, "fairlib_pretraining", None)}
        pre = Pretrained(name=self.display_name(backbone), spec=spec, model=model,
                         features=feats.subset(self.pool_index), info=record)
        self._models[backbone] = pre
        return pre


# ------------------------------------------------------------------------------------------------ summaries
#: Columns that identify one record (a run of one method on one split).
RECORD_KEY = ("task", "pretrained", "method", "rank", "alpha", "penalty", "intensity", "optimizer", "lr", "run",
              "split")


def dedupe(records: pd.DataFrame | Sequence[dict]) -> pd.DataFrame:
    """One row per :data:`RECORD_KEY` (a run reused by several experiments is recorded once), in order."""
    frame = pd.DataFrame(records) if not isinstance(records, pd.DataFrame) else records
    return frame.drop_duplicates(subset=list(RECORD_KEY), keep="first").reset_index(drop=True)


def select(records: pd.DataFrame, *, split: str = "test", **filters: Any) -> pd.DataFrame:
    """Rows of ``split`` whose columns equal ``filters`` (floats compared with a tolerance, NaN matches NaN)."""
    part = records[records["split"] == split] if split else records
    for column, value in filters.items():
        if isinstance(value, float):
            col = part[column].astype(float)
            keep = col.isna() if math.isnan(value) else np.isclose(col, value, rtol=0, atol=1e-12)
            part = part[keep]
        else:
            part = part[part[column] == value]
    return part


def summarize(records: pd.DataFrame, *, by: Sequence[str], split: str = "test",
              metrics: Sequence[str] = METRICS) -> pd.DataFrame:
    """Mean, std (ddof 1), 95% CI and n over runs of each metric, per ``by`` (see ``summarize_frame``)."""
    part = records[records["split"] == split]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return fm.summarize_frame(part, by=list(by), value_columns=list(metrics))


def _settings(cfg: Any) -> dict:
    return {"lr": float(cfg.finetune_lr), "optimizer": cfg.optimizer}


def fig4_summary(records: pd.DataFrame, *, cfg: Any, pretrained: dict[str, str]) -> pd.DataFrame:
    """Fig. 4: error, Delta_DP, Delta_EO of the pre-trained model, TL, f+SVD and OURS, per task.

    ``pretrained`` maps each task to the name of the pre-trained model Fig. 4 uses (Adult: ``f_B``).
    """
    parts = []
    for task, pre in pretrained.items():
        base = select(records, task=task, pretrained=pre, split="")
        parts.append(select(base, method="pre-trained"))
        for method in ("TL", "f+SVD", "OURS"):
            extra = {"rank": cfg.rank} if method != "TL" else {}
            if method == "OURS":
                extra["alpha"] = 0.5
            parts.append(select(base, method=method, **extra, **_settings(cfg)))
    out = summarize(pd.concat(parts), by=["task", "method"])
    return out


def table2(records: pd.DataFrame, *, cfg: Any, method: str = "OURS") -> pd.DataFrame:
    """Table 2: fair pre-trained models before and after fine-tuning by ``method`` (error and the bias of the
    applied constraint), mean and std over runs, and the change of the mean bias."""
    rows = {}
    for kind in ("EO", "DP"):
        bias = kind.lower()
        for intensity in cfg.intensities:
            name = AdultStudy.name_of(penalty=kind.lower(), intensity=intensity)
            pre = select(records, pretrained=name, method="pre-trained")
            extra = {"rank": cfg.rank, "alpha": 0.5} if method != "TL" else {}
            ft = select(records, pretrained=name, method=method, **extra, **_settings(cfg))
            row = {}
            for label, part in (("pretrain", pre), ("finetune", ft)):
                row[f"err_{label}_mean"] = part["error"].mean()
                row[f"err_{label}_std"] = part["error"].std(ddof=1)
                row[f"bias_{label}_mean"] = part[bias].mean()
                row[f"bias_{label}_std"] = part[bias].std(ddof=1)
            row["bias_change"] = row["bias_finetune_mean"] - row["bias_pretrain_mean"]
            row["bias_metric"] = bias
            row["n"] = len(ft)
            rows[(kind, float(intensity))] = row
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index = pd.MultiIndex.from_tuples(out.index, names=["constraint", "intensity"])
    return out


def table3(records: pd.DataFrame, *, cfg: Any) -> pd.DataFrame:
    """Table 3: Retrain (no penalty), Retrain+EO/DP at each intensity and OURS against the pre-trained model
    ``f_B``: mean and std of error, Delta_EO, Delta_DP, and each mean's change from the pre-trained mean."""
    base = select(records, pretrained="f_B", split="")
    blocks = [("pre-trained", 0.0, select(base, method="pre-trained")),
              ("Retrain", 0.0, select(base, method="Retrain"))]
    for kind in ("EO", "DP"):
        for intensity in cfg.intensities:
            blocks.append((f"Retrain+{kind}", float(intensity),
                           select(base, method=f"Retrain+{kind}", intensity=float(intensity))))
    blocks.append(("OURS", 0.0, select(base, method="OURS", rank=cfg.rank, alpha=0.5, **_settings(cfg))))
    rows = {}
    for method, intensity, part in blocks:
        row = {}
        for metric in ("error", "eo", "dp"):
            row[f"{metric}_mean"] = part[metric].mean()
            row[f"{metric}_std"] = part[metric].std(ddof=1)
        row["trainable_parameters"] = int(part["trainable_parameters"].max()) if len(part) else 0
        row["n"] = len(part)
        rows[(method, intensity)] = row
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index = pd.MultiIndex.from_tuples(out.index, names=["model", "intensity"])
    for metric in ("error", "eo", "dp"):
        out[f"{metric}_change"] = out[f"{metric}_mean"] - out.loc[("pre-trained", 0.0), f"{metric}_mean"]
    return out


def table4(records: pd.DataFrame, *, cfg: Any, models: dict[str, list[str]]) -> pd.DataFrame:
    """Table 4: OURS on each architecture (``models`` maps a task to its pre-trained model names)."""
    parts = []
    for task, names in models.items():
        for name in dict.fromkeys(names):  # a backbone listed twice (same spec, same runs) is one row
            parts.append(select(records, task=task, pretrained=name, method="OURS", rank=cfg.rank, alpha=0.5,
                                **_settings(cfg)))
    summary = summarize(pd.concat(parts), by=["task", "pretrained"], metrics=("error", "eo", "dp"))
    return summary


def alpha_summary(records: pd.DataFrame, *, cfg: Any) -> pd.DataFrame:
    """Fig. 5: OURS on ``f_B`` at every alpha."""
    part = select(records, task="Adult", pretrained="f_B", method="OURS", rank=cfg.rank, split="", **_settings(cfg))
    part = part[part["alpha"].isin(list(cfg.alphas))]
    return summarize(part, by=["alpha"])


def review_summary(records: pd.DataFrame, *, cfg: Any) -> pd.DataFrame:
    """The reviewer's sweep: each head method at full rank under each optimiser and learning rate, with the
    mean paired difference to TL (same run, optimiser and learning rate) of every metric."""
    part = select(records, task="Adult", pretrained="f_B", split="")
    part = part[part["method"].isin(REVIEW_METHODS) & (part["run"] < cfg.review_runs)]
    part = part[(part["method"] == "TL") | ((part["rank"] == cfg.rank) & (
        part["alpha"].isna() | np.isclose(part["alpha"].astype(float).fillna(0.5), 0.5)))]
    part = dedupe(part)
    grid = [("adamw", lr) for lr in cfg.review_adamw_lrs] + [("sgd", lr) for lr in cfg.review_sgd_lrs]
    keep = np.zeros(len(part), dtype=bool)
    for optimizer, lr in grid:
        keep |= (part["optimizer"] == optimizer).to_numpy() & np.isclose(part["lr"].astype(float), lr)
    part = part[keep]
    summary = summarize(part, by=["optimizer", "lr", "method"])
    test = part[part["split"] == "test"].set_index(["optimizer", "lr", "run", "method"])
    for metric in METRICS:
        wide = test[metric].unstack("method")
        diffs = wide.sub(wide["TL"], axis=0)
        mean = diffs.groupby(level=["optimizer", "lr"]).mean().stack()
        mean.index = mean.index.set_names(["optimizer", "lr", "method"])
        summary[f"{metric}_minus_TL"] = mean.reindex(summary.index).to_numpy()
    return summary.sort_index(level=["optimizer", "lr"], sort_remaining=False)


def review_selected(records: pd.DataFrame, *, cfg: Any) -> pd.DataFrame:
    """Each method at its *own* learning rate, chosen on validation (lowest mean validation error over the
    reviewer's runs), per optimiser: the fair way to compare methods whose best step sizes differ.

    Returns
    -------
    DataFrame
        Indexed by (optimizer, method): ``lr`` chosen, ``val_error``, test ``<metric>_mean`` and
        ``<metric>_minus_TL`` (paired by run, against TL at TL's own chosen learning rate).
    """
    part = select(records, task="Adult", pretrained="f_B", split="")
    part = dedupe(part[part["method"].isin(REVIEW_METHODS) & (part["run"] < cfg.review_runs)])
    part = part[(part["method"] == "TL") | ((part["rank"] == cfg.rank) & (
        part["alpha"].isna() | np.isclose(part["alpha"].astype(float).fillna(0.5), 0.5)))]
    rows, chosen = {}, {}
    for optimizer, lrs in (("adamw", cfg.review_adamw_lrs), ("sgd", cfg.review_sgd_lrs)):
        for method in REVIEW_METHODS:
            mine = part[(part["optimizer"] == optimizer) & (part["method"] == method)]
            mine = mine[np.isin(mine["lr"].astype(float), np.asarray(lrs, dtype=float))]
            if mine.empty:
                continue
            val = mine[mine["split"] == "val"].groupby("lr")["error"].mean()
            lr = float(val.idxmin())
            test = mine[(mine["split"] == "test") & np.isclose(mine["lr"].astype(float), lr)].set_index("run")
            chosen[(optimizer, method)] = test
            rows[(optimizer, method)] = {"lr": lr, "val_error": float(val.min()),
                                         **{f"{m}_mean": float(test[m].mean()) for m in METRICS}}
    for (optimizer, method), row in rows.items():
        tl = chosen.get((optimizer, "TL"))
        mine = chosen[(optimizer, method)]
        for m in METRICS:
            common = mine.index.intersection(tl.index) if tl is not None else []
            row[f"{m}_minus_TL"] = float((mine.loc[common, m] - tl.loc[common, m]).mean()) if len(common) else \
                float("nan")
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index = pd.MultiIndex.from_tuples(out.index, names=["optimizer", "method"])
    return out


def _merged(head: nn.Module) -> torch.Tensor:
    return head.merged_weight() if isinstance(head, FactorizedLinear) else head.weight


def weight_gaps(task: NewTask, pre: Pretrained, *, cfg: Any) -> pd.DataFrame:
    """After fine-tuning, how far apart the heads of TL, f+SVD and OURS are, and how far each moved.

    For every (optimiser, learning rate) of the reviewer's sweep and run ``< review_runs``: the largest absolute
    difference between the merged weights ``(A B)^T`` of two methods, and between each method's weights and
    the pre-trained ones. At full rank f+SVD and OURS differ only by a rotation of the rank-2 latent space, so
    under SGD (rotation-equivariant) their merged weights agree to float precision.
    """
    rows = []
    w0 = pre.model.head.weight.detach()
    grid = [("adamw", lr) for lr in cfg.review_adamw_lrs] + [("sgd", lr) for lr in cfg.review_sgd_lrs]
    for optimizer, lr in grid:
        for run in range(cfg.review_runs):
            w = {m: _merged(task.trained_head(pre, method=m, run=run, lr=lr, optimizer=optimizer)).detach()
                 for m in REVIEW_METHODS}
            row = {"optimizer": optimizer, "lr": float(lr), "run": run,
                   "OURS vs f+SVD": float((w["OURS"] - w["f+SVD"]).abs().max()),
                   "f+SVD vs TL": float((w["f+SVD"] - w["TL"]).abs().max()),
                   "OURS vs TL": float((w["OURS"] - w["TL"]).abs().max())}
            row.update({f"{m} moved": float((w[m] - w0).abs().max()) for m in REVIEW_METHODS})
            rows.append(row)
    return pd.DataFrame(rows)


def rank_summary(records: pd.DataFrame, *, cfg: Any) -> pd.DataFrame:
    """The reviewer's rank experiment: factorised heads at each rank, before and after fine-tuning.

    Besides the metrics, ``<metric>_change`` and ``init_<metric>_change`` are the per-run differences to the
    pre-trained model ``f_B`` on the same test part (after and before fine-tuning), summarised over runs, and
    ``init_logit_gap`` / ``init_margin_gap`` the largest change of a logit / of the logit difference
    ``z1 - z0`` (the decision) made by the factorisation itself.
    """
    part = select(records, task="Adult", pretrained="f_B", split="test", **_settings(cfg))
    part = part[part["method"].isin(("f+SVD", "OURS", "OURS (shuffled I_N)")) & part["rank"].isin(cfg.review_ranks)]
    part = part[part["alpha"].isna() | np.isclose(part["alpha"].astype(float).fillna(0.5), 0.5)].copy()
    pre = select(records, task="Adult", pretrained="f_B", method="pre-trained").set_index("run")
    for metric in METRICS:
        base = pre.loc[part["run"], metric].to_numpy(dtype=float)
        part[f"{metric}_change"] = part[metric].to_numpy(dtype=float) - base
        part[f"init_{metric}_change"] = part[f"init_{metric}"].to_numpy(dtype=float) - base
    columns = (*METRICS, *(f"{m}_change" for m in METRICS), *(f"init_{m}_change" for m in METRICS),
               "init_logit_gap", "init_margin_gap")
    return summarize(part, by=["rank", "method"], metrics=columns)


def fisher_profile(details: Sequence[dict]) -> dict:
    """Per-group Fisher row sums (Fig. 3) over runs: mean per unit, and how much the groups' rankings agree.

    Parameters
    ----------
    details : sequence of dict
        Stored OURS run results (``fisher_rows``: 2 x hidden).

    Returns
    -------
    dict
        ``mean`` (2 x hidden), ``per_run``, ``spearman`` (per run, between the two groups' unit rankings),
        ``top_unit`` (per run and group), ``live_units`` and ``ratio_range`` (per run: max / min of
        I_1 / I_2 over the units that are not silent for either group).
    """
    from scipy.stats import spearmanr

    rows = np.asarray([d["fisher_rows"] for d in details], dtype=float)
    rho = [float(spearmanr(r[0], r[1]).statistic) for r in rows]
    # Units that are (nearly) silent for a group have no meaningful ratio; they are left out of the range.
    live = (rows > 1e-6 * rows.max(axis=(1, 2), keepdims=True)).all(axis=1)
    ratio = np.where(live, rows[:, 0] / np.where(live, rows[:, 1], 1.0), np.nan)
    return {"mean": rows.mean(axis=0).tolist(), "per_run": rows.tolist(), "spearman": rho,
            "top_unit": rows.argmax(axis=2).tolist(), "live_units": live.sum(axis=1).tolist(),
            "ratio_range": (np.nanmax(ratio, axis=1) / np.nanmin(ratio, axis=1)).tolist()}


# --------------------------------------------------------------------------------------- Fig. 1 helpers
def positive_representations(task: NewTask, pre: Pretrained, head: nn.Module, *, run: int) -> GroupedDataset:
    """Test examples of run ``run`` that ``head`` predicts positive, with their frozen representations."""
    _, _, test = task.parts(pre.features, run)
    predicted = predict_on_features(head, test).y_pred
    return test.subset(np.flatnonzero(predicted == 1))


def pca_2d(x: np.ndarray) -> np.ndarray:
    """First two principal-component scores of the rows of ``x`` (centred; signs fixed by the largest loading)."""
    x = np.asarray(x, dtype=np.float64)
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    vt = vt[:2] * np.sign(vt[:2, np.abs(vt[:2]).argmax(axis=1)].diagonal())[:, None]
    return centred @ vt.T


def group_separability(x: np.ndarray, groups: np.ndarray, *, folds: int = 5, seed: int = 0) -> float:
    """Cross-validated ROC AUC of a logistic regression predicting the group from ``x`` (0.5 = no signal).

    NaN when a group has fewer members than ``folds``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    groups = np.asarray(groups)
    if len(np.unique(groups)) < 2 or np.bincount(groups).min() < folds:
        return float("nan")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return float(cross_val_score(model, np.asarray(x), groups, cv=cv, scoring="roc_auc").mean())


# ------------------------------------------------------------------------------------ paper vs reproduced
def format_mean_std(mean: float, std: float | None, digits: int = 3) -> str:
    """``"16.165 ± 0.340"`` (``"16.165"`` without a std)."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "—"
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _pooled_verdict(paper: float, ours: float | None, paper_std: float | None, ours_std: float | None) -> str:
    if ours is None or (isinstance(ours, float) and math.isnan(ours)):
        return "not run at this profile"
    stds = [v for v in (paper_std, ours_std) if v is not None and not math.isnan(v)]
    if not stds:
        return "compared"
    spread = math.sqrt(sum(v * v for v in stds) / len(stds))
    if spread == 0:
        return "compared"
    return "within 2 pooled std" if abs(ours - paper) <= 2 * spread else "differs by > 2 pooled std"


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def paper_rows(t2: pd.DataFrame, t3: pd.DataFrame, t4: pd.DataFrame, fig4: pd.DataFrame, *,
               t4_paper_names: dict, stand_in_images: bool) -> list[dict]:
    """Every number of Tables 2-4 and of Fig. 4's Adult column, the paper's against ours.

    Parameters
    ----------
    t2, t3, t4, fig4 : DataFrame
        From :func:`table2`, :func:`table3`, :func:`table4`, :func:`fig4_summary`.
    t4_paper_names : dict
        ``(task, pretrained name) -> (paper dataset, paper model)`` for Table 4's image rows that have a paper
        counterpart (none on stand-ins).
    stand_in_images : bool
        The image rows then say why they are not compared.

    Returns
    -------
    list of dict
        Rows for :func:`fairlib.report.paper_vs_reproduced` (``claim, paper, ours, paper_std, ours_std,
        verdict``).
    """
    rows = []

    def add(claim: str, paper: float | None, paper_std: float | None, ours: Any, ours_std: Any,
            verdict: str | None = None) -> None:
        ours, ours_std = _num(ours), _num(ours_std)
        if verdict is None:
            verdict = _pooled_verdict(paper, ours, paper_std, ours_std) if paper is not None else "compared"
        rows.append({"claim": claim, "paper": paper, "ours": ours, "paper_std": paper_std, "ours_std": ours_std,
                     "verdict": verdict})

    for (kind, intensity), (err_pre, err_ft, bias_pre, bias_ft) in PAPER_TABLE2.items():
        key = (kind, float(intensity))
        ours = t2.loc[key] if key in t2.index else None
        get = (lambda c: ours[c] if ours is not None else None)
        tag = f"Table 2, {kind} {intensity:g}"
        add(f"{tag}: error pre-train", err_pre, None, get("err_pretrain_mean"), get("err_pretrain_std"))
        add(f"{tag}: error fine-tune", err_ft[0], err_ft[1], get("err_finetune_mean"), get("err_finetune_std"))
        add(f"{tag}: bias pre-train", bias_pre, None, get("bias_pretrain_mean"), get("bias_pretrain_std"))
        add(f"{tag}: bias fine-tune", bias_ft[0], bias_ft[1], get("bias_finetune_mean"), get("bias_finetune_std"))
    for (model, intensity), values in PAPER_TABLE3.items():
        key = (model, float(intensity))
        ours = t3.loc[key] if key in t3.index else None
        tag = f"Table 3, {model}" + (f" {intensity:g}" if intensity else "")
        for metric, (mean, std) in zip(("error", "eo", "dp"), values):
            label = {"error": "error", "eo": "Delta_EO", "dp": "Delta_DP"}[metric]
            add(f"{tag}: {label}", mean, std, ours[f"{metric}_mean"] if ours is not None else None,
                ours[f"{metric}_std"] if ours is not None else None)
    reverse = {v: k for k, v in t4_paper_names.items()}
    for (dataset, model), values in PAPER_TABLE4.items():
        if dataset == "Adult":
            key = ("Adult", model)
        else:
            key = reverse.get((dataset, model))
        have = key is not None and key in t4.index
        for metric, (mean, std) in zip(("error", "eo", "dp"), values):
            label = {"error": "error", "eo": "Delta_EO", "dp": "Delta_DP"}[metric]
            verdict = None
            if not have:
                verdict = ("not run: stand-in images at this profile" if stand_in_images and dataset != "Adult"
                           else "not run at this profile")
            add(f"Table 4, {dataset} {model}: {label}", mean, std,
                t4.loc[key, f"{metric}_mean"] if have else None, t4.loc[key, f"{metric}_std"] if have else None,
                verdict)
    ours_t3 = PAPER_TABLE3[("OURS", 0.0)]
    for method in ("TL", "f+SVD", "OURS"):
        key = ("Adult", method)
        have = key in fig4.index
        for metric, idx in (("error", 0), ("eo", 1), ("dp", 2)):
            label = {"error": "error", "eo": "Delta_EO", "dp": "Delta_DP"}[metric]
            paper, paper_std = ours_t3[idx] if method == "OURS" else (None, None)
            verdict = None if method == "OURS" else "paper: bar chart only, no number in the text"
            add(f"Fig. 4, Adult {method}: {label}", paper, paper_std,
                fig4.loc[key, f"{metric}_mean"] if have else None, fig4.loc[key, f"{metric}_std"] if have else None,
                verdict)
    return rows


#: The headline claims the notebook records, in order: the catalogue's (:data:`fairlib.claims.CLAIMS`).
CLAIM_NAMES = tuple(CLAIMS["04"])


def _paired(records: pd.DataFrame, a: dict, b: dict, metric: str) -> dict:
    """Per-run differences ``a - b`` of ``metric`` on test (runs present in both), summarised."""
    left = select(records, **a).set_index("run")[metric].astype(float)
    right = select(records, **b).set_index("run")[metric].astype(float)
    if left.index.duplicated().any() or right.index.duplicated().any():
        raise ValueError(f"filters select more than one record per run: {a} / {b}")
    out = fm.paired_over_seeds(left, right)
    common = left.index.intersection(right.index)
    scale = float(right.loc[common].std(ddof=1)) if len(common) >= 2 else float("nan")
    return {**out, "per_run": list(out["per_seed"].values()), "scale": scale}


#: A paired difference smaller than this share of the baseline's run-to-run std is negligible, however
#: significant (paired runs make tiny differences significant).
NEGLIGIBLE = 0.1


def _sign(summary: dict) -> int:
    """+1 / -1 when the 95% CI of a paired difference excludes 0 on that side and the difference is not
    negligible (at least :data:`NEGLIGIBLE` x the baseline's std over runs), else 0."""
    scale = summary.get("scale", float("nan"))
    if not math.isnan(scale) and abs(summary["mean"]) < NEGLIGIBLE * scale:
        return 0
    if summary["n"] >= 2 and summary["ci_low"] > 0:
        return 1
    if summary["n"] >= 2 and summary["ci_high"] < 0:
        return -1
    return 0


def claim_rows(records: pd.DataFrame, *, cfg: Any, t2: pd.DataFrame, t3: pd.DataFrame, t4: pd.DataFrame,
               image_tasks: dict[str, str], separability: pd.DataFrame, fisher: dict) -> list[dict]:
    """The headline claims (:data:`CLAIM_NAMES`), each with our number and a verdict.

    Differences between methods are paired by run (same split, same seed); "significantly" lower / higher means
    the 95% CI of the mean paired difference excludes 0 *and* the difference is at least :data:`NEGLIGIBLE`
    times the baseline's standard deviation over runs. Numeric claims are "within 2 pooled std" of the paper
    or not.

    Parameters
    ----------
    records : DataFrame
        All runs.
    t2, t3, t4 : DataFrame
        :func:`table2`, :func:`table3`, :func:`table4`.
    image_tasks : dict
        Image task name -> name of its Fig. 4 pre-trained model.
    separability : DataFrame
        Fig. 1: columns ``run``, ``model`` (``"f_B"``, ``"f_F"``), ``auc``.
    fisher : dict
        :func:`fisher_profile` of ``f_B``'s OURS runs.
    """
    settings = _settings(cfg)
    ours = {"task": "Adult", "pretrained": "f_B", "method": "OURS", "rank": cfg.rank, "alpha": 0.5, **settings}
    pre = {"task": "Adult", "pretrained": "f_B", "method": "pre-trained"}
    rows = []
    names = iter(CLAIM_NAMES)

    # 1-3: OURS's Table 3 numbers
    for metric, (mean, std) in zip(("error", "eo", "dp"), PAPER_TABLE3[("OURS", 0.0)]):
        o_mean, o_std = t3.loc[("OURS", 0.0), f"{metric}_mean"], t3.loc[("OURS", 0.0), f"{metric}_std"]
        rows.append({"claim": next(names), "paper": mean, "paper_std": std, "ours": _num(o_mean),
                     "ours_std": _num(o_std), "verdict": _pooled_verdict(mean, _num(o_mean), std, _num(o_std))})
    # 4: bias of OURS below the pre-trained model's
    eo, dp = _paired(records, ours, pre, "eo"), _paired(records, ours, pre, "dp")
    signs = (_sign(eo), _sign(dp))
    verdict = ("reproduced" if signs == (-1, -1) else "partly (one gap significantly lower)" if -1 in signs
               else "not reproduced" + (" (bias significantly higher)" if 1 in signs else " (no meaningful change)"))
    rows.append({"claim": next(names), "paper": -0.026, "ours": eo["mean"], "ours_std": eo["std"],
                 "verdict": f"{verdict}; change of Delta_EO shown, Delta_DP {dp['mean']:+.4f}"})
    # 5: OURS error below every Retrain setting
    lower = []
    for kind in ("EO", "DP"):
        for intensity in cfg.intensities:
            other = {"task": "Adult", "pretrained": "f_B", "method": f"Retrain+{kind}", "intensity": float(intensity)}
            lower.append(_sign(_paired(records, ours, other, "error")))
    n_lower = sum(s == -1 for s in lower)
    rows.append({"claim": next(names), "paper": f"{2 * len(cfg.intensities)} of {2 * len(cfg.intensities)}",
                 "ours": f"{n_lower} of {len(lower)} significantly lower",
                 "verdict": "reproduced" if n_lower == len(lower) else "partly" if n_lower else "not reproduced"})
    # 6: OURS vs Retrain on the other constraint's gap
    checks = []
    for kind, metric in (("EO", "dp"), ("DP", "eo")):
        for intensity in cfg.intensities:
            other = {"task": "Adult", "pretrained": "f_B", "method": f"Retrain+{kind}", "intensity": float(intensity)}
            checks.append(_sign(_paired(records, ours, other, metric)))
    n_lower = sum(s == -1 for s in checks)
    n_higher = sum(s == 1 for s in checks)
    rows.append({"claim": next(names), "paper": f"{len(checks)} of {len(checks)}",
                 "ours": f"{n_lower} of {len(checks)} significantly lower, {n_higher} significantly higher",
                 "verdict": "reproduced" if n_lower == len(checks) else "partly" if n_lower else "not reproduced"})
    # 7: trade-off within Retrain+EO/DP (lowest vs highest intensity)
    lo, hi = min(cfg.intensities), max(cfg.intensities)
    parts = []
    for kind in ("EO", "DP"):
        metric = kind.lower()
        err = t3.loc[(f"Retrain+{kind}", hi), "error_mean"] - t3.loc[(f"Retrain+{kind}", lo), "error_mean"]
        bias = t3.loc[(f"Retrain+{kind}", hi), f"{metric}_mean"] - t3.loc[(f"Retrain+{kind}", lo), f"{metric}_mean"]
        parts.append((kind, err, bias))
    holds = all(e > 0 and b < 0 for _, e, b in parts)
    rows.append({"claim": next(names), "paper": "error up, bias down",
                 "ours": "; ".join(f"{k}: error {e:+.3f}, bias {b:+.4f}" for k, e, b in parts),
                 "verdict": "reproduced" if holds else "not reproduced"})
    # 8: fair pre-training, bias after fine-tuning
    ups, means = [], []
    for kind in ("EO", "DP"):
        for intensity in cfg.intensities:
            name = AdultStudy.name_of(penalty=kind.lower(), intensity=intensity)
            a = {"task": "Adult", "pretrained": name, "method": "OURS", "rank": cfg.rank, "alpha": 0.5, **settings}
            b = {"task": "Adult", "pretrained": name, "method": "pre-trained"}
            d = _paired(records, a, b, kind.lower())
            ups.append(_sign(d))
            means.append(d["mean"])
    n_up, n_pos = sum(s == 1 for s in ups), sum(m > 0 for m in means)
    if n_up == len(ups):
        verdict = "reproduced"
    elif n_pos == len(ups) and n_up:
        verdict = f"reproduced in direction (all {n_pos} rise, {n_up} significantly)"
    else:
        verdict = "partly" if n_up else "not reproduced"
    rows.append({"claim": next(names), "paper": f"{len(ups)} of {len(ups)} rise (+0.05 to +0.18)",
                 "ours": f"{n_up} of {len(ups)} significantly higher; mean change {t2['bias_change'].mean():+.4f}",
                 "verdict": verdict})
    # 9-10: Fig. 4 Adult
    fig4_adult = []
    for method in ("TL", "f+SVD"):
        other = {"task": "Adult", "pretrained": "f_B", "method": method, **settings}
        if method != "TL":
            other["rank"] = cfg.rank
        fig4_adult.append({m: _paired(records, ours, other, m) for m in METRICS})
    err_signs = [_sign(d["error"]) for d in fig4_adult]
    rows.append({"claim": next(names), "paper": "OURS lowest",
                 "ours": "OURS - TL {:+.4f}, OURS - f+SVD {:+.4f} (error, %)".format(
                     fig4_adult[0]["error"]["mean"], fig4_adult[1]["error"]["mean"]),
                 "verdict": "reproduced" if err_signs == [-1, -1] else
                 "not reproduced" + (" (no meaningful difference)" if 1 not in err_signs else "")})
    gap_signs = [_sign(d[m]) for d in fig4_adult for m in ("dp", "eo")]
    rows.append({"claim": next(names), "paper": "OURS lower",
                 "ours": "OURS - TL: DP {:+.4f}, EO {:+.4f}; OURS - f+SVD: DP {:+.4f}, EO {:+.4f}".format(
                     fig4_adult[0]["dp"]["mean"], fig4_adult[0]["eo"]["mean"], fig4_adult[1]["dp"]["mean"],
                     fig4_adult[1]["eo"]["mean"]),
                 "verdict": "reproduced" if all(s == -1 for s in gap_signs) else
                 "partly" if -1 in gap_signs else "not reproduced (no meaningful difference)" if 1 not in gap_signs
                 else "not reproduced"})
    # 11: Fig. 4 image sets
    texts, all_lower = [], True
    for task, pre_name in image_tasks.items():
        a = {"task": task, "pretrained": pre_name, "method": "OURS", "rank": cfg.rank, "alpha": 0.5, **settings}
        parts = []
        for method in ("TL", "f+SVD"):
            b = {"task": task, "pretrained": pre_name, "method": method, **settings}
            if method != "TL":
                b["rank"] = cfg.rank
            signs = [_sign(_paired(records, a, b, m)) for m in METRICS]
            all_lower &= all(s == -1 for s in signs)
            parts.append(f"vs {method} {sum(s == -1 for s in signs)} of {len(signs)} lower, "
                         f"{sum(s == 1 for s in signs)} higher")
        texts.append(f"{task}: " + "; ".join(parts))
    rows.append({"claim": next(names), "paper": "OURS lowest on CelebA and LFW+a", "ours": "; ".join(texts) or None,
                 "verdict": ("not run at this profile" if not image_tasks else
                             "reproduced" if all_lower else "not reproduced")})
    # 12: Fig. 1 separability
    auc = separability.groupby("model")["auc"]
    b_auc, f_auc = auc.mean().get("f_B", float("nan")), auc.mean().get("f_F", float("nan"))
    diff = separability.pivot(index="run", columns="model", values="auc").dropna()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        d = fm.summarize_over_seeds((diff["f_B"] - diff["f_F"]).to_numpy()) if len(diff) else {"n": 0}
    separated = f_auc > 0.6 and b_auc > 0.6
    verdict = ("reproduced" if separated and _sign(d) == 1 else
               "partly: both separate the groups, f_F not significantly less" if separated else "not reproduced")
    rows.append({"claim": next(names), "paper": "f_B separates, f_F less but still",
                 "ours": f"AUC f_B {b_auc:.3f}, f_F {f_auc:.3f}", "verdict": verdict})
    # 13: Fig. 3
    rho = float(np.mean(fisher["spearman"]))
    rows.append({"claim": next(names), "paper": "different influential weights",
                 "ours": f"Spearman rho between the groups' unit rankings {rho:.3f}; ratio of the groups' "
                         f"importances varies x{np.mean(fisher['ratio_range']):.1f} across units",
                 "verdict": "reproduced" if rho < 0.9 else "weak: the groups rank the units much alike (rho >= 0.9)"})
    # 14: Table 4 Adult
    adult = t4.xs("Adult", level="task") if "Adult" in t4.index.get_level_values("task") else t4.iloc[:0]
    depths = [f"MLP-{d}" for d in cfg.depths if f"MLP-{d}" in adult.index]
    if len(depths) >= 2:
        first, last = adult.loc[depths[0]], adult.loc[depths[-1]]
        err = last["error_mean"] - first["error_mean"]
        holds = err < 0
        rows.append({"claim": next(names), "paper": "16.678 -> 16.166 (error, MLP-3 -> MLP-5)",
                     "ours": f"{first['error_mean']:.3f} -> {last['error_mean']:.3f}; Delta_EO "
                             f"{first['eo_mean']:.3f} -> {last['eo_mean']:.3f}",
                     "verdict": "reproduced" if holds else "not reproduced (error does not fall with depth)"})
    else:
        rows.append({"claim": next(names), "paper": "16.678 -> 16.166", "ours": None,
                     "verdict": "not run at this profile"})
    # 15: Fig. 5
    a_max = max(cfg.alphas)
    hi_alpha = {**ours, "alpha": float(a_max)}
    signs = {m: _sign(_paired(records, hi_alpha, ours, m)) for m in METRICS}
    holds = signs["error"] == -1 and signs["dp"] == 1 and signs["eo"] == 1
    rows.append({"claim": next(names), "paper": "error down, gaps up",
                 "ours": f"alpha {a_max:g} minus 0.5: " + ", ".join(
                     f"{m} {_paired(records, hi_alpha, ours, m)['mean']:+.4f}" for m in METRICS),
                 "verdict": "reproduced" if holds else "not reproduced" + (
                     " (no meaningful change)" if all(v == 0 for v in signs.values()) else "")})
    # 16: parameter counts
    ours_params = int(select(records, **ours)["trainable_parameters"].max())
    retrain = select(records, task="Adult", pretrained="f_B", method="Retrain")
    retrain_params = int(retrain["trainable_parameters"].max())
    holds = ours_params == 46 and retrain_params == 742
    rows.append({"claim": next(names), "paper": "46 vs 742", "ours": f"{ours_params} vs {retrain_params}",
                 "verdict": "reproduced" if holds else "not reproduced"})
    # 17: exactness at full rank
    gap = select(records, **ours)["init_logit_gap"].max()
    rows.append({"claim": next(names), "paper": "(not discussed by the paper)",
                 "ours": f"largest logit difference before fine-tuning {gap:.1e}",
                 "verdict": "holds" if gap < 1e-4 else "does not hold"})
    return rows


# -------------------------------------------------------------------------------------------------- figures
def _dots(ax: Any, summary: pd.DataFrame, methods: Sequence[str], metric: str) -> None:
    # Points with whiskers, not bars: the axis is zoomed on small differences and a cut bar would mislead.
    for k, method in enumerate(methods):
        if method not in summary.index:
            continue
        row = summary.loc[method]
        ax.errorbar([k], [row[f"{metric}_mean"]], yerr=[np.nan_to_num(row[f"{metric}_std"])], fmt="o", ms=6,
                    capsize=4, color=_COLOURS.get(method), label=method)


def plot_fig4(summary: pd.DataFrame, *, title: str = "") -> Any:
    """Fig. 4: one panel per task and metric, points = mean over runs, whiskers = std (the paper's ±)."""
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(summary.index.get_level_values("task")))
    methods = [m for m in ("pre-trained", "TL", "f+SVD", "OURS") if m in summary.index.get_level_values("method")]
    fig, axes = plt.subplots(len(METRICS), len(tasks), figsize=(3.3 * len(tasks), 7.2), squeeze=False)
    for j, task in enumerate(tasks):
        part = summary.xs(task, level="task")
        for i, metric in enumerate(METRICS):
            ax = axes[i, j]
            _dots(ax, part, methods, metric)
            means = part[f"{metric}_mean"].to_numpy(dtype=float)
            spread = np.nanmax(part[f"{metric}_std"].to_numpy(dtype=float)) if len(part) else 0
            lo, hi = np.nanmin(means) - 3 * spread, np.nanmax(means) + 3 * spread
            pad = max(hi - lo, 1e-3) * 0.15
            ax.set_ylim(max(0.0, lo - pad), hi + pad)  # the differences are small: zoom on them
            ax.set_xticks(range(len(methods)), methods, fontsize=7)
            ax.set_xlim(-0.6, len(methods) - 0.4)
            ax.set_ylabel(_LABELS[metric], fontsize=7)
            if i == 0:
                ax.set_title(task, fontsize=8)
            ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_fig1(points: dict[str, GroupedDataset], *, group_names: Sequence[str], auc: dict[str, float],
              title: str = "") -> Any:
    """Fig. 1: PCA (2-D) of the frozen representations of test examples predicted positive after fine-tuning,
    one panel per pre-trained model, coloured by group (blue = group 0, orange = group 1, as the paper)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(points), figsize=(4.2 * len(points), 3.8), squeeze=False)
    for ax, (name, data) in zip(axes[0], points.items()):
        scores = pca_2d(data.x)
        for g, colour in ((0, "tab:blue"), (1, "tab:orange")):
            member = data.s == g
            ax.scatter(scores[member, 0], scores[member, 1], s=4, alpha=0.45, color=colour, rasterized=True,
                       label=f"{group_names[g]} (n={int(member.sum())})")
        ax.set_title(f"{name}: group AUC {auc.get(name, float('nan')):.3f}", fontsize=8)
        ax.set_xlabel("PC 1", fontsize=7)
        ax.set_ylabel("PC 2", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, markerscale=3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_fig3(profile: dict, *, group_names: Sequence[str], title: str = "") -> Any:
    """Fig. 3: per-group Fisher row sums of the last layer (one value per hidden unit), mean over runs with
    the runs' range as whiskers; one panel per group, as the paper, plus the groups' ratio."""
    import matplotlib.pyplot as plt

    runs = np.asarray(profile["per_run"], dtype=float)
    mean = runs.mean(axis=0)
    units = np.arange(mean.shape[1])
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    top = float(np.max(runs)) * 1.05
    for g, ax in enumerate(axes[:2]):
        err = [mean[g] - runs[:, g].min(axis=0), runs[:, g].max(axis=0) - mean[g]]
        ax.bar(units, mean[g], yerr=err, color="tab:blue" if g == 0 else "tab:orange", capsize=1.5)
        ax.set_ylim(0, top)
        ax.set_title(f"Fisher row sums, group {group_names[g]}", fontsize=8)
        ax.set_xlabel("hidden unit (row of W)", fontsize=7)
        ax.tick_params(labelsize=7)
    live = (runs > 1e-6 * runs.max()).all(axis=1)
    ratio = np.where(live, runs[:, 0] / np.where(live, runs[:, 1], 1.0), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a unit silent in every run has no ratio
        axes[2].bar(units, np.nanmean(ratio, axis=0), color="0.5")
    axes[2].axhline(1.0, color="k", lw=0.8)
    axes[2].set_yscale("log")
    axes[2].set_title(f"ratio {group_names[0]} / {group_names[1]} (silent units left out)", fontsize=8)
    axes[2].set_xlabel("hidden unit", fontsize=7)
    axes[2].tick_params(labelsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_fig5(summary: pd.DataFrame, *, group: str = "group 0", title: str = "") -> Any:
    """Fig. 5: OURS against alpha (mean ± std over runs), one panel per metric."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(METRICS), figsize=(3.6 * len(METRICS), 3.0))
    alphas = summary.index.to_numpy(dtype=float)
    for ax, metric in zip(axes, METRICS):
        mean = summary[f"{metric}_mean"].to_numpy(dtype=float)
        std = np.nan_to_num(summary[f"{metric}_std"].to_numpy(dtype=float))
        ax.plot(alphas, mean, "o-", color=_COLOURS["OURS"])
        ax.fill_between(alphas, mean - std, mean + std, color=_COLOURS["OURS"], alpha=0.2)
        ax.set_xlabel(f"alpha (weight of the importance of {group})", fontsize=7)
        ax.set_title(_LABELS[metric], fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_review_lr(summary: pd.DataFrame, gaps: pd.DataFrame, *, pretrained: dict[str, float],
                   spread: dict[str, float] | None = None, title: str = "") -> Any:
    """Reviewer: each metric against the learning rate (log), one row per optimiser, one line per head method
    (mean over runs; dashed: the pre-trained model); last column: how far apart the methods' fine-tuned weights
    are. Bottom row: paired difference to TL (grey band: +-:data:`NEGLIGIBLE` x ``spread[metric]``, the
    run-to-run std, i.e. differences too small to matter), and how far fine-tuning moved each method's weights."""
    import matplotlib.pyplot as plt

    optimizers = list(dict.fromkeys(summary.index.get_level_values("optimizer")))
    ncols = len(METRICS) + 1
    fig, axes = plt.subplots(len(optimizers) + 1, ncols, figsize=(3.3 * ncols, 2.5 * (len(optimizers) + 1)),
                             squeeze=False)
    gap_means = gaps.groupby(["optimizer", "lr"]).mean(numeric_only=True)
    for i, optimizer in enumerate(optimizers):
        part = summary.xs(optimizer, level="optimizer")
        marker = "o-" if i == 0 else "s--"
        for j, metric in enumerate(METRICS):
            ax = axes[i, j]
            for method in REVIEW_METHODS:
                if method in part.index.get_level_values("method"):
                    s = part.xs(method, level="method")
                    ax.plot(s.index.to_numpy(dtype=float), s[f"{metric}_mean"], "o-", ms=3, color=_COLOURS[method],
                            label=method)
            ax.axhline(pretrained[metric], color="0.4", ls="--", lw=0.8, label="pre-trained")
            ax.set_xscale("log")
            ax.set_title(f"{optimizer}: {_LABELS[metric]}", fontsize=7)
            ax.tick_params(labelsize=6)
            ax = axes[-1, j]
            for method in REVIEW_METHODS[1:]:
                if method in part.index.get_level_values("method"):
                    s = part.xs(method, level="method")
                    ax.plot(s.index.to_numpy(dtype=float), s[f"{metric}_minus_TL"], marker, ms=3,
                            color=_COLOURS[method], label=f"{method} [{optimizer}]")
            ax.axhline(0.0, color="k", lw=0.6)
            if spread and i == 0:
                ax.axhspan(-NEGLIGIBLE * spread[metric], NEGLIGIBLE * spread[metric], color="0.85", zorder=0)
            ax.set_xscale("log")
            ax.set_title(f"{metric}: method minus TL (paired mean)", fontsize=7)
            ax.set_xlabel("learning rate", fontsize=7)
            ax.tick_params(labelsize=6)
        g = gap_means.xs(optimizer, level="optimizer")
        ax = axes[i, -1]
        for column, colour in (("OURS vs f+SVD", "tab:green"), ("f+SVD vs TL", "tab:orange")):
            ax.plot(g.index.to_numpy(dtype=float), np.maximum(g[column].to_numpy(dtype=float), 1e-12), "o-", ms=3,
                    color=colour, label=column)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{optimizer}: max |W_a - W_b| after fine-tuning", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.legend(fontsize=6)
        ax = axes[-1, -1]
        for method in REVIEW_METHODS:
            ax.plot(g.index.to_numpy(dtype=float), g[f"{method} moved"], marker, ms=3, color=_COLOURS[method],
                    label=f"{method} [{optimizer}]")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title("max |W_after - W_pre-trained|", fontsize=7)
        ax.set_xlabel("learning rate", fontsize=7)
        ax.tick_params(labelsize=6)
    axes[0, 0].legend(fontsize=6)
    axes[-1, 0].legend(fontsize=5)
    axes[-1, -1].legend(fontsize=5)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_review_rank(summary: pd.DataFrame, *, title: str = "") -> Any:
    """Reviewer: change of each metric from the pre-trained model (paired by run) made by the factorised heads,
    before fine-tuning (hollow) and after (filled), at each rank; whiskers: 95% CI over runs."""
    import matplotlib.pyplot as plt

    ranks = sorted(set(summary.index.get_level_values("rank")))
    methods = [m for m in ("f+SVD", "OURS", "OURS (shuffled I_N)") if m in summary.index.get_level_values("method")]
    fig, axes = plt.subplots(1, len(METRICS), figsize=(3.9 * len(METRICS), 3.2))
    step = 0.8 / (2 * len(methods))
    for ax, metric in zip(axes, METRICS):
        for r_i, rank in enumerate(ranks):
            for k, method in enumerate(methods):
                if (rank, method) not in summary.index:
                    continue
                row = summary.loc[(rank, method)]
                for j, (prefix, face) in enumerate((("init_", "white"), ("", _COLOURS[method]))):
                    column = f"{prefix}{metric}_change"
                    mean = row[f"{column}_mean"]
                    err = [[np.nan_to_num(mean - row[f"{column}_ci_low"])],
                           [np.nan_to_num(row[f"{column}_ci_high"] - mean)]]
                    x = r_i - 0.4 + step * (2 * k + j + 0.5)
                    label = f"{method}, {'before' if j == 0 else 'after'} fine-tuning" if r_i == 0 else None
                    ax.errorbar([x], [mean], yerr=err, fmt="o", ms=5, mfc=face, color=_COLOURS[method], capsize=2,
                                label=label)
        ax.axhline(0.0, color="0.4", ls="--", lw=0.8)
        ax.set_xticks(range(len(ranks)), [f"rank {r}" for r in ranks], fontsize=7)
        ax.set_title(f"change of {_LABELS[metric]}\nfrom the pre-trained model", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    return fig
