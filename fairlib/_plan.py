"""What a profile needs before it runs: datasets, checkpoints, and the runs it will do (``--dry-run``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Requirement", "PlannedRuns", "PlannedJobs", "plan_from_jobs", "check_requirement", "missing_reason",
           "require_section", "format_plan"]


@dataclass(frozen=True)
class Requirement:
    """A dataset folder/file or a model checkpoint that a notebook needs at some profile.

    Parameters
    ----------
    kind : {"dataset", "checkpoint"}
    name : str
        Dataset name or hub id.
    location : str
        For a dataset, its folder (datasets fairlib has a loader for are checked file by file, as the loader
        would; any other dataset by the existence of this path); for a checkpoint, a hub id or a local
        directory.
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

    def describe(self) -> str:
        return (f"{self.what}: {self.methods} methods x {self.seeds} seeds x {self.configs} configs = {self.runs} "
                f"runs, ~{self.gpu_hours:.1f} GPU-h")


@dataclass(frozen=True)
class PlannedJobs:
    """One method's runs in a notebook's declared grid (``jobs(profile)``), counted rather than estimated.

    Parameters
    ----------
    notebook : str
    what : str
        The method.
    runs : int
        Distinct runs (by run key).
    seeds : int
        Distinct seeds among them.
    gpu_hours : float
        Sum of the runs' ``gpu_hours``.
    """

    notebook: str
    what: str
    runs: int
    seeds: int
    gpu_hours: float

    def describe(self) -> str:
        return f"{self.what}: {self.runs} runs over {self.seeds} seed(s), ~{self.gpu_hours:.1f} GPU-h"


def plan_from_jobs(jobs: list) -> dict[str, list[PlannedJobs]]:
    """The dry run's plan of a declared grid: per notebook, one block per method (in order of appearance).

    Parameters
    ----------
    jobs : list of fairlib.experiments.RunSpec
        Runs listed twice (same key) count once. A block is a method, or what the notebook's experiment module
        names it with its optional ``plan_label(spec)`` (notebook 01: its LiRA runs, by backbone and recipe).

    Returns
    -------
    dict
        Notebook -> list of :class:`PlannedJobs`.
    """
    seen: set[str] = set()
    blocks: dict[tuple[str, str], list] = {}
    labels: dict[str, Any] = {}
    for spec in jobs:
        if spec.key in seen:
            continue
        seen.add(spec.key)
        if spec.notebook not in labels:
            labels[spec.notebook] = _plan_label(spec.notebook)
        label = labels[spec.notebook]
        blocks.setdefault((spec.notebook, label(spec) if label else spec.method), []).append(spec)
    plans: dict[str, list[PlannedJobs]] = {}
    for (notebook, method), specs in blocks.items():
        plans.setdefault(notebook, []).append(PlannedJobs(
            notebook=notebook, what=method, runs=len(specs), seeds=len({s.seed for s in specs}),
            gpu_hours=sum(s.gpu_hours for s in specs)))
    return plans


def _plan_label(notebook: str) -> Any:
    """The ``plan_label`` of a registered notebook's experiment module, or None."""
    from .experiments import EXPERIMENTS

    if notebook not in EXPERIMENTS:
        return None
    import importlib

    return getattr(importlib.import_module(EXPERIMENTS[notebook]), "plan_label", None)


def check_requirement(requirement: Requirement) -> bool:
    """True if the dataset is complete and readable, or the checkpoint is local or in the HF cache."""
    return missing_reason(requirement) is None


def missing_reason(requirement: Requirement) -> str | None:
    """None if the requirement is met, else what exactly is wrong.

    A dataset fairlib has a loader for is read as the loader reads it and every image is decoded
    (:func:`fairlib.data.check_dataset`): the reason names the first file the loader would miss, the line of a
    table that does not follow the format, or the images that are absent or cannot be decoded, with counts.
    """
    if requirement.kind == "dataset":
        from .data import DATASET_LOCATORS, MissingDataError, check_dataset

        if requirement.name in DATASET_LOCATORS:
            try:
                problems = check_dataset(requirement.name, requirement.location)
            except MissingDataError as error:
                return f"missing {error.path}"
            except ValueError as error:  # DataFormatError, or a default task the data cannot give
                return f"cannot be read: {error}"
            return "; ".join(problems) or None
        return None if Path(requirement.location).exists() else f"missing {requirement.location}"
    local = Path(requirement.location).expanduser()
    if local.is_dir():
        return None if (local / "config.json").exists() else f"no config.json in {local}"
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(requirement.location, "config.json"), str):
        return None
    return "neither a local directory nor in the Hugging Face cache"


def require_section(profile: Any, section: str, *, readers: str = "") -> None:
    """Fail fast, before any training, when a notebook's datasets or checkpoints are missing at ``profile``.

    Parameters
    ----------
    profile : fairlib.config.Profile
    section : str
        The profile's field holding the notebook's configuration (``"fisher"``, ``"privacy"``, ...).
    readers : str
        A sentence naming the loaders that read the datasets, appended to the message.

    Raises
    ------
    FileNotFoundError
        Naming every missing dataset or checkpoint, what exactly is missing and how to get it.
    """
    config = getattr(profile, section)
    # Each requirement is checked once: a dataset's check reads its tables and decodes every image.
    reasons = [(r, missing_reason(r)) for r in config.requirements(profile)]
    missing = [(r, reason) for r, reason in reasons if reason is not None]
    if missing:
        lines = [f"  - {r.kind} {r.name!r} at {r.location}: {reason} (get it: {r.how_to_get})"
                 for r, reason in missing]
        raise FileNotFoundError(f"notebook {config.notebook} at profile {profile.name!r} needs what is missing "
                                f"here:\n" + "\n".join(lines) + (f"\n{readers}" if readers else ""))


def format_plan(requirements: dict[str, list[Requirement]],
                plans: dict[str, list[PlannedRuns | PlannedJobs]]) -> tuple[str, int]:
    """Text of the dry run and the number of missing requirements."""
    lines, missing = [], 0
    for notebook in sorted(set(requirements) | set(plans)):
        lines.append(f"Notebook {notebook}")
        for req in requirements.get(notebook, []):
            reason = missing_reason(req)
            missing += reason is not None
            status = "ok     " if reason is None else "MISSING"
            hint = "" if reason is None else f"\n        {reason}" + (f"\n        get it: {req.how_to_get}"
                                                                       if req.how_to_get else "")
            lines.append(f"  [{status}] {req.kind:10s} {req.name}: {req.location}{hint}")
        total_runs = total_hours = 0.0
        for block in plans.get(notebook, []):
            lines.append(f"  plan: {block.describe()}")
            total_runs += block.runs
            total_hours += block.gpu_hours
        if plans.get(notebook):
            lines.append(f"  total: {int(total_runs)} runs, ~{total_hours:.1f} GPU-hours (estimate)")
    lines.append(f"{missing} requirement(s) missing." if missing else "Everything needed is present.")
    return "\n".join(lines), missing
