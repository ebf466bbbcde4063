"""GeoDE (Ramaswamy et al., 2023): household objects photographed in six world regions, read from its
``index.csv``. Paper 2 (FairLoRA) uses it with the region as the group."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .. import paths
from ._errors import DataFormatError, MissingDataError, find_table
from ._images import check_images
from ._types import GroupedDataset

__all__ = ["load_geode", "GEODE_COLUMNS", "GEODE_SPLIT_FRACTIONS"]

#: Columns of ``index.csv`` the loader reads (the release has more, e.g. ``ip_country``; they are kept in info).
GEODE_COLUMNS = ("file_path", "object", "region")
#: GeoDE has no official split: train / validation / test fractions drawn within every (object, region) cell.
GEODE_SPLIT_FRACTIONS = (0.6, 0.2, 0.2)
_SPLITS = ("train", "val", "test")
_HOW_TO_GET = "https://geodiverse-data-collection.cs.princeton.edu/ (GeoDE: index.csv and the images/ folder)"
_FORMAT = ("CSV with a header and at least the columns file_path (image path relative to the folder, or to its "
           "images/ sub-folder), object (the class name), region (the group name); an optional split column "
           "(train/val/test) replaces the drawn split")


def _locate_geode(root: str | Path | None) -> Path:
    """Path of ``index.csv`` (in ``root`` or its ``geode/`` sub-folder); MissingDataError if absent."""
    root = Path(root) if root is not None else paths.DATA / "geode"
    layout = f"{root}/index.csv and the images at {root}/<file_path> (or {root}/images/<file_path>)"
    return find_table("geode", root, "index.csv", "geode", how_to_get=_HOW_TO_GET, layout=layout)


def _drawn_split(y: np.ndarray, s: np.ndarray, *, seed: int, fractions: tuple[float, float, float]) -> np.ndarray:
    """Split codes 0/1/2 drawn within every (y, s) cell: ``round(n * f_val)`` validation and ``round(n * f_test)``
    test examples per cell (at least one of each where the cell has three or more), the rest training."""
    rng = np.random.default_rng(seed)
    split = np.zeros(len(y), dtype=np.int64)
    cells = y.astype(np.int64) * (int(s.max()) + 1 if len(s) else 1) + s
    for cell in np.unique(cells):
        members = rng.permutation(np.flatnonzero(cells == cell))
        n = len(members)
        n_val = max(int(round(n * fractions[1])), 1 if n >= 3 else 0)
        n_test = max(int(round(n * fractions[2])), 1 if n >= 3 else 0)
        split[members[:n_val]] = 1
        split[members[n_val:n_val + n_test]] = 2
    return split


def load_geode(*, root: str | Path | None = None, split_seed: int = 0,
               split_fractions: tuple[float, float, float] = GEODE_SPLIT_FRACTIONS, verify: bool = False,
               verbose: bool = True) -> GroupedDataset:
    """Load GeoDE: y = object class, s = region (the group of paper 2).

    Parameters
    ----------
    root : path, optional
        Folder with ``index.csv`` and the images at its ``file_path`` values, relative to the folder or to its
        ``images/`` sub-folder. Default ``DATA/geode`` (a ``geode/`` sub-folder is used if ``index.csv`` is not
        directly there).
    split_seed : int
        Seed of the drawn split (GeoDE publishes none; a ``split`` column in ``index.csv`` is used instead).
    split_fractions : tuple of float
        Train, validation and test fractions of every (object, region) cell; they must sum to 1.
    verify : bool
        Decode every image and drop (and report) the unreadable ones.
    verbose : bool
        Print the summary line. Problems (missing or unreadable images) are printed regardless.

    Returns
    -------
    GroupedDataset
        ``x`` image paths in the order of ``index.csv``; ``class_names`` the objects and ``group_names`` the
        regions, each sorted; ``info["split"]`` train/val/test.

    Raises
    ------
    MissingDataError
        The folder or ``index.csv`` is missing.
    DataFormatError
        A required column is missing (named, with the expected columns), a value is empty, or a ``split``
        value is not train/val/test.
    ValueError
        ``split_fractions`` do not sum to 1 or are negative.
    """
    if len(split_fractions) != 3 or min(split_fractions) < 0 or abs(sum(split_fractions) - 1) > 1e-9:
        raise ValueError(f"split_fractions = {split_fractions!r} is invalid: three fractions >= 0 summing to 1")
    path = _locate_geode(root)
    root = path.parent
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    absent = [c for c in GEODE_COLUMNS if c not in table.columns]
    if absent:
        raise DataFormatError(path, f"missing column(s) {absent}; found {list(table.columns)}; expected columns "
                                    f"{list(GEODE_COLUMNS)}", expected=_FORMAT)
    for column in (*GEODE_COLUMNS, *(("split",) if "split" in table.columns else ())):
        empty = table[column].str.strip() == ""
        if empty.any():
            row = int(np.flatnonzero(empty.to_numpy())[0])
            raise DataFormatError(path, f"{column} is empty", line=row + 2, expected=_FORMAT)
    objects = tuple(sorted(table["object"].unique()))
    regions = tuple(sorted(table["region"].unique()))
    y = table["object"].map({o: i for i, o in enumerate(objects)}).to_numpy(dtype=np.int64)
    s = table["region"].map({r: i for i, r in enumerate(regions)}).to_numpy(dtype=np.int64)
    if "split" in table.columns:
        bad = ~table["split"].isin(_SPLITS)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataFormatError(path, f"split = {table['split'].iloc[row]!r} is not one of {_SPLITS}", line=row + 2,
                                  expected=_FORMAT)
        split = table["split"].map({p: i for i, p in enumerate(_SPLITS)}).to_numpy(dtype=np.int64)
        split_source = "index.csv"
    else:
        split = _drawn_split(y, s, seed=split_seed, fractions=tuple(split_fractions))
        split_source = f"drawn per (object, region) cell, fractions {tuple(split_fractions)}, seed {split_seed}"
    files = []
    for f in table["file_path"]:
        direct = root / f
        files.append(str(direct if direct.is_file() or not (root / "images" / f).is_file() else root / "images" / f))
    present = np.asarray([Path(f).is_file() for f in files], dtype=bool)
    keep, image_info, messages = check_images(files, present, verify=verify, name="geode")
    for message in messages:
        print(message)
    index = np.flatnonzero(keep)
    info = {"source": str(root), "split": np.asarray(_SPLITS)[split[index]], "split_source": split_source,
            **image_info}
    data = GroupedDataset(name="geode", x=[files[i] for i in index], y=y[index], s=s[index], group_names=regions,
                          class_names=objects, sensitive_name="region", info=info)
    if verbose:
        parts = {p: int((info["split"] == p).sum()) for p in _SPLITS}
        print(f"GeoDE from {root}: {len(data)} images of {len(objects)} objects {parts}, regions "
              f"{data.group_counts()}")
    return data
