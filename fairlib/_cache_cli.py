"""``python -m fairlib cache ls|clean [--profile P] [--only NN ...] [--stale]``: inspect and prune stored runs.

Stored runs live under ``CACHE/runs/<NN>-<profile>/<key>/`` (one :class:`fairlib.train.RunStore` per notebook and
profile); the stand-in backbones under ``CACHE/tiny_vit/<key>/`` are shared by every notebook and profile and are
listed (and cleaned) only when neither ``--profile`` nor ``--only`` is given. Each entry is one of

``ok``       complete, intact, trained by the current code and library versions;
``stale``    intact, but its recorded code fingerprint or library versions are not the current ones (its key can
             never be asked for again);
``damaged``  unreadable or inconsistent files, or a folder already moved aside as ``<key>.damaged``;
``partial``  an interrupted run (no ``metrics.json``).

``cache clean`` removes every selected entry; with ``--stale`` only the stale, damaged and partial ones. It asks
nothing and prints what it removed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from . import paths
from .config import PROFILE_NAMES

__all__ = ["Entry", "scan", "add_arguments", "main"]


@dataclass(frozen=True)
class Entry:
    """One stored run folder: its namespace (``"02-smoke"`` or ``"tiny_vit"``), path, state and size in bytes."""

    namespace: str
    path: Path
    state: str
    bytes: int


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _recorded(record: dict) -> bool:
    """Whether a spec.json / pretraining.json was written by the current code and library versions."""
    from .train import code_fingerprint, library_versions  # torch is imported only when the cache is read

    return record.get("code_fingerprint") == code_fingerprint() and record.get("versions") == library_versions()


def _run_state(folder: Path) -> str:
    from .train import DamagedRun, check_run_folder

    if folder.name.endswith(".damaged"):
        return "damaged"
    if not (folder / "metrics.json").exists():
        return "partial"
    try:
        check_run_folder(folder)
    except DamagedRun:
        return "damaged"
    return "ok" if _recorded(json.loads((folder / "spec.json").read_text())) else "stale"


def _backbone_state(folder: Path) -> str:
    if folder.name.endswith(".damaged"):
        return "damaged"
    record_path = folder / "pretraining.json"
    if not record_path.exists():
        return "partial"
    try:
        record = json.loads(record_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "damaged"
    if not any(folder.glob("*.safetensors")) or not (folder / "config.json").exists():
        return "damaged"
    return "ok" if _recorded(record) else "stale"


def _selected(namespace: str, profile: str | None, only: list[str] | None) -> bool:
    number, _, name = namespace.partition("-")
    return (profile is None or name == profile) and (not only or number in only)


def scan(*, profile: str | None = None, only: list[str] | None = None, root: str | Path | None = None) -> list[Entry]:
    """Every stored entry under ``root`` (default ``CACHE``) selected by ``profile`` and ``only``, sorted."""
    root = Path(root) if root is not None else paths.CACHE
    entries = []
    runs = root / "runs"
    for namespace in sorted(p for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else []:
        if not _selected(namespace.name, profile, only):
            continue
        for folder in sorted(p for p in namespace.iterdir() if p.is_dir()):
            entries.append(Entry(namespace.name, folder, _run_state(folder), _size(folder)))
    backbones = root / "tiny_vit"
    if profile is None and not only and backbones.is_dir():
        for folder in sorted(p for p in backbones.iterdir() if p.is_dir()):
            entries.append(Entry("tiny_vit", folder, _backbone_state(folder), _size(folder)))
    return entries


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _ls(entries: list[Entry]) -> None:
    if not entries:
        print("No stored runs.")
        return
    print(f"{'namespace':<14} {'runs':>5} {'size':>10} {'stale':>6} {'damaged':>8} {'partial':>8}")
    for namespace in sorted({e.namespace for e in entries}):
        group = [e for e in entries if e.namespace == namespace]
        count = {state: sum(e.state == state for e in group) for state in ("ok", "stale", "damaged", "partial")}
        print(f"{namespace:<14} {len(group):>5} {_megabytes(sum(e.bytes for e in group)):>10} {count['stale']:>6} "
              f"{count['damaged']:>8} {count['partial']:>8}")
    for e in entries:
        if e.state in ("damaged", "partial"):
            print(f"  {e.state}: {e.path}")


def _clean(entries: list[Entry], *, stale_only: bool) -> list[Entry]:
    removed = [e for e in entries if not stale_only or e.state != "ok"]
    for e in removed:
        shutil.rmtree(e.path)
        print(f"removed {e.state} {e.path} ({_megabytes(e.bytes)})")
    print(f"Removed {len(removed)} entr{'y' if len(removed) == 1 else 'ies'}, "
          f"{_megabytes(sum(e.bytes for e in removed))}.")
    return removed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``ls`` and ``clean`` sub-commands and their options, on ``parser`` (the ``cache`` sub-command)."""
    actions = parser.add_subparsers(dest="cache_command", required=True)
    for name, text in (("ls", "list stored runs per notebook and profile: count, size, stale and damaged entries"),
                       ("clean", "remove stored runs (asks nothing; prints what it removed)")):
        action = actions.add_parser(name, help=text)
        action.add_argument("--profile", choices=PROFILE_NAMES, help="only this profile's runs")
        action.add_argument("--only", nargs="+", metavar="NN", help="only these notebooks' runs, e.g. --only 02 05")
        if name == "clean":
            action.add_argument("--stale", action="store_true",
                                help="remove only stale, damaged and interrupted entries, keep the current ones")


def main(args: argparse.Namespace, *, root: str | Path | None = None) -> int:
    """Run ``cache ls`` or ``cache clean`` with the parsed ``args``; return the exit status."""
    if args.only:
        bad = [n for n in args.only if not (len(n) == 2 and n.isdigit())]
        if bad:
            print(f"error: --only {' '.join(bad)}: notebook numbers are two digits, e.g. 02", file=sys.stderr)
            return 2
    entries = scan(profile=args.profile, only=args.only, root=root)
    if args.cache_command == "ls":
        _ls(entries)
    else:
        _clean(entries, stale_only=args.stale)
    return 0
