"""LFW+a: Labeled Faces in the Wild images with the attribute scores of Kumar et al. (``lfw_attributes.txt``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import paths
from ._celeba import binary_names, resolve_attribute
from ._errors import DataFormatError, MissingDataError
from ._images import check_images
from ._types import GroupedDataset

__all__ = ["load_lfwa", "LFWA_SPLIT_FRACTIONS", "lfw_image_path"]

#: Default train/val/test shares of images: Zhang & Zhou's Table 1 sizes 6,885 / 1,000 / 5,258 of 13,143.
LFWA_SPLIT_FRACTIONS = (6885 / 13143, 1000 / 13143, 5258 / 13143)
_SPLITS = ("train", "val", "test")
_HOW_TO_GET = ("images: https://vis-www.cs.umass.edu/lfw/ (lfw.tgz, 13,233 images); attributes: "
               "https://www.cs.columbia.edu/CAVE/databases/pubfig/download/lfw_attributes.txt (Kumar et al., 2009)")
_FORMAT = ("tab-separated text: a comment line '# ...', a header line '#\\tperson\\timagenum\\t<attribute>\\t...', "
           "then one line per image '<person name>\\t<image number>\\t<real score>\\t...' (score > 0 = has it)")


def lfw_image_path(images: Path, person: str, number: int) -> Path:
    """``<images>/<Person_Name>/<Person_Name>_<nnnn>.jpg``, LFW's naming (spaces in names become underscores)."""
    folder = person.strip().replace(" ", "_")
    return images / folder / f"{folder}_{number:04d}.jpg"


def _read_attributes(path: Path) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    header: list[str] | None = None
    persons, numbers, rows = [], [], []
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            if line.startswith("#"):
                fields = [f.strip() for f in line[1:].split("\t")]
                fields = fields[1:] if fields and fields[0] == "" else fields
                if fields[:2] == ["person", "imagenum"]:
                    header = fields
                continue  # any other '#' line is a comment (the file starts with a version line)
            if header is None:
                raise DataFormatError(path, "data line before the header line", line=line_no, expected=_FORMAT)
            fields = line.split("\t")
            if len(fields) != len(header):
                raise DataFormatError(path, f"found {len(fields)} tab-separated fields, the header has {len(header)}",
                                      line=line_no, expected=_FORMAT)
            try:
                numbers.append(int(fields[1]))
                rows.append([float(v) for v in fields[2:]])
            except ValueError as error:
                raise DataFormatError(path, f"not a number ({error})", line=line_no, expected=_FORMAT) from None
            persons.append(fields[0].strip())
    if header is None:
        raise DataFormatError(path, "no header line starting with '#<tab>person<tab>imagenum'", expected=_FORMAT)
    if not rows:
        raise DataFormatError(path, "no data lines", expected=_FORMAT)
    return header[2:], persons, np.asarray(numbers, dtype=np.int64), np.asarray(rows, dtype=np.float32)


def _person_split(persons: list[str], *, fractions: tuple[float, float, float], seed: int) -> np.ndarray:
    # Whole identities go to one part, so a test face never has a training photo of the same person;
    # people are visited in a seeded random order and fill train, then val, up to their image quotas.
    names, counts = np.unique(np.asarray(persons, dtype=object), return_counts=True)
    order = np.random.default_rng(seed).permutation(len(names))
    quota = np.cumsum(fractions)[:2] * len(persons)
    parts, filled = [], 0
    for i in order:
        parts.append(int(np.searchsorted(quota, filled, side="right")))
        filled += counts[i]
    parts = _fill_empty_parts(parts, fractions=fractions, people=len(names), images=len(persons), seed=seed)
    part_of_person = {names[i]: part for i, part in zip(order, parts)}
    return np.asarray([_SPLITS[part_of_person[p]] for p in persons])


def _fill_empty_parts(parts: list[int], *, fractions: tuple[float, float, float], people: int, images: int,
                      seed: int) -> list[int]:
    """Give every part with a positive share at least one person (a person at the boundary moves over).

    ``parts`` is non-decreasing in the visiting order, so each part is a run; an empty part sits between two runs
    and takes the adjacent person of the larger one (which must keep one). Splits with no empty part are
    left as they are.
    """
    parts = list(parts)
    for k in range(3):
        if fractions[k] <= 0 or k in parts:
            continue
        at = sum(p < k for p in parts)  # where part k's run would start
        before = sum(p == parts[at - 1] for p in parts) if at > 0 else 0
        after = sum(p == parts[at] for p in parts) if at < len(parts) else 0
        if max(before, after) < 2:
            raise ValueError(f"LFW+a: the {_SPLITS[k]!r} split would be empty: split_fractions {tuple(fractions)} "
                             f"over {images} images of {people} people (split_seed {seed}) leave no person for it, "
                             f"and no other part has a person to spare; use more data or set its share to 0")
        if before >= after:
            parts[at - 1] = k
        else:
            parts[at] = k
    return parts


def _locate_lfwa(root: str | Path | None, *, images_dir: str = "lfw") -> Path:
    """The image folder (the attribute file beside it); MissingDataError names the first missing part."""
    root = Path(root) if root is not None else paths.DATA / "lfwa"
    layout = f"{root}/{images_dir}/<Person_Name>/<Person_Name>_<nnnn>.jpg and {root}/lfw_attributes.txt"
    images = root / images_dir
    for wanted in (root, root / "lfw_attributes.txt", images):
        if not wanted.exists():
            raise MissingDataError("lfwa", wanted, how_to_get=_HOW_TO_GET, layout=layout)
    return images


def load_lfwa(*, root: str | Path | None = None, target: str = "Male", sensitive: str = "Heavy_Makeup",
              images_dir: str = "lfw", split_fractions: tuple[float, float, float] = LFWA_SPLIT_FRACTIONS,
              split_seed: int = 0, verify: bool = False, verbose: bool = True) -> GroupedDataset:
    """Load LFW+a: LFW face images with binarised Kumar et al. attribute scores.

    Parameters
    ----------
    root : path, optional
        Folder with ``lfw/<Person_Name>/<Person_Name>_<nnnn>.jpg`` and ``lfw_attributes.txt``.
        Default ``DATA/lfwa``.
    target, sensitive : str
        Attribute columns of ``lfw_attributes.txt`` (73 of them, e.g. ``Male``, ``Heavy Makeup``, ``Smiling``),
        matched ignoring case, spaces and underscores (``"Heavy_Makeup"`` names ``Heavy Makeup``). A score
        > 0 becomes code 1.
    images_dir : str
        Sub-folder of ``root`` with the images: ``"lfw"`` (lfw.tgz), or e.g. ``"lfw-deepfunneled"``.
    split_fractions : three floats
        Shares of images in train / val / test (default: paper 4's 6,885 / 1,000 / 5,258).
    split_seed : int
        Seeds the person-disjoint split: people are shuffled with this seed and their images fill train, then
        val, then test up to the shares (every image of a person lands in one part).
    verify : bool
        Decode every image and drop (and report) the unreadable ones.
    verbose : bool
        Print the summary line. Problems (missing or unreadable images) are printed regardless.

    Returns
    -------
    GroupedDataset
        ``x`` image paths in the order of the attribute file; ``info["split"]``; ``info["person"]``;
        ``info["attribute_scores"]`` (float32, all columns, names in ``info["attribute_names"]``).

    Raises
    ------
    ValueError
        Unknown attribute (the message lists the valid names), target equal to sensitive, bad fractions, or a
        split with a positive share that would be empty (named). A split that the seeded fill leaves empty
        takes a person from a neighbouring part when one can spare one.
    MissingDataError
        The folder, the attribute file or the image folder is missing.
    DataFormatError
        The attribute file does not follow the format (file and line named).
    """
    if len(split_fractions) != 3 or min(split_fractions) < 0 or abs(sum(split_fractions) - 1) > 1e-6:
        raise ValueError(f"split_fractions must be three non-negative numbers summing to 1, got {split_fractions}")
    root = Path(root) if root is not None else paths.DATA / "lfwa"
    images = _locate_lfwa(root, images_dir=images_dir)
    names, persons, numbers, scores = _read_attributes(root / "lfw_attributes.txt")
    t = resolve_attribute(target, names, dataset="LFW+a")
    g = resolve_attribute(sensitive, names, dataset="LFW+a")
    if t == g:
        raise ValueError(f"target and sensitive are both {names[t]!r}")
    split = _person_split(persons, fractions=tuple(split_fractions), seed=split_seed)
    files = [str(lfw_image_path(images, p, n)) for p, n in zip(persons, numbers)]
    present = np.asarray([Path(f).is_file() for f in files], dtype=bool)
    keep, image_info, messages = check_images(files, present, verify=verify, name="lfwa")
    for message in messages:
        print(message)
    index = np.flatnonzero(keep)
    for part, share in zip(_SPLITS, split_fractions):
        if share > 0 and not np.any(split[index] == part):
            raise ValueError(f"LFW+a from {root}: the {part!r} split is empty (share {share:.3f}): its "
                             f"{int(np.sum(split == part))} listed image(s) are all absent or unreadable")
    info = {"source": str(root), "split": split[index], "person": np.asarray(persons, dtype=object)[index],
            "attribute_scores": scores[index], "attribute_names": tuple(names), "split_seed": split_seed,
            **image_info}
    data = GroupedDataset(name=f"lfwa-{names[t].replace(' ', '_')}", x=[files[i] for i in index],
                          y=(scores[index, t] > 0), s=(scores[index, g] > 0), group_names=binary_names(names[g]),
                          class_names=binary_names(names[t]), sensitive_name=names[g], info=info)
    if verbose:
        parts = {p: int((info["split"] == p).sum()) for p in _SPLITS}
        print(f"LFW+a from {root}: {len(data)} images {parts} (person-disjoint, seed {split_seed}), "
              f"target {names[t]}, groups {data.group_counts()}")
    return data
