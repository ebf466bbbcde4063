"""The ``slurm`` back-end of :func:`fairlib.experiments.run_jobs`, on submitit (imported only when used)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import submitit

from .. import paths
from ._executor import SlurmOptions, _environ, _execute, _Grid, is_stored
from ._spec import RunSpec

__all__ = ["RunBatch", "run_on_cluster"]


class RunBatch(submitit.helpers.Checkpointable):
    """A cluster job: a few runs, one after another; returns ``[(key, error or None), ...]``.

    Being ``Checkpointable``, a job that is pre-empted or reaches its time limit is requeued by submitit with
    the same runs; those already stored are skipped, so it resumes where it stopped.
    """

    def __call__(self, batch: list[tuple[str, RunSpec]]) -> list[tuple[str, str | None]]:
        return [(spec.key, None if is_stored(spec) else _execute(module, spec)) for module, spec in batch]


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def run_on_cluster(grid: _Grid, modules: dict[str, str], options: SlurmOptions, bar) -> None:
    """Submit the grid's missing runs in waves (a wave: every run whose needs are stored), as job arrays of
    ``options.runs_per_job`` runs per job; wait; resubmit the runs of jobs that died up to ``max_retries``."""
    profiles = sorted({spec.profile for spec in grid.pending.values()})
    folder = Path(options.folder) if options.folder else paths.BUILD / "submitit" / "-".join(profiles)
    executor = submitit.AutoExecutor(folder=folder, cluster=options.cluster)
    executor.update_parameters(name="fairlib", timeout_min=options.timeout_min, gpus_per_node=options.gpus_per_job,
                               cpus_per_task=options.cpus_per_task, mem_gb=options.mem_gb,
                               slurm_partition=options.partition, slurm_array_parallelism=options.max_parallel)
    # Jobs import fairlib and the experiment modules from this checkout, whether or not it is pip-installed.
    pythonpath = os.pathsep.join([str(paths.ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    while wave := grid.ready():
        for spec in wave:
            grid.take(spec)
        todo, lost = wave, []
        for attempt in range(options.max_retries + 1):
            batches = [todo[i:i + options.runs_per_job] for i in range(0, len(todo), options.runs_per_job)]
            with _environ(PYTHONPATH=pythonpath):
                jobs = executor.map_array(RunBatch(), [[(modules[s.notebook], s) for s in b] for b in batches])
            lost = []
            for job, batch in zip(jobs, batches):
                try:
                    outcomes = dict(job.result())
                except Exception as error:  # noqa: BLE001 - the job died: killed, timed out, node failure
                    reason = f"its cluster job {job.job_id} ended without a result ({_first_line(error)})"
                    for spec in batch:
                        if is_stored(spec):  # stored before the job died
                            grid.record(spec, None)
                            bar.update()
                        else:
                            lost.append((spec, reason))
                    continue
                for spec in batch:
                    grid.record(spec, outcomes.get(spec.key, f"its job {job.job_id} did not return it"))
                    bar.update()
            todo = [spec for spec, _ in lost]
            if not todo:
                break
            if attempt < options.max_retries:
                print(f"resubmitting {len(todo)} run(s) whose job died (attempt {attempt + 2} of "
                      f"{options.max_retries + 1}): {[s.key for s in todo]}", file=sys.stderr, flush=True)
        for spec, reason in lost:
            grid.record(spec, f"{reason}; gave up after {options.max_retries + 1} submission(s)")
            bar.update()
