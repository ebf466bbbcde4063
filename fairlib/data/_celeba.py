"""CelebA (aligned images) with its official attribute table and train/val/test partition."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .. import paths
from ._errors import DataFormatError, MissingDataError
from ._images import check_images, list_images
from ._types import GroupedDataset

__all__ = ["load_celeba", "CELEBA_SPLITS", "CELEBA_ATTRIBUTES", "binary_names", "resolve_attribute"]

#: The 40 attribute names of the official list_attr_celeba.txt, in file order (the loader reads the names from
#: the file itself; configurations check task keys against this list before any data is read).
CELEBA_ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips", "Big_Nose",
    "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses",
    "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache",
    "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks",
    "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick",
    "Wearing_Necklace", "Wearing_Necktie", "Young")
#: Codes of list_eval_partition.txt.
CELEBA_SPLITS = ("train", "val", "test")
_HOW_TO_GET = ("https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html -> 'Align&Cropped Images' "
               "(Img/img_align_celeba.zip), Anno/list_attr_celeba.txt and Eval/list_eval_partition.txt")
_LAYOUT = ("{root}/img_align_celeba/000001.jpg ..., {root}/list_attr_celeba.txt, {root}/list_eval_partition.txt "
           "(the two text files may also stay in Anno/ and Eval/ as on the download page)")
_ATTR_FORMAT = ("line 1: number of images; line 2: the 40 attribute names separated by spaces; then one line per "
                "image: '<file> v1 ... v40' with each value -1 or 1, separated by spaces")
_PARTITION_FORMAT = "one line per image: '<file> <0|1|2>' (0 train, 1 validation, 2 test)"


def _key(name: str) -> str:
    return name.replace("_", "").replace(" ", "").lower()


def resolve_attribute(name: str, choices: Sequence[str], *, dataset: str) -> int:
    """Index of attribute ``name`` in ``choices``, ignoring case, spaces and underscores.

    ``"Wavy_Hair"``, ``"WavyHair"`` and ``"wavy hair"`` all name CelebA's ``Wavy_Hair`` (papers spell them
    differently).

    Raises
    ------
    ValueError
        If nothing matches; the message lists every valid name.
    """
    keys = [_key(c) for c in choices]
    if _key(name) not in keys:
        raise ValueError(f"{name!r} is not a {dataset} attribute; valid names: {', '.join(choices)}")
    return keys.index(_key(name))


def binary_names(attribute: str) -> tuple[str, str]:
    """Names of the codes 0 and 1 of a binary attribute (``Male`` reads better as Female / Male)."""
    return ("Female", "Male") if _key(attribute) == "male" else (f"not {attribute}", attribute)


def _locate_celeba(root: str | Path | None) -> tuple[Path, Path, Path]:
    """The attribute file, the partition file and the image folder; MissingDataError names the first missing."""
    root = Path(root) if root is not None else paths.DATA / "celeba"
    layout = _LAYOUT.format(root=root)
    if not root.is_dir():
        raise MissingDataError("celeba", root, how_to_get=_HOW_TO_GET, layout=layout)
    attr_path = _find(root, "list_attr_celeba.txt", "Anno")
    part_path = _find(root, "list_eval_partition.txt", "Eval")
    folder = root / "img_align_celeba"
    # Some mirrors (Kaggle) nest the folder in itself.
    if (folder / "img_align_celeba").is_dir():
        folder = folder / "img_align_celeba"
    for found, wanted in ((attr_path, root / "list_attr_celeba.txt"), (part_path, root / "list_eval_partition.txt"),
                          (folder if folder.is_dir() else None, folder)):
        if found is None:
            raise MissingDataError("celeba", wanted, how_to_get=_HOW_TO_GET, layout=layout)
    return attr_path, part_path, folder


def _find(root: Path, name: str, subdir: str) -> Path | None:
    for candidate in (root / name, root / subdir / name):
        if candidate.exists():
            return candidate
    return None


def _read_attributes(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    with path.open(encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    if len(lines) < 2:
        raise DataFormatError(path, "fewer than two lines", expected=_ATTR_FORMAT)
    try:
        declared = int(lines[0].strip())
    except ValueError:
        raise DataFormatError(path, f"first line {lines[0]!r} is not the number of images", line=1,
                              expected=_ATTR_FORMAT) from None
    names = lines[1].split()
    if len(names) != 40:
        raise DataFormatError(path, f"found {len(names)} attribute names, expected 40", line=2, expected=_ATTR_FORMAT)
    files, rows = [], []
    allowed = {"-1", "1"}
    for line_no, line in enumerate(lines[2:], start=3):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 41:
            raise DataFormatError(path, f"found {len(fields)} fields, expected a file name and 40 values",
                                  line=line_no, expected=_ATTR_FORMAT)
        if not allowed.issuperset(fields[1:]):
            bad = next(v for v in fields[1:] if v not in allowed)
            raise DataFormatError(path, f"value {bad!r} is not -1 or 1", line=line_no, expected=_ATTR_FORMAT)
        files.append(fields[0])
        rows.append(fields[1:])
    if len(files) != declared:
        raise DataFormatError(path, f"line 1 declares {declared} images but {len(files)} lines follow", line=1,
                              expected=_ATTR_FORMAT)
    # -1/1 -> 0/1 once for all 40 columns; int8 keeps the full table at 8 MB.
    values = (np.asarray(rows, dtype=np.int8) > 0).astype(np.int8) if rows else np.zeros((0, 40), np.int8)
    return names, files, values


def _read_partition(path: Path) -> dict[str, int]:
    partition: dict[str, int] = {}
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
                raise DataFormatError(path, f"cannot read {line.strip()!r}", line=line_no, expected=_PARTITION_FORMAT)
            partition[fields[0]] = int(fields[1])
    return partition


def load_celeba(*, root: str | Path | None = None, target: str = "Smiling", sensitive: str = "Male",
                split: str | None = None, verify: bool = False, verbose: bool = True) -> GroupedDataset:
    """Load CelebA: aligned images, any of the 40 attributes as target or sensitive attribute.

    Parameters
    ----------
    root : path, optional
        Folder with ``img_align_celeba/``, ``list_attr_celeba.txt`` and ``list_eval_partition.txt``
        (the text files may be in ``Anno/`` and ``Eval/``). Default ``DATA/celeba``.
    target, sensitive : str
        Attribute names as in ``list_attr_celeba.txt`` (matched ignoring case and underscores, so
        ``"WavyHair"`` works); value 1 becomes code 1.
    split : {"train", "val", "test"}, optional
        Return only that part of the official partition (default: all images).
    verify : bool
        Decode every image and drop (and report) the unreadable ones; slow on the full set.
    verbose : bool
        Print the summary line. Problems (missing or unreadable images) are printed regardless.

    Returns
    -------
    GroupedDataset
        ``x`` image paths in the order of the attribute file; ``info["split"]`` ("train"/"val"/"test" per
        example), ``info["attributes"]`` (int8 0/1 matrix, one column per name in
        ``info["attribute_names"]``), ``missing_images``.

    Raises
    ------
    ValueError
        Unknown attribute (the message lists the 40 names) or split, or target equal to sensitive.
    MissingDataError
        The folder or one of its three parts is missing.
    DataFormatError
        A line of a text file does not follow the official format (file and line named).
    """
    if split is not None and split not in CELEBA_SPLITS:
        raise ValueError(f"split={split!r}; valid choices: {CELEBA_SPLITS} or None")
    root = Path(root) if root is not None else paths.DATA / "celeba"
    attr_path, part_path, folder = _locate_celeba(root)
    names, files, values = _read_attributes(attr_path)
    t = resolve_attribute(target, names, dataset="CelebA")
    g = resolve_attribute(sensitive, names, dataset="CelebA")
    if t == g:
        raise ValueError(f"target and sensitive are both {names[t]!r}")
    partition = _read_partition(part_path)
    unassigned = [f for f in files if f not in partition]
    if unassigned:
        raise DataFormatError(part_path, f"{len(unassigned)} image(s) of {attr_path.name} have no partition entry, "
                                         f"e.g. {unassigned[:3]}", expected=_PARTITION_FORMAT)
    split_code = np.asarray([partition[f] for f in files], dtype=np.int64)

    present_names = list_images(folder)
    paths_ = [str(folder / f) for f in files]
    present = np.asarray([f in present_names for f in files], dtype=bool)
    keep, image_info, messages = check_images(paths_, present, verify=verify, name="celeba")
    if split is not None:
        keep &= split_code == CELEBA_SPLITS.index(split)
    for message in messages:
        print(message)
    index = np.flatnonzero(keep)
    info = {"source": str(root), "split": np.asarray(CELEBA_SPLITS, dtype=object)[split_code[index]].astype(str),
            "attributes": values[index], "attribute_names": tuple(names), **image_info}
    data = GroupedDataset(name=f"celeba-{names[t]}", x=[paths_[i] for i in index], y=values[index, t],
                          s=values[index, g], group_names=binary_names(names[g]), class_names=binary_names(names[t]),
                          sensitive_name=names[g], info=info)
    if verbose:
        parts = {p: int((info["split"] == p).sum()) for p in CELEBA_SPLITS}
        print(f"CelebA from {root}: {len(data)} images {parts}, target {names[t]}, groups {data.group_counts()}")
    return data
