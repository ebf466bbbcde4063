"""UTK-Face (aligned and cropped faces), labels parsed from the file names."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .. import paths
from ._errors import DataFormatError, MissingDataError
from ._images import check_images, list_images
from ._types import GroupedDataset

__all__ = ["load_utkface", "UTK_TARGETS", "UTK_SENSITIVE", "UTK_RACES", "UTK_GENDERS", "UTK_AGE_EDGES",
           "UTK_AGE_CLASSES", "parse_utkface_name"]

UTK_GENDERS = ("male", "female")
UTK_RACES = ("White", "Black", "Asian", "Indian", "Others")
#: Paper 1 bins age into 9 classes with these edges (left-closed: 0-9, 10-19, ..., 70-79, 80 and over).
UTK_AGE_EDGES = (0, 10, 20, 30, 40, 50, 60, 70, 80, 200)
UTK_AGE_CLASSES = tuple(f"{lo}-{hi - 1}" for lo, hi in zip(UTK_AGE_EDGES[:-2], UTK_AGE_EDGES[1:-1])) + ("80+",)
_SUFFIX = ".jpg.chip.jpg"
# age_gender_race_datetime.jpg.chip.jpg; the date-time field is 17 digits in the release but only checked as digits.
_NAME = re.compile(r"^(\d{1,3})_([01])_([0-4])_(\d+)\.jpg\.chip\.jpg$")
_HOW_TO_GET = ("https://susanqq.github.io/UTKFace/ -> 'Aligned&Cropped Faces' (UTKFace.tar.gz, 23,708 images)")
_EXPECTED = ("<age>_<gender>_<race>_<date&time>.jpg.chip.jpg with age 0..199, gender 0 (male) / 1 (female), "
             "race 0 White / 1 Black / 2 Asian / 3 Indian / 4 Others")
#: Labels parsed from a file name that can be the target, and those that can define the groups.
UTK_TARGETS = ("gender", "age", "race")
UTK_SENSITIVE = ("race", "gender")
_TARGETS, _SENSITIVE = UTK_TARGETS, UTK_SENSITIVE


def parse_utkface_name(name: str) -> tuple[int, int, int] | None:
    """``(age, gender, race)`` from an aligned-cropped UTK-Face file name, or None if the name is malformed."""
    match = _NAME.match(name)
    if match is None:
        return None
    age, gender, race = (int(g) for g in match.groups()[:3])
    return (age, gender, race) if age < UTK_AGE_EDGES[-1] else None


def _locate_utkface(root: str | Path | None) -> Path:
    """The folder holding the images; MissingDataError if it does not exist."""
    root = Path(root) if root is not None else paths.DATA / "utkface"
    if not root.is_dir():
        raise MissingDataError("utkface", root, how_to_get=_HOW_TO_GET,
                               layout=f"{root}/UTKFace/<age>_<gender>_<race>_<date&time>.jpg.chip.jpg "
                                      "(extract UTKFace.tar.gz into this folder)")
    # The archive extracts to UTKFace/; a folder holding the images directly is accepted as well.
    return root / "UTKFace" if (root / "UTKFace").is_dir() else root


def load_utkface(*, root: str | Path | None = None, target: str = "gender", sensitive: str = "race",
                 verify: bool = False, verbose: bool = True) -> GroupedDataset:
    """Load UTK-Face (aligned and cropped), with labels parsed from the file names.

    Parameters
    ----------
    root : path, optional
        Folder holding ``UTKFace/<age>_<gender>_<race>_<date&time>.jpg.chip.jpg`` (or the images directly).
        Default ``DATA/utkface``.
    target : {"gender", "age", "race"}
        ``"gender"``: male 0 / female 1. ``"age"``: 9 classes with edges 0, 10, ..., 80, 200 (paper 1).
    sensitive : {"race", "gender"}
        Groups: race (White, Black, Asian, Indian, Others) or gender. Must differ from ``target``.
    verify : bool
        Decode every image and drop (and report) the unreadable ones; slow on the full set.
    verbose : bool
        Print the summary line. Problems (malformed names, unreadable files) are printed regardless.

    Returns
    -------
    GroupedDataset
        ``x`` is the list of image paths (str), sorted by file name. ``info`` holds ``age`` (years, per
        example), ``malformed_names`` (count) and ``malformed_name_examples``; ``unreadable_images`` with
        ``verify``. UTK-Face defines no split: use :func:`fairlib.data.make_splits` with a seed.

    Raises
    ------
    ValueError
        Unknown ``target`` or ``sensitive``, or the two equal.
    MissingDataError
        The folder does not exist.
    DataFormatError
        No file in the folder has a well-formed name.
    """
    if target not in _TARGETS:
        raise ValueError(f"target={target!r} is not available for UTK-Face; choose one of {_TARGETS}")
    if sensitive not in _SENSITIVE:
        raise ValueError(f"sensitive={sensitive!r} is not available for UTK-Face; choose one of {_SENSITIVE}")
    if target == sensitive:
        raise ValueError(f"target and sensitive are both {target!r}")
    root = Path(root) if root is not None else paths.DATA / "utkface"
    folder = _locate_utkface(root)
    names = sorted(list_images(folder))
    parsed, malformed = [], []
    for name in names:
        labels = parse_utkface_name(name)
        if labels is None:
            malformed.append(name)  # the release has a few names with a missing field; never fatal
        else:
            parsed.append((name, *labels))
    if not parsed:
        raise DataFormatError(folder, f"no image file with a well-formed UTK-Face name among {len(names)} files",
                              expected=_EXPECTED)
    files = [str(folder / p[0]) for p in parsed]
    age, gender, race = (np.asarray([p[k] for p in parsed], dtype=np.int64) for k in (1, 2, 3))
    # All listed files exist; verification (decoding) is the only way one can still be dropped.
    keep, image_info, messages = check_images(files, np.ones(len(files), bool), verify=verify, name="utkface")
    if malformed:
        messages.insert(0, f"utkface: {len(malformed)} file name(s) not of the form {_EXPECTED.split(' with')[0]}, "
                           f"skipped: " + ", ".join(malformed[:5]))
    for message in messages:
        print(message)

    columns = {"gender": (gender, UTK_GENDERS), "race": (race, UTK_RACES),
               "age": (np.digitize(age, UTK_AGE_EDGES[1:-1]), UTK_AGE_CLASSES)}
    y, class_names = columns[target]
    s, group_names = columns[sensitive]
    index = np.flatnonzero(keep)
    info = {"source": str(folder), "files_listed": len(names), "malformed_names": len(malformed),
            "malformed_name_examples": malformed[:20], **image_info, "age": age[index]}
    data = GroupedDataset(name=f"utkface-{target}", x=[files[i] for i in index], y=y[index], s=s[index],
                          group_names=group_names, class_names=class_names, sensitive_name=sensitive, info=info)
    if verbose:
        print(f"UTK-Face from {folder}: {len(data)} images, target {target} ({len(class_names)} classes), "
              f"groups {sensitive}: {data.group_counts()}")
    return data
