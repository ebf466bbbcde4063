import re

import pytest

from fairlib import evidence as ev
from fairlib import paths, report
from fairlib._report_builder import (FIGURE_CAPTIONS, VERDICTS, build_report, figure_caption, legacy_row,
                                     report_rows)
from fairlib.claims import CLAIMS, claims_of


@pytest.fixture
def figures(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "FIGURES", tmp_path)
    return tmp_path


def _table_rows(markdown: str) -> dict[str, list[list[str]]]:
    out, current = {}, None
    for line in markdown.splitlines():
        heading = re.match(r"^## (\d\d) · ", line)
        if heading:
            current = heading.group(1)
            out[current] = []
        elif current and line.startswith("| `"):
            out[current].append([c.strip() for c in line.strip().strip("|").split("|")])
    return out


def test_engine_rows_counted_per_notebook_and_missing_notebooks_not_run(figures):
    rows = [ev.evaluate("p2.vs_lora.min_group_f1", a=[0.5, 0.6, 0.7, 0.65], b=[0.4, 0.5, 0.6, 0.55], data="sim"),
            ev.evaluate("p2.vs_lora.f1_gap", differences=[0.3, -0.1, 0.2], data="sim"),
            ev.evaluate("p2.rank.not_needed", x=[1, 2, 4, 8] * 5, y=[0.5 + 0.001 * i for i in range(20)],
                        data="sim")]
    report.write_results("02", profile="rp", metrics={}, config={}, claims=rows)
    sections = report_rows("rp")
    assert [r["id"] for r in sections["02"]["claims"]] == [r["id"] for r in rows]
    for notebook in ("01", "03", "04", "05"):
        assert not sections[notebook]["ran"]
        assert [r["id"] for r in sections[notebook]["claims"]] == [c.id for c in claims_of(notebook)]
        assert {(r["verdict"], r["reason"]) for r in sections[notebook]["claims"]} == {("not run", "profile")}
    md, page = build_report("rp")
    text = md.read_text()
    expected = [sum(r["verdict"] == v for r in rows) for v in VERDICTS]
    assert f"| [02](#nb-02) | {' | '.join(map(str, expected))} | 0/0 |" in text
    assert f"| [04](#nb-04) | 0 | 0 | 0 | {len(claims_of('04'))} | 0/3 |" in text
    table = {cells[0].strip("`"): cells for cells in _table_rows(text)["02"]}
    first = table["p2.vs_lora.min_group_f1"]
    # the interval that decided the verdict is shown, with its level
    assert f"[{rows[0]['ci_low']:.4g}, {rows[0]['ci_high']:.4g}] (95.0%)" in first[3]
    assert first[5] == f"**{rows[0]['verdict']}**"
    assert "MDE" in table["p2.vs_lora.f1_gap"][6]
    html = page.read_text()
    assert "<table>" in html and '<a href="#nb-02">02</a>' in html  # links render


def test_legacy_rows_from_todays_notebooks(figures):
    legacy04 = [{"claim": CLAIMS["04"][0], "paper": 15.829, "ours": 16.1, "paper_std": 0.34, "ours_std": 0.2,
                 "verdict": "within 2 pooled std"},
                {"claim": CLAIMS["04"][15], "paper": "46 vs 742", "ours": "46 vs 742", "verdict": "reproduced"},
                {"claim": CLAIMS["04"][10], "paper": "OURS lowest", "ours": None,
                 "verdict": "not run: stand-in images at this profile"}]
    report.write_results("04", profile="rp", metrics={}, config={}, claims=legacy04)
    sec = report_rows("rp")["04"]
    # the old bug: "within 2 pooled std" was filed as not reproduced
    assert sec["claims"][0]["verdict"] == "reproduced" and sec["claims"][0]["id"] == "p4.table3.ours_error"
    assert sec["claims"][1]["verdict"] == "not run" and sec["claims"][1]["reason"] == "stand-in data"
    assert [c["id"] for c in sec["checks"]] == ["check.p4.parameters_ours"] and sec["checks"][0]["holds"]
    text = build_report("rp")[0].read_text()
    assert "*legacy*" in text and "Checks (not paper claims)" in text


@pytest.mark.parametrize("row, notebook, verdict", [
    # absence of significance is not equivalence: a legacy "reproduced" of a no-difference claim is inconclusive
    ({"claim": CLAIMS["01"][3], "paper": "no dependence", "ours": "rho -0.7", "verdict": "reproduced"}, "01",
     "inconclusive"),
    ({"claim": "FairLoRA fairer than LoRA: min-group F1 (improvement) [v]", "paper": "x", "ours": 0.02,
      "ci": [-0.01, 0.05], "n": 3, "verdict": "same direction, not significant"}, "02", "inconclusive"),
    ({"claim": "FairLoRA fairer than LoRA: min-group F1 (improvement) [v]", "paper": "x", "ours": 0.05,
      "ci": [0.01, 0.09], "n": 3, "verdict": "reproduced"}, "02", "reproduced"),
    ({"claim": CLAIMS["03"][0], "paper": "x", "ours": "y", "holds": False}, "03", "contradicted"),
    ({"claim": CLAIMS["04"][3], "paper": -0.026, "ours": 0.001,
      "verdict": "not reproduced (no meaningful change); change of Delta_EO shown"}, "04", "inconclusive"),
    ({"claim": "Table 3, Retrain+EO 0.1: error", "paper": 16.0, "ours": 17.0, "paper_std": 0.3, "ours_std": 0.4,
      "verdict": "differs by > 2 pooled std"}, "04", "contradicted"),
])
def test_legacy_adapter(row, notebook, verdict):
    out = legacy_row(row, notebook=notebook)
    assert out["verdict"] == verdict and out["legacy"] is True
    if row.get("verdict"):
        assert row["verdict"] not in (out.get("detail") or "")  # the old wording is not shown beside it


def test_captions_not_file_names(figures):
    folder = figures / "cap"
    folder.mkdir()
    (folder / "02_lambda_sweep.png").write_bytes(b"\x89PNG fake")
    (folder / "05_unregistered.png").write_bytes(b"\x89PNG fake")
    html = build_report("cap")[1].read_text()
    assert f"<figcaption>{FIGURE_CAPTIONS['02_lambda_sweep']}</figcaption>" in html
    assert "<figcaption>05_unregistered</figcaption>" not in html and figure_caption("05_unregistered") != ""
    assert html.index("lambda") > html.index('id="nb-02"') and html.index("<h2>03") > html.index("lambda")


def test_reproduce_ends_by_writing_the_report(tmp_path, monkeypatch):
    import fairlib._reproduce as reproduce
    from fairlib import experiments
    from fairlib.__main__ import main

    monkeypatch.setattr(paths, "FIGURES", tmp_path)
    calls = []
    monkeypatch.setattr(reproduce, "run_notebooks", lambda **kw: calls.append(kw) or {"05_benchmark.ipynb": 1.0})
    # The grid's jobs are the executor's business (tests/test_executor.py): here the notebooks' part only.
    grids = []
    monkeypatch.setattr(experiments, "jobs_for", lambda profile, only=None: grids.append((profile, only)) or [])
    monkeypatch.setattr(reproduce, "prepare_shared_backbones", lambda profile, only=None: None)
    assert main(["reproduce", "--profile", "test", "--only", "05"]) == 0
    assert grids == [("test", ["05"])]
    # without --workers, as many notebooks at a time as the pool's default workers
    assert calls == [{"profile": "test", "only": ["05"], "parameters": {}, "workers": experiments.default_workers()}]
    assert (tmp_path / "test" / "REPORT.md").exists() and (tmp_path / "test" / "REPORT.html").exists()


def test_a_rows_detail_reads_as_text_not_as_a_python_dict():
    from fairlib._report_builder import detail_text

    detail = {"vision": {"auc_difference": -0.050000000000000044, "bootstrap_ci": [-0.14091438050461713, 0.0479],
                         "bootstrap": "candidates resampled"},
              "power": "underpowered: n = 1 pair", "n": 3, "exact": True}
    assert detail_text(detail) == ("vision: (auc_difference: -0.05, bootstrap_ci: [-0.1409, 0.0479], bootstrap: "
                                   "candidates resampled), power: underpowered: n = 1 pair, n: 3, exact: True")
    assert detail_text("within 2 pooled std") == "within 2 pooled std"
    assert detail_text(float("nan")) == "—"
