"""Notebook parameters: typed parameters cells, `reproduce -p`, output folders, and the papermill CLI itself."""
import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest

from fairlib import paths, report
from fairlib.__main__ import check_parameters, main, parse_value
from fairlib.config import get_profile

NOTEBOOKS = sorted(Path(paths.NOTEBOOKS).glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(autouse=True)
def forget_outputs():
    report.reset_outputs()
    yield
    report.reset_outputs()


def _build_cell(path):
    nb = nbformat.read(path, as_version=4)
    return next(c for c in nb.cells if c.cell_type == "code" and "use_outputs(" in c.source)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_parameter_is_typed_none_by_default_and_recorded_by_the_build_cell(path):
    declared = papermill.inspect_notebook(str(path))
    assert "profile" in declared and "tag" in declared and len(declared) >= 3
    for name, info in declared.items():
        assert info["inferred_type_name"] != "None", f"{path.name}: {name} has no '# type:' comment"
        assert info["help"], f"{path.name}: {name} has no help text"
        assert info["default"] == ('"smoke"' if name == "profile" else "None"), name
    call = next(n for n in ast.walk(ast.parse(_build_cell(path).source))
                if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "use_outputs")
    recorded = next(k.value for k in call.keywords if k.arg == "parameters")
    assert sorted(k.arg for k in recorded.keywords) == sorted(declared)  # the results JSON records every one
    assert all(isinstance(k.value, ast.Name) and k.value.id == k.arg for k in recorded.keywords)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_build_cell_accepts_its_parameters_defaults_and_gives_the_registered_profile(path):
    """With every parameter at its default, the build cell's get_profile(...) is the registered profile."""
    source = _build_cell(path).source
    tree = ast.parse(source)
    assign = next(n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "cfg")
    namespace = {name: None for name in papermill.inspect_notebook(str(path))}
    namespace.update(profile="test", get_profile=get_profile)
    assert eval(compile(ast.Expression(assign.value), "<build cell>", "eval"), namespace) == get_profile("test")


@pytest.mark.parametrize("text, value", [("[0, 1]", [0, 1]), ("1", 1), ("1.5", 1.5), ("None", None), ("True", True),
                                         ("mine", "mine"), ("['a', 'b']", ["a", "b"]), ("{x: 1}", {"x": 1}),
                                         ("1e3", 1000.0)])
def test_values_are_read_as_papermills_p_then_as_yaml(text, value):
    assert parse_value(text) == value and type(parse_value(text)) is type(value)


def test_an_unknown_parameter_is_refused_before_anything_runs(monkeypatch, capsys):
    import fairlib._reproduce as reproduce
    import fairlib.experiments as experiments

    def forbidden(*args, **kwargs):
        raise AssertionError("nothing may run")

    monkeypatch.setattr(reproduce, "run_notebooks", forbidden)
    monkeypatch.setattr(reproduce, "prepare_shared_backbones", forbidden)
    monkeypatch.setattr(experiments, "run_jobs", forbidden)
    assert main(["reproduce", "--profile", "test", "--only", "02", "-p", "epoch", "1"]) == 1
    err = capsys.readouterr().err
    assert "02_fairlora.ipynb has no parameter 'epoch'" in err and "'epochs'" in err and "'lambdas'" in err
    # a parameter one selected notebook lacks is refused too, naming that notebook
    assert main(["reproduce", "--profile", "test", "--only", "02", "04", "-p", "lambdas", "[1.0]"]) == 1
    assert "04_fisher_svd.ipynb has no parameter 'lambdas'" in capsys.readouterr().err
    assert main(["reproduce", "--profile", "test", "-p", "profile", "full"]) == 1
    assert "--profile" in capsys.readouterr().err


def test_known_parameters_reach_the_notebooks_and_the_pool_is_left_to_them(monkeypatch, capsys):
    import fairlib._reproduce as reproduce
    import fairlib.experiments as experiments

    seen = {}
    monkeypatch.setattr(reproduce, "prepare_shared_backbones", lambda profile, only=None: None)
    monkeypatch.setattr(experiments, "run_jobs", lambda *a, **k: pytest.fail("the pool runs the registered grid"))
    monkeypatch.setattr(reproduce, "run_notebooks", lambda **kw: seen.update(kw) or {"02_fairlora.ipynb": 1.0})
    assert main(["reproduce", "--profile", "test", "--only", "02", "-p", "seeds", "[0, 1]", "-p", "tag", "x"]) == 0
    assert seen["parameters"] == {"seeds": [0, 1], "tag": "x"}
    assert "not rebuilt" in capsys.readouterr().out
    assert check_parameters([], NOTEBOOKS) == {}


# -- output folders ------------------------------------------------------------------------------------------------
def test_only_the_reproduction_of_the_registered_profile_writes_the_profiles_folder():
    test = get_profile("test")
    changed = get_profile("test", fairlora=dict(epochs=1))
    assert report.output_folder(test, reproduction=True) == "test"
    assert report.output_folder(test, reproduction=False) == "test-scratch"   # JupyterLab, papermill CLI
    assert report.output_folder(changed, reproduction=True) == "test-epochs-1"
    assert report.output_folder(test, tag="mine", reproduction=True) == "test-mine"
    assert report.output_folder(get_profile("test", seeds=[0, 1], fairlora=dict(lambdas=[0.5])),
                                reproduction=True) == "test-lambdas-0.5_seeds-0-1"  # seeds named once
    long = get_profile("test", fairlora=dict(lambdas=[float(i) for i in range(1, 40)]))
    assert report.output_folder(long, reproduction=True).startswith("test-params-")
    for bad in ("", "../x", "a b", "a/b", "-x"):
        with pytest.raises(ValueError, match="tag"):
            report.output_folder(test, tag=bad)


#: Sections with a seed list of their own, which a top-level ``seeds`` override also sets.
SEEDED_SECTIONS = ("fairlora", "lora_fairness", "privacy", "benchmark", "peft_family")


def test_use_outputs_routes_every_writer_and_the_results_json_records_the_parameters(tmp_path, monkeypatch):
    import pandas as pd

    monkeypatch.setattr(paths, "FIGURES", tmp_path)
    monkeypatch.delenv(report.REPRODUCTION_ENV, raising=False)
    cfg = get_profile("test", seeds=[3])
    folder = report.use_outputs(cfg, tag=None, parameters={"profile": "test", "seeds": [3], "tag": None})
    assert folder == tmp_path / "test-seeds-3"
    report.save_table(pd.DataFrame({"a": [1.0]}), "99_table", profile="test")
    path = report.write_results("99", profile="test", metrics={"x": 1.0}, config={"profile": cfg})
    assert path == folder / "99_results.json" and (folder / "99_table.csv").exists()
    assert not (tmp_path / "test").exists()
    saved = json.loads(path.read_text())
    assert saved["parameters"] == {"profile": "test", "seeds": [3], "tag": None}
    assert saved["overrides"] == {"seeds": [3], **{s: {"seeds": [3]} for s in SEEDED_SECTIONS}} and saved["output_folder"] == "test-seeds-3"
    assert saved["profile"] == "test" and saved["config"]["profile"]["seeds"] == [3]


@pytest.mark.notebooks
def test_the_papermill_cli_with_overridden_seeds_writes_its_own_folder(tmp_path, monkeypatch):
    """`papermill 02_fairlora.ipynb out.ipynb -p profile test -y "seeds: [0, 1]"` as a user types it."""
    cache, figures = tmp_path / "cache", tmp_path / "figures"
    if (paths.CACHE / "tiny_vit").is_dir():  # the shared stand-in backbone, not a run of this notebook
        shutil.copytree(paths.CACHE / "tiny_vit", cache / "tiny_vit")
    env = {k: v for k, v in os.environ.items() if k != report.REPRODUCTION_ENV}
    env.update(FAIRLIB_CACHE=str(cache), FAIRLIB_FIGURES=str(figures), PYTHONPATH=str(paths.ROOT),
               FAIRLIB_PROGRESS="0")
    papermill_cli = Path(sys.executable).parent / "papermill"
    subprocess.run([str(papermill_cli), str(paths.NOTEBOOKS / "02_fairlora.ipynb"), str(tmp_path / "out.ipynb"),
                    "-p", "profile", "test", "-y", "seeds: [0, 1]", "-p", "epochs", "1", "--cwd", str(paths.ROOT)],
                   check=True, env=env, cwd=paths.ROOT, timeout=1800)
    written = sorted(p.name for p in figures.iterdir())
    assert written == ["test-epochs-1_seeds-0-1"], written  # figures/test/ (REPORT.md's sources) never created
    results = json.loads((figures / written[0] / "02_results.json").read_text())
    assert results["parameters"]["seeds"] == [0, 1] and results["parameters"]["epochs"] == 1
    assert results["config"]["fairlora"]["seeds"] == [0, 1] and results["config"]["fairlora"]["epochs"] == 1
    # the runs it trained are keyed with the overrides, beside (not in place of) the registered profile's
    specs = [json.loads(p.read_text())["spec"] for p in (cache / "runs" / "02-test").glob("*/spec.json")]
    assert specs and all(s["overrides"]["fairlora"] == {"epochs": 1, "seeds": [0, 1]} for s in specs)
    assert {s["seed"] for s in specs} == {0, 1}
