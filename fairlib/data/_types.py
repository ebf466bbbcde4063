"""The one dataset type used everywhere: inputs, task label, sensitive attribute, named groups."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np

__all__ = ["GroupedDataset", "Splits", "make_splits", "standardize"]


def _take(x: Any, index: np.ndarray) -> Any:
    if isinstance(x, np.ndarray):
        return x[index]
    if isinstance(x, dict):
        return {k: _take(v, index) for k, v in x.items()}
    return [x[i] for i in index]


@dataclass(frozen=True)
class GroupedDataset:
    """Examples with a task label ``y`` and a sensitive attribute ``s``.

    Parameters
    ----------
    name : str
        Short name shown in titles and results (say ``"stand-in"`` in it when the data stands in for a paper's).
    x : numpy.ndarray or sequence
        Inputs, one per example: a feature matrix, an image array ``(n, C, H, W)``, a list of texts or of
        image paths (loaded lazily at full scale).
    y : numpy.ndarray of int
        Task label, ``0 .. len(class_names) - 1``.
    s : numpy.ndarray of int
        Sensitive-group code, ``0 .. len(group_names) - 1``.
    group_names, class_names : tuple of str
        Human-readable names of the codes in ``s`` and ``y``.
    sensitive_name : str
        Which attribute ``s`` encodes (``"sex"``, ``"race"``, ...).
    info : dict
        Provenance: source files, rows dropped and why, how a stand-in was built.
    """

    name: str
    x: Any
    y: np.ndarray
    s: np.ndarray
    group_names: tuple[str, ...]
    class_names: tuple[str, ...]
    sensitive_name: str
    feature_names: tuple[str, ...] | None = None
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.y)
        if len(self.x) != n or len(self.s) != n:
            raise ValueError(f"{self.name}: x, y and s must have one entry per example "
                             f"(got {len(self.x)}, {n}, {len(self.s)})")
        object.__setattr__(self, "y", np.asarray(self.y, dtype=np.int64))
        object.__setattr__(self, "s", np.asarray(self.s, dtype=np.int64))
        for arr, names, what in ((self.y, self.class_names, "y"), (self.s, self.group_names, "s")):
            if n and (arr.min() < 0 or arr.max() >= len(names)):
                raise ValueError(f"{self.name}: codes in {what} must lie in 0..{len(names) - 1} "
                                 f"({names}); found {arr.min()}..{arr.max()}")

    def __len__(self) -> int:
        return len(self.y)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_groups(self) -> int:
        return len(self.group_names)

    def subset(self, index: Sequence[int] | np.ndarray, *, name: str | None = None) -> "GroupedDataset":
        """Return the examples at ``index`` (same groups, classes and provenance)."""
        index = np.asarray(index, dtype=np.int64)
        # Per-example provenance arrays (source file, source index, ...) follow their examples.
        info = {k: v[index] if isinstance(v, np.ndarray) and len(v) == len(self) else v for k, v in self.info.items()}
        return replace(self, name=name or self.name, x=_take(self.x, index), y=self.y[index], s=self.s[index],
                       info=info)

    def group_counts(self) -> dict[str, int]:
        """Number of examples per sensitive group, by name (zero counts included)."""
        counts = np.bincount(self.s, minlength=self.num_groups)
        return dict(zip(self.group_names, counts.tolist()))

    def summary(self) -> dict:
        """Sizes, label balance and group sizes, for printing and for the results JSON."""
        return {
            "name": self.name,
            "n": len(self),
            "sensitive": self.sensitive_name,
            "groups": self.group_counts(),
            "classes": dict(zip(self.class_names, np.bincount(self.y, minlength=self.num_classes).tolist())),
            **{k: v for k, v in self.info.items() if isinstance(v, (int, float, str))},
        }


@dataclass(frozen=True)
class Splits:
    """Train / validation / test parts of one dataset."""

    train: GroupedDataset
    val: GroupedDataset
    test: GroupedDataset

    def summary(self) -> dict:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def make_splits(data: GroupedDataset, *, fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
                seed: int, stratify: bool = True) -> Splits:
    """Split ``data`` into train/val/test from a seed, stratified by (label, group) by default.

    Parameters
    ----------
    data : GroupedDataset
    fractions : tuple of three floats
        Fractions of train, validation and test; they must sum to 1.
    seed : int
        The same seed gives the same split on every machine.
    stratify : bool
        Keep each (label, group) cell's share equal across the three parts.

    Returns
    -------
    Splits

    Raises
    ------
    ValueError
        Bad fractions, or a part with a positive fraction that would be empty (the message names it).
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    rng = np.random.default_rng(seed)
    n = len(data)
    parts: list[list[np.ndarray]] = [[], [], []]
    cells = data.y * data.num_groups + data.s if stratify else np.zeros(n, dtype=np.int64)
    for cell in np.unique(cells):
        idx = rng.permutation(np.flatnonzero(cells == cell))
        cut1 = int(round(fractions[0] * len(idx)))
        cut2 = cut1 + int(round(fractions[1] * len(idx)))
        for part, chunk in zip(parts, (idx[:cut1], idx[cut1:cut2], idx[cut2:])):
            part.append(chunk)
    train, val, test = (np.sort(np.concatenate(p)) if p else np.zeros(0, np.int64) for p in parts)
    for name, index, fraction in zip(("train", "val", "test"), (train, val, test), fractions):
        if fraction > 0 and len(index) == 0:
            raise ValueError(f"{data.name}: the {name} split is empty: fraction {fraction} of {n} examples "
                             f"({'per (label, group) cell, ' if stratify else ''}rounded) gives it none; "
                             f"use more data or a larger fraction, or 0 for a split that is meant to be empty")
    return Splits(train=data.subset(train), val=data.subset(val), test=data.subset(test))


def standardize(splits: Splits, *, columns: slice | np.ndarray | None = None) -> Splits:
    """Scale feature columns to zero mean and unit variance with statistics of the training part only.

    Parameters
    ----------
    splits : Splits
        Splits whose ``x`` are float matrices.
    columns : slice or index array, optional
        Which columns to scale (default: all columns with more than two distinct values, i.e. not one-hot).

    Returns
    -------
    Splits
    """
    train_x = np.asarray(splits.train.x, dtype=np.float64)
    if columns is None:
        columns = np.asarray([len(np.unique(train_x[:, j])) > 2 for j in range(train_x.shape[1])])
    mean = train_x[:, columns].mean(axis=0)
    std = train_x[:, columns].std(axis=0)
    std[std == 0] = 1.0

    def scale(part: GroupedDataset) -> GroupedDataset:
        x = np.array(part.x, dtype=np.float32, copy=True)
        x[:, columns] = ((x[:, columns] - mean) / std).astype(np.float32)
        return replace(part, x=x)

    return Splits(train=scale(splits.train), val=scale(splits.val), test=scale(splits.test))
