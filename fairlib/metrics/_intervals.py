"""Mean, spread and Student-t confidence interval of a metric over seeds."""

from __future__ import annotations

import math
import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats

STATS = ("mean", "std", "ci_low", "ci_high", "n")


def summarize_over_seeds(values: Any, *, confidence: float = 0.95) -> dict:
    """Mean, sample standard deviation and t-based confidence interval of per-seed values.

    Parameters
    ----------
    values : array-like of float
        One value per seed. NaN values (a metric undefined in that run) are dropped with a warning.
    confidence : float, default 0.95
        Coverage of the two-sided interval ``mean ± t_{(1+confidence)/2, n-1} * std / sqrt(n)``.

    Returns
    -------
    dict
        ``mean, std`` (ddof=1), ``ci_low, ci_high, n`` (number of values used). With one value the std and
        the interval are NaN; with none, everything but ``n`` is NaN.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    values = np.asarray(values, dtype=float).ravel()
    finite = values[~np.isnan(values)]
    if len(finite) < len(values):
        warnings.warn(f"summarize_over_seeds: {len(values) - len(finite)} of {len(values)} values are NaN "
                      f"and left out", UserWarning, stacklevel=2)
    n = len(finite)
    nan = float("nan")
    if n == 0:
        return {"mean": nan, "std": nan, "ci_low": nan, "ci_high": nan, "n": 0}
    mean = float(finite.mean())
    if n == 1:
        return {"mean": mean, "std": nan, "ci_low": nan, "ci_high": nan, "n": 1}
    std = float(finite.std(ddof=1))
    half = float(stats.t.ppf((1 + confidence) / 2, df=n - 1)) * std / math.sqrt(n)
    return {"mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half, "n": n}


def summarize_frame(df: pd.DataFrame, *, by: str | Sequence[str], value_columns: Sequence[str],
                    confidence: float = 0.95) -> pd.DataFrame:
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

    Returns
    -------
    pandas.DataFrame
        Indexed by ``by``, with columns ``<metric>_mean, <metric>_std, <metric>_ci_low, <metric>_ci_high,
        <metric>_n`` per metric (error bars: ``ci_high - mean``).
    """
    by = [by] if isinstance(by, str) else list(by)
    missing = [c for c in (*by, *value_columns) if c not in df.columns]
    if missing:
        raise KeyError(f"summarize_frame: columns {missing} are not in the frame ({list(df.columns)})")
    rows = {}
    for key, part in df.groupby(by, sort=False, dropna=False):
        row = {}
        for column in value_columns:
            for stat, value in summarize_over_seeds(part[column].to_numpy(dtype=float),
                                                    confidence=confidence).items():
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
