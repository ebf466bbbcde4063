"""Notebook 01 (LoRA vs full fine-tuning) on the test profile: its recorded numbers must agree with each other."""

import math

import numpy as np
import pandas as pd
import pytest

from fairlib import paths
from fairlib.claims import claims_of
from fairlib.config import get_profile
from fairlib.evidence import validate_row
from fairlib.experiments import lora_vs_full
from fairlib.metrics import summarize_over_seeds

pytestmark = pytest.mark.notebooks

PROFILE = get_profile("test")
LC = PROFILE.lora_fairness
KEY = ["domain", "backbone", "task", "method", "rank", "alpha", "seed"]


@pytest.fixture(scope="module")
def results(executed_notebook):
    return executed_notebook("01")


@pytest.fixture(scope="module")
def runs(results):
    return pd.DataFrame(results["metrics"]["runs"])


def _names(results, domain, task):
    names = results["metrics"]["group_names"]
    return names["vision"][task] if domain == "vision" else names["text"]


def test_outputs_exist(results):
    assert results["profile"] == "test"
    figures = ["01_fig1_vision", "01_fig2_language", "01_fig3_calibration", "01_fig3b_ece_by_group",
               "01_rank_ablation", "01_fig4_mia_vision", "01_fig5_mia_text"]
    for name in figures:
        for suffix in ("png", "pdf"):
            assert (paths.FIGURES / "test" / f"{name}.{suffix}").exists(), name
    tables = ["01_settings", "01_data", "01_text_examples", "01_fig1_vision", "01_fig2_language", "01_lora_vs_full",
              "01_calibration_ece", "01_mia_vision", "01_mia_text", "01_mia_vision_auc", "01_rank_ablation",
              "01_paper_vs_reproduced"]
    for name in tables:
        for suffix in ("csv", "md"):
            assert (paths.FIGURES / "test" / f"{name}.{suffix}").exists(), name
    table = pd.read_csv(paths.FIGURES / "test" / "01_paper_vs_reproduced.csv")
    assert set(table["profile"]) == {"test"}


def test_every_planned_run_is_recorded_once(results, runs):
    assert not runs.duplicated(KEY).any()
    seeds = sorted(PROFILE.seeds)
    for backbone in LC.vision_backbones:
        for task in LC.vision_tasks:
            for method in ("probe", "lora", "full"):
                rank = LC.vision_rank if method == "lora" else 0
                got = runs[(runs["domain"] == "vision") & (runs["backbone"] == backbone) & (runs["task"] == task)
                           & (runs["method"] == method) & (runs["rank"] == rank)]
                assert sorted(got["seed"]) == seeds, (backbone, task, method)
    for backbone in LC.text_backbones:
        for method in ("lora", "full"):
            got = runs[(runs["domain"] == "text") & (runs["backbone"] == backbone) & (runs["method"] == method)]
            assert sorted(got["seed"]) == seeds[:LC.text_seed_limits.get(backbone, len(seeds))]
    for rank in LC.ranks:
        got = runs[(runs["backbone"] == LC.vision_backbones[0]) & (runs["task"] == LC.rank_task)
                   & (runs["method"] == "lora") & (runs["rank"] == rank)
                   & (runs["alpha"] == LC.rank_alpha_over_rank * rank)]
        assert sorted(got["seed"]) == seeds, rank
    # the runs recorded are the grid's test-split runs, one to one
    grid = lora_vs_full.jobs(get_profile("test"))
    expected = sorted((sp.param("domain"), sp.param("backbone"), sp.param("task"), sp.method, sp.param("rank"),
                       float(sp.param("alpha")), sp.seed) for sp in grid if sp.param("role", None) == "test")
    got = sorted((d, b, t, m, int(r), float(a), int(seed))
                 for d, b, t, m, r, a, seed in runs[KEY].itertuples(index=False, name=None))
    assert got == expected
    # and the notebook ran exactly the grid (every key, nothing else)
    assert [job["key"] for job in results["metrics"]["jobs"]] == [sp.key for sp in grid]


def test_recorded_gaps_equal_the_recorded_per_group_values(results, runs):
    for (domain, task), part in runs.groupby(["domain", "task"]):
        names = _names(results, domain, task)
        acc = part[[f"accuracy[{g}]" for g in names]].to_numpy(dtype=float)
        np.testing.assert_allclose(part["worst_group_accuracy"], np.nanmin(acc, axis=1), atol=1e-12)
        np.testing.assert_allclose(part["accuracy_gap"], np.nanmax(acc, axis=1) - np.nanmin(acc, axis=1), atol=1e-12)
        counts = part[[f"count[{g}]" for g in names]].to_numpy()
        assert (counts.sum(axis=1) == part["n"]).all()
        # accuracy is the size-weighted mean of the group accuracies
        np.testing.assert_allclose(part["accuracy"], (acc * counts).sum(axis=1) / counts.sum(axis=1), atol=1e-12)
        ece = part[[f"ece[{g}]" for g in names]].to_numpy(dtype=float)
        np.testing.assert_allclose(part["worst_group_ece"], np.nanmax(ece, axis=1), atol=1e-12)
        if domain == "text" or task == "gender":  # binary tasks: the rates are those of class 1
            sel = part[[f"selection_rate[{g}]" for g in names]].to_numpy(dtype=float)
            tpr = part[[f"recall[{g}]" for g in names]].to_numpy(dtype=float)
            fpr = part[[f"fpr[{g}]" for g in names]].to_numpy(dtype=float)
            spread = lambda a: np.nanmax(a, axis=1) - np.nanmin(a, axis=1)  # noqa: E731
            np.testing.assert_allclose(part["dpd"], spread(sel), atol=1e-12)
            np.testing.assert_allclose(part["eo_max"],
                                       np.maximum(spread(tpr), spread(fpr)), atol=1e-12)
            # one group against the rest is never more than the largest gap between two groups
            eod_ovr = part[[f"eod_ovr[{g}]" for g in names]].to_numpy(dtype=float)
            assert (np.nanmax(eod_ovr, axis=1) <= part["eo_max"] + 1e-12).all()
    for column in ("accuracy", "worst_group_accuracy", "ece", "dpd"):
        assert runs[column].between(0, 1).all()


def test_trainable_parameters_match_hand_counts(runs):
    spec = PROFILE.stand_in_vit
    h, layers, inter, p = spec.hidden_size, spec.num_hidden_layers, spec.intermediate_size, spec.patch_size
    tokens = (28 // p) ** 2 + 1
    vit = (h + tokens * h + (p * p * h + h)) + layers * (4 * h + 4 * (h * h + h) + (h * inter + inter)
                                                         + (inter * h + h)) + 2 * h
    for row in runs.itertuples():
        classes = 2 if (row.domain == "text" or row.task == "gender") else 10
        if row.domain == "text" and row.backbone == "gemma3-tiny":
            # the random Gemma-3 of the test profile: width 32, 2 layers, 2 query heads and 1 key/value head of 16
            width, n_layers, q_out, v_out = 32, 2, 2 * 16, 1 * 16
            if row.method == "lora":
                assert row.trainable_parameters == n_layers * row.rank * ((width + q_out) + (width + v_out)) \
                    + width * 2 + 2
            continue
        if row.domain == "text":
            width, n_layers = 384, 6  # all-MiniLM-L6-v2
            head = width * 2 + 2
            if row.method == "lora":
                assert row.trainable_parameters == n_layers * 2 * (2 * width * row.rank) + head
            continue
        head = h * classes + classes
        expected = {"probe": head, "full": vit + head, "lora": layers * 2 * (2 * h * row.rank) + head}[row.method]
        assert row.trainable_parameters == expected, row


def test_summaries_are_the_seed_statistics_of_the_runs(results, runs):
    for key, by in (("vision_summary", ["backbone", "task", "method"]), ("text_summary", ["backbone", "method"])):
        for row in results["metrics"][key]:
            part = runs[(runs["domain"] == ("vision" if key == "vision_summary" else "text"))
                        & (runs["rank"].isin([0, LC.vision_rank, LC.text_rank]))]
            for column in by:
                part = part[part[column] == row[column]]
            if row["method"] == "lora":
                part = part[part["rank"] == (LC.vision_rank if key == "vision_summary" else LC.text_rank)]
            for metric in ("accuracy", "eo_max", "ece"):
                values = part[metric].to_numpy(dtype=float)
                limit = LC.text_seed_limits.get(row["backbone"], len(PROFILE.seeds)) if key == "text_summary" \
                    else len(PROFILE.seeds)
                assert row[f"{metric}_n"] == len(values) == min(limit, len(PROFILE.seeds))
                assert row[f"{metric}_mean"] == pytest.approx(values.mean())
                if row[f"{metric}_ci_low"] is not None:
                    assert row[f"{metric}_ci_low"] <= row[f"{metric}_mean"] <= row[f"{metric}_ci_high"]
    for row in results["metrics"]["rank_summary"]:
        part = runs[(runs["method"] == "lora") & (runs["rank"] == row["rank"]) & (runs["task"] == LC.rank_task)
                    & (runs["backbone"] == LC.vision_backbones[0])]
        assert row["accuracy_mean"] == pytest.approx(part["accuracy"].mean())


def test_lora_vs_full_differences_are_the_paired_run_differences(results, runs):
    for row in results["metrics"]["lora_vs_full"]:
        part = runs[(runs["domain"] == row["domain"]) & (runs["backbone"] == row["backbone"])
                    & (runs["task"] == row["task"])]
        rank = LC.vision_rank if row["domain"] == "vision" else LC.text_rank
        lora = part[(part["method"] == "lora") & (part["rank"] == rank)].set_index("seed")[row["metric"]]
        full = part[part["method"] == "full"].set_index("seed")[row["metric"]]
        stats = summarize_over_seeds((lora - full).to_numpy(dtype=float))
        assert row["difference"] == pytest.approx(stats["mean"])
        sign = -1 if row["metric"] == "worst_group_accuracy" else 1
        assert row["unfairer"] == pytest.approx(sign * stats["mean"])
        if row["verdict"].endswith("less fair"):
            assert row["unfairer_ci_low"] > 0
        elif row["verdict"].endswith("fairer"):
            assert row["unfairer_ci_high"] < 0
        else:
            assert row["unfairer_ci_low"] is None or row["unfairer_ci_low"] <= 0 <= row["unfairer_ci_high"]


def test_calibration_table_names_the_worst_group(results, runs):
    for row in results["metrics"]["calibration"]:
        names = _names(results, row["domain"], row["task"])
        means = {g: row[f"ece[{g}]_mean"] for g in names}
        assert row["worst_group"] == max(means, key=means.get)
        assert row["worst_group_ece_mean"] >= row[f"ece[{row['worst_group']}]_mean"] - 1e-12


def test_fig3_draws_every_calibrated_text_model_with_the_seeds_it_ran(results, runs):
    """Fig. 3: a text column and a worst-group column per calibrated text model (the decoder LLM beside MiniLM at
    the stand-in profiles), the vision column once; each pools exactly the seeds its model ran."""
    panels = results["metrics"]["calibration_panels"]
    text_backbones = LC.calibrated_text_backbones()
    assert text_backbones == LC.text_backbones and len(text_backbones) == 2  # MiniLM and the tiny Gemma-3
    assert [(p["domain"], p["backbone"], p["worst_groups"] is not None) for p in panels] == (
        [("text", b, False) for b in text_backbones] + [("vision", LC.calibrated_vision_backbone(), False)]
        + [("text", b, True) for b in text_backbones])
    names = results["metrics"]["group_names"]["text"]
    calibration = pd.DataFrame(results["metrics"]["calibration"])
    test_sizes = {}
    for panel in panels:
        task = panel["task"]
        ran = runs[(runs["domain"] == panel["domain"]) & (runs["backbone"] == panel["backbone"])
                   & (runs["task"] == task)]
        seeds = sorted(set(ran["seed"]))
        assert panel["seeds"] == seeds and f"{len(seeds)} seed" in panel["title"]
        for method in ("lora", "full"):
            rank = (LC.text_rank if panel["domain"] == "text" else LC.vision_rank) if method == "lora" else 0
            assert len(ran[(ran["method"] == method) & (ran["rank"] == rank)]) == len(seeds)
            if panel["worst_groups"] is None:
                assert panel["n"][method] % len(seeds) == 0  # one test split per seed
                test_sizes[panel["backbone"], method] = panel["n"][method] // len(seeds)
            else:
                # the method's own worst group (the calibration table's), every seed's members of it
                row = calibration[(calibration["domain"] == "text") & (calibration["backbone"] == panel["backbone"])
                                  & (calibration["method"] == method)]
                assert panel["worst_groups"][method] == row["worst_group"].iloc[0] in names
                assert 0 < panel["n"][method] < len(seeds) * test_sizes[panel["backbone"], method]
            assert 0 <= panel["ece"][method] <= 1
    # the decoder runs fewer seeds than MiniLM here, and its panels say so
    limited = [b for b in text_backbones if b in LC.text_seed_limits]
    assert limited and all(len(p["seeds"]) == LC.text_seed_limits[p["backbone"]]
                           for p in panels if p["backbone"] in limited)


def test_membership_inference_tables_are_complete_and_consistent(results):
    mia = results["metrics"]["mia"]
    assert set(mia) == set(LC.mia_domains)
    for domain, m in mia.items():
        candidates = LC.mia_vision_candidates if domain == "vision" else LC.mia_text_candidates
        assert m["candidates"] == candidates and m["members"] == candidates // 2
        assert m["n_shadows"] == LC.n_shadows
        assert set(m["shadow_in_per_candidate"]) == {LC.n_shadows // 2}  # balanced IN/OUT per candidate
        table = pd.DataFrame(m["table"])
        names = _names(results, domain, LC.mia_vision_task if domain == "vision" else None)
        for attack in ("lira", "loss"):
            for target in ("lora", "full"):
                part = table[(table["attack"] == attack) & (table["target"] == target)].set_index("group")
                assert list(part.index) == [*names, "all"]
                groups = part.drop(index="all")
                assert groups["n_members"].sum() == part.loc["all", "n_members"] == candidates // 2
                assert groups["n_nonmembers"].sum() == part.loc["all", "n_nonmembers"] == candidates - candidates // 2
                defined = part.dropna(subset=["auc"])
                np.testing.assert_allclose(defined["min_resolvable_fpr"], 1 / defined["n_nonmembers"])
                for column in ("auc", "tpr@0.1%fpr", "tpr@1%fpr", "advantage"):
                    assert defined[column].between(0, 1).all(), column
                assert (defined["tpr@0.1%fpr"] <= defined["tpr@1%fpr"] + 1e-12).all()
        boot = pd.DataFrame(m["auc_bootstrap"]).set_index(["model", "group"])
        lira = table[table["attack"] == "lira"].set_index(["target", "group"])
        for (model, group), row in boot.iterrows():
            if model in ("lora", "full") and not math.isnan(lira.loc[(model, group), "auc"]):
                assert row["auc"] == pytest.approx(lira.loc[(model, group), "auc"])
            if row["ci_low"] is not None and not math.isnan(row["ci_low"]):
                assert row["ci_low"] - 1e-12 <= row["auc"] <= row["ci_high"] + 1e-12
        diff = boot.loc[("lora - full", "all"), "auc"]
        assert diff == pytest.approx(boot.loc[("lora", "all"), "auc"] - boot.loc[("full", "all"), "auc"])
    models = pd.DataFrame(results["metrics"]["mia_models"])
    for domain in LC.mia_domains:
        part = models[models["domain"] == domain]
        assert sorted(part["role"]) == sorted(["target", "target", *[f"shadow {i}" for i in range(LC.n_shadows)]])
        assert (part[part["role"].str.startswith("shadow")]["method"] == "lora").all()  # LoRA shadows only


def test_claims_are_the_engine_rows_of_the_catalogue_and_follow_the_recorded_numbers(results):
    claims = results["claims"]
    assert [c["id"] for c in claims] == [c.id for c in claims_of("01")]
    for row in claims:
        validate_row(row)
    rows = {c["id"]: c for c in claims}
    # the test profile runs stand-ins only: a claim about the paper's data is not run, its evidence beside it
    paired = pd.DataFrame(results["metrics"]["lora_vs_full"])
    for metric in ("worst_group_accuracy", "dpd", "eo_max"):
        row = rows[f"p1.fairness.{metric}"]
        assert (row["verdict"], row["reason"], row["estimate"]) == ("not run", "stand-in data", None)
        assert row["evidence"]["n"] == len(PROFILE.seeds)
        # every comparison's estimate is the recorded mean LoRA - full FT difference of its (backbone, task)
        for comparison in row["comparisons"]:
            match = paired[(paired["metric"] == metric)
                           & (paired["domain"] + " " + paired["backbone"] + " / " + paired["task"]
                              == comparison["label"])]
            assert len(match) == 1
            assert comparison["estimate"] == pytest.approx(match["difference"].iloc[0])
    mia = rows["p1.membership.auc"]
    assert "underpowered" in mia["detail"]["power"] and "n = 1" in mia["detail"]["power"]
    for domain in results["metrics"]["mia"]:
        detail = mia["detail"][domain]
        boot = pd.DataFrame(results["metrics"]["mia"][domain]["auc_bootstrap"]).set_index(["model", "group"])
        assert detail["auc_difference"] == pytest.approx(boot.loc[("lora - full", "all"), "auc"])
    # one stand-in base model at the test profile
    assert (rows["p1.base_model.matters_more"]["verdict"], rows["p1.base_model.matters_more"]["reason"]) == (
        "not run", "profile")


def test_recorded_seeds_are_the_seeds_of_the_grid(results, runs):
    grid = lora_vs_full.jobs(get_profile("test"))
    seeds = sorted({sp.seed for sp in grid if sp.param("role", None) == "test"})
    assert results["metrics"]["seeds"] == seeds == sorted(lora_vs_full.LoRAFairnessExperiment(PROFILE).seeds)
    assert sorted(runs["seed"].unique()) == seeds


def test_gap_nulls_are_recorded_and_equal_a_direct_call_on_the_first_seeds_predictions(results, runs):
    from fairlib.metrics import gap_permutation_null

    from scipy.special import softmax

    nulls = pd.DataFrame(results["metrics"]["gap_null"])
    experiment = lora_vs_full.LoRAFairnessExperiment(PROFILE)
    specs = {(sp.param("domain"), sp.param("backbone"), sp.param("task"), sp.method, sp.seed): sp
             for sp in [*experiment.vision_specs(), *experiment.text_specs()]}
    expected = {key[:4] for key in specs}  # every Fig. 1 / Fig. 2 configuration, each gap once
    assert {(r.domain, r.backbone, r.task, r.method) for r in nulls.itertuples()} == expected
    assert set(nulls["metric"]) == set(lora_vs_full.NULL_GAPS)
    assert len(nulls) == len(expected) * len(lora_vs_full.NULL_GAPS)
    checked = 0
    for row in nulls.itertuples():
        assert row.null_seed == min(PROFILE.seeds) and row.n_permutations == LC.null_permutations
        part = runs[(runs["domain"] == row.domain) & (runs["backbone"] == row.backbone) & (runs["task"] == row.task)
                    & (runs["method"] == row.method) & (runs["rank"] == row.rank)]
        if row.metric != "ece_gap":  # the observed mean is the recorded runs' mean
            assert row.observed_mean == pytest.approx(part[row.metric].mean())
        if row.metric in ("dpd", "ece_gap") or checked < 2:
            _, tensors = experiment.load(specs[(row.domain, row.backbone, row.task, row.method, row.null_seed)])
            probs = softmax(tensors["logits"].numpy().astype(np.float64), axis=1)
            _, test = experiment.data(row.domain, row.task)
            direct = gap_permutation_null(test.y, probs.argmax(axis=1), sensitive_features=test.s, metric=row.metric,
                                          y_prob=probs, group_names=test.group_names,
                                          classes=list(range(probs.shape[1])), n_bins=LC.ece_bins,
                                          n_permutations=LC.null_permutations, random_state=0)
            for key in ("observed", "null_mean", "null_q95", "p_value"):
                recorded = row.null_observed if key == "observed" else getattr(row, key)
                assert recorded == pytest.approx(direct[key], nan_ok=True), (row.metric, key)
            assert row.group_sizes == direct["group_sizes"]
            checked += 1
        assert row.excess == pytest.approx(row.observed_mean - row.null_mean, nan_ok=True)


def test_every_recorded_interval_of_a_bounded_metric_stays_in_its_bounds(results):
    for key in ("vision_summary", "text_summary", "rank_summary", "calibration"):
        for row in results["metrics"][key]:
            for column, value in row.items():
                if not column.endswith("_ci_low") or value is None or math.isnan(value):
                    continue
                name = column[: -len("_ci_low")]
                bounds = lora_vs_full.column_bounds(name)
                if bounds is None:
                    continue
                high = row[f"{name}_ci_high"]
                assert bounds[0] <= value <= row[f"{name}_mean"] + 1e-12 <= high + 2e-12 <= bounds[1] + 2e-12, (
                    key, name, value, high)
