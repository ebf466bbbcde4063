"""Where the project's files live.

papermill runs a notebook with its own working directory and JupyterLab with another, so every path is
anchored at the repository root, found once per process by these rules, in order:

1. ``FAIRLIB_ROOT``, if set: it must name a checkout (a folder holding ``notebooks/`` and a ``pyproject.toml``
   whose project is ``fairlib``); anything else is an error naming the value.
2. The checkout that encloses the working directory (the working directory itself or one of its parents), so
   that a copied checkout writes into itself and never into the original.
3. The checkout that holds the imported package (an editable install, or ``PYTHONPATH`` pointing at a checkout).
4. Otherwise :class:`RootNotFoundError`, saying how to set ``FAIRLIB_ROOT``.

The root is looked up only when a path is first used, so ``fairlib.metrics`` works from a non-editable
install outside any checkout. Environment variables move the heavy folders:

``FAIRLIB_DATA``
    the directory holding the real datasets (default ``<ROOT>/data``).
``FAIRLIB_FIGURES``
    the directory receiving figures, tables and results JSONs (default ``<ROOT>/figures``).
``FAIRLIB_CACHE``
    pre-trained stand-in backbones and finished runs (default ``<FAIRLIB_DATA>/cache``).

The module attributes ``ROOT``, ``DATA``, ``FIGURES``, ``BUILD``, ``NOTEBOOKS`` and ``CACHE`` are
:class:`pathlib.Path` objects, computed on first access and then fixed for the process.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["ROOT", "DATA", "FIGURES", "BUILD", "CACHE", "NOTEBOOKS", "RootNotFoundError", "find_root",
           "is_checkout", "figures_dir", "cache_dir"]

_PROJECT_NAME = re.compile(r"^\[project\][^\[]*?^name\s*=\s*[\"']fairlib[\"']", flags=re.M | re.S)


class RootNotFoundError(FileNotFoundError):
    """No fairlib checkout could be found for the repository root."""


def is_checkout(folder: Path) -> bool:
    """Return whether ``folder`` is a fairlib checkout.

    Parameters
    ----------
    folder : pathlib.Path
        Candidate repository root.

    Returns
    -------
    bool
        True when ``folder`` holds a ``notebooks/`` directory and a ``pyproject.toml`` whose ``[project]``
        table is named ``fairlib``.
    """
    pyproject = folder / "pyproject.toml"
    if not (folder / "notebooks").is_dir() or not pyproject.is_file():
        return False
    try:
        return _PROJECT_NAME.search(pyproject.read_text(encoding="utf-8")) is not None
    except (OSError, UnicodeDecodeError):
        return False


def find_root(environ: "dict[str, str] | None" = None, cwd: "Path | None" = None) -> Path:
    """Return the repository root by the rules of this module's docstring.

    Parameters
    ----------
    environ : dict, optional
        Environment to read ``FAIRLIB_ROOT`` from (default ``os.environ``).
    cwd : pathlib.Path, optional
        Working directory to search upwards from (default ``Path.cwd()``).

    Returns
    -------
    pathlib.Path
        The resolved root.

    Raises
    ------
    RootNotFoundError
        If ``FAIRLIB_ROOT`` names no checkout, or no rule finds one.
    """
    environ = os.environ if environ is None else environ
    given = environ.get("FAIRLIB_ROOT")
    if given:
        root = Path(given).expanduser().resolve()
        if not is_checkout(root):
            raise RootNotFoundError(
                f"FAIRLIB_ROOT={given!r} is not a fairlib checkout: expected a folder holding notebooks/ and a "
                f"pyproject.toml with name = \"fairlib\" (unset FAIRLIB_ROOT to use the working directory's "
                f"checkout)")
        return root
    try:
        here = (Path.cwd() if cwd is None else Path(cwd)).resolve()
    except FileNotFoundError:  # the working directory was deleted
        here = None
    if here is not None:
        for folder in (here, *here.parents):
            if is_checkout(folder):
                return folder
    package_parent = Path(__file__).resolve().parent.parent
    if is_checkout(package_parent):
        return package_parent
    raise RootNotFoundError(
        f"no fairlib checkout found: the working directory {here} is not inside one and the package at "
        f"{package_parent / 'fairlib'} is not part of one. Run from inside a clone of the repository, or set "
        f"FAIRLIB_ROOT=/path/to/the/clone")


def _compute(name: str) -> Path:
    if name == "ROOT":
        return find_root()
    if name == "DATA":
        given = os.environ.get("FAIRLIB_DATA")
        return Path(given).expanduser().resolve() if given else _get("ROOT") / "data"
    if name == "FIGURES":
        given = os.environ.get("FAIRLIB_FIGURES")
        return Path(given).expanduser().resolve() if given else _get("ROOT") / "figures"
    if name == "CACHE":
        # Pre-trained stand-in backbones and finished runs are caches, not data: they can always be rebuilt.
        given = os.environ.get("FAIRLIB_CACHE")
        return Path(given).expanduser().resolve() if given else _get("DATA") / "cache"
    if name == "BUILD":
        return _get("ROOT") / "build"
    return _get("ROOT") / "notebooks"  # NOTEBOOKS


_LAZY = ("ROOT", "DATA", "FIGURES", "BUILD", "CACHE", "NOTEBOOKS")


def _get(name: str) -> Path:
    value = globals().get(name)
    if value is None:
        value = globals()[name] = _compute(name)
    return value


def __getattr__(name: str) -> Path:
    if name in _LAZY:
        return _get(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def figures_dir(profile: str) -> Path:
    """Return ``FIGURES/<profile>``, created if needed, so that one profile never overwrites another.

    Parameters
    ----------
    profile : str
        Name of the configuration profile (``"smoke"``, ``"full"``, ...).

    Returns
    -------
    pathlib.Path
    """
    path = _get("FIGURES") / profile
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir(*parts: str) -> Path:
    """Return ``CACHE/<parts...>``, created if needed."""
    path = _get("CACHE").joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
