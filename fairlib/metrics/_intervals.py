"""Summaries of a metric over seeds (Student-t, or percentile bootstrap for bounded metrics), seed-paired
differences, and a test-set bootstrap of one model's metric."""

from __future__ import annotations

import math
import re
import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from . import _inputs
from ._counting import COUNTED, counted_metric
from ._vocabulary import METRICS, metric_info

STATS = ("mean", "std", "ci_low", "ci_high", "n")
#: Per-group columns ``<prefix>[group]`` (as :func:`evaluate` names them) whose values are rates or probabilities in
#: [0, 1].
UNIT_INTERVAL_PREFIXES = ("accuracy", "recall", "fpr", "selection_rate", "ece", "dpd_ovr", "eod_ovr", "precision",
                          "f1", "tpr", "tnr", "fnr")
_PER_GROUP = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\[(.*)\]$")


def column_bounds(column: str) -> tuple[float, float] | None:
    """The bounds of a results column: a metric of :data:`fairlib.metrics.METRICS` has its own; a per-group rate
    or ECE (``accuracy[g]``, ``eod_ovr[g]``, ...) lies in [0, 1]; None for anything else (counts, seconds,
    differences)."""
    if column in METRICS:
        return METRICS[column].bounds
    match = _PER_GROUP.match(column)
    if match and match.group(1) in UNIT_INTERVAL_PREFIXES:
        return (0.0, 1.0)
    return None


def _bounds_of(metric: str | None, bounds: tuple[float, float] | None) -> tuple[float, float] | None:
    if metric is not None and bounds is not None:
        raise ValueError("give metric= (bounds read from METRICS) or bounds=, not both")
    if metric is not None:
        return metric_info(metric).bounds
    if bounds is not None:
        low, high = (float(b) for b in bounds)
        if not low < high:
            raise ValueError(f"bounds must be (low, high) with low < high, got {bounds}")
        return low, high
    return None


def summarize_over_seeds(values: Any, *, confidence: float = 0.95, metric: str | None = None,
                         bounds: tuple[float, float] | None = None, n_resamples: int = 9999,
                         random_state: int = 0) -> dict:
    """Mean, sample standard deviation and confidence interval of per-seed values.

    Parameters
    ----------
    values : array-like of float
        One value per seed. NaN values (a metric undefined in that run) are dropped with a warning.
    confidence : float, default 0.95
        Coverage of the two-sided interval.
    metric : str, optional
        Canonical name of the metric (:data:`fairlib.metrics.METRICS`); its bounds select the bootstrap.
    bounds : (float, float), optional
        Bounds of a metric that is not in :data:`~fairlib.metrics.METRICS`; also select the bootstrap.
    n_resamples, random_state : int
        Of the bootstrap (``scipy.stats.bootstrap``, fixed seed: the same values give the same interval).

    Returns
    -------
    dict
        ``mean, std`` (ddof=1), ``ci_low, ci_high, n`` (number of values used). The interval is Student's t,
        ``mean ± t_{(1+confidence)/2, n-1} * std / sqrt(n)``, for an unbounded metric; for a bounded one
        (``metric`` or ``bounds`` given) it is the percentile bootstrap of the mean over seeds, which lies
        between the smallest and the largest value and so never leaves the bounds. With one value the std and
        the interval are NaN; with none, everything but ``n`` is NaN.

    Raises
    ------
    ValueError
        ``confidence`` outside (0, 1), an unknown ``metric``, or a value outside the metric's bounds.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    limits = _bounds_of(metric, bounds)
    values = np.asarray(values, dtype=float).ravel()
    finite = values[~np.isnan(values)]
    if len(finite) < len(values):
        warnings.warn(f"summarize_over_seeds: {len(values) - len(finite)} of {len(values)} values are NaN "
                      f"and left out", UserWarning, stacklevel=2)
    if limits is not None:
        outside = (finite < limits[0]) | (finite > limits[1])
        if outside.any():
            raise ValueError(f"{outside.sum()} value(s) lie outside the bounds {limits} of "
                             f"{metric or 'the metric'}: {finite[outside].tolist()[:5]}")
    n = len(finite)
    nan = float("nan")
    if n == 0:
        return {"mean": nan, "std": nan, "ci_low": nan, "ci_high": nan, "n": 0}
    mean = float(finite.mean())
    if n == 1:
        return {"mean": mean, "std": nan, "ci_low": nan, "ci_high": nan, "n": 1}
    std = float(finite.std(ddof=1))
    if limits is not None:
        if np.all(finite == finite[0]):
            low = high = float(finite[0])
        else:
            result = stats.bootstrap((finite,), np.mean, confidence_level=confidence, method="percentile",
                                     n_resamples=n_resamples, rng=np.random.default_rng(random_state))
            low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
        return {"mean": mean, "std": std, "ci_low": low, "ci_high": high, "n": n}
    half = float(stats.t.ppf((1 + confidence) / 2, df=n - 1)) * std / math.sqrt(n)
    return {"mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half, "n": n}


def summarize_frame(df: pd.DataFrame, *, by: str | Sequence[str], value_columns: Sequence[str],
                    confidence: float = 0.95, bounded: bool = False, split: str | None = None,
                    warn_undefined: bool = True) -> pd.DataFrame:
    """Summarise a long table of per-seed results, one row per ``by`` combination.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per run, e.g. columns ``method, rank, seed, accuracy, equalized_odds_difference``.
    by : str or list of str
        Columns that identify a configuration (everything but the seed). Rows keep first-appearance order.
    value_columns : list of str
        Metric columns to summarise.
    confidence : float, default 0.95
        As in :func:`summarize_over_seeds`.
    bounded : bool, default False
        If True, bounded columns (:func:`column_bounds`: a metric of :data:`fairlib.metrics.METRICS`, a per-group
        rate ``<rate>[group]``) get the bootstrap interval inside their bounds (:func:`summarize_over_seeds`);
        other columns, and every column when False, the Student-t interval.
    split : str, optional
        Keep only the rows whose ``split`` column equals this (``"test"``, ``"val"``) before summarising.
    warn_undefined : bool, default True
        False silences the warning for NaN (undefined) values, which are left out either way and counted by
        the ``<metric>_n`` column.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``by``, with columns ``<metric>_mean, <metric>_std, <metric>_ci_low, <metric>_ci_high,
        <metric>_n`` per metric (error bars: ``ci_high - mean``).
    """
    by = [by] if isinstance(by, str) else list(by)
    if split is not None:
        df = df[df["split"] == split]
    if not warn_undefined:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return summarize_frame(df, by=by, value_columns=value_columns, confidence=confidence, bounded=bounded)
    missing = [c for c in (*by, *value_columns) if c not in df.columns]
    if missing:
        raise KeyError(f"summarize_frame: columns {missing} are not in the frame ({list(df.columns)})")
    rows = {}
    for key, part in df.groupby(by, sort=False, dropna=False):
        row = {}
        for column in value_columns:
            limits = column_bounds(column) if bounded else None
            known = {} if limits is None else dict(metric=column) if column in METRICS else dict(bounds=limits)
            for stat, value in summarize_over_seeds(part[column].to_numpy(dtype=float),
                                                    confidence=confidence, **known).items():
                row[f"{column}_{stat}"] = value
        rows[key] = row
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index = pd.MultiIndex.from_tuples(out.index, names=by) if len(by) > 1 else pd.Index(
        [k[0] if isinstance(k, tuple) else k for k in out.index], name=by[0])
    return out


def paired_over_seeds(method: pd.Series, baseline: pd.Series, *, higher_is_better: bool = True,
                      confidence: float = 0.95) -> dict:
    """Seed-paired improvement of ``method`` over ``baseline``: the interval of the per-seed differences.

    Pairing by seed (same initialisation and batch order on both sides) removes the run-to-run spread both
    share, so a consistent small improvement is seen even when the two sides' intervals overlap.

    Parameters
    ----------
    method, baseline : pandas.Series
        One value per seed, indexed by seed; only seeds present on both sides are compared.
    higher_is_better : bool
        Orientation of the metric: the differences are ``method - baseline`` if True, else
        ``baseline - method``, so a positive mean is always an improvement.
    confidence : float

    Returns
    -------
    dict
        :func:`summarize_over_seeds` of the differences (``n = 0`` when no seed is shared), plus
        ``per_seed`` (seed -> difference), ``method_mean`` and ``baseline_mean`` over the shared seeds.
    """
    common = method.index.intersection(baseline.index)
    a, b = method.loc[common].astype(float), baseline.loc[common].astype(float)
    diff = (a - b) if higher_is_better else (b - a)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        out = summarize_over_seeds(diff.to_numpy(), confidence=confidence)
    nan = float("nan")
    return {**out, "per_seed": {int(k): float(v) for k, v in diff.items()},
            "method_mean": float(a.mean()) if len(common) else nan,
            "baseline_mean": float(b.mean()) if len(common) else nan}


def _declared(y_true: np.ndarray, y_pred: np.ndarray, pos_label: Any, classes: Sequence | None) -> Sequence | None:
    """The classes to pass on explicitly, so that a resample never re-infers (or re-warns about) them."""
    positives, multiclass = _inputs.classes_to_compare(y_true, y_pred, pos_label, classes)
    return classes if (classes is not None or not multiclass) else positives


def bootstrap_test_set(y_true: Any, y_pred: Any, *, sensitive_features: Any, metric: str, y_prob: Any = None,
                       group_names: Sequence | None = None, pos_label: Any = 1, classes: Sequence | None = None,
                       n_bins: int = 15, n_resamples: int = 1000, confidence: float = 0.95,
                       random_state: int = 0) -> dict:
    """Percentile-bootstrap interval of one model's metric over its test set, stratified by group.

    Beside the interval over seeds (training randomness), this one shows the sampling error of the test set
    alone: examples are resampled with replacement within each group (every resample keeps the group sizes,
    so a gap is never computed on a resample that lost a group), and the metric is recomputed by
    :func:`evaluate`. ``scipy.stats.bootstrap`` draws the resamples, each group as one independent sample.

    Parameters
    ----------
    y_true, y_pred, sensitive_features, y_prob, group_names, pos_label, classes, n_bins
        As in :func:`evaluate`.
    metric : str
        One scalar of :data:`EVALUATE_KEYS` (a canonical name of :data:`METRICS`).
    n_resamples : int, default 1000
    confidence : float, default 0.95
    random_state : int, default 0
        Seed of the resampling: the same inputs give the same interval.

    Returns
    -------
    dict
        ``estimate`` (the metric on the full test set), ``ci_low``, ``ci_high`` (percentiles of the resampled
        values, NaN resamples left out), ``n`` (examples), ``n_resamples``, ``n_undefined`` (resamples where the
        metric was NaN; a warning says how many).

    Raises
    ------
    ValueError
        An unknown metric, invalid inputs (as :func:`evaluate`), ``confidence`` outside (0, 1).
    """
    from ._evaluate import evaluate

    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    y_true, y_pred = _inputs.as_labels(y_true, y_pred)
    codes, names = _inputs.resolve_groups(sensitive_features, group_names, len(y_true))
    prob = None if y_prob is None else np.asarray(y_prob, dtype=float)
    kwargs = dict(group_names=names, metrics=[metric], pos_label=pos_label, n_bins=n_bins, per_group=False)
    with _inputs.each_warning_once():
        kwargs["classes"] = _declared(y_true, y_pred, pos_label, classes)
        estimate = evaluate(y_true, y_pred, sensitive_features=codes, y_prob=prob, **kwargs)[metric]
    strata = [np.flatnonzero(codes == g) for g in range(len(names))]
    # A group of one example resamples to itself: it stays fixed (scipy needs two or more per sample).
    fixed = np.concatenate([s for s in strata if len(s) == 1] + [np.zeros(0, dtype=np.int64)])
    samples = tuple(s for s in strata if len(s) >= 2)
    if not samples:
        raise ValueError("bootstrap_test_set: no group has two or more examples to resample")

    binary = kwargs["classes"] is None or len(kwargs["classes"]) == 2
    counted = metric in COUNTED and binary
    is_pos, is_sel = y_true == pos_label, y_pred == pos_label

    def statistic(*parts: np.ndarray) -> float:
        index = np.concatenate([*parts, fixed]).astype(np.int64)
        if counted:  # the same numbers as evaluate, by counting (tested), for speed
            return float(counted_metric(is_pos[index], is_sel[index], codes[index][None, :], len(names),
                                        metric)[0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # undefined resamples are counted below
            return evaluate(y_true[index], y_pred[index], sensitive_features=codes[index],
                            y_prob=None if prob is None else prob[index], **kwargs)[metric]

    result = stats.bootstrap(samples, statistic, n_resamples=n_resamples, vectorized=False, paired=False,
                             method="percentile", confidence_level=confidence,
                             rng=np.random.default_rng(random_state))
    distribution = np.asarray(result.bootstrap_distribution, dtype=float)
    undefined = int(np.isnan(distribution).sum())
    if undefined:
        warnings.warn(f"bootstrap_test_set: {metric} is undefined (NaN) in {undefined} of {n_resamples} "
                      f"resamples; they are left out", UserWarning, stacklevel=2)
    alpha = (1 - confidence) / 2
    low, high = (np.nanpercentile(distribution, [100 * alpha, 100 * (1 - alpha)])
                 if undefined < n_resamples else (float("nan"), float("nan")))
    return {"estimate": float(estimate), "ci_low": float(low), "ci_high": float(high), "n": int(len(y_true)),
            "n_resamples": int(n_resamples), "n_undefined": undefined}
