"""Notebook 06 (the PEFT family) on the test profile: its recorded numbers must agree with each other, with the
declared grid and with peft's own parameter counts."""

import copy

import numpy as np
import pandas as pd
import pytest

from fairlib import paths
from fairlib.config import get_profile

pytestmark = pytest.mark.notebooks


@pytest.fixture(scope="module")
def results(executed_notebook):
    return executed_notebook("06")


@pytest.fixture(scope="module")
def runs(results):
    return pd.DataFrame(results["metrics"]["runs"])


@pytest.fixture(scope="module")
def profile():
    return get_profile("test")


def _int(value):
    return None if value is None or pd.isna(value) else int(value)


def _groups(part):
    return [c[len("count["):-1] for c in part.columns if c.startswith("count[") and part[c].notna().any()]


def test_outputs_exist(results):
    assert results["profile"] == "test"
    names = ["06_gap_vs_parameters", "06_accuracy_vs_gap"] + [
        f"06_groups_{key.replace(':', '_')}" for key in get_profile("test").peft_family.tasks]
    for name in names:
        for suffix in ("png", "pdf"):
            assert (paths.FIGURES / "test" / f"{name}.{suffix}").exists(), name
    for name in ("06_budgets", "06_summary"):
        for suffix in ("csv", "md"):
            assert (paths.FIGURES / "test" / f"{name}.{suffix}").exists(), name


def test_recorded_runs_are_the_declared_grid_one_to_one(results, runs, profile):
    from fairlib.experiments import peft_family as pf

    grid = pf.jobs(profile)
    declared = [s.key for s in grid if s.method != "pretrain"]
    for split in ("val", "test"):
        assert runs.loc[runs["split"] == split, "run"].tolist() == declared
    seconds = results["metrics"]["seconds"]
    assert seconds["runs_trained_now"] + seconds["runs_stored"] == len(grid)
    assert results["metrics"]["seeds"] == {key: list(pf.seeds_of(profile, key)) for key in profile.peft_family.tasks}
    assert all(v == list(profile.seeds) for v in results["metrics"]["seeds"].values())  # no limit at test
    # every declared method ran on every seed of each task, unless listed as skipped (with its reason)
    skipped = {(s["task"], s["method"]): s["reason"] for s in results["metrics"]["skipped"]}
    assert all(skipped.values())
    for task in profile.peft_family.tasks:
        for method in profile.peft_family.methods:
            part = runs[(runs["task"] == task) & (runs["method"] == method) & (runs["split"] == "test")]
            if (task, method) in skipped:
                assert part.empty
            else:
                assert sorted(part["seed"]) == sorted(profile.seeds), (task, method)


def test_per_group_numbers_give_the_recorded_aggregates(runs):
    for task, part in runs.groupby("task"):
        groups = _groups(part)
        assert len(groups) >= 2
        col = lambda name: part[[f"{name}[{g}]" for g in groups]].to_numpy(dtype=float)  # noqa: E731
        acc, count = col("accuracy"), col("count")
        # worst-group accuracy = the smallest recorded per-group accuracy; accuracy = their count-weighted mean
        np.testing.assert_allclose(part["worst_group_accuracy"], np.nanmin(acc, axis=1), atol=1e-12)
        np.testing.assert_allclose(count.sum(axis=1), part["n"])
        np.testing.assert_allclose(part["accuracy"], (acc * count).sum(axis=1) / part["n"], atol=1e-12)
        # gaps = spreads of the recorded per-group rates
        spread = lambda v: np.nanmax(v, axis=1) - np.nanmin(v, axis=1)  # noqa: E731
        np.testing.assert_allclose(part["dpd"], spread(col("selection_rate")), atol=1e-12)
        np.testing.assert_allclose(part["eo_max"], np.maximum(spread(col("recall")), spread(col("fpr"))), atol=1e-12)


def test_trainable_counts_are_peft_counts_and_hand_counts(results, runs, profile):
    from fairlib.experiments import benchmark as bm
    from fairlib.experiments import peft_family as pf

    budgets = pd.DataFrame(results["metrics"]["budgets"])
    test = runs[runs["split"] == "test"]
    counts = test.groupby(["task", "method"])[["trainable_parameters", "adapter_parameters"]].agg(set)
    assert all(len(v) == 1 for v in counts["trainable_parameters"])  # one count per method, every seed
    spec = profile.stand_in_vit
    d, layers = spec.hidden_size, spec.num_hidden_layers
    for task in profile.peft_family.tasks:
        make = bm.load_task(task, profile, pretrained=False).make_classifier
        model = make()
        head = sum(p.numel() for p in model.head.parameters())
        backbone = sum(p.numel() for p in model.backbone.parameters())
        for (t, method), row in counts.loc[task:task].iterrows():
            trainable, adapter = next(iter(row["trainable_parameters"])), next(iter(row["adapter_parameters"]))
            assert trainable == adapter + head
            choice = budgets[(budgets["task"] == task) & (budgets["method"] == method)
                             & (budgets["budget"] == "matched")].iloc[0]
            assert adapter == choice["adapter_parameters"]  # what ran is what the search chose
            placement = pf.Placement(choice["modules"], _int(choice["layers"]), _int(choice["width"])) \
                if pf.get_peft_method(method).kind == "adapter" else None
            wrapped = pf.wrap(copy.deepcopy(model), method, placement)
            if hasattr(wrapped, "get_nb_trainable_parameters"):  # peft's own count
                assert wrapped.get_nb_trainable_parameters()[0] == trainable
            if method == "full":
                assert adapter == backbone
            elif method == "bitfit":
                assert adapter == sum(p.numel() for n, p in model.backbone.named_parameters() if n.endswith("bias"))
            elif method == "lora" and task.startswith("standin"):
                assert choice["modules"] == "qv"  # query and value, d x d each: r (d + d) per module
                n_layers = _int(choice["layers"]) or layers  # None: every block
                assert adapter == n_layers * 2 * int(choice["width"]) * 2 * d
            elif method == "lora" and task == "adult":
                assert choice["modules"] == "hidden"  # the MLP's 34 -> 20 layer
                assert adapter == int(choice["width"]) * (34 + profile.fisher.hidden)
    # matched adapters within the tolerance of their target
    matched = budgets[(budgets["budget"] == "matched") & budgets["within"]]
    assert (abs(matched["adapter_parameters"] - matched["target"]) <= profile.peft_family.tolerance * matched["target"]).all()


def test_summary_and_heatmaps_are_means_of_the_recorded_runs(results, runs):
    from fairlib.metrics import METRICS

    test = runs[(runs["split"] == "test") & (runs["budget"] == "matched") & (runs["lam"] == 0.0)]
    summary = pd.DataFrame(results["metrics"]["summary"])
    assert len(summary) == len(test.groupby(["task", "method"]))
    for row in summary.itertuples(index=False):
        part = test[(test["task"] == row.task) & (test["method"] == row.method)]
        assert row.seeds == part["seed"].nunique()
        for metric in ("accuracy", "worst_group_accuracy", "dpd", "eo_max"):
            values = part[metric].to_numpy(dtype=float)
            assert getattr(row, f"{metric}_mean") == pytest.approx(values.mean())
            low, high = METRICS[metric].bounds
            assert low - 1e-12 <= values.min() - 1e-12 <= getattr(row, f"{metric}_ci_low")
            assert getattr(row, f"{metric}_ci_high") <= values.max() + 1e-12 <= high + 1e-12
    for task, table in results["metrics"]["heatmaps"].items():
        table = pd.DataFrame(table).set_index("method")
        part = test[test["task"] == task]
        for label, row in table.iterrows():
            for group, value in row.items():
                assert value == pytest.approx(part.loc[part["method_label"] == label, f"accuracy[{group}]"].mean())


def test_recorded_null_equals_a_direct_call(runs, profile):
    from fairlib.experiments import benchmark as bm
    from fairlib.experiments import peft_family as pf
    from fairlib.metrics import gap_permutation_null
    from fairlib.train import RunStore

    first = min(pf.seeds_of(profile, "adult"))
    test = runs[runs["split"] == "test"]
    assert test.loc[test["seed"] == first, "dpd_null_mean"].notna().all()
    assert test.loc[test["seed"] != first, "dpd_null_mean"].isna().all()
    spec = next(s for s in pf.jobs(profile) if s.method == "lora" and s.seed == first
                and s.param("task").startswith("standin"))
    task = bm.load_task(spec.param("task"), profile, pretrained=False)
    split = task.splits(spec.seed, profile.benchmark.split_fractions).test
    _, tensors = RunStore(spec.namespace).load(spec.to_dict())
    row = test[test["run"] == spec.key].iloc[0]
    for gap in ("dpd", "eo_max"):
        direct = gap_permutation_null(split.y, tensors["test_pred"].numpy(), sensitive_features=split.s, metric=gap,
                                      group_names=list(task.group_names),
                                      n_permutations=profile.peft_family.permutations, random_state=spec.seed)
        assert row[gap] == pytest.approx(direct["observed"], abs=1e-12)
        assert row[f"{gap}_null_mean"] == pytest.approx(direct["null_mean"], abs=1e-12)
        assert row[f"{gap}_p_value"] == pytest.approx(direct["p_value"], abs=1e-12)


def test_claims_are_valid_engine_rows_of_the_recorded_runs(results, runs, profile):
    from fairlib.claims import claims_of
    from fairlib.evidence import validate_row

    rows = {r["id"]: r for r in results["claims"]}
    assert set(rows) == {c.id for c in claims_of("06")}
    for row in rows.values():
        validate_row(row)
        assert row["verdict"] in ("reproduced", "contradicted", "inconclusive", "not run")
    # no variance_lambdas at the test profile: the transfer claim is not run, and says why
    assert not profile.peft_family.variance_lambdas
    assert rows["06.variance_term_worst_group"]["verdict"] == "not run"
    test = runs[(runs["split"] == "test") & (runs["lam"] == 0.0)]
    lora = rows["06.lora_not_less_fair"]
    if lora["verdict"] != "not run":  # Adult (real data) decides: paired by seed, every seed
        assert lora["n"] == len(profile.seeds)
        assert lora["deciding"].startswith("Adult")
        other, metric = lora["deciding"].split(" | ")[1].split(" - ")[1], lora["deciding"].split(" | ")[2]
        part = test[test["task"] == "adult"]
        diff = (part[part["method"] == "lora"].set_index("seed")[metric]
                - part[part["method"] == other].set_index("seed")[metric])
        assert lora["estimate"] == pytest.approx(diff.mean())
    trend = rows["06.gap_vs_parameters"]
    if trend["verdict"] != "not run":  # every adult run with trained backbone parameters enters the slope
        assert trend["n"] == len(test[(test["task"] == "adult") & (test["adapter_parameters"] > 0)])


def test_report_has_a_section_for_06_with_its_rows_and_captions(results):
    from fairlib._report_builder import FIGURE_CAPTIONS, build_report, figure_caption

    md, page = build_report("test")
    text = md.read_text()
    section = text[text.index("## 06 · "):]
    for row in results["claims"]:
        line = next(line for line in section.splitlines() if line.startswith(f"| `{row['id']}`"))
        assert f"**{row['verdict']}**" in line
    html = page.read_text()
    for key in get_profile("test").peft_family.tasks:
        caption = figure_caption(f"06_groups_{key.replace(':', '_')}")
        assert "heat map" in caption and caption in html
    assert FIGURE_CAPTIONS["06_gap_vs_parameters"] in html
