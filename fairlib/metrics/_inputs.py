"""Shared input checks: label arrays, sensitive groups, and the "NaN with a warning" convention."""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd

METHODS = ("between_groups", "one_vs_rest")


def as_labels(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Both label arrays as 1-D numpy arrays of equal, non-zero length."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim != 1 or y_pred.ndim != 1 or len(y_true) != len(y_pred):
        raise ValueError(f"y_true and y_pred must be 1-D and of equal length, got shapes {y_true.shape} "
                         f"and {y_pred.shape}")
    if len(y_true) == 0:
        raise ValueError("no examples to evaluate (y_true is empty)")
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


def classes_to_compare(y_true: np.ndarray, y_pred: np.ndarray, pos_label: Any) -> tuple[list, bool]:
    """The positive class(es) of the one-vs-rest comparisons, and whether the labels are multi-class.

    Multi-class means more than two distinct labels in ``y_true`` and ``y_pred`` together; then every class
    is compared one-vs-rest. Otherwise only ``pos_label`` is.
    """
    classes = np.union1d(y_true, y_pred)
    if len(classes) > 2:
        return classes.tolist(), True
    if len(classes) == 2 and pos_label not in classes.tolist():
        raise ValueError(f"pos_label={pos_label!r} is not one of the labels {classes.tolist()}")
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
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
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
