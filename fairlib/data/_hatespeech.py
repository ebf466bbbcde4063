"""The measuring-hate-speech corpus (UC Berkeley D-Lab, Kennedy et al. 2020), one example per distinct text.

The release has one row per (comment, annotator): the same text appears on several rows, each with that
annotator's judgement of which groups the comment targets. A classifier must see each text once (otherwise
a text could sit in both train and test), so rows are merged by text:

* ``hate_speech_score`` is averaged over the text's rows (it is the comment's IRT score, so usually equal on
  all of them; averaging also covers releases where it varies), and the label is ``mean score > 0.5``;
* a subgroup counts as targeted when at least ``min_target_agreement`` (default half) of the text's rows mark
  its ``target_<attribute>_<subgroup>`` column;
* a text is kept when exactly one subgroup of the chosen attribute is targeted; texts targeting none or
  several are dropped and counted, as are subgroups with fewer than ``min_group_size`` texts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .. import paths
from ._errors import DataFormatError, MissingDataError
from ._types import GroupedDataset

__all__ = ["load_measuring_hate_speech", "HATE_SPEECH_FILES", "HATE_SPEECH_FOLDERS", "HATE_SPEECH_THRESHOLD"]

#: Looked for in this order in the dataset folder (parquet is the Hugging Face release; CSV needs no pyarrow).
HATE_SPEECH_FILES = ("measuring-hate-speech.parquet", "measuring-hate-speech.csv")
#: Accepted spellings of the dataset folder (the first is the default).
HATE_SPEECH_FOLDERS = ("measuring-hate-speech", "measuring_hate_speech")
#: Paper 1: a text is hate speech when its hate_speech_score exceeds 0.5.
HATE_SPEECH_THRESHOLD = 0.5
_HOW_TO_GET = ("https://huggingface.co/datasets/ucberkeley-dlab/measuring-hate-speech "
               "(file measuring-hate-speech.parquet; or save it as CSV with pandas)")
_REQUIRED = ("text", "hate_speech_score")
_TRUE = {"true", "1", "1.0", "yes"}
_FALSE = {"false", "0", "0.0", "no", ""}


def _expected(attribute: str) -> str:
    return (f"a table (parquet or CSV with a header) with columns text, hate_speech_score (real) and boolean "
            f"target_{attribute}_<subgroup> columns (e.g. target_religion_muslim), one row per annotation")


def _locate_hate_speech(root: str | Path | None) -> Path:
    """The parquet file, else the CSV; MissingDataError if the folder holds neither."""
    folder = Path(root) if root is not None else paths.DATA / "measuring-hate-speech"
    layout = (f"{folder}/{HATE_SPEECH_FILES[0]} or {folder}/{HATE_SPEECH_FILES[1]} (the folder may also be "
              f"spelled {' or '.join(HATE_SPEECH_FOLDERS)})")
    if not folder.is_dir():
        # The download unpacks as measuring-hate-speech/ or measuring_hate_speech/ depending on the tool.
        for spelling in HATE_SPEECH_FOLDERS:
            if folder.name in HATE_SPEECH_FOLDERS and (folder.parent / spelling).is_dir():
                folder = folder.parent / spelling
                break
    if not folder.is_dir():
        raise MissingDataError("measuring-hate-speech", folder, how_to_get=_HOW_TO_GET, layout=layout)
    for name in HATE_SPEECH_FILES:
        if (folder / name).exists():
            return folder / name
    raise MissingDataError("measuring-hate-speech", folder / HATE_SPEECH_FILES[0], how_to_get=_HOW_TO_GET,
                           layout=layout)


def _read_table(folder: Path) -> tuple[pd.DataFrame, Path]:
    parquet, csv = (folder / f for f in HATE_SPEECH_FILES)
    if parquet.exists():
        try:
            return pd.read_parquet(parquet), parquet
        except ImportError as error:
            if not csv.exists():
                raise ImportError(f"{parquet} needs a parquet engine (pyarrow or fastparquet), which is not "
                                  f"installed: install pyarrow, or convert the file to {csv.name} elsewhere "
                                  f"(pandas.read_parquet(...).to_csv('{csv.name}', index=False))") from error
    if csv.exists():
        return pd.read_csv(csv, keep_default_na=False, na_values={"hate_speech_score": [""]}), csv
    raise MissingDataError("measuring-hate-speech", folder / HATE_SPEECH_FILES[0], how_to_get=_HOW_TO_GET,
                           layout=f"{parquet} or {csv}")


def _as_bool(column: pd.Series, *, path: Path, name: str) -> np.ndarray:
    if column.dtype == bool:
        return column.to_numpy()
    if pd.api.types.is_numeric_dtype(column):
        values = column.fillna(0).to_numpy()
        if np.isin(values, (0, 1)).all():
            return values.astype(bool)
    else:
        text = column.fillna("").astype(str).str.strip().str.lower()
        if text.isin(_TRUE | _FALSE).all():
            return text.isin(_TRUE).to_numpy()
    bad = column[~column.astype(str).str.strip().str.lower().isin(_TRUE | _FALSE)].iloc[0]
    raise DataFormatError(path, f"column {name} holds {bad!r}, not a boolean (True/False or 1/0)")


def load_measuring_hate_speech(*, root: str | Path | None = None, target_attribute: str = "religion",
                               min_group_size: int = 100, min_target_agreement: float = 0.5,
                               verbose: bool = True) -> GroupedDataset:
    """Load measuring-hate-speech as texts grouped by the targeted subgroup of one attribute.

    Parameters
    ----------
    root : path, optional
        Folder with ``measuring-hate-speech.parquet`` (read with pyarrow) or ``measuring-hate-speech.csv``.
        Default ``DATA/measuring-hate-speech``; a missing folder of either spelling (``measuring-hate-speech``,
        ``measuring_hate_speech``) is looked for under the other.
    target_attribute : str
        The attribute whose ``target_<attribute>_<subgroup>`` columns define the groups (``religion``, ``race``,
        ``gender``, ``sexuality``, ``origin``, ``age``, ``disability`` in the release).
    min_group_size : int
        Subgroups with fewer kept texts are dropped (too small for per-group metrics); counts are reported.
    min_target_agreement : float
        Share of a text's annotation rows that must mark a subgroup for it to count as targeted.
    verbose : bool
        Print how many rows and texts were read, merged and dropped, and why. When anything is dropped the
        line is printed whatever ``verbose`` says.

    Returns
    -------
    GroupedDataset
        ``x`` the distinct texts (list of str, in order of first appearance), ``y`` = mean score > 0.5,
        ``s`` the targeted subgroup (names sorted). ``info``: ``score`` and ``annotations`` per text, and the
        counts ``rows_read``, ``texts``, ``dropped_no_subgroup``, ``dropped_several_subgroups``,
        ``dropped_small_groups`` (per subgroup). No split is defined: use :func:`fairlib.data.make_splits`.

    Raises
    ------
    MissingDataError
        Neither file is in the folder.
    DataFormatError
        A required column is missing (named, with the expected columns), or a value cannot be read.
    """
    table, path = _read_table(_locate_hate_speech(root).parent)
    expected = _expected(target_attribute)
    for column in _REQUIRED:
        if column not in table.columns:
            raise DataFormatError(path, f"missing column {column!r}; expected columns: text, hate_speech_score, "
                                        f"target_{target_attribute}_<subgroup>...", expected=expected)
    prefix = f"target_{target_attribute}_"
    subgroup_columns = sorted(c for c in table.columns if c.startswith(prefix) and len(c) > len(prefix))
    if not subgroup_columns:
        attributes = sorted({c.split("_")[1] for c in table.columns if c.startswith("target_") and c.count("_") >= 2})
        raise DataFormatError(path, f"missing columns {prefix}<subgroup>; target attributes present: {attributes}",
                              expected=expected)
    scores = pd.to_numeric(table["hate_speech_score"], errors="coerce")
    if scores.isna().any():
        row = int(np.flatnonzero(scores.isna().to_numpy())[0])
        raise DataFormatError(path, f"hate_speech_score {table['hate_speech_score'].iloc[row]!r} is not a number "
                                    f"(data row {row + 1})", expected=expected)
    subgroups = [c[len(prefix):] for c in subgroup_columns]
    marks = pd.DataFrame({g: _as_bool(table[c], path=path, name=c) for g, c in zip(subgroups, subgroup_columns)})
    texts = table["text"].astype("string")
    empty = texts.isna() | (texts.str.strip() == "")
    merged = pd.concat([texts.rename("text"), scores.rename("score"), marks.astype(float)], axis=1)[~empty.to_numpy()]

    # sort=False keeps the order of first appearance, so the result does not depend on text collation.
    by_text = merged.groupby("text", sort=False)
    per_text = by_text.mean()
    annotations = by_text.size().to_numpy()
    targeted = per_text[subgroups].to_numpy() >= min_target_agreement
    n_targeted = targeted.sum(axis=1)
    one = n_targeted == 1
    group_of_text = np.where(one, targeted.argmax(axis=1), -1)
    sizes = np.bincount(group_of_text[one], minlength=len(subgroups))
    small = {g: int(n) for g, n in zip(subgroups, sizes) if n < min_group_size}
    kept_groups = [g for g in subgroups if g not in small]
    keep = one & np.isin(group_of_text, [subgroups.index(g) for g in kept_groups])
    index = np.flatnonzero(keep)
    remap = {subgroups.index(g): k for k, g in enumerate(kept_groups)}
    score = per_text["score"].to_numpy()
    info = {"source": str(path), "rows_read": len(table), "rows_empty_text": int(empty.sum()),
            "texts": len(per_text), "dropped_no_subgroup": int((n_targeted == 0).sum()),
            "dropped_several_subgroups": int((n_targeted > 1).sum()), "dropped_small_groups": small,
            "min_group_size": min_group_size, "score": score[index], "annotations": annotations[index]}
    message = (f"measuring-hate-speech from {path}: {len(table)} annotation rows ({info['rows_empty_text']} with an "
               f"empty text, skipped) -> {len(per_text)} distinct texts; "
               f"target_{target_attribute}: dropped {info['dropped_no_subgroup']} targeting no subgroup, "
               f"{info['dropped_several_subgroups']} targeting several, "
               f"{sum(small.values())} in subgroups under {min_group_size} texts {small}; kept {len(index)}")
    if not kept_groups:
        raise ValueError(f"{message}\nNo subgroup of {target_attribute!r} has {min_group_size} texts; "
                         f"lower min_group_size")
    skipped = (info["rows_empty_text"] + info["dropped_no_subgroup"] + info["dropped_several_subgroups"]
               + sum(small.values()))
    if verbose or skipped:
        print(message)
    return GroupedDataset(
        name=f"hate-speech-{target_attribute}", x=per_text.index.astype(str).take(index).tolist(),
        y=(score[index] > HATE_SPEECH_THRESHOLD), s=np.asarray([remap[g] for g in group_of_text[index]], np.int64),
        group_names=tuple(kept_groups), class_names=("not hate speech", "hate speech"),
        sensitive_name=target_attribute, info=info)
