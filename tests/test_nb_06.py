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
    names.append("06_lira_by_group")
    for name in names[-1:]:
        for suffix in ("png", "pdf"):
            assert (paths.FIGURES / "test" / f"{name}.{suffix}").exists(), name
    for name in ("06_budgets", "06_summary", "06_groups_table", "06_lira_by_group"):
        for suffix in ("csv", "md"):
            assert (paths.FIGURES / "test" / f"{name}.{suffix}").exists(), name


def test_recorded_runs_are_the_declared_grid_one_to_one(results, runs, profile):
    from fairlib.experiments import peft_family as pf

    grid = pf.jobs(profile)
    declared = [s.key for s in grid if s.method != "pretrain" and pf.lira_role(s) is None]
    for split in ("val", "test"):
        assert runs.loc[runs["split"] == split, "run"].tolist() == declared
    seconds = results["metrics"]["seconds"]
    assert seconds["runs_trained_now"] + seconds["runs_stored"] == len(grid)
    assert results["metrics"]["seeds"] == {key: list(pf.seeds_of(profile, key)) for key in profile.peft_family.tasks}
    assert all(v == list(profile.seeds) for v in results["metrics"]["seeds"].values())  # no limit at test
    # every declared method ran on every seed of each task and budget, unless listed as skipped (with its reason)
    skipped = {(s["task"], s["budget"], s["method"]): s["reason"] for s in results["metrics"]["skipped"]}
    assert all(skipped.values())
    budgets = pd.DataFrame(results["metrics"]["budgets"])
    cfg = profile.peft_family
    for task in cfg.tasks:
        modality = "tabular" if task == "adult" else "text" if task.startswith("text:") else "image"
        names = {f"matched {100 * level:.4g}%" for level in cfg.levels(modality)}
        assert set(budgets.loc[budgets["task"] == task, "budget"]) == names | {"own size"}  # no recipe at test
        for budget in names | {"own size"}:
            for method in cfg.methods:
                if (pf.get_peft_method(method).kind == "reference") != (budget == "own size"):
                    continue
                part = runs[(runs["task"] == task) & (runs["budget"] == budget) & (runs["method"] == method)
                            & (runs["split"] == "test")]
                if (task, budget, method) in skipped:
                    assert part.empty
                else:
                    assert sorted(part["seed"]) == sorted(profile.seeds), (task, budget, method)


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
    counts = test.groupby(["task", "budget", "method"])[["trainable_parameters", "adapter_parameters"]].agg(set)
    assert all(len(v) == 1 for v in counts["trainable_parameters"])  # one count per method, every seed
    spec = profile.stand_in_vit
    d, layers = spec.hidden_size, spec.num_hidden_layers
    for task in profile.peft_family.tasks:
        make = bm.load_task(task, profile, pretrained=False).make_classifier
        model = make()
        head = sum(p.numel() for p in model.head.parameters())
        backbone = sum(p.numel() for p in model.backbone.parameters())
        for (t, budget, method), row in counts.loc[task:task].iterrows():
            trainable, adapter = next(iter(row["trainable_parameters"])), next(iter(row["adapter_parameters"]))
            assert trainable == adapter + head
            choice = budgets[(budgets["task"] == task) & (budgets["method"] == method)
                             & (budgets["budget"] == budget)].iloc[0]
            assert adapter == choice["adapter_parameters"]  # what ran is what the search chose
            placement = pf.Placement(choice["modules"], _int(choice["layers"]), _int(choice["width"])) \
                if pf.get_peft_method(method).kind == "adapter" else None
            wrapped = pf.wrap(copy.deepcopy(model), method, placement)
            if hasattr(wrapped, "get_nb_trainable_parameters"):  # peft's own count
                assert wrapped.get_nb_trainable_parameters()[0] == trainable
            if method == "prompt_tuning":  # peft's count of the wrapped backbone; by hand: tokens x MiniLM's width
                assert task.startswith("text:") and choice["modules"] == pf.INPUT
                assert wrapped.backbone.get_nb_trainable_parameters()[0] == adapter == int(choice["width"]) * 384
                assert trainable == adapter + 384 * 2 + 2  # the head, 384 -> 2
            if method == "full":
                assert adapter == backbone
            elif method == "bitfit":
                assert adapter == sum(p.numel() for n, p in model.backbone.named_parameters() if n.endswith("bias"))
            elif method == "lora" and task.startswith("standin"):
                modules = {"v": 1, "qv": 2}[choice["modules"]]  # value (and query), d x d each: r (d + d) per module
                n_layers = _int(choice["layers"]) or layers  # None: every block
                assert adapter == n_layers * modules * int(choice["width"]) * 2 * d
            elif method == "lora" and task.startswith("text:"):
                # MiniLM's query / value / key are 384 x 384: r (384 + 384) per module
                modules = {"v": 1, "qv": 2, "attn": 3}[choice["modules"]]
                n_layers = _int(choice["layers"]) or 6
                assert adapter == n_layers * modules * int(choice["width"]) * 2 * 384
            elif method == "lora" and task == "adult":
                assert choice["modules"] == "hidden"  # the MLP's 34 -> 20 layer
                assert adapter == int(choice["width"]) * (34 + profile.fisher.hidden)
    # matched adapters within the tolerance of their target, and each level's target its share of the backbone
    matched = budgets[budgets["budget"].str.startswith("matched")]
    assert (matched["target"] == (matched["level"] * matched["backbone_parameters"]).round()).all()
    assert (matched["budget"] == matched["level"].map(lambda v: f"matched {100 * v:.4g}%")).all()
    matched = matched[matched["within"]]
    assert (abs(matched["adapter_parameters"] - matched["target"]) <= profile.peft_family.tolerance * matched["target"]).all()


def test_summary_and_heatmaps_are_means_of_the_recorded_runs(results, runs):
    from fairlib.metrics import METRICS

    test = runs[(runs["split"] == "test") & (runs["lam"] == 0.0)]
    summary = pd.DataFrame(results["metrics"]["summary"])
    assert len(summary) == len(test.groupby(["task", "budget", "method"]))
    for row in summary.itertuples(index=False):
        part = test[(test["task"] == row.task) & (test["budget"] == row.budget) & (test["method"] == row.method)]
        assert row.seeds == part["seed"].nunique()
        for metric in ("accuracy", "worst_group_accuracy", "dpd", "eo_max", "ece", "worst_group_ece"):
            values = part[metric].to_numpy(dtype=float)
            assert getattr(row, f"{metric}_mean") == pytest.approx(values.mean())
            low, high = METRICS[metric].bounds
            assert low - 1e-12 <= values.min() - 1e-12 <= getattr(row, f"{metric}_ci_low")
            assert getattr(row, f"{metric}_ci_high") <= values.max() + 1e-12 <= high + 1e-12
    for task, table in results["metrics"]["heatmaps"].items():
        table = pd.DataFrame(table).set_index("method")
        budget = results["metrics"]["heatmap_budgets"][task]
        part = test[(test["task"] == task) & test["budget"].isin([budget, "own size"])]
        # the heat map's budget is the matched level with the most adapters run
        adapters = test[(test["task"] == task) & test["budget"].str.startswith("matched")]
        assert adapters.groupby("budget")["method"].nunique().max() == part.loc[part["budget"] == budget, "method"].nunique()
        for label, row in table.iterrows():
            for group, value in row.items():
                assert value == pytest.approx(part.loc[part["method_label"] == label, f"accuracy[{group}]"].mean())


def test_per_group_f1_and_ece_are_direct_calls(results, runs, profile):
    # the per-group table's F1 and ECE are the seeds' means of sklearn's F1 and a hand-computed 15-bin ECE
    from sklearn.metrics import f1_score

    from fairlib.experiments import benchmark as bm
    from fairlib.experiments import peft_family as pf
    from fairlib.train import RunStore

    groups = pd.DataFrame(results["metrics"]["groups"])
    spec = next(s for s in pf.jobs(profile) if s.method == "lora" and s.param("task") == "adult")
    task = bm.load_task("adult", profile, pretrained=False)
    split = task.splits(spec.seed, profile.benchmark.split_fractions).test
    _, tensors = RunStore(spec.namespace).load(spec.to_dict())
    pred, prob = tensors["test_pred"].numpy(), tensors["test_prob"].numpy().astype(np.float64)
    row = runs[(runs["run"] == spec.key) & (runs["split"] == "test")].iloc[0]
    for i, group in enumerate(task.group_names):
        members = split.s == i
        assert row[f"f1[{group}]"] == pytest.approx(f1_score(split.y[members], pred[members]), abs=1e-12)
        confidence, correct = prob[members].max(axis=1), prob[members].argmax(axis=1) == split.y[members]
        bins = np.clip(np.ceil(confidence * 15).astype(int) - 1, 0, 14)  # bins (k/15, (k+1)/15], the first holds 0
        ece = sum(abs(correct[bins == b].mean() - confidence[bins == b].mean()) * (bins == b).mean()
                  for b in range(15) if (bins == b).any())
        assert row[f"ece[{group}]"] == pytest.approx(ece, abs=1e-9)
    seeds_rows = runs[(runs["split"] == "test") & (runs["task"] == "adult") & (runs["budget"] == spec.param("budget"))
                      & (runs["method"] == "lora") & (runs["lam"] == 0.0)]
    for group in task.group_names:
        mine = groups[(groups["task"] == "adult") & (groups["budget"] == spec.param("budget"))
                      & (groups["method"] == "lora") & (groups["group"] == group)].iloc[0]
        assert mine["seeds"] == len(seeds_rows)
        for metric in ("accuracy", "f1", "ece"):
            assert mine[metric] == pytest.approx(seeds_rows[f"{metric}[{group}]"].mean())


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
        _, budget, pair, metric = lora["deciding"].split(" | ")
        other = pair.split(" - ")[1]
        part = test[(test["task"] == "adult") & (test["budget"] == budget)]
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


def test_lira_per_group_is_recomputed_from_the_stored_runs(results, profile):
    """The recorded LiRA table equals: online LiRA on the stored targets' and shadows' pool probabilities (loaded
    here from the run store), each group's AUC by scikit-learn, every candidate counted once."""
    from sklearn.metrics import roc_auc_score

    from fairlib.experiments import peft_family as pf
    from fairlib.methods import membership as mi
    from fairlib.train import RunStore

    cfg = profile.peft_family
    recorded = pd.DataFrame(results["metrics"]["lira"])
    lira = pf.lira_by_group(profile)
    pd.testing.assert_frame_equal(recorded.reset_index(drop=True), lira.table.reset_index(drop=True),
                                  check_dtype=False)
    grid = [s for s in pf.jobs(profile) if pf.lira_role(s) is not None]
    is_member, shadow_in = pf.lira_membership(cfg)
    n = cfg.lira_candidates
    assert set(recorded["method"]) == {s.method for s in grid} and len(lira.y) == n
    for method in lira.scores:
        logits = {s.param("role"): RunStore(s.namespace).load(s.to_dict())[1]["pool_logits"].numpy().astype(float)
                  for s in grid if s.method == method}
        y = lira.y.astype(int)
        # phi = log p_y - log(sum of the other classes' p), by log-sum-exp of the logits (LiRA's scaled confidence)
        phi = {}
        for role, z in logits.items():
            others = np.where(np.arange(z.shape[1])[None, :] == y[:, None], -np.inf, z)
            phi[role] = z[np.arange(n), y] - np.logaddexp.reduce(others, axis=1)
        shadows = np.stack([phi[f"lira shadow {i}"] for i in range(cfg.lira_shadows)])
        expected = mi.lira_scores(phi[pf.LIRA_TARGET], shadows, shadow_in, online=True, global_variance=True)
        np.testing.assert_allclose(lira.scores[method], expected, rtol=1e-6, atol=1e-6)
        rows = recorded[recorded["method"] == method].set_index("group")
        assert rows.loc["all", "n_members"] == n // 2 and rows.loc["all", "n_nonmembers"] == n - n // 2
        assert rows.drop(index="all")["n_members"].sum() == n // 2
        for g, name in enumerate(lira.group_names):
            keep = lira.s == g
            if is_member[keep].any() and (~is_member[keep]).any():
                assert rows.loc[name, "auc"] == pytest.approx(roc_auc_score(is_member[keep], expected[keep]), abs=1e-9)
                assert rows.loc[name, "auc_ci_low"] <= rows.loc[name, "auc_ci_high"]
        assert rows.loc["all", "auc"] == pytest.approx(roc_auc_score(is_member, expected), abs=1e-9)
