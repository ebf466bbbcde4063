"""Finished runs, stored under a key derived from their configuration and the code, so a re-run reuses them.

What a run's key covers
-----------------------
:func:`run_key` hashes the run's configuration together with :func:`code_fingerprint` (the source of every
fairlib module that can change a result) and :func:`library_versions` (torch, transformers, peft). Editing a
method, a metric or a loader, or upgrading one of those libraries, therefore gives every run a new key: it is
trained again, and the old folder becomes "stale" (``python -m fairlib cache ls`` shows it, ``cache clean
--stale`` removes it).

The fingerprint rule lives here, in one place: every ``*.py`` file under the ``fairlib`` package, except the
presentation-only modules in :data:`PRESENTATION_ONLY` (command line, notebook runner, plan printing, report
building, cache command, file locations), which cannot change a stored number.

What makes a stored run trusted
-------------------------------
A run folder holds ``spec.json`` (configuration, fingerprint, versions), ``manifest.json`` (which tensors were
saved, their dtypes and shapes, the weights file's size and sha256, and the run's wall seconds) and
``metrics.json``, written last: a folder without it is an interrupted run and is simply trained again. A folder whose files are unreadable, truncated or
disagree with the manifest is *damaged*: :meth:`RunStore.run` warns (naming the folder), moves it aside to
``<key>.damaged`` and trains again.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import struct
import time
import warnings
from importlib import metadata
from pathlib import Path
from typing import Callable

import torch

from .. import paths
from ..report import atomic_write, to_jsonable

__all__ = ["RunStore", "run_key", "code_fingerprint", "library_versions", "check_run_folder", "PRESENTATION_ONLY",
           "DamagedRun"]

#: fairlib modules (paths relative to the package) left out of :func:`code_fingerprint`: they only launch,
#: locate or present results and cannot change a stored number.
PRESENTATION_ONLY: frozenset[str] = frozenset({
    "__main__.py", "_reproduce.py", "_run_script.py", "_plan.py", "_report_builder.py", "_cache_cli.py",
    "paths.py",
})

#: Libraries whose version is part of every run key.
KEYED_LIBRARIES: tuple[str, ...] = ("torch", "transformers", "peft")

_PACKAGE = Path(__file__).resolve().parent.parent


@functools.lru_cache(maxsize=None)
def code_fingerprint() -> str:
    """sha256 (hex) over the path and source of every result-relevant fairlib module; computed once per process."""
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*.py")):
        relative = path.relative_to(_PACKAGE).as_posix()
        if relative in PRESENTATION_ONLY or "__pycache__" in path.parts:
            continue
        digest.update(relative.encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


@functools.lru_cache(maxsize=None)
def library_versions() -> dict[str, str]:
    """Installed versions of the libraries in :data:`KEYED_LIBRARIES` (``"absent"`` when not installed)."""
    versions = {}
    for name in KEYED_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def run_key(spec: dict) -> str:
    """A stable 16-hex-digit key of a run's configuration, the code fingerprint and the library versions.

    Dict order does not matter. See the module notes for what the fingerprint covers.
    """
    keyed = {"spec": to_jsonable(spec), "code": code_fingerprint(), "versions": library_versions()}
    canonical = json.dumps(keyed, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class DamagedRun(Exception):
    """A run folder whose files cannot be trusted (the message says why)."""


def _safetensors_header(path: Path) -> dict:
    """The JSON header of a safetensors file, checked against the file size, without reading the tensors."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise DamagedRun(f"{path.name} is {size} bytes, shorter than a safetensors header")
        (length,) = struct.unpack("<Q", head)
        if length > size - 8:
            raise DamagedRun(f"{path.name}: header length {length} exceeds the file size {size}")
        try:
            header = json.loads(f.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise DamagedRun(f"{path.name}: unreadable header ({error})") from None
    if not isinstance(header, dict):
        raise DamagedRun(f"{path.name}: the header is not a JSON object")
    header.pop("__metadata__", None)
    try:
        end = max((int(v["data_offsets"][1]) for v in header.values()), default=0)
    except (KeyError, TypeError, ValueError, IndexError):
        raise DamagedRun(f"{path.name}: malformed tensor entries in the header") from None
    if 8 + length + end != size:
        raise DamagedRun(f"{path.name} is {size} bytes; its header describes {8 + length + end}")
    return header


def _describe(header: dict) -> dict[str, dict]:
    return {name: {"dtype": entry["dtype"], "shape": list(entry["shape"])} for name, entry in sorted(header.items())}


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DamagedRun(f"{path.name} is missing") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DamagedRun(f"{path.name} is not valid JSON ({error})") from None


def check_run_folder(folder: str | Path) -> dict:
    """Check a finished run folder without loading its tensors; return its manifest.

    Raises
    ------
    DamagedRun
        When ``spec.json``, ``manifest.json`` or ``metrics.json`` is unreadable, or the weights file is missing,
        unexpected, truncated, or holds other tensor names, dtypes, shapes or size than the manifest records.
        (The sha256 of the weights is checked by :meth:`RunStore.load`, which reads the file anyway.)
    """
    folder = Path(folder)
    spec = _read_json(folder / "spec.json")
    if not isinstance(spec, dict) or "code_fingerprint" not in spec:
        raise DamagedRun("spec.json does not record the configuration and code fingerprint")
    manifest = _read_json(folder / "manifest.json")
    if not isinstance(manifest, dict) or "weights" not in manifest:
        raise DamagedRun("manifest.json does not say which weights were saved")
    if not isinstance(_read_json(folder / "metrics.json"), dict):
        raise DamagedRun("metrics.json does not hold a JSON object")
    weights_path = folder / "weights.safetensors"
    expected = manifest["weights"]
    if expected is None:
        if weights_path.exists():
            raise DamagedRun("weights.safetensors exists but the manifest records no weights")
        return manifest
    if not weights_path.exists():
        raise DamagedRun("weights.safetensors is missing, but the manifest records saved weights")
    size = weights_path.stat().st_size
    if size != expected["bytes"]:
        raise DamagedRun(f"weights.safetensors is {size} bytes; the manifest records {expected['bytes']}")
    found = _describe(_safetensors_header(weights_path))
    if found != expected["tensors"]:
        diff = sorted(set(found) ^ set(expected["tensors"])) or [
            k for k in found if found[k] != expected["tensors"][k]]
        raise DamagedRun(f"weights.safetensors holds other tensors than the manifest records (differing: {diff[:5]})")
    return manifest


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


_PROCESS_STARTED = time.time()


def forced_before() -> float | None:
    """The cut-off of ``FAIRLIB_FORCE``: runs stored before this time are trained again (None: no cut-off).

    ``FAIRLIB_FORCE`` holds a time (seconds since the epoch, as ``reproduce --force`` sets it once for the
    executor's workers and every notebook kernel, so a run retrained by one of them is reused by the others),
    or ``1`` for "when this process started"; unset, empty or ``0`` means no cut-off.
    """
    value = os.environ.get("FAIRLIB_FORCE", "").strip()
    if value in ("", "0"):
        return None
    if value == "1":
        return _PROCESS_STARTED
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"FAIRLIB_FORCE={value!r}: expected 0, 1 or a time in seconds since the epoch") from None


class RunStore:
    """One folder per finished run: ``spec.json``, ``manifest.json``, ``weights.safetensors``, ``metrics.json``.

    Parameters
    ----------
    namespace : str
        Usually the notebook and profile (``"04-smoke"``), so that profiles never share runs.
    root : path, optional
        Default ``CACHE/runs/<namespace>``.

    Notes
    -----
    The metrics file is written last, so a folder without it (an interrupted run) counts as not finished.
    A damaged folder (see :func:`check_run_folder`) is moved aside with a warning and the run trained again.
    With the environment variable ``FAIRLIB_FORCE`` (see :func:`forced_before`; ``reproduce --force``)
    :meth:`run` and :meth:`contains` ignore every run stored before the cut-off time it names.
    """

    def __init__(self, namespace: str, *, root: str | Path | None = None):
        self.root = Path(root) if root is not None else paths.CACHE / "runs" / namespace

    def folder(self, spec: dict) -> Path:
        return self.root / run_key(spec)

    def contains(self, spec: dict) -> bool:
        """True when a complete and intact run is stored for ``spec`` (checked without loading its tensors)."""
        folder = self.folder(spec)
        if not (folder / "metrics.json").exists() or self._older_than_cutoff(spec):
            return False
        try:
            check_run_folder(folder)
        except DamagedRun:
            return False
        return True

    def _older_than_cutoff(self, spec: dict) -> bool:
        cutoff = forced_before()
        if cutoff is None:
            return False
        try:
            return (self.folder(spec) / "metrics.json").stat().st_mtime < cutoff
        except FileNotFoundError:
            return False

    def _set_aside(self, folder: Path, reason: str) -> None:
        aside = folder.with_name(folder.name + ".damaged")
        if _is_main_process():
            if aside.exists():
                shutil.rmtree(aside)
            folder.rename(aside)
            where = f"moved to {aside}"
        else:
            where = "left for the main process to move aside"
        warnings.warn(f"damaged stored run {folder}: {reason}; {where}, training it again", stacklevel=3)

    def load(self, spec: dict) -> tuple[dict, dict[str, torch.Tensor]] | None:
        """``(metrics, tensors)`` of a finished, intact run with this spec, or None.

        A damaged run folder is moved aside with a warning naming it, and None is returned.
        """
        folder = self.folder(spec)
        if not (folder / "metrics.json").exists():
            return None
        try:
            manifest = check_run_folder(folder)
            tensors = {}
            if manifest["weights"] is not None:
                from safetensors import SafetensorError
                from safetensors.torch import load as load_bytes

                data = (folder / "weights.safetensors").read_bytes()
                if hashlib.sha256(data).hexdigest() != manifest["weights"]["sha256"]:
                    raise DamagedRun("weights.safetensors does not match the sha256 the manifest records")
                try:
                    tensors = load_bytes(data)
                except SafetensorError as error:
                    raise DamagedRun(f"weights.safetensors: {error}") from None
            metrics = _read_json(folder / "metrics.json")
        except DamagedRun as error:
            self._set_aside(folder, str(error))
            return None
        return metrics, tensors

    def save(self, spec: dict, *, metrics: dict, tensors: dict[str, torch.Tensor] | None = None,
             seconds: float | None = None) -> Path:
        """Store a run. ``seconds``: its whole wall time (training, evaluation, everything ``run`` timed), kept in
        ``manifest.json`` so that where a grid's time went can be read from the store (``bench/pool_costs.py``)."""
        from safetensors.torch import save_file

        folder = self.folder(spec)
        if not _is_main_process():  # under `accelerate launch` only the main process writes
            return folder
        # Remove an earlier (interrupted or forced) run first so that no file of it can mix with this one.
        if folder.exists():
            shutil.rmtree(folder)
        record = {"spec": to_jsonable(spec), "code_fingerprint": code_fingerprint(), "versions": library_versions()}
        atomic_write(folder / "spec.json", lambda t: t.write_text(json.dumps(record, indent=1)))
        weights = None
        if tensors:
            contiguous = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
            atomic_write(folder / "weights.safetensors", lambda t: save_file(contiguous, str(t)))
            path = folder / "weights.safetensors"
            weights = {"bytes": path.stat().st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                       "tensors": _describe(_safetensors_header(path))}
        manifest = {"weights": weights, **({"seconds": round(float(seconds), 3)} if seconds is not None else {})}
        atomic_write(folder / "manifest.json", lambda t: t.write_text(json.dumps(manifest, indent=1)))
        atomic_write(folder / "metrics.json", lambda t: t.write_text(json.dumps(to_jsonable(metrics), indent=1)))
        return folder

    def run(self, spec: dict, train_and_evaluate: Callable[[], tuple[dict, dict[str, torch.Tensor] | None]], *,
            force: bool = False) -> tuple[dict, dict[str, torch.Tensor]]:
        """Return the stored run for ``spec``, or call ``train_and_evaluate()`` and store what it returns.

        Parameters
        ----------
        spec : dict
            Everything that determines the run (method, seed, hyper-parameters, data, backbone).
        train_and_evaluate : callable
            Returns ``(metrics, tensors)``; tensors are the trained adapter or head (may be None).
        force : bool
            Ignore a stored run and train again. ``FAIRLIB_FORCE`` in the environment does the same for
            runs stored before its cut-off (:func:`forced_before`).
        """
        if not (force or self._older_than_cutoff(spec)):
            stored = self.load(spec)
            if stored is not None:
                return stored
        start = time.perf_counter()
        metrics, tensors = train_and_evaluate()
        self.save(spec, metrics=metrics, tensors=tensors, seconds=time.perf_counter() - start)
        stored = self.load(spec) if _is_main_process() else None
        if stored is None:  # a non-main process under `accelerate launch`: only rank 0 writes
            return to_jsonable(metrics), {k: v.detach().cpu() for k, v in (tensors or {}).items()}
        # Return what a later reuse would return, so a fresh and a reused run look exactly alike.
        return stored
