"""pyproject.toml and environment.yml must list the same packages at the same versions."""

import re
import tomllib

from fairlib import paths


def pins_from_pyproject():
    project = tomllib.loads((paths.ROOT / "pyproject.toml").read_text())["project"]
    lines = project["dependencies"] + [d for extra in project["optional-dependencies"].values() for d in extra]
    return dict(line.split("==") for line in lines)


def pins_from_environment():
    text = (paths.ROOT / "environment.yml").read_text()
    return dict(re.findall(r"^\s+- ([A-Za-z0-9_.\-]+)==([^\s#]+)", text, flags=re.M))


def test_same_packages_same_versions():
    pyproject, conda = pins_from_pyproject(), pins_from_environment()
    assert pyproject == conda


def test_every_dependency_is_pinned_exactly():
    project = tomllib.loads((paths.ROOT / "pyproject.toml").read_text())["project"]
    assert all("==" in d for d in project["dependencies"])


def test_constraints_pin_torch_like_pyproject():
    constraints = (paths.ROOT / "constraints.txt").read_text()
    assert f"torch=={pins_from_pyproject()['torch']}" in constraints


def test_core_never_imports_torchvision_or_timm():
    offenders = [p for p in (paths.ROOT / "fairlib").rglob("*.py")
                 if re.search(r"^(import|from)\s+(torchvision|timm)\b", p.read_text(), flags=re.M)]
    assert offenders == []
