import json
import math

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from fairlib import paths, report  # noqa: E402


@pytest.fixture
def figures(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "FIGURES", tmp_path)
    return tmp_path


def test_paths_do_not_depend_on_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert (paths.ROOT / "fairlib" / "paths.py").exists()
    assert paths.FIGURES.is_absolute() and paths.DATA.is_absolute()


def test_save_figure_and_table_under_profile(figures):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    written = report.save_figure(fig, "99_line", profile="smoke")
    assert [p.name for p in written] == ["99_line.png", "99_line.pdf"]
    assert all(p.parent == figures / "smoke" and p.stat().st_size > 0 for p in written)
    table = pd.DataFrame({"a": [1.0, 2.5]}, index=pd.Index(["x", "y"], name="k"))
    csv, md = report.save_table(table, "99_table", profile="full")
    assert csv.parent == figures / "full"
    assert pd.read_csv(csv, index_col=0)["a"].tolist() == [1.0, 2.5]
    assert md.read_text().splitlines()[0] == "| k | a |"


def test_bad_output_name_rejected(figures):
    with pytest.raises(ValueError):
        report.save_table(pd.DataFrame(), "sub/dir", profile="smoke")


def test_atomic_write_keeps_old_file_when_writer_fails(tmp_path):
    target = tmp_path / "r.json"
    target.write_text("old")

    def broken(tmp):
        tmp.write_text("half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        report.atomic_write(target, broken)
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left behind


def test_results_json_contents(figures):
    path = report.write_results("07", profile="smoke", metrics={"acc": np.float32(0.5), "gap": float("nan"),
                                                                 "arr": np.arange(3)}, config={"seed": 0})
    data = json.loads(path.read_text())
    assert path.name == "07_results.json"
    assert data["metrics"] == {"acc": 0.5, "gap": None, "arr": [0, 1, 2]}
    assert data["versions"]["torch"].startswith("2.13")
    assert data["config"] == {"seed": 0} and data["profile"] == "smoke"
    assert report.read_results("07", profile="smoke")["metrics"]["acc"] == 0.5
    assert report.read_results("08", profile="smoke") is None


def test_paper_vs_reproduced_pooled_std():
    table = report.paper_vs_reproduced(
        [{"claim": "error", "paper": 16.0, "ours": 17.0, "paper_std": 0.3, "ours_std": 0.4},
         {"claim": "not run", "paper": 1.0, "ours": None},
         {"claim": "qualitative", "paper": "LoRA not less fair", "ours": "holds", "holds": True}],
        profile="smoke")
    # pooled std = sqrt((0.3^2 + 0.4^2) / 2) = sqrt(0.125) = 0.35355; difference 1.0 -> 2.828 pooled stds
    assert math.isclose(table.loc["error", "difference_in_pooled_std"], 1 / math.sqrt(0.125))
    assert table.loc["not run", "verdict"] == "not run at this profile"
    assert table.loc["qualitative", "verdict"] == "reproduced"
    assert set(table["profile"]) == {"smoke"}


def test_atomic_write_gives_the_usual_file_mode(tmp_path):
    import os
    import stat

    from fairlib.report import atomic_write

    umask = os.umask(0o022)
    try:
        path = atomic_write(tmp_path / "out.txt", lambda tmp: tmp.write_text("x"))
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
