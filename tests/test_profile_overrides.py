"""get_profile(name, **overrides), overrides_of, and overrides travelling in RunSpecs to worker processes."""
import dataclasses
import json
import pickle
import shutil

import pytest

from fairlib import paths
from fairlib.config import ConfigError, Profile, get_profile, overrides_of
from fairlib.experiments import EXPERIMENTS, RunSpec, run_jobs
from fairlib.train import RunStore, run_key


# -- get_profile(**overrides) -------------------------------------------------------------------------------------
def test_top_level_and_section_overrides_land_in_their_fields_and_the_rest_is_the_profiles():
    base = get_profile("test")
    p = get_profile("test", num_workers=2, fairlora=dict(epochs=1, lambdas=[0.5, 5.0]),
                    stand_in_vit=dict(pretrain_epochs=2))
    assert isinstance(p, Profile)
    assert p.num_workers == 2 and p.fairlora.epochs == 1 and p.stand_in_vit.pretrain_epochs == 2
    assert p.fairlora.lambdas == (0.5, 5.0)  # a list is taken as a tuple
    # every other field is the profile's, section by section
    assert dataclasses.replace(p, num_workers=base.num_workers, stand_in_vit=base.stand_in_vit,
                               fairlora=dataclasses.replace(p.fairlora, epochs=base.fairlora.epochs,
                                                            lambdas=base.fairlora.lambdas)) == base


def test_none_keeps_the_profiles_value_at_the_top_and_inside_a_section():
    assert get_profile("smoke", seeds=None, fairlora=dict(epochs=None, lambdas=None), privacy=None) \
        == get_profile("smoke")


def test_top_level_seeds_reach_every_section_with_seeds_of_its_own_unless_that_section_names_them():
    # smoke's FairLoRA section runs seeds of its own (the stand-in evidence's); a top-level seeds override means
    # "these seeds"
    from fairlib.config import STANDIN_SEEDS

    assert get_profile("smoke").fairlora.seeds == STANDIN_SEEDS != get_profile("smoke").seeds
    p = get_profile("smoke", seeds=[4, 5])
    assert p.seeds == (4, 5) and p.fairlora.seeds == (4, 5)
    q = get_profile("smoke", seeds=[4, 5], fairlora=dict(seeds=[7]))
    assert q.seeds == (4, 5) and q.fairlora.seeds == (7,)


@pytest.mark.parametrize("overrides, named", [
    (dict(epochs=1), "'epochs'"),                          # a section's field given at the top
    (dict(fairlora=dict(epoch=1)), "'epoch'"),             # a typo inside a section
    (dict(name="full"), "'name'"),                         # the profile's identity is not an override
])
def test_an_unknown_field_is_a_config_error_naming_it_and_the_valid_fields(overrides, named):
    with pytest.raises(ConfigError, match="valid fields") as caught:
        get_profile("test", **overrides)
    assert named in str(caught.value)
    section = get_profile("test").fairlora if "fairlora" in overrides else get_profile("test")
    valid = [f.name for f in dataclasses.fields(section) if f.name != "name"]
    assert all(f"'{name}'" in str(caught.value) for name in valid)


@pytest.mark.parametrize("overrides, message", [
    (dict(fairlora=dict(epochs=0)), "epochs = 0 is invalid: must be >= 1"),
    (dict(fairlora=dict(epochs=2.5)), "expected an int"),
    (dict(seeds=[0, 0]), "repeats 0"),
    (dict(seeds=5), "one value is written"),
    (dict(fairlora=dict(ranks=[2, 4])), "must contain rank"),  # the section's own cross-field check
    (dict(fairlora=3), "expected a FairLoRAConfig"),
    (dict(device="gpu"), "valid choices"),
])
def test_an_invalid_value_is_a_config_error_from_the_dataclass(overrides, message):
    with pytest.raises(ConfigError, match=message):
        get_profile("test", **overrides)


def test_an_unknown_profile_is_still_named():
    with pytest.raises(ConfigError, match="valid profiles"):
        get_profile("huge", seeds=[0])


# -- overrides_of ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["smoke", "full", "test"])
def test_a_registered_profile_has_no_overrides(name):
    assert overrides_of(get_profile(name)) == {}


@pytest.mark.parametrize("overrides, expected", [
    (dict(fairlora=dict(epochs=1)), {"fairlora": {"epochs": 1}}),
    (dict(fairlora=dict(epochs=3)), {}),  # smoke's own value changes nothing
    (dict(num_workers=1, privacy=dict(epochs=1)), {"num_workers": 1, "privacy": {"epochs": 1}}),
    # a top-level seed list also sets every section that has seeds of its own (01, 02, 03, 05, 06)
    (dict(seeds=[4]), {"seeds": (4,), **{s: {"seeds": (4,)} for s in ("fairlora", "lora_fairness", "privacy",
                                                                     "benchmark", "peft_family")}}),
])
def test_overrides_of_gives_back_what_changed_and_rebuilds_the_profile(overrides, expected):
    p = get_profile("smoke", **overrides)
    found = overrides_of(p)
    assert found == expected
    assert get_profile("smoke", **found) == p
    assert hash(found) == hash(overrides_of(get_profile("smoke", **overrides)))  # hashable, by value


def test_a_profile_changed_with_dataclasses_replace_is_rebuilt_too():
    test = get_profile("test")
    changed = dataclasses.replace(test, fisher=dataclasses.replace(test.fisher, n_runs=1))
    assert overrides_of(changed) == {"fisher": {"n_runs": 1}}
    assert get_profile("test", **overrides_of(changed)) == changed


# -- RunSpec carries the overrides --------------------------------------------------------------------------------
def test_a_spec_of_a_registered_profile_keeps_its_key_and_a_changed_profile_gives_another():
    plain = RunSpec.make("02", get_profile("test"), "LoRA", 0, rank=8)
    by_name = RunSpec.make("02", "test", "LoRA", 0, rank=8)
    assert plain == by_name and "overrides" not in plain.to_dict()
    assert plain.key == run_key({"notebook": "02", "profile": "test", "method": "LoRA", "seed": 0,
                                 "params": {"rank": 8}})  # the key stored runs already have
    changed = RunSpec.make("02", get_profile("test", fairlora=dict(epochs=1)), "LoRA", 0, rank=8)
    assert changed.to_dict()["overrides"] == {"fairlora": {"epochs": 1}}
    assert changed.key != plain.key
    assert changed.config() == get_profile("test", fairlora=dict(epochs=1))
    again = pickle.loads(pickle.dumps(changed))  # what a worker or a cluster job receives
    assert again == changed and again.key == changed.key and again.config() == changed.config()
    assert "fairlora" in changed.describe()


@pytest.fixture
def toy(tmp_path, monkeypatch):
    monkeypatch.setenv("FAIRLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(paths, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(paths, "BUILD", tmp_path / "build")
    for notebook in list(EXPERIMENTS):
        monkeypatch.delitem(EXPERIMENTS, notebook)
    monkeypatch.setitem(EXPERIMENTS, "00", "tests._toy_experiment")
    from tests import _toy_experiment

    return _toy_experiment


def test_spawned_workers_rebuild_the_grids_profile_with_its_overrides(toy):
    changed = get_profile("test", seeds=[7, 8], description="changed by a test")
    grid = toy.jobs(changed)
    report = run_jobs(grid, workers=2, progress=False)  # two spawned processes
    assert (report.trained, report.failed) == (len(grid), 0)
    for spec in grid:
        metrics, _ = RunStore(spec.namespace).load(spec.to_dict())
        assert metrics["profile_seeds"] == [7, 8] and metrics["profile_description"] == "changed by a test"
    # the registered profile's runs are other runs (other keys) beside them in the same store
    plain = toy.jobs("test")
    assert not {s.key for s in plain} & {s.key for s in grid}
    run_jobs(plain, workers=1, progress=False)
    assert {RunStore(s.namespace).load(s.to_dict())[0]["profile_seeds"][0] for s in plain} == {0}


def test_notebook_02s_workers_train_on_the_data_of_the_overridden_profile(tmp_path, monkeypatch):
    """A field the run's parameters do not name directly (the stand-in's sizes are read by the worker from the
    profile) must come from the overrides, not from the profile's name."""
    from fairlib.experiments import fairlora as fx

    cache = tmp_path / "cache"
    if (paths.CACHE / "tiny_vit").is_dir():  # the shared stand-in backbone, not a run of this grid
        shutil.copytree(paths.CACHE / "tiny_vit", cache / "tiny_vit")
    monkeypatch.setattr(paths, "CACHE", cache)
    monkeypatch.setenv("FAIRLIB_CACHE", str(cache))
    monkeypatch.delenv("FAIRLIB_FORCE", raising=False)
    profile = get_profile("test", seeds=[3], fairlora=dict(n_eval=60, lambdas=[1.0], ranks=[8], epochs=1,
                                                         groupings=["class"]))
    grid = [s for s in fx.jobs(profile) if s.method in ("LoRA", "FairLoRA")]
    assert [(s.method, s.seed) for s in grid] == [("LoRA", 3), ("FairLoRA", 3)]
    report = run_jobs(grid, workers=2, threads=1, progress=False)
    assert report.failed == 0
    expected = fx.load_fairlora_data(profile.fairlora, verbose=False)
    registered = fx.load_fairlora_data(get_profile("test").fairlora, verbose=False)
    assert len(expected.val) != len(registered.val)
    for spec in grid:
        record, tensors = fx.load_run(spec)
        assert len(tensors["val.y"]) == len(expected.val) and len(tensors["test.y"]) == len(expected.test)
        assert len(record["epoch_losses"]) == 1
        saved = json.loads((cache / "runs" / spec.namespace / spec.key / "spec.json").read_text())
        assert saved["spec"]["overrides"]["fairlora"]["n_eval"] == 60
