"""Where each real dataset is expected (checked without reading it), and a full check that reads it all.

Both serve ``reproduce --dry-run``: :func:`locate_dataset` finds the first missing file, :func:`check_dataset`
then reads the tables as the loader does and decodes every image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ._celeba import _locate_celeba, load_celeba
from ._hatespeech import _locate_hate_speech, load_measuring_hate_speech
from ._images import verify_images
from ._lfwa import _locate_lfwa, load_lfwa
from ._utkface import _locate_utkface, load_utkface
from ._waterbirds import _locate_waterbirds, load_waterbirds
from ._geode import _locate_geode, load_geode
from ._aircraft import _locate_aircraft, load_aircraft

__all__ = ["DATASET_LOCATORS", "locate_dataset", "check_dataset"]

#: The presence checks each loader runs before it reads anything, by dataset name.
DATASET_LOCATORS: dict[str, Callable[[str | Path | None], object]] = {
    "celeba": _locate_celeba,
    "utkface": _locate_utkface,
    "lfwa": _locate_lfwa,
    "measuring-hate-speech": _locate_hate_speech,
    "waterbirds": _locate_waterbirds,
    "geode": _locate_geode,
    "aircraft": _locate_aircraft,
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


#: Readers of the full check: the loader with its default task, reading every table line (images not decoded).
_READERS: dict[str, Callable[[str | Path | None], object]] = {
    "celeba": lambda root: load_celeba(root=root, verbose=False),
    "utkface": lambda root: load_utkface(root=root, verbose=False),
    "lfwa": lambda root: load_lfwa(root=root, verbose=False),
    # any subgroup size: the check is about the file, not about a task's minimum group size
    "measuring-hate-speech": lambda root: load_measuring_hate_speech(root=root, min_group_size=1, verbose=False),
    "waterbirds": lambda root: load_waterbirds(root=root, verbose=False),
    "geode": lambda root: load_geode(root=root, verbose=False),
    "aircraft": lambda root: load_aircraft(root=root, verbose=False),
}
_IMAGE_DATASETS = ("celeba", "utkface", "lfwa", "waterbirds", "geode", "aircraft")


def check_dataset(name: str, root: str | Path | None = None, *, decode: bool = True, listed: int = 20) -> list[str]:
    """Read dataset ``name`` as its loader does and decode every image; return the problems found.

    Parameters
    ----------
    name : str
        One of :data:`DATASET_LOCATORS`.
    root : path, optional
        The dataset's folder (default: ``DATA/<folder>`` as the loader uses).
    decode : bool
        Decode every referenced image (in parallel, with a progress bar; see :func:`fairlib.data.verify_images`).
    listed : int
        At most this many file names per problem in the messages (the count is always exact).

    Returns
    -------
    list of str
        Empty when the dataset is complete and readable; otherwise one sentence per problem: referenced images
        that are absent, images that cannot be decoded (each named, with the reason), with their counts.

    Raises
    ------
    MissingDataError
        A file or folder the loader needs is missing (named).
    DataFormatError, ValueError
        A table does not follow the format, or the default task cannot be built (as the loader raises them).
    """
    locate_dataset(name, root)
    data = _READERS[name](root)
    problems = []
    missing = data.info.get("missing_images", 0)
    if missing:
        examples = data.info.get("missing_image_examples", [])
        problems.append(f"{missing} referenced image(s) absent, e.g. {', '.join(examples)}")
    if decode and name in _IMAGE_DATASETS:
        _, bad = verify_images(data.x, desc=f"{name}: decoding {len(data.x)} images")
        if bad:
            shown = "; ".join(f"{p} ({why})" for p, why in bad[:listed])
            more = f"; and {len(bad) - listed} more" if len(bad) > listed else ""
            problems.append(f"{len(bad)} of {len(data.x)} image(s) cannot be decoded: {shown}{more}")
    return problems
