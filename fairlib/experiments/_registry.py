"""Which module declares each notebook's grid (:data:`EXPERIMENTS`), and collecting their jobs."""

from __future__ import annotations

import importlib
import re
from types import ModuleType

from ..config import PROFILE_NAMES, ConfigError
from ._spec import RunSpec

__all__ = ["EXPERIMENTS", "register_experiment", "experiment_module", "jobs_for"]

#: Notebook number -> importable module path. The module defines ``jobs(profile) -> list[RunSpec]`` and
#: ``run_job(spec) -> None`` (train the run unless stored, and store it). Worker processes and cluster jobs
#: import the module by this name, so it must be importable there (a module of the package, or on PYTHONPATH).
EXPERIMENTS: dict[str, str] = {
    "01": "fairlib.experiments.lora_vs_full",
    "02": "fairlib.experiments.fairlora",
    "03": "fairlib.experiments.privacy",
    "04": "fairlib.experiments.fisher",
    "05": "fairlib.experiments.benchmark",
    "06": "fairlib.experiments.peft_family",
}

_NOTEBOOK = re.compile(r"^\d\d$")


def register_experiment(notebook: str, module: str) -> None:
    """Declare that module ``module`` holds notebook ``notebook``'s grid.

    Parameters
    ----------
    notebook : str
        Two digits.
    module : str
        Dotted module path, e.g. ``"fairlib.experiments.fairlora"``.

    Raises
    ------
    ConfigError
        If ``notebook`` is not two digits or ``module`` not a dotted name.
    """
    if not isinstance(notebook, str) or not _NOTEBOOK.match(notebook):
        raise ConfigError(f"notebook = {notebook!r} is invalid: must be two digits, e.g. '02'")
    if not isinstance(module, str) or not re.match(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$", module):
        raise ConfigError(f"module = {module!r} is invalid: must be a dotted module path")
    EXPERIMENTS[notebook] = module


def experiment_module(notebook: str) -> ModuleType:
    """Import the module registered for ``notebook``, checking it defines ``jobs`` and ``run_job``.

    Raises
    ------
    ConfigError
        If no module is registered for ``notebook`` (the message lists the registered ones) or the module
        lacks ``jobs`` or ``run_job``.
    """
    if notebook not in EXPERIMENTS:
        raise ConfigError(f"notebook {notebook!r} declares no grid of jobs; notebooks with one: {sorted(EXPERIMENTS)}")
    module = importlib.import_module(EXPERIMENTS[notebook])
    missing = [name for name in ("jobs", "run_job") if not callable(getattr(module, name, None))]
    if missing:
        raise ConfigError(f"experiment module {module.__name__} (notebook {notebook}) does not define {missing}")
    return module


def jobs_for(profile: str, only: list[str] | None = None) -> list[RunSpec]:
    """The jobs of every registered notebook (or of those in ``only`` that are registered) at ``profile``.

    Notebooks in ``only`` without a registered grid contribute no jobs (they train inside their notebook).
    Jobs are in notebook order, then in the order each module lists them.

    Raises
    ------
    ConfigError
        If ``profile`` is unknown, or a module returns something other than RunSpecs of its own notebook and
        profile.
    """
    if profile not in PROFILE_NAMES:
        raise ConfigError(f"unknown profile {profile!r}; valid profiles: {PROFILE_NAMES}")
    wanted = sorted(EXPERIMENTS) if not only else sorted({n.zfill(2) for n in only} & set(EXPERIMENTS))
    jobs: list[RunSpec] = []
    for notebook in wanted:
        module = experiment_module(notebook)
        for spec in module.jobs(profile):
            if not isinstance(spec, RunSpec):
                raise ConfigError(f"{module.__name__}.jobs({profile!r}) returned {type(spec).__name__} {spec!r}; "
                                  f"expected RunSpec")
            if (spec.notebook, spec.profile) != (notebook, profile):
                raise ConfigError(f"{module.__name__}.jobs({profile!r}) returned a run of notebook {spec.notebook!r} "
                                  f"at profile {spec.profile!r}; expected notebook {notebook!r}, profile {profile!r}")
            jobs.append(spec)
    return jobs

