"""Notebook 04 (Fisher-neutralised weighted SVD) on the test profile: its recorded numbers agree with each other."""

import math

import numpy as np
import pandas as pd
import pytest

from fairlib import paths
from fairlib.config import get_profile

pytestmark = pytest.mark.notebooks

FC = get_profile("test").fisher
RUNS = list(range(FC.n_runs))
FIGURES = ("04_fig1_pca", "04_fig3_fisher", "04_fig4_methods", "04_fig5_alpha", "04_review_optimiser_lr",
           "04_review_rank")
TABLES = ("04_settings", "04_adult_data", "04_fig1_separability", "04_fig3_fisher", "04_fig4_methods",
          "04_table2_fair_pretraining", "04_table3_retrain", "04_table4_architectures", "04_fig5_alpha",
          "04_review_optimiser_lr", "04_review_weight_gaps", "04_review_selected_lr", "04_review_rank",
          "04_paper_vs_reproduced", "04_claims", "04_checks", "04_gap_null")


@pytest.fixture(scope="module")
def results(executed_notebook):
    return executed_notebook("04")


@pytest.fixture(scope="module")
def runs(results):
    return pd.DataFrame(results["metrics"]["runs"])


def part(runs, split="test", **filters):
    """Rows of ``split`` matching ``filters`` (None matches a missing value)."""
    out = runs[runs["split"] == split]
    for column, value in filters.items():
        if value is None:
            out = out[out[column].isna()]
        elif isinstance(value, float):
            out = out[np.isclose(out[column].astype(float), value)]
        else:
            out = out[out[column] == value]
    return out


def ours(runs, pretrained="f_B", task="Adult", **extra):
    filters = dict(task=task, pretrained=pretrained, method="OURS", rank=FC.rank, alpha=0.5, lr=FC.finetune_lr,
                   optimizer=FC.optimizer)
    return part(runs, **{**filters, **extra})


def test_every_figure_and_table_is_written(results):
    assert results["profile"] == "test"
    for name in FIGURES:
        for suffix in ("png", "pdf"):
            assert (paths.FIGURES / "test" / f"{name}.{suffix}").exists(), name
    for name in TABLES:
        for suffix in ("csv", "md"):
            assert (paths.FIGURES / "test" / f"{name}.{suffix}").exists(), name
    assert set(pd.read_csv(paths.FIGURES / "test" / "04_paper_vs_reproduced.csv")["profile"]) == {"test"}
    for key in ("runs", "fig1", "fig3", "fig4", "table2", "table3", "table4", "fig5", "review", "review_selected",
                "weight_gaps", "rank", "paper_vs_reproduced", "parameters", "method_demo"):
        assert results["metrics"][key], key


def test_each_run_is_recorded_once_and_every_planned_run_is_there(runs):
    key = ["task", "pretrained", "method", "rank", "alpha", "penalty", "intensity", "optimizer", "lr", "run", "split"]
    assert not runs[key].astype(str).duplicated().any()
    for method in ("pre-trained", "TL", "f+SVD", "OURS"):
        assert sorted(part(runs, task="Adult", pretrained="f_B", method=method)["run"].unique()) == RUNS
    for kind in ("EO", "DP"):
        for intensity in FC.intensities:
            for form in FC.table2_penalties:  # every penalty form of Table 2
                name = f"f_F ({kind}, {intensity:g}, {form})"
                assert sorted(ours(runs, pretrained=name)["run"]) == RUNS
                assert sorted(part(runs, pretrained=name, method="pre-trained")["run"]) == RUNS
            retrain = part(runs, pretrained="f_B", method=f"Retrain+{kind}", intensity=float(intensity))
            assert sorted(retrain["run"]) == RUNS
    for depth in FC.depths:
        assert sorted(ours(runs, pretrained=f"MLP-{depth}")["run"]) == RUNS
    for alpha in FC.alphas:
        assert sorted(ours(runs, alpha=float(alpha))["run"]) == RUNS
    for rank in FC.review_ranks:
        for method in ("f+SVD", "OURS", "OURS (shuffled I_N)"):
            got = part(runs, task="Adult", pretrained="f_B", method=method, rank=rank, lr=FC.finetune_lr)
            assert sorted(got[got["alpha"].isna() | (got["alpha"] == 0.5)]["run"]) == RUNS
    assert set(runs["split"]) == {"val", "test"}


def test_recorded_gaps_are_those_of_the_recorded_group_rates(runs):
    dp = (runs["selection_rate[0]"] - runs["selection_rate[1]"]).abs()
    eo = (runs["recall[0]"] - runs["recall[1]"]).abs() + (runs["fpr[0]"] - runs["fpr[1]"]).abs()
    np.testing.assert_allclose(runs["dpd"], dp, atol=1e-12)
    np.testing.assert_allclose(runs["eo_sum"], eo, atol=1e-12)
    assert runs["weighted_f1_error"].between(0, 100).all() and runs["accuracy"].between(0, 1).all()


def test_trainable_parameters_match_hand_counts(results, runs):
    test = runs[runs["split"] == "test"]
    adult = test[test["task"] == "Adult"]
    assert set(adult.loc[adult["method"] == "TL", "trainable_parameters"]) == {20 * 2 + 2}
    for method in ("f+SVD", "OURS", "OURS (shuffled I_N)"):
        rows = adult[adult["method"] == method]
        expected = 20 * rows["rank"] + rows["rank"] * 2 + 2
        assert (rows["trainable_parameters"] == expected).all()
    assert set(adult.loc[adult["method"].str.startswith("Retrain"), "trainable_parameters"]) == {742}
    assert results["metrics"]["parameters"]["Retrain (whole MLP)"] == 742
    assert results["metrics"]["parameters"]["f+SVD / OURS (A, B, bias) at rank 2"] == 46
    images = test[test["task"] != "Adult"]
    assert len(images) > 0
    tl = images[images["method"] == "TL"]["trainable_parameters"]
    width = (tl.iloc[0] - 2) // 2
    assert set(images.loc[images["method"] == "OURS", "trainable_parameters"]) == {2 * width + 4 + 2}


def test_factorised_heads_start_at_the_pretrained_function_at_full_rank_only(results, runs):
    test = runs[(runs["split"] == "test") & runs["method"].isin(["f+SVD", "OURS", "OURS (shuffled I_N)"])]
    assert (test.loc[test["rank"] == 2, "init_logit_gap"] < 1e-4).all()
    assert (test.loc[test["rank"] == 1, "init_logit_gap"] > 1e-3).all()
    demo = results["metrics"]["method_demo"]
    assert demo["max |A B - W| (OURS)"] < 1e-5 and demo["max |A B - W| (f+SVD)"] < 1e-5
    # at full rank the head before fine-tuning *is* the pre-trained model: same test metrics
    pre = part(runs, task="Adult", pretrained="f_B", method="pre-trained").set_index("run")
    full = ours(runs).set_index("run")
    np.testing.assert_allclose(full["init_weighted_f1_error"], pre.loc[full.index, "weighted_f1_error"], atol=1e-9)


def test_under_sgd_ours_and_plain_svd_end_at_the_same_weights(results):
    gaps = pd.DataFrame(results["metrics"]["weight_gaps"])
    sgd = gaps[gaps["optimizer"] == "sgd"]
    assert len(sgd) and (sgd["OURS vs f+SVD"] < 1e-4).all()


def test_fig4_summaries_are_those_of_the_recorded_runs(results, runs):
    for row in results["metrics"]["fig4"]:
        pre = "f_B" if row["task"] == "Adult" else results["metrics"]["image"]["fig4_backbones"][row["task"]]
        filters = dict(task=row["task"], pretrained=pre, method=row["method"])
        if row["method"] != "pre-trained":
            filters.update(lr=FC.finetune_lr, optimizer=FC.optimizer)
        if row["method"] in ("f+SVD", "OURS"):
            filters["rank"] = FC.rank
        if row["method"] == "OURS":
            filters["alpha"] = 0.5
        values = part(runs, **filters)
        assert len(values) == FC.n_runs
        for metric in ("weighted_f1_error", "dpd", "eo_sum"):
            assert row[f"{metric}_mean"] == pytest.approx(values[metric].mean())
            assert row[f"{metric}_std"] == pytest.approx(values[metric].std(ddof=1))
            assert row[f"{metric}_n"] == FC.n_runs


def test_table2_before_after_and_change(results, runs):
    rows = results["metrics"]["table2"]
    # one block per penalty form, the deciding one (fair_penalty, Zafar et al.'s covariance) first
    assert list(dict.fromkeys(r["penalty"] for r in rows)) == ["zafar_covariance", "probability_gap"]
    assert len(rows) == 2 * len(FC.intensities) * len(FC.table2_penalties)
    for row in rows:
        name = f"f_F ({row['constraint']}, {row['intensity']:g}, {row['penalty']})"
        bias = {"EO": "eo_sum", "DP": "dpd"}[row["constraint"]]
        pre = part(runs, pretrained=name, method="pre-trained")
        ft = ours(runs, pretrained=name)
        assert row["bias_metric"] == bias and row["n"] == FC.n_runs
        assert row["err_pretrain_mean"] == pytest.approx(pre["weighted_f1_error"].mean())
        assert row["err_finetune_mean"] == pytest.approx(ft["weighted_f1_error"].mean())
        assert row["err_finetune_std"] == pytest.approx(ft["weighted_f1_error"].std(ddof=1))
        assert row["bias_pretrain_mean"] == pytest.approx(pre[bias].mean())
        assert row["bias_finetune_mean"] == pytest.approx(ft[bias].mean())
        assert row["bias_change"] == pytest.approx(row["bias_finetune_mean"] - row["bias_pretrain_mean"])


def test_table3_changes_are_ours_minus_the_pretrained_values(results, runs):
    table = {(r["model"], r["intensity"]): r for r in results["metrics"]["table3"]}
    pre = table[("pre-trained", 0.0)]
    assert pre["weighted_f1_error_mean"] == pytest.approx(part(runs, pretrained="f_B", method="pre-trained")["weighted_f1_error"].mean())
    for (model, intensity), row in table.items():
        for metric in ("weighted_f1_error", "eo_sum", "dpd"):
            assert row[f"{metric}_change"] == pytest.approx(row[f"{metric}_mean"] - pre[f"{metric}_mean"])
        if model.startswith("Retrain+"):
            values = part(runs, pretrained="f_B", method=model, intensity=float(intensity))
            assert row["weighted_f1_error_mean"] == pytest.approx(values["weighted_f1_error"].mean())
            assert row["eo_sum_std"] == pytest.approx(values["eo_sum"].std(ddof=1))
            assert row["trainable_parameters"] == 742
    assert table[("OURS", 0.0)]["dpd_mean"] == pytest.approx(ours(runs)["dpd"].mean())
    assert table[("OURS", 0.0)]["trainable_parameters"] == 46


def test_table4_and_fig5_summarise_the_recorded_runs(results, runs):
    for row in results["metrics"]["table4"]:
        values = ours(runs, task=row["task"], pretrained=row["pretrained"])
        assert len(values) == FC.n_runs
        assert row["weighted_f1_error_mean"] == pytest.approx(values["weighted_f1_error"].mean())
        assert row["dpd_std"] == pytest.approx(values["dpd"].std(ddof=1))
    names = {r["pretrained"] for r in results["metrics"]["table4"] if r["task"] == "Adult"}
    assert {f"MLP-{d}" for d in FC.depths} <= names
    for row in results["metrics"]["fig5"]:
        values = ours(runs, alpha=float(row["alpha"]))
        assert row["eo_sum_mean"] == pytest.approx(values["eo_sum"].mean())
    assert sorted(r["alpha"] for r in results["metrics"]["fig5"]) == sorted(FC.alphas)


def test_review_differences_to_tl_are_the_paired_means(results, runs):
    for row in results["metrics"]["review"]:
        filters = dict(task="Adult", pretrained="f_B", lr=row["lr"], optimizer=row["optimizer"])
        mine = part(runs, method=row["method"], **filters)
        if row["method"] != "TL":
            mine = mine[(mine["rank"] == FC.rank) & (mine["alpha"].isna() | (mine["alpha"] == 0.5))]
        mine = mine[mine["run"] < FC.review_runs].set_index("run")
        tl = part(runs, method="TL", **filters).set_index("run")
        assert len(mine) == FC.review_runs
        assert row["weighted_f1_error_mean"] == pytest.approx(mine["weighted_f1_error"].mean())
        assert row["eo_sum_minus_TL"] == pytest.approx((mine["eo_sum"] - tl.loc[mine.index, "eo_sum"]).mean(), abs=1e-12)


def test_fig1_and_fig3_numbers(results):
    fig1 = results["metrics"]["fig1"]
    sep = pd.DataFrame(fig1["separability"])
    assert sorted(sep["run"].unique()) == RUNS and set(sep["model"]) == {"f_B", "f_F"}
    for model, value in fig1["auc_mean"].items():
        assert value == pytest.approx(sep.loc[sep["model"] == model, "auc"].mean())
    assert sep["auc"].between(0, 1).all()
    fig3 = results["metrics"]["fig3"]
    per_run = np.asarray(fig3["per_run"])
    assert per_run.shape == (FC.n_runs, 2, FC.hidden) and (per_run >= 0).all()
    np.testing.assert_allclose(fig3["mean"], per_run.mean(axis=0))
    assert len(fig3["spearman"]) == FC.n_runs and all(-1 <= r <= 1 for r in fig3["spearman"])


def test_paper_vs_reproduced_arithmetic(results):
    rows = results["metrics"]["paper_vs_reproduced"]
    table3 = {(r["model"], r["intensity"]): r for r in results["metrics"]["table3"]}
    by_claim = {r["claim"]: r for r in rows}
    assert by_claim["Table 3, OURS: error"]["ours"] == pytest.approx(table3[("OURS", 0.0)]["weighted_f1_error_mean"])
    assert by_claim["Table 3, OURS: error"]["paper"] == 15.829
    for row in rows:
        if row["paper"] is not None and row["ours"] is not None and isinstance(row["paper"], float):
            assert row["difference"] == pytest.approx(row["ours"] - row["paper"])
    row = by_claim["Table 3, Retrain+DP 0.9: Delta_DP"]
    ours_std = table3[("Retrain+DP", 0.9)]["dpd_std"]
    pooled = math.sqrt((0.021 ** 2 + ours_std ** 2) / 2)
    assert row["difference_in_pooled_std"] == pytest.approx((row["ours"] - 0.143) / pooled)
    prefixes = {r["claim"].split(":")[0].split(",")[0] for r in rows}
    assert {"Table 2", "Table 3", "Table 4", "Fig. 4"} <= prefixes


def test_claims_are_the_catalogue_through_the_engine_and_match_the_runs(results, runs):
    from fairlib.claims import checks_of, claims_of
    from fairlib.evidence import interval_agrees, validate_row

    rows = results["claims"]
    claims = [r for r in rows if r["kind"] != "check"]
    checks = {r["id"]: r for r in rows if r["kind"] == "check"}
    assert [r["id"] for r in claims] == [c.id for c in claims_of("04")]
    assert set(checks) == {k.id for k in checks_of("04")}
    for row in rows:
        assert validate_row(row) == row
        assert row["kind"] == "check" or interval_agrees(row)
    by_id = {r["id"]: r for r in claims}
    # Table 3's match rows: our mean over the runs, the paper's value and spread
    row = by_id["p4.table3.ours_error"]
    assert row["kind"] == "match" and row["paper_value"] == 15.829 and row["margin"] == 0.340
    assert row["estimate"] == pytest.approx(ours(runs)["weighted_f1_error"].mean())
    assert row["n"] == FC.n_runs
    assert by_id["p4.table3.ours_dpd"]["estimate"] == pytest.approx(ours(runs)["dpd"].mean())
    # the image claim rests on a stand-in at this profile: not run, its evidence beside it
    image = by_id["p4.fig4.images"]
    assert image["verdict"] == "not run" and image["reason"] == "stand-in data" and image["evidence"]["n"] == FC.n_runs
    # checks, never reproductions
    assert checks["check.p4.parameters_ours"]["value"] == 46 and checks["check.p4.parameters_ours"]["holds"]
    assert checks["check.p4.parameters_retrain"]["value"] == 742 and checks["check.p4.parameters_retrain"]["holds"]
    assert checks["check.p4.full_rank_identity"]["holds"]


def test_rank_table_changes_are_paired_differences_to_the_pretrained_model(results, runs):
    pre = part(runs, task="Adult", pretrained="f_B", method="pre-trained").set_index("run")
    for row in results["metrics"]["rank"]:
        got = part(runs, task="Adult", pretrained="f_B", method=row["method"], rank=row["rank"], lr=FC.finetune_lr,
                   optimizer=FC.optimizer)
        got = got[got["alpha"].isna() | (got["alpha"] == 0.5)].set_index("run")
        for metric in ("weighted_f1_error", "eo_sum"):
            change = got[metric] - pre.loc[got.index, metric]
            assert row[f"{metric}_change_mean"] == pytest.approx(change.mean(), abs=1e-12)
            if row["rank"] == 2:  # exact factorisation: the head before fine-tuning is the pre-trained model
                assert row[f"init_{metric}_change_mean"] == pytest.approx(0.0, abs=1e-9)
        assert row["init_margin_gap_mean"] <= 2 * row["init_logit_gap_mean"] + 1e-9


def test_review_learning_rates_are_chosen_on_validation(results, runs):
    for row in results["metrics"]["review_selected"]:
        mine = part(runs, split="val", task="Adult", pretrained="f_B", method=row["method"],
                    optimizer=row["optimizer"])
        if row["method"] != "TL":
            mine = mine[(mine["rank"] == FC.rank) & (mine["alpha"].isna() | (mine["alpha"] == 0.5))]
        lrs = FC.review_adamw_lrs if row["optimizer"] == "adamw" else FC.review_sgd_lrs
        mine = mine[(mine["run"] < FC.review_runs) & mine["lr"].isin(lrs)]
        val = mine.groupby("lr")["weighted_f1_error"].mean()
        assert row["lr"] == pytest.approx(val.idxmin()) and row["val_error"] == pytest.approx(val.min())
        test = part(runs, task="Adult", pretrained="f_B", method=row["method"], optimizer=row["optimizer"],
                    lr=row["lr"])
        if row["method"] != "TL":
            test = test[(test["rank"] == FC.rank) & (test["alpha"].isna() | (test["alpha"] == 0.5))]
        assert row["weighted_f1_error_mean"] == pytest.approx(test[test["run"] < FC.review_runs]["weighted_f1_error"].mean())


def test_recorded_runs_are_the_grid_one_to_one(runs):
    """Every fine-tuning run the notebook recorded is a job of ``jobs(test)`` and every such job is recorded:
    the grid is written once, as data."""
    from fairlib.experiments import fisher as fx

    grid = fx.jobs(get_profile("test"))
    trained = {spec.key for spec in grid if spec.method != "pretrain"}
    recorded = set(runs.loc[runs["method"] != "pre-trained", "key"])
    assert recorded == trained
    pretrained = {spec.key for spec in grid if spec.method == "pretrain"}
    assert {spec.param("pretrained") for spec in grid if spec.method != "pretrain"} <= pretrained
    for spec in grid:
        assert spec.method == "pretrain" or set(spec.after) == {spec.param("pretrained")}


def test_split_sizes_are_recorded_and_are_the_runs_parts(results, runs):
    sizes = {r["index"]: r for r in results["metrics"]["split_sizes"]}
    used, proportions = sizes["used (run 0)"], sizes["Table 1's proportions of our new task"]
    assert all(abs(used[k] - proportions[k]) <= 1 for k in ("train", "validation", "test"))  # stratified rounding
    assert used["train"] + used["validation"] + used["test"] == used["total"]
    assert sizes["paper's Table 1"]["total"] == 27602 and sizes["paper's Table 1"]["share of Adult"] > 0.6


def test_fig3_and_table2_state_the_differences_from_the_paper():
    import json

    nb = json.loads((paths.NOTEBOOKS / "04_fisher_svd.ipynb").read_text())
    text = {c.get("id"): "".join(c["source"]) for c in nb["cells"]}
    assert "one model" in text["fig3-per-group-models"] and "caption" in text["fig3-per-group-models"]
    assert "zafar_covariance" in text["table2-splits"] and "probability_gap" in text["table2-splits"]


def test_gap_nulls_are_recorded_beside_the_tables_gaps_and_equal_a_direct_call(results, runs):
    """Each gap of Fig. 4, Table 2 and Table 3 has its permutation null: the observed mean is the table's, the
    null's observed gap is the row's first run's recorded gap (so the predictions are that run's), and the null
    equals a direct ``gap_permutation_null`` call on those predictions."""
    from fairlib.experiments import fisher as fx
    from fairlib.metrics import gap_permutation_null

    gap_null = results["metrics"]["gap_null"]
    assert gap_null["n_permutations"] == fx.NULL_PERMUTATIONS and gap_null["random_state"] == 0
    nulls = pd.DataFrame(gap_null["table"])
    assert set(nulls["metric"]) == set(fx.NULL_GAPS) == {"dpd", "eo_sum"}
    fig4 = {(r["task"], r["method"]): r for r in results["metrics"]["fig4"]}
    # the recorded Table 2 holds a block per penalty form; the nulls are the claims' block (fair_penalty)
    fair_penalty = get_profile("test").fisher.fair_penalty
    table2 = {(r["constraint"], r["intensity"]): r for r in results["metrics"]["table2"] if r["penalty"] == fair_penalty}
    table3 = {(r["model"], r["intensity"]): r for r in results["metrics"]["table3"]}
    # one row per (row of the tables, gap)
    assert len(nulls) == (len(fig4) + 2 * len(table2) + len(table3)) * len(fx.NULL_GAPS)
    for row in nulls.itertuples():
        if row.table == "fig4":
            assert row.observed_mean == pytest.approx(fig4[(row.task, row.method)][f"{row.metric}_mean"])
        elif row.table == "table2":
            (kind, intensity), stage = row.row.split(" / ")[0].split(" "), row.row.split(" / ")[1]
            t2 = table2[(kind, float(intensity))]
            if t2["bias_metric"] == row.metric:
                key = {"pre-train": "bias_pretrain_mean", "finetune": "bias_finetune_mean"}[stage]
                assert row.observed_mean == pytest.approx(t2[key])
        else:
            model, intensity = row.row.rsplit(" ", 1)
            assert row.observed_mean == pytest.approx(table3[(model, float(intensity))][f"{row.metric}_mean"])
        # the null's run: the row's first run, whose recorded gap is the null's observed gap
        assert row.null_run == min(RUNS) and row.n_permutations == fx.NULL_PERMUTATIONS
        first = part(runs, task=row.task, pretrained=row.pretrained, method=row.method, run=row.null_run)
        if row.null_key:
            first = first[first["key"] == row.null_key]
        assert row.null_observed == pytest.approx(float(first[row.metric].iloc[0]))
        assert row.excess == pytest.approx(row.observed_mean - row.null_mean)
        assert 0 <= row.null_mean <= row.null_q95 + 1e-12
    experiment = fx.FisherExperiment(get_profile("test"))
    sizes = results["metrics"]["adult_data"]["  run 0: test"]["rows"]
    specs = {spec.key: spec for spec in fx.jobs(get_profile("test"))}
    for row in nulls.drop_duplicates(["table", "row"]).itertuples():
        record = {"task": row.task, "pretrained": row.pretrained, "method": row.method, "run": row.null_run,
                  "key": row.null_key or None}
        y, y_pred, s = fx.stored_test_predictions(experiment, record, specs=specs)
        if row.task == "Adult":  # the first run's test part of the new task, as the data table counts it
            assert len(y) == sizes
        for metric in fx.NULL_GAPS:
            recorded = nulls[(nulls["table"] == row.table) & (nulls["row"] == row.row) & (nulls["metric"] == metric)]
            direct = gap_permutation_null(y, y_pred, sensitive_features=s, metric=metric, group_names=(0, 1),
                                          n_permutations=fx.NULL_PERMUTATIONS, random_state=0)
            for key in ("null_mean", "null_q95", "p_value"):
                assert float(recorded[key].iloc[0]) == pytest.approx(direct[key])
            assert float(recorded["null_observed"].iloc[0]) == pytest.approx(direct["observed"])
            assert sum(recorded["group_sizes"].iloc[0].values()) == len(y)
