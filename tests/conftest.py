import os

import pytest

# Progress bars would flood the test log; the test suite never needs them.
os.environ.setdefault("FAIRLIB_PROGRESS", "0")

# fairlib.paths computes each folder on first use and keeps it for the process. Fix them now, from the
# environment the suite starts with, so that a test which sets FAIRLIB_CACHE / FAIRLIB_FIGURES for its
# subprocesses before patching `paths` can never leave its temporary folders behind for later tests.
from fairlib import paths as _paths  # noqa: E402

for _name in ("ROOT", "DATA", "FIGURES", "BUILD", "CACHE", "NOTEBOOKS"):
    getattr(_paths, _name)


@pytest.fixture
def one_torch_thread():
    """Run a test on one torch thread.

    For tests on tiny tensors: on a shared, loaded 2-core machine intra-op threads only add synchronisation,
    which made single ops take milliseconds. One thread keeps such tests fast and their timing stable.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def executed_notebook():
    """Execute a numbered notebook once per session on the `test` profile; return its results JSON."""
    from fairlib._reproduce import run_notebooks
    from fairlib.report import read_results, results_path

    done: dict[str, dict] = {}

    def run(number: str) -> dict:
        if number not in done:
            path = results_path(number, profile="test")
            if path.exists():
                path.unlink()  # a stale JSON from an earlier run must not pass for this one
            run_notebooks(profile="test", only=[number])
            done[number] = read_results(number, profile="test")
            assert done[number] is not None, f"notebook {number} wrote no results JSON"
        return done[number]

    return run
