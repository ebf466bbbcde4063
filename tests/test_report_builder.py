import json
import re

import pytest

from fairlib import paths, report
from fairlib._report_builder import VERDICTS, build_report, normalize_verdict, report_rows
from fairlib.claims import CLAIMS


@pytest.fixture
def figures(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "FIGURES", tmp_path)
    return tmp_path


def _sections(markdown: str) -> dict[str, list[dict]]:
    """The claim rows of REPORT.md, per notebook section, parsed back from the Markdown tables."""
    out, current = {}, None
    for line in markdown.splitlines():
        heading = re.match(r"^## (\d\d) · ", line)
        if heading:
            current = heading.group(1)
            out[current] = []
        elif current and line.startswith("| ") and not line.startswith("| claim |"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            out[current].append(dict(zip(("claim", "paper", "ours", "difference", "verdict", "detail"), cells)))
    return out


def test_missing_notebooks_read_not_run_and_present_claims_come_from_json(figures):
    rows = report.paper_vs_reproduced([
        {"claim": "Table 3: OURS error", "paper": 15.829, "ours": 16.5, "paper_std": 0.34, "ours_std": 0.2},
        {"claim": "qualitative", "paper": "x", "ours": "y", "holds": False}], profile="rp")
    report.write_results("04", profile="rp", metrics={}, config={},
                         claims=rows.reset_index().to_dict(orient="records"))
    sections = report_rows("rp")
    assert sections["04"]["ran"]
    assert [r["claim"] for r in sections["04"]["rows"]] == ["Table 3: OURS error", "qualitative"]
    assert sections["04"]["rows"][0]["difference"] == pytest.approx(16.5 - 15.829)
    # pooled std sqrt((0.34^2 + 0.2^2) / 2) = 0.279: the difference is 2.41 pooled stds, beyond the tolerance of 2
    assert sections["04"]["rows"][0]["verdict"] == "not reproduced"
    assert sections["04"]["rows"][1]["verdict"] == "not reproduced"
    for notebook in set(CLAIMS) - {"04"}:
        assert not sections[notebook]["ran"]
        assert [r["claim"] for r in sections[notebook]["rows"]] == CLAIMS[notebook]
        assert {r["verdict"] for r in sections[notebook]["rows"]} == {"not run at this profile"}
    md, page = build_report("rp")
    text = md.read_text()
    row = "| Table 3: OURS error | 15.83 | 16.5 | 0.671 | not reproduced | 2.41 pooled std from the paper's value"
    assert row in text
    not_run = [r for rows in _sections(text).values() for r in rows if r["verdict"] == "not run at this profile"]
    assert len(not_run) == sum(len(c) for n, c in CLAIMS.items() if n != "04")
    assert "<table>" in page.read_text()


def test_every_claim_in_the_report_comes_from_a_results_json_and_missing_notebooks_read_not_run(tmp_path, monkeypatch):
    """The issue's test: fake results JSONs for two notebooks, none for the others, in a temporary FIGURES."""
    monkeypatch.setenv("FAIRLIB_FIGURES", str(tmp_path))
    monkeypatch.setattr(paths, "FIGURES", tmp_path)
    profile = "smoke"
    folder = tmp_path / profile
    folder.mkdir()
    fake = {
        "02": [{"claim": "FairLoRA fairer than LoRA: EOD (improvement) [stand-in-vit]", "paper": "FairLoRA > LoRA",
                "ours": 0.031, "ours_std": 0.01, "verdict": "reproduced", "ci": [0.01, 0.05], "n": 3},
               {"claim": "FairLoRA fairer than Fair FFT: F1 gap (improvement) [stand-in-vit]",
                "paper": "FairLoRA > Fair FFT", "ours": 0.002, "verdict": "same direction, not significant"},
               {"claim": "Higher rank not needed [stand-in-vit]", "paper": "no gain", "ours": -0.01,
                "verdict": "no significant difference"}],
        "05": [{"claim": "Paper 4: trainable parameters of Fisher-neutralised SVD on the Adult MLP", "paper": 46,
                "ours": 46},
               {"claim": "Paper 4: error of OURS (Adult)", "paper": 15.829, "paper_std": 0.34, "ours": 16.0,
                "ours_std": 0.3},
               {"claim": "Orth reduces bias [x]", "paper": "reduces bias", "ours": "lower on 2/3 tasks",
                "holds": True}],
    }
    for notebook, claims in fake.items():
        report.write_results(notebook, profile=profile, metrics={"seconds": 1.0}, config={}, claims=claims)
    (folder / "02_lambda_sweep.png").write_bytes(b"\x89PNG fake 02")
    (folder / "05_pareto.png").write_bytes(b"\x89PNG fake 05")

    md, page = build_report(profile)
    sections = _sections(md.read_text())
    assert set(sections) == set(CLAIMS)
    for notebook, rows in sections.items():
        recorded = json.loads((folder / f"{notebook}_results.json").read_text())["claims"] if notebook in fake else None
        if recorded is not None:
            # exactly the JSON's claims, in its order: nothing from the catalogue, nothing invented
            assert [r["claim"] for r in rows] == [c["claim"] for c in recorded]
            assert all(r["verdict"] in VERDICTS[:2] for r in rows)
        else:
            assert [r["claim"] for r in rows] == CLAIMS[notebook]
            assert {r["verdict"] for r in rows} == {"not run at this profile"}
            assert {r["ours"] for r in rows} == {"—"}
    verdicts = {r["claim"]: (r["verdict"], r["detail"]) for r in sections["02"] + sections["05"]}
    assert verdicts["FairLoRA fairer than LoRA: EOD (improvement) [stand-in-vit]"] == ("reproduced", "")
    assert verdicts["FairLoRA fairer than Fair FFT: F1 gap (improvement) [stand-in-vit]"] == (
        "not reproduced", "same direction, not significant")  # the notebook's wording is kept
    assert verdicts["Higher rank not needed [stand-in-vit]"] == ("not reproduced", "no significant difference")
    assert verdicts["Paper 4: trainable parameters of Fisher-neutralised SVD on the Adult MLP"] == (
        "reproduced", "exact count")
    assert verdicts["Paper 4: error of OURS (Adult)"][0] == "reproduced"  # 0.17 / 0.32 pooled std
    assert verdicts["Orth reduces bias [x]"] == ("reproduced", "")
    text = md.read_text()
    assert f"profile `{profile}`" in text and "commit `" in text and "torch 2.13" in text and "fairlearn" in text
    html = page.read_text()
    assert html.count("<img src='data:image/png;base64,") == 2
    # each notebook's figure follows its own section
    assert html.index("02_lambda_sweep") < html.index("<h2>03") < html.index("<h2>05") < html.index("05_pareto")


@pytest.mark.parametrize("verdict, paper, ours, pooled, expected", [
    ("reproduced", "x", 0.1, None, ("reproduced", "")),
    ("reproduced (higher rank fairer)", "x", 0.1, None, ("reproduced", "reproduced (higher rank fairer)")),
    ("not reproduced (LoRA less fair)", "x", 0.1, None, ("not reproduced", "not reproduced (LoRA less fair)")),
    ("same direction, not significant", "x", 0.1, None, ("not reproduced", "same direction, not significant")),
    ("not run at this profile", 1.0, None, None, ("not run at this profile", "")),
    (None, 1.0, None, None, ("not run at this profile", "")),
    ("compared", 16.0, 16.5, 1.5, ("reproduced", "1.50 pooled std from the paper's value (tolerance 2)")),
    ("compared", 16.0, 17.0, -2.5, ("not reproduced", "2.50 pooled std from the paper's value (tolerance 2)")),
    ("compared", 742, 742, None, ("reproduced", "exact count")),
    ("compared", 742, 743, None, ("not reproduced", "exact count")),
    ("compared", 0.2, 0.205, None, ("reproduced", "within 5% of the paper's value")),
    ("compared", "text", "other text", None, ("not reproduced", "notebook verdict: compared")),
    ("looks fine", "x", "y", None, ("not reproduced", "notebook verdict: looks fine")),
])
def test_normalize_verdict(verdict, paper, ours, pooled, expected):
    assert normalize_verdict(verdict, paper=paper, ours=ours, difference_in_pooled_std=pooled) == expected


def test_reproduce_ends_by_writing_the_report(tmp_path, monkeypatch):
    import fairlib._reproduce as reproduce
    from fairlib.__main__ import main

    monkeypatch.setattr(paths, "FIGURES", tmp_path)
    calls = []
    monkeypatch.setattr(reproduce, "run_notebooks", lambda **kw: calls.append(kw) or {"05_benchmark.ipynb": 1.0})
    assert main(["reproduce", "--profile", "test", "--only", "05"]) == 0
    assert calls == [{"profile": "test", "only": ["05"]}]
    assert (tmp_path / "test" / "REPORT.md").exists() and (tmp_path / "test" / "REPORT.html").exists()
