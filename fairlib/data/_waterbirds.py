"""Waterbirds (Sagawa et al., 2020): CUB birds pasted on Places backgrounds, read from its ``metadata.csv``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .. import paths
from ._errors import DataFormatError, MissingDataError, find_table
from ._images import check_images
from ._types import GroupedDataset

__all__ = ["load_waterbirds", "WATERBIRDS_COLUMNS"]

WATERBIRDS_COLUMNS = ("img_filename", "y", "place", "split")
_SPLITS = ("train", "val", "test")
_RELEASE = "waterbird_complete95_forest2water2"
_HOW_TO_GET = (f"https://nlp.stanford.edu/data/dro/{_RELEASE}.tar.gz (from https://github.com/kohpangwei/group_DRO)")
_FORMAT = ("CSV with a header and at least the columns img_filename (path relative to the folder), y (0 landbird, "
           "1 waterbird), place (0 land, 1 water), split (0 train, 1 val, 2 test)")


def _locate_waterbirds(root: str | Path | None) -> Path:
    """Path of ``metadata.csv`` (in ``root`` or its release sub-folder); MissingDataError if absent."""
    root = Path(root) if root is not None else paths.DATA / "waterbirds"
    layout = f"{root}/metadata.csv and {root}/<img_filename> for every row (the contents of {_RELEASE}/)"
    return find_table("waterbirds", root, "metadata.csv", _RELEASE, how_to_get=_HOW_TO_GET, layout=layout)


def load_waterbirds(*, root: str | Path | None = None, verify: bool = False, verbose: bool = True) -> GroupedDataset:
    """Load Waterbirds: y = bird type (landbird 0 / waterbird 1), s = background (land 0 / water 1).

    Parameters
    ----------
    root : path, optional
        Folder with ``metadata.csv`` and the images at the relative paths of its ``img_filename`` column
        (``001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg``, ...): the extracted release
        folder's contents. Default ``DATA/waterbirds``; a ``waterbird_complete95_forest2water2/`` sub-folder
        (the archive extracted in place) is used if ``metadata.csv`` is not directly in ``root``.
    verify : bool
        Decode every image and drop (and report) the unreadable ones.
    verbose : bool
        Print the summary line. Problems (missing or unreadable images) are printed regardless.

    Returns
    -------
    GroupedDataset
        ``x`` image paths in the order of ``metadata.csv``; ``info["split"]`` from its ``split`` column.

    Raises
    ------
    MissingDataError
        The folder or ``metadata.csv`` is missing.
    DataFormatError
        A required column is missing (named, with the expected columns), or a code is out of range.
    """
    path = _locate_waterbirds(root)
    root = path.parent
    table = pd.read_csv(path)
    absent = [c for c in WATERBIRDS_COLUMNS if c not in table.columns]
    if absent:
        raise DataFormatError(path, f"missing column(s) {absent}; found {list(table.columns)}; expected columns "
                                    f"{list(WATERBIRDS_COLUMNS)}", expected=_FORMAT)
    codes = {}
    for column, allowed in (("y", (0, 1)), ("place", (0, 1)), ("split", (0, 1, 2))):
        values = pd.to_numeric(table[column], errors="coerce")
        bad = ~values.isin(allowed)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            # +2: one header line, and lines count from 1
            raise DataFormatError(path, f"{column} = {table[column].iloc[row]!r} is not one of {allowed}",
                                  line=row + 2, expected=_FORMAT)
        codes[column] = values.to_numpy(dtype=np.int64)
    files = [str(root / f) for f in table["img_filename"].astype(str)]
    present = np.asarray([Path(f).is_file() for f in files], dtype=bool)
    keep, image_info, messages = check_images(files, present, verify=verify, name="waterbirds")
    for message in messages:
        print(message)
    index = np.flatnonzero(keep)
    info = {"source": str(root), "split": np.asarray(_SPLITS)[codes["split"][index]], **image_info}
    data = GroupedDataset(name="waterbirds", x=[files[i] for i in index], y=codes["y"][index],
                          s=codes["place"][index], group_names=("land", "water"),
                          class_names=("landbird", "waterbird"), sensitive_name="place", info=info)
    if verbose:
        parts = {p: int((info["split"] == p).sum()) for p in _SPLITS}
        print(f"Waterbirds from {root}: {len(data)} images {parts}, groups {data.group_counts()}")
    return data
