"""How each method runs on one task and seed (:class:`SeedContext`), and the registration of every method."""

from __future__ import annotations

import copy
import functools
import os
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ...data import GroupedDataset, Splits
from ...methods.postprocessing import fit_threshold_optimizer, threshold_predict
from ._methods import Method, Outcome, register_method
from ._tasks import BenchmarkTask

__all__ = ["SeedContext", "run_reference", "run_probe", "run_tl", "run_fsvd", "run_fisher_svd", "run_full",
           "run_lora", "run_fairlora", "run_fairlora_cxa", "run_fair_full", "run_threshold", "two_party_uses"]


@dataclass
class SeedContext:
    """Everything one run reads: the task, the seed's split, cached features, the two-party views and exchanges.

    Method runs read it; :func:`fairlib.experiments.benchmark.train_job` builds it. ``workdir`` holds the run's
    exchange folders; ``auditor_dir`` the auditor's sensitive adapter of this task and seed (shared by Unl and
    Orth, trained by its own job); ``upstream(method, params)`` returns the stored ``(record, tensors)`` of a run
    this one consumes (post-processing: LoRA's scores).
    """

    task: BenchmarkTask
    seed: int
    splits: Splits
    profile: Any
    workdir: Path
    upstream: Callable[[str, dict], tuple[dict, dict]]
    auditor_dir: Path | None = None
    progress: bool = False
    _cache: dict = field(default_factory=dict)

    @property
    def cfg(self) -> Any:
        return self.profile.benchmark

    @property
    def budget(self) -> Any:
        return self.cfg.budget(self.task.modality)

    @property
    def device(self) -> str:
        return "cuda" if torch.cuda.is_available() else "cpu"

    def part(self, name: str) -> GroupedDataset:
        """``"train"``, ``"val"`` or ``"test"`` of this seed's split."""
        if name not in ("train", "val", "test"):
            raise ValueError(f"part={name!r}; valid choices: ('train', 'val', 'test')")
        return getattr(self.splits, name)

    def head_data(self, name: str) -> GroupedDataset:
        """The part as frozen-backbone features of the pre-trained model (what head-only methods train on)."""
        data = self.part(name)
        x = self.task.pool_features[np.asarray(data.info["pool_index"])]
        return GroupedDataset(name=f"{data.name} (features)", x=x, y=data.y, s=data.s, group_names=data.group_names,
                              class_names=data.class_names, sensitive_name=data.sensitive_name)

    def model(self) -> nn.Module:
        """A fresh copy of the pre-trained classifier."""
        return copy.deepcopy(self.task.pretrained)

    def train_config(self, *, lr: float, epochs: int | None = None) -> Any:
        from ...train import TrainConfig

        b = self.budget
        return TrainConfig(epochs=epochs or b.epochs, lr=lr, batch_size=b.batch_size, seed=self.seed,
                           mixed_precision=self.profile.mixed_precision)

    def roles(self) -> tuple[Any, Any]:
        """Developer and auditor views of the training part (paper 3's data owner split)."""
        if "roles" not in self._cache:
            from ...methods.privacy_roles import split_roles

            share = self.profile.privacy.auditor_fraction
            self._cache["roles"] = split_roles(self.splits.train, auditor_fraction=share, seed=self.seed,
                                               transform=self.task.transform)
        return self._cache["roles"]

    def backbone_factory(self) -> Callable[[], nn.Module]:
        """Fresh frozen copies of the task's ViT (each party, each run gets its own)."""
        base = self.task.vit_backbone

        def fresh() -> nn.Module:
            return copy.deepcopy(base)

        fresh.config = base.config
        return fresh

    def sensitive_adapter(self) -> tuple[Path, float]:
        """The auditor's sensitive adapter (Unl, Orth): its exchange folder and its training seconds.

        Trained once per task and seed into ``auditor_dir`` (written to a temporary folder, then renamed, so a
        killed run leaves no half-written adapter); the seconds are kept beside it.
        """
        if "sensitive" not in self._cache:
            folder = Path(self.auditor_dir if self.auditor_dir is not None else self.workdir / "auditor_sensitive")
            seconds_file = folder.with_name(f"{folder.name}.seconds")  # beside it: an exchange holds only its files
            if not (seconds_file.exists() and folder.is_dir()):
                from ...methods.privacy_strategies import train_sensitive_adapter
                from ...models import LoraSpec

                _, auditor = self.roles()
                b, pc = self.budget, self.profile.privacy
                tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
                shutil.rmtree(tmp, ignore_errors=True)
                start = time.perf_counter()
                train_sensitive_adapter(auditor, tmp, backbone=self.backbone_factory()(),
                                        lora=LoraSpec(r=b.lora_rank, alpha=b.lora_alpha), lr=b.lr_lora,
                                        batch_size=b.batch_size, epochs=pc.auditor_epochs, seed=self.seed,
                                        device=self.device)
                seconds = time.perf_counter() - start
                shutil.rmtree(folder, ignore_errors=True)
                folder.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, folder)
                tmp_seconds = seconds_file.with_name(f"{seconds_file.name}.tmp{os.getpid()}")
                tmp_seconds.write_text(repr(seconds))
                os.replace(tmp_seconds, seconds_file)  # written last: its presence means the adapter is complete
            self._cache["sensitive"] = (folder, float(seconds_file.read_text()))
        return self._cache["sensitive"]


# ------------------------------------------------------------------------------------------- method runs
def _predictions(model: nn.Module, ctx: SeedContext, *, features: bool) -> dict:
    from ...train import predict

    out = {}
    for name in ("val", "test"):
        data = ctx.head_data(name) if features else ctx.part(name)
        p = predict(model, data, encode=None if features else ctx.task.encode,
                    transform=None if features else ctx.task.transform)
        out[f"{name}_pred"], out[f"{name}_prob"] = p.y_pred, p.probs
    return out


def _train_head(ctx: SeedContext, head: nn.Module, *, extra_seconds: float = 0.0,
                details: dict | None = None) -> Outcome:
    from ...models import Classifier, count_parameters
    from ...train import fit

    model = Classifier(nn.Identity(), head)
    model.requires_grad_(True)
    b = ctx.budget
    start = time.perf_counter()
    fit(model, ctx.head_data("train"), config=ctx.train_config(lr=b.lr_head, epochs=b.head_epochs),
        desc=f"head seed={ctx.seed}", progress=ctx.progress)
    seconds = time.perf_counter() - start + extra_seconds
    return Outcome(trainable_parameters=count_parameters(model)["trainable"], train_seconds=seconds,
                   details=details or {}, **_predictions(model, ctx, features=True))


def _pretrained_head(ctx: SeedContext) -> nn.Linear:
    return copy.deepcopy(ctx.task.pretrained.head)


def run_reference(ctx: SeedContext, params: dict) -> Outcome:
    """The pre-trained model as it is (nothing trained on the new task)."""
    from ...models import Classifier

    model = Classifier(nn.Identity(), _pretrained_head(ctx))
    return Outcome(trainable_parameters=0, train_seconds=0.0, **_predictions(model, ctx, features=True))


def run_probe(ctx: SeedContext, params: dict) -> Outcome:
    """Linear probe: a freshly initialised head on the frozen features (paper 1's "base model")."""
    from ...train import seed_everything

    pre = ctx.task.pretrained.head
    seed_everything(ctx.seed)
    return _train_head(ctx, nn.Linear(pre.in_features, pre.out_features))


def run_tl(ctx: SeedContext, params: dict) -> Outcome:
    """TL (paper 4): the pre-trained last layer fine-tuned on the frozen features."""
    return _train_head(ctx, _pretrained_head(ctx))


def run_fsvd(ctx: SeedContext, params: dict) -> Outcome:
    """f+SVD (paper 4): the last layer replaced by its rank-r plain SVD factors, fine-tuned."""
    from ...methods.fisher_svd import FactorizedLinear

    return _train_head(ctx, FactorizedLinear.from_linear(_pretrained_head(ctx), rank=ctx.cfg.svd_rank))


def run_fisher_svd(ctx: SeedContext, params: dict) -> Outcome:
    """Fisher-neutralised weighted SVD (paper 4's OURS) of the pre-trained last layer, fine-tuned.

    The per-group empirical Fisher diagonal of the last layer is estimated on the new task's *training* part
    (the features the head sees), reduced to one importance per input unit, neutralised with weight ``alpha``
    (``params["alpha"]``), and used to weight the rank-``svd_rank`` SVD; the factors are then fine-tuned like TL.
    Notebook 04's runner can replace this adapter (same signature, same cached features).
    """
    from ...methods.fisher_svd import FactorizedLinear, neutralized_importance

    head = _pretrained_head(ctx)
    train = ctx.head_data("train")
    start = time.perf_counter()
    importance = neutralized_importance(head, torch.as_tensor(train.x), torch.as_tensor(train.y),
                                        groups=torch.as_tensor(train.s), num_groups=len(train.group_names),
                                        alpha=float(params.get("alpha", 0.5)))["importance"]
    layer = FactorizedLinear.from_linear(head, rank=ctx.cfg.svd_rank, importance=importance.to(head.weight.dtype))
    seconds = time.perf_counter() - start
    return _train_head(ctx, layer, extra_seconds=seconds, details={"importance": importance.tolist()})


def _lora_spec(ctx: SeedContext) -> Any:
    from ...models import LoraSpec

    b = ctx.budget
    return LoraSpec(r=b.lora_rank, alpha=b.lora_alpha, target_modules=ctx.task.lora_targets)


def _run_whole(ctx: SeedContext, *, adaptation: str, lam: float, groups: str | None = None) -> Outcome:
    from ...models import adapt, count_parameters
    from ...train import fit
    from ...methods.fairlora import FairLoRARegularizer

    from ...train import seed_everything

    b = ctx.budget
    # LoRA's initial adapter weights are drawn here: seeded, so that a run does not depend on what ran before it
    # in the same process.
    seed_everything(ctx.seed)
    model = adapt(ctx.model(), adaptation, lora=_lora_spec(ctx) if adaptation == "lora" else None)
    by = groups or ctx.cfg.fair_groups
    terms = [FairLoRARegularizer.for_dataset(ctx.splits.train, lam=lam, by=by)] if lam > 0 else []
    start = time.perf_counter()
    fit(model, ctx.part("train"), config=ctx.train_config(lr=b.lr_lora if adaptation == "lora" else b.lr_full),
        loss_terms=terms, encode=ctx.task.encode, transform=ctx.task.transform,
        desc=f"{adaptation} lambda={lam:g} seed={ctx.seed}", progress=ctx.progress,
        num_workers=ctx.profile.num_workers)
    seconds = time.perf_counter() - start
    return Outcome(trainable_parameters=count_parameters(model)["trainable"], train_seconds=seconds,
                   **_predictions(model, ctx, features=False))


def run_full(ctx: SeedContext, params: dict) -> Outcome:
    """Full fine-tuning of the pre-trained classifier (paper 4's "retraining" on Adult)."""
    return _run_whole(ctx, adaptation="full", lam=0.0)


def run_lora(ctx: SeedContext, params: dict) -> Outcome:
    """LoRA on the attention query/value projections (the MLP's hidden layer on Adult), head trained."""
    return _run_whole(ctx, adaptation="lora", lam=0.0)


#: The groups of each FairLoRA method's loss variance (paper 2's two readings): per class, the paper's headline
#: ("minimizing per-class variance in loss"), and the label x sensitive-attribute cells (its "or subgroup").
FAIRLORA_GROUPS = {"fairlora": "class", "fairlora_cxa": "class_attribute"}


def run_fairlora(ctx: SeedContext, params: dict) -> Outcome:
    """FairLoRA (paper 2), per-class (the paper's headline): LoRA + lambda x variance of the per-class losses."""
    return _run_whole(ctx, adaptation="lora", lam=float(params["lam"]), groups=FAIRLORA_GROUPS["fairlora"])


def run_fairlora_cxa(ctx: SeedContext, params: dict) -> Outcome:
    """FairLoRA (paper 2), class x attribute: LoRA + lambda x variance of the losses of the label x sensitive
    attribute cells (the paper's "or subgroup" reading)."""
    return _run_whole(ctx, adaptation="lora", lam=float(params["lam"]), groups=FAIRLORA_GROUPS["fairlora_cxa"])


def run_fair_full(ctx: SeedContext, params: dict) -> Outcome:
    """Fair full fine-tuning (paper 2): full FT + the same regulariser."""
    return _run_whole(ctx, adaptation="full", lam=float(params["lam"]))


def _run_two_party(ctx: SeedContext, strategy: str, params: dict) -> Outcome:
    from ...methods.privacy_strategies import run_strategy

    developer_view, auditor_view = ctx.roles()
    b, pc = ctx.budget, ctx.profile.privacy
    sensitive, auditor_seconds = ctx.sensitive_adapter() if strategy in ("unl", "orth") else (None, 0.0)
    start = time.perf_counter()
    developer, received = run_strategy(
        strategy, developer_view, backbone=ctx.backbone_factory(), lora=_lora_spec(ctx), epochs=b.epochs,
        lr=b.lr_lora, batch_size=b.batch_size, seed=ctx.seed, workdir=ctx.workdir / strategy,
        auditor_view=auditor_view, sensitive_adapter=sensitive, unlearn_scale=pc.unlearn_scale,
        orth_lambda=float(params.get("orth_lambda", pc.orth_lambda)), orth_components=pc.orth_components, adv_lambda=pc.adv_lambda, adv_lr=pc.adv_lr,
        adv_refit_epochs=pc.adv_refit_epochs, device=ctx.device)
    seconds = time.perf_counter() - start + auditor_seconds
    out = {}
    for name in ("val", "test"):
        prob = developer.predict_proba(ctx.part(name).x, transform=ctx.task.transform)
        out[f"{name}_pred"], out[f"{name}_prob"] = prob.argmax(axis=1), prob
    adapter = sum(p.numel() for n, p in developer.model.named_parameters() if "lora_" in n and ".default." in n)
    head = sum(p.numel() for p in developer.head.parameters())
    return Outcome(trainable_parameters=int(adapter + head), train_seconds=seconds,
                   details={"auditor_seconds": auditor_seconds, "auditor_signals": received}, **out)


def run_threshold(ctx: SeedContext, params: dict) -> Outcome:
    """fairlearn's ThresholdOptimizer on the LoRA run's scores (same seed): group-specific thresholds.

    It is fitted on one half of the validation split (stratified by label x group, from the seed) and its
    constraint is chosen on the other half; parameters and seconds include the LoRA run it post-processes.
    """
    lora_metrics, lora_tensors = ctx.upstream("lora", {})
    val = ctx.part("val")
    rng = np.random.default_rng(ctx.seed)
    cells = val.y * len(val.group_names) + val.s
    fit_mask = np.zeros(len(val), dtype=bool)
    for cell in np.unique(cells):
        idx = rng.permutation(np.flatnonzero(cells == cell))
        fit_mask[idx[: len(idx) // 2]] = True
    val_scores = lora_tensors["val_prob"].numpy()[:, 1]
    test_scores = lora_tensors["test_prob"].numpy()[:, 1]
    start = time.perf_counter()
    optimizer = fit_threshold_optimizer(val_scores[fit_mask], val.y[fit_mask], sensitive_features=val.s[fit_mask],
                                        constraint=params["constraint"], objective=ctx.cfg.threshold_objective,
                                        grid_size=ctx.cfg.threshold_grid_size)
    seconds = time.perf_counter() - start
    select = np.flatnonzero(~fit_mask)
    test = ctx.part("test")
    return Outcome(val_pred=threshold_predict(optimizer, val_scores[select], sensitive_features=val.s[select],
                                              random_state=ctx.seed),
                   test_pred=threshold_predict(optimizer, test_scores, sensitive_features=test.s,
                                               random_state=ctx.seed),
                   val_index=select, trainable_parameters=int(lora_metrics["trainable_parameters"]),
                   train_seconds=float(lora_metrics["train_seconds"]) + seconds,
                   details={"postprocess_seconds": seconds, "fit_examples": int(fit_mask.sum())})


def run_peft(ctx: SeedContext, params: dict, *, key: str) -> Outcome:
    """Notebook 06's method ``key`` (:data:`fairlib.methods.peft_family.PEFT_METHODS`) at its recipe: peft's default
    width on peft's default modules of every block (BitFit: the backbone's biases), the head trained, at LoRA's
    epochs and learning rate of the modality.

    Raises
    ------
    fairlib.methods.peft_family.NotApplicable
        peft refuses the recipe on this task's backbone (its message says why).
    """
    from ...methods.peft_family import NotApplicable, adalora_allocation, get_peft_method, recipe_choice, wrap
    from ...models import count_parameters
    from ...train import fit, seed_everything

    b = ctx.budget
    choice = recipe_choice(ctx.model, key)
    if choice.reason:
        raise NotApplicable(choice.reason)
    seed_everything(ctx.seed)  # the adapter's initial weights are drawn here
    train = ctx.part("train")
    steps = b.epochs * -(-len(train) // b.batch_size)
    adapter = get_peft_method(key).kind == "adapter"
    model = wrap(ctx.model(), key, choice.placement if adapter else None, total_steps=steps)
    start = time.perf_counter()
    with adalora_allocation(model), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # peft's per-step notices
        fit(model, train, config=ctx.train_config(lr=b.lr_lora), encode=ctx.task.encode,
            transform=ctx.task.transform, desc=f"{key} seed={ctx.seed}", progress=ctx.progress,
            num_workers=ctx.profile.num_workers)
    seconds = time.perf_counter() - start
    return Outcome(trainable_parameters=count_parameters(model)["trainable"], train_seconds=seconds,
                   details={"placement": choice.placement.to_dict(), "adapter_parameters": choice.adapter_parameters},
                   **_predictions(model, ctx, features=False))


def _peft_methods() -> list[Method]:
    """Notebook 06's family in this registry (``peft_<key>``), in its display order; LoRA, the probe and full
    fine-tuning are already here. Each applies to the modalities its :class:`~fairlib.methods.peft_family.PeftMethod`
    declares: BOFT's block size must divide each adapted layer's inputs (Adult's MLP has 34, which no block size of
    peft's BOFT recipe divides), so image and text tasks only; prompt tuning prepends virtual tokens to a text
    model's token embeddings, so text tasks only."""
    from ...methods.peft_family import PEFT_METHODS

    out = []
    for key, method in PEFT_METHODS.items():
        if key in ("lora", "probe", "full"):
            continue
        out.append(Method(f"peft_{key}", method.label, "peft", "whole", functools.partial(run_peft, key=key),
                          modalities=method.modalities,
                          uses=lambda cfg, profile, budget: {**_budget_uses("epochs", "batch_size", "lr_lora")(
                              cfg, profile, budget), "recipe": "peft default", "version": 1},
                          description=f"{method.label} at its recipe (notebook 06's family)"))
    return out


def _budget_uses(*names: str) -> Callable[[Any, Any, Any], dict]:
    return lambda cfg, profile, budget: {n: getattr(budget, n) for n in names}


_LORA_USES = ("epochs", "batch_size", "lr_lora", "lora_rank", "lora_alpha")
_FULL_USES = ("epochs", "batch_size", "lr_full")
_HEAD_USES = ("head_epochs", "lr_head", "batch_size")
_PRIVACY_FIELDS = ("auditor_fraction", "auditor_epochs", "unlearn_scale", "orth_lambda", "orth_components",
                   "adv_lambda", "adv_lr", "adv_refit_epochs")


def _fair_uses(names: tuple[str, ...], groups: str | None = None) -> Callable[[Any, Any, Any], dict]:
    """The budget's ``names`` and the regulariser's groups: ``groups`` (a FairLoRA reading), else
    ``cfg.fair_groups`` (recorded as each run's ``grouping``)."""
    return lambda cfg, profile, budget: {**_budget_uses(*names)(cfg, profile, budget),
                                         "fair_groups": groups or cfg.fair_groups}


def two_party_uses(cfg: Any, profile: Any, budget: Any) -> dict:
    return {**_budget_uses(*_LORA_USES)(cfg, profile, budget),
            "privacy": {n: getattr(profile.privacy, n) for n in _PRIVACY_FIELDS}}


def _svd_uses(cfg: Any, profile: Any, budget: Any) -> dict:
    return {**_budget_uses(*_HEAD_USES)(cfg, profile, budget), "svd_rank": cfg.svd_rank}


def _threshold_uses(cfg: Any, profile: Any, budget: Any) -> dict:
    return {"lora": _budget_uses(*_LORA_USES)(cfg, profile, budget), "objective": cfg.threshold_objective,
            "grid_size": cfg.threshold_grid_size, "version": 1}


for _method in (
    Method("pretrained", "Pre-trained", "reference", "reference", run_reference,
           description="the pre-trained model, not adapted to the new task"),
    Method("probe", "Linear probe", "p1", "head", run_probe, uses=_budget_uses(*_HEAD_USES),
           description="fresh head on frozen features"),
    Method("full", "Full FT", "p1", "whole", run_full, uses=_budget_uses(*_FULL_USES),
           description="every weight fine-tuned (paper 4: retraining)"),
    Method("lora", "LoRA", "p1", "whole", run_lora, uses=_budget_uses(*_LORA_USES),
           description="low-rank adapters on query/value (Adult: the hidden layer), head trained"),
    Method("fairlora", "FairLoRA (per-class)", "p2", "whole", run_fairlora,
           uses=_fair_uses(_LORA_USES, FAIRLORA_GROUPS["fairlora"]),
           grid=lambda cfg: [{"lam": float(v)} for v in cfg.fair_lambdas],
           description="LoRA + lambda x Var over classes of the per-class loss (the paper's headline reading)"),
    Method("fairlora_cxa", "FairLoRA (class x attribute)", "p2", "whole", run_fairlora_cxa,
           uses=_fair_uses(_LORA_USES, FAIRLORA_GROUPS["fairlora_cxa"]),
           grid=lambda cfg: [{"lam": float(v)} for v in cfg.fair_lambdas],
           description="LoRA + lambda x Var over label x attribute cells of their losses (the other reading)"),
    Method("fair_full", "Fair full FT", "p2", "whole", run_fair_full, uses=_fair_uses(_FULL_USES),
           grid=lambda cfg: [{"lam": float(v)} for v in cfg.fair_lambdas],
           description="full FT + the FairLoRA regulariser"),
    Method("erm", "Erm", "p3", "two-party", lambda ctx, p: _run_two_party(ctx, "erm", p), modalities=("image",),
           uses=two_party_uses, description="developer's LoRA, fairness-unaware (half the training data)"),
    Method("unl", "Unl", "p3", "two-party", lambda ctx, p: _run_two_party(ctx, "unl", p), modalities=("image",),
           uses=two_party_uses, description="auditor's sensitive adapter negated, then developer's LoRA"),
    Method("adv", "Adv", "p3", "two-party", lambda ctx, p: _run_two_party(ctx, "adv", p), modalities=("image",),
           uses=two_party_uses, description="alternating developer task / auditor adversarial rounds"),
    Method("orth", "Orth", "p3", "two-party", lambda ctx, p: _run_two_party(ctx, "orth", p), modalities=("image",),
           uses=two_party_uses, grid=lambda cfg: [{"orth_lambda": float(v)} for v in cfg.orth_lambdas],
           description="developer's LoRA orthogonal to the auditor's sensitive representation"),
    Method("tl", "TL", "p4", "head", run_tl, uses=_budget_uses(*_HEAD_USES),
           description="pre-trained last layer fine-tuned on frozen features"),
    Method("fsvd", "f+SVD", "p4", "head", run_fsvd, uses=_svd_uses,
           description="last layer as rank-r SVD factors, fine-tuned"),
    Method("fisher_svd", "Fisher-SVD", "p4", "head", run_fisher_svd, uses=_svd_uses,
           grid=lambda cfg: [{"alpha": float(v)} for v in cfg.fisher_alphas],
           description="Fisher-neutralised weighted SVD of the last layer (paper 4's OURS), fine-tuned"),
    Method("threshold", "LoRA + ThresholdOptimizer", "post", "post-processing", run_threshold,
           uses=_threshold_uses, requires="lora", binary_only=True,
           grid=lambda cfg: [{"constraint": c} for c in cfg.threshold_constraints],
           description="fairlearn's group thresholds on LoRA's scores, fitted on validation"),
):
    register_method(_method)
for _method in _peft_methods():
    register_method(_method)

