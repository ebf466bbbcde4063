"""Wall time and CPU use of a whole reproduction with ``--workers 1`` and ``--workers 2``, on an empty run store.

Each pass runs ``python -m fairlib reproduce --profile P [--only NN ...] --workers W`` in a subprocess with
``FAIRLIB_CACHE`` pointing at a fresh temporary folder, so every run is trained again; the pre-trained stand-in
backbones (``CACHE/tiny_vit``) are linked in, so they are not. CPU use is the user + system time of the
subprocess and everything it waited for (kernels, pool workers), divided by the wall time (100% = one core).

Prints both passes and the wall-time ratio (workers 1 / workers 2). The issue's target on the smoke profile of a
2-core machine: ratio >= 1.8x and CPU use >= 180% with two workers. Only notebooks whose grid is registered in
``fairlib.experiments.EXPERIMENTS`` run their jobs in the pool; the others train inside their kernel.

Usage: ``python bench/bench_reproduce.py [--profile smoke] [--only 01 04] [--workers 1 2]``.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fairlib import paths  # noqa: E402
from fairlib.config import PROFILE_NAMES  # noqa: E402


def one_pass(profile: str, only: list[str] | None, workers: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one reproduction on an empty run store."""
    with tempfile.TemporaryDirectory(prefix="fairlib-bench-") as cache:
        backbones = paths.CACHE / "tiny_vit"
        if backbones.exists():
            (Path(cache) / "tiny_vit").symlink_to(backbones, target_is_directory=True)
        env = {**os.environ, "FAIRLIB_CACHE": cache, "FAIRLIB_PROGRESS": "0", "PYTHONPATH": str(ROOT)}
        env.pop("FAIRLIB_WORKERS", None)
        command = [sys.executable, "-m", "fairlib", "reproduce", "--profile", profile, "--workers", str(workers),
                   *(["--only", *only] if only else [])]
        before = os.times()
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="smoke", choices=PROFILE_NAMES)
    parser.add_argument("--only", nargs="+", metavar="NN")
    parser.add_argument("--workers", nargs=2, type=int, default=[1, 2], metavar=("W1", "W2"),
                        help="the two worker counts compared (default 1 2)")
    args = parser.parse_args()
    if not (paths.CACHE / "tiny_vit").exists():
        print(f"note: no {paths.CACHE / 'tiny_vit'} to link; each pass pre-trains the stand-in backbone, and its "
              f"time counts")
    print(f"reproduce --profile {args.profile}{' --only ' + ' '.join(args.only) if args.only else ''}, "
          f"empty run store, {len(os.sched_getaffinity(0))} usable cores")
    print(f"{'workers':>8s} {'wall s':>8s} {'CPU s':>8s} {'CPU use':>8s}")
    walls = []
    for workers in args.workers:
        wall, cpu = one_pass(args.profile, args.only, workers)
        walls.append(wall)
        print(f"{workers:8d} {wall:8.1f} {cpu:8.1f} {100 * cpu / wall:7.0f}%", flush=True)
    print(f"wall-time ratio (workers {args.workers[0]} / workers {args.workers[1]}): {walls[0] / walls[1]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
