"""Notebook 06's PEFT registry: only the intended parameters train, and matched budgets are within tolerance."""

import copy
import re

import pytest
import torch

from fairlib.config import ConfigError, PeftFamilyConfig, get_profile
from fairlib.experiments import EXPERIMENTS
from fairlib.experiments import peft_family as pf
from fairlib.models import image_classifier, mlp_classifier, vit_from_config

# Which parameter names each adapter may train (peft's own names), besides the head's saved copy.
ADAPTER_NAMES = {"lora": r"lora_[AB]", "rslora": r"lora_[AB]", "dora": r"lora_[AB]|lora_magnitude_vector",
                 "vera": r"vera_lambda_[bd]", "ia3": r"ia3_l", "loha": r"hada_", "lokr": r"lokr_",
                 "adalora": r"lora_[ABE]", "oft": r"oft_R", "boft": r"boft_[Rs]"}


@pytest.fixture(scope="module")
def vit():
    spec = get_profile("smoke").stand_in_vit
    model = image_classifier(vit_from_config(**spec.vit_config()), num_labels=2)
    return lambda: copy.deepcopy(model)


def _check_trainable(model, key, head):
    names = pf.trainable_names(model)
    head_names = [n for n in names if ".head." in f".{n}" and "modules_to_save" in n or n.startswith("head.")]
    others = [n for n in names if n not in head_names]
    assert head_names, f"{key}: the head does not train"
    if key in ADAPTER_NAMES:
        bad = [n for n in others if not re.search(ADAPTER_NAMES[key], n)]
        assert not bad and others, f"{key}: unexpected trainable parameters {bad[:5]}"
        # peft's own count equals the sum over the trainable names
        assert model.get_nb_trainable_parameters()[0] == sum(
            p.numel() for p in model.parameters() if p.requires_grad)
    elif key == "bitfit":
        assert others and all(n.endswith("bias") for n in others)
    elif key == "probe":
        assert not others


@pytest.mark.parametrize("key", list(pf.PEFT_METHODS))
def test_only_the_intended_parameters_train_on_the_vit(vit, key):
    model = pf.wrap(vit(), key, pf.Placement("qv", None, 4 if key not in ("vera",) else 64)
                    if pf.get_peft_method(key).kind == "adapter" and key != "ia3" else None)
    _check_trainable(model, key, pf.head_parameters(vit()))


def test_lora_count_by_hand(vit):
    # r (in + out) per 64x64 projection, q and v in 4 layers: 4 * 2 * r * 128
    model = pf.wrap(vit(), "lora", pf.Placement("qv", None, 3))
    assert pf.adapter_parameters(model, 130) == 4 * 2 * 3 * 128
    # last 2 layers only
    model = pf.wrap(vit(), "lora", pf.Placement("qv", 2, 3))
    assert pf.adapter_parameters(model, 130) == 2 * 2 * 3 * 128


def test_ia3_count_by_hand(vit):
    # (IA)3 on every linear layer: out_features (64) for q, k, v, o and fc1 (128); fc2 as feed-forward scales its
    # input (128): per layer 4 * 64 + 128 + 128 = 512
    model = pf.wrap(vit(), "ia3", pf.Placement("all", None, None))
    assert pf.adapter_parameters(model, 130) == 4 * 512


@pytest.mark.parametrize("key", [k for k, m in pf.PEFT_METHODS.items() if m.kind == "adapter"])
def test_matched_budget_within_ten_percent_on_the_vit(vit, key):
    target = round(0.015 * 138_368)
    choice = pf.match_budget(vit, key, target, tolerance=0.10)
    assert choice.within, choice.reason
    assert abs(choice.adapter_parameters - target) <= 0.10 * target
    # the count is peft's for the chosen placement
    model = pf.wrap(vit(), key, choice.placement)
    assert model.get_nb_trainable_parameters()[0] - 130 == choice.adapter_parameters


def test_unreachable_budget_is_reported_not_hidden():
    make = lambda: mlp_classifier(34, hidden=(20,))  # noqa: E731
    choice = pf.match_budget(make, "ia3", 56, tolerance=0.10)
    assert not choice.within and "not reachable" in choice.reason and choice.adapter_parameters == 20


def test_peft_refusal_is_not_applicable():
    make = lambda: mlp_classifier(34, hidden=(20,))  # noqa: E731
    with pytest.raises(pf.NotApplicable, match="divisible"):
        pf.wrap(make(), "boft", pf.Placement("hidden", None, 4))


def test_config_validation_and_registration():
    assert EXPERIMENTS["06"] == "fairlib.experiments.peft_family"
    with pytest.raises(ConfigError, match="methods"):
        PeftFamilyConfig(methods=("lora", "nope"))
    with pytest.raises(ConfigError, match="variance_lambdas"):
        PeftFamilyConfig(variance_lambdas=(0.0,))
    assert get_profile("smoke").peft_family.methods[0] == "lora"


def test_seeds_and_seed_limits():
    smoke = get_profile("smoke")
    for task in smoke.peft_family.tasks:  # >= 10 seeds per compared method (issue 15)
        assert pf.seeds_of(smoke, task) == tuple(range(10))
    limited = get_profile("smoke", peft_family=dict(seed_limits=[("standin:utk-like:upper-body", 3)]))
    assert pf.seeds_of(limited, "standin:utk-like:upper-body") == (0, 1, 2)
    assert pf.seeds_of(limited, "adult") == tuple(range(10))
    assert pf.seeds_of(get_profile("test", seeds=[4, 5, 6]), "adult") == (4, 5, 6)
    for bad in ((("adult", 1),), (("adult", 2), ("adult", 3)), (("adult", True),)):
        with pytest.raises(ConfigError, match="seed_limits"):
            PeftFamilyConfig(seed_limits=bad)
    with pytest.raises(ConfigError, match="seeds"):
        PeftFamilyConfig(seeds=(1, 1))
