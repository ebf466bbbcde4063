"""The claims engine: a catalogue claim (:mod:`fairlib.claims`) and the per-seed values of a notebook in, one row
of the results JSON schema out.

A runner passes, for one claim, the per-seed values of ``A`` and ``B`` (paired by seed), or the values of a
metric over a sweep, and gets a row::

    row = evaluate("p2.vs_lora.min_group_f1", a=fairlora_per_seed, b=lora_per_seed, data="stand-in ViT, test")
    row = evaluate("p1.fairness.dpd", comparisons={"vit/celeba": {"a": lora, "b": full}, ...}, data=...)
    row = evaluate("p1.rank.dpd", x=ranks, y=dpd_per_run, data=...)
    row = evaluate("p4.table3.ours_error", a=error_per_run, data=...)

The tests (statistics from scipy and statsmodels, level ``alpha`` = 0.05):

- ``superiority``: the paired t interval (1 - alpha) of ``A - B`` (or of ``A - threshold``) excludes 0 in the
  claimed direction -> reproduced; in the other -> contradicted; else inconclusive.
- ``equivalence``: TOST (two one-sided t tests) with the catalogue's margin, i.e. the paired interval at
  1 - 2 alpha inside ``(-margin, +margin)`` -> reproduced; wholly outside -> contradicted; else inconclusive.
  With ``direction`` +1/-1 it is a non-inferiority test: ``direction * (A - B) > -margin``.
- ``match``: our mean's interval (1 - 2 alpha) inside the paper's value +- its spread -> reproduced; disjoint from
  it -> contradicted; straddling an edge -> inconclusive.
- ``trend``: the OLS slope of the metric on the sweep (log2 of it for ranks), its t interval; monotone claims as
  superiority on the slope, "does not depend on it" as equivalence on the slope with the catalogue's slope margin.
  The Spearman rho is recorded beside it.

Several comparisons under one claim are corrected with Holm (``statsmodels.stats.multitest.multipletests``); each
comparison's interval is drawn at the level its Holm-adjusted test uses (``alpha * p / p_holm``), so the interval
shown always agrees with the decision. ``combine="all"`` claims need every comparison to hold (any contradicted one
contradicts the claim), ``combine="any"`` claims need one. The row shows the comparison that decided it.

An inconclusive row states its minimum detectable effect (``mde``: the smallest true effect the test detects with
80 % power at the achieved n and the observed spread) and ``seeds_needed`` (the n at which the observed effect,
taken as true, would be resolved with 80 % power; ``statsmodels.stats.power.TTestPower``).
"""

from __future__ import annotations

import enum
import math
import warnings
from typing import Any, Mapping, Optional

import numpy as np

from .claims import KINDS, METRICS, Check, Claim, check, claim

__all__ = ["Verdict", "Reason", "ALPHA", "POWER", "MIN_SEEDS", "ROW_FIELDS", "CHECK_FIELDS", "evaluate", "not_run",
           "check_row", "validate_row", "interval_agrees"]

#: Seeds (or runs) per comparison below which a row is underpowered (issue 12: >= 10 per claimed comparison).
#: A stand-in row whose evidence rests on fewer says so under ``detail["power"]``.
MIN_SEEDS = 10

#: Level of every test.
ALPHA = 0.05
#: Power at which ``mde`` and ``seeds_needed`` are stated.
POWER = 0.8
#: Cap on ``seeds_needed`` (beyond it the row says None: not resolvable by seeds alone).
_MAX_SEEDS = 100_000


class Verdict(str, enum.Enum):
    """The four verdicts of a claim row; the JSON stores the value."""

    REPRODUCED = "reproduced"
    CONTRADICTED = "contradicted"
    INCONCLUSIVE = "inconclusive"
    NOT_RUN = "not run"


class Reason(str, enum.Enum):
    """Why a row is ``not run`` (empty for the other verdicts)."""

    NONE = ""
    STAND_IN = "stand-in data"
    MISSING = "missing data"
    PROFILE = "profile"


#: Fields of every claim row, in order (documented in figures/README.md).
ROW_FIELDS = ("id", "notebook", "statement", "kind", "metric", "direction", "margin", "estimate", "ci_low",
              "ci_high", "n", "verdict", "reason", "paper_value", "mde", "seeds_needed", "evidence", "data")
#: Optional fields a row may carry.
_OPTIONAL = ("level", "comparisons", "deciding", "paper_pm", "spearman", "legacy", "detail", "dataset")
#: Fields of a check row.
CHECK_FIELDS = ("id", "notebook", "statement", "kind", "expected", "value", "tolerance", "holds", "data")


# ------------------------------------------------------------------------------------------------ one comparison
def _clean(values: Any, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if np.isnan(arr).any():
        raise ValueError(f"{what} contains NaN ({arr.tolist()}): drop the missing seeds explicitly before evaluating")
    return arr


def _paired(comparison: Mapping[str, Any], c: Claim) -> np.ndarray:
    if "differences" in comparison:
        return _clean(comparison["differences"], "differences")
    if "a" not in comparison:
        raise ValueError(f"claim {c.id}: give 'a' (and 'b' for a paired comparison) or 'differences'")
    a = _clean(comparison["a"], "a")
    if comparison.get("b") is None:
        return a - (c.paper_value if c.kind == "match" else c.threshold)
    b = _clean(comparison["b"], "b")
    if a.shape != b.shape:
        raise ValueError(f"claim {c.id}: a and b must be paired by seed, got {a.size} and {b.size} values")
    return a - b


def _t_stats(d: np.ndarray) -> tuple[float, float, int]:
    n = d.size
    mean = float(d.mean()) if n else math.nan
    se = float(d.std(ddof=1) / math.sqrt(n)) if n >= 2 else math.nan
    return mean, se, n - 1


def _t_interval(mean: float, se: float, df: int, level_alpha: float, two_sided_alpha: bool = True
                ) -> tuple[Optional[float], Optional[float]]:
    from scipy import stats
    if not (df >= 1 and math.isfinite(se)):
        return None, None
    if se == 0:
        return mean, mean
    q = stats.t.ppf(1 - (level_alpha / 2 if two_sided_alpha else level_alpha), df)
    return mean - q * se, mean + q * se


def _p_value(kind: str, d: np.ndarray, c: Claim, margin: Optional[float]) -> float:
    """p of the comparison's test (two-sided t for superiority, TOST / one-sided for equivalence and match)."""
    from statsmodels.stats.weightstats import DescrStatsW, ttost_paired
    mean, se, df = _t_stats(d)
    if df < 1:
        return 1.0
    if se == 0:  # no spread: the test is decided by the mean alone
        if kind == "superiority":
            return 0.0 if mean != 0 else 1.0
        lo_ok, hi_ok = mean > -margin, mean < margin
        if kind == "equivalence" and c.direction != 0:
            return 0.0 if c.direction * mean > -margin else 1.0
        return 0.0 if (lo_ok and hi_ok) else 1.0
    stats = DescrStatsW(d)
    if kind == "superiority":
        return float(stats.ttest_mean(0.0)[1])
    if kind == "equivalence" and c.direction != 0:
        alternative = "larger" if c.direction > 0 else "smaller"
        return float(stats.ttest_mean(-c.direction * margin, alternative=alternative)[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(ttost_paired(d, np.zeros_like(d), -margin, margin)[0])


def _decide(kind: str, direction: int, margin: Optional[float], low: Optional[float], high: Optional[float],
            center: float = 0.0) -> Verdict:
    """The verdict an interval gives (the one rule, shared by the engine and :func:`interval_agrees`)."""
    if low is None or high is None:
        return Verdict.INCONCLUSIVE
    low, high = low - center, high - center
    if kind == "superiority" or (kind == "trend" and direction != 0):
        if direction * low > 0 and direction * high > 0:
            return Verdict.REPRODUCED
        if direction * low < 0 and direction * high < 0:
            return Verdict.CONTRADICTED
        return Verdict.INCONCLUSIVE
    if kind in ("equivalence", "match", "trend") and direction == 0 or kind == "match":
        if -margin < low and high < margin:
            return Verdict.REPRODUCED
        if low > margin or high < -margin:
            return Verdict.CONTRADICTED
        return Verdict.INCONCLUSIVE
    # non-inferiority: direction * (A - B) > -margin
    worst, best = (low, high) if direction > 0 else (-high, -low)
    if worst > -margin:
        return Verdict.REPRODUCED
    if best < -margin:
        return Verdict.CONTRADICTED
    return Verdict.INCONCLUSIVE


def _mde_and_seeds(kind: str, direction: int, margin: Optional[float], estimate: float, sd: float, n: int,
                   alpha: float) -> tuple[Optional[float], Optional[float]]:
    from statsmodels.stats.power import TTestPower
    if n < 2 or not (math.isfinite(sd) and sd > 0):
        return None, None
    power = TTestPower()
    if kind == "superiority":
        alt, target = "two-sided", abs(estimate)
        mde = power.solve_power(nobs=n, alpha=alpha, power=POWER, alternative=alt) * sd
    else:
        # TOST / non-inferiority: one-sided tests against the nearer bound (for TOST an approximation).
        alt = "larger"
        mde = power.solve_power(nobs=n, alpha=alpha, power=POWER, alternative=alt) * sd
        if kind == "equivalence" and direction != 0:
            distance = direction * estimate + margin
        else:
            distance = margin - abs(estimate)
        target = abs(distance)
    if target == 0:
        return float(mde), None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            needed = power.solve_power(effect_size=target / sd, alpha=alpha, power=POWER, alternative=alt)
        needed = float(np.ravel(needed)[0])
    except Exception:  # noqa: BLE001 - the solver fails for effects too small to resolve
        needed = math.nan
    seeds = int(math.ceil(needed)) if math.isfinite(needed) and needed <= _MAX_SEEDS else None
    return float(mde), (max(seeds, n + 1) if seeds is not None else None)


def _trend(c: Claim, x: Any, y: Any, margin: Optional[float]) -> dict:
    import statsmodels.api as sm
    from scipy import stats
    x, y = _clean(x, "x"), _clean(y, "y")
    if x.shape != y.shape:
        raise ValueError(f"claim {c.id}: x and y must have one value per run, got {x.size} and {y.size}")
    if c.log_x:
        if (x <= 0).any():
            raise ValueError(f"claim {c.id}: a log-scale sweep needs positive x, got {sorted(set(x.tolist()))}")
        x = np.log2(x)
    n = y.size
    if n < 3 or np.unique(x).size < 2:
        return {"estimate": math.nan, "se": math.nan, "df": 0, "n": n, "p": 1.0, "spearman": None}
    fit = sm.OLS(y, sm.add_constant(x)).fit()
    slope, se, df = float(fit.params[1]), float(fit.bse[1]), int(fit.df_resid)
    rho = stats.spearmanr(x, y).statistic
    if c.direction != 0:
        p = float(fit.pvalues[1]) if se > 0 else (0.0 if slope != 0 else 1.0)
    elif se > 0:
        p = float(max(stats.t.sf((slope + margin) / se, df), stats.t.cdf((slope - margin) / se, df)))
    else:
        p = 0.0 if abs(slope) < margin else 1.0
    return {"estimate": slope, "se": se, "df": df, "n": n, "p": p,
            "spearman": None if not np.isfinite(rho) else float(rho)}


def _summaries(c: Claim, comparisons: Mapping[str, Mapping[str, Any]], margin: Optional[float]) -> list[dict]:
    out = []
    for label, comp in comparisons.items():
        metric = comp.get("metric", c.metric)
        if metric is None or (metric == c.metric and "+" in c.metric):
            raise ValueError(f"claim {c.id} spans metrics {c.metric.split('+')}: comparison {label!r} must name "
                             f"its metric")
        if metric not in c.metric.split("+"):
            raise ValueError(f"claim {c.id}: comparison {label!r} has metric {metric!r}, not one of the claim's "
                             f"{c.metric.split('+')}")
        m = comp.get("margin", margin)
        if c.kind == "trend":
            s = _trend(c, comp.get("x"), comp.get("y"), m)
            s.update(label=label, metric=metric, margin=m, sd=s["se"] * math.sqrt(max(s["n"], 1)))
        else:
            d = _paired(comp, c)
            mean, se, df = _t_stats(d)
            s = {"label": label, "metric": metric, "margin": m, "estimate": mean, "se": se, "df": df, "n": d.size,
                 "p": _p_value(c.kind, d, c, m), "sd": float(d.std(ddof=1)) if d.size >= 2 else math.nan}
            if c.kind == "match":
                s["estimate"] = mean + c.paper_value  # our mean, its interval around it
        out.append(s)
    return out


def _finish(c: Claim, s: dict, level_alpha: float) -> dict:
    two_sided = c.kind == "superiority" or (c.kind == "trend" and c.direction != 0)
    # Equivalence-type tests read the interval at 1 - 2 alpha (each one-sided test at alpha).
    low, high = _t_interval(s["estimate"], s["se"], s["df"], level_alpha if two_sided else 2 * level_alpha)
    level = 1 - level_alpha if two_sided else 1 - 2 * level_alpha
    center = c.paper_value if c.kind == "match" else 0.0
    verdict = _decide(c.kind, c.direction, s["margin"], low, high, center)
    return {**s, "ci_low": low, "ci_high": high, "level": level, "verdict": verdict}


def evaluate(claim_id: str | Claim, *, a: Any = None, b: Any = None, differences: Any = None, x: Any = None,
             y: Any = None, metric: Optional[str] = None,
             comparisons: Optional[Mapping[str, Mapping[str, Any]]] = None, data: str,
             stand_in: bool = False, alpha: float = ALPHA) -> dict:
    """One row of the results JSON for a catalogue claim.

    Parameters
    ----------
    claim_id : str or Claim
        A catalogue id (:data:`fairlib.claims.CATALOGUE`).
    a, b : array-like, optional
        Per-seed values of the claim's ``A`` and ``B``, paired by position (one comparison). ``b`` omitted:
        ``A`` is compared with the claim's threshold (superiority) or the paper's value (match).
    differences : array-like, optional
        Per-seed ``A - B`` instead of ``a`` and ``b``.
    x, y : array-like, optional
        trend: the sweep value and the metric, one pair per run.
    metric : str, optional
        The metric of a single comparison (required when the claim spans several metrics).
    comparisons : mapping, optional
        Several comparisons under the claim: ``{label: {"a": ..., "b": ..., "metric": ...}}`` (or
        ``"differences"``, or ``"x"``/``"y"``); Holm-corrected together.
    data : str
        What the numbers come from (data set, backbone, split, profile).
    stand_in : bool
        True when the data stand in for the claim's dataset: the row is ``not run`` (stand-in data) with the
        stand-in's result kept under ``evidence``.
    alpha : float

    Returns
    -------
    dict
        A row with :data:`ROW_FIELDS` (and ``level``, ``comparisons``, ``deciding``), valid for
        :func:`validate_row`.
    """
    c = claim_id if isinstance(claim_id, Claim) else claim(claim_id)
    if not (0 < alpha < 0.5):
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
    single = {k: v for k, v in (("a", a), ("b", b), ("differences", differences), ("x", x), ("y", y))
              if v is not None}
    if comparisons is not None and single:
        raise ValueError(f"claim {c.id}: give either comparisons or {sorted(single)}, not both")
    if comparisons is None:
        if not single:
            raise ValueError(f"claim {c.id}: no values given (a/b, differences, x/y or comparisons)")
        comparisons = {"": {**single, **({"metric": metric} if metric is not None else {})}}
    if not comparisons:
        raise ValueError(f"claim {c.id}: comparisons is empty")
    if c.kind == "trend" and any("x" not in v or "y" not in v for v in comparisons.values()):
        raise ValueError(f"claim {c.id}: a trend claim needs x and y per comparison")
    margin = c.paper_pm if c.kind == "match" and c.paper_pm else c.margin
    summaries = _summaries(c, comparisons, margin)
    pvals = np.array([s["p"] for s in summaries])
    if len(summaries) > 1:
        from statsmodels.stats.multitest import multipletests
        adjusted = multipletests(pvals, alpha=alpha, method="holm")[1]
    else:
        adjusted = pvals
    finished = []
    for s, p, p_adj in zip(summaries, pvals, adjusted):
        # Holm rejects comparison i iff p_i <= alpha * p_i / p_holm_i: its interval at that level agrees with it.
        level_alpha = alpha * p / p_adj if p_adj > 0 and p > 0 else alpha / len(summaries)
        level_alpha = min(level_alpha, alpha)
        finished.append({**_finish(c, s, level_alpha), "p_holm": float(p_adj)})
    verdicts = [f["verdict"] for f in finished]
    if c.combine == "all":
        if Verdict.CONTRADICTED in verdicts:
            verdict = Verdict.CONTRADICTED
        elif all(v == Verdict.REPRODUCED for v in verdicts):
            verdict = Verdict.REPRODUCED
        else:
            verdict = Verdict.INCONCLUSIVE
    else:
        if Verdict.REPRODUCED in verdicts:
            verdict = Verdict.REPRODUCED
        elif all(v == Verdict.CONTRADICTED for v in verdicts):
            verdict = Verdict.CONTRADICTED
        else:
            verdict = Verdict.INCONCLUSIVE
    candidates = [f for f in finished if f["verdict"] == verdict]
    # The deciding comparison: the weakest of those that hold ("all"), the strongest ("any").
    pick = max if (c.combine == "all" and verdict == Verdict.REPRODUCED) else min
    deciding = pick(candidates, key=lambda f: f["p_holm"])
    mde = seeds = None
    if verdict == Verdict.INCONCLUSIVE:
        if c.kind == "trend":
            mde, seeds = _trend_power(c, deciding, alpha)
        else:
            diff_estimate = deciding["estimate"] - (c.paper_value if c.kind == "match" else 0.0)
            mde, seeds = _mde_and_seeds("equivalence" if c.kind == "match" else c.kind, c.direction,
                                        deciding["margin"], diff_estimate, deciding["sd"], deciding["n"], alpha)
    row = {
        "id": c.id, "notebook": c.notebook, "statement": c.statement, "kind": c.kind, "metric": deciding["metric"],
        "direction": c.direction, "margin": deciding["margin"], "estimate": _num(deciding["estimate"]),
        "ci_low": _num(deciding["ci_low"]), "ci_high": _num(deciding["ci_high"]), "n": int(deciding["n"]),
        "verdict": verdict.value, "reason": Reason.NONE.value, "paper_value": c.paper_value, "mde": _num(mde),
        "seeds_needed": seeds, "evidence": None, "data": str(data), "level": float(deciding["level"]),
        "deciding": deciding["label"] or None, "paper_pm": c.paper_pm, "dataset": c.dataset,
        "spearman": deciding.get("spearman"),
        "comparisons": [{"label": f["label"], "metric": f["metric"], "estimate": _num(f["estimate"]),
                         "ci_low": _num(f["ci_low"]), "ci_high": _num(f["ci_high"]), "level": float(f["level"]),
                         "n": int(f["n"]), "p": _num(f["p"]), "p_holm": _num(f["p_holm"]),
                         "verdict": f["verdict"].value} for f in finished],
    }
    if stand_in:
        row["evidence"] = {k: row[k] for k in ("estimate", "ci_low", "ci_high", "level", "n", "verdict")}
        row.update(estimate=None, ci_low=None, ci_high=None, verdict=Verdict.NOT_RUN.value,
                   reason=Reason.STAND_IN.value, mde=None, seeds_needed=None)
        few = [(f["label"], int(f["n"])) for f in finished if f["n"] < MIN_SEEDS]
        if few:
            row["detail"] = {"power": (
                "underpowered stand-in evidence: " + "; ".join(f"{label or 'the comparison'} rests on {n}"
                                                              for label, n in few)
                + f" seed(s) or run(s), fewer than {MIN_SEEDS}. A stand-in decides no verdict, so the smoke profile "
                  f"runs its evidence on fewer seeds than a comparison that decides one (fairlib.config.STANDIN_SEEDS)")}
    return validate_row(row)


def _trend_power(c: Claim, s: dict, alpha: float) -> tuple[Optional[float], Optional[int]]:
    # Normal approximation: the slope's standard error shrinks as 1 / sqrt(runs).
    from scipy import stats
    se, n = s["se"], s["n"]
    if not (math.isfinite(se) and se > 0):
        return None, None
    z = stats.norm.ppf(POWER)
    if c.direction != 0:
        crit, target = stats.norm.ppf(1 - alpha / 2), abs(s["estimate"])
    else:
        crit, target = stats.norm.ppf(1 - alpha), abs(s["margin"] - abs(s["estimate"]))
    mde = (crit + z) * se
    if target == 0:
        return float(mde), None
    needed = math.ceil(n * (mde / target) ** 2)
    return float(mde), (max(needed, n + 1) if needed <= _MAX_SEEDS else None)


def _num(value: Any) -> Optional[float]:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def not_run(claim_id: str | Claim, reason: Reason | str, *, data: str = "", evidence: Optional[dict] = None
            ) -> dict:
    """The row of a claim that was not evaluated (``reason``: profile, missing data or stand-in data)."""
    c = claim_id if isinstance(claim_id, Claim) else claim(claim_id)
    reason = Reason(reason)
    if reason == Reason.NONE:
        raise ValueError(f"claim {c.id}: a not-run row needs a reason, one of "
                         f"{[r.value for r in Reason if r != Reason.NONE]}")
    row = {"id": c.id, "notebook": c.notebook, "statement": c.statement, "kind": c.kind, "metric": c.metric,
           "direction": c.direction, "margin": c.paper_pm if c.kind == "match" and c.paper_pm else c.margin,
           "estimate": None, "ci_low": None, "ci_high": None, "n": 0, "verdict": Verdict.NOT_RUN.value,
           "reason": reason.value, "paper_value": c.paper_value, "mde": None, "seeds_needed": None,
           "evidence": evidence, "data": data, "paper_pm": c.paper_pm, "dataset": c.dataset}
    return validate_row(row)


def check_row(check_id: str | Check, value: float, *, data: str) -> dict:
    """The row of a check (never a reproduction): ``holds`` when ``|value - expected| <= tolerance``."""
    k = check_id if isinstance(check_id, Check) else check(check_id)
    value = float(value)
    holds = bool(abs(value - k.expected) <= k.tolerance)
    return validate_row({"id": k.id, "notebook": k.notebook, "statement": k.statement, "kind": "check",
                         "expected": k.expected, "value": value, "tolerance": k.tolerance, "holds": holds,
                         "data": data})


def interval_agrees(row: Mapping[str, Any]) -> bool:
    """Whether a row's verdict is the one its own interval and margin give (true for not-run and legacy rows)."""
    if row["verdict"] == Verdict.NOT_RUN.value or row.get("legacy"):
        return True
    low, high = row["ci_low"], row["ci_high"]
    if low is None or high is None:
        return row["verdict"] == Verdict.INCONCLUSIVE.value
    center = row["paper_value"] if row["kind"] == "match" else 0.0
    return _decide(row["kind"], row["direction"], row["margin"], low, high, center).value == row["verdict"]


def validate_row(row: Mapping[str, Any]) -> dict:
    """Check a claim or check row against the schema; return it as a dict, or raise ``ValueError`` naming
    the first problem."""
    if not isinstance(row, Mapping):
        raise ValueError(f"a row must be a mapping, got {type(row).__name__}")
    rid = row.get("id", "<no id>")
    if row.get("kind") == "check":
        missing = [f for f in CHECK_FIELDS if f not in row]
        if missing:
            raise ValueError(f"check row {rid}: missing fields {missing}")
        if not isinstance(row["holds"], bool):
            raise ValueError(f"check row {rid}: holds must be a bool, got {row['holds']!r}")
        return dict(row)
    missing = [f for f in ROW_FIELDS if f not in row]
    if missing:
        raise ValueError(f"claim row {rid}: missing fields {missing}")
    extra = [f for f in row if f not in ROW_FIELDS and f not in _OPTIONAL]
    if extra:
        raise ValueError(f"claim row {rid}: unknown fields {extra}; allowed: {ROW_FIELDS + _OPTIONAL}")
    valid = [v.value for v in Verdict]
    if row["verdict"] not in valid:
        raise ValueError(f"claim row {rid}: verdict {row['verdict']!r} is not one of {valid}")
    reasons = [r.value for r in Reason]
    if row["reason"] not in reasons:
        raise ValueError(f"claim row {rid}: reason {row['reason']!r} is not one of {reasons}")
    if (row["verdict"] == Verdict.NOT_RUN.value) != (row["reason"] != Reason.NONE.value):
        raise ValueError(f"claim row {rid}: a reason is given exactly when the verdict is 'not run' "
                         f"(verdict {row['verdict']!r}, reason {row['reason']!r})")
    if row["kind"] not in KINDS:
        raise ValueError(f"claim row {rid}: kind {row['kind']!r} is not one of {KINDS}")
    if row["metric"] is not None and any(m not in METRICS for m in str(row["metric"]).split("+")):
        raise ValueError(f"claim row {rid}: metric {row['metric']!r} is not made of {METRICS}")
    if row["direction"] not in (-1, 0, 1):
        raise ValueError(f"claim row {rid}: direction {row['direction']!r} must be -1, 0 or +1")
    low, high = row["ci_low"], row["ci_high"]
    if (low is None) != (high is None) or (low is not None and low > high):
        raise ValueError(f"claim row {rid}: interval [{low}, {high}] is not an interval")
    if row["verdict"] == Verdict.NOT_RUN.value and row["estimate"] is not None:
        raise ValueError(f"claim row {rid}: a not-run row carries no estimate (stand-in results go to evidence)")
    if row["verdict"] in (Verdict.REPRODUCED.value, Verdict.CONTRADICTED.value) and low is None \
            and not row.get("legacy"):
        raise ValueError(f"claim row {rid}: verdict {row['verdict']!r} without the interval that decided it")
    if not interval_agrees(row):
        raise ValueError(f"claim row {rid}: verdict {row['verdict']!r} disagrees with its interval "
                         f"[{low}, {high}] (kind {row['kind']}, direction {row['direction']}, margin {row['margin']})")
    return dict(row)

