"""Time `reproduce` per notebook on a profile, each notebook in its own process, against the budget.

Prints, per notebook, wall time / 5-minute budget and peak kernel memory / 6 GB budget (a ratio < 1 meets
the target). Usage: ``python bench/bench_reproduce.py [--profile smoke] [--only 01 04]``.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fairlib._reproduce import notebook_paths  # noqa: E402

BUDGET_SECONDS = 300.0
BUDGET_GB = 6.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--only", nargs="+")
    args = parser.parse_args()
    timings = ROOT / "build" / f"reproduce_times_{args.profile}.json"
    failed = False
    print(f"{'notebook':40s} {'seconds':>8s} {'/budget':>8s} {'peak GB':>8s} {'/budget':>8s}")
    for notebook in notebook_paths(args.only):
        # One process per notebook, so that the peak memory measured is this notebook's alone.
        run = subprocess.run([sys.executable, "-m", "fairlib", "reproduce", "--profile", args.profile, "--only",
                              notebook.name[:2]], cwd=ROOT)
        if run.returncode:
            print(f"{notebook.name:40s} FAILED")
            failed = True
            continue
        record = json.loads(timings.read_text())[notebook.name]
        seconds, peak = record["seconds"], record["peak_memory_gb_upper_bound"]
        print(f"{notebook.name:40s} {seconds:8.0f} {seconds / BUDGET_SECONDS:8.2f} {peak:8.2f} {peak / BUDGET_GB:8.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
