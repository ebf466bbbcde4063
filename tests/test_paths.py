"""The repository root and the folders below it, each rule checked in a fresh process with its own cwd."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fairlib import paths

REAL_ROOT = Path(paths.__file__).resolve().parent.parent
PRINT = ("import json, fairlib.paths as p; "
         "print(json.dumps({n: str(getattr(p, n)) for n in ('ROOT', 'DATA', 'FIGURES', 'CACHE', 'NOTEBOOKS', 'BUILD')}))")


def run(cwd, pythonpath=REAL_ROOT, code=PRINT, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FAIRLIB_") and k != "PYTHONPATH"}
    clean.update({"PYTHONPATH": str(pythonpath), **env})
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=clean, capture_output=True, text=True,
                          timeout=120)


def fake_checkout(folder, name="fairlib"):
    (folder / "notebooks").mkdir(parents=True)
    (folder / "pyproject.toml").write_text(f'[build-system]\nrequires = []\n\n[project]\nname = "{name}"\n')
    return folder


def test_fairlib_root_wins_over_the_working_directory(tmp_path):
    given = fake_checkout(tmp_path / "given")
    inside = fake_checkout(tmp_path / "other")
    out = run(inside / "notebooks", FAIRLIB_ROOT=str(given))
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    assert found["ROOT"] == str(given.resolve())
    assert found["DATA"] == str(given.resolve() / "data")
    assert found["FIGURES"] == str(given.resolve() / "figures")
    assert found["CACHE"] == str(given.resolve() / "data" / "cache")
    assert found["NOTEBOOKS"] == str(given.resolve() / "notebooks")


def test_fairlib_root_that_is_no_checkout_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    for value in (tmp_path / "empty", tmp_path / "missing"):
        out = run(tmp_path, FAIRLIB_ROOT=str(value))
        assert out.returncode != 0
        assert "RootNotFoundError" in out.stderr and f"FAIRLIB_ROOT='{value}'" in out.stderr
        assert "notebooks/" in out.stderr


def test_the_working_directorys_checkout_wins_over_the_package_location(tmp_path):
    """A copied checkout writes into itself, even though it imports fairlib from the original."""
    copy = fake_checkout(tmp_path / "copy")
    deep = copy / "notebooks" / "sub"
    deep.mkdir()
    out = run(deep)
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    assert found["ROOT"] == str(copy.resolve())
    assert found["FIGURES"] == str(copy.resolve() / "figures")
    assert found["BUILD"] == str(copy.resolve() / "build")


def test_a_project_of_another_name_is_not_a_checkout(tmp_path):
    other = fake_checkout(tmp_path / "other", name="fairlib-fork")
    assert not paths.is_checkout(other)
    assert paths.is_checkout(fake_checkout(tmp_path / "ours"))
    assert not paths.is_checkout(tmp_path)
    # outside any checkout, the package's own checkout is used
    out = run(other / "notebooks")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["ROOT"] == str(REAL_ROOT)


def test_outside_any_checkout_the_package_location_is_used(tmp_path):
    out = run(tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["ROOT"] == str(REAL_ROOT)


def test_installed_outside_a_checkout_fails_clearly_but_only_when_a_path_is_used(tmp_path):
    site = tmp_path / "site-packages"
    shutil.copytree(REAL_ROOT / "fairlib", site / "fairlib", ignore=shutil.ignore_patterns("__pycache__"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # importing works: the root is looked up on first use
    out = run(elsewhere, pythonpath=site, code="import fairlib.paths, fairlib.metrics; print('ok')")
    assert out.returncode == 0, out.stderr
    out = run(elsewhere, pythonpath=site)
    assert out.returncode != 0
    assert "RootNotFoundError" in out.stderr and "FAIRLIB_ROOT=" in out.stderr and str(elsewhere) in out.stderr
    # the folders given by their own variables need no root
    code = "import fairlib.paths as p; print(p.FIGURES); print(p.DATA); print(p.CACHE)"
    out = run(elsewhere, pythonpath=site, code=code, FAIRLIB_FIGURES=str(tmp_path / "f"),
              FAIRLIB_DATA=str(tmp_path / "d"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(tmp_path / "f"), str(tmp_path / "d"), str(tmp_path / "d" / "cache")]


def test_data_figures_and_cache_variables(tmp_path):
    copy = fake_checkout(tmp_path / "copy")
    out = run(copy, FAIRLIB_DATA=str(tmp_path / "d"), FAIRLIB_FIGURES=str(tmp_path / "f"),
              FAIRLIB_CACHE=str(tmp_path / "c"))
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    assert (found["ROOT"], found["DATA"], found["FIGURES"], found["CACHE"]) == (
        str(copy.resolve()), str(tmp_path / "d"), str(tmp_path / "f"), str(tmp_path / "c"))


def test_find_root_in_process(tmp_path):
    root = fake_checkout(tmp_path / "r")
    assert paths.find_root(environ={}, cwd=root / "notebooks") == root.resolve()
    assert paths.find_root(environ={"FAIRLIB_ROOT": str(root)}, cwd=tmp_path) == root.resolve()
    with pytest.raises(paths.RootNotFoundError, match="FAIRLIB_ROOT='nowhere'"):
        paths.find_root(environ={"FAIRLIB_ROOT": "nowhere"}, cwd=root)


def test_every_environment_variable_in_the_code_is_in_the_readme_table():
    import re
    used = set()
    for file in [*(REAL_ROOT / "fairlib").rglob("*.py"), *(REAL_ROOT / "notebooks").glob("*.ipynb")]:
        used |= set(re.findall(r"FAIRLIB_[A-Z_]+", file.read_text()))
    readme = (REAL_ROOT / "README.md").read_text()
    table = readme[readme.index("## Paths and environment variables"):]
    table = table[:table.index("\n## ", 1)]
    documented = set(re.findall(r"^\| `(FAIRLIB_[A-Z_]+)`", table, flags=re.M))
    assert used - documented == set()
    assert {"FAIRLIB_ROOT", "FAIRLIB_DATA", "FAIRLIB_FIGURES", "FAIRLIB_CACHE", "FAIRLIB_PROGRESS",
            "FAIRLIB_ALLOW_DOWNLOAD"} <= documented
