"""Collecting notebook 03's stored runs and evaluating them with the one evaluator, :func:`fairlib.metrics.evaluate`.

Metric names are the canonical ones of :data:`fairlib.metrics.METRICS`; :data:`RENAMED` maps the names this
notebook recorded before (``dp_gap``, ``eo_gap``, ``auc``, nested ``per_group``) to them.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ...methods.privacy_audit import audit_scores
from ...metrics import evaluate, gap_permutation_null, summarize_frame, summarize_over_seeds
from ...train import RunStore
from ._grid import developer_jobs, resolve

__all__ = ["METRIC_COLUMNS", "GAP_COLUMNS", "RENAMED", "NULL_PERMUTATIONS", "NULL_RANDOM_STATE", "rename_record",
           "evaluate_run", "gap_nulls", "leakage", "collect", "summarize", "null_table", "paired_differences",
           "adv_rounds", "keyed", "means", "AUDIT_COLUMNS", "audit_of_run", "audit_table"]

#: The metrics the notebook reports per run (canonical names), in display order.
METRIC_COLUMNS = ("accuracy", "roc_auc", "dpd", "tpr_gap", "fpr_gap", "leakage")
#: The three fairness gaps of the paper (max - min over groups): selection rate, TPR (equal opportunity), FPR.
GAP_COLUMNS = ("dpd", "tpr_gap", "fpr_gap")
#: Old name in notebook 03's records -> canonical name. ``eo_gap`` was the TPR gap alone (equal opportunity),
#: not an equalized-odds gap; per-group ``tpr`` is the per-group ``recall``.
RENAMED = {"dp_gap": "dpd", "eo_gap": "tpr_gap", "auc": "roc_auc", "tpr": "recall"}
_EVALUATED = ("accuracy", "roc_auc", "dpd", "tpr_gap", "fpr_gap")
#: Permutations of the group labels behind each run's permutation null of a gap, and their generator's seed.
NULL_PERMUTATIONS = 999
NULL_RANDOM_STATE = 0
#: The developer-side leakage audit's per-run columns (:func:`audit_of_run`; Erm's read its own h_0(x), the baseline).
AUDIT_COLUMNS = ("audit_auc", "audit_auc_ci_low", "audit_auc_ci_high", "audit_balanced_accuracy",
                 "audit_balanced_accuracy_ci_low", "audit_balanced_accuracy_ci_high")
#: What :func:`gap_nulls` records per gap, as ``<gap>_<stat>`` columns of a run.
_NULL_STATS = ("null_mean", "null_q95", "p_value")


def rename_record(record: Mapping[str, Any]) -> dict:
    """A run record in the former vocabulary as a record in the canonical one.

    Top-level keys (and ``<name>_<stat>`` summary keys) are renamed by :data:`RENAMED`; the nested
    ``per_group: {group: {column: value}}`` becomes flat ``<column>[<group>]`` keys (``tpr`` -> ``recall``).
    """
    out: dict = {}
    for key, value in record.items():
        if key == "per_group":
            for group, columns in value.items():
                for column, v in columns.items():
                    out[f"{RENAMED.get(column, column)}[{group}]"] = v
            continue
        new = RENAMED.get(key)
        if new is None:
            for old, canonical in RENAMED.items():
                if key.startswith(old + "_") and key[len(old) + 1:] in ("mean", "std", "ci_low", "ci_high", "n"):
                    new = canonical + key[len(old):]
                    break
        out[new or key] = value
    return out


def leakage(s: np.ndarray, probe_s: np.ndarray, fold: np.ndarray) -> float:
    """Balanced accuracy of the experimenter's probe for ``s``, averaged over its two folds (1/G: no leak)."""
    from sklearn.metrics import balanced_accuracy_score

    return float(np.mean([balanced_accuracy_score(s[fold == k], probe_s[fold == k]) for k in (0, 1)]))


def evaluate_run(y: np.ndarray, prob: np.ndarray, s: np.ndarray, *, group_names: Any) -> dict:
    """Utility and the paper's three gaps of one binary classifier, as one flat record of canonical names.

    Parameters
    ----------
    y : array (n,)
        True task labels (0/1).
    prob : array (n, 2) or (n,)
        Predicted probabilities (of class 1 when one-dimensional); the prediction is ``p1 >= 0.5``.
    s : array (n,)
        Group codes into ``group_names``.
    group_names : sequence of str

    Returns
    -------
    dict
        :func:`fairlib.metrics.evaluate` of ``accuracy, roc_auc, dpd, tpr_gap, fpr_gap`` with the per-group keys
        ``count[g]``, ``accuracy[g]``, ``recall[g]``, ``fpr[g]``, ``selection_rate[g]``, ...
    """
    prob = np.asarray(prob)
    y_pred = _predicted(prob)
    return evaluate(np.asarray(y), y_pred, sensitive_features=np.asarray(s), y_prob=prob,
                    group_names=tuple(group_names), metrics=_EVALUATED, classes=(0, 1))


def _predicted(prob: np.ndarray) -> np.ndarray:
    prob = np.asarray(prob)
    p1 = prob[:, 1] if prob.ndim == 2 else prob
    return (p1 >= 0.5).astype(np.int64)


def gap_nulls(y: np.ndarray, prob: np.ndarray, s: np.ndarray, *, group_names: Any) -> dict:
    """Beside each gap of :data:`GAP_COLUMNS`, what exchangeable groups of the same sizes give.

    :func:`fairlib.metrics.gap_permutation_null` of the run's predictions (``p1 >= 0.5``, as in
    :func:`evaluate_run`), with :data:`NULL_PERMUTATIONS` permutations drawn from ``NULL_RANDOM_STATE``.

    Returns
    -------
    dict
        ``<gap>_null_mean`` (mean gap over the permutations), ``<gap>_null_q95`` (their 95th percentile) and
        ``<gap>_p_value`` (one-sided: a gap this large or larger among the permutations) per gap.
    """
    y_pred = _predicted(prob)
    out = {}
    for gap in GAP_COLUMNS:
        null = gap_permutation_null(np.asarray(y), y_pred, sensitive_features=np.asarray(s), metric=gap,
                                    group_names=tuple(group_names), classes=(0, 1),
                                    n_permutations=NULL_PERMUTATIONS, random_state=NULL_RANDOM_STATE)
        out.update({f"{gap}_{stat}": null[stat] for stat in _NULL_STATS})
    return out


def audit_of_run(tensors: Mapping[str, np.ndarray], seed: int) -> dict:
    """The developer-side leakage audit of one stored run: :data:`AUDIT_COLUMNS` (NaN for a run stored without one).

    :func:`fairlib.methods.privacy_audit.audit_scores` of the stored out-of-fold probe probabilities
    (``audit/proba``) against ``s`` of the developer's examples (``audit/s``), resampled with ``seed``.
    """
    if "audit/proba" not in tensors:
        return dict.fromkeys(AUDIT_COLUMNS, float("nan"))
    scores = audit_scores(tensors["audit/s"], tensors["audit/proba"], random_state=int(seed))
    return {f"audit_{k}": scores[k] for k in (c[len("audit_"):] for c in AUDIT_COLUMNS)}


def collect(profile: Any) -> Any:
    """One row per strategy run of :func:`~fairlib.experiments.privacy.jobs` (which must all be stored).

    Returns
    -------
    pandas.DataFrame
        ``task, strategy, seed, key``, the record of :func:`evaluate_run`, ``leakage``, each gap's permutation
        null (:func:`gap_nulls`: ``<gap>_null_mean``, ``<gap>_null_q95``, ``<gap>_p_value``), and the run's facts
        (``exchanged_parameters``, ``auditor_signals``, ``sensitive_adapter_signals``, ``developer_steps``,
        ``developer_examples``, ``audit_received``, ``seconds``), and the developer-side leakage audit
        (:data:`AUDIT_COLUMNS`, :func:`audit_of_run`).

    Raises
    ------
    RuntimeError
        Naming the runs that are not stored.
    """
    import pandas as pd

    specs = developer_jobs(resolve(profile))
    rows, missing = [], []
    for spec in specs:
        stored = RunStore(spec.namespace).load(spec.to_dict())
        if stored is None:
            missing.append(spec.describe())
            continue
        record, tensors = stored
        t = {k: v.numpy() for k, v in tensors.items() if k.startswith(("test/", "audit/"))}
        metrics = evaluate_run(t["test/y"], t["test/prob"], t["test/s"], group_names=record["group_names"])
        rows.append({"task": record["task"], "strategy": record["strategy"], "seed": record["seed"], "key": spec.key,
                     **metrics, "leakage": leakage(t["test/s"], t["test/probe_s"], t["test/probe_fold"]),
                     **gap_nulls(t["test/y"], t["test/prob"], t["test/s"], group_names=record["group_names"]),
                     **audit_of_run(t, record["seed"]),
                     **{k: record[k] for k in ("exchanged_parameters", "auditor_signals", "sensitive_adapter_signals",
                                               "developer_steps", "developer_examples", "audit_received",
                                               "seconds")}})
    if missing:
        raise RuntimeError(f"{len(missing)} runs of notebook 03 are not stored (run the grid first with "
                           f"fairlib.experiments.run_jobs): {missing[:5]}")
    return pd.DataFrame(rows)


def summarize(runs: Any) -> Any:
    """Mean, std and 95% interval over seeds of :data:`METRIC_COLUMNS`, per task and strategy.

    Every column is a metric bounded to [0, 1] (:data:`fairlib.metrics.METRICS`), so its interval is the
    percentile bootstrap of the mean over seeds (:func:`fairlib.metrics.summarize_over_seeds`), which stays
    inside the bounds.
    """
    return summarize_frame(runs, by=["task", "strategy"], value_columns=list(METRIC_COLUMNS), bounded=True)


def audit_table(runs: Any) -> Any:
    """The developer-side leakage audit beside the final-representation probe, per task and strategy.

    Parameters
    ----------
    runs : pandas.DataFrame
        :func:`collect`'s rows.

    Returns
    -------
    pandas.DataFrame
        Indexed by (task, strategy): Erm's row is the baseline (it receives nothing; its audit probes the
        developer's own frozen representation ``h_0(x)``, what it could predict of ``s`` before any exchange), the
        others probe what their developer received. ``received`` (what the audit probes), ``audit_auc`` and
        ``audit_balanced_accuracy`` (means over seeds, with bounded bootstrap intervals over seeds, ``_ci_low`` / ``_ci_high``), ``runs_auc_above_chance``
        (runs whose own example-bootstrap interval of the AUC lies above 0.5), ``chance_balanced_accuracy``
        (1 / groups), ``leakage`` (the existing probe of the developer's final representation of test images,
        mean over seeds) and ``n`` (seeds).
    """
    import pandas as pd

    rows = []
    for (task, strategy), part in runs.groupby(["task", "strategy"], sort=False):
        if part["audit_auc"].isna().all():
            continue
        auc = summarize_over_seeds(part["audit_auc"].to_numpy(float), bounds=(0.0, 1.0))
        balanced = summarize_over_seeds(part["audit_balanced_accuracy"].to_numpy(float), bounds=(0.0, 1.0))
        groups = len([c for c in part.columns if c.startswith("count[")
                      and part[c].notna().any()])
        rows.append({"task": task, "strategy": strategy, "received": part["audit_received"].iloc[0],
                     "audit_auc": auc["mean"], "audit_auc_ci_low": auc["ci_low"], "audit_auc_ci_high": auc["ci_high"],
                     "runs_auc_above_chance": int((part["audit_auc_ci_low"] > 0.5).sum()),
                     "audit_balanced_accuracy": balanced["mean"],
                     "audit_balanced_accuracy_ci_low": balanced["ci_low"],
                     "audit_balanced_accuracy_ci_high": balanced["ci_high"],
                     "chance_balanced_accuracy": 1.0 / groups if groups else float("nan"),
                     "leakage": float(part["leakage"].mean()), "n": auc["n"]})
    return pd.DataFrame(rows).set_index(["task", "strategy"])


def null_table(runs: Any) -> Any:
    """Each gap beside its permutation null, per task, strategy and gap, over seeds.

    Parameters
    ----------
    runs : pandas.DataFrame
        :func:`collect`'s rows (with the :func:`gap_nulls` columns).

    Returns
    -------
    pandas.DataFrame
        Indexed by (task, strategy, gap): ``observed`` (mean gap over seeds) with its bounded interval
        (``observed_ci_low``, ``observed_ci_high``), ``null_mean`` and ``null_q95`` (means over seeds of each
        run's null mean and 95th percentile), ``excess`` = observed - null mean (mean over seeds, with its
        Student-t interval ``excess_ci_low``, ``excess_ci_high``), ``seeds_p_below_0.05`` (runs whose gap
        exceeds its null at p < 0.05) and ``n`` (seeds).
    """
    import pandas as pd

    rows = []
    for (task, strategy), part in runs.groupby(["task", "strategy"], sort=False):
        for gap in GAP_COLUMNS:
            observed = summarize_over_seeds(part[gap].to_numpy(float), metric=gap)
            excess = summarize_over_seeds((part[gap] - part[f"{gap}_null_mean"]).to_numpy(float))
            rows.append({"task": task, "strategy": strategy, "gap": gap, "observed": observed["mean"],
                         "observed_ci_low": observed["ci_low"], "observed_ci_high": observed["ci_high"],
                         "null_mean": float(part[f"{gap}_null_mean"].mean()),
                         "null_q95": float(part[f"{gap}_null_q95"].mean()),
                         "excess": excess["mean"], "excess_ci_low": excess["ci_low"],
                         "excess_ci_high": excess["ci_high"],
                         "seeds_p_below_0.05": int((part[f"{gap}_p_value"] < 0.05).sum()), "n": observed["n"]})
    return pd.DataFrame(rows).set_index(["task", "strategy", "gap"])


def paired_differences(runs: Any, *, baseline: str = "erm") -> Any:
    """Per task and strategy, the seed-paired difference to ``baseline`` of every metric, with its 95% CI.

    Parameters
    ----------
    runs : pandas.DataFrame
        One row per (task, strategy, seed) with the :data:`METRIC_COLUMNS`.

    Returns
    -------
    pandas.DataFrame
        Indexed by (task, strategy) for every strategy but the baseline; columns ``<metric>_mean``,
        ``_ci_low``, ``_ci_high``, ... of ``strategy - baseline`` (same task, same seed), plus ``mean_gap``
        (the average of the three fairness gaps).
    """
    import pandas as pd

    runs = runs.assign(mean_gap=runs[list(GAP_COLUMNS)].mean(axis=1))
    columns = [*METRIC_COLUMNS, "mean_gap"]
    base = runs[runs.strategy == baseline].set_index(["task", "seed"])[columns]
    parts = []
    for strategy in [s for s in runs.strategy.unique() if s != baseline]:
        other = runs[runs.strategy == strategy].set_index(["task", "seed"])[columns]
        diff = (other - base.loc[other.index]).reset_index()
        parts.append(diff.assign(strategy=strategy))
    frame = pd.concat(parts, ignore_index=True)
    return summarize_frame(frame, by=["task", "strategy"], value_columns=columns)


def adv_rounds(runs: Any) -> Any:
    """The scalars the auditor sent back in each Adv round (adversary accuracy and loss), one row per round.

    Returns
    -------
    pandas.DataFrame
        ``task, seed, round, adversary_loss, adversary_accuracy, adversary_loss_after``.
    """
    import pandas as pd

    adv = runs[runs.strategy == "adv"]
    return pd.DataFrame([{"task": task, "seed": seed, **signal}
                         for task, seed, signals in zip(adv.task, adv.seed, adv.auditor_signals) for signal in signals])


def keyed(table: Any) -> dict:
    """A table indexed by (task, strategy[, ...]) as ``{"<task>|<strategy>[|...]": {column: value}}`` (for the
    results JSON)."""
    return {"|".join(map(str, key)): row for key, row in table.to_dict(orient="index").items()}


def means(summary: Any) -> Any:
    """The ``<metric>_mean`` columns of :func:`summarize`'s table, for :data:`METRIC_COLUMNS`."""
    return summary[[f"{c}_mean" for c in METRIC_COLUMNS]]
