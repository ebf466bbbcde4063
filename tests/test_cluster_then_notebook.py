"""The cluster path end to end: a notebook's grid submitted through submitit, then the notebook only evaluates.

SLURM is not available here, so the jobs go through submitit's local executor (``cluster="local"``: real
separate processes, submitted, watched and collected by submitit exactly as on a cluster). Notebook 03 at the
test profile is the smallest real grid with dependencies (the auditor's adapter before Unl and Orth).
"""

import os
import shutil

import pytest

from fairlib import paths
from fairlib.experiments import SlurmOptions, is_stored, jobs_for, run_jobs

pytestmark = pytest.mark.notebooks


def run_folders(cache):
    return sorted(p.name for p in (cache / "runs" / "03-test").iterdir() if p.is_dir())


def test_jobs_submitted_through_submitit_are_all_reused_by_the_notebook(tmp_path, monkeypatch):
    from fairlib._reproduce import prepare_shared_backbones, run_notebooks
    from fairlib.report import read_results

    cache, figures = tmp_path / "cache", tmp_path / "figures"
    # The stand-in backbone is a shared cache, not a run of this grid: reuse it where it exists.
    if (paths.CACHE / "tiny_vit").is_dir():
        shutil.copytree(paths.CACHE / "tiny_vit", cache / "tiny_vit")
    # Patch this process's paths first: they are computed on first use, and computing them after the
    # environment below is set would fix the temporary folders for the rest of the session.
    monkeypatch.setattr(paths, "CACHE", cache)
    monkeypatch.setattr(paths, "FIGURES", figures)
    for name, value in (("FAIRLIB_CACHE", cache), ("FAIRLIB_FIGURES", figures)):
        monkeypatch.setenv(name, str(value))  # the submitit jobs and the notebook's kernel read these
    monkeypatch.delenv("FAIRLIB_FORCE", raising=False)
    prepare_shared_backbones("test")

    jobs = jobs_for("test", only=["03"])
    assert jobs and not any(is_stored(spec) for spec in jobs)
    options = SlurmOptions("gpu", gpus_per_job=0, max_parallel=2, timeout_min=30, runs_per_job=5, max_retries=1,
                           cluster="local", folder=str(tmp_path / "submitit"))
    report = run_jobs(jobs, executor="slurm", slurm=options, progress=False)
    assert (report.stored, report.trained, report.failed) == (0, len(jobs), 0)
    assert all(is_stored(spec) for spec in jobs)
    stored = run_folders(cache)
    assert stored == sorted(spec.key for spec in jobs)

    # The notebook finds every run stored: it trains nothing (no new run folder) and records the whole grid.
    run_notebooks(profile="test", only=["03"], output_dir=tmp_path / "executed")
    assert run_folders(cache) == stored
    results = read_results("03", profile="test")
    assert results is not None and os.fspath(figures) in os.fspath(paths.FIGURES)
    assert {r["key"] for r in results["metrics"]["runs"]} <= set(stored)
