"""Errors raised by the loaders: each names the file, the line where there is one, and what was expected."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DataFormatError", "MissingDataError"]


class DataFormatError(ValueError):
    """A data file exists but does not have the expected format."""

    def __init__(self, path: str | Path, message: str, *, line: int | None = None, expected: str | None = None):
        where = f"{path}" if line is None else f"{path}, line {line}"
        text = f"{where}: {message}"
        if expected:
            text += f"\nExpected format: {expected}"
        super().__init__(text)
        self.path = Path(path)
        self.line = line


class MissingDataError(FileNotFoundError):
    """A dataset (or one of its files) is not where the loader looks for it."""

    def __init__(self, name: str, path: str | Path, *, how_to_get: str, layout: str):
        super().__init__(
            f"Dataset '{name}' not found at {path}.\n"
            f"Where to get it: {how_to_get}\n"
            f"Where to put it: {layout}\n"
            f"(Set FAIRLIB_DATA or pass root=... to read it from elsewhere; see data/README.md.)"
        )
        self.path = Path(path)


def find_table(dataset: str, root: Path, table: str, sub_folder: str, *, how_to_get: str, layout: str) -> Path:
    """Path of a release's ``table`` file in ``root``, or in its ``sub_folder`` (the archive extracted in place).

    Raises
    ------
    MissingDataError
        Naming ``root`` when it is not a folder, else the missing table, with ``how_to_get`` and ``layout``.
    """
    if not root.is_dir():
        raise MissingDataError(dataset, root, how_to_get=how_to_get, layout=layout)
    if not (root / table).exists() and (root / sub_folder / table).exists():
        root = root / sub_folder
    path = root / table
    if not path.exists():
        raise MissingDataError(dataset, path, how_to_get=how_to_get, layout=layout)
    return path
