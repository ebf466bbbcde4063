"""Conventions every notebook follows, and the template executed end to end."""

import ast
import json

import nbformat
import pytest

from fairlib import paths
from fairlib._reproduce import notebook_paths, run_notebooks
from fairlib.report import read_results

NOTEBOOKS = notebook_paths()


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_conventions(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["kernelspec"] == {"name": "fairlib", "display_name": "Python 3 (fairlib)", "language": "python"}
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    cells = code_cells(nb)
    assert all(not c.outputs and c.execution_count is None for c in cells), "committed notebooks carry no outputs"
    tagged = [i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])]
    assert tagged == [1], "the first code cell after the imports is the one tagged 'parameters'"
    params = ast.parse(cells[1].source)
    assert "profile" in {t.id for node in params.body for t in node.targets}
    for node in params.body:
        assert isinstance(node, ast.Assign), "the parameters cell holds assignments only"
        ast.literal_eval(node.value)  # literals only: raises otherwise
    for cell in cells:
        tree = ast.parse(cell.source)
        assert not any(isinstance(n, (ast.FunctionDef, ast.ClassDef)) for n in ast.walk(tree)), \
            "functions and classes belong in fairlib, not in a notebook"
    assert "write_results" in cells[-1].source, "the last cell writes the results JSON"


def test_reproduce_cli_rejects_unknown_notebook():
    from fairlib.__main__ import main
    assert main(["reproduce", "--only", "97"]) == 1


def test_failure_names_notebook_and_cell(tmp_path, monkeypatch):
    from fairlib._reproduce import NotebookFailed
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell('profile = "smoke"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("raise ValueError('boom')")]
    (tmp_path / "98_broken.ipynb").write_text(nbformat.writes(nb))
    monkeypatch.setattr(paths, "NOTEBOOKS", tmp_path)
    with pytest.raises(NotebookFailed) as error:
        run_notebooks(profile="test", only=["98"], output_dir=tmp_path / "out")
    assert "98_broken.ipynb" in str(error.value) and "ValueError: boom" in str(error.value)


@pytest.mark.notebooks
def test_template_runs_and_is_repeatable(executed_notebook):
    first = executed_notebook("00")
    assert first["profile"] == "test" and first["versions"]["torch"].startswith("2.13")
    assert first["metrics"]["trainable_parameters"] == 742
    summary = first["metrics"]["summary"]
    assert 0.75 < summary["accuracy"] < 0.9
    # the recorded gap is the difference of the recorded per-group selection rates
    rates = [g["selection_rate"] for g in first["metrics"]["per_group"].values()]
    assert summary["dpd"] == pytest.approx(max(rates) - min(rates))
    tprs, fprs = ([g[k] for g in first["metrics"]["per_group"].values()] for k in ("recall", "fpr"))
    assert summary["eo_max"] == pytest.approx(max(max(tprs) - min(tprs), max(fprs) - min(fprs)))
    assert summary["eo_sum"] == pytest.approx(max(tprs) - min(tprs) + max(fprs) - min(fprs))
    for suffix in ("png", "pdf", "csv", "md"):
        assert (paths.FIGURES / "test" / f"00_per_group.{suffix}").exists()
    # the same seed gives the same results JSON, apart from the time stamp
    run_notebooks(profile="test", only=["00"])
    second = read_results("00", profile="test")
    for doc in (first, second):
        doc.pop("written_at")
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


@pytest.mark.multiprocess
def test_template_as_script_in_two_processes_matches_one(tmp_path):
    """The several-GPU path: `accelerate launch ... -m fairlib run 00` trains data-parallel in two processes."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    results = {}
    for label, launcher in (("one", [sys.executable]),
                            ("two", [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines",
                                     "1", "--mixed_precision", "no", "--dynamo_backend", "no"])):
        env = {**os.environ, "FAIRLIB_FIGURES": str(tmp_path / label), "OMP_NUM_THREADS": "1",
               "PYTHONPATH": str(paths.ROOT)}
        subprocess.run([*launcher, "-m", "fairlib", "run", "00", "--profile", "test"], check=True, env=env,
                       cwd=tmp_path, timeout=600)
        results[label] = json.loads((tmp_path / label / "test" / "00_results.json").read_text())
    one, two = results["one"]["metrics"], results["two"]["metrics"]
    assert one["trainable_parameters"] == two["trainable_parameters"] == 742
    # Same global batches in both runs: the trained models agree up to float summation order.
    assert two["summary"]["accuracy"] == pytest.approx(one["summary"]["accuracy"], abs=2e-3)
    for a, b in zip(one["epoch_losses"], two["epoch_losses"]):
        assert b == pytest.approx(a, rel=1e-3)


def test_batch_runs_stream_cell_output(tmp_path, monkeypatch, capsys):
    """Without a terminal (a cluster job's log), each cell's output is logged as it runs; FAIRLIB_PROGRESS=0 mutes it."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "fairlib", "display_name": "Python 3 (fairlib)", "language": "python"}
    params = nbformat.v4.new_code_cell('profile = "smoke"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("print('cell-says-' + profile)")]
    (tmp_path / "97_talks.ipynb").write_text(nbformat.writes(nb))
    monkeypatch.setattr(paths, "NOTEBOOKS", tmp_path)
    monkeypatch.setenv("FAIRLIB_PROGRESS", "1")
    run_notebooks(profile="test", only=["97"], output_dir=tmp_path / "out")
    assert "cell-says-test" in capsys.readouterr().err
    monkeypatch.setenv("FAIRLIB_PROGRESS", "0")
    run_notebooks(profile="test", only=["97"], output_dir=tmp_path / "out")
    assert "cell-says-test" not in capsys.readouterr().err
