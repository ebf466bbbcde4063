"""Loaders of the papers' real datasets, on tiny fixtures written in the real formats (tests/fixtures_full.py)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fairlib.data import (DataFormatError, ImageFileDataset, MissingDataError, UTK_AGE_CLASSES, UTK_RACES,
                          image_loader, load_celeba, load_lfwa, load_measuring_hate_speech, load_utkface,
                          load_waterbirds, make_image_processor, make_splits, verify_images)
from tests.fixtures_full import (CELEBA_ATTRIBUTES, RELIGIONS, write_celeba, write_hate_speech, write_image,
                                 write_lfwa, write_utkface, write_waterbirds)


# ---------------------------------------------------------------------------------------------- missing data

@pytest.mark.parametrize("load, url", [
    (load_utkface, "susanqq.github.io/UTKFace"),
    (load_celeba, "mmlab.ie.cuhk.edu.hk/projects/CelebA"),
    (load_lfwa, "vis-www.cs.umass.edu/lfw"),
    (load_measuring_hate_speech, "huggingface.co/datasets/ucberkeley-dlab/measuring-hate-speech"),
    (load_waterbirds, "nlp.stanford.edu/data/dro"),
])
def test_missing_directory_says_where_to_get_and_put_it(tmp_path, load, url):
    folder = tmp_path / "nowhere"
    with pytest.raises(MissingDataError) as error:
        load(root=folder)
    text = str(error.value)
    assert "Where to get it" in text and url in text
    assert "Where to put it" in text and str(folder) in text


def test_default_root_is_under_the_data_directory(monkeypatch, tmp_path):
    from fairlib import paths
    monkeypatch.setattr(paths, "DATA", tmp_path)
    with pytest.raises(MissingDataError, match=str(tmp_path / "celeba")):
        load_celeba()
    write_waterbirds(tmp_path / "waterbirds", [(0, 0, 0)])
    assert len(load_waterbirds(verbose=False)) == 1


# ---------------------------------------------------------------------------------------------- UTK-Face

UTK_LABELS = [(0, 0, 0), (9, 1, 1), (10, 0, 2), (25, 1, 3), (79, 0, 4), (80, 1, 0), (116, 0, 1)]
UTK_MALFORMED = ("39_1_20170116174525125.jpg.chip.jpg",  # race missing, as in the real release
                 "61_3_1_20170109150557335.jpg.chip.jpg",  # gender 3
                 "holiday.jpg")


def test_utkface_labels_groups_and_age_bins_from_file_names(tmp_path, capsys):
    names = write_utkface(tmp_path / "utk", UTK_LABELS, malformed=UTK_MALFORMED)
    (tmp_path / "utk" / "UTKFace" / "README.txt").write_text("not an image, ignored")
    data = load_utkface(root=tmp_path / "utk", target="age")
    order = np.argsort(names)  # the loader sorts by file name
    ages = np.array([a for a, _, _ in UTK_LABELS])[order]
    assert data.info["age"].tolist() == ages.tolist()
    # edges 0,10,...,80,200: 0 and 9 -> 0-9, 10 -> 10-19, 25 -> 20-29, 79 -> 70-79, 80 and 116 -> 80+
    expected_bins = {0: 0, 9: 0, 10: 1, 25: 2, 79: 7, 80: 8, 116: 8}
    assert data.y.tolist() == [expected_bins[a] for a in ages]
    assert data.class_names == UTK_AGE_CLASSES and len(UTK_AGE_CLASSES) == 9
    assert data.s.tolist() == [UTK_LABELS[i][2] for i in order]
    assert data.group_names == UTK_RACES == ("White", "Black", "Asian", "Indian", "Others")
    assert [Path(p).name for p in data.x] == sorted(names)
    assert all(Path(p).is_file() for p in data.x)
    # malformed names are counted, listed and printed, never fatal
    assert data.info["malformed_names"] == 3
    assert set(data.info["malformed_name_examples"]) == set(UTK_MALFORMED)
    out = capsys.readouterr().out
    assert "3 file name(s)" in out and UTK_MALFORMED[0] in out
    assert "split" not in data.info  # UTK-Face defines none; make_splits draws one from a seed
    assert len(make_splits(data, seed=0, stratify=False).test) > 0


def test_utkface_gender_target(tmp_path):
    write_utkface(tmp_path / "utk", UTK_LABELS)
    data = load_utkface(root=tmp_path / "utk", verbose=False)
    ages = data.info["age"].tolist()
    by_age = {a: (g, r) for a, g, r in UTK_LABELS}
    assert data.y.tolist() == [by_age[a][0] for a in ages]
    assert data.class_names == ("male", "female")
    with pytest.raises(ValueError, match="choose one of"):
        load_utkface(root=tmp_path / "utk", target="smile")
    with pytest.raises(ValueError, match="both"):
        load_utkface(root=tmp_path / "utk", target="race", sensitive="race")


def test_utkface_without_any_well_formed_name_is_a_format_error(tmp_path):
    write_utkface(tmp_path / "utk", [], malformed=("a.jpg", "b_c.jpg.chip.jpg"))
    with pytest.raises(DataFormatError, match="<age>_<gender>_<race>"):
        load_utkface(root=tmp_path / "utk", verbose=False)


def test_unreadable_image_counted_with_its_name_when_verifying(tmp_path, capsys):
    write_utkface(tmp_path / "utk", UTK_LABELS[:3])
    broken = tmp_path / "utk" / "UTKFace" / "30_0_0_20170101000000000.jpg.chip.jpg"
    broken.write_bytes(b"this is not a jpeg")
    assert len(load_utkface(root=tmp_path / "utk", verbose=False)) == 4  # listing does not decode
    data = load_utkface(root=tmp_path / "utk", verify=True, verbose=False)
    assert len(data) == 3 and data.info["unreadable_images"] == 1
    assert broken.name in data.info["unreadable_image_examples"][0]
    assert broken.name in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------- CelebA

CELEBA_ROWS = [("000001.jpg", {"Smiling": 1, "Male": 1}, 0), ("000002.jpg", {"Wavy_Hair": 1}, 0),
               ("000003.jpg", {"Smiling": 1, "Wavy_Hair": 1}, 1), ("000004.jpg", {"Male": 1, "Bald": 1}, 2),
               ("000005.jpg", {"Smiling": 1}, 2)]


def test_celeba_attributes_and_official_split(tmp_path):
    write_celeba(tmp_path / "celeba", CELEBA_ROWS)
    data = load_celeba(root=tmp_path / "celeba", verbose=False)
    assert [Path(p).name for p in data.x] == [r[0] for r in CELEBA_ROWS]
    assert data.y.tolist() == [1, 0, 1, 0, 1] and data.s.tolist() == [1, 0, 0, 1, 0]
    assert data.group_names == ("Female", "Male") and data.class_names == ("not Smiling", "Smiling")
    assert data.info["split"].tolist() == ["train", "train", "val", "test", "test"]
    assert data.info["attribute_names"] == tuple(CELEBA_ATTRIBUTES)
    assert data.info["attributes"][:, CELEBA_ATTRIBUTES.index("Bald")].tolist() == [0, 0, 0, 1, 0]
    # any attribute, spelled as in the papers ("WavyHair"), as target or sensitive
    wavy = load_celeba(root=tmp_path / "celeba", target="WavyHair", verbose=False)
    assert wavy.y.tolist() == [0, 1, 1, 0, 0] and wavy.class_names == ("not Wavy_Hair", "Wavy_Hair")
    by_smile = load_celeba(root=tmp_path / "celeba", target="Bald", sensitive="Smiling", verbose=False)
    assert by_smile.s.tolist() == [1, 0, 1, 0, 1] and by_smile.sensitive_name == "Smiling"
    test = load_celeba(root=tmp_path / "celeba", split="test", verbose=False)
    assert [Path(p).name for p in test.x] == ["000004.jpg", "000005.jpg"]
    assert test.info["split"].tolist() == ["test", "test"]


def test_celeba_unknown_attribute_lists_the_valid_names(tmp_path):
    write_celeba(tmp_path / "celeba", CELEBA_ROWS)
    with pytest.raises(ValueError) as error:
        load_celeba(root=tmp_path / "celeba", target="Beard", verbose=False)
    assert "'Beard' is not a CelebA attribute" in str(error.value)
    assert all(name in str(error.value) for name in CELEBA_ATTRIBUTES)


@pytest.mark.parametrize("bad_line, message, line", [
    ("000006.jpg " + " ".join(["1"] * 39), "found 40 fields", 8),
    ("000006.jpg " + " ".join(["1"] * 39 + ["0"]), "value '0' is not -1 or 1", 8),
])
def test_celeba_bad_line_names_file_and_line(tmp_path, bad_line, message, line):
    write_celeba(tmp_path / "celeba", CELEBA_ROWS, attr_lines=[bad_line])
    with pytest.raises(DataFormatError) as error:
        load_celeba(root=tmp_path / "celeba", verbose=False)
    text = str(error.value)
    assert f"list_attr_celeba.txt, line {line}" in text and message in text and "Expected format" in text


def test_celeba_missing_part_and_missing_images(tmp_path, capsys):
    root = write_celeba(tmp_path / "celeba", CELEBA_ROWS, absent=("000002.jpg",))
    data = load_celeba(root=root, verbose=False)
    assert len(data) == 4 and data.info["missing_images"] == 1
    assert data.info["missing_image_examples"][0].endswith("000002.jpg")
    assert "000002.jpg" in capsys.readouterr().out
    (root / "list_eval_partition.txt").unlink()
    with pytest.raises(MissingDataError, match="list_eval_partition.txt"):
        load_celeba(root=root, verbose=False)


# ---------------------------------------------------------------------------------------------- LFW+a

def _lfw_rows() -> list:
    rows = [("Aaron Eckhart", 1, {"Male": 1.57, "Heavy Makeup": -0.4}),
            ("Jennifer Lopez", 1, {"Male": -2.1, "Heavy Makeup": 0.8}),
            ("Jennifer Lopez", 2, {"Male": -0.01, "Heavy Makeup": 0.0}),  # 0.0 is not > 0
            ("Sam Zero", 3, {"Male": 0.0, "Heavy Makeup": 0.001})]
    rng = np.random.default_rng(1)
    for k in range(16):  # more people, one to three images each, so the split has something to do
        for n in range(1, 2 + k % 3):
            rows.append((f"Person Number{k}", n, {"Male": float(rng.normal()), "Heavy Makeup": float(rng.normal())}))
    return rows


def test_lfwa_binarised_attributes_and_paths(tmp_path):
    rows = _lfw_rows()
    write_lfwa(tmp_path / "lfwa", rows)
    data = load_lfwa(root=tmp_path / "lfwa", verbose=False)
    assert len(data) == len(rows)
    assert Path(data.x[1]) == tmp_path / "lfwa" / "lfw" / "Jennifer_Lopez" / "Jennifer_Lopez_0001.jpg"
    assert data.y[:4].tolist() == [1, 0, 0, 0]
    assert data.s[:4].tolist() == [0, 1, 0, 1]
    assert data.y.tolist() == [int(r[2]["Male"] > 0) for r in rows]
    assert data.group_names == ("not Heavy Makeup", "Heavy Makeup") and data.class_names == ("Female", "Male")
    assert len(data.info["attribute_names"]) == 73
    assert data.info["attribute_scores"][0, 0] == pytest.approx(1.57)


def test_lfwa_split_is_person_disjoint_and_seeded(tmp_path):
    write_lfwa(tmp_path / "lfwa", _lfw_rows())
    data = load_lfwa(root=tmp_path / "lfwa", split_fractions=(0.5, 0.2, 0.3), verbose=False)
    split, person = data.info["split"], data.info["person"]
    for name in set(person):
        assert len(set(split[person == name])) == 1, name
    assert set(split) == {"train", "val", "test"}
    # the shares are met up to one person's images (at most 3 here)
    n = len(data)
    assert abs((split == "train").sum() - 0.5 * n) <= 3 and abs((split == "val").sum() - 0.2 * n) <= 3
    again = load_lfwa(root=tmp_path / "lfwa", split_fractions=(0.5, 0.2, 0.3), verbose=False)
    assert again.info["split"].tolist() == split.tolist()
    others = [load_lfwa(root=tmp_path / "lfwa", split_fractions=(0.5, 0.2, 0.3), split_seed=s, verbose=False)
              for s in (1, 2, 3)]
    assert any(o.info["split"].tolist() != split.tolist() for o in others)


def test_lfwa_errors(tmp_path, capsys):
    rows = _lfw_rows()
    write_lfwa(tmp_path / "lfwa", rows, absent=(("Sam Zero", 3),))
    data = load_lfwa(root=tmp_path / "lfwa", verbose=False)
    assert len(data) == len(rows) - 1 and data.info["missing_images"] == 1
    assert "Sam_Zero_0003.jpg" in capsys.readouterr().out
    with pytest.raises(ValueError) as error:
        load_lfwa(root=tmp_path / "lfwa", sensitive="Lipstick", verbose=False)
    assert "Wearing Lipstick" in str(error.value) and "Heavy Makeup" in str(error.value)
    table = tmp_path / "lfwa" / "lfw_attributes.txt"
    lines = table.read_text().splitlines()
    table.write_text("\n".join(lines[:4] + ["Broken Line\t1\t0.5"] + lines[4:]) + "\n")
    with pytest.raises(DataFormatError, match="lfw_attributes.txt, line 5"):
        load_lfwa(root=tmp_path / "lfwa", verbose=False)
    table.write_text("\n".join(lines[2:]) + "\n")  # no header
    with pytest.raises(DataFormatError, match="header"):
        load_lfwa(root=tmp_path / "lfwa", verbose=False)


# ---------------------------------------------------------------------------------------------- Waterbirds

WATERBIRD_ROWS = [(0, 0, 0), (1, 1, 0), (1, 0, 1), (0, 1, 2), (1, 1, 2)]


def test_waterbirds_labels_places_splits(tmp_path):
    files = write_waterbirds(tmp_path / "wb", WATERBIRD_ROWS)
    data = load_waterbirds(root=tmp_path / "wb", verbose=False)
    assert [Path(p).relative_to(tmp_path / "wb").as_posix() for p in data.x] == files
    assert data.y.tolist() == [r[0] for r in WATERBIRD_ROWS]
    assert data.s.tolist() == [r[1] for r in WATERBIRD_ROWS]
    assert data.info["split"].tolist() == ["train", "train", "val", "test", "test"]
    assert data.class_names == ("landbird", "waterbird") and data.group_names == ("land", "water")


def test_waterbirds_release_folder_missing_images_and_column(tmp_path, capsys):
    root = tmp_path / "wb"
    write_waterbirds(root / "waterbird_complete95_forest2water2", WATERBIRD_ROWS, absent=(2,))
    data = load_waterbirds(root=root, verbose=False)
    assert len(data) == 4 and data.info["missing_images"] == 1
    assert "Black_Footed_Albatross" not in data.info["missing_image_examples"][0]  # row 2 is a waterbird
    assert "1 referenced image(s) not found" in capsys.readouterr().out
    write_waterbirds(tmp_path / "wb2", WATERBIRD_ROWS, drop_column="place")
    with pytest.raises(DataFormatError) as error:
        load_waterbirds(root=tmp_path / "wb2", verbose=False)
    assert "missing column(s) ['place']" in str(error.value)
    assert "['img_filename', 'y', 'place', 'split']" in str(error.value)


# ---------------------------------------------------------------------------------------------- hate speech

@pytest.mark.parametrize("bool_style", ["bool", "int"])
def test_hate_speech_dedup_label_and_one_subgroup_filter(tmp_path, capsys, bool_style):
    write_hate_speech(tmp_path / "mhs", bool_style=bool_style)
    data = load_measuring_hate_speech(root=tmp_path / "mhs", min_group_size=1)
    assert data.x == ["a", "b", "c", "f", "g"]  # first-appearance order; d (2 subgroups) and e (none) dropped
    assert data.group_names == RELIGIONS == ("christian", "jewish", "muslim")
    assert [data.group_names[s] for s in data.s] == ["muslim", "jewish", "muslim", "muslim", "christian"]
    # "a" averages 0.9 and 0.3 -> 0.6 > 0.5; "c" is exactly 0.5, which is not hate speech
    assert data.info["score"].tolist() == pytest.approx([0.6, 0.2, 0.5, 1.1, 2.0])
    assert data.y.tolist() == [1, 0, 0, 1, 1]
    assert data.info["annotations"].tolist() == [2, 1, 1, 3, 1]
    assert data.info["rows_read"] == 11 and data.info["texts"] == 7
    assert data.info["dropped_no_subgroup"] == 1 and data.info["dropped_several_subgroups"] == 1
    out = capsys.readouterr().out
    assert "dropped 1 targeting no subgroup, 1 targeting several" in out


def test_hate_speech_min_group_size_and_agreement(tmp_path):
    write_hate_speech(tmp_path / "mhs")
    data = load_measuring_hate_speech(root=tmp_path / "mhs", min_group_size=2, verbose=False)
    assert data.group_names == ("muslim",) and data.x == ["a", "c", "f"]
    assert data.info["dropped_small_groups"] == {"christian": 1, "jewish": 1}
    # requiring every annotator to agree: "d" now targets nobody instead of two subgroups
    strict = load_measuring_hate_speech(root=tmp_path / "mhs", min_group_size=1, min_target_agreement=1.0,
                                        verbose=False)
    assert strict.info["dropped_several_subgroups"] == 0 and strict.info["dropped_no_subgroup"] == 2
    race = load_measuring_hate_speech(root=tmp_path / "mhs", target_attribute="race", min_group_size=1,
                                      verbose=False)
    assert race.x == ["e"] and race.group_names == ("black",)


def test_hate_speech_missing_columns(tmp_path):
    write_hate_speech(tmp_path / "mhs", drop_column="hate_speech_score")
    with pytest.raises(DataFormatError) as error:
        load_measuring_hate_speech(root=tmp_path / "mhs", verbose=False)
    text = str(error.value)
    assert "missing column 'hate_speech_score'" in text and "text, hate_speech_score" in text
    write_hate_speech(tmp_path / "mhs2")
    with pytest.raises(DataFormatError) as error:
        load_measuring_hate_speech(root=tmp_path / "mhs2", target_attribute="gender", verbose=False)
    assert "target_gender_<subgroup>" in str(error.value) and "['race', 'religion']" in str(error.value)


def test_hate_speech_parquet(tmp_path):
    import pandas as pd
    write_hate_speech(tmp_path / "csv")
    table = pd.read_csv(tmp_path / "csv" / "measuring-hate-speech.csv")
    (tmp_path / "pq").mkdir()
    try:
        table.to_parquet(tmp_path / "pq" / "measuring-hate-speech.parquet")
    except ImportError:
        # No parquet engine: a parquet file without a CSV beside it gives an actionable message.
        (tmp_path / "pq" / "measuring-hate-speech.parquet").write_bytes(b"PAR1")
        with pytest.raises(ImportError, match="pyarrow"):
            load_measuring_hate_speech(root=tmp_path / "pq", verbose=False)
        return
    data = load_measuring_hate_speech(root=tmp_path / "pq", min_group_size=1, verbose=False)
    assert data.x == ["a", "b", "c", "f", "g"] and data.y.tolist() == [1, 0, 0, 1, 1]


# ---------------------------------------------------------------------------------------------- image pipeline

MEAN, STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.5)


@pytest.fixture(scope="module")
def processor():
    return make_image_processor(size=6, image_mean=MEAN, image_std=STD)


def _by_hand(path: Path, *, mirror: bool = False) -> np.ndarray:
    pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
    if mirror:
        pixels = pixels[:, ::-1]
    return ((pixels / 255 - np.array(MEAN)) / np.array(STD)).transpose(2, 0, 1)


def test_image_dataset_shape_and_normalisation(tmp_path, processor):
    png = write_image(tmp_path / "a.png", size=(6, 6))  # already at the output size: resizing is the identity
    gray = write_image(tmp_path / "g.png", size=(6, 6), mode="L")
    large = write_image(tmp_path / "b.jpg", size=(20, 13))
    data = ImageFileDataset([png, gray, large], processor=processor, train=False, seed=0)
    item = data[0]
    assert set(item) == {"pixel_values", "index"}
    assert item["pixel_values"].shape == (3, 6, 6) and item["pixel_values"].dtype == torch.float32
    np.testing.assert_allclose(item["pixel_values"].numpy(), _by_hand(png), atol=1e-5)
    # a grayscale file becomes three equal channels before normalisation
    np.testing.assert_allclose(data[1]["pixel_values"].numpy(), _by_hand(gray), atol=1e-5)
    assert data[2]["pixel_values"].shape == (3, 6, 6)


def test_image_dataset_seeded_flips(tmp_path, processor):
    files = [write_image(tmp_path / f"{i}.png", seed=i, size=(6, 6)) for i in range(24)]
    data = ImageFileDataset(files, processor=processor, train=True, seed=5, y=np.arange(24) % 2,
                            s=np.zeros(24, int), input_key="x")
    flips = [data.flipped(i) for i in range(24)]
    assert 0 < sum(flips) < 24
    i = flips.index(True)
    item = data[i]
    assert set(item) == {"x", "index", "y", "s"} and item["y"].item() == i % 2
    np.testing.assert_allclose(item["x"].numpy(), _by_hand(files[i], mirror=True), atol=1e-5)
    data.set_epoch(1)
    assert [data.flipped(i) for i in range(24)] != flips  # a new epoch draws new flips
    data.set_epoch(0)
    assert [data.flipped(i) for i in range(24)] == flips  # ... reproducibly
    evaluation = ImageFileDataset(files, processor=processor, train=False, seed=5)
    assert not any(evaluation.flipped(i) for i in range(24))


def test_unreadable_image_named_in_error_and_found_by_verify(tmp_path, processor):
    good = write_image(tmp_path / "good.jpg")
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"\xff\xd8 not really a jpeg")
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(write_image(tmp_path / "big.jpg", size=(64, 64)).read_bytes()[:400])
    data = ImageFileDataset([good, garbage, truncated, tmp_path / "absent.jpg"], processor=processor, train=False,
                            seed=0)
    for i, name in ((1, "garbage.jpg"), (2, "truncated.jpg"), (3, "absent.jpg")):
        with pytest.raises(DataFormatError, match=name):
            data[i]
    ok, bad = verify_images([good, garbage, truncated, tmp_path / "absent.jpg"])
    assert ok.tolist() == [True, False, False, False]
    assert [Path(p).name for p, _ in bad] == ["garbage.jpg", "truncated.jpg", "absent.jpg"]


def test_image_loader_workers_match_main_process(tmp_path, processor):
    files = [write_image(tmp_path / f"{i}.png", seed=i, size=(6, 6)) for i in range(8)]
    data = ImageFileDataset(files, processor=processor, train=True, seed=3)

    def passes(num_workers: int) -> list[torch.Tensor]:
        loader = image_loader(data, batch_size=3, num_workers=num_workers, shuffle=True, seed=11)
        return [torch.cat([b["pixel_values"] for b in loader]) for _ in range(2)]

    in_process, workers = passes(0), passes(2)
    for a, b in zip(in_process, workers):
        torch.testing.assert_close(a, b)
    assert not torch.equal(in_process[0], in_process[1])  # new order and flips in the second epoch
    loader = image_loader(data, batch_size=3, num_workers=0, shuffle=False, seed=0)
    first = next(iter(loader))
    assert first["pixel_values"].shape == (3, 3, 6, 6) and first["index"].tolist() == [0, 1, 2]
