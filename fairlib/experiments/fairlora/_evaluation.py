"""Collecting notebook 02's stored runs into records, with :func:`fairlib.metrics.evaluate`, and the tables
built from them: the validation choice of lambda, the comparison of the four methods, seed summaries.

Records are long tables: one row per run and split (``"val"``, ``"test"``) with the reported metrics
(:data:`REPORTED_METRICS`, canonical names of :data:`fairlib.metrics.METRICS`) and the per-group F1 and recall
as ``f1[<group>]``, ``recall[<group>]``. ``rank`` is 0 for full fine-tuning (not applicable). ``groups`` is the
reading of a regularised run (``"class"``, ``"class_attribute"``) or ``"none"`` (lambda = 0), ``label`` the
method with its reading (:func:`method_label`), ``stage`` ``"sweep"`` (declared lambda) or ``"chosen"`` (a
run at the lambda chosen on validation: the rank sweep, and the other seeds with ``sweep_seeds``), ``run`` the
run's key in the run store (:attr:`RunSpec.key`).

Beside each between-groups gap (:data:`NULL_GAPS`) :func:`gap_nulls` records what exchangeable groups of the
same sizes give (a permutation null), per configuration, on its first seed's test predictions.
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ... import metrics as fm
from ...data import Splits
from .. import RunSpec
from ._grid import METHOD_ORDER, READINGS, jobs, load_run, method_label, method_name

__all__ = ["REPORTED_METRICS", "FAIRNESS_METRICS", "RENAMED", "rename_keys", "evaluate_predictions", "record_of", "records_of",
           "collect", "lambda_sweep_records", "rank_sweep_records", "select_lambda", "comparison_records",
           "summarize_records", "comparison_summary", "per_seed", "paired_improvement", "label_group_counts", "oriented",
           "trainable_parameter_counts", "counts_record", "main_rank_records", "reading_records", "label_order"]

#: Metrics recorded for every run and split. ``worst_cell_accuracy``: the lowest accuracy over label x group
#: cells; ``eo_max``: fairlearn's equalized-odds difference, max(ΔTPR, ΔFPR).
REPORTED_METRICS = ("accuracy", "min_group_f1", "min_group_recall", "f1_gap", "eo_max", "worst_cell_accuracy")
#: The paper's fairness metrics.
FAIRNESS_METRICS = ("min_group_f1", "min_group_recall", "f1_gap", "eo_max")
#: The between-groups gaps of :data:`REPORTED_METRICS` (max - min over the sensitive groups), each recorded beside
#: its permutation null (:func:`gap_nulls`).
NULL_GAPS = ("f1_gap", "eo_max")
#: Per-group columns recorded (``f"{column}[{group}]"``).
_GROUP_COLUMNS = ("f1", "recall")

#: Keys of notebook 02's records before the one metric vocabulary -> their canonical names. Derived keys
#: (``<old>_mean``, ``val_<old>``, ...) are renamed with them by :func:`rename_keys`.
RENAMED = {"equalized_odds_difference": "eo_max", "worst_group_accuracy": "worst_cell_accuracy"}
_SUFFIXES = ("_mean", "_std", "_ci_low", "_ci_high", "_n")
_PREFIXES = ("val_", "test_")


def rename_keys(record: dict) -> dict:
    """``record`` with every key written before the rename (:data:`RENAMED`) under its canonical name: the key
    itself, the seed-summary keys ``<key>_mean|_std|_ci_low|_ci_high|_n``, ``val_<key>``, ``test_<key>`` and
    ``val_<key>_at_lambda_0``. Other keys are kept as they are."""
    def new(key: Any) -> Any:
        if not isinstance(key, str):
            return key
        if key in RENAMED:
            return RENAMED[key]
        for old, canonical in RENAMED.items():
            for suffix in _SUFFIXES:
                if key == old + suffix:
                    return canonical + suffix
            for prefix in _PREFIXES:
                if key == prefix + old:
                    return prefix + canonical
                if key == f"{prefix}{old}_at_lambda_0":
                    return f"{prefix}{canonical}_at_lambda_0"
        return key

    return {new(k): v for k, v in record.items()}


def oriented(metric: str) -> float:
    """+1 when a larger ``metric`` is fairer/better, -1 when smaller is (from :data:`fairlib.metrics.METRICS`)."""
    return 1.0 if fm.metric_info(metric).higher_is_better else -1.0


# -- from stored runs to records ---------------------------------------------------------------------------------
def evaluate_predictions(y: Any, y_pred: Any, s: Any, *, group_names: Sequence[str], num_classes: int = 2) -> dict:
    """The record of one prediction: :data:`REPORTED_METRICS` and ``f1[<group>]``, ``recall[<group>]`` for
    every group, computed by :func:`fairlib.metrics.evaluate` (groups = the sensitive attribute ``s``)."""
    with warnings.catch_warnings():
        # An undefined per-group value is NaN (the metric's documented behaviour); no need to repeat it per run.
        warnings.simplefilter("ignore", UserWarning)
        full = fm.evaluate(np.asarray(y), np.asarray(y_pred), sensitive_features=np.asarray(s),
                           group_names=list(group_names), classes=range(num_classes), metrics=REPORTED_METRICS)
    out = {k: full[k] for k in REPORTED_METRICS}
    for g in group_names:
        for column in _GROUP_COLUMNS:
            out[f"{column}[{g}]"] = full[f"{column}[{g}]"]
    return out


def _evaluate(tensors: dict, split: str, group_names: Sequence[str]) -> dict:
    logits = tensors[f"{split}.logits"].numpy()
    return evaluate_predictions(tensors[f"{split}.y"].numpy(), logits.argmax(axis=1), tensors[f"{split}.s"].numpy(),
                                group_names=group_names, num_classes=logits.shape[1])


def record_of(spec: RunSpec, *, group_names: Sequence[str]) -> list[dict]:
    """The two records (validation, test) of a stored run, its metrics computed now from its stored logits."""
    stored, tensors = load_run(spec)
    lam = float(stored["lam"])
    method = method_name(spec.param("adaptation"), lam)
    groups = spec.param("groups") or "none"
    base = {"backbone": spec.param("backbone"), "method": method, "groups": groups,
            "label": method_label(method, groups), "stage": "chosen" if spec.param("select", None) else "sweep",
            "adaptation": spec.param("adaptation"), "lam": lam, "rank": spec.param("rank"), "seed": spec.seed,
            "run": spec.key,
            "trainable_parameters": stored["trainable_parameters"], "train_seconds": stored["train_seconds"]}
    return [{**base, "split": split, **_evaluate(tensors, split, group_names)} for split in ("val", "test")]


def records_of(specs: Sequence[RunSpec], *, group_names: Sequence[str] | None = None) -> pd.DataFrame:
    """Records of stored runs, in order (``group_names`` default: the groups of the profile's data)."""
    if group_names is None and specs:
        from ._grid import load_fairlora_data

        group_names = _group_names(load_fairlora_data(specs[0].config().fairlora, verbose=False))
    return pd.DataFrame([r for spec in specs for r in record_of(spec, group_names=group_names)])


def _group_names(splits: Splits) -> tuple[str, ...]:
    return tuple(splits.train.group_names)


def collect(profile: Any, *, splits: Splits) -> pd.DataFrame:
    """Records of every run of :func:`jobs` at ``profile``, in the grid's order (all must be stored)."""
    return records_of(jobs(profile), group_names=_group_names(splits))


def main_rank_records(runs: pd.DataFrame, cfg: Any) -> pd.DataFrame:
    """Records of LoRA at rank ``cfg.rank`` and of full fine-tuning (every stage)."""
    return runs[runs["rank"].isin([0, cfg.rank])].reset_index(drop=True)


def lambda_sweep_records(runs: pd.DataFrame, cfg: Any) -> pd.DataFrame:
    """The lambda sweep's records: LoRA at rank ``cfg.rank`` and full fine-tuning, at every declared lambda
    (``stage == "sweep"``: with ``sweep_seeds``, lambda > 0 on the sweep's seeds only)."""
    main = main_rank_records(runs, cfg)
    return main[main["stage"] == "sweep"].reset_index(drop=True)


def reading_records(records: pd.DataFrame, groups: str) -> pd.DataFrame:
    """The records of one reading: its regularised runs and the shared unregularised ones (``groups`` "none")."""
    if groups not in READINGS:
        raise ValueError(f"groups={groups!r}; valid choices: {tuple(READINGS)}")
    return records[records["groups"].isin(["none", groups])].reset_index(drop=True)


def rank_sweep_records(runs: pd.DataFrame, best: pd.DataFrame) -> pd.DataFrame:
    """The rank sweep's records: LoRA (lambda = 0) and FairLoRA at its validation-chosen lambda (per reading),
    every rank."""
    lora = runs["adaptation"] == "lora"
    keep = lora & (runs["lam"] == 0.0)
    for (backbone, method, groups), row in best.iterrows():
        if method == "FairLoRA":
            keep |= lora & (runs["backbone"] == backbone) & (runs["groups"] == groups) & (runs["lam"] == row["lam"])
    return runs[keep].reset_index(drop=True)


def label_order(groupings: Sequence[str] = tuple(READINGS)) -> list[str]:
    """The methods' labels in display order: LoRA, FairLoRA per reading, FFT, Fair FFT per reading."""
    return ["LoRA", *[method_label("FairLoRA", g) for g in groupings], "FFT",
            *[method_label("Fair FFT", g) for g in groupings]]


# -- tables ---------------------------------------------------------------------------------------------------------
def select_lambda(records: pd.DataFrame, *, metric: str = "min_group_f1") -> pd.DataFrame:
    """The best lambda > 0 per backbone, adaptation and reading, by the mean *validation* metric over seeds.

    Parameters
    ----------
    records : DataFrame
        Lambda-sweep records (both splits; only ``split == "val"`` rows choose). Give it the sweep's records
        (:func:`lambda_sweep_records`), so that every lambda is judged on the same seeds.
    metric : str
        A canonical name; its direction (:data:`fairlib.metrics.METRICS`) says which way is better. Ties go
        to the smaller lambda.

    Returns
    -------
    DataFrame
        One row per (backbone, method, groups) of the regularised methods: ``lam``, the validation mean of
        ``metric`` at that lambda and at lambda = 0, and the test mean at that lambda (reported, never used to
        choose).
    """
    rows = []
    means = records.groupby(["backbone", "adaptation", "groups", "lam", "split"], sort=True)[metric].mean()
    regularised = records[records["groups"] != "none"]
    for (backbone, adaptation, groups), _ in regularised.groupby(["backbone", "adaptation", "groups"], sort=False):
        val = means.loc[(backbone, adaptation, groups)].xs("val", level="split")
        candidates = val[val.index > 0]
        best = candidates.index[int(np.argmax(oriented(metric) * candidates.to_numpy()))]
        try:
            at_zero = float(means.loc[(backbone, adaptation, "none", 0.0, "val")])
        except KeyError:
            at_zero = float("nan")
        method = method_name(adaptation, best)
        rows.append({"backbone": backbone, "method": method, "groups": groups, "reading": READINGS[groups],
                     "label": method_label(method, groups), "adaptation": adaptation,
                     "selection_metric": metric, "lam": float(best), f"val_{metric}": float(val.loc[best]),
                     f"val_{metric}_at_lambda_0": at_zero,
                     f"test_{metric}": float(means.loc[(backbone, adaptation, groups, best, "test")])})
    return pd.DataFrame(rows).set_index(["backbone", "method", "groups"])


def comparison_records(records: pd.DataFrame, best: pd.DataFrame) -> pd.DataFrame:
    """The methods of the comparison: lambda = 0, and per reading the selected lambda (every stage: with
    ``sweep_seeds`` the sweep's seeds and the other seeds' runs at the chosen lambda)."""
    keep = records["lam"] == 0.0
    for (backbone, _, groups), row in best.iterrows():
        keep |= (records["backbone"] == backbone) & (records["adaptation"] == row["adaptation"]) & \
                (records["groups"] == groups) & (records["lam"] == row["lam"])
    out = records[keep].copy()
    out["method"] = pd.Categorical(out["method"], categories=METHOD_ORDER, ordered=True)
    out["label"] = pd.Categorical(out["label"], categories=label_order(), ordered=True)
    return out.sort_values(["backbone", "label", "seed", "split"], kind="stable").reset_index(drop=True)


def summarize_records(records: pd.DataFrame, *, by: Sequence[str], split: str = "test",
                      value_columns: Sequence[str] = REPORTED_METRICS) -> pd.DataFrame:
    """Mean, std and 95% interval over seeds of each metric (:func:`fairlib.metrics.summarize_frame`).

    Every reported metric and per-group F1 or recall is bounded (:func:`fairlib.metrics.column_bounds`), so the
    interval is the percentile bootstrap of the mean over seeds (``bounded=True``): it lies between the smallest
    and the largest per-seed value and never leaves [0, 1]. Any other column gets the Student-t interval.
    """
    return fm.summarize_frame(records, by=list(by), value_columns=list(value_columns), split=split,
                              warn_undefined=False, bounded=True)


def comparison_summary(comparison: pd.DataFrame, *, metrics: Sequence[str] = REPORTED_METRICS) -> pd.DataFrame:
    """Test metrics of the methods per backbone (regularised ones per reading, by ``label``): mean and 95% CI
    over seeds, with the lambda used."""
    summary = summarize_records(comparison, by=["backbone", "label"], value_columns=metrics)
    lam = comparison[comparison["split"] == "test"].groupby(["backbone", "label"], observed=True)["lam"].first()
    summary.insert(0, "lam", lam.reindex(summary.index).to_numpy())
    return summary


def per_seed(records: pd.DataFrame, filters: dict, metric: str, *, split: str = "test") -> pd.Series:
    """``metric`` of the runs selected by the column ``filters`` on ``split``, indexed by seed (one run each).

    Raises
    ------
    ValueError
        The filters select more than one run for a seed.
    """
    part = records[records["split"] == split]
    for column, value in filters.items():
        part = part[part[column] == value]
    if part["seed"].duplicated().any():
        raise ValueError(f"filters {filters} select more than one run per seed")
    return part.set_index("seed")[metric].astype(float)


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
        Oriented so that a positive improvement is fairer/better (by the metric's direction).

    Returns
    -------
    dict
        :func:`fairlib.metrics.paired_over_seeds` of the per-seed improvements, plus ``per_seed`` and the
        means of both sides.
    """
    return fm.paired_over_seeds(per_seed(records, method, metric, split=split),
                                per_seed(records, baseline, metric, split=split),
                                higher_is_better=oriented(metric) > 0)


#: The columns that name one configuration of the grid (every seed of it shares them).
_CONFIGURATION = ("backbone", "adaptation", "groups", "lam", "rank")


def gap_nulls(records: pd.DataFrame, specs: Sequence[RunSpec], *, group_names: Sequence[str],
              gaps: Sequence[str] = NULL_GAPS, n_permutations: int = 199) -> pd.DataFrame:
    """Beside each reported between-groups gap, what exchangeable groups of the same sizes give.

    Per configuration of ``records`` (backbone, adaptation, reading, lambda, rank: every point of the lambda
    sweep, of the rank sweep and of the comparison) and gap, the observed gap's mean over the configuration's
    test seeds and :func:`fairlib.metrics.gap_permutation_null` on the test predictions of its **first seed**
    (the smallest; the background labels are permuted over the test examples, every group keeps its size,
    ``random_state=0``; the test split and its group sizes are the same for every seed, and one seed bounds the
    cost): the null's mean and 95th percentile, that seed's observed gap and one-sided permutation p-value.

    Parameters
    ----------
    records : DataFrame
        Records of :func:`records_of` (their ``run`` column names the stored run).
    specs : sequence of RunSpec
        The grid the records come from (:func:`jobs`): the stored predictions are read through them.
    group_names : sequence of str
        The sensitive groups (the background).
    gaps : sequence of str
        Canonical gap names (:data:`fairlib.metrics.GAP_METRICS`).
    n_permutations : int

    Returns
    -------
    DataFrame
        ``backbone, adaptation, groups, reading, label, method, lam, rank, metric, observed_mean, n_seeds,
        null_seed, null_run`` (the run's key), ``null_observed, null_mean, null_q95, p_value, excess``
        (``observed_mean - null_mean``), ``n_permutations``, ``group_sizes``.

    Raises
    ------
    KeyError
        A record's run is not among ``specs``.
    """
    by_key = {spec.key: spec for spec in specs}
    test = records[records["split"] == "test"]
    rows = []
    for key, part in test.groupby(list(_CONFIGURATION), sort=False):
        first = part.sort_values("seed", kind="stable").iloc[0]
        if first["run"] not in by_key:
            raise KeyError(f"run {first['run']} of {dict(zip(_CONFIGURATION, key))} is not in the grid given")
        _, tensors = load_run(by_key[first["run"]])
        logits = tensors["test.logits"].numpy()
        y, s = tensors["test.y"].numpy(), tensors["test.s"].numpy()
        base = dict(zip(_CONFIGURATION, key))
        base.update(reading=READINGS.get(base["groups"], "none"), label=first["label"], method=first["method"])
        for gap in gaps:
            observed = part[gap].to_numpy(dtype=float)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # undefined gaps are NaN, counted in n_seeds
                null = fm.gap_permutation_null(y, logits.argmax(axis=1), sensitive_features=s, metric=gap,
                                               group_names=list(group_names), classes=list(range(logits.shape[1])),
                                               n_permutations=n_permutations, random_state=0)
            mean = float(np.nanmean(observed)) if np.isfinite(observed).any() else float("nan")
            rows.append({**base, "metric": gap, "observed_mean": mean, "n_seeds": int(np.isfinite(observed).sum()),
                         "null_seed": int(first["seed"]), "null_run": first["run"],
                         "null_observed": null["observed"], "null_mean": null["null_mean"],
                         "null_q95": null["null_q95"], "p_value": null["p_value"],
                         "excess": mean - null["null_mean"], "n_permutations": null["n_permutations"],
                         "group_sizes": null["group_sizes"]})
    return pd.DataFrame(rows)


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


def trainable_parameter_counts(runs: pd.DataFrame) -> dict:
    """``{"<method> rank <rank>": trainable parameters}`` of the test records (one entry per configuration; the
    reading does not change the count)."""
    test = runs[runs["split"] == "test"]
    return {f"{m} rank {r}": int(n) for m, r, n in zip(test["method"], test["rank"], test["trainable_parameters"])}


def counts_record(counts: pd.DataFrame) -> dict:
    """:func:`label_group_counts` as JSON: ``{"<label>|<group>": {"train": n, "val": n, "test": n}}``."""
    return {f"{label}|{group}": row for (label, group), row in counts.to_dict(orient="index").items()}
