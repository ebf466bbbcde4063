"""The install's byte-compilation: pip's own (file by file, one core) against ``--no-compile`` then
``python -m compileall -j 0`` (every core), side by side in one run, into two fresh virtual environments.

Each pass creates a venv with the interpreter given (default: this one), installs the lock file with pip the way
``make install`` does (with or without ``--no-compile``), and for the second pass byte-compiles the venv's ``lib``
with ``compileall -j 0``. It prints both wall times, the ratio (pip's / compileall's) and how many ``.pyc`` files
each venv holds (the same files should come out of both). The package index or wheel cache pip uses is read the
same way in both passes; run it twice if the first pass also fills a cold cache.

Usage: ``python bench/bench_install.py [--lock requirements/cpu.txt] [--python python3.11]``.
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def one_pass(python: str, lock: Path, parallel: bool) -> tuple[float, int]:
    """(wall seconds, .pyc files) of one install into a fresh venv."""
    with tempfile.TemporaryDirectory(prefix="fairlib-install-") as folder:
        venv = Path(folder) / "venv"
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--require-hashes", "-r", str(lock)]
        start = time.perf_counter()
        subprocess.run(pip + (["--no-compile"] if parallel else []), check=True)
        if parallel:
            subprocess.run([str(venv / "bin" / "python"), "-m", "compileall", "-qq", "-j", "0", str(venv / "lib")],
                           check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        return seconds, sum(1 for _ in (venv / "lib").rglob("*.pyc"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lock", type=Path, default=ROOT / "requirements" / "cpu.txt")
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    serial, serial_pyc = one_pass(args.python, args.lock, parallel=False)
    print(f"pip byte-compiles (one core):            {serial:6.1f} s, {serial_pyc} .pyc files", flush=True)
    parallel, parallel_pyc = one_pass(args.python, args.lock, parallel=True)
    print(f"--no-compile + compileall -j 0:          {parallel:6.1f} s, {parallel_pyc} .pyc files")
    print(f"ratio (pip / compileall):                {serial / parallel:6.2f}x")


if __name__ == "__main__":
    main()
