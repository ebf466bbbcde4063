"""Shared input checks: label arrays, sensitive groups, and the "NaN with a warning" convention."""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd

METHODS = ("between_groups", "one_vs_rest")


def describe_values(values: np.ndarray, limit: int = 5) -> str:
    """``"2 (3x), 0.7 (1x)"``: the distinct values with their counts, the most frequent first."""
    distinct, counts = np.unique(np.asarray(values), return_counts=True)
    order = np.argsort(-counts, kind="stable")
    shown = [f"{v!r} ({c}x)" for v, c in zip(distinct[order[:limit]].tolist(), counts[order[:limit]])]
    if len(order) > limit:
        shown.append(f"and {len(order) - limit} more distinct values")
    return ", ".join(shown)


def check_missing(name: str, values: Any) -> None:
    """Error if ``values`` holds NaN or None: a missing label or group is never a class or a group of its own."""
    missing = np.asarray(pd.isna(values), dtype=bool)
    if missing.any():
        where = np.flatnonzero(missing)
        raise ValueError(f"{name} has {len(where)} missing value(s) (NaN or None), first at index {where[0]}; "
                         f"drop those examples or fill them before evaluating")


def as_labels(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Both label arrays as 1-D numpy arrays of equal, non-zero length, without missing values."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim != 1 or y_pred.ndim != 1 or len(y_true) != len(y_pred):
        raise ValueError(f"y_true and y_pred must be 1-D and of equal length, got shapes {y_true.shape} "
                         f"and {y_pred.shape}")
    if len(y_true) == 0:
        raise ValueError("no examples to evaluate (y_true is empty)")
    check_missing("y_true", y_true)
    check_missing("y_pred", y_pred)
    return y_true, y_pred


def resolve_groups(sensitive_features: Any, group_names: Sequence | None, n: int) -> tuple[np.ndarray, tuple]:
    """Group code ``0 .. G-1`` of every example and the ``G`` group names.

    Integer ``sensitive_features`` with ``group_names`` are codes into ``group_names`` (as in
    ``GroupedDataset.s``); other values must be members of ``group_names``. Listing a group that has no
    example is how an empty group in a split stays visible (as NaN) instead of vanishing from the table.
    """
    s = np.asarray(sensitive_features)
    if s.ndim != 1 or len(s) != n:
        raise ValueError(f"sensitive_features must be 1-D with one entry per example ({n}), got shape {s.shape}")
    check_missing("sensitive_features", s)
    if group_names is None:
        names, codes = np.unique(s, return_inverse=True)
        return codes.astype(np.int64), tuple(names.tolist())
    names = tuple(group_names)
    if len(set(names)) != len(names):
        raise ValueError(f"group_names must be distinct, got {names}")
    if np.issubdtype(s.dtype, np.integer):
        if n and (s.min() < 0 or s.max() >= len(names)):
            raise ValueError(f"integer sensitive_features are codes into group_names and must lie in "
                             f"0..{len(names) - 1}; found {s.min()}..{s.max()}")
        return s.astype(np.int64), names
    lookup = {name: code for code, name in enumerate(names)}
    unknown = sorted({str(v) for v in s.tolist() if v not in lookup})
    if unknown:
        raise ValueError(f"sensitive_features values {unknown} are not in group_names {names}")
    return np.array([lookup[v] for v in s.tolist()], dtype=np.int64), names


def _outside(name: str, values: np.ndarray, allowed: Sequence) -> str | None:
    """Description of the entries of ``values`` that are not in ``allowed`` (None when there is none)."""
    allowed_set = set(allowed)
    distinct = np.unique(values)
    bad = [i for i, v in enumerate(distinct.tolist()) if v not in allowed_set]
    if not bad:
        return None
    stray = values[np.isin(values, distinct[bad])]
    return f"{name} holds {len(stray)} value(s) outside the classes {tuple(allowed)}: {describe_values(stray)}"


def _class_indices(values: np.ndarray) -> bool:
    """Whether every value is an integer >= 0 (a class index), whatever the dtype."""
    if not (np.issubdtype(values.dtype, np.number) or np.issubdtype(values.dtype, np.bool_)):
        return False
    return bool(np.all(values >= 0) and np.all(np.mod(values, 1) == 0))


def is_zero_one(value: Any) -> bool:
    return isinstance(value, (bool, int, np.integer, np.bool_)) and value in (0, 1)


def classes_to_compare(y_true: np.ndarray, y_pred: np.ndarray, pos_label: Any,
                       classes: Sequence | None = None) -> tuple[list, bool]:
    """The positive class(es) of the one-vs-rest comparisons, and whether the labels are multi-class.

    ``classes`` declares the label set. Two classes: binary, ``pos_label`` must be one of them. More than
    two: multi-class, every class occurring in ``y_true`` or ``y_pred`` is compared one-vs-rest. Any label
    outside the declared classes is an error naming the value and its count.

    ``classes=None`` declares binary labels: ``{0, 1}`` when ``pos_label`` is 0 or 1, else ``pos_label`` and
    one other label. A stray label (a 2 among 0/1, probabilities) is an error, never a switch to
    multi-class. Deprecated exception, kept for the runners written before ``classes=`` existed: when
    ``y_true`` itself holds more than two distinct class indices (integers >= 0), the labels of ``y_true``
    and ``y_pred`` are taken as the classes, with a ``FutureWarning``.
    """
    if classes is not None:
        declared = list(classes)
        if len(declared) < 2 or len(set(declared)) != len(declared):
            raise ValueError(f"classes must list at least two distinct labels, got {tuple(declared)}")
        if len(declared) == 2 and pos_label not in declared:
            raise ValueError(f"pos_label={pos_label!r} is not one of the classes {tuple(declared)}")
        for name, values in (("y_true", y_true), ("y_pred", y_pred)):
            problem = _outside(name, values, declared)
            if problem:
                raise ValueError(problem)
        if len(declared) == 2:
            return [pos_label], False
        return np.union1d(y_true, y_pred).tolist(), True
    observed = np.unique(y_true)
    if len(observed) > 2 and _class_indices(observed):
        warnings.warn(f"y_true holds {len(observed)} distinct labels ({describe_values(y_true)}) and no "
                      f"classes= were declared; they are taken as multi-class. Pass classes=<all labels> to "
                      f"declare multi-class labels (this inference will become an error)", FutureWarning,
                      stacklevel=user_stacklevel())
        return np.union1d(y_true, y_pred).tolist(), True
    if is_zero_one(pos_label):
        allowed: list = [0, 1]
    else:
        allowed = sorted({pos_label, *observed.tolist()}, key=str)
        if len(allowed) > 2:
            raise ValueError(f"pos_label={pos_label!r} is not one of the labels of y_true "
                             f"({describe_values(y_true)}); pass the positive label as pos_label=")
    for name, values in (("y_true", y_true), ("y_pred", y_pred)):
        problem = _outside(name, values, allowed)
        if problem:
            raise ValueError(f"{problem}. Binary metrics with pos_label={pos_label!r} take labels in "
                             f"{tuple(allowed)}: pass hard predictions (not probabilities), pos_label= for "
                             f"another positive class, or classes=<all labels> for multi-class labels")
    return [pos_label], False


def check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def user_stacklevel() -> int:
    """``stacklevel`` that attributes a warning to the first caller outside this package."""
    # Call depth differs between metrics (and fairness_summary nests them), so a fixed level would
    # point into this package half of the time.
    frame, level = sys._getframe(2), 2
    while frame is not None and (os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR)
                                 or frame.f_code.co_filename == contextlib.__file__):
        frame, level = frame.f_back, level + 1
    return level


def warn_empty(group: Any) -> None:
    # One wording for every metric, so that a summary can report an empty group once.
    warnings.warn(f"group {group!r} has no members in the evaluated data; its metrics are NaN", UserWarning,
                  stacklevel=user_stacklevel())


def warn_undefined(group: Any, what: str, why: str) -> None:
    warnings.warn(f"group {group!r}: {what} is undefined ({why}); it is NaN", UserWarning,
                  stacklevel=user_stacklevel())


def spread(values: pd.Series, what: str) -> float:
    """max - min over the groups where ``values`` is defined; NaN with a warning below two such groups."""
    defined = values.dropna()
    if len(defined) < 2:
        warnings.warn(f"{what}: fewer than two groups have a defined value (defined: {list(defined.index)}); "
                      f"the gap is NaN", UserWarning, stacklevel=user_stacklevel())
        return float("nan")
    return float(defined.max() - defined.min())


def worst(values: pd.Series, what: str, *, lowest: bool) -> float:
    """Minimum (or maximum) over the groups where ``values`` is defined; NaN with a warning if none is."""
    defined = values.dropna()
    if defined.empty:
        warnings.warn(f"{what}: no group has a defined value; the result is NaN", UserWarning,
                      stacklevel=user_stacklevel())
        return float("nan")
    return float(defined.min() if lowest else defined.max())


@contextlib.contextmanager
def each_warning_once() -> Iterator[None]:
    """Re-issue the warnings raised inside once each: metrics that share an undefined case warn once."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    seen = set()
    for w in caught:
        key = (str(w.message), w.category)
        if key not in seen:
            seen.add(key)
            warnings.warn(w.message, w.category, stacklevel=user_stacklevel())
