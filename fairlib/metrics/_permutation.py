"""What a max - min gap looks like when the groups do not differ: a permutation null of exchangeable groups."""

from __future__ import annotations

import hashlib
import warnings
from collections import OrderedDict
from typing import Any, Sequence

import numpy as np

from . import _inputs
from ._counting import COUNTED, counted_metric
from ._vocabulary import GAP_METRICS

_CHUNK = 64


#: The permutation blocks drawn most recently, by (group codes, n_permutations, random_state). A notebook asks for
#: the nulls of several gaps of several models on one test split with one seed: the same permutations each time.
_RECENT: "OrderedDict[tuple, np.ndarray]" = OrderedDict()
_RECENT_SIZE = 8


def _permutations(codes: np.ndarray, n_permutations: int, random_state: int) -> np.ndarray:
    """Rows ``k = 0 .. n_permutations - 1``: the ``k``-th ``rng.permutation(codes)`` of
    ``rng = numpy.random.default_rng(random_state)``, as a read-only array (drawn once, then reused)."""
    codes = np.ascontiguousarray(codes)
    seeded = isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool)
    key = (hashlib.sha1(codes.tobytes()).hexdigest(), str(codes.dtype), len(codes), int(n_permutations),
           int(random_state) if seeded else None)
    if seeded and key in _RECENT:
        _RECENT.move_to_end(key)
        return _RECENT[key]
    rng = np.random.default_rng(random_state)
    block = np.empty((n_permutations, len(codes)), dtype=codes.dtype)
    for k in range(n_permutations):
        block[k] = rng.permutation(codes)
    block.setflags(write=False)
    if seeded:  # a draw from an unseeded or shared generator is never reused
        _RECENT[key] = block
        while len(_RECENT) > _RECENT_SIZE:
            _RECENT.popitem(last=False)
    return block


def gap_permutation_null(y_true: Any, y_pred: Any, *, sensitive_features: Any, metric: str = "dpd",
                         y_prob: Any = None, group_names: Sequence | None = None, pos_label: Any = 1,
                         classes: Sequence | None = None, n_bins: int = 15, n_permutations: int = 999,
                         random_state: int = 0) -> dict:
    """The observed max - min gap beside its distribution under exchangeable groups of the same sizes.

    A max - min over several groups is biased upward even when the groups do not differ, the more so the
    smaller the groups: with four groups of 25 examples and one common selection rate of 0.5, the DPD
    averages about 0.2. Permuting the group labels over the examples (each group keeps its size; labels,
    predictions and probabilities stay together) gives what such noise alone produces, so a reader can tell
    a disparity from noise.

    Parameters
    ----------
    y_true, y_pred, sensitive_features, y_prob, group_names, pos_label, classes, n_bins
        As in :func:`evaluate`.
    metric : str, default "dpd"
        One of :data:`GAP_METRICS` (``ece_gap`` needs ``y_prob``).
    n_permutations : int, default 999
        Number of permutations. Permutation ``k`` is the ``k``-th ``rng.permutation(codes)`` of
        ``rng = numpy.random.default_rng(random_state)``, ``codes`` the group codes ``0 .. G-1``.
    random_state : int, default 0

    Returns
    -------
    dict
        ``metric``; ``observed`` (the gap on the data); ``null`` (numpy array, the gap of each permutation);
        ``null_mean``, ``null_q95`` (95th percentile); ``excess`` = observed - null_mean;
        ``p_value`` = (1 + #{null >= observed}) / (1 + #defined permutations), the one-sided permutation
        p-value; ``n_permutations``; ``group_sizes`` (group name -> members). Permutations where the gap is
        undefined are left out of the summaries, with a warning.

    Raises
    ------
    ValueError
        An unknown ``metric`` (the valid choices are named), ``n_permutations < 1``, invalid inputs.
    """
    from ._evaluate import evaluate

    if metric not in GAP_METRICS:
        raise ValueError(f"metric must be one of the gaps {GAP_METRICS}, got {metric!r}")
    if not (isinstance(n_permutations, (int, np.integer)) and n_permutations >= 1):
        raise ValueError(f"n_permutations must be a positive integer, got {n_permutations!r}")
    y_true, y_pred = _inputs.as_labels(y_true, y_pred)
    codes, names = _inputs.resolve_groups(sensitive_features, group_names, len(y_true))
    with _inputs.each_warning_once():
        positives, multiclass = _inputs.classes_to_compare(y_true, y_pred, pos_label, classes)
        declared = classes if (classes is not None or not multiclass) else positives
        kwargs = dict(y_prob=y_prob, group_names=names, metrics=[metric], pos_label=pos_label, classes=declared,
                      n_bins=n_bins, per_group=False)
        observed = evaluate(y_true, y_pred, sensitive_features=codes, **kwargs)[metric]
    permutations = _permutations(codes, n_permutations, random_state)
    null = np.empty(n_permutations)
    if metric in COUNTED and not multiclass:
        is_pos, is_sel = y_true == pos_label, y_pred == pos_label
        for start in range(0, n_permutations, _CHUNK):
            block = permutations[start:start + _CHUNK]
            null[start:start + len(block)] = counted_metric(is_pos, is_sel, block, len(names), metric)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # undefined gaps are counted below
            for k, perm in enumerate(permutations):
                null[k] = evaluate(y_true, y_pred, sensitive_features=perm, **kwargs)[metric]
    defined = null[np.isfinite(null)]
    if len(defined) < n_permutations:
        warnings.warn(f"gap_permutation_null: {metric} is undefined in {n_permutations - len(defined)} of "
                      f"{n_permutations} permutations; they are left out", UserWarning, stacklevel=2)
    nan = float("nan")
    if len(defined) == 0 or np.isnan(observed):
        p_value = nan
    else:
        # A tolerance keeps a permutation that reproduces the observed gap exactly from being lost to rounding.
        p_value = float((1 + np.sum(defined >= observed - 1e-12)) / (1 + len(defined)))
    null_mean = float(defined.mean()) if len(defined) else nan
    return {"metric": metric, "observed": float(observed), "null": null, "null_mean": null_mean,
            "null_q95": float(np.percentile(defined, 95)) if len(defined) else nan,
            "excess": float(observed) - null_mean, "p_value": p_value, "n_permutations": int(n_permutations),
            "group_sizes": dict(zip(names, np.bincount(codes, minlength=len(names)).tolist()))}
