"""``python -m fairlib reproduce``: execute the numbered notebooks headless through papermill."""

from __future__ import annotations

import contextlib
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from . import paths
from .config import PROFILE_NAMES

__all__ = ["notebook_paths", "run_notebooks", "execute_concurrently", "kernel_threads", "prepare_shared_backbones",
           "run_grid_and_notebooks", "NotebookFailed"]

#: The Jupyter kernel papermill starts (the name the Makefile installs and every notebook's kernelspec names).
KERNEL = "fairlib"

_NAME = re.compile(r"^(\d\d)_[\w-]+\.ipynb$")


class NotebookFailed(RuntimeError):
    """A notebook raised; the message names the notebook, the cell and the error."""


def notebook_paths(only: list[str] | None = None) -> list[Path]:
    """The numbered notebooks (``NN_name.ipynb``) in order, optionally only those whose number is listed.

    Raises
    ------
    ValueError
        If ``only`` names a number with no notebook (the message lists the numbers that exist).
    """
    found = {m.group(1): p for p in sorted(paths.NOTEBOOKS.glob("*.ipynb")) if (m := _NAME.match(p.name))}
    if only:
        unknown = [n for n in only if n.zfill(2) not in found]
        if unknown:
            raise ValueError(f"no notebook numbered {unknown}; available: {sorted(found)}")
        return [found[n.zfill(2)] for n in sorted(set(n.zfill(2) for n in only))]
    return [found[k] for k in sorted(found)]


def prepare_shared_backbones(profile: str, only: list[str] | None = None) -> None:
    """Prepare (once; then cached) the backbones that several runs share, before any worker needs them.

    The stand-in ViT is pre-trained, and where notebook 01 is selected (``only`` None or naming "01") and its
    text backbones include Gemma-3 270M, the GGUF checkpoint is converted. Done before the pool so that the
    one-off cost is not charged to whichever run happens to need it first and no two workers do it at once
    (the conversion also holds a file lock, for runs started some other way). A profile without stand-ins has
    nothing to prepare.

    The two are independent, so the conversion (de-quantisation in numpy, one core) runs in a second process
    while this one pre-trains; an error in either is raised here.
    """
    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing

    from .config import GEMMA3_270M, get_profile

    cfg = get_profile(profile)
    wants_01 = only is None or any(str(n).zfill(2) == "01" for n in only)
    convert = wants_01 and GEMMA3_270M in cfg.lora_fairness.text_backbones
    with contextlib.ExitStack() as stack:
        conversion = None
        if convert:
            pool = stack.enter_context(ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")))
            conversion = pool.submit(_convert_gemma)
        if cfg.stand_in:
            from .train import pretrained_tiny_vit

            pretrained_tiny_vit(cfg.stand_in_vit)
        if conversion is not None:
            conversion.result()


def _convert_gemma() -> str:
    from .models import gemma3_270m_path

    return str(gemma3_270m_path())


def run_notebooks(*, profile: str = "smoke", only: list[str] | None = None, parameters: dict | None = None,
                  output_dir: Path | None = None, workers: int = 1) -> dict[str, float]:
    """Execute notebooks with papermill (kernel ``fairlib``), the profile and ``parameters`` passed as parameters.

    The kernels run with ``FAIRLIB_REPRODUCTION=1``: a notebook run with the registered profile and no ``tag``
    writes ``figures/<profile>/`` (what REPORT.md is built from); see :func:`fairlib.report.use_outputs`.

    Executed copies go to ``build/notebooks/<profile>/``. Returns seconds per notebook (in notebook order);
    seconds and the kernel's peak resident memory per notebook are also kept in
    ``build/reproduce_times_<profile>.json``.

    Parameters
    ----------
    workers : int, default 1
        Notebooks executed at a time. ``1`` executes them one after another in this process. More: up to
        ``workers`` at a time, each in its own process with its own kernel (:func:`execute_concurrently`); each
        kernel then gets ``cores // concurrent notebooks`` torch threads (``OMP_NUM_THREADS``), and what is printed
        and recorded is the same, in notebook order.

    Raises
    ------
    NotebookFailed
        On the first notebook that raises, naming notebook, cell and error (executing concurrently: the other
        notebooks already running finish, those not started are cancelled).
    """
    notebooks, parameters, output_dir, interactive, log_output = _kernel_setup(profile, only, parameters,
                                                                               output_dir, workers)
    if min(workers, len(notebooks)) > 1:
        done = execute_concurrently(notebooks, output_dir=output_dir, parameters=parameters, workers=workers,
                                    log_output=log_output)
    else:
        done = _execute_in_order(notebooks, output_dir=output_dir, parameters=parameters, interactive=interactive,
                                 log_output=log_output)
    return _record_times(profile, done)


def run_grid_and_notebooks(jobs: list, *, profile: str = "smoke", only: list[str] | None = None,
                           parameters: dict | None = None, workers: int = 2,
                           output_dir: Path | None = None) -> tuple[Any, dict[str, float]]:
    """Train the missing runs of ``jobs`` in a local pool and execute each notebook as soon as its runs are stored.

    What ``reproduce`` does with more than one worker: the runs go through
    :func:`fairlib.experiments.run_jobs` (``workers`` processes), and a notebook's kernel starts the moment the
    last of its runs is stored (``on_notebook``), a notebook without runs at once, up to ``workers`` kernels at a
    time beside the pool. The cores then stay busy while the pool's last runs finish, and the notebooks' own
    time overlaps the training of later notebooks' runs. Kernels and runs are as with :func:`run_notebooks`
    after :func:`~fairlib.experiments.run_jobs` (same thread counts, the same runs found stored), so the results
    are the same.

    Returns
    -------
    (RunReport or None, dict)
        The pool's report (None without jobs) and seconds per executed notebook, in notebook order (kept in
        ``build/reproduce_times_<profile>.json`` as with :func:`run_notebooks`).

    Raises
    ------
    RunsFailed
        After the pool and every notebook whose runs all succeeded have finished; the notebooks with a failed
        run are not executed (their names are printed).
    NotebookFailed
        The lowest-numbered notebook that failed (when no run failed); runs go on to be stored.
    """
    from .experiments import RunsFailed, run_jobs

    notebooks, parameters, output_dir, _, log_output = _kernel_setup(profile, only, parameters, output_dir, workers)
    by_number = {nb.name[:2]: nb for nb in notebooks}
    with_runs = {spec.notebook for spec in jobs}
    submitted: set[str] = set()
    skipped: list[str] = []
    report, runs_failed = None, None
    with _Kernels(notebooks, output_dir=output_dir, parameters=parameters, workers=workers,
                  log_output=log_output) as kernels:

        def start(number: str, failed: int) -> None:
            if number not in by_number or number in submitted:
                return
            submitted.add(number)
            if failed:
                skipped.append(f"{by_number[number].name} ({failed} of its runs failed)")
                return
            what = "stored" if number in with_runs else "none to train"
            print(f"Runs of {by_number[number].name}: {what}; executing it", flush=True)
            kernels.submit(by_number[number])

        for number in by_number:
            if number not in with_runs:
                start(number, 0)
        try:
            report = run_jobs(jobs, workers=workers, on_notebook=start) if jobs else None
        except RunsFailed as error:
            runs_failed = error
        for number in by_number:  # a registered notebook whose grid turned out empty
            if number not in submitted:
                start(number, 0)
        if report is not None:
            print(report.summary(), flush=True)
        if skipped:
            print("Not executed, because runs they need failed: " + ", ".join(skipped), flush=True)
        try:
            done = kernels.results()
        except NotebookFailed:
            if runs_failed is None:
                raise
            done = {}
    if runs_failed is not None:
        raise runs_failed
    return report, _record_times(profile, done)


def _kernel_setup(profile: str, only: list[str] | None, parameters: dict | None, output_dir: Path | None,
                  workers: int) -> tuple[list[Path], dict, Path, bool, bool]:
    """Validate; the notebooks, their parameters, the executed copies' folder, whether to show progress bars and
    whether to stream cell outputs. Sets the kernels' environment (``PYTHONPATH``, ``FAIRLIB_REPRODUCTION``)."""
    import os

    if profile not in PROFILE_NAMES:
        raise ValueError(f"unknown profile {profile!r}; valid profiles: {PROFILE_NAMES}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers={workers!r}: expected an int >= 1 (notebooks executed at a time)")
    # The kernel must import the same fairlib as this process (a checkout that is not pip-installed, or one
    # of several worktrees), so the repository root goes first on the kernel's path.
    os.environ["PYTHONPATH"] = os.pathsep.join([str(paths.ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    # The kernels write the reproduction (figures/<profile>/) unless their parameters change the profile.
    os.environ["FAIRLIB_REPRODUCTION"] = "1"

    output_dir = output_dir or paths.BUILD / "notebooks" / profile
    output_dir.mkdir(parents=True, exist_ok=True)
    notebooks = notebook_paths(only)
    parameters = {"profile": profile, **(parameters or {})}
    interactive = sys.stderr.isatty()
    # A batch job (a cluster's log file, CI) sees no progress bar: stream each cell's output instead.
    log_output = not interactive and os.environ.get("FAIRLIB_PROGRESS", "1") != "0"
    return notebooks, parameters, output_dir, interactive, log_output


def _record_times(profile: str, done: dict[str, dict]) -> dict[str, float]:
    seconds = {name: record["seconds"] for name, record in done.items()}
    timings = paths.BUILD / f"reproduce_times_{profile}.json"
    timings.parent.mkdir(parents=True, exist_ok=True)  # absent when the executed copies went elsewhere
    previous = json.loads(timings.read_text()) if timings.exists() else {}
    timings.write_text(json.dumps({**previous, **done}, indent=1))
    return seconds


def _failure(notebook: Path, output_dir: Path, cell: Any, count: Any, ename: str, evalue: str) -> NotebookFailed:
    return NotebookFailed(
        f"{notebook.name} failed in cell {cell} (execution count {count}): {ename}: {evalue}\n"
        f"Executed copy with the traceback: {output_dir / notebook.name}")


def _execute_in_order(notebooks: list[Path], *, output_dir: Path, parameters: dict, interactive: bool,
                      log_output: bool) -> dict[str, dict]:
    """One notebook after another, in this process (the kernels keep their own thread choice)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    if log_output:
        _log_papermill_to_stderr()
    done: dict[str, dict] = {}
    for i, notebook in enumerate(notebooks, start=1):
        print(f"[{i}/{len(notebooks)}] {notebook.name} (profile {parameters['profile']})", flush=True)
        start = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(notebook), str(output_dir / notebook.name), parameters=parameters,
                kernel_name=KERNEL, cwd=str(paths.NOTEBOOKS), progress_bar=interactive, log_output=log_output,
            )
        except PapermillExecutionError as error:
            raise _failure(notebook, output_dir, error.cell_index, error.exec_count, error.ename,
                           error.evalue) from None
        seconds = round(time.perf_counter() - start, 1)
        done[notebook.name] = {"seconds": seconds, "peak_memory_gb_upper_bound": round(_children_peak_rss_gb(), 2)}
        print(f"    done in {seconds:.0f} s", flush=True)
    return done


def kernel_threads(concurrent: int) -> int:
    """Torch threads of each kernel when ``concurrent`` notebooks execute at a time: the usable cores shared
    evenly (at least one)."""
    from .experiments import usable_cores

    return max(1, usable_cores() // concurrent)


def execute_concurrently(notebooks: list[Path], *, output_dir: Path, parameters: dict, workers: int,
                         log_output: bool = False) -> dict[str, dict]:
    """Execute ``notebooks`` up to ``workers`` at a time; return ``{name: {"seconds", "peak_memory_gb_upper_bound"}}``
    in notebook order.

    A pool of spawned processes (:class:`concurrent.futures.ProcessPoolExecutor`, one fresh process per notebook),
    each executing one notebook with papermill in its own kernel. Every kernel gets :func:`kernel_threads` torch
    threads (``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``) and ``FAIRLIB_WORKERS = max(1, workers // concurrent)``
    for a grid it would run itself, so the notebooks together use the cores once. A kernel's peak memory is
    measured in its own process (exact per notebook). Progress is printed in notebook order, each line when that
    notebook and all before it are done; with ``log_output`` each kernel's cell outputs stream to stderr as they
    come, prefixed by the notebook's number.

    Raises
    ------
    NotebookFailed
        For the first notebook (in notebook order) among those that failed, naming it, its cell and the error;
        notebooks already running finish, those not yet started are cancelled.
    """
    kernels = _Kernels(notebooks, output_dir=output_dir, parameters=parameters, workers=workers,
                       log_output=log_output)
    with kernels:
        for notebook in notebooks:
            kernels.submit(notebook)
        return kernels.results()


class _Kernels:
    """Notebooks executed in a pool of spawned kernels, submitted one by one (as soon as each may run).

    The order of ``notebooks`` is the order of the progress lines and of the results; a notebook may be submitted
    at any time (:meth:`submit`, non-blocking), and :meth:`results` waits for every submitted one. After a failure,
    later submissions and notebooks not yet started are dropped; those running finish.
    """

    def __init__(self, notebooks: list[Path], *, output_dir: Path, parameters: dict, workers: int,
                 log_output: bool = False):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.notebooks, self.output_dir, self.parameters, self.log_output = notebooks, output_dir, parameters, log_output
        concurrent = min(workers, len(notebooks))
        threads = kernel_threads(concurrent)
        environ = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
                   "FAIRLIB_WORKERS": str(max(1, workers // concurrent))}
        print(f"Executing {len(notebooks)} notebooks, {concurrent} at a time ({threads} torch thread(s) per kernel, "
              f"profile {parameters['profile']})", flush=True)
        self._pool = ProcessPoolExecutor(max_workers=concurrent, mp_context=multiprocessing.get_context("spawn"),
                                         max_tasks_per_child=1, initializer=_set_environ, initargs=(environ,))
        self._futures: dict = {}
        self._results: dict[str, dict] = {}
        self._failures: dict[str, NotebookFailed] = {}
        self._printed = 0

    def __enter__(self) -> "_Kernels":
        return self

    def __exit__(self, *exc: Any) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, notebook: Path) -> None:
        """Start ``notebook`` when a kernel is free (nothing starts after a failure)."""
        if notebook not in self.notebooks:
            raise ValueError(f"{notebook.name} is not among the notebooks of this pool")
        self._collect(block=False)
        if self._failures:
            return
        future = self._pool.submit(_execute_one, str(notebook), str(self.output_dir / notebook.name),
                                   str(paths.NOTEBOOKS), self.parameters, self.log_output)
        self._futures[future] = notebook

    def results(self) -> dict[str, dict]:
        """Wait for every submitted notebook; their records in notebook order.

        Raises
        ------
        NotebookFailed
            The lowest-numbered failure.
        """
        while self._futures:
            self._collect(block=True)
        if self._failures:
            raise self._failures[next(nb.name for nb in self.notebooks if nb.name in self._failures)]
        return {nb.name: self._results[nb.name] for nb in self.notebooks if nb.name in self._results}

    def _collect(self, block: bool) -> None:
        from concurrent.futures import FIRST_COMPLETED, wait

        if not self._futures:
            return
        finished, _ = wait(list(self._futures), timeout=None if block else 0, return_when=FIRST_COMPLETED)
        for future in finished:
            notebook = self._futures.pop(future)
            if future.cancelled():
                continue
            try:
                outcome = future.result()
            except Exception as error:  # noqa: BLE001 - the worker process itself died
                outcome = {"error": (None, None, type(error).__name__, str(error))}
            if outcome.get("error"):
                self._failures[notebook.name] = _failure(notebook, self.output_dir, *outcome["error"])
            else:
                self._results[notebook.name] = {"seconds": outcome["seconds"],
                                                "peak_memory_gb_upper_bound": outcome["peak_gb"]}
        if self._failures:
            for future in list(self._futures):
                if future.cancel():  # not started: dropped; running: left to finish
                    del self._futures[future]
        total = len(self.notebooks)
        while self._printed < total and self.notebooks[self._printed].name in self._results:
            name = self.notebooks[self._printed].name
            self._printed += 1
            print(f"[{self._printed}/{total}] {name} (profile {self.parameters['profile']}): done in "
                  f"{self._results[name]['seconds']:.0f} s", flush=True)


def _set_environ(values: dict) -> None:
    import os

    os.environ.update(values)


def _execute_one(notebook: str, output: str, cwd: str, parameters: dict, log_output: bool) -> dict:
    """In a pool process: execute one notebook; its seconds and kernel peak memory, or its error as plain data
    (``(cell index, execution count, error name, error value)``; a papermill exception may not pickle)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    if log_output:
        _log_papermill_to_stderr(prefix=f"[{Path(notebook).name[:2]}] ")
    start = time.perf_counter()
    try:
        papermill.execute_notebook(notebook, output, parameters=parameters, kernel_name=KERNEL, cwd=cwd,
                                   progress_bar=False, log_output=log_output)
    except PapermillExecutionError as error:
        return {"error": (error.cell_index, error.exec_count, error.ename, str(error.evalue))}
    except Exception as error:  # noqa: BLE001 - e.g. a kernel that died: reported for this notebook
        return {"error": ("(none: the kernel or papermill failed)", None, type(error).__name__, str(error))}
    return {"seconds": round(time.perf_counter() - start, 1), "peak_gb": round(_children_peak_rss_gb(), 2),
            "error": None}


def _log_papermill_to_stderr(prefix: str = "") -> None:
    # papermill logs cell outputs at INFO on its own logger; its CLI configures a handler, a library call does not.
    import logging

    logger = logging.getLogger("papermill")
    if not any(getattr(h, "_fairlib", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"    {prefix}%(message)s"))
        handler._fairlib = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def _children_peak_rss_gb() -> float:
    # Largest resident set of any finished child process so far (each kernel ends with its notebook): an
    # upper bound for the notebook just run, exact when notebooks run one per invocation.
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
