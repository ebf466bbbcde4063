"""What a profile needs before it runs: datasets, checkpoints, and the runs it will do (``--dry-run``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["Requirement", "PlannedRuns", "check_requirement", "format_plan"]


@dataclass(frozen=True)
class Requirement:
    """A dataset folder/file or a model checkpoint that a notebook needs at some profile.

    Parameters
    ----------
    kind : {"dataset", "checkpoint"}
    name : str
        Dataset name or hub id.
    location : str
        For a dataset, the path that must exist (a file inside the dataset's folder); for a checkpoint, a hub
        id or a local directory.
    how_to_get : str
        Where to get it, shown when it is missing.
    """

    kind: str
    name: str
    location: str
    how_to_get: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("dataset", "checkpoint"):
            raise ValueError(f"kind={self.kind!r}; valid choices: ('dataset', 'checkpoint')")


@dataclass(frozen=True)
class PlannedRuns:
    """One block of training runs: ``methods x seeds x configs`` runs of ``gpu_hours_each``."""

    notebook: str
    what: str
    methods: int
    seeds: int
    configs: int
    gpu_hours_each: float

    @property
    def runs(self) -> int:
        return self.methods * self.seeds * self.configs

    @property
    def gpu_hours(self) -> float:
        return self.runs * self.gpu_hours_each


def check_requirement(requirement: Requirement) -> bool:
    """True if the dataset path exists, or the checkpoint is a local directory or in the HF cache."""
    if requirement.kind == "dataset":
        return Path(requirement.location).exists()
    local = Path(requirement.location).expanduser()
    if local.is_dir():
        return (local / "config.json").exists()
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(requirement.location, "config.json"), str)


def format_plan(requirements: dict[str, list[Requirement]], plans: dict[str, list[PlannedRuns]]) -> tuple[str, int]:
    """Text of the dry run and the number of missing requirements."""
    lines, missing = [], 0
    for notebook in sorted(set(requirements) | set(plans)):
        lines.append(f"Notebook {notebook}")
        for req in requirements.get(notebook, []):
            ok = check_requirement(req)
            missing += not ok
            status = "ok     " if ok else "MISSING"
            hint = "" if ok else f"\n        get it: {req.how_to_get}" if req.how_to_get else ""
            lines.append(f"  [{status}] {req.kind:10s} {req.name}: {req.location}{hint}")
        total_runs = total_hours = 0.0
        for block in plans.get(notebook, []):
            lines.append(f"  plan: {block.what}: {block.methods} methods x {block.seeds} seeds x {block.configs} "
                         f"configs = {block.runs} runs, ~{block.gpu_hours:.1f} GPU-h")
            total_runs += block.runs
            total_hours += block.gpu_hours
        if plans.get(notebook):
            lines.append(f"  total: {int(total_runs)} runs, ~{total_hours:.1f} GPU-hours (estimate)")
    lines.append(f"{missing} requirement(s) missing." if missing else "Everything needed is present.")
    return "\n".join(lines), missing
