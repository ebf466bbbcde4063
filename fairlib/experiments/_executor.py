"""Run the missing jobs of a grid: a local process pool over every core, or a SLURM cluster via submitit."""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from collections import Counter
from typing import Callable, Iterator

from .. import paths
from .._validation import bounded, choice, validate_fields
from ..config import ConfigError
from ._registry import EXPERIMENTS, experiment_module
from ._spec import RunSpec

__all__ = ["EXECUTORS", "SlurmOptions", "RunReport", "RunsFailed", "run_jobs", "is_stored", "usable_cores",
           "default_workers"]

EXECUTORS = ("local", "slurm")


@dataclass(frozen=True)
class SlurmOptions:
    """How the ``slurm`` executor submits a grid through submitit.

    Parameters
    ----------
    partition : str
        SLURM partition (``sbatch --partition``).
    gpus_per_job : int
        GPUs per job (``--gpus-per-node``); 0 for CPU jobs.
    max_parallel : int
        Most jobs of the grid running at once (the job array's ``%K``).
    timeout_min : int
        Wall-time limit of one job, in minutes. A job that reaches it (or is pre-empted) is requeued by submitit
        and resumes with its runs that are not stored yet.
    cpus_per_task : int
    mem_gb : float
        Memory per job.
    runs_per_job : int
        Runs trained one after another in each job (several short runs share one job's start-up).
    max_retries : int
        Times a job that ended without a result (killed, node failure, pre-empted and not requeued) is
        resubmitted with its runs that are still missing. A run that *raises* is not retried: it is reported.
    cluster : {"slurm", "local", "debug"}
        submitit's back-end: ``"slurm"`` on a cluster; ``"local"`` runs each job as a local process (for
        testing the path without SLURM); ``"debug"`` runs in this process.
    folder : str, optional
        submitit's folder (job scripts, pickles, logs). Default ``build/submitit/<profile>``.
    """

    partition: str
    gpus_per_job: int = bounded(1, ge=0)
    max_parallel: int = bounded(32, ge=1)
    timeout_min: int = bounded(240, ge=1)
    cpus_per_task: int = bounded(8, ge=1)
    mem_gb: float = bounded(32.0, gt=0)
    runs_per_job: int = bounded(1, ge=1)
    max_retries: int = bounded(2, ge=0)
    cluster: str = choice("slurm", ("slurm", "local", "debug"))
    folder: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.partition, str) or not self.partition.strip():
            raise ConfigError(f"SlurmOptions.partition = {self.partition!r} is invalid: must be a non-empty string")
        validate_fields(self)
        for name in ("gpus_per_job", "max_parallel", "timeout_min", "cpus_per_task", "runs_per_job", "max_retries"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"SlurmOptions.{name} = {value!r} is invalid: must be an int")


@dataclass(frozen=True)
class RunReport:
    """What :func:`run_jobs` did.

    Attributes
    ----------
    stored : int
        Runs found already stored (not run again).
    trained : int
        Runs trained and stored now.
    failed : int
        Runs that raised, whose worker or job died, or that were not run because a run they need failed.
    seconds : float
        Wall time.
    failures : tuple of (RunSpec, str)
        Each failed run and its error.
    executor : str
    workers : int
        Worker processes (local) or the most jobs at once (slurm).
    """

    stored: int
    trained: int
    failed: int
    seconds: float
    failures: tuple = ()
    executor: str = "local"
    workers: int = 1

    def summary(self) -> str:
        """One line: runs stored, trained and failed, wall time and executor."""
        total = self.stored + self.trained + self.failed
        return (f"{total} run(s): {self.stored} already stored, {self.trained} trained, {self.failed} failed, "
                f"in {self.seconds:.0f} s ({self.executor}, {self.workers} worker(s))")


class RunsFailed(RuntimeError):
    """Some runs failed; the message names each (key, method, seed, notebook) and its error.

    Every other run is stored, so a rerun trains only what is missing. ``report`` is the :class:`RunReport`.
    """

    def __init__(self, report: RunReport):
        self.report = report
        lines = [f"  - {spec.describe()}: {error}" for spec, error in report.failures]
        super().__init__(f"{report.failed} run(s) failed ({report.summary()}); the others are stored, so a rerun "
                         f"trains only the missing ones:\n" + "\n".join(lines))


# -- what is stored -------------------------------------------------------------------------------------------
def is_stored(spec: RunSpec) -> bool:
    """True if ``spec``'s run is finished and intact in the run store (``RunStore.contains``: checked without
    reading its tensors; a damaged run, or one older than ``FAIRLIB_FORCE``'s cut-off, is not stored)."""
    from ..train import RunStore

    return RunStore(spec.namespace).contains(spec.to_dict())


# -- workers --------------------------------------------------------------------------------------------------
def usable_cores() -> int:
    """The cores this process may run on (``len(os.sched_getaffinity(0))``; ``os.cpu_count()`` elsewhere)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_workers() -> int:
    """``FAIRLIB_WORKERS`` if set, else :func:`usable_cores`.

    Raises
    ------
    ConfigError
        If ``FAIRLIB_WORKERS`` is not an int >= 1.
    """
    text = os.environ.get("FAIRLIB_WORKERS", "").strip()
    if not text:
        return usable_cores()
    try:
        workers = int(text)
    except ValueError:
        workers = 0
    if workers < 1:
        raise ConfigError(f"FAIRLIB_WORKERS={text!r} is invalid: must be an int >= 1")
    return workers


#: The locations a worker takes from the process that runs the grid (``paths`` attributes, FAIRLIB_<name>).
_LOCATIONS = ("ROOT", "DATA", "CACHE")


def _locations() -> dict[str, str]:
    return {name: str(getattr(paths, name)) for name in _LOCATIONS}


def _init_worker(threads: int, locations: dict[str, str]) -> None:
    # Runs first in every pool process: its share of the cores, no per-run progress bars (one bar per grid), and
    # the grid's own run store and data: the locations the parent resolved are given explicitly, not left to the
    # environment a spawned process inherits (a parent may have set them on `paths` only, and a worker storing
    # into another store than the one the parent checks reports "nothing is stored").
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["FAIRLIB_PROGRESS"] = "0"
    for name, value in locations.items():
        os.environ[f"FAIRLIB_{name}"] = value
        setattr(paths, name, Path(value))
    import torch

    torch.set_num_threads(threads)


def _execute(module_name: str, spec: RunSpec, fingerprint: str | None = None) -> str | None:
    """Run one job (in a worker, a cluster job or this process); None, or its error as one line.

    ``fingerprint``: the code fingerprint of the process that planned the grid. A run's store key includes the
    fingerprint of the code that trains it, so a worker whose fairlib differs (the source was edited while the grid
    ran) would store the run under a key the grid never looks up; it refuses instead, saying why.
    The traceback goes to this process's stderr; the exception itself is not sent back (it may not pickle).
    """
    import importlib

    from ..train import code_fingerprint

    if fingerprint is not None and code_fingerprint() != fingerprint:
        return (f"fairlib's source changed while the grid ran (code fingerprint {fingerprint[:12]} when it was "
                f"planned, {code_fingerprint()[:12]} in this worker): its run would be stored under another key. "
                f"Run the grid again; it trains what the current code has not stored")
    try:
        importlib.import_module(module_name).run_job(spec)
    except Exception as error:  # noqa: BLE001 - one failed run must not stop the others
        print(f"run {spec.describe()} failed:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
        return f"{type(error).__name__}: {error}"
    return None


# -- the grid's bookkeeping -----------------------------------------------------------------------------------
class _Grid:
    """Missing runs, what is done and what failed; which runs may start (all they need is stored).

    ``on_notebook(notebook, failed)``, if given, is called once per notebook with runs in ``todo``, in this
    process, as soon as the last of them is recorded (stored or failed); ``failed`` counts its failed runs.
    """

    def __init__(self, todo: list[RunSpec], done: set[str], on_notebook: Callable[[str, int], None] | None = None):
        self.pending = {spec.key: spec for spec in todo}
        self.done = set(done)
        self.failed: dict[str, tuple[RunSpec, str]] = {}
        self.trained = 0
        self._on_notebook = on_notebook
        self._left = Counter(spec.notebook for spec in todo)
        self._failed_in = Counter()

    def _settled(self, spec: RunSpec, failed: bool) -> None:
        self._left[spec.notebook] -= 1
        self._failed_in[spec.notebook] += failed
        if self._left[spec.notebook] == 0 and self._on_notebook is not None:
            self._on_notebook(spec.notebook, self._failed_in[spec.notebook])

    def ready(self) -> list[RunSpec]:
        changed = True
        while changed:  # a run that needs a failed run fails too, transitively
            changed = False
            for key, spec in list(self.pending.items()):
                broken = [d for d in spec.after if d in self.failed]
                if broken:
                    self.failed[key] = (spec, f"not run: it needs run {broken[0]}, which failed")
                    del self.pending[key]
                    self._settled(spec, failed=True)
                    changed = True
        return [s for s in self.pending.values() if all(d in self.done for d in s.after)]

    def take(self, spec: RunSpec) -> None:
        del self.pending[spec.key]

    def record(self, spec: RunSpec, error: str | None) -> None:
        if error is None and not is_stored(spec):
            error = (f"run_job returned but nothing is stored under key {spec.key}; it must store the run with "
                     f"RunStore({spec.namespace!r}).run(spec.to_dict(), train_fn)")
        if error is None:
            self.done.add(spec.key)
            self.trained += 1
        else:
            self.failed[spec.key] = (spec, error)
        self._settled(spec, failed=error is not None)

    def finish(self) -> None:
        for key, spec in list(self.pending.items()):  # only if a run's dependency vanished from the store
            self.failed[key] = (spec, f"not run: it needs runs {[d for d in spec.after if d not in self.done]}")
            del self.pending[key]
            self._settled(spec, failed=True)


def _plan(jobs: list[RunSpec]) -> tuple[list[RunSpec], set[str], int]:
    """The missing runs (deduplicated, in order), the keys already stored, and how many of the jobs those are.

    Raises
    ------
    ConfigError
        If a run needs (``after``) a run that is neither stored nor in the grid, or the needs form a cycle.
    """
    from ..train import RunStore

    unique: dict[str, RunSpec] = {}
    for spec in jobs:
        if not isinstance(spec, RunSpec):
            raise ConfigError(f"run_jobs expects RunSpec jobs; got {type(spec).__name__} {spec!r}")
        unique.setdefault(spec.key, spec)
    stored = {key for key, spec in unique.items() if is_stored(spec)}
    todo = [spec for key, spec in unique.items() if key not in stored]
    for spec in todo:
        for dep in spec.after:
            if dep not in unique and not RunStore(spec.namespace).root.joinpath(dep, "metrics.json").exists():
                raise ConfigError(f"run {spec.describe()} needs run {dep}, which is neither stored (in namespace "
                                  f"{spec.namespace!r}) nor in the grid")
    # Kahn's algorithm over the missing runs: what is left over lies on a cycle.
    missing = {spec.key: spec for spec in todo}
    resolved = set(stored)
    left = dict(missing)
    while True:
        free = [k for k, s in left.items() if all(d in resolved for d in s.after)]
        if not free:
            break
        for k in free:
            resolved.add(k)
            del left[k]
    if left:
        raise ConfigError(f"the runs {[s.describe() for s in left.values()]} need one another in a cycle (after=)")
    return todo, stored, len(stored)


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _progress_bar(total: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="run", disable=not enabled or total == 0)


# -- back-ends ------------------------------------------------------------------------------------------------
def _run_in_process(grid: _Grid, modules: dict[str, str], threads: int | None, bar) -> None:
    import torch

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        with _environ(FAIRLIB_PROGRESS="0"):  # one bar per grid, not one per run
            while ready := grid.ready():
                spec = ready[0]
                grid.take(spec)
                grid.record(spec, _execute(modules[spec.notebook], spec))
                bar.update()
    finally:
        torch.set_num_threads(before)


def _run_pool(grid: _Grid, modules: dict[str, str], workers: int, threads: int, bar) -> None:
    """One single-process spawn pool per worker slot, so that a worker that dies loses only its own run: its
    pool breaks (``BrokenProcessPool``), is replaced, and the other workers go on undisturbed."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    from ..train import code_fingerprint

    context = multiprocessing.get_context("spawn")
    locations, fingerprint = _locations(), code_fingerprint()
    slots: list[ProcessPoolExecutor | None] = [None] * workers
    running: dict = {}
    clean = False
    try:
        while True:
            busy = {slot for slot, _ in running.values()}
            free = [i for i in range(workers) if i not in busy]
            for spec in grid.ready()[:len(free)]:
                i = free.pop(0)
                if slots[i] is None:
                    slots[i] = ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_init_worker,
                                                   initargs=(threads, locations))
                grid.take(spec)
                running[slots[i].submit(_execute, modules[spec.notebook], spec, fingerprint)] = (i, spec)
            if not running:
                break
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in finished:
                i, spec = running.pop(future)
                try:
                    error = future.result()
                except BrokenProcessPool:
                    error = ("its worker process died while training it (killed, out of memory or pre-empted); "
                             "the other runs went on")
                    slots[i].shutdown(wait=True)
                    slots[i] = None
                except Exception as failure:  # noqa: BLE001 - e.g. the spec did not pickle
                    error = f"{type(failure).__name__}: {failure}"
                grid.record(spec, error)
                bar.update()
        clean = True
    finally:
        for pool in slots:
            if pool is not None:
                pool.shutdown(wait=clean, cancel_futures=True)


# -- the entry point ------------------------------------------------------------------------------------------
def run_jobs(jobs: list[RunSpec], *, executor: str = "local", workers: int | None = None,
             slurm: SlurmOptions | None = None, progress: bool | None = None,
             threads: int | None = None, on_notebook: Callable[[str, int], None] | None = None) -> RunReport:
    """Train and store every job of ``jobs`` that is not stored yet; jobs run after the runs they need.

    Parameters
    ----------
    jobs : list of RunSpec
        Of registered notebooks (:data:`EXPERIMENTS`); each is run by its module's ``run_job``.
    executor : {"local", "slurm"}
        ``"local"``: a pool of ``workers`` spawned processes (``workers == 1``: in this process).
        ``"slurm"``: jobs submitted through submitit with ``slurm``'s options, waited for, jobs that died
        resubmitted.
    workers : int, optional
        Local worker processes; default ``FAIRLIB_WORKERS`` or the usable cores. Local executor only.
    slurm : SlurmOptions, optional
        Required by, and only allowed with, the slurm executor.
    progress : bool, optional
        One progress bar over the grid; default on unless ``FAIRLIB_PROGRESS=0``.
    threads : int, optional
        torch threads per worker (local); default ``max(1, cores // workers)``; with ``workers == 1`` the
        calling process's setting is kept unless this is given.
    on_notebook : callable, optional
        ``on_notebook(notebook, failed)`` is called in this process once per notebook among ``jobs``, as soon as
        every one of its runs is stored or has failed (``failed``: how many failed), while the other notebooks'
        runs go on: at once for a notebook whose runs were all stored before. ``fairlib reproduce`` starts each
        notebook's kernel from it. An exception it raises propagates (the pool's workers are shut down).

    Returns
    -------
    RunReport

    Raises
    ------
    ConfigError
        Before anything trains: an unknown executor (the message names the choices), ``workers`` not an int
        >= 1, SLURM options with the local executor or workers with the slurm one, the slurm executor without
        options or without submitit, a notebook without a registered module, or a run that needs a run that
        is neither stored nor in the grid.
    RunsFailed
        After every other run is stored, naming each run that failed (key, method, seed) and its error.

    Notes
    -----
    Runs are bit-identical whatever the number of workers *at the same number of torch threads*: each run
    seeds itself and shares nothing with the others.
    """
    start = time.perf_counter()
    if executor not in EXECUTORS:
        raise ConfigError(f"executor = {executor!r} is invalid; valid choices: {EXECUTORS}")
    for name, value in (("workers", workers), ("threads", threads)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError(f"{name} = {value!r} is invalid: must be an int >= 1")
    if progress is not None and not isinstance(progress, bool):
        raise ConfigError(f"progress = {progress!r} is invalid; valid choices: (None, True, False)")
    if executor == "local":
        if slurm is not None:
            raise ConfigError("SLURM options were given with executor='local'; they apply only to "
                              f"executor='slurm' (valid choices: {EXECUTORS})")
        workers = default_workers() if workers is None else workers
        threads = threads if threads is not None else (None if workers == 1 else max(1, usable_cores() // workers))
    else:
        if workers is not None or threads is not None:
            raise ConfigError("workers/threads apply only to executor='local'; the slurm executor's parallelism "
                              "is SlurmOptions.max_parallel")
        if not isinstance(slurm, SlurmOptions):
            raise ConfigError(f"executor='slurm' needs slurm=SlurmOptions(partition=...); got {slurm!r}")
        try:
            import submitit  # noqa: F401
        except ImportError:
            raise ConfigError("executor='slurm' needs the submitit package (pip install submitit), which is not "
                              f"importable here; valid choices without it: ('local',)") from None
        workers = slurm.max_parallel
    modules: dict[str, str] = {}
    for notebook in sorted({spec.notebook for spec in jobs if isinstance(spec, RunSpec)}):
        experiment_module(notebook)  # registered, importable, defines jobs and run_job
        modules[notebook] = EXPERIMENTS[notebook]
    todo, stored, n_stored = _plan(list(jobs))
    grid = _Grid(todo, stored, on_notebook)
    if on_notebook is not None:
        for notebook in sorted({spec.notebook for spec in jobs} - {spec.notebook for spec in todo}):
            on_notebook(notebook, 0)
    show = progress if progress is not None else os.environ.get("FAIRLIB_PROGRESS", "1") != "0"
    namespaces = ", ".join(sorted({s.namespace for s in todo}))
    with _progress_bar(len(todo), show, f"runs {namespaces}") as bar:
        if not todo:
            pass
        elif executor == "slurm":
            from ._slurm import run_on_cluster

            run_on_cluster(grid, modules, slurm, bar)
        elif workers == 1:
            _run_in_process(grid, modules, threads, bar)
        else:
            _run_pool(grid, modules, min(workers, len(todo)), threads, bar)
    grid.finish()
    report = RunReport(stored=n_stored, trained=grid.trained, failed=len(grid.failed),
                       seconds=round(time.perf_counter() - start, 3), failures=tuple(grid.failed.values()),
                       executor=executor, workers=workers)
    if report.failed:
        raise RunsFailed(report)
    return report

