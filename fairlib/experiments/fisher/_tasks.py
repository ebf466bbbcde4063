"""One new task of notebook 04 (its per-run splits) and the runs of every method on it."""

from __future__ import annotations

import copy
import dataclasses
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ... import metrics as fm
from ...data import GroupedDataset, make_splits
from ...methods.fair_penalties import FairnessPenalty
from ...methods.feature_cache import fit_on_features, predict_on_features
from ...methods.fisher_svd import FactorizedLinear, neutralized_importance

from .. import RunSpec
from ._constants import GROUP_COLUMNS, HEAD_METHODS, METRICS, VERSION


# -------------------------------------------------------------------------------------------------- metrics
def record_metrics(y: np.ndarray, y_pred: np.ndarray, s: np.ndarray) -> dict:
    """The paper's metrics of one prediction and the per-group rates they are made of, by
    :func:`fairlib.metrics.evaluate` under their canonical names.

    Returns
    -------
    dict
        ``weighted_f1_error`` (100 - weighted F1, %), ``dpd`` (|selection-rate gap|), ``eo_sum`` (|TPR gap| +
        |FPR gap|), ``accuracy``, and :data:`GROUP_COLUMNS` (``selection_rate[g]``, ``recall[g]``, ``fpr[g]`` for
        group codes ``g = 0, 1``; NaN where undefined).
    """
    y, y_pred, s = (np.asarray(a).astype(np.int64) for a in (y, y_pred, s))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # an undefined rate is NaN, recorded as such
        out = fm.evaluate(y, y_pred, sensitive_features=s, group_names=(0, 1),
                          metrics=("weighted_f1_error", "dpd", "eo_sum", "accuracy"))
    return {k: out[k] for k in (*METRICS, "accuracy", *GROUP_COLUMNS)}


def _logits(model: nn.Module, data: GroupedDataset) -> torch.Tensor:
    return torch.as_tensor(predict_on_features(model, data).logits)


def _metrics_of_logits(logits: torch.Tensor, data: GroupedDataset) -> dict:
    return record_metrics(data.y, np.asarray(logits).argmax(axis=1), data.s)


def _metrics_of(model: nn.Module, data: GroupedDataset) -> dict:
    p = predict_on_features(model, data)
    return record_metrics(p.y, p.y_pred, p.s)


# ---------------------------------------------------------------------------------------------- the runner
def two_way_split(data: GroupedDataset, *, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a stratified (label x group) split into a ``fraction`` share and the rest (every example
    lands in exactly one part)."""
    index = dataclasses.replace(data, x=np.arange(len(data)), info={})
    parts = make_splits(index, fractions=(fraction, 1 - fraction, 0.0), seed=seed)
    rest = np.sort(np.concatenate([parts.val.x, parts.test.x]))  # rounding may leave a row in the empty third
    return np.asarray(parts.train.x), rest


def train_config(cfg: Any, *, run: int, lr: float | None = None, optimizer: str | None = None) -> Any:
    """The fine-tuning :class:`~fairlib.train.TrainConfig` of run ``run`` (defaults: the config's)."""
    from ...train import TrainConfig

    return TrainConfig(epochs=cfg.finetune_epochs, lr=cfg.finetune_lr if lr is None else lr,
                       batch_size=cfg.batch_size, optimizer=cfg.optimizer if optimizer is None else optimizer,
                       seed=int(run))


def head_spec(profile: Any, cfg: Any, *, task: str, pretrained: str, method: str, run: int, rank: int | None = None,
              alpha: float = 0.5, lr: float | None = None, optimizer: str | None = None) -> RunSpec:
    """The :class:`RunSpec` of one head run (its run-store key); irrelevant fields normalised.

    Parameters
    ----------
    profile : str or fairlib.config.Profile
    cfg : FisherSVDConfig
    task : str
        The new task's key (``"adult"`` or an image task's key).
    pretrained : str
        The run key of the pre-trained model the head starts from (that run must be stored first).
    method : {"TL", "f+SVD", "OURS", "OURS (shuffled I_N)"}
    run : int
        Split and training seed.
    rank, alpha, lr, optimizer
        Default ``cfg.rank``, 0.5, ``cfg.finetune_lr``, ``cfg.optimizer``; TL has no rank and only OURS an alpha.
    """
    if method not in HEAD_METHODS:
        raise ValueError(f"method={method!r}; valid head methods: {HEAD_METHODS}")
    rank = cfg.rank if rank is None else rank
    config = train_config(cfg, run=run, lr=lr, optimizer=optimizer)
    return RunSpec.make("04", profile, method, int(run), after=(pretrained,), version=VERSION, task=task,
                        pretrained=pretrained, rank=0 if method == "TL" else int(rank),
                        alpha=float(alpha) if method.startswith("OURS") else None, train=asdict(config))


def retrain_spec(profile: Any, cfg: Any, *, task: str, pretrained: str, run: int, penalty: str = "",
                 intensity: float = 0.0) -> RunSpec:
    """The :class:`RunSpec` of retraining the whole pre-trained MLP with a ``penalty`` ("dp", "eo") or none."""
    if penalty not in ("", "dp", "eo"):
        raise ValueError(f"penalty={penalty!r}; valid: '', 'dp', 'eo'")
    config = train_config(cfg, run=run)
    method = "Retrain" + (f"+{penalty.upper()}" if penalty else "")
    return RunSpec.make("04", profile, method, int(run), after=(pretrained,), version=VERSION, task=task,
                        pretrained=pretrained, penalty=penalty or None,
                        intensity=float(intensity) if penalty else 0.0, train=asdict(config))


@dataclass
class Pretrained:
    """A pre-trained model and the frozen features of its new task's pool.

    Attributes
    ----------
    name : str
        ``"f_B"``, ``"f_F (DP, 0.9)"``, ``"MLP-3"``, or the image backbone's name.
    key : str
        The run key of its pre-training (:class:`RunSpec`); every fine-tuning run's spec names it.
    model : fairlib.models.Classifier
        ``head(backbone(x))``; ``head`` is the ``nn.Linear`` the methods start from.
    features : GroupedDataset
        The pool of the new task with ``x`` = ``model.features(x)`` (the head's input), in pool order.
    info : dict
        The pre-training record (epochs' losses, seconds, parameter counts).
    """

    name: str
    key: str
    model: nn.Module
    features: GroupedDataset
    info: dict = field(default_factory=dict)


def _head_from_tensors(tensors: dict) -> nn.Module:
    """The head a run stored (``head.*`` tensors), rebuilt (no need to recompute the Fisher)."""
    state = {k[len("head."):]: v for k, v in tensors.items() if k.startswith("head.")}
    if "A" in state:
        head = FactorizedLinear(state["A"], state["B"], state.get("bias"))
    else:
        head = nn.Linear(state["weight"].shape[1], state["weight"].shape[0], bias="bias" in state)
        head.load_state_dict(state)
    return head.eval().requires_grad_(False)


class NewTask:
    """One dataset's new task: the pool of examples, its per-run splits, and every method's runs, stored.

    A run stores what it predicts (logits on the run's validation and test parts; for head methods also the
    head's test logits before fine-tuning, and its weights), never metrics: the records are computed from the
    stored logits with :func:`fairlib.metrics.evaluate` when they are read.

    Parameters
    ----------
    name : str
        Short name in records and titles (``"Adult"``, ``"CelebA-like stand-in"``).
    key : str
        The task's key in run specs (``"adult"``, ``"celeba_like"``).
    pool : GroupedDataset
        The new task's examples (raw inputs; only Retrain reads them, head methods read the features).
    fractions : tuple of three floats
        Train / validation / test shares of every run's split (stratified by label and group).
    cfg : FisherSVDConfig
    store : fairlib.train.RunStore
    stand_in : bool
        The data or backbone stands in for the paper's (named in titles).
    profile : str or fairlib.config.Profile
        The profile of the run specs (a Profile carries its overrides into them).
    """

    def __init__(self, *, name: str, key: str, pool: GroupedDataset, fractions: Sequence[float], cfg: Any,
                 store: Any, stand_in: bool, profile: Any):
        self.name, self.key, self.pool, self.fractions = name, key, pool, tuple(fractions)
        self.cfg, self.store, self.stand_in, self.profile = cfg, store, stand_in, profile
        self._splits: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

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

    def _base(self, pre: Pretrained, spec: RunSpec | None, *, method: str, run: int) -> dict:
        p = dict(spec.params) if spec is not None else {}
        train = p.get("train") or {}
        rank, alpha = p.get("rank") or 0, p.get("alpha")
        return {"task": self.name, "pretrained": pre.name, "method": method, "rank": int(rank),
                "alpha": float("nan") if alpha is None else float(alpha), "penalty": p.get("penalty") or "",
                "intensity": float(p.get("intensity") or 0.0), "optimizer": train.get("optimizer", ""),
                "lr": float(train.get("lr", float("nan"))), "run": int(run)}

    # -- the pre-trained model as it is -------------------------------------------------------------------
    def pretrained_records(self, pre: Pretrained, *, run: int) -> list[dict]:
        """The pre-trained model evaluated on run ``run``'s validation and test parts (nothing trains)."""
        _, val, test = self.parts(pre.features, run)
        base = self._base(pre, None, method="pre-trained", run=run)
        params = sum(p.numel() for p in pre.model.parameters())
        return [{**base, "split": split, **_metrics_of(pre.model.head, part), "trainable_parameters": 0,
                 "total_parameters": params, "train_seconds": 0.0}
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

    def head_spec(self, pre: Pretrained, *, method: str, run: int, rank: int | None = None, alpha: float = 0.5,
                  lr: float | None = None, optimizer: str | None = None) -> RunSpec:
        """:func:`head_spec` of a run on this task from ``pre``."""
        return head_spec(self.profile, self.cfg, task=self.key, pretrained=pre.key, method=method, run=run,
                         rank=rank, alpha=alpha, lr=lr, optimizer=optimizer)

    def _train_head(self, pre: Pretrained, spec: RunSpec) -> tuple[dict, dict]:
        from ...models import count_parameters
        from ...train import TrainConfig

        run, method = spec.seed, spec.method
        rank, alpha = spec.param("rank") or self.cfg.rank, spec.param("alpha")
        config = TrainConfig(**spec.param("train"))
        train, val, test = self.parts(pre.features, run)
        head, extra = self.build_head(pre, method=method, run=run, rank=rank,
                                      alpha=0.5 if alpha is None else alpha)
        result: dict = {"trainable_parameters": count_parameters(head)["trainable"], **extra}
        with torch.no_grad():
            x = torch.as_tensor(test.x)
            new, old = head(x), pre.model.head(x)
            result["init_logit_gap"] = float((new - old).abs().max())
            # Softmax ignores a shift common to both logits: the decision depends on z1 - z0 only.
            result["init_margin_gap"] = float(((new[:, 1] - new[:, 0]) - (old[:, 1] - old[:, 0])).abs().max())
        # Before fine-tuning, on test only: at full rank it is the pre-trained model (the gap says so), below
        # full rank it shows what the truncation alone does.
        tensors = {"init_logits_test": _logits(head, test)}
        start = time.perf_counter()
        history = fit_on_features(head, train, config=config, desc=f"{method} run {run}", progress=False)
        result["train_seconds"] = time.perf_counter() - start
        result["epoch_losses"] = history.epoch_losses
        tensors.update(logits_val=_logits(head, val), logits_test=_logits(head, test))
        tensors.update({f"head.{k}": v.detach().clone() for k, v in head.state_dict().items()})
        return result, tensors

    def head_run(self, pre: Pretrained, spec: RunSpec) -> tuple[dict, dict]:
        """The stored result and tensors of head run ``spec`` (trained and stored first if missing)."""
        if spec.param("pretrained") != pre.key:
            raise ValueError(f"run {spec.describe()} starts from pre-trained run {spec.param('pretrained')}, "
                             f"not from {pre.name!r} ({pre.key})")
        return self.store.run(spec.to_dict(), lambda: self._train_head(pre, spec))

    def head_records(self, pre: Pretrained, spec: RunSpec) -> list[dict]:
        """Two records (validation, test) of head run ``spec``, evaluated from its stored logits."""
        result, tensors = self.head_run(pre, spec)
        _, val, test = self.parts(pre.features, spec.seed)
        base = {**self._base(pre, spec, method=spec.method, run=spec.seed), "key": spec.key}
        init = {f"init_{k}": v for k, v in _metrics_of_logits(tensors["init_logits_test"], test).items()
                if k in (*METRICS, "accuracy")}
        rows = []
        for split, part in (("val", val), ("test", test)):
            rows.append({**base, "split": split, **_metrics_of_logits(tensors[f"logits_{split}"], part),
                         **(init if split == "test" else {k: float("nan") for k in init}),
                         "init_logit_gap": result["init_logit_gap"], "init_margin_gap": result["init_margin_gap"],
                         "trainable_parameters": result["trainable_parameters"],
                         "train_seconds": result["train_seconds"]})
        return rows

    def finetune(self, pre: Pretrained, *, method: str, run: int, rank: int | None = None, alpha: float = 0.5,
                 lr: float | None = None, optimizer: str | None = None) -> list[dict]:
        """Train (or reuse) one head run; two records (validation, test). See :func:`head_spec`."""
        return self.head_records(pre, self.head_spec(pre, method=method, run=run, rank=rank, alpha=alpha, lr=lr,
                                                     optimizer=optimizer))

    def run_details(self, pre: Pretrained, *, method: str, run: int, rank: int | None = None, alpha: float = 0.5,
                    lr: float | None = None, optimizer: str | None = None) -> dict:
        """The stored result of a head run (Fisher rows and importances for OURS, epoch losses)."""
        spec = self.head_spec(pre, method=method, run=run, rank=rank, alpha=alpha, lr=lr, optimizer=optimizer)
        return self.head_run(pre, spec)[0]

    def trained_head(self, pre: Pretrained, *, method: str, run: int, rank: int | None = None, alpha: float = 0.5,
                     lr: float | None = None, optimizer: str | None = None) -> nn.Module:
        """The fine-tuned head of a (stored) run, rebuilt and loaded with its trained weights."""
        spec = self.head_spec(pre, method=method, run=run, rank=rank, alpha=alpha, lr=lr, optimizer=optimizer)
        return _head_from_tensors(self.head_run(pre, spec)[1])

    # -- retraining the whole MLP -------------------------------------------------------------------------
    def retrain_spec(self, pre: Pretrained, *, run: int, penalty: str = "", intensity: float = 0.0) -> RunSpec:
        """:func:`retrain_spec` of a run on this task from ``pre``."""
        return retrain_spec(self.profile, self.cfg, task=self.key, pretrained=pre.key, run=run, penalty=penalty,
                            intensity=intensity)

    def _train_retrain(self, pre: Pretrained, spec: RunSpec) -> tuple[dict, dict]:
        from ...models import count_parameters
        from ...train import TrainConfig

        config = TrainConfig(**spec.param("train"))
        penalty, intensity = spec.param("penalty") or "", spec.param("intensity")
        model = copy.deepcopy(pre.model).requires_grad_(True)
        train_part, val, test = self.parts(self.pool, spec.seed)
        # Retrain+DP/EO (Table 3) keep the probability-gap penalty; only f_F follows fair_penalty (Table 2).
        terms = [FairnessPenalty(kind=penalty, intensity=float(intensity))] if penalty else []
        start = time.perf_counter()
        history = fit_on_features(model, train_part, config=config, loss_terms=terms, progress=False)
        result = {"trainable_parameters": count_parameters(model)["trainable"],
                  "train_seconds": time.perf_counter() - start, "epoch_losses": history.epoch_losses}
        return result, {"logits_val": _logits(model, val), "logits_test": _logits(model, test)}

    def retrain_records(self, pre: Pretrained, spec: RunSpec) -> list[dict]:
        """Two records (validation, test) of retraining run ``spec`` (trained and stored first if missing)."""
        result, tensors = self.store.run(spec.to_dict(), lambda: self._train_retrain(pre, spec))
        _, val, test = self.parts(self.pool, spec.seed)
        base = {**self._base(pre, spec, method=spec.method, run=spec.seed), "key": spec.key}
        return [{**base, "split": split, **_metrics_of_logits(tensors[f"logits_{split}"], part),
                 "trainable_parameters": result["trainable_parameters"], "train_seconds": result["train_seconds"]}
                for split, part in (("val", val), ("test", test))]

    def retrain(self, pre: Pretrained, *, run: int, penalty: str = "", intensity: float = 0.0) -> list[dict]:
        """All parameters of the pre-trained MLP trained on run ``run`` (from its pre-trained weights),
        with a ``penalty`` ("dp" or "eo") of ``intensity`` or none ("")."""
        return self.retrain_records(pre, self.retrain_spec(pre, run=run, penalty=penalty, intensity=intensity))
