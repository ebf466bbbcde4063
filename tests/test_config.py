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


def test_fair_penalty_defaults_to_the_papers_citation_and_is_validated():
    from fairlib.config import FAIR_PENALTY_FORMS
    from fairlib.methods.fair_penalties import PENALTY_FORMS

    assert FAIR_PENALTY_FORMS == PENALTY_FORMS  # the config's names are the methods' names
    for name in PROFILE_NAMES:
        fc = get_profile(name).fisher
        assert fc.fair_penalty == "zafar_covariance"  # Zafar et al., as the paper cites for f_F
        assert fc.table2_penalties[0] == fc.fair_penalty and "probability_gap" in fc.table2_penalties
    with pytest.raises(ConfigError, match=r"fair_penalty.*zafar_covariance.*probability_gap"):
        FisherSVDConfig(fair_penalty="covariance")
    with pytest.raises(ConfigError, match="table2_penalties"):
        FisherSVDConfig(table2_penalties=("zafar_covariance", "gap"))
    with pytest.raises(ConfigError, match="must contain fair_penalty"):
        FisherSVDConfig(table2_penalties=("probability_gap",))
    with pytest.raises(ConfigError, match="table2_penalties"):
        FisherSVDConfig(table2_penalties=("zafar_covariance", "zafar_covariance"))
    alt = get_profile("test", fisher=dict(fair_penalty="probability_gap", table2_penalties=["probability_gap"]))
    assert alt.fisher.fair_penalty == "probability_gap" and alt.fisher.table2_penalties == ("probability_gap",)
