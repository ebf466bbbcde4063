"""Experiments as grids of jobs, and the executor that runs a grid's missing jobs.

A notebook's experiment module declares its grid as data, ``jobs(profile) -> list[RunSpec]``, and trains
one run with ``run_job(spec)`` (train unless stored; store with ``RunStore(spec.namespace).run(...)``). It is
registered in :data:`EXPERIMENTS` (notebook number -> module path). :func:`run_jobs` runs the missing jobs of
one or several grids on a local process pool over every core (``executor="local"``) or on a SLURM cluster
through submitit (``executor="slurm"``); the notebook then finds every run stored and only evaluates.
"""

from ._executor import EXECUTORS, RunReport, RunsFailed, SlurmOptions, default_workers, is_stored, run_jobs, usable_cores
from ._registry import EXPERIMENTS, experiment_module, jobs_for, register_experiment
from ._spec import RunSpec

__all__ = ["RunSpec", "EXPERIMENTS", "register_experiment", "experiment_module", "jobs_for", "run_jobs", "RunReport",
           "RunsFailed", "SlurmOptions", "EXECUTORS", "is_stored", "usable_cores", "default_workers"]
