"""Notebook 01's evaluation: every stored run's test logits -> one record of :func:`fairlib.metrics.evaluate`,
and the tables built from the records (seed summaries, paired LoRA - full FT differences, ECE per group).

Records
-------
One row per run: ``domain, backbone, task, method, rank, alpha, seed, epochs, lr, trainable_parameters,
train_seconds`` and the keys of :func:`evaluate_predictions`: the canonical metrics of
:data:`fairlib.metrics.METRICS` (gaps between groups: max - min over groups), per group the columns of
:func:`fairlib.metrics.evaluate` (``count[g]``, ``accuracy[g]``, ``recall[g]``, ``fpr[g]``, ``selection_rate[g]``,
``ece[g]``, ...) and the *one-vs-rest* gaps ``dpd_ovr[g]``, ``eod_ovr[g]`` (the group against all others pooled,
the convention of the authors' code).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ... import metrics as fm
from ...config import TEXT_METHODS
from ...data import GroupedDataset
from ._membership import MIAResult, membership_inference

__all__ = ["CalibrationPanel", "METHOD_LABELS", "FAIRNESS_METRICS", "UNIT_INTERVAL_PREFIXES", "INTERVAL", "column_bounds", "NULL_GAPS",
           "gap_nulls", "RECORD_METRICS", "RENAMED", "RENAMED_GROUP_COLUMNS", "renamed",
           "evaluate_predictions", "group_columns", "Evaluation", "summarize_records", "paired_differences",
           "ece_table", "data_summary", "example_texts"]

METHOD_LABELS = {"probe": "base (linear probe)", "lora": "LoRA", "full": "full FT"}
#: Between-groups fairness metrics compared between LoRA and full FT (canonical names).
FAIRNESS_METRICS = ("worst_group_accuracy", "accuracy_gap", "dpd", "eo_max")
#: The scalar metrics a record holds (canonical names of :data:`fairlib.metrics.METRICS`).
RECORD_METRICS = ("accuracy", "worst_group_accuracy", "accuracy_gap", "dpd", "eo_max", "ece", "worst_group_ece")

#: The one rename map of notebook 01: names its records and tables used before the one vocabulary -> the
#: canonical names. Scalar metrics (also as column prefixes ``<name>_mean`` etc. and as values of ``metric``).
RENAMED = {"demographic_parity_difference": "dpd", "equalized_odds_difference": "eo_max",
           "max_group_ece": "worst_group_ece"}
#: Per-group columns ``<old>[g]`` -> ``<new>[g]`` (``tpr`` is the recall of class 1 on binary tasks).
RENAMED_GROUP_COLUMNS = {"n": "count", "acc": "accuracy", "sel": "selection_rate", "tpr": "recall"}
_STAT = re.compile(r"^(.*)_(mean|std|ci_low|ci_high|n)$")
_GROUP = re.compile(r"^([A-Za-z_]+)\[(.*)\]$")


def _rename_name(name: str) -> str:
    if name in RENAMED:
        return RENAMED[name]
    match = _GROUP.match(name)
    if match and match.group(1) in RENAMED_GROUP_COLUMNS:
        return f"{RENAMED_GROUP_COLUMNS[match.group(1)]}[{match.group(2)}]"
    match = _STAT.match(name)
    if match and match.group(1) in RENAMED:
        return f"{RENAMED[match.group(1)]}_{match.group(2)}"
    return name


def renamed(value: Any) -> Any:
    """``value`` (a record, a table's rows, a whole results JSON) with notebook 01's old metric names replaced by
    the canonical ones: dict keys (``demographic_parity_difference``, ``…_mean``, ``acc[g]``) and the values of
    ``metric`` fields. Everything else is returned as it is."""
    if isinstance(value, dict):
        return {_rename_name(k) if isinstance(k, str) else k:
                (_rename_name(v) if k == "metric" and isinstance(v, str) else renamed(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [renamed(v) for v in value]
    return value


def group_columns(prefix: str, group_names: Sequence[str]) -> list[str]:
    """``["<prefix>[g]" for g in group_names]``: the per-group columns of a record table."""
    return [f"{prefix}[{g}]" for g in group_names]


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def evaluate_predictions(y: Any, probs: Any, s: Any, *, group_names: Sequence[str], n_bins: int = 15) -> dict:
    """Every number recorded for one run's test predictions: :func:`fairlib.metrics.evaluate` plus the
    one-vs-rest gaps per group.

    Parameters
    ----------
    y : array-like of int, shape (n,)
        True labels (class indices).
    probs : array-like of shape (n, C)
        Class probabilities (softmax of the logits); the prediction is their argmax. ``C`` declares the classes.
    s : array-like of int, shape (n,)
        Group codes into ``group_names``.
    group_names : sequence of str
    n_bins : int
        Confidence bins of the ECE.

    Returns
    -------
    dict
        ``n`` and :data:`RECORD_METRICS` (several classes: gaps take each class one-vs-rest, the worst class),
        :func:`fairlib.metrics.evaluate`'s per-group columns, and ``dpd_ovr[g], eod_ovr[g]``.
    """
    y = np.asarray(y, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    s = np.asarray(s, dtype=np.int64)
    names = list(group_names)
    if probs.ndim != 2 or len(probs) != len(y) or len(s) != len(y):
        raise ValueError(f"probs must be (n, C) with one row per label; got {probs.shape} for {len(y)} labels")
    y_pred = probs.argmax(axis=1)
    classes = list(range(probs.shape[1]))
    group = dict(sensitive_features=s, group_names=names)
    with warnings.catch_warnings():
        # An undefined per-group value is NaN by fairlib's documented convention; one warning per run is noise.
        warnings.simplefilter("ignore", UserWarning)
        out = fm.evaluate(y, y_pred, y_prob=probs, classes=classes, metrics=RECORD_METRICS, n_bins=n_bins, **group)
        dpd_ovr = fm.demographic_parity_difference(y, y_pred, method="one_vs_rest", classes=classes, **group)
        eod_ovr = fm.equalized_odds_difference(y, y_pred, method="one_vs_rest", classes=classes, **group)
    for g, name in enumerate(names):
        out[f"dpd_ovr[{name}]"] = float(dpd_ovr.iloc[g])
        out[f"eod_ovr[{name}]"] = float(eod_ovr.iloc[g])
    return out


class Evaluation:
    """The stored runs of a :class:`LoRAFairnessExperiment`, evaluated: records, predictions, membership.

    Every number is recomputed from the stored logits (a metric fix never serves stale numbers). Test
    predictions of every collected run are kept in :attr:`predictions` for the calibration figure.
    """

    def __init__(self, experiment: Any):
        self.experiment = experiment
        self.cfg = experiment.cfg
        #: ``(domain, backbone, task, method, rank, alpha, seed) -> (probs, y, s)``.
        self.predictions: dict[tuple, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def records(self, specs: Sequence[Any]) -> pd.DataFrame:
        """One record per stored run of ``specs`` (test-split runs)."""
        rows = []
        for spec in specs:
            p = {k: spec.param(k) for k in ("domain", "backbone", "task", "rank", "alpha", "epochs", "lr")}
            result, tensors = self.experiment.load(spec)
            _, test = self.experiment.data(p["domain"], p["task"])
            probs = softmax(tensors["logits"].numpy())
            key = (p["domain"], p["backbone"], p["task"], spec.method, p["rank"], p["alpha"], spec.seed)
            self.predictions[key] = (probs, test.y, test.s)
            rows.append({"domain": p["domain"], "backbone": p["backbone"], "task": p["task"], "method": spec.method,
                         "rank": p["rank"], "alpha": p["alpha"], "seed": spec.seed, "epochs": p["epochs"],
                         "lr": p["lr"], "trainable_parameters": result["trainable_parameters"],
                         "train_seconds": result["train_seconds"],
                         **evaluate_predictions(test.y, probs, test.s, group_names=test.group_names,
                                                n_bins=self.cfg.ece_bins)})
        return pd.DataFrame(rows)

    def vision_runs(self) -> pd.DataFrame:
        """Fig. 1 records."""
        return self.records(self.experiment.vision_specs())

    def text_runs(self) -> pd.DataFrame:
        """Fig. 2 records."""
        return self.records(self.experiment.text_specs())

    def rank_runs(self) -> pd.DataFrame:
        """Rank-ablation records."""
        return self.records(self.experiment.rank_specs())

    def membership_inference(self, domain: str) -> MIAResult:
        """LiRA and the loss-threshold attack of ``domain`` (:func:`membership_inference`)."""
        return membership_inference(self.experiment, domain)

    def pooled_predictions(self, *, domain: str, backbone: str, task: str, method: str) -> tuple[np.ndarray, ...]:
        """Test probabilities, labels and groups of every seed's run of one configuration, concatenated."""
        probs, y, s, _ = self._pooled(domain=domain, backbone=backbone, task=task, method=method)
        return probs, y, s

    def _pooled(self, *, domain: str, backbone: str, task: str, method: str) -> tuple[np.ndarray, ...]:
        keys = sorted(k for k in self.predictions if k[:4] == (domain, backbone, task, method)
                      and (method != "lora" or k[4:6] == self.experiment.lora(domain, "lora")))
        if not keys:
            raise KeyError(f"no predictions recorded for {(domain, backbone, task, method)}; collect the runs first")
        parts = [self.predictions[k] for k in keys]
        return (*(np.concatenate([p[i] for p in parts]) for i in range(3)), tuple(k[6] for k in keys))

    def calibration_panels(self, table: pd.DataFrame) -> list[CalibrationPanel]:
        """The columns of Fig. 3, as the paper's: the text task of each calibrated text backbone
        (``calibration_text_backbones``: the paper's Llama-2 7B in the full profile; MiniLM and the decoder LLM
        in the stand-in profiles), the first vision task (on ``calibration_vision_backbone``: Swin-v2-Large in
        the full profile, as the paper), and each text backbone's text task restricted to each method's
        worst-calibrated group (from :func:`ece_table`).

        Every seed's test predictions of a configuration are pooled; each panel names the seeds it pools (the
        decoder LLM may run fewer seeds than MiniLM: ``text_seed_limits``).
        """
        c = self.cfg
        text_backbones, vision_backbone, task = c.calibrated_text_backbones(), c.calibrated_vision_backbone(), \
            c.vision_tasks[0]
        columns = [("text", b, c.text_attribute) for b in text_backbones] + [("vision", vision_backbone, task)]
        panels = [self._panel(domain, backbone, name) for domain, backbone, name in columns]
        names = self.experiment.text_data()[1].group_names
        for backbone in text_backbones:
            worst, chosen, seeds = {}, [], set()
            for method in TEXT_METHODS:
                row = table[(table["domain"] == "text") & (table["backbone"] == backbone)
                            & (table["method"] == method)]
                group = row["worst_group"].iloc[0]
                probs, y, s, run_seeds = self._pooled(domain="text", backbone=backbone, task=c.text_attribute,
                                                      method=method)
                keep = s == names.index(group)
                worst[method] = (y[keep], probs[keep])
                chosen.append((method, group))
                seeds.update(run_seeds)
            label = ", ".join(f"{METHOD_LABELS[m]}: {g}" for m, g in chosen)
            panels.append(CalibrationPanel(
                title=f"{backbone}: highest-ECE group ({label}), {_seeds(seeds)}", domain="text", backbone=backbone,
                task=c.text_attribute, worst_groups=dict(chosen), seeds=tuple(sorted(seeds)), by_method=worst))
        return panels

    def _panel(self, domain: str, backbone: str, task: str) -> CalibrationPanel:
        by_method, seeds = {}, set()
        for method in TEXT_METHODS:
            probs, y, _, run_seeds = self._pooled(domain=domain, backbone=backbone, task=task, method=method)
            by_method[method] = (y, probs)
            seeds.update(run_seeds)
        return CalibrationPanel(title=f"{backbone} / {task}, {_seeds(seeds)}", domain=domain, backbone=backbone,
                                task=task, worst_groups=None, seeds=tuple(sorted(seeds)), by_method=by_method)


def _seeds(seeds: set) -> str:
    return f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''} pooled"


@dataclass(frozen=True)
class CalibrationPanel:
    """One column of Fig. 3: pooled test predictions ``by_method = {method: (y, probs)}`` of one configuration.

    ``worst_groups`` (``{method: group}``) is set for a worst-calibrated-group column, whose predictions are those
    of each method's own worst group; ``seeds`` are the training seeds pooled.
    """

    title: str
    domain: str
    backbone: str
    task: str
    worst_groups: dict[str, str] | None
    seeds: tuple[int, ...]
    by_method: dict[str, tuple[np.ndarray, np.ndarray]]

    def summary(self, *, n_bins: int) -> dict:
        """The panel as the results JSON records it: what it shows, the seeds, examples and ECE per method."""
        return {"title": self.title, "domain": self.domain, "backbone": self.backbone, "task": self.task,
                "worst_groups": self.worst_groups, "seeds": list(self.seeds),
                "n": {m: int(len(y)) for m, (y, _) in self.by_method.items()},
                "ece": {m: float(fm.expected_calibration_error(y, probs, n_bins=n_bins))
                        for m, (y, probs) in self.by_method.items()}}


# --------------------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------------------

def seeds_by_backbone(records: pd.DataFrame) -> str:
    """``"minilm: 10 seeds, gemma3-270m: 2 seeds"``: the seeds each backbone's records rest on, for a title."""
    counts = records.groupby("backbone", sort=False)["seed"].nunique()
    return ", ".join(f"{backbone}: {n} seed{'s' if n != 1 else ''}" for backbone, n in counts.items())


def data_summary(parts: dict[str, GroupedDataset]) -> pd.DataFrame:
    """Examples and label-1 (or majority-class) rate per group of each named dataset part."""
    rows = []
    for label, data in parts.items():
        for g, name in enumerate(data.group_names):
            members = data.s == g
            row = {"data": label, "group": name, "n": int(members.sum()),
                   "share": float(members.mean()) if len(data) else float("nan")}
            if data.num_classes == 2:
                row["positive_rate"] = float(data.y[members].mean()) if members.any() else float("nan")
            rows.append(row)
    return pd.DataFrame(rows).set_index(["data", "group"])


def example_texts(data: GroupedDataset, *, per_category: int = 2, seed: int = 0) -> pd.DataFrame:
    """A few stand-in texts per content category with their group, score and label (for the notebook)."""
    from ...data import TEXT_CATEGORIES

    rng = np.random.default_rng(seed)
    rows = []
    if "category" not in data.info:  # real data: a few texts per group
        for g, name in enumerate(data.group_names):
            for i in rng.permutation(np.flatnonzero(data.s == g))[:per_category]:
                rows.append({"group": name, "text": data.x[i], "label": data.class_names[data.y[i]]})
        return pd.DataFrame(rows)
    for k, category in enumerate(TEXT_CATEGORIES):
        index = np.flatnonzero(data.info["category"] == k)
        for i in rng.permutation(index)[:per_category]:
            rows.append({"category": category, "group": data.group_names[data.s[i]], "text": data.x[i],
                         "score": round(float(data.info["hate_speech_score"][i]), 2),
                         "label": data.class_names[data.y[i]]})
    return pd.DataFrame(rows)


#: Bounded columns (:func:`fairlib.metrics.column_bounds`: a metric of the vocabulary, a per-group rate in [0, 1]).
UNIT_INTERVAL_PREFIXES = fm.UNIT_INTERVAL_PREFIXES
column_bounds = fm.column_bounds
#: What an interval over seeds is, in words (for captions): bounded columns get the percentile bootstrap.
INTERVAL = "95% percentile-bootstrap interval of the mean"


def summarize_records(records: pd.DataFrame, *, by: Sequence[str], value_columns: Sequence[str]) -> pd.DataFrame:
    """Mean, std and 95% interval over seeds per ``by`` combination, NaN runs left out silently.

    :func:`fairlib.metrics.summarize_frame` with ``bounded=True``: a bounded column (:func:`column_bounds`) gets
    the percentile bootstrap of the mean, which stays inside the metric's bounds; any other column the Student-t
    interval. Columns ``<c>_mean, <c>_std, <c>_ci_low, <c>_ci_high, <c>_n``, rows in first-appearance order.
    """
    return fm.summarize_frame(records, by=list(by), value_columns=list(value_columns), bounded=True,
                              warn_undefined=False)


#: The between-groups gaps whose permutation null is shown beside them.
NULL_GAPS = ("accuracy_gap", "dpd", "eo_max", "ece_gap")


def gap_nulls(evaluation: "Evaluation", records: pd.DataFrame, *, gaps: Sequence[str] = NULL_GAPS,
              n_permutations: int = 199) -> pd.DataFrame:
    """Beside each reported between-groups gap, what exchangeable groups of the same sizes give.

    Per configuration (domain, backbone, task, method; LoRA at the rank of its records) and gap, the observed
    gap's mean over seeds (from ``records``; ``ece_gap`` recomputed from the predictions) and
    :func:`fairlib.metrics.gap_permutation_null` on the configuration's **first seed**'s test predictions
    (group labels permuted over the test examples; the group sizes are the same for every seed, and one seed
    bounds the notebook's cost): the null's mean and 95th percentile, that seed's observed gap and one-sided
    permutation p-value.

    Returns
    -------
    DataFrame
        ``domain, backbone, task, method, rank, metric, observed_mean, n_seeds, null_seed, null_observed,
        null_mean, null_q95, p_value, excess`` (``observed_mean - null_mean``), ``n_permutations``,
        ``group_sizes``.
    """
    rows = []
    keys = ["domain", "backbone", "task", "method", "rank", "alpha"]
    for key, part in records.groupby(keys, sort=False):
        domain, backbone, task, method, rank, alpha = key
        seeds = sorted(part["seed"])
        first = seeds[0]
        probs, y, s = evaluation.predictions[(domain, backbone, task, method, rank, alpha, first)]
        names = evaluation.experiment.data(domain, task)[1].group_names
        classes = list(range(probs.shape[1]))
        for gap in gaps:
            if gap in part.columns:
                observed = part[gap].to_numpy(dtype=float)
            else:
                observed = np.array([_gap_of(evaluation.predictions[(*key, seed)], gap, names, classes,
                                             evaluation.cfg.ece_bins) for seed in part["seed"]])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                null = fm.gap_permutation_null(y, probs.argmax(axis=1), sensitive_features=s, metric=gap,
                                               y_prob=probs, group_names=names, classes=classes,
                                               n_bins=evaluation.cfg.ece_bins, n_permutations=n_permutations,
                                               random_state=0)
            mean = float(np.nanmean(observed)) if np.isfinite(observed).any() else float("nan")
            rows.append({"domain": domain, "backbone": backbone, "task": task, "method": method, "rank": rank,
                         "alpha": alpha, "metric": gap, "observed_mean": mean,
                         "n_seeds": int(np.isfinite(observed).sum()), "null_seed": int(first),
                         "null_observed": null["observed"], "null_mean": null["null_mean"],
                         "null_q95": null["null_q95"], "p_value": null["p_value"], "excess": mean - null["null_mean"],
                         "n_permutations": null["n_permutations"], "group_sizes": null["group_sizes"]})
    return pd.DataFrame(rows)


def _gap_of(prediction: tuple, gap: str, names: Sequence[str], classes: list, n_bins: int) -> float:
    probs, y, s = prediction
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return float(fm.evaluate(y, probs.argmax(axis=1), y_prob=probs, sensitive_features=s, group_names=list(names),
                                 classes=classes, metrics=[gap], n_bins=n_bins, per_group=False)[gap])


def _main_rank(part: pd.DataFrame, a: str) -> pd.DataFrame:
    lora_rank = part.loc[part["method"] == a, "rank"]
    if len(lora_rank):  # the main rank only, not the ablation's other ranks
        part = part[(part["method"] != a) | (part["rank"] == lora_rank.iloc[0])]
    return part


def paired_differences(records: pd.DataFrame, *, metrics: Sequence[str] = FAIRNESS_METRICS,
                       a: str = "lora", b: str = "full") -> pd.DataFrame:
    """Per (domain, backbone, task) and metric: ``a - b`` paired by seed, summarised over seeds.

    ``unfairer`` is the difference oriented so that a positive value means ``a`` is *less fair* than ``b``
    (``a - b`` for gaps and ECE, ``b - a`` for metrics where higher is better, by
    :data:`fairlib.metrics.METRICS`); ``verdict`` reads its 95% CI. The per-seed differences are kept in
    ``differences`` (in seed order) for the claims engine.
    """
    rows = []
    main = records[records["method"].isin([a, b])]
    for (domain, backbone, task), part in main.groupby(["domain", "backbone", "task"], sort=False):
        part = _main_rank(part, a)
        for metric in metrics:
            side = {m: part[part["method"] == m].set_index("seed")[metric].astype(float) for m in (a, b)}
            common = side[a].index.intersection(side[b].index)
            diff = side[a].loc[common] - side[b].loc[common]
            sign = -1.0 if fm.METRICS[metric].higher_is_better else 1.0
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                stats = fm.summarize_over_seeds(diff.to_numpy())
            unfair = sign * stats["mean"]
            low, high = sorted((sign * stats["ci_low"], sign * stats["ci_high"]))
            if stats["n"] >= 2 and low > 0:
                verdict = f"{METHOD_LABELS[a]} significantly less fair"
            elif stats["n"] >= 2 and high < 0:
                verdict = f"{METHOD_LABELS[a]} significantly fairer"
            else:
                verdict = "no significant difference"
            rows.append({"domain": domain, "backbone": backbone, "task": task, "metric": metric,
                         f"{a}_mean": float(side[a].loc[common].mean()), f"{b}_mean": float(side[b].loc[common].mean()),
                         "difference": stats["mean"], "difference_ci_low": stats["ci_low"],
                         "difference_ci_high": stats["ci_high"], "unfairer": unfair, "unfairer_ci_low": low,
                         "unfairer_ci_high": high, "n": stats["n"], "verdict": verdict,
                         "differences": diff.to_numpy(dtype=float).tolist()})
    return pd.DataFrame(rows)


def ece_table(records: pd.DataFrame, *, group_names: dict[tuple[str, str], Sequence[str]]) -> pd.DataFrame:
    """ECE overall and per group, mean and 95% CI over seeds, per (domain, backbone, task, method); the
    worst-calibrated group (highest mean ECE) of each configuration is named in ``worst_group``."""
    rows = []
    for (domain, backbone, task, method), part in records.groupby(["domain", "backbone", "task", "method"],
                                                                  sort=False):
        names = list(group_names[(domain, task)])
        columns = ["ece", "worst_group_ece", *group_columns("ece", names)]
        summary = summarize_records(part.assign(key=0), by=["key"], value_columns=columns).iloc[0]
        means = {g: summary[f"ece[{g}]_mean"] for g in names}
        worst = max(means, key=lambda g: -np.inf if np.isnan(means[g]) else means[g])
        row = {"domain": domain, "backbone": backbone, "task": task, "method": method, "worst_group": worst}
        for column in columns:
            for stat in ("mean", "ci_low", "ci_high", "n"):
                row[f"{column}_{stat}"] = summary[f"{column}_{stat}"]
        rows.append(row)
    return pd.DataFrame(rows)
