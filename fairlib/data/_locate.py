"""Where each real dataset is expected, checked without reading it (used by ``reproduce --dry-run``)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ._celeba import _locate_celeba
from ._hatespeech import _locate_hate_speech
from ._lfwa import _locate_lfwa
from ._utkface import _locate_utkface
from ._waterbirds import _locate_waterbirds

__all__ = ["DATASET_LOCATORS", "locate_dataset"]

#: The presence checks each loader runs before it reads anything, by dataset name.
DATASET_LOCATORS: dict[str, Callable[[str | Path | None], object]] = {
    "celeba": _locate_celeba,
    "utkface": _locate_utkface,
    "lfwa": _locate_lfwa,
    "measuring-hate-speech": _locate_hate_speech,
    "waterbirds": _locate_waterbirds,
}


def locate_dataset(name: str, root: str | Path | None = None) -> None:
    """Check that dataset ``name`` has every file its loader needs, without reading them.

    Parameters
    ----------
    name : str
        One of :data:`DATASET_LOCATORS`.
    root : path, optional
        The dataset's folder (default: ``DATA/<folder>`` as the loader uses).

    Raises
    ------
    MissingDataError
        Naming the first missing file or folder, where to get the data and where to put it.
    ValueError
        For an unknown dataset name (the message lists the known ones).
    """
    if name not in DATASET_LOCATORS:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {sorted(DATASET_LOCATORS)}")
    DATASET_LOCATORS[name](root)
