"""GeoDE and FGVC-Aircraft loaders (paper 2's other datasets) on fixtures in the releases' formats
(``tests/fixtures/geode``, ``tests/fixtures/aircraft``, written by ``tests/fixtures/make_geode_aircraft.py``)."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairlib.config import get_profile
from fairlib.data import (DataFormatError, MissingDataError, check_dataset, load_aircraft, load_geode,
                          locate_dataset)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
GEODE = FIXTURES / "geode"
AIRCRAFT = FIXTURES / "aircraft"


def _copy(src, tmp_path):
    dst = tmp_path / src.name
    shutil.copytree(src, dst)
    return dst


# -- GeoDE --------------------------------------------------------------------------------------------------------
def test_geode_classes_are_objects_groups_are_regions_read_from_index_csv():
    data = load_geode(root=GEODE, verbose=False)
    index = pd.read_csv(GEODE / "index.csv")
    assert len(data) == len(index) == 24
    assert data.class_names == ("bag", "stove") and data.group_names == ("Africa", "EastAsia", "Europe")
    assert data.sensitive_name == "region"
    # every row by hand: the codes name the row's object and region, the path is the row's image (both
    # spellings of file_path: relative to the folder and relative to images/)
    for k, row in index.iterrows():
        assert data.class_names[data.y[k]] == row["object"] and data.group_names[data.s[k]] == row["region"]
        assert Path(data.x[k]).is_file() and Path(data.x[k]).name == Path(row["file_path"]).name
    assert data.info["missing_images"] == 0


def test_geode_split_is_drawn_within_every_object_region_cell():
    data = load_geode(root=GEODE, verbose=False)
    split = pd.Series(data.info["split"])
    # 4 images per cell, fractions (0.6, 0.2, 0.2): 1 validation, 1 test, 2 training images in each of 6 cells
    assert split.value_counts().to_dict() == {"train": 12, "val": 6, "test": 6}
    cells = pd.DataFrame({"y": data.y, "s": data.s, "split": split})
    assert (cells.groupby(["y", "s"])["split"].apply(lambda p: sorted(p)) ==
            pd.Series([["test", "train", "train", "val"]] * 6, index=cells.groupby(["y", "s"]).size().index)).all()
    assert (load_geode(root=GEODE, verbose=False).info["split"] == data.info["split"]).all()  # deterministic
    assert "drawn" in data.info["split_source"]
    with pytest.raises(ValueError, match="split_fractions"):
        load_geode(root=GEODE, split_fractions=(0.5, 0.5, 0.5), verbose=False)


def test_geode_split_column_is_used_when_present(tmp_path):
    root = _copy(GEODE, tmp_path)
    index = pd.read_csv(root / "index.csv")
    index["split"] = ["train", "val", "test"] * 8
    index.to_csv(root / "index.csv", index=False)
    data = load_geode(root=root, verbose=False)
    assert list(data.info["split"]) == ["train", "val", "test"] * 8 and data.info["split_source"] == "index.csv"
    index.loc[5, "split"] = "dev"
    index.to_csv(root / "index.csv", index=False)
    with pytest.raises(DataFormatError, match=r"line 7.*'dev'"):
        load_geode(root=root, verbose=False)


def test_geode_fails_fast_and_clearly(tmp_path, capsys):
    with pytest.raises(MissingDataError, match="geodiverse-data-collection"):
        load_geode(root=tmp_path / "nowhere", verbose=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingDataError, match="index.csv"):
        locate_dataset("geode", tmp_path / "empty")
    root = _copy(GEODE, tmp_path)
    index = pd.read_csv(root / "index.csv")
    index.drop(columns="region").to_csv(root / "index.csv", index=False)
    with pytest.raises(DataFormatError, match=r"missing column\(s\) \['region'\]"):
        load_geode(root=root, verbose=False)
    index.to_csv(root / "index.csv", index=False)
    (root / "images" / "bag" / "bag_Africa_0.jpg").unlink()
    data = load_geode(root=root, verbose=False)
    assert len(data) == 23 and data.info["missing_images"] == 1
    assert "bag_Africa_0.jpg" in capsys.readouterr().out  # an absent image is reported, never silently dropped
    assert any("1 referenced image(s) absent" in p for p in check_dataset("geode", root))


# -- FGVC-Aircraft -------------------------------------------------------------------------------------------------
def _lines(split, level):
    path = AIRCRAFT / "fgvc-aircraft-2013b" / "data" / f"images_{level}_{split}.txt"
    return [line.split(" ", 1) for line in path.read_text().splitlines()]


def test_aircraft_variants_and_manufacturers_with_the_release_split():
    data = load_aircraft(root=AIRCRAFT, verbose=False)  # the archive extracted in place: fgvc-aircraft-2013b/data
    assert len(data) == 18 and data.info["banner_pixels"] == 20
    assert data.class_names == ("737-700", "747-400", "A320") and data.group_names == ("Airbus", "Boeing")
    assert data.sensitive_name == "manufacturer"
    assert list(data.info["split"]) == ["train"] * 6 + ["val"] * 6 + ["test"] * 6
    k = 0
    for split in ("train", "val", "test"):  # by hand from the release's files, in file order
        makers = dict(_lines(split, "manufacturer"))
        for name, variant in _lines(split, "variant"):
            assert Path(data.x[k]).name == f"{name}.jpg" and Path(data.x[k]).is_file()
            assert data.class_names[data.y[k]] == variant and data.group_names[data.s[k]] == makers[name]
            k += 1
    family = load_aircraft(root=AIRCRAFT / "fgvc-aircraft-2013b", label="family", verbose=False)
    assert family.class_names == ("A320", "Boeing 737", "Boeing 747")
    assert check_dataset("aircraft", AIRCRAFT) == []  # every image decodes


def test_aircraft_fails_fast_and_clearly(tmp_path):
    with pytest.raises(MissingDataError, match="fgvc-aircraft-2013b.tar.gz"):
        load_aircraft(root=tmp_path / "nowhere", verbose=False)
    with pytest.raises(ValueError, match="valid choices"):
        load_aircraft(root=AIRCRAFT, label="model", verbose=False)
    with pytest.raises(ValueError, match="different levels"):
        load_aircraft(root=AIRCRAFT, label="family", group="family", verbose=False)
    root = _copy(AIRCRAFT, tmp_path)
    data = root / "fgvc-aircraft-2013b" / "data"
    (data / "images_manufacturer_val.txt").unlink()
    with pytest.raises(MissingDataError, match="images_manufacturer_val.txt"):
        locate_dataset("aircraft", root)
    (data / "images_manufacturer_val.txt").write_text("1000006 Boeing\n1000007 Boeing\n")
    with pytest.raises(DataFormatError, match="lists other images than images_variant_val.txt"):
        load_aircraft(root=root, verbose=False)
    lines = (data / "images_variant_test.txt").read_text().splitlines()
    lines[2] = "12345 A320"
    (data / "images_variant_test.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFormatError, match=r"images_variant_test.txt, line 3"):
        load_aircraft(root=root, group="family", verbose=False)


# -- the full profile plans them -----------------------------------------------------------------------------------
def test_full_profile_dry_run_lists_geode_and_aircraft(tmp_path, monkeypatch):
    from fairlib import paths
    from fairlib._plan import format_plan, missing_reason

    full = get_profile("full")
    needs = {r.name: r for r in full.fairlora.requirements(full) if r.kind == "dataset"}
    assert {"waterbirds", "geode", "aircraft"} <= set(needs)
    assert needs["geode"].location == str(paths.DATA / "geode")
    assert "fgvc-aircraft-2013b" in needs["aircraft"].how_to_get
    from fairlib._plan import Requirement

    ok = Requirement("dataset", "aircraft", str(AIRCRAFT))
    missing = Requirement("dataset", "geode", str(tmp_path / "geode"), needs["geode"].how_to_get)
    assert missing_reason(ok) is None and "geode" in missing_reason(missing)
    text, n_missing = format_plan({"02": [ok, missing]}, {})
    assert n_missing == 1 and "[MISSING] dataset    geode" in text and "geodiverse" in text
    # the smoke profile (the stand-in) needs none of them
    smoke = get_profile("smoke")
    assert [r for r in smoke.fairlora.requirements(smoke) if r.kind == "dataset"] == []
    # one dataset per execution: the grid runs GeoDE when asked to
    geode = get_profile("full", fairlora=dict(dataset="geode"))
    assert {r.name for r in geode.fairlora.requirements(geode) if r.kind == "dataset"} == \
        {"geode", "aircraft"}
    assert all(spec.param("data") == {"dataset": "geode"} for spec in
               __import__("fairlib.experiments.fairlora", fromlist=["jobs"]).jobs(geode))


def test_fairlora_data_on_the_aircraft_fixture(monkeypatch):
    from fairlib import paths
    from fairlib.experiments import fairlora as fx

    monkeypatch.setattr(paths, "DATA", FIXTURES)
    splits = fx.load_fairlora_data(get_profile("full", fairlora=dict(dataset="aircraft")).fairlora, verbose=False)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (6, 6, 6)
    assert splits.train.group_names == ("Airbus", "Boeing")
    assert np.bincount(splits.test.y).tolist() == [2, 2, 2]
