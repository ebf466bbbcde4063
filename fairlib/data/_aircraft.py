"""FGVC-Aircraft (Maji et al., 2013), read from its release's ``data/`` folder: the ``images_*.txt`` lists and
the ``images_<level>_<split>.txt`` annotations, with its standard train / val / test split."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import paths
from ._errors import DataFormatError, MissingDataError
from ._images import check_images
from ._types import GroupedDataset

__all__ = ["load_aircraft", "AIRCRAFT_LEVELS", "AIRCRAFT_BANNER_PIXELS"]

#: Label levels of the release's hierarchy, finer to coarser (``images_<level>_<split>.txt``).
AIRCRAFT_LEVELS = ("variant", "family", "manufacturer")
#: Height of the copyright banner at the bottom of every image, which the release asks users to remove.
AIRCRAFT_BANNER_PIXELS = 20
_SPLITS = ("train", "val", "test")
_RELEASE = "fgvc-aircraft-2013b"
_HOW_TO_GET = f"https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/archives/{_RELEASE}.tar.gz"
_FORMAT = ("one image per line: a seven-digit image name, a space, then the label (which may contain spaces); "
           "the image is data/images/<name>.jpg")


def _data_folder(root: str | Path | None) -> Path:
    root = Path(root) if root is not None else paths.DATA / "aircraft"
    layout = (f"{root}/data/images_<level>_<split>.txt for level in {AIRCRAFT_LEVELS[0]}, {AIRCRAFT_LEVELS[2]} and split "
              f"in {', '.join(_SPLITS)}, and {root}/data/images/<name>.jpg (the contents of {_RELEASE}/)")
    if not root.is_dir():
        raise MissingDataError("aircraft", root, how_to_get=_HOW_TO_GET, layout=layout)
    if not (root / "data").is_dir() and (root / _RELEASE / "data").is_dir():
        root = root / _RELEASE
    if not (root / "data").is_dir():
        raise MissingDataError("aircraft", root / "data", how_to_get=_HOW_TO_GET, layout=layout)
    return root / "data"


def _locate_aircraft(root: str | Path | None, *, levels: tuple[str, ...] = ("variant", "manufacturer")) -> Path:
    """The release's ``data/`` folder once every annotation file of ``levels`` is there; MissingDataError naming
    the first absent one."""
    data = _data_folder(root)
    for level in levels:
        for split in _SPLITS:
            path = data / f"images_{level}_{split}.txt"
            if not path.exists():
                raise MissingDataError("aircraft", path, how_to_get=_HOW_TO_GET,
                                       layout=f"{data}/images_<level>_<split>.txt (the release's data/ folder)")
    return data


def _read_annotations(path: Path) -> dict[str, str]:
    """``{image name: label}`` of one ``images_<level>_<split>.txt`` file, in file order."""
    out: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        name, _, label = line.strip().partition(" ")
        if not (len(name) == 7 and name.isdigit()) or not label.strip():
            raise DataFormatError(path, f"{line!r} is not '<seven-digit image name> <label>'", line=number,
                                  expected=_FORMAT)
        if name in out:
            raise DataFormatError(path, f"image {name} is listed twice", line=number, expected=_FORMAT)
        out[name] = label.strip()
    return out


def load_aircraft(*, root: str | Path | None = None, label: str = "variant", group: str = "manufacturer",
                  verify: bool = False, verbose: bool = True) -> GroupedDataset:
    """Load FGVC-Aircraft: y = the aircraft ``label`` level (variant), s = the ``group`` level (manufacturer).

    Aircraft carry no demographic attribute. The paper text available to us (``fairlora_2024.txt``) names the
    dataset but does not define its groups; this loader takes the variant (the release's main 100-way task) as the
    class, so that the paper's per-class reading of FairLoRA runs over variants, and the manufacturer (the coarsest
    level of the release's hierarchy) as the group the fairness metrics are computed over. Both are parameters.

    Parameters
    ----------
    root : path, optional
        The extracted release (a folder holding ``data/``, or holding ``fgvc-aircraft-2013b/data/``). Default
        ``DATA/aircraft``.
    label, group : {"variant", "family", "manufacturer"}
        Annotation levels of the class and of the group (different levels).
    verify : bool
        Decode every image and drop (and report) the unreadable ones.
    verbose : bool
        Print the summary line. Problems (missing or unreadable images) are printed regardless.

    Returns
    -------
    GroupedDataset
        ``x`` image paths (train, then val, then test, each in file order); ``class_names`` and ``group_names``
        sorted; ``info["split"]`` the release's split; ``info["banner_pixels"]`` the copyright banner at the
        bottom of every image (20 pixels), which image pipelines should crop.

    Raises
    ------
    MissingDataError
        The folder or an annotation file is missing (named).
    DataFormatError
        A line is not ``<name> <label>``, an image is listed twice, or the label and group files of a split do
        not list the same images.
    ValueError
        ``label`` or ``group`` is not a level, or both are the same.
    """
    for name, value in (("label", label), ("group", group)):
        if value not in AIRCRAFT_LEVELS:
            raise ValueError(f"{name}={value!r}; valid choices: {AIRCRAFT_LEVELS}")
    if label == group:
        raise ValueError(f"label and group are both {label!r}: choose two different levels of {AIRCRAFT_LEVELS}")
    data_dir = _locate_aircraft(root, levels=(label, group))
    names, labels, groups, split = [], [], [], []
    for part in _SPLITS:
        by_label = _read_annotations(data_dir / f"images_{label}_{part}.txt")
        by_group = _read_annotations(data_dir / f"images_{group}_{part}.txt")
        if set(by_label) != set(by_group):
            only = sorted(set(by_label) ^ set(by_group))
            raise DataFormatError(data_dir / f"images_{group}_{part}.txt",
                                  f"lists other images than images_{label}_{part}.txt ({len(only)} differ, e.g. "
                                  f"{only[:3]})", expected=_FORMAT)
        for image, value in by_label.items():
            names.append(image)
            labels.append(value)
            groups.append(by_group[image])
            split.append(part)
    class_names, group_names = tuple(sorted(set(labels))), tuple(sorted(set(groups)))
    y = np.asarray([class_names.index(v) for v in labels], dtype=np.int64)
    s = np.asarray([group_names.index(v) for v in groups], dtype=np.int64)
    files = [str(data_dir / "images" / f"{n}.jpg") for n in names]
    present = np.asarray([Path(f).is_file() for f in files], dtype=bool)
    keep, image_info, messages = check_images(files, present, verify=verify, name="aircraft")
    for message in messages:
        print(message)
    index = np.flatnonzero(keep)
    info = {"source": str(data_dir), "split": np.asarray(split)[index], "label_level": label, "group_level": group,
            "banner_pixels": AIRCRAFT_BANNER_PIXELS, **image_info}
    data = GroupedDataset(name="aircraft", x=[files[i] for i in index], y=y[index], s=s[index],
                          group_names=group_names, class_names=class_names, sensitive_name=group, info=info)
    if verbose:
        parts = {p: int((info["split"] == p).sum()) for p in _SPLITS}
        print(f"FGVC-Aircraft from {data_dir}: {len(data)} images, {len(class_names)} {label}s, "
              f"{len(group_names)} {group}s {parts}")
    return data
