"""Finished runs, stored under a key derived from their configuration, so a re-run reuses them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable

import torch

from .. import paths
from ..report import atomic_write, to_jsonable

__all__ = ["RunStore", "run_key"]


def run_key(spec: dict) -> str:
    """A stable 16-hex-digit key of a run's full configuration (dict order does not matter)."""
    canonical = json.dumps(to_jsonable(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class RunStore:
    """One folder per finished run: ``spec.json``, ``metrics.json`` and ``weights.safetensors``.

    Parameters
    ----------
    namespace : str
        Usually the notebook and profile (``"04-smoke"``), so that profiles never share runs.
    root : path, optional
        Default ``CACHE/runs``.

    Notes
    -----
    The metrics file is written last, so a folder without it (an interrupted run) counts as not finished.
    """

    def __init__(self, namespace: str, *, root: str | Path | None = None):
        self.root = Path(root) if root is not None else paths.CACHE / "runs" / namespace

    def folder(self, spec: dict) -> Path:
        return self.root / run_key(spec)

    def load(self, spec: dict) -> tuple[dict, dict[str, torch.Tensor]] | None:
        """``(metrics, tensors)`` of a finished run with this spec, or None."""
        folder = self.folder(spec)
        if not (folder / "metrics.json").exists():
            return None
        from safetensors.torch import load_file

        tensors = load_file(folder / "weights.safetensors") if (folder / "weights.safetensors").exists() else {}
        return json.loads((folder / "metrics.json").read_text()), tensors

    def save(self, spec: dict, *, metrics: dict, tensors: dict[str, torch.Tensor] | None = None) -> Path:
        from safetensors.torch import save_file

        folder = self.folder(spec)
        atomic_write(folder / "spec.json", lambda t: t.write_text(json.dumps(to_jsonable(spec), indent=1)))
        if tensors:
            contiguous = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
            atomic_write(folder / "weights.safetensors", lambda t: save_file(contiguous, str(t)))
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
            Ignore a stored run and train again.
        """
        if not force:
            stored = self.load(spec)
            if stored is not None:
                return stored
        metrics, tensors = train_and_evaluate()
        self.save(spec, metrics=metrics, tensors=tensors)
        stored = self.load(spec)
        if stored is None:  # a non-main process under `accelerate launch`: only rank 0 writes
            return to_jsonable(metrics), {k: v.detach().cpu() for k, v in (tensors or {}).items()}
        # Return what a later reuse would return, so a fresh and a reused run look exactly alike.
        return stored
