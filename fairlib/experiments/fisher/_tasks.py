"""One new task of notebook 04 (its per-run splits) and the runs of every method on it."""

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

from ... import metrics as fm
from ...config import FISHER_STAND_IN_VIT
from ...data import GroupedDataset, make_splits
from ...methods.fair_penalties import FairnessPenalty
from ...methods.feature_cache import FeatureCache, fit_on_features, predict_on_features
from ...methods.fisher_svd import FactorizedLinear, neutralized_importance

from ._constants import METRICS, HEAD_METHODS, VERSION


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
        from ...train import TrainConfig

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
        from ...models import count_parameters

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
        from ...models import count_parameters

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


