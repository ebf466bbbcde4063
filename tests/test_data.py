import numpy as np
import pytest

from fairlib.data import (ADULT_COLUMNS, DataFormatError, GroupedDataset, MissingDataError, adult_files,
                          load_adult, make_splits, read_idx, standardize)

ROW = "39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, White, Male, 2174, 0, 40, United-States, <=50K"
ROW_F = "50, Private, 83311, Bachelors, 13, Married-civ-spouse, Exec-managerial, Wife, Black, Female, 0, 0, 13, United-States, >50K"
MISSING = "38, ?, 215646, HS-grad, 9, Divorced, ?, Not-in-family, White, Male, 0, 0, 40, United-States, <=50K"


def write_adult(folder, train_lines, test_lines):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adult.data").write_text("\n".join(train_lines) + "\n\n")
    (folder / "adult.test").write_text("|1x3 Cross validator\n" + "\n".join(test_lines) + "\n")
    return folder


def test_shipped_adult_has_the_known_size_and_encoding():
    data = load_adult(verbose=False)
    # 30,162 + 15,060 complete rows in the original release; 3,620 rows have a '?'.
    assert len(data) == 45_222 and data.info["rows_dropped_missing"] == 3_620
    assert data.x.shape == (45_222, 34)
    assert data.group_names == ("Female", "Male")
    assert data.group_counts() == {"Female": 14_695, "Male": 30_527}
    assert data.y.mean() == pytest.approx(11_208 / 45_222)


def test_user_files_parsed_with_test_quirks(tmp_path, capsys):
    folder = write_adult(tmp_path / "adult", [ROW, MISSING], [ROW_F + "."])
    data = load_adult(root=folder, sensitive="race")
    assert len(data) == 2 and data.y.tolist() == [0, 1]
    assert [data.group_names[s] for s in data.s] == ["White", "Black"]
    assert data.info["missing_by_column"] == {"workclass": 1, "occupation": 1}
    assert "1 dropped for missing values" in capsys.readouterr().out
    # numeric columns keep their raw values; one-hot blocks have exactly one 1 each
    age = data.feature_names.index("age")
    assert data.x[:, age].tolist() == [39.0, 50.0]
    assert data.x[:, 6:].sum(axis=1).tolist() == [5.0, 5.0]
    assert data.info["from_test_file"].tolist() == [False, True]


def test_user_directory_preferred_over_shipped_copy(tmp_path):
    folder = write_adult(tmp_path / "adult", [ROW], [ROW_F + "."])
    assert adult_files(folder)[2].startswith("user data directory")


@pytest.mark.parametrize("line, message", [
    (ROW.rsplit(",", 1)[0], "found 14 fields"),
    (ROW.replace("39,", "thirty-nine,"), "age = 'thirty-nine' is not an integer"),
    (ROW.replace("<=50K", "maybe"), "income label 'maybe'"),
    (ROW.replace("State-gov", "Space-agency"), "workclass = 'Space-agency'"),
])
def test_bad_rows_name_file_and_line(tmp_path, line, message):
    folder = write_adult(tmp_path / "adult", [ROW, line], [ROW_F + "."])
    with pytest.raises(DataFormatError) as error:
        load_adult(root=folder, verbose=False)
    text = str(error.value)
    assert "adult.data, line 2" in text and message in text and "Expected format" in text


def test_missing_file_and_unknown_attribute(tmp_path):
    with pytest.raises(MissingDataError, match="Where to put it"):
        load_adult(root=tmp_path / "nowhere", verbose=False)
    with pytest.raises(ValueError, match=r"\('sex', 'race'\)"):
        load_adult(sensitive="religion", verbose=False)
    assert len(ADULT_COLUMNS) == 15


def toy(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return GroupedDataset(name="toy", x=rng.normal(size=(n, 3)).astype(np.float32), y=rng.integers(0, 2, n),
                          s=rng.integers(0, 3, n), group_names=("a", "b", "c"), class_names=("0", "1"),
                          sensitive_name="g")


def test_splits_partition_are_seeded_and_stratified():
    data = toy()
    one, two, other = make_splits(data, seed=3), make_splits(data, seed=3), make_splits(data, seed=4)
    assert np.array_equal(one.train.x, two.train.x) and not np.array_equal(one.train.x, other.train.x)
    rows = np.concatenate([one.train.x, one.val.x, one.test.x])
    assert len(rows) == len(data) and len(np.unique(rows, axis=0)) == len(data)
    for part, frac in ((one.train, 0.6), (one.test, 0.2)):
        for cell in range(6):
            want = np.sum(data.y * 3 + data.s == cell) * frac
            assert abs(np.sum(part.y * 3 + part.s == cell) - want) <= 1.0


def test_standardize_uses_train_statistics_only():
    splits = standardize(make_splits(toy(), seed=0))
    assert np.allclose(splits.train.x.mean(0), 0, atol=1e-6) and np.allclose(splits.train.x.std(0), 1, atol=1e-5)
    assert not np.allclose(splits.test.x.mean(0), 0, atol=1e-3)


def test_dataset_rejects_inconsistent_codes():
    with pytest.raises(ValueError, match="codes in s"):
        GroupedDataset(name="bad", x=np.zeros((2, 1)), y=[0, 1], s=[0, 2], group_names=("a", "b"),
                       class_names=("0", "1"), sensitive_name="g")


def test_read_idx_round_trip_and_corruption(tmp_path):
    import gzip
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    header = bytes([0, 0, 8, 3]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    (tmp_path / "ok.gz").write_bytes(gzip.compress(header + arr.tobytes()))
    assert np.array_equal(read_idx(tmp_path / "ok.gz"), arr)
    (tmp_path / "short").write_bytes(header + arr.tobytes()[:-1])
    with pytest.raises(DataFormatError, match="declares shape"):
        read_idx(tmp_path / "short")


def test_subset_keeps_per_example_provenance_aligned():
    data = load_adult(verbose=False)
    index = np.array([0, 45_000, 3])
    part = data.subset(index)
    assert part.info["from_test_file"].tolist() == data.info["from_test_file"][index].tolist() == [False, True, False]
    assert part.info["rows_kept"] == data.info["rows_kept"]
