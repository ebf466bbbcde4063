"""``python -m fairlib reproduce``: execute the numbered notebooks headless through papermill."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

from . import paths
from .config import PROFILE_NAMES

__all__ = ["notebook_paths", "run_notebooks", "prepare_shared_backbones", "NotebookFailed"]

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


def prepare_shared_backbones(profile: str) -> None:
    """Pre-train (once; then cached) the stand-in backbone that several notebooks share.

    Done before the first notebook so that its one-off cost is not charged to whichever notebook happens to
    need it first; a profile without stand-ins has nothing to prepare.
    """
    from .config import get_profile

    cfg = get_profile(profile)
    if cfg.stand_in:
        from .train import pretrained_tiny_vit

        pretrained_tiny_vit(cfg.stand_in_vit)


def run_notebooks(*, profile: str = "smoke", only: list[str] | None = None, parameters: dict | None = None,
                  output_dir: Path | None = None) -> dict[str, float]:
    """Execute notebooks with papermill (kernel ``fairlib``), the profile and ``parameters`` passed as parameters.

    The kernels run with ``FAIRLIB_REPRODUCTION=1``: a notebook run with the registered profile and no ``tag``
    writes ``figures/<profile>/`` (what REPORT.md is built from); see :func:`fairlib.report.use_outputs`.

    Executed copies go to ``build/notebooks/<profile>/``. Returns seconds per notebook; seconds and the
    kernel's peak resident memory per notebook are also kept in ``build/reproduce_times_<profile>.json``.

    Raises
    ------
    NotebookFailed
        On the first notebook that raises, naming notebook, cell and error.
    """
    import os

    import papermill
    from papermill.exceptions import PapermillExecutionError

    # The kernel must import the same fairlib as this process (a checkout that is not pip-installed, or one
    # of several worktrees), so the repository root goes first on the kernel's path.
    os.environ["PYTHONPATH"] = os.pathsep.join([str(paths.ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    # The kernels write the reproduction (figures/<profile>/) unless their parameters change the profile.
    os.environ["FAIRLIB_REPRODUCTION"] = "1"

    if profile not in PROFILE_NAMES:
        raise ValueError(f"unknown profile {profile!r}; valid profiles: {PROFILE_NAMES}")
    output_dir = output_dir or paths.BUILD / "notebooks" / profile
    output_dir.mkdir(parents=True, exist_ok=True)
    notebooks = notebook_paths(only)
    seconds: dict[str, float] = {}
    peak_gb: dict[str, float] = {}
    interactive = sys.stderr.isatty()
    # A batch job (a cluster's log file, CI) sees no progress bar: stream each cell's output instead.
    log_output = not interactive and os.environ.get("FAIRLIB_PROGRESS", "1") != "0"
    if log_output:
        _log_papermill_to_stderr()
    for i, notebook in enumerate(notebooks, start=1):
        print(f"[{i}/{len(notebooks)}] {notebook.name} (profile {profile})", flush=True)
        start = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(notebook), str(output_dir / notebook.name), parameters={"profile": profile, **(parameters or {})},
                kernel_name="fairlib", cwd=str(paths.NOTEBOOKS), progress_bar=interactive, log_output=log_output,
            )
        except PapermillExecutionError as error:
            raise NotebookFailed(
                f"{notebook.name} failed in cell {error.cell_index} (execution count {error.exec_count}): "
                f"{error.ename}: {error.evalue}\nExecuted copy with the traceback: {output_dir / notebook.name}"
            ) from None
        seconds[notebook.name] = round(time.perf_counter() - start, 1)
        peak_gb[notebook.name] = round(_children_peak_rss_gb(), 2)
        print(f"    done in {seconds[notebook.name]:.0f} s", flush=True)
    timings = paths.BUILD / f"reproduce_times_{profile}.json"
    timings.parent.mkdir(parents=True, exist_ok=True)  # absent when the executed copies went elsewhere
    previous = json.loads(timings.read_text()) if timings.exists() else {}
    record = {name: {"seconds": seconds[name], "peak_memory_gb_upper_bound": peak_gb[name]} for name in seconds}
    timings.write_text(json.dumps({**previous, **record}, indent=1))
    return seconds


def _log_papermill_to_stderr() -> None:
    # papermill logs cell outputs at INFO on its own logger; its CLI configures a handler, a library call does not.
    import logging

    logger = logging.getLogger("papermill")
    if not any(getattr(h, "_fairlib", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("    %(message)s"))
        handler._fairlib = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def _children_peak_rss_gb() -> float:
    # Largest resident set of any finished child process so far (each kernel ends with its notebook): an
    # upper bound for the notebook just run, exact when notebooks run one per invocation.
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
