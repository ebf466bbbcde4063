"""Command line.

``python -m fairlib reproduce [--profile smoke|full|test] [--only NN ...]``
    execute the numbered notebooks through papermill, then build the reproduction report.
``accelerate launch --multi_gpu --num_processes N -m fairlib run NN [--profile full]``
    one notebook's code as a script in N data-parallel processes (several GPUs); outputs as ``reproduce``.
``python -m fairlib cache ls|clean [--profile ...] [--only NN ...] [--stale]``
    list or remove stored runs (see ``fairlib._cache_cli``); ``reproduce --force`` retrains every run.
``python -m fairlib report [--profile ...]``
    build ``figures/<profile>/REPORT.md`` and ``REPORT.html`` from the notebooks' results JSONs.
"""

from __future__ import annotations

import argparse
import sys

from .config import PROFILE_NAMES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fairlib", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    reproduce = commands.add_parser("reproduce", help="execute the numbered notebooks through papermill")
    reproduce.add_argument("--profile", default="smoke", choices=PROFILE_NAMES)
    reproduce.add_argument("--only", nargs="+", metavar="NN", help="notebook numbers, e.g. --only 01 04")
    reproduce.add_argument("--dry-run", action="store_true",
                           help="check that every dataset and checkpoint is present and print the plan; train nothing")
    reproduce.add_argument("--force", action="store_true",
                           help="train every run again, ignoring stored runs (sets FAIRLIB_FORCE=1)")
    run = commands.add_parser("run", help="run one notebook's code as a script (for `accelerate launch`)")
    run.add_argument("notebook", metavar="NN")
    run.add_argument("--profile", default="smoke", choices=PROFILE_NAMES)
    report = commands.add_parser("report", help="build figures/<profile>/REPORT.md and .html from the results")
    report.add_argument("--profile", default="smoke", choices=PROFILE_NAMES)
    cache = commands.add_parser("cache", help="list or remove stored runs (`cache ls`, `cache clean`)")
    from ._cache_cli import add_arguments as add_cache_arguments

    add_cache_arguments(cache)
    args = parser.parse_args(argv)

    if args.command == "cache":
        from ._cache_cli import main as cache_main

        return cache_main(args)
    if args.command == "reproduce" and args.force:
        import os

        os.environ["FAIRLIB_FORCE"] = "1"  # inherited by the notebook kernels: RunStore.run ignores stored runs

    if args.command == "run":
        from ._run_script import run_as_script

        run_as_script(args.notebook, {"profile": args.profile})
        return 0

    if args.command == "report":
        from ._report_builder import build_report

        md, page = build_report(args.profile)
        print(f"Wrote {md} and {page}")
        return 0

    if args.command == "reproduce" and args.dry_run:
        from ._plan import format_plan
        from .config import get_profile

        needs, plans = get_profile(args.profile).requirements_and_plans(args.only)
        text, missing = format_plan(needs, plans)
        print(f"Dry run, profile {args.profile}:\n{text}")
        return 1 if missing else 0

    if args.command == "reproduce":
        from ._reproduce import NotebookFailed, notebook_paths, prepare_shared_backbones, run_notebooks

        try:
            notebook_paths(args.only)  # an unknown number fails before any pre-training
            prepare_shared_backbones(args.profile)
            seconds = run_notebooks(profile=args.profile, only=args.only)
        except (NotebookFailed, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(f"All {len(seconds)} notebook(s) ran; outputs in figures/{args.profile}/, "
              f"executed copies in build/notebooks/{args.profile}/.")
        from ._report_builder import build_report

        print(f"Reproduction report: {build_report(args.profile)[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
