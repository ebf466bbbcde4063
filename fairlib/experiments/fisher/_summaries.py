"""Notebook 04's tables and summaries of the run records."""

from __future__ import annotations

import math
import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from ... import metrics as fm
from ...data import GroupedDataset
from ...methods.feature_cache import predict_on_features
from ...methods.fisher_svd import FactorizedLinear
from ._constants import METRICS, REVIEW_METHODS
from ._studies import AdultStudy
from ._tasks import NewTask, Pretrained


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


def table2(records: pd.DataFrame, *, cfg: Any, method: str = "OURS", penalty: str | None = None) -> pd.DataFrame:
    """Table 2: fair pre-trained models before and after fine-tuning by ``method`` (error and the bias of the
    applied constraint), mean and std over runs, and the change of the mean bias.

    ``penalty`` is the fair models' penalty form (default ``cfg.fair_penalty``, the one the claims rest on);
    :func:`table2_by_penalty` gives every form of ``cfg.table2_penalties``."""
    rows = {}
    for kind, intensity, pre, ft in _table2_blocks(records, cfg=cfg, method=method, penalty=penalty):
        bias = {"EO": "eo_sum", "DP": "dpd"}[kind]
        row = {}
        for label, part in (("pretrain", pre), ("finetune", ft)):
            row[f"err_{label}_mean"] = part["weighted_f1_error"].mean()
            row[f"err_{label}_std"] = part["weighted_f1_error"].std(ddof=1)
            row[f"bias_{label}_mean"] = part[bias].mean()
            row[f"bias_{label}_std"] = part[bias].std(ddof=1)
        row["bias_change"] = row["bias_finetune_mean"] - row["bias_pretrain_mean"]
        row["bias_metric"] = bias
        row["n"] = len(ft)
        rows[(kind, float(intensity))] = row
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index = pd.MultiIndex.from_tuples(out.index, names=["constraint", "intensity"])
    return out


def table2_by_penalty(records: pd.DataFrame, *, cfg: Any, method: str = "OURS") -> pd.DataFrame:
    """:func:`table2` for each penalty form of ``cfg.table2_penalties`` (``cfg.fair_penalty``'s block first), one
    block of rows per form: index ``(penalty, constraint, intensity)``."""
    forms = [cfg.fair_penalty, *(p for p in cfg.table2_penalties if p != cfg.fair_penalty)]
    return pd.concat({form: table2(records, cfg=cfg, method=method, penalty=form) for form in forms},
                     names=["penalty"])


def table3(records: pd.DataFrame, *, cfg: Any) -> pd.DataFrame:
    """Table 3: Retrain (no penalty), Retrain+EO/DP at each intensity and OURS against the pre-trained model
    ``f_B``: mean and std of error, Delta_EO, Delta_DP, and each mean's change from the pre-trained mean."""
    rows = {}
    for method, intensity, part in _table3_blocks(records, cfg=cfg):
        row = {}
        for metric in ("weighted_f1_error", "eo_sum", "dpd"):
            row[f"{metric}_mean"] = part[metric].mean()
            row[f"{metric}_std"] = part[metric].std(ddof=1)
        row["trainable_parameters"] = int(part["trainable_parameters"].max()) if len(part) else 0
        row["n"] = len(part)
        rows[(method, intensity)] = row
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index = pd.MultiIndex.from_tuples(out.index, names=["model", "intensity"])
    for metric in ("weighted_f1_error", "eo_sum", "dpd"):
        out[f"{metric}_change"] = out[f"{metric}_mean"] - out.loc[("pre-trained", 0.0), f"{metric}_mean"]
    return out


def table4(records: pd.DataFrame, *, cfg: Any, models: dict[str, list[str]]) -> pd.DataFrame:
    """Table 4: OURS on each architecture (``models`` maps a task to its pre-trained model names)."""
    parts = []
    for task, names in models.items():
        for name in dict.fromkeys(names):  # a backbone listed twice (same spec, same runs) is one row
            parts.append(select(records, task=task, pretrained=name, method="OURS", rank=cfg.rank, alpha=0.5,
                                **_settings(cfg)))
    summary = summarize(pd.concat(parts), by=["task", "pretrained"], metrics=("weighted_f1_error", "eo_sum", "dpd"))
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
            val = mine[mine["split"] == "val"].groupby("lr")["weighted_f1_error"].mean()
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




def fig1_separability(task: NewTask, models: dict[str, Pretrained], *, runs: Sequence[int]) -> pd.DataFrame:
    """Fig. 1's number: per run and pre-trained model, how many test examples TL's fine-tuned head predicts
    positive and the cross-validated group AUC of their representations (:func:`group_separability`)."""
    rows = []
    for run in runs:
        for label, model in models.items():
            head = task.trained_head(model, method="TL", run=run)
            positives = positive_representations(task, model, head, run=run)
            rows.append({"run": run, "model": label, "positives": len(positives),
                         "auc": group_separability(positives.x, positives.s, seed=run)})
    return pd.DataFrame(rows)


def fig1_points(task: NewTask, models: dict[str, Pretrained], *, run: int = 0) -> dict[str, GroupedDataset]:
    """Fig. 1's points: the representations of run ``run``'s test examples that TL predicts positive."""
    return {label: positive_representations(task, model, task.trained_head(model, method="TL", run=run), run=run)
            for label, model in models.items()}


# ------------------------------------------------------------------------------- permutation nulls of the gaps
def _fig4_blocks(records: pd.DataFrame, *, cfg: Any, pretrained: dict[str, str]) -> list[tuple[str, str, pd.DataFrame]]:
    """Fig. 4's ``(task, method, test records)``, in the figure's order (the selection of :func:`fig4_summary`)."""
    blocks = []
    for task, pre in pretrained.items():
        base = select(records, task=task, pretrained=pre, split="")
        blocks.append((task, "pre-trained", select(base, method="pre-trained")))
        for method in ("TL", "f+SVD", "OURS"):
            extra = {"rank": cfg.rank} if method != "TL" else {}
            if method == "OURS":
                extra["alpha"] = 0.5
            blocks.append((task, method, select(base, method=method, **extra, **_settings(cfg))))
    return blocks


def _table2_blocks(records: pd.DataFrame, *, cfg: Any, method: str = "OURS", penalty: str | None = None
                   ) -> list[tuple[str, float, pd.DataFrame, pd.DataFrame]]:
    """Table 2's ``(constraint, intensity, pre-trained test records, fine-tuned test records)``, in its order, for
    the fair models of penalty form ``penalty`` (default ``cfg.fair_penalty``)."""
    penalty = penalty or cfg.fair_penalty
    blocks = []
    for kind in ("EO", "DP"):
        for intensity in cfg.intensities:
            name = AdultStudy.name_of(penalty=kind.lower(), intensity=intensity, form=penalty)
            pre = select(records, pretrained=name, method="pre-trained")
            extra = {"rank": cfg.rank, "alpha": 0.5} if method != "TL" else {}
            ft = select(records, pretrained=name, method=method, **extra, **_settings(cfg))
            blocks.append((kind, intensity, pre, ft))
    return blocks


def _table3_blocks(records: pd.DataFrame, *, cfg: Any) -> list[tuple[str, float, pd.DataFrame]]:
    """Table 3's ``(model, intensity, test records)``, in its order (the selection of :func:`table3`)."""
    base = select(records, pretrained="f_B", split="")
    blocks = [("pre-trained", 0.0, select(base, method="pre-trained")),
              ("Retrain", 0.0, select(base, method="Retrain"))]
    for kind in ("EO", "DP"):
        for intensity in cfg.intensities:
            blocks.append((f"Retrain+{kind}", float(intensity),
                           select(base, method=f"Retrain+{kind}", intensity=float(intensity))))
    blocks.append(("OURS", 0.0, select(base, method="OURS", rank=cfg.rank, alpha=0.5, **_settings(cfg))))
    return blocks


#: The paper's gaps (Delta_DP = ``dpd``, Delta_EO = ``eo_sum``), each recorded beside its permutation null.
NULL_GAPS = ("dpd", "eo_sum")
#: Permutations of :func:`gap_nulls` per gap (p-values resolve 0.005; two-group counted gaps cost microseconds).
NULL_PERMUTATIONS = 199


def null_configurations(records: pd.DataFrame, *, cfg: Any, pretrained: dict[str, str]
                        ) -> list[tuple[str, str, pd.DataFrame]]:
    """The rows of Fig. 4, Table 2 and Table 3 whose gaps are reported: ``(table, row, test records)``.

    ``table`` is ``"fig4"``, ``"table2"`` or ``"table3"``; ``row`` names the row as the table does
    (Fig. 4: ``"<task> / <method>"``; Table 2: ``"<constraint> <intensity> / pre-train|finetune"``; Table 3:
    ``"<model> <intensity>"``). ``pretrained`` is Fig. 4's pre-trained model per task (as :func:`fig4_summary`).
    """
    out = []
    for task, method, part in _fig4_blocks(records, cfg=cfg, pretrained=pretrained):
        out.append(("fig4", f"{task} / {method}", part))
    for kind, intensity, pre, ft in _table2_blocks(records, cfg=cfg):
        out.append(("table2", f"{kind} {float(intensity):g} / pre-train", pre))
        out.append(("table2", f"{kind} {float(intensity):g} / finetune", ft))
    for model, intensity, part in _table3_blocks(records, cfg=cfg):
        out.append(("table3", f"{model} {float(intensity):g}", part))
    return out


def _models(experiment: Any) -> dict[tuple[str, str], tuple[NewTask, Pretrained]]:
    """``(task name, pre-trained name) -> (task, pre-trained model)`` of every model the experiment built."""
    adult = experiment.adult
    out = {(adult.task.name, pre.name): (adult.task, pre)
           for pre in (adult.pretrained(), *experiment.fair_models().values(), *experiment.deep_models().values())}
    experiment.variant_names()  # builds every image model that can be built here
    for study in experiment.images.values():
        for pre in study.models.values():
            if pre is not None:
                out[(study.task.name, pre.name)] = (study.task, pre)
    return out


def stored_test_predictions(experiment: Any, record: Any, *, specs: dict | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(y, y_pred, s)`` of one test record: the stored logits of its run (``key``), or the pre-trained
    model's own predictions on the run's test part (a ``"pre-trained"`` record, which has no run of its own).

    Parameters
    ----------
    experiment : FisherExperiment
    record : mapping or namedtuple
        A test record of :meth:`FisherExperiment.records` (``task``, ``pretrained``, ``method``, ``run``, ``key``).
    specs : dict, optional
        ``{key: RunSpec}`` of the grid (default: :func:`jobs` of the experiment's profile).
    """
    get = record.get if isinstance(record, dict) else (lambda k: getattr(record, k))
    task, pre = _models(experiment)[(get("task"), get("pretrained"))]
    run = int(get("run"))
    if get("method") == "pre-trained":
        p = predict_on_features(pre.model.head, task.parts(pre.features, run)[2])
        return np.asarray(p.y), np.asarray(p.y_pred), np.asarray(p.s)
    if specs is None:
        from ._grid import jobs  # the grid imports this module

        specs = {spec.key: spec for spec in jobs(experiment.profile)}
    spec = specs[get("key")]
    stored = task.store.load(spec.to_dict())
    if stored is None:
        raise RuntimeError(f"run {spec.describe()} is not stored; run the grid first (run_jobs(jobs(profile)))")
    data = task.pool if spec.method.startswith("Retrain") else pre.features
    test = task.parts(data, run)[2]
    return np.asarray(test.y), stored[1]["logits_test"].numpy().argmax(axis=1), np.asarray(test.s)


def gap_nulls(experiment: Any, records: pd.DataFrame, *, cfg: Any, pretrained: dict[str, str],
              gaps: Sequence[str] = NULL_GAPS, n_permutations: int = NULL_PERMUTATIONS) -> pd.DataFrame:
    """Beside each gap of Fig. 4, Table 2 and Table 3, what exchangeable groups of the same sizes give.

    Per row of those tables (:func:`null_configurations`) and gap (``dpd`` = Delta_DP, ``eo_sum`` = Delta_EO):
    the observed gap's mean over runs, and :func:`fairlib.metrics.gap_permutation_null` on the test predictions
    of the row's **first run** (the sex labels permuted over that run's test part, each group keeping its size,
    ``random_state=0``; every run's test part has the same group sizes, and one run bounds the cost): the null's
    mean and 95th percentile, that run's observed gap and its one-sided permutation p-value.

    Returns
    -------
    DataFrame
        ``table, row, task, pretrained, method, metric, observed_mean, n_runs, null_run, null_key`` (the run's
        key; empty for the pre-trained model), ``null_observed, null_mean, null_q95, p_value, excess``
        (``observed_mean - null_mean``), ``n_permutations``, ``group_sizes``.
    """
    from ._grid import jobs  # the grid imports this module

    specs = {spec.key: spec for spec in jobs(experiment.profile)}
    rows = []
    for table, label, part in null_configurations(records, cfg=cfg, pretrained=pretrained):
        if part.empty:
            continue
        first = part.sort_values("run", kind="stable").iloc[0]
        y, y_pred, s = stored_test_predictions(experiment, first.to_dict(), specs=specs)
        for gap in gaps:
            observed = part[gap].to_numpy(dtype=float)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # an undefined gap is NaN
                null = fm.gap_permutation_null(y, y_pred, sensitive_features=s, metric=gap, group_names=(0, 1),
                                               n_permutations=n_permutations, random_state=0)
            mean = float(np.nanmean(observed)) if np.isfinite(observed).any() else float("nan")
            key = first.get("key")
            rows.append({"table": table, "row": label, "task": first["task"], "pretrained": first["pretrained"],
                         "method": first["method"], "metric": gap, "observed_mean": mean,
                         "n_runs": int(np.isfinite(observed).sum()), "null_run": int(first["run"]),
                         "null_key": key if isinstance(key, str) else "",
                         "null_observed": null["observed"], "null_mean": null["null_mean"],
                         "null_q95": null["null_q95"], "p_value": null["p_value"],
                         "excess": mean - null["null_mean"], "n_permutations": null["n_permutations"],
                         "group_sizes": null["group_sizes"]})
    return pd.DataFrame(rows)
