"""Notebook 06's grid as data (:func:`jobs`), one run (:func:`run_job`), and collecting the stored runs.

Per task: notebook 05's pre-trained model (its ``pretrain`` run, stored in notebook 06's run store), then per
budget, per method, per seed one run. The budget's placement of each method (module set, layers, width) is
chosen once per task by :func:`budget_choices` and written into each run's parameters; a method peft cannot
apply, or whose nearest budget misses the target by more than the tolerance, is listed by :func:`skipped` with
the reason and has no run at the matched budget.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from ... import paths
from ...methods import membership as mi
from ...config import OWN_SIZE, ConfigError, budget_name, get_profile, overrides_of
from .. import benchmark as bm
from .._spec import RunSpec
from ...methods.peft_family import (BudgetChoice, Placement, adalora_allocation, get_peft_method, head_parameters, match_budget,
                                    recipe_choice, wrap)

__all__ = ["NOTEBOOK", "seeds_of", "jobs", "run_job", "train_job", "collect", "budget_choices", "skipped", "backbone_parameters",
           "plan_without_data", "lira_membership", "lira_pool", "lira_role", "LIRA_TARGET"]

NOTEBOOK = "06"
_HOURS = {"whole": 0.3}


def _profile(profile: Any) -> Any:
    return get_profile(profile) if isinstance(profile, str) else profile


def _profile05(profile: Any) -> Any:
    # Notebook 05's view of the profile: without notebook 06's own overrides, so that the pre-trained model's key
    # (and the run that trains it) does not change when only a setting of notebook 06 does.
    changed = {k: v for k, v in overrides_of(profile).items() if k != "peft_family"}
    return get_profile(profile.name, **changed) if changed != overrides_of(profile) else profile


def seeds_of(profile: Any, task: str | None = None) -> tuple[int, ...]:
    """The training seeds of notebook 06 at ``profile``: ``profile.peft_family.seeds``, else the profile's.

    With ``task``, the seeds that task runs: the first ``n`` when ``peft_family.seed_limits`` limits it to ``n``.
    """
    profile = _profile(profile)
    seeds = tuple(profile.peft_family.seeds or profile.seeds)
    limit = dict(profile.peft_family.seed_limits).get(task) if task is not None else None
    return seeds[:limit] if limit is not None else seeds


def _pretrain_spec05(key: str, profile: Any) -> RunSpec:
    # Notebook 05's pre-trained model of the task (same data, share and budget), trained into 06's run store.
    p05 = _profile05(profile)
    return bm.jobs(p05, tasks=[key], methods=["pretrained"], seeds=[p05.benchmark.data_seed])[0]


def _pretrain_spec(key: str, profile: Any) -> RunSpec:
    return RunSpec.make(NOTEBOOK, profile, "pretrain", profile.benchmark.data_seed,
                        task=bm.task_params(key, profile))


def _load_task(key: str, profile: Any, **kwargs: Any) -> Any:
    return bm.load_task(key, _profile05(profile), **kwargs)


def backbone_parameters(model: Any) -> int:
    """Parameters of the classifier's backbone (the budget's reference)."""
    return sum(p.numel() for p in model.backbone.parameters())


def _methods_source_hash() -> str:
    from ...methods import peft_family

    return hashlib.sha256(Path(peft_family.__file__).read_bytes()).hexdigest()[:16]


_CHOICES: dict[str, tuple[dict, ...]] = {}


def _declined(method: str, modality: str, target: int | None) -> BudgetChoice | None:
    # A method declared for other modalities (prompt tuning: text only) is not tried: its row says why.
    m = get_peft_method(method)
    reason = m.not_applicable_reason(modality)
    if reason is None:
        return None
    return BudgetChoice(method, m.recipe, 0, target, None, False, reason)


def _choices_cached(key: str, profile: Any) -> tuple[dict, ...]:
    # Per process in memory, across processes in paths.CACHE, keyed by everything the search depends on.
    import peft

    cfg = profile.peft_family
    task = _load_task(key, profile, pretrained=False)
    make = task.make_classifier
    modality = task.modality
    model = make()
    backbone = backbone_parameters(model)
    levels = cfg.levels(modality) if "matched" in cfg.budgets else ()
    ident = json.dumps({"task": bm.task_params(key, profile), "methods": list(cfg.methods), "budgets": list(cfg.budgets),
                        "levels": list(levels), "backbone": backbone, "tolerance": cfg.tolerance,
                        "peft": peft.__version__, "code": _methods_source_hash()}, sort_keys=True, default=str)
    digest = hashlib.sha256(ident.encode()).hexdigest()[:16]
    if digest in _CHOICES:
        return _CHOICES[digest]
    path = paths.CACHE / "peft_family_budgets" / f"{digest}.json"
    if path.exists():
        _CHOICES[digest] = tuple(json.loads(path.read_text()))
        return _CHOICES[digest]
    base = {"task": key, "backbone_parameters": backbone, "head_parameters": head_parameters(model)}
    rows = []
    adapters = [m for m in cfg.methods if get_peft_method(m).kind == "adapter"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for level in levels:
            target = round(level * backbone)
            for method in adapters:
                choice = (_declined(method, modality, target) or
                          match_budget(make, method, target, tolerance=cfg.tolerance))
                rows.append({**base, "budget": budget_name(level), "level": level, **choice.to_dict()})
        if "recipe" in cfg.budgets:
            for method in adapters:
                choice = _declined(method, modality, None) or recipe_choice(make, method)
                rows.append({**base, "budget": budget_name(None), "level": None, **choice.to_dict()})
        for method in [m for m in cfg.methods if get_peft_method(m).kind == "reference"]:
            rows.append({**base, "budget": OWN_SIZE, "level": None, **recipe_choice(make, method).to_dict()})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(rows))
    tmp.replace(path)
    _CHOICES[digest] = tuple(rows)
    return _CHOICES[digest]


def budget_choices(profile: Any, *, tasks: Sequence[str] | None = None) -> pd.DataFrame:
    """Per task, budget and method: the placement, its trainable adapter parameters and the target.

    Columns: ``task, budget, level, method, modules, layers, width, adapter_parameters, target, relative_error,
    within, reason, backbone_parameters, head_parameters``. ``budget`` names the budget: ``"matched 0.1%"``
    (``level`` 0.001: the adapters matched to 0.1% of the backbone), ``"recipe"`` (each adapter at its
    recommended setting, no target) or ``"own size"`` (the references, probe, BitFit and full fine-tuning, at
    their only size, run once per task).
    """
    profile = _profile(profile)
    rows = [r for key in (tasks or profile.peft_family.tasks) for r in _choices_cached(key, profile)]
    return pd.DataFrame(rows)


def _runs_at(row: dict) -> bool:
    if row["budget"].startswith("matched"):
        return bool(row["within"])
    return row["reason"] is None or (isinstance(row["reason"], float) and np.isnan(row["reason"]))


def skipped(profile: Any) -> pd.DataFrame:
    """The (task, budget, method) without runs and why (peft's refusal, or the budget out of reach)."""
    choices = budget_choices(profile)
    mask = [not _runs_at(r) for r in choices.to_dict(orient="records")]
    return choices.loc[mask, ["task", "budget", "method", "reason"]].reset_index(drop=True)


def plan_without_data(profile: Any, *, tasks: Sequence[str] | None = None) -> dict[str, dict]:
    """The most runs :func:`jobs` can list, from the configuration alone: for a dry run before the data and the
    backbone are in place.

    :func:`jobs` sizes each adapter's rank or width on the task's classifier (the matched budgets), which needs the
    task's data and the backbone's weights. Without them this counts what the grid would hold if every adapter
    reached every budget: the same tasks, budgets, variance-term lambdas, seeds, per-budget seed limits and LiRA
    targets and shadows as :func:`jobs`, without the methods declared for other modalities (prompt tuning off
    text, BOFT on tabular tasks). An adapter that cannot get within the tolerance of a budget, or that peft
    refuses, is dropped by :func:`jobs` (:func:`skipped`), so the real grid has at most these runs.

    Returns
    -------
    dict
        Method -> ``{"runs", "seeds", "gpu_hours"}`` (``"pretrain"``: one per task), in :func:`jobs`' order.
    """
    profile = _profile(profile)
    cfg = profile.peft_family
    out: dict[str, dict] = {}

    def add(method: str, seeds: Sequence[int], runs: int, hours: float) -> None:
        entry = out.setdefault(method, {"runs": 0, "seeds": set(), "gpu_hours": 0.0})
        entry["runs"] += runs
        entry["seeds"].update(seeds)
        entry["gpu_hours"] += runs * hours

    hours = 0.0 if profile.stand_in else _HOURS["whole"]
    for key in tasks or cfg.tasks:
        modality = bm.task_traits(key, profile=profile).modality
        add("pretrain", [profile.benchmark.data_seed], 1, 0.0)
        levels = cfg.levels(modality) if "matched" in cfg.budgets else ()
        adapter_budgets = [budget_name(level) for level in levels] + (["recipe"] if "recipe" in cfg.budgets else [])
        for method in cfg.methods:
            if get_peft_method(method).not_applicable_reason(modality):  # declared for other modalities: no run
                continue
            kind = get_peft_method(method).kind
            for budget in (adapter_budgets if kind == "adapter" else [OWN_SIZE]):
                lams = (0.0,) + (cfg.lambdas_of(key) if kind == "adapter" and budget != "recipe" else ())
                seeds = seeds_of(profile, key)[:dict(cfg.budget_seed_limits).get(budget)]
                add(method, seeds, len(lams) * len(seeds), hours)
            if key == cfg.lira_task:  # its LiRA target and shadows (_lira_specs)
                lira_seeds = [cfg.lira_seed + i for i in range(cfg.lira_shadows + 1)]
                add(method, lira_seeds, len(lira_seeds), hours)
    return {m: {**e, "seeds": len(e["seeds"])} for m, e in out.items()}


def _uses(profile: Any, modality: str, method: str) -> dict:
    cfg = profile.peft_family
    full = method == "full"
    return {"epochs": cfg.epochs(modality), "lr": cfg.lr(modality, full=full),
            "batch_size": profile.benchmark.budget(modality).batch_size, "variance_groups": cfg.variance_groups,
            "version": 1}


# -- LiRA runs ------------------------------------------------------------------------------------------------
#: The role of a LiRA target run (a shadow's is ``"lira shadow <i>"``); the grid's other runs have no role.
LIRA_TARGET = "lira target"


def lira_role(spec: RunSpec) -> str | None:
    """``"lira target"``, ``"lira shadow <i>"``, or None for a run of the fairness grid."""
    return spec.param("role", None)


def lira_membership(cfg: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(is_member, shadow_in)``: which of the ``lira_candidates`` the targets train on (a random half, drawn from
    ``lira_seed``) and which each of the ``lira_shadows`` shadows trains on (balanced per candidate,
    :func:`fairlib.methods.membership.shadow_membership`)."""
    n = int(cfg.lira_candidates)
    return mi.target_membership(n, seed=int(cfg.lira_seed)), mi.shadow_membership(n, int(cfg.lira_shadows),
                                                                                  seed=int(cfg.lira_seed))


def lira_pool(task: Any, profile: Any) -> Any:
    """The candidate pool: the first ``lira_candidates`` examples of the training split of seed ``lira_seed``."""
    cfg = profile.peft_family
    train = task.splits(int(cfg.lira_seed), profile.benchmark.split_fractions).train
    if cfg.lira_candidates > len(train):
        raise ConfigError(f"peft_family.lira_candidates = {cfg.lira_candidates} but the training split of "
                          f"{task.key!r} holds {len(train)} examples; lower lira_candidates")
    return train.subset(np.arange(cfg.lira_candidates))


def _lira_specs(profile: Any, rows: Sequence[dict], make: Any) -> list[RunSpec]:
    # One target and lira_shadows shadows per method: the adapters at the matched level lira_level, the references
    # at their own size; same placement and recipe as the fairness grid's runs, lira_epochs epochs, lambda 0.
    cfg = profile.peft_family
    is_member, shadow_in = lira_membership(cfg)
    level = budget_name(float(cfg.lira_level))
    out = []
    for row in rows:
        if row["budget"] not in (level, OWN_SIZE) or not _runs_at(row):
            continue
        roles = [(LIRA_TARGET, int(cfg.lira_seed), is_member)] + [
            (f"lira shadow {i}", int(cfg.lira_seed) + 1 + i, shadow_in[i]) for i in range(cfg.lira_shadows)]
        for role, seed, members in roles:
            out.append(make(row, seed, 0.0, role=role, members=mi.membership_digest(members)))
    return out


def jobs(profile: Any, *, tasks: Sequence[str] | None = None) -> list[RunSpec]:
    """Every run of notebook 06 at ``profile``: per task the pre-trained model, then budget x method x lambda x seed.

    Budgets: each matched level and the recipe for the adapters that reach it (:func:`skipped` lists the others),
    ``"own size"`` for the references. ``lam`` is 0 (no variance term) and each of ``variance_lambdas`` for the
    adapters at the matched budgets of the tasks in ``variance_tasks``.
    """
    profile = _profile(profile)
    cfg = profile.peft_family
    out: list[RunSpec] = []
    for key in tasks or cfg.tasks:
        modality = bm.task_traits(key, profile=profile).modality
        pre = _pretrain_spec(key, profile)
        out.append(pre)
        rows = _choices_cached(key, profile)

        def make(row: dict, seed: int, lam: float, **lira: Any) -> RunSpec:
            uses = _uses(profile, modality, row["method"])
            if lira and cfg.lira_epochs is not None:
                uses = {**uses, "epochs": int(cfg.lira_epochs)}
            return RunSpec.make(
                NOTEBOOK, profile, row["method"], seed, after=(pre,), task=key, budget=row["budget"],
                level=row["level"],
                placement={"modules": row["modules"], "layers": row["layers"], "width": row["width"]},
                adapter_parameters=row["adapter_parameters"], lam=lam, pretrained=pre.key,
                split_fractions=list(profile.benchmark.split_fractions), uses=uses,
                gpu_hours=0.0 if profile.stand_in else _HOURS["whole"], **lira)

        for row in rows:
            if not _runs_at(row):
                continue
            method = get_peft_method(row["method"])
            lams = (0.0,) + (cfg.lambdas_of(key) if method.kind == "adapter" and row["budget"] != "recipe" else ())
            limit = dict(cfg.budget_seed_limits).get(row["budget"])
            for lam in lams:
                for seed in seeds_of(profile, key)[:limit]:
                    out.append(make(row, seed, lam))
        if key == cfg.lira_task:
            out += _lira_specs(profile, rows, make)
    return out


def _store(spec: RunSpec, store: Any) -> Any:
    from ...train import RunStore

    return store if store is not None else RunStore(spec.namespace)


def _tensors(out: dict) -> dict:
    return {k: torch.as_tensor(np.asarray(v)) for k, v in out.items() if v is not None}


def train_job(spec: RunSpec, profile: Any, *, store: Any = None) -> None:
    """Train run ``spec`` of ``profile`` unless stored, and store its predictions, probabilities and counts."""
    from ...methods.fairlora import FairLoRARegularizer
    from ...train import TrainConfig, fit, predict, seed_everything

    profile = _profile(profile)
    store = _store(spec, store)
    if store.contains(spec.to_dict()):
        return
    if spec.method == "pretrain":
        key = spec.param("task")["key"]
        bm.train_job(_pretrain_spec05(key, profile), profile, store=store)
        store.run(spec.to_dict(), lambda: ({"stored_as": _pretrain_spec05(key, profile).key}, {}))
        return
    key = spec.param("task")
    task = _load_task(key, profile, store=store)
    role = lira_role(spec)
    if role is None:  # the fairness grid: train on the seed's training split, predict validation and test
        splits = task.splits(spec.seed, profile.benchmark.split_fractions)
        train_data, predicted = splits.train, {"val": splits.val, "test": splits.test}
    else:  # LiRA: train on the run's members of the candidate pool, predict the whole pool
        pool = lira_pool(task, profile)
        is_member, shadow_in = lira_membership(profile.peft_family)
        members = is_member if role == LIRA_TARGET else shadow_in[int(role.rsplit(" ", 1)[1])]
        digest = mi.membership_digest(members)
        if spec.param("members") != digest:
            raise ConfigError(f"run {spec.describe()}: its membership {spec.param('members')!r} is not the one the "
                              f"profile's configuration draws ({digest})")
        train_data, predicted = pool.subset(np.flatnonzero(members)), {"pool": pool}
    uses = spec.param("uses")
    placement = Placement(**dict(spec.param("placement")))
    lam = float(spec.param("lam"))

    def train() -> tuple[dict, dict]:
        seed_everything(spec.seed)  # adapters' initial weights are drawn here
        model = copy.deepcopy(task.pretrained).requires_grad_(True).train()
        head = head_parameters(model)
        steps = int(uses["epochs"]) * -(-len(train_data) // int(uses["batch_size"]))
        method = get_peft_method(spec.method)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = wrap(model, spec.method, placement if method.kind == "adapter" else None, total_steps=steps)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        terms = [FairLoRARegularizer.for_dataset(train_data, lam=lam, by=uses["variance_groups"])] if lam > 0 else []
        config = TrainConfig(epochs=int(uses["epochs"]), lr=float(uses["lr"]), batch_size=int(uses["batch_size"]),
                             seed=spec.seed, mixed_precision=profile.mixed_precision)
        start = time.perf_counter()
        with adalora_allocation(model), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = fit(model, train_data, config=config, loss_terms=terms, encode=task.encode,
                         transform=task.transform, desc=f"{spec.method} seed={spec.seed}", progress=False)
        seconds = time.perf_counter() - start
        out = {}
        for name, part in predicted.items():
            p = predict(model, part, encode=task.encode, transform=task.transform)
            if name == "pool":  # LiRA reads the logits: a float32 softmax saturates where the attack looks
                out["pool_logits"] = p.logits
            else:
                out[f"{name}_pred"], out[f"{name}_prob"] = p.y_pred, p.probs
        return ({"trainable_parameters": int(trainable), "adapter_parameters": int(trainable - head),
                 "train_seconds": float(seconds), "steps": int(result.steps),
                 "step_seconds": float(seconds / max(1, result.steps))}, _tensors(out))

    store.run(spec.to_dict(), train)


def run_job(spec: RunSpec) -> None:
    """Train run ``spec`` unless stored (the executor's entry point; its profile is ``spec.config()``)."""
    if spec.notebook != NOTEBOOK:
        raise ConfigError(f"run {spec.describe()} is not a run of notebook {NOTEBOOK}")
    train_job(spec, spec.config())


def collect(profile: Any, specs: Sequence[RunSpec] | None = None, *, store: Any = None) -> pd.DataFrame:
    """One row per stored run and split (``run``: the run's key): metrics (:func:`fairlib.experiments.benchmark.evaluate_split`:
    accuracy, ECE, the gaps and per-group count, F1, selection rate, recall, FPR; with per-group ``accuracy[g]``,
    ``ece[g]``, worst-group accuracy and worst-group ECE from :func:`fairlib.metrics.evaluate`), the run's counts
    and seconds.

    Raises
    ------
    RuntimeError
        If a run is not stored (run the grid first).
    """
    from ... import metrics as fm

    profile = _profile(profile)
    specs = list(specs) if specs is not None else jobs(profile)
    rows = []
    tasks: dict[str, Any] = {}
    for spec in specs:
        if spec.method == "pretrain" or lira_role(spec) is not None:  # LiRA's runs: lira_by_group
            continue
        key = spec.param("task")
        if key not in tasks:
            tasks[key] = _load_task(key, profile, store=store, pretrained=False)
        task = tasks[key]
        stored = _store(spec, store).load(spec.to_dict())
        if stored is None:
            raise RuntimeError(f"run {spec.describe()} is not stored: run the grid first (run_jobs(jobs(profile)))")
        record, tensors = stored
        splits = task.splits(spec.seed, profile.benchmark.split_fractions)
        method = get_peft_method(spec.method)
        base = {"run": spec.key, "task": key, "task_label": task.label, "stand_in": task.stand_in, "modality": task.modality,
                "method": spec.method, "method_label": method.label, "kind": method.kind,
                "budget": spec.param("budget"), "level": spec.param("level"), "lam": float(spec.param("lam")), "seed": int(spec.seed),
                **{k: record[k] for k in ("trainable_parameters", "adapter_parameters", "train_seconds",
                                          "step_seconds")}}
        for name in ("val", "test"):
            part = getattr(splits, name)
            pred = tensors[f"{name}_pred"].numpy()
            metrics = bm.evaluate_split(part.y, pred, part.s, group_names=task.group_names,
                                        prob=tensors[f"{name}_prob"].numpy(), num_classes=task.num_classes)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                extra = fm.evaluate(part.y.astype(np.int64), pred.astype(np.int64),
                                    sensitive_features=part.s.astype(np.int64), group_names=list(task.group_names),
                                    y_prob=tensors[f"{name}_prob"].numpy(),
                                    metrics=["worst_group_accuracy", "worst_group_ece"],
                                    classes=list(range(task.num_classes)))
            per_group = {f"accuracy[{g}]": float((pred[part.s == i] == part.y[part.s == i]).mean())
                         if (part.s == i).any() else float("nan") for i, g in enumerate(task.group_names)}
            per_group.update({f"ece[{g}]": extra[f"ece[{g}]"] for g in task.group_names})
            null = {}
            if name == "test" and spec.seed == min(seeds_of(profile, key)):  # the gap beside its null, one seed per method
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    for gap in ("dpd", "eo_max"):
                        res = fm.gap_permutation_null(part.y, pred, sensitive_features=part.s, metric=gap,
                                                      group_names=list(task.group_names),
                                                      n_permutations=profile.peft_family.permutations,
                                                      random_state=int(spec.seed))
                        null.update({f"{gap}_null_mean": res["null_mean"], f"{gap}_null_q95": res["null_q95"],
                                     f"{gap}_p_value": res["p_value"]})
            rows.append({**base, "split": name, **metrics, "worst_group_accuracy": extra["worst_group_accuracy"],
                         "worst_group_ece": extra["worst_group_ece"],
                         **per_group, **null})
    return pd.DataFrame(rows)
