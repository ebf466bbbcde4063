"""Every figure, table and results file is written here, atomically, under ``figures/<profile>/`` or
``figures/<profile>-<tag>/``.

``figures/<profile>/`` is the reproduction: REPORT.md is built from it. Only a run of the registered profile
that ``python -m fairlib reproduce`` (or ``python -m fairlib run NN``) started writes there: they set
``FAIRLIB_REPRODUCTION=1`` for the kernels they start. Every other run (JupyterLab, the papermill CLI, a
non-default parameter, a ``tag``) writes to ``figures/<profile>-<tag>/``. A notebook decides this once, in the
cell that builds its configuration (:func:`use_outputs`); its ``save_figure(..., profile=profile)`` calls are
then routed there.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import math
import os
import platform
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from . import paths

__all__ = [
    "atomic_write", "save_figure", "save_table", "write_results", "read_results", "package_versions",
    "git_commit", "to_jsonable", "paper_vs_reproduced", "TRACKED_PACKAGES", "use_outputs", "output_folder",
    "derived_tag", "reset_outputs", "REPRODUCTION_ENV", "SCRATCH_TAG",
]

#: Set to ``1`` by ``python -m fairlib reproduce`` / ``run`` for the processes that write the reproduction.
REPRODUCTION_ENV = "FAIRLIB_REPRODUCTION"
#: Tag of a run with the profile's own values started outside ``reproduce`` (JupyterLab, papermill CLI).
SCRATCH_TAG = "scratch"
_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# profile name -> {"folder", "tag", "parameters", "overrides"}: where this process writes (set by use_outputs).
_OUTPUTS: dict[str, dict] = {}

TRACKED_PACKAGES = ("torch", "transformers", "peft", "accelerate", "fairlearn", "scikit-learn", "numpy",
                    "pandas", "matplotlib", "papermill", "safetensors", "timm")


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and move the result onto ``path`` in one rename.

    An interrupted run leaves either the old file or the new one, never half of one.
    """
    path = Path(path)
    if int(os.environ.get("RANK", "0")) != 0:
        # Under `accelerate launch` every process runs the same code; one writer is enough.
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        # mkstemp creates the file private (0600); the output should get the mode any new file would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _plain(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "-".join(_plain(v) for v in value)
    if isinstance(value, dict):
        return "-".join(f"{k}-{_plain(v)}" for k, v in value.items())
    if isinstance(value, float):
        value = f"{value:g}"
    return re.sub(r"[^A-Za-z0-9.]+", "-", str(value)).strip("-")


def derived_tag(overrides: dict) -> str:
    """A folder tag naming the overridden fields and values in alphabetical order, e.g. ``"epochs-1_seeds-0-1"``.

    A field given at the top and repeated in a section with the same value (``seeds``) is named once; a tag
    longer than 64 characters becomes ``"params-<10 hex digits of its parameters' hash>"``. No overrides:
    :data:`SCRATCH_TAG`.
    """
    import hashlib

    parts: dict[str, Any] = {}

    def walk(d: dict) -> None:
        for name, value in d.items():
            if isinstance(value, dict):  # a section of the profile (or a nested dataclass): its fields
                walk(value)
            elif parts.get(name, value) == value:
                parts[name] = value
            else:  # the same field name with another value in another section
                parts[f"{name}.{len(parts)}"] = value

    walk(dict(overrides))
    if not parts:
        return SCRATCH_TAG
    tag = "_".join(f"{name.split('.')[0]}-{_plain(value)}" for name, value in sorted(parts.items()))
    if len(tag) > 64 or not _TAG.match(tag):
        digest = hashlib.sha256(json.dumps(to_jsonable(overrides), sort_keys=True).encode()).hexdigest()[:10]
        tag = f"params-{digest}"
    return tag


def output_folder(profile: Any, *, tag: str | None = None, reproduction: bool | None = None) -> str:
    """The folder name under ``figures/`` that a run of ``profile`` writes to.

    Parameters
    ----------
    profile : fairlib.config.Profile
        With its overrides (``get_profile(name, **overrides)``).
    tag : str, optional
        Letters, digits, ``.``, ``_``, ``-`` (at most 64): the run writes to ``<profile>-<tag>``.
    reproduction : bool, optional
        Whether this process writes the reproduction; default: ``FAIRLIB_REPRODUCTION=1`` in the environment.

    Returns
    -------
    str
        ``profile.name`` only for the reproduction of the registered profile without a tag; otherwise
        ``"<profile>-<tag>"``, the tag given or :func:`derived_tag` of the overrides (``scratch`` if none).

    Raises
    ------
    ValueError
        A tag that is not a plain folder name (the message names it and the allowed characters).
    """
    from .config import overrides_of

    if tag is not None and (not isinstance(tag, str) or not _TAG.match(tag)):
        raise ValueError(f"tag = {tag!r} is invalid: 1-64 letters, digits, '.', '_' or '-', starting with a letter "
                         f"or digit")
    if reproduction is None:
        reproduction = os.environ.get(REPRODUCTION_ENV, "") == "1"
    overrides = overrides_of(profile)
    if tag is None and not overrides and reproduction:
        return profile.name
    return f"{profile.name}-{tag if tag is not None else derived_tag(overrides)}"


def use_outputs(profile: Any, *, tag: str | None = None, parameters: dict | None = None) -> Path:
    """Decide, once per process, where this notebook's figures, tables and results JSON go.

    After this, ``save_figure(..., profile=profile.name)``, ``save_table`` and ``write_results`` write to
    ``figures/<output_folder(profile, tag=tag)>/``, and the results JSON records ``parameters`` (the notebook's
    parameters cell, every value as given: ``None`` = the profile's value), the overrides and the folder.

    Returns
    -------
    pathlib.Path
        The folder (created).
    """
    from .config import overrides_of, thaw

    folder = output_folder(profile, tag=tag)
    _OUTPUTS[profile.name] = {"folder": folder, "tag": tag, "parameters": to_jsonable(dict(parameters or {})),
                              "overrides": to_jsonable(thaw(overrides_of(profile)))}
    return paths.figures_dir(folder)


def reset_outputs() -> None:
    """Forget :func:`use_outputs` (every profile writes to ``figures/<profile>/`` again)."""
    _OUTPUTS.clear()


def _folder(profile: str) -> str:
    return _OUTPUTS[profile]["folder"] if profile in _OUTPUTS else profile


def _output_path(profile: str, name: str, suffix: str) -> Path:
    if not name or "/" in name or name.endswith(suffix):
        raise ValueError(f"output name {name!r} must be a bare name such as '04_fig1_pca' (no folder, no suffix)")
    return paths.figures_dir(_folder(profile)) / f"{name}{suffix}"


def save_figure(fig: Any, name: str, *, profile: str, dpi: int = 150) -> list[Path]:
    """Save a matplotlib figure as ``figures/<profile>/<name>.png`` and ``.pdf``.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    name : str
        ``NN_<what>``, e.g. ``"04_fig3_fisher"``.
    profile : str
        Profile name; keeps smoke outputs away from full ones.
    dpi : int
        Resolution of the PNG.

    Returns
    -------
    list of pathlib.Path
    """
    written = []
    for suffix in (".png", ".pdf"):
        target = _output_path(profile, name, suffix)
        written.append(atomic_write(target, lambda tmp, s=suffix: fig.savefig(
            tmp, format=s[1:], dpi=dpi, bbox_inches="tight", metadata=_figure_metadata(s))))
    return written


def _figure_metadata(suffix: str) -> dict:
    # Fixed metadata keeps re-runs byte-identical (matplotlib would stamp the creation date otherwise).
    return {"CreationDate": None} if suffix == ".pdf" else {"Software": None}


def save_table(table: Any, name: str, *, profile: str, float_format: str = "{:.4g}") -> list[Path]:
    """Save a pandas DataFrame as ``figures/<profile>/<name>.csv`` and ``.md``.

    Returns
    -------
    list of pathlib.Path
    """
    csv_path = atomic_write(_output_path(profile, name, ".csv"), lambda tmp: table.to_csv(tmp, index=True))

    def markdown(tmp: Path) -> None:
        shown = table.map(lambda v: float_format.format(v) if isinstance(v, float) else v)
        tmp.write_text(_markdown(shown) + "\n", encoding="utf-8")

    md_path = atomic_write(_output_path(profile, name, ".md"), markdown)
    return [csv_path, md_path]


def _markdown(frame: Any) -> str:
    # A small writer instead of DataFrame.to_markdown, which needs the optional `tabulate` package.
    index_name = frame.index.name or ""
    header = [str(index_name)] + [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for idx, row in frame.iterrows():
        lines.append("| " + " | ".join([str(idx)] + [str(v) for v in row.tolist()]) + " |")
    return "\n".join(lines)


def to_jsonable(value: Any) -> Any:
    """Convert numpy/torch scalars and arrays, dataclasses, paths and NaN into plain JSON values.

    NaN and infinities become ``None`` so that the JSON stays standard (and NaN means "undefined", see
    :mod:`fairlib.metrics`).
    """
    import dataclasses
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if hasattr(value, "detach") and hasattr(value, "tolist"):
        return to_jsonable(value.detach().cpu().tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, str):
        return value
    if hasattr(value, "to_dict"):
        return to_jsonable(value.to_dict())
    raise TypeError(f"cannot store {type(value).__name__} in a results JSON: {value!r}")


def package_versions(names: Iterable[str] = TRACKED_PACKAGES) -> dict[str, str | None]:
    """Installed version of each package (None where it is not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit() -> str | None:
    """The repository's HEAD commit, with ``+dirty`` when the working tree has uncommitted changes."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=paths.ROOT, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=paths.ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("+dirty" if dirty else "")


def results_path(notebook: str, *, profile: str) -> Path:
    """Path of ``figures/<profile>/<notebook>_results.json`` (``notebook`` is the two-digit number), or of the
    folder :func:`use_outputs` chose in this process."""
    if not (len(notebook) == 2 and notebook.isdigit()):
        raise ValueError(f"notebook must be its two-digit number such as '04', got {notebook!r}")
    return paths.figures_dir(_folder(profile)) / f"{notebook}_results.json"


def write_results(notebook: str, *, profile: str, metrics: dict, config: Any, claims: list | None = None) -> Path:
    """Write the one results JSON of a notebook: metrics, config, package versions, git commit.

    Parameters
    ----------
    notebook : str
        Two-digit number, e.g. ``"04"``.
    profile : str
    metrics : dict
        Every number the notebook reports (tables as nested dicts); NaN is stored as null.
    config : dataclass or dict
        The profile and parameters the run used.
    claims : list of dict, optional
        Paper-vs-reproduced rows (see :func:`paper_vs_reproduced`), read by the reproduction report.

    Notes
    -----
    After :func:`use_outputs`, the JSON also records ``parameters`` (every parameter of the notebook's
    parameters cell), ``overrides`` (the profile fields they changed) and ``output_folder``.

    Returns
    -------
    pathlib.Path
    """
    payload = {
        "notebook": notebook,
        "profile": profile,
        "metrics": to_jsonable(metrics),
        "claims": to_jsonable(claims or []),
        "config": to_jsonable(config),
        **({"parameters": _OUTPUTS[profile]["parameters"], "overrides": _OUTPUTS[profile]["overrides"],
            "output_folder": _OUTPUTS[profile]["folder"]} if profile in _OUTPUTS else {}),
        "versions": package_versions(),
        "git_commit": git_commit(),
        "written_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    text = json.dumps(payload, indent=2, sort_keys=False, allow_nan=False) + "\n"
    return atomic_write(results_path(notebook, profile=profile), lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_results(notebook: str, *, profile: str) -> dict | None:
    """The results JSON of a notebook, or None if that notebook has not run at this profile."""
    path = results_path(notebook, profile=profile)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def paper_vs_reproduced(rows: list[dict], *, profile: str) -> Any:
    """Table of the paper's numbers against ours, with the difference in units of the pooled std.

    Parameters
    ----------
    rows : list of dict
        Each with ``claim`` (what is compared), ``paper`` and ``ours`` (means; None where not run),
        optionally ``paper_std`` and ``ours_std``, and ``verdict`` or ``holds`` (bool) for qualitative claims.
    profile : str
        Named in a column, so that a smoke number is never read as the paper's.

    Returns
    -------
    pandas.DataFrame
        Columns claim, paper, ours, difference, difference_in_pooled_std, verdict, profile.
    """
    import pandas as pd

    records = []
    for row in rows:
        paper, ours = row.get("paper"), row.get("ours")
        diff = pooled = None
        if isinstance(paper, (int, float)) and isinstance(ours, (int, float)):
            diff = ours - paper
            stds = [v for v in (row.get("paper_std"), row.get("ours_std")) if isinstance(v, (int, float))]
            if stds:
                spread = math.sqrt(sum(v * v for v in stds) / len(stds))
                pooled = diff / spread if spread > 0 else None
        verdict = row.get("verdict")
        if verdict is None and "holds" in row:
            verdict = "reproduced" if row["holds"] else "not reproduced"
        if verdict is None:
            verdict = "not run at this profile" if ours is None else "compared"
        records.append({"claim": row["claim"], "paper": paper, "ours": ours, "difference": diff,
                        "difference_in_pooled_std": pooled, "verdict": verdict, "profile": profile})
    return pd.DataFrame.from_records(records).set_index("claim")
