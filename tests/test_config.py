import dataclasses

import pytest

from fairlib.config import PROFILE_NAMES, ConfigError, FisherSVDConfig, Profile, get_profile
from fairlib.models import LoraSpec
from fairlib.train import TrainConfig


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_every_profile_builds_and_is_frozen(name):
    profile = get_profile(name)
    assert profile.name == name
    with pytest.raises(dataclasses.FrozenInstanceError):
        profile.seeds = (1,)


def test_unknown_profile_lists_the_valid_ones():
    with pytest.raises(ConfigError) as error:
        get_profile("medium")
    for name in PROFILE_NAMES:
        assert name in str(error.value)


@pytest.mark.parametrize("make, field", [
    (lambda: FisherSVDConfig(n_runs=0), "n_runs"),
    (lambda: TrainConfig(lr=0.0), "lr"),
    (lambda: TrainConfig(schedule="step"), "schedule"),
    (lambda: LoraSpec(dropout=1.0), "dropout"),
    (lambda: Profile(device="tpu"), "device"),
    (lambda: Profile(seeds=()), "seeds"),
    (lambda: Profile(seeds=(0, -1)), "seeds"),
])
def test_invalid_field_names_field_and_choices(make, field):
    with pytest.raises(ConfigError) as error:
        make()
    assert field in str(error.value)


def test_choice_error_lists_choices():
    with pytest.raises(ConfigError, match=r"cosine.*linear.*constant"):
        TrainConfig(schedule="step")


def test_smoke_and_full_differ_where_scale_differs_and_full_is_not_a_stand_in():
    smoke, full = get_profile("smoke"), get_profile("full")
    assert smoke.stand_in and not full.stand_in
    assert full.seeds == (13, 1337, 42, 666, 888)  # the authors' seeds (Ding et al.)
    assert "stand-in" in smoke.label("Fashion-MNIST") and "stand-in" not in full.label("UTK-Face")
    assert "stand-in" not in smoke.label("Adult", stand_in=False)


def test_profile_round_trips_to_plain_dict():
    d = get_profile("smoke").to_dict()
    assert d["name"] == "smoke" and isinstance(d["fisher"], dict)
