"""Command line: ``python -m fairlib reproduce [--profile smoke|full] [--only NN ...]``."""

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
    args = parser.parse_args(argv)

    if args.command == "reproduce":
        from ._reproduce import NotebookFailed, run_notebooks

        try:
            seconds = run_notebooks(profile=args.profile, only=args.only)
        except (NotebookFailed, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(f"All {len(seconds)} notebook(s) ran; outputs in figures/{args.profile}/, "
              f"executed copies in build/notebooks/{args.profile}/.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
