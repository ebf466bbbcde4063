"""fairlib.experiments: RunSpec, the registry, run_jobs (local pool, in-process, submitit) and the CLI."""

import json
import pickle
import sys

import pytest
import torch

from fairlib import paths
from fairlib.config import ConfigError
from fairlib.experiments import (EXPERIMENTS, RunReport, RunsFailed, RunSpec, SlurmOptions, is_stored, jobs_for,
                                 register_experiment, run_jobs)
from fairlib.train import RunStore, run_key

TOY = "tests._toy_experiment"


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """The toy experiment registered as notebook 00, with a fresh run store (also for spawned workers)."""
    monkeypatch.setenv("FAIRLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(paths, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(paths, "BUILD", tmp_path / "build")
    monkeypatch.delenv("FAIRLIB_WORKERS", raising=False)
    for notebook in list(EXPERIMENTS):  # the toy alone: the registered notebooks' grids are not these tests'
        monkeypatch.delitem(EXPERIMENTS, notebook)
    monkeypatch.setitem(EXPERIMENTS, "00", TOY)
    from tests import _toy_experiment

    return _toy_experiment


def stored_runs(profile="test"):
    """Every stored run of the toy's namespace: key -> (spec, metrics, tensors)."""
    root = paths.CACHE / "runs" / f"00-{profile}"
    out = {}
    for folder in sorted(root.glob("*")) if root.exists() else []:
        spec = json.loads((folder / "spec.json").read_text())["spec"]
        metrics, tensors = RunStore(f"00-{profile}").load(spec)
        out[folder.name] = (spec, metrics, tensors)
    return out


# -- RunSpec ----------------------------------------------------------------------------------------------------
def test_runspec_make_sorts_params_and_its_key_is_the_run_store_key(tmp_path):
    spec = RunSpec.make("02", "smoke", "FairLoRA", 3, rank=8, lam=0.5, train={"lr": 1e-3, "epochs": [1, 2]})
    assert [name for name, _ in spec.params] == ["lam", "rank", "train"]
    expected = {"notebook": "02", "profile": "smoke", "method": "FairLoRA", "seed": 3,
                "params": {"lam": 0.5, "rank": 8, "train": {"lr": 1e-3, "epochs": [1, 2]}}}
    assert spec.to_dict() == expected
    assert spec.key == run_key(expected)
    # the folder RunStore writes is named by the key
    folder = RunStore("02-smoke", root=tmp_path).save(spec.to_dict(), metrics={"acc": 1.0})
    assert folder.name == spec.key
    # frozen and hashable, equal after pickling (workers and cluster jobs receive pickled specs)
    assert pickle.loads(pickle.dumps(spec)) == spec and len({spec, pickle.loads(pickle.dumps(spec))}) == 1
    with pytest.raises(TypeError, match="read-only"):
        spec.param("train")["lr"] = 1.0
    # scheduling information is not part of the run
    later = RunSpec.make("02", "smoke", "FairLoRA", 3, rank=8, lam=0.5, train={"lr": 1e-3, "epochs": [1, 2]},
                         after=(spec,), gpu_hours=2)
    assert later.key == spec.key and later.after == (spec.key,) and later.gpu_hours == 2.0


def test_runspec_param_with_and_without_default():
    spec = RunSpec.make("05", "test", "erm", 0, lr=0.1)
    assert spec.param("lr") == 0.1 and spec.param("rank", 4) == 4
    with pytest.raises(KeyError, match=r"no parameter 'rank'.*\['lr'\]"):
        spec.param("rank")


@pytest.mark.parametrize("kwargs, match", [
    (dict(notebook="2"), "two digits"),
    (dict(notebook=2), "two digits"),
    (dict(profile="huge"), r"valid choices: \('smoke', 'full', 'test'\)"),
    (dict(method=""), "non-empty"),
    (dict(seed=-1), "int >= 0"),
    (dict(seed=1.0), "int >= 0"),
    (dict(seed=True), "int >= 0"),
    (dict(lr=float("nan")), "finite"),
    (dict(lr=float("inf")), "finite"),
    (dict(data=object()), "JSON-able"),
    (dict(data={1: "a"}), "non-string keys"),
    (dict(gpu_hours=-1.0), "gpu_hours"),
    (dict(after=("not-a-key",)), "16-hex-digit"),
])
def test_runspec_rejects_bad_values_naming_them(kwargs, match):
    args = dict(notebook="02", profile="smoke", method="m", seed=0)
    args.update({k: kwargs.pop(k) for k in list(kwargs) if k in args})
    with pytest.raises(ConfigError, match=match):
        RunSpec.make(**args, **kwargs)


def test_runspec_constructor_insists_on_sorted_unique_params():
    with pytest.raises(ConfigError, match="sorted and unique"):
        RunSpec("02", "smoke", "m", 0, params=(("rank", 8), ("lam", 0.5)))
    with pytest.raises(ConfigError, match="reserved"):
        RunSpec("02", "smoke", "m", 0, params=(("seed", 1),))


# -- registry and plan ------------------------------------------------------------------------------------------
def test_registry_collects_jobs_and_validates(toy, monkeypatch):
    # notebooks in order: the toy's "00" first, then the grids registered by default (e.g. "02")
    assert jobs_for("test")[:len(toy.jobs("test"))] == toy.jobs("test") == jobs_for("test", only=["00"])
    assert jobs_for("test", only=["01"]) == []  # a notebook without a declared grid contributes no jobs
    with pytest.raises(ConfigError, match="two digits"):
        register_experiment("2", TOY)
    with pytest.raises(ConfigError, match="valid profiles"):
        jobs_for("huge")
    monkeypatch.setattr(toy, "jobs", lambda profile: [RunSpec.make("01", profile, "m", 0)])
    with pytest.raises(ConfigError, match="expected notebook '00'"):
        jobs_for("test", only=["00"])


def test_plan_from_jobs_matches_a_hand_count_of_the_toy_grid(toy):
    from fairlib._plan import format_plan, plan_from_jobs

    jobs = toy.jobs("test")
    plans = plan_from_jobs(jobs + jobs[:2])  # a run listed twice counts once
    # by hand: pretrain 1 run (seed 0) x 0.5 h; erm 2 seeds x 0.25 h; fair 2 lambdas x 2 seeds x 0.25 h
    blocks = {b.what: (b.runs, b.seeds, b.gpu_hours) for b in plans["00"]}
    assert blocks == {"pretrain": (1, 1, 0.5), "erm": (2, 2, 0.5), "fair": (4, 2, 1.0)}
    text, missing = format_plan({}, plans)
    assert missing == 0
    assert "fair: 4 runs over 2 seed(s), ~1.0 GPU-h" in text and "total: 7 runs, ~2.0 GPU-hours" in text


# -- local executor -----------------------------------------------------------------------------------------------
def test_two_workers_store_bit_identical_runs_to_one_worker(toy, tmp_path, monkeypatch):
    # Both runs use ONE torch thread per process: the number of intra-op threads can change the order of float
    # reductions, so runs are bit-identical across worker counts only at equal thread counts (by default the
    # executor gives each of w workers cores // w threads).
    jobs = toy.jobs("test")
    sequential = run_jobs(jobs, workers=1, threads=1, progress=False)
    assert (sequential.stored, sequential.trained, sequential.failed) == (0, 7, 0)
    one = stored_runs()
    monkeypatch.setenv("FAIRLIB_CACHE", str(tmp_path / "cache2"))
    monkeypatch.setattr(paths, "CACHE", tmp_path / "cache2")
    parallel = run_jobs(jobs, workers=2, threads=1, progress=False)
    assert (parallel.trained, parallel.workers) == (7, 2)
    two = stored_runs()
    assert sorted(one) == sorted(two) == sorted(s.key for s in jobs)
    for key in one:
        assert one[key][0] == two[key][0] and one[key][1] == two[key][1]
        assert one[key][2].keys() == two[key][2].keys()
        assert all(torch.equal(one[key][2][k], two[key][2][k]) for k in one[key][2])
    # the fine-tuned runs did start from the pre-trained weights (so `after` was respected)
    pre = toy.pretrain_spec("test").key
    erm = next(s for s in jobs if s.method == "erm")
    assert two[erm.key][1]["losses"][0] < two[pre][1]["losses"][0]
    # a rerun finds everything stored and trains nothing
    again = run_jobs(jobs, workers=2, progress=False)
    assert (again.stored, again.trained, again.failed) == (7, 0, 0)


def test_workers_store_into_the_store_the_grid_checks_even_when_set_on_paths_only(toy, tmp_path, monkeypatch):
    """The parent's resolved run store travels to the workers explicitly: here the environment still names the
    fixture's store while ``paths.CACHE`` names another; every run must land where the parent looks."""
    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setattr(paths, "CACHE", elsewhere)
    report = run_jobs(toy.jobs("test"), workers=2, threads=1, progress=False)
    assert (report.trained, report.failed) == (7, 0)
    assert len(stored_runs()) == 7 and (elsewhere / "runs" / "00-test").is_dir()
    assert not (tmp_path / "cache" / "runs").exists()  # nothing in the store the environment names


def test_a_worker_whose_code_differs_from_the_planners_refuses_and_says_why(toy, monkeypatch):
    """A run's key includes the code fingerprint: a worker running edited fairlib source would store each run
    under a key the grid never looks up (the source edited while the grid runs). It refuses, naming the cause."""
    import fairlib.train

    monkeypatch.setattr(fairlib.train, "code_fingerprint", lambda: "f" * 64)  # the planner's "old" code
    with pytest.raises(RunsFailed) as failed:
        run_jobs(toy.jobs("test"), workers=2, threads=1, progress=False)
    report = failed.value.report
    assert (report.trained, report.failed) == (0, 7)
    first = next(error for spec, error in report.failures if spec.method == "pretrain")
    assert "source changed while the grid ran" in first and "ffffffffffff" in first
    assert stored_runs() == {}  # nothing stored under a key of the other code


def test_a_failing_run_does_not_stop_the_others_and_a_rerun_trains_only_it(toy):
    jobs = toy.jobs("test")
    bad = RunSpec.make("00", "test", "erm", 5, steps=5, width=4, fail=True)
    needs_bad = RunSpec.make("00", "test", "fair", 5, steps=5, width=4, after=(bad,))
    with pytest.raises(RunsFailed) as caught:
        run_jobs(jobs + [bad, needs_bad], workers=1, progress=False)
    message = str(caught.value)
    assert f"{bad.key} (erm, seed 5, notebook 00): ValueError: toy failure of seed 5" in message
    assert f"{needs_bad.key} (fair, seed 5, notebook 00): not run: it needs run {bad.key}, which failed" in message
    report = caught.value.report
    assert isinstance(report, RunReport) and (report.trained, report.failed) == (7, 2)
    assert [s for s, _ in report.failures] == [bad, needs_bad]
    assert all(is_stored(s) for s in jobs) and not is_stored(bad)
    rerun = run_jobs(jobs + [RunSpec.make("00", "test", "erm", 6, steps=5, width=4)], workers=1, progress=False)
    assert (rerun.stored, rerun.trained) == (7, 1)


def test_a_killed_worker_loses_only_its_own_run_and_a_rerun_finishes_the_grid(toy):
    jobs = toy.jobs("test")
    killer = RunSpec.make("00", "test", "erm", 7, steps=5, width=4, kill_first=True)
    with pytest.raises(RunsFailed) as caught:
        run_jobs(jobs + [killer], workers=2, threads=1, progress=False)
    report = caught.value.report
    assert (report.trained, report.failed) == (7, 1)
    assert report.failures[0][0] == killer and "worker process died" in report.failures[0][1]
    assert all(is_stored(s) for s in jobs) and not is_stored(killer)
    rerun = run_jobs(jobs + [killer], workers=2, threads=1, progress=False)
    assert (rerun.stored, rerun.trained, rerun.failed) == (7, 1, 0) and is_stored(killer)


def test_a_run_job_that_stores_nothing_is_a_failure(toy, monkeypatch):
    monkeypatch.setattr(toy, "run_job", lambda spec: None)
    with pytest.raises(RunsFailed, match="nothing is stored under key"):
        run_jobs(toy.jobs("test")[:1], workers=1, progress=False)


# -- bad input, before anything trains ----------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    (dict(executor="gpu"), r"executor = 'gpu' is invalid; valid choices: \('local', 'slurm'\)"),
    (dict(workers=0), "workers = 0 is invalid: must be an int >= 1"),
    (dict(workers=1.5), "workers = 1.5 is invalid"),
    (dict(workers="2"), "workers = '2' is invalid"),
    (dict(slurm=SlurmOptions("gpu")), "SLURM options were given with executor='local'"),
    (dict(executor="slurm"), r"needs slurm=SlurmOptions\(partition=...\)"),
    (dict(executor="slurm", slurm=SlurmOptions("gpu"), workers=2), "apply only to executor='local'"),
])
def test_bad_executor_input_is_refused_before_anything_trains(toy, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        run_jobs(toy.jobs("test"), progress=False, **kwargs)
    assert stored_runs() == {}


def test_slurm_without_submitit_is_a_config_error(toy, monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)  # import submitit now raises ImportError
    with pytest.raises(ConfigError, match="needs the submitit package"):
        run_jobs(toy.jobs("test"), executor="slurm", slurm=SlurmOptions("gpu"), progress=False)
    assert stored_runs() == {}


def test_bad_workers_environment_and_unknown_dependencies_are_config_errors(toy, monkeypatch):
    monkeypatch.setenv("FAIRLIB_WORKERS", "many")
    with pytest.raises(ConfigError, match="FAIRLIB_WORKERS='many' is invalid"):
        run_jobs(toy.jobs("test"), progress=False)
    monkeypatch.delenv("FAIRLIB_WORKERS")
    orphan = RunSpec.make("00", "test", "erm", 0, after=("0123456789abcdef",), steps=1, width=2)
    with pytest.raises(ConfigError, match="needs run 0123456789abcdef, which is neither stored"):
        run_jobs([orphan], workers=1, progress=False)
    monkeypatch.delitem(EXPERIMENTS, "00")
    with pytest.raises(ConfigError, match="declares no grid"):
        run_jobs(toy.jobs("test"), workers=1, progress=False)
    assert stored_runs() == {}


@pytest.mark.parametrize("kwargs, match", [
    (dict(partition=""), "partition"),
    (dict(partition="gpu", gpus_per_job=-1), "gpus_per_job = -1 is invalid"),
    (dict(partition="gpu", max_parallel=0), "max_parallel = 0 is invalid"),
    (dict(partition="gpu", runs_per_job=1.5), "runs_per_job = 1.5 is invalid"),
    (dict(partition="gpu", cluster="pbs"), r"valid choices: \('slurm', 'local', 'debug'\)"),
])
def test_slurm_options_are_validated(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        SlurmOptions(**kwargs)


# -- slurm executor, end to end through submitit's local back-end -------------------------------------------------
def test_submitit_path_stores_every_run_and_resubmits_a_killed_job(toy, tmp_path):
    jobs = toy.jobs("test")
    killer = RunSpec.make("00", "test", "erm", 7, steps=5, width=4, kill_first=True)
    options = SlurmOptions("gpu", gpus_per_job=0, max_parallel=4, timeout_min=10, runs_per_job=3, max_retries=1,
                           cluster="local", folder=str(tmp_path / "submitit"))
    report = run_jobs(jobs + [killer], executor="slurm", slurm=options, progress=False)
    assert (report.stored, report.trained, report.failed) == (0, 8, 0)
    assert sorted(stored_runs()) == sorted(s.key for s in jobs + [killer])
    # the killed job ran twice (killed once, resubmitted once)
    assert (paths.CACHE / "toy-attempts" / killer.key).exists()
    assert run_jobs(jobs, executor="slurm", slurm=options, progress=False).stored == 7


# -- command line ---------------------------------------------------------------------------------------------
def test_cli_unknown_notebook_is_a_one_line_error(capsys):
    from fairlib.__main__ import main

    assert main(["reproduce", "--dry-run", "--only", "99"]) != 0
    assert "no notebook numbered ['99']; available: ['00'" in capsys.readouterr().err
    assert main(["run", "99"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no notebook numbered ['99']; available:") and "\n" not in err
    assert main(["run", "99", "--executor", "local"]) == 2


def test_cli_run_executes_the_registered_grid_and_refuses_misplaced_options(toy, capsys, monkeypatch):
    import fairlib._reproduce
    from fairlib.__main__ import main

    # the toy needs no stand-in backbone (pre-training one in the empty store would take minutes)
    monkeypatch.setattr(fairlib._reproduce, "prepare_shared_backbones", lambda profile, only=None: None)

    assert main(["run", "01", "--profile", "test", "--executor", "local"]) == 2
    assert "declares no grid" in capsys.readouterr().err
    assert main(["run", "00", "--profile", "test", "--workers", "2"]) == 2
    assert "need --executor" in capsys.readouterr().err
    assert main(["run", "00", "--profile", "test", "--executor", "local", "--partition", "gpu"]) == 2
    assert "apply only to --executor slurm" in capsys.readouterr().err
    assert main(["run", "00", "--profile", "test", "--executor", "slurm"]) == 2
    assert stored_runs() == {}
    assert main(["run", "00", "--profile", "test", "--executor", "local", "--workers", "1"]) == 0
    assert "7 run(s): 0 already stored, 7 trained, 0 failed" in capsys.readouterr().out
    assert sorted(stored_runs()) == sorted(s.key for s in toy.jobs("test"))


def test_cli_dry_run_plans_a_registered_notebook_from_its_jobs(toy, capsys):
    from fairlib.__main__ import main

    main(["reproduce", "--profile", "test", "--dry-run", "--only", "00"])
    out = capsys.readouterr().out
    assert "plan: pretrain: 1 runs over 1 seed(s), ~0.5 GPU-h" in out
    assert "total: 7 runs, ~2.0 GPU-hours" in out


# -- a notebook's runs done: the hook reproduce starts its kernel from ----------------------------------------
@pytest.mark.parametrize("workers", [1, 2])
def test_on_notebook_fires_once_per_notebook_when_its_last_run_is_recorded(toy, monkeypatch, workers):
    monkeypatch.setitem(EXPERIMENTS, "98", TOY)
    ours = toy.jobs("test")
    other = [RunSpec.make("98", "test", "erm", seed, steps=5, width=4) for seed in (0, 1)]
    bad = RunSpec.make("98", "test", "erm", 9, steps=5, width=4, fail=True)
    calls = []

    def hook(notebook, failed):
        mine = ours if notebook == "00" else other
        calls.append((notebook, failed, all(is_stored(s) for s in mine),
                      sum(is_stored(s) for s in (other if notebook == "00" else ours))))

    with pytest.raises(RunsFailed):
        run_jobs(ours + other + [bad], workers=workers, threads=1, progress=False, on_notebook=hook)
    assert sorted(c[:3] for c in calls) == [("00", 0, True), ("98", 1, True)]  # once each, after all its runs
    if workers == 1:  # one run after another in grid order: 00 was done before any run of 98 trained
        assert calls[0] == ("00", 0, True, 0)
    # a rerun with everything of 00 stored: its hook fires before anything trains
    fresh = RunSpec.make("98", "test", "erm", 3, steps=5, width=4)
    seen = []
    run_jobs(ours + [fresh], workers=1, progress=False,
             on_notebook=lambda notebook, failed: seen.append((notebook, failed, is_stored(fresh))))
    assert seen == [("00", 0, False), ("98", 0, True)]
