import pytest

from fairlib import paths, report
from fairlib._report_builder import build_report, report_rows
from fairlib.claims import CLAIMS


@pytest.fixture
def figures(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "FIGURES", tmp_path)
    return tmp_path


def test_missing_notebooks_read_not_run_and_present_claims_come_from_json(figures):
    rows = report.paper_vs_reproduced([
        {"claim": "Table 3: OURS error", "paper": 15.829, "ours": 16.5, "paper_std": 0.34, "ours_std": 0.2},
        {"claim": "qualitative", "paper": "x", "ours": "y", "holds": False}], profile="rp")
    report.write_results("04", profile="rp", metrics={}, config={},
                         claims=rows.reset_index().to_dict(orient="records"))
    sections = report_rows("rp")
    assert sections["04"]["ran"] and [r["claim"] for r in sections["04"]["rows"]] == ["Table 3: OURS error", "qualitative"]
    assert sections["04"]["rows"][0]["difference"] == pytest.approx(16.5 - 15.829)
    assert sections["04"]["rows"][1]["verdict"] == "not reproduced"
    for notebook in set(CLAIMS) - {"04"}:
        assert not sections[notebook]["ran"]
        assert [r["claim"] for r in sections[notebook]["rows"]] == CLAIMS[notebook]
        assert {r["verdict"] for r in sections[notebook]["rows"]} == {"not run at this profile"}
    md, page = build_report("rp")
    text = md.read_text()
    assert "| Table 3: OURS error | 15.83 | 16.5 | 0.671 | compared |" in text
    assert text.count("not run at this profile") == sum(len(c) for n, c in CLAIMS.items() if n != "04")
    assert "<table>" in page.read_text()
