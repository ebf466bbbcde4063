"""Command line.

``python -m fairlib reproduce [--profile smoke|full|test] [--only NN ...] [--workers N] [-p NAME VALUE ...]``
    run the registered notebooks' missing jobs in one process pool over every core, then execute the numbered
    notebooks through papermill (they find every run stored; ``--workers`` notebooks at a time, each kernel with
    cores // that many torch threads), then build the reproduction report. ``-p`` passes
    a parameter of the notebooks' parameters cells (checked against each selected notebook before anything
    runs; VALUE read as papermill's ``-p`` reads it, and as YAML for lists: ``-p seeds "[0, 1]"``); a run with
    parameters writes to ``figures/<profile>-<tag>/`` and leaves the reproduction and its report alone.
``python -m fairlib run NN --profile P --executor {local,slurm} [--workers N | --partition P ...]``
    run notebook NN's grid of jobs (its missing runs) on every local core or on a SLURM cluster (submitit);
    a later ``reproduce`` only evaluates and plots.
``accelerate launch --multi_gpu --num_processes N -m fairlib run NN [--profile full]``
    one notebook's code as a script in N data-parallel processes (several GPUs); outputs as ``reproduce``.
``python -m fairlib cache ls|clean [--profile ...] [--only NN ...] [--stale]``
    list or remove stored runs (see ``fairlib._cache_cli``); ``reproduce --force`` retrains every run.
``python -m fairlib report [--profile ...]``
    build ``figures/<profile>/REPORT.md`` and ``REPORT.html`` from the notebooks' results JSONs.
"""

from __future__ import annotations

import argparse
import os
import sys

from .config import PROFILE_NAMES

# SLURM options of ``run --executor slurm``: flag -> SlurmOptions field.
_SLURM_FLAGS = {"partition": str, "gpus_per_job": int, "max_parallel": int, "timeout_min": int, "cpus_per_task": int,
                "mem_gb": float, "runs_per_job": int, "max_retries": int}


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an int") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is invalid: must be >= 1")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fairlib", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    reproduce = commands.add_parser("reproduce", help="run the missing jobs, then execute the numbered notebooks")
    reproduce.add_argument("--profile", default="smoke", choices=PROFILE_NAMES)
    reproduce.add_argument("--only", nargs="+", metavar="NN", help="notebook numbers, e.g. --only 01 04")
    reproduce.add_argument("--dry-run", action="store_true",
                           help="check that every dataset and checkpoint is present and print the plan; train nothing")
    reproduce.add_argument("--force", action="store_true",
                           help="train every run again, ignoring runs stored before now (sets FAIRLIB_FORCE)")
    reproduce.add_argument("--executor", choices=("local",), default="local",
                           help="where the registered notebooks' jobs run before the notebooks (default: local)")
    reproduce.add_argument("--workers", type=_positive_int, metavar="N",
                           help="worker processes of the jobs' pool, then notebooks executed at a time (default: "
                                "FAIRLIB_WORKERS or the usable cores; 1: one notebook after another)")
    reproduce.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                           dest="parameters", help="a notebook parameter (repeatable), e.g. -p seeds '[0, 1]' -p tag "
                                                   "mine; see `papermill --help-notebook notebooks/NN_*.ipynb`")
    run = commands.add_parser("run", help="run one notebook's grid of jobs (--executor), or its code as a script "
                                          "(for `accelerate launch`)")
    run.add_argument("notebook", metavar="NN")
    run.add_argument("--profile", default="smoke", choices=PROFILE_NAMES)
    run.add_argument("--executor", choices=("local", "slurm"),
                     help="run the notebook's missing jobs here on every core (local) or on SLURM via submitit; "
                          "without it, the notebook's code runs as a script")
    run.add_argument("--workers", type=_positive_int, metavar="N", help="local worker processes")
    run.add_argument("--dry-run", action="store_true",
                     help="check that the notebook's datasets and checkpoints are present and print its plan; "
                          "train nothing")
    slurm = run.add_argument_group("SLURM (with --executor slurm)")
    slurm.add_argument("--partition")
    slurm.add_argument("--gpus-per-job", type=int)
    slurm.add_argument("--max-parallel", type=int, metavar="K", help="most jobs running at once")
    slurm.add_argument("--timeout-min", type=int)
    slurm.add_argument("--cpus-per-task", type=int)
    slurm.add_argument("--mem-gb", type=float)
    slurm.add_argument("--runs-per-job", type=int)
    slurm.add_argument("--max-retries", type=int, help="resubmissions of a job that died")
    report = commands.add_parser("report", help="build figures/<profile>/REPORT.md and .html from the results")
    report.add_argument("--profile", default="smoke", choices=PROFILE_NAMES)
    cache = commands.add_parser("cache", help="list or remove stored runs (`cache ls`, `cache clean`)")
    from ._cache_cli import add_arguments as add_cache_arguments

    add_cache_arguments(cache)
    return parser


def _fail(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _dry_run(profile: str, only: list[str] | None) -> int:
    """Print what the notebooks ``only`` (all if None) need at ``profile`` and their plan; 1 if anything is
    missing."""
    from ._plan import PlannedJobs, format_plan, plan_from_jobs
    from .config import get_profile
    from .experiments import EXPERIMENTS, experiment_module, jobs_for

    needs, plans = get_profile(profile).requirements_and_plans(only)
    notes = []
    wanted = sorted(EXPERIMENTS) if not only else sorted({n.zfill(2) for n in only} & set(EXPERIMENTS))
    for notebook in wanted:  # declared grids replace estimates
        try:
            plans.update(plan_from_jobs(jobs_for(profile, only=[notebook])))
        except OSError as error:  # a grid sized from data or weights that are not in place (notebook 06)
            upper = getattr(experiment_module(notebook), "plan_without_data", None)
            if upper is None:
                raise
            plans[notebook] = [PlannedJobs(notebook=notebook, what=f"{method} (at most)", runs=e["runs"],
                                           seeds=e["seeds"], gpu_hours=e["gpu_hours"])
                               for method, e in upper(profile).items()]
            first = str(error).splitlines()[0] if str(error) else type(error).__name__
            notes.append(f"notebook {notebook}: its grid is sized on its data and backbone, which are not in place "
                         f"({first}); the counts are the most it can hold (an adapter that cannot match a budget "
                         f"is dropped)")
    text, missing = format_plan(needs, plans)
    print(f"Dry run, profile {profile}:\n{text}" + "".join(f"\n{note}" for note in notes))
    return 1 if missing or notes else 0


def _run_grid(args: argparse.Namespace) -> int:
    from .config import ConfigError
    from .experiments import RunsFailed, SlurmOptions, experiment_module, jobs_for, run_jobs
    from ._reproduce import prepare_shared_backbones

    given = {name: getattr(args, name) for name in _SLURM_FLAGS if getattr(args, name) is not None}
    try:
        experiment_module(args.notebook)
        slurm = None
        if args.executor == "slurm":
            if "partition" not in given:
                return _fail("--executor slurm needs --partition")
            slurm = SlurmOptions(**given)
        elif given:
            return _fail(f"SLURM options {sorted('--' + n.replace('_', '-') for n in given)} apply only to "
                         f"--executor slurm (valid choices: local, slurm)")
        jobs = jobs_for(args.profile, only=[args.notebook])
        prepare_shared_backbones(args.profile, [args.notebook])  # once here, not raced by the workers
        report = run_jobs(jobs, executor=args.executor, workers=args.workers, slurm=slurm)
    except ConfigError as error:
        return _fail(str(error))
    except RunsFailed as error:
        return _fail(str(error), 1)
    print(report.summary())
    return 0


def parse_value(text: str) -> object:
    """A ``-p`` VALUE as papermill's CLI reads ``-p`` (True/False/None, int, float), else as YAML (lists, dicts:
    what papermill's ``-y`` reads), else the string itself."""
    from papermill.cli import _is_float, _is_int

    if text in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[text]
    if _is_int(text):
        return int(text)
    if _is_float(text):
        return float(text)
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, (list, dict)) else text


def check_parameters(pairs: list[list[str]], notebooks: list) -> dict:
    """``-p NAME VALUE`` pairs as a parameters dict, every name checked against each notebook's parameters cell
    (``papermill.inspect_notebook``).

    Raises
    ------
    ValueError
        A name that a selected notebook does not declare (naming the notebook and its parameters), ``profile``
        (given with ``--profile``), or a name given twice.
    """
    import papermill

    parameters: dict = {}
    for name, text in pairs:
        if name == "profile":
            raise ValueError("the profile is chosen with --profile, not -p profile")
        if name in parameters:
            raise ValueError(f"parameter {name!r} is given twice")
        parameters[name] = parse_value(text)
    for path in notebooks:
        declared = papermill.inspect_notebook(str(path))
        unknown = [name for name in parameters if name not in declared]
        if unknown:
            raise ValueError(f"{path.name} has no parameter {', '.join(map(repr, unknown))}; its parameters: "
                             f"{sorted(declared)} (select notebooks with --only)")
    return parameters


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    if args.command == "cache":
        from ._cache_cli import main as cache_main

        return cache_main(args)
    if args.command == "reproduce" and args.force:
        import time

        # One cut-off for the workers and every kernel: runs stored before now are trained again, once.
        os.environ["FAIRLIB_FORCE"] = repr(time.time())

    if args.command == "run":
        from ._reproduce import notebook_paths

        try:
            (path,) = notebook_paths([args.notebook])
        except ValueError as error:
            return _fail(str(error))
        args.notebook = path.name[:2]
        if args.dry_run:
            return _dry_run(args.profile, [args.notebook])
        if args.executor is not None:
            return _run_grid(args)
        if args.workers is not None or any(getattr(args, name) is not None for name in _SLURM_FLAGS):
            return _fail("--workers and the SLURM options need --executor {local,slurm}")
        from ._run_script import run_as_script
        from .report import REPRODUCTION_ENV

        os.environ[REPRODUCTION_ENV] = "1"  # the script path of `reproduce` (several GPUs): it writes the reproduction
        run_as_script(args.notebook, {"profile": args.profile})
        return 0

    if args.command == "report":
        from ._report_builder import build_report

        md, page = build_report(args.profile)
        print(f"Wrote {md} and {page}")
        return 0

    from ._reproduce import (NotebookFailed, notebook_paths, prepare_shared_backbones, run_grid_and_notebooks,
                             run_notebooks)

    try:
        notebooks = notebook_paths(args.only)  # an unknown number fails before anything else
        parameters = check_parameters(args.parameters or [], notebooks)  # so does an unknown parameter
    except ValueError as error:
        return _fail(str(error), 1)

    if args.dry_run:
        return _dry_run(args.profile, args.only)

    from .config import ConfigError
    from .experiments import RunsFailed, default_workers, jobs_for, run_jobs

    try:
        prepare_shared_backbones(args.profile, args.only)
        # With parameters, each notebook's grid is its parameters' (it trains its missing runs itself).
        jobs = [] if parameters else jobs_for(args.profile, only=args.only)
        if args.workers is not None:
            os.environ["FAIRLIB_WORKERS"] = str(args.workers)  # the kernels' executors use as many
        workers = args.workers if args.workers is not None else default_workers()
        if jobs and workers > 1:
            # Every selected notebook's missing runs in one pool, each notebook executed (as many at a time as
            # the pool has workers) as soon as its own runs are stored.
            _, seconds = run_grid_and_notebooks(jobs, profile=args.profile, only=args.only, workers=workers)
        else:
            if jobs:
                print(run_jobs(jobs, executor=args.executor, workers=workers).summary(), flush=True)
            seconds = run_notebooks(profile=args.profile, only=args.only, parameters=parameters, workers=workers)
    except (NotebookFailed, ConfigError, RunsFailed, ValueError) as error:
        return _fail(str(error), 1)
    if parameters:
        print(f"All {len(seconds)} notebook(s) ran with {parameters}; each wrote to the figures/ folder it printed "
              f"(figures/{args.profile}-<tag>/ unless every parameter is the profile's value). The reproduction "
              f"report was not rebuilt.")
        return 0
    print(f"All {len(seconds)} notebook(s) ran; outputs in figures/{args.profile}/, "
          f"executed copies in build/notebooks/{args.profile}/.")
    from ._report_builder import build_report

    print(f"Reproduction report: {build_report(args.profile)[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
