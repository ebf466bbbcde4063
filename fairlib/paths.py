"""Where the project's files live, independent of the working directory.

papermill runs a notebook with its own working directory and JupyterLab with another, so every path is
anchored at the repository root found from this file, never at ``os.getcwd()``. Two environment variables
move the heavy directories for users whose data or outputs live elsewhere:

``FAIRLIB_DATA``
    the directory holding the real datasets (default ``<ROOT>/data``).
``FAIRLIB_FIGURES``
    the directory receiving figures, tables and results JSONs (default ``<ROOT>/figures``).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ROOT", "DATA", "FIGURES", "BUILD", "CACHE", "NOTEBOOKS", "figures_dir", "cache_dir"]

ROOT: Path = Path(__file__).resolve().parent.parent
DATA: Path = Path(os.environ.get("FAIRLIB_DATA", ROOT / "data")).resolve()
FIGURES: Path = Path(os.environ.get("FAIRLIB_FIGURES", ROOT / "figures")).resolve()
BUILD: Path = ROOT / "build"
NOTEBOOKS: Path = ROOT / "notebooks"
# Pre-trained stand-in backbones and finished runs are caches, not data: they can always be rebuilt.
CACHE: Path = Path(os.environ.get("FAIRLIB_CACHE", DATA / "cache")).resolve()


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
    path = FIGURES / profile
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir(*parts: str) -> Path:
    """Return ``CACHE/<parts...>``, created if needed."""
    path = CACHE.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
