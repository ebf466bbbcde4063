"""`reproduce` executes its notebooks up to `--workers` at a time: same results, same records, clear failures."""

import json

import nbformat
import pytest

from fairlib import paths
from fairlib._reproduce import NotebookFailed, kernel_threads, notebook_paths, run_notebooks
from fairlib.experiments import usable_cores

# Each tiny notebook records what its kernel sees (thread settings) and a number computed with torch in it.
PROBE = """
import json, os, torch
torch.manual_seed(int(number))
x = torch.randn(64, 64, dtype=torch.float64)
value = float((x @ x.T).sum())
record = {"number": number, "value": value, "omp": os.environ.get("OMP_NUM_THREADS"),
          "torch_threads": torch.get_num_threads(), "workers": os.environ.get("FAIRLIB_WORKERS")}
with open(os.path.join(out, f"{number}.json"), "w") as f:
    json.dump(record, f)
"""


def _notebook(folder, name, number, out, body=PROBE):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "fairlib", "display_name": "Python 3 (fairlib)", "language": "python"}
    params = nbformat.v4.new_code_cell(f'profile = "smoke"\nnumber = "{number}"\nout = {str(out)!r}')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell(body)]
    (folder / name).write_text(nbformat.writes(nb))


@pytest.fixture
def probes(tmp_path, monkeypatch):
    """Three probe notebooks (93, 94, 95) in a temporary notebooks folder; BUILD there too."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    out = tmp_path / "records"
    out.mkdir()
    for number in ("93", "94", "95"):
        _notebook(folder, f"{number}_probe.ipynb", number, out)
    monkeypatch.setattr(paths, "NOTEBOOKS", folder)
    monkeypatch.setattr(paths, "BUILD", tmp_path / "build")
    return folder, out


def _records(out):
    return {p.stem: json.loads(p.read_text()) for p in sorted(out.glob("*.json"))}


def test_kernel_threads_share_the_cores():
    cores = usable_cores()
    assert kernel_threads(1) == cores
    assert kernel_threads(cores) == 1
    assert kernel_threads(cores + 5) == 1  # never zero
    assert kernel_threads(2) == max(1, cores // 2)


def test_workers_must_be_a_positive_int(probes):
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="workers="):
            run_notebooks(profile="test", workers=bad)


def test_concurrent_matches_sequential_and_keeps_notebook_order(probes, tmp_path, monkeypatch, capsys):
    folder, out = probes
    # Sequential at the thread count the concurrent kernels get: the numbers must be the same.
    threads = kernel_threads(2)
    monkeypatch.setenv("OMP_NUM_THREADS", str(threads))
    first = run_notebooks(profile="test", workers=1, output_dir=tmp_path / "one")
    sequential = _records(out)
    capsys.readouterr()
    for p in out.glob("*.json"):
        p.unlink()
    monkeypatch.delenv("OMP_NUM_THREADS")
    second = run_notebooks(profile="test", workers=2, output_dir=tmp_path / "two")
    concurrent = _records(out)
    printed = capsys.readouterr().out

    names = [p.name for p in notebook_paths()]
    assert list(first) == list(second) == names  # returned in notebook order
    assert set(sequential) == set(concurrent) == {"93", "94", "95"}
    for number in sequential:
        assert concurrent[number]["value"] == sequential[number]["value"]
        # each kernel was given its share of the cores, and a grid it runs itself one worker
        assert concurrent[number]["omp"] == str(threads)
        assert concurrent[number]["torch_threads"] == threads
        assert concurrent[number]["workers"] == "1"
    # one line per notebook, in notebook order whatever order they finished in
    lines = [line for line in printed.splitlines() if line.startswith("[")]
    assert [line.split()[1] for line in lines] == names
    assert [line.split()[0] for line in lines] == ["[1/3]", "[2/3]", "[3/3]"]
    # the timings file holds every notebook, in notebook order, with a measured peak memory
    timings = json.loads((tmp_path / "build" / "reproduce_times_test.json").read_text())
    assert list(timings) == names
    assert all(t["peak_memory_gb_upper_bound"] > 0 for t in timings.values())
    for name in names:  # executed copies written
        assert nbformat.read(tmp_path / "two" / name, as_version=4).cells[-1].outputs == []


def test_a_failure_names_notebook_and_cell_and_the_others_end_cleanly(probes, tmp_path):
    import multiprocessing

    folder, out = probes
    _notebook(folder, "94_probe.ipynb", "94", out, body="raise ValueError('boom in 94')")
    with pytest.raises(NotebookFailed) as error:
        run_notebooks(profile="test", workers=2, output_dir=tmp_path / "executed")
    message = str(error.value)
    # cell 3: parameters, papermill's injected parameters, `x = 1`, then the raise
    assert "94_probe.ipynb failed in cell 3" in message and "ValueError: boom in 94" in message
    assert "93_probe.ipynb" not in message
    # 93 was running beside 94: it finished (its record and executed copy are complete), and the pool is gone
    assert "93" in _records(out)
    assert nbformat.read(tmp_path / "executed" / "93_probe.ipynb", as_version=4).cells[-1].execution_count == 4
    assert multiprocessing.active_children() == []
    # nothing recorded for a failed reproduction, as when one notebook after another fails
    assert not (tmp_path / "build" / "reproduce_times_test.json").exists()


def test_the_lowest_numbered_failure_is_raised(probes, tmp_path):
    folder, out = probes
    for number in ("93", "95"):
        _notebook(folder, f"{number}_probe.ipynb", number, out, body=f"raise KeyError('k{number}')")
    with pytest.raises(NotebookFailed, match=r"93_probe.ipynb failed in cell 3 .*KeyError"):
        run_notebooks(profile="test", workers=3, output_dir=tmp_path / "executed")


@pytest.mark.notebooks
def test_two_real_notebooks_concurrently_give_the_sequential_results(monkeypatch):
    """Notebooks 00 and 03 at the test profile: their results JSONs are the same executed one after another
    (at the concurrent kernels' thread count) and two at a time (their runs stored first, as reproduce does)."""
    from fairlib.experiments import jobs_for, run_jobs
    from fairlib.report import read_results

    from fairlib._reproduce import prepare_shared_backbones

    prepare_shared_backbones("test")
    run_jobs(jobs_for("test", only=["00", "03"]), workers=1)
    monkeypatch.setenv("OMP_NUM_THREADS", str(kernel_threads(2)))
    run_notebooks(profile="test", only=["00", "03"], workers=1)
    sequential = {n: read_results(n, profile="test") for n in ("00", "03")}
    monkeypatch.delenv("OMP_NUM_THREADS")
    run_notebooks(profile="test", only=["00", "03"], workers=2)
    concurrent = {n: read_results(n, profile="test") for n in ("00", "03")}
    for number in ("00", "03"):
        for doc in (sequential[number], concurrent[number]):
            doc.pop("written_at")
        assert json.dumps(concurrent[number], sort_keys=True) == json.dumps(sequential[number], sort_keys=True)


# -- runs and notebooks in one go: each notebook starts as soon as its own runs are stored ----------------------
#: A probe notebook that counts the toy runs of notebook 93 stored when its kernel runs.
COUNTS_RUNS = PROBE + """
from pathlib import Path
record["stored_runs"] = len(list((Path(os.environ["FAIRLIB_CACHE"]) / "runs" / "93-test").glob("*/spec.json")))
with open(os.path.join(out, f"{number}.json"), "w") as f:
    json.dump(record, f)
"""


@pytest.fixture
def grid_of_93(probes, tmp_path, monkeypatch):
    """The toy experiment registered as notebook 93 (three runs), its store in a temporary folder."""
    from fairlib.experiments import EXPERIMENTS, RunSpec

    folder, out = probes
    _notebook(folder, "93_probe.ipynb", "93", out, body=COUNTS_RUNS)
    monkeypatch.setenv("FAIRLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(paths, "CACHE", tmp_path / "cache")
    monkeypatch.delenv("FAIRLIB_WORKERS", raising=False)
    for notebook in list(EXPERIMENTS):
        monkeypatch.delitem(EXPERIMENTS, notebook)
    monkeypatch.setitem(EXPERIMENTS, "93", "tests._toy_experiment")
    jobs = [RunSpec.make("93", "test", "erm", seed, steps=5, width=4) for seed in (0, 1, 2)]
    return folder, out, jobs


def test_grid_and_notebooks_give_the_sequential_records_and_each_kernel_finds_its_runs(grid_of_93, tmp_path,
                                                                                        monkeypatch, capsys):
    from fairlib._reproduce import run_grid_and_notebooks
    from fairlib.experiments import is_stored

    folder, out, jobs = grid_of_93
    report, seconds = run_grid_and_notebooks(jobs, profile="test", workers=2, output_dir=tmp_path / "piped")
    piped = _records(out)
    printed = capsys.readouterr().out
    assert (report.trained, report.failed) == (3, 0) and all(is_stored(s) for s in jobs)
    assert list(seconds) == [p.name for p in notebook_paths()]
    assert piped["93"]["stored_runs"] == 3  # its kernel started after all three were stored
    assert "Runs of 93_probe.ipynb: stored; executing it" in printed
    assert "Runs of 94_probe.ipynb: none to train; executing it" in printed
    # the same records as the runs first, then the notebooks (at the kernels' thread count)
    for p in out.glob("*.json"):
        p.unlink()
    monkeypatch.setenv("OMP_NUM_THREADS", str(kernel_threads(2)))
    run_notebooks(profile="test", workers=1, output_dir=tmp_path / "sequential")
    sequential = _records(out)
    assert {n: r["value"] for n, r in piped.items()} == {n: r["value"] for n, r in sequential.items()}
    assert all(r["torch_threads"] == kernel_threads(2) for r in piped.values())


def test_a_failed_run_skips_only_its_notebook_and_is_raised_after_the_others_ran(grid_of_93, tmp_path, capsys):
    from fairlib._reproduce import run_grid_and_notebooks
    from fairlib.experiments import RunSpec, RunsFailed

    folder, out, jobs = grid_of_93
    bad = RunSpec.make("93", "test", "erm", 9, steps=5, width=4, fail=True)
    with pytest.raises(RunsFailed, match="toy failure of seed 9"):
        run_grid_and_notebooks(jobs + [bad], profile="test", workers=2, output_dir=tmp_path / "piped")
    assert set(_records(out)) == {"94", "95"}  # 93 was not executed; the others were
    assert "Not executed, because runs they need failed: 93_probe.ipynb (1 of its runs failed)" in capsys.readouterr().out
