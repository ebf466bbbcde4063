import numpy as np
import pytest

from fairlib.data import APPEARANCES, celeba_like, fashion_standin, utk_like, waterbirds_like


def fake_pool(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n)


def test_appearance_changes_are_the_documented_ones():
    rng = np.random.default_rng(0)
    img = np.arange(784, dtype=np.int64).reshape(1, 28, 28) % 256
    img = img.astype(np.uint8)
    assert np.array_equal(APPEARANCES["inverted"](img, rng), 255 - img)
    assert np.array_equal(APPEARANCES["upside-down"](img, rng), img[:, ::-1, ::-1])


def test_group_given_label_is_respected_and_images_transformed():
    images, labels = fake_pool(4000)
    table = np.array([[0.9, 0.1], [0.2, 0.8]])
    data = fashion_standin(task="upper-body", appearances=("original", "inverted"), group_given_label=table,
                           n=4000, seed=0, name="t", images=(images, labels))
    for c in (0, 1):
        assert abs(data.s[data.y == c].mean() - table[c, 1]) < 0.03
    raw = images[data.info["source_index"]].astype(np.float32) / 127.5 - 1
    inv = data.s == 1
    assert np.allclose(data.x[~inv, 0], raw[~inv]) and np.allclose(data.x[inv, 0], -raw[inv], atol=1e-5)


def test_bad_arguments_list_choices():
    images, labels = fake_pool()
    with pytest.raises(ValueError, match="valid choices"):
        fashion_standin(task="hats", appearances=("original",), group_given_label=[[1.0]], n=5, seed=0,
                        name="t", images=(images, labels))
    with pytest.raises(ValueError, match="rows summing to 1"):
        fashion_standin(task="upper-body", appearances=("original", "noisy"), group_given_label=[[0.5, 0.4]] * 2,
                        n=5, seed=0, name="t", images=(images, labels))


def test_presets_have_the_intended_structure():
    utk = utk_like(n=2000, seed=0)
    shares = np.bincount(utk.s) / len(utk)
    assert np.all(np.diff(shares) < 0.02) and shares[0] > 0.4 and shares[-1] < 0.1 and "stand-in" in utk.name
    celeba = celeba_like(n=2000, seed=0, correlation=0.8)
    assert abs(celeba.s[celeba.y == 1].mean() - 0.8) < 0.04
    water = waterbirds_like(n_train=1000, n_eval=400, seed=0)
    agree = lambda part: (part.y == part.s).mean()
    assert agree(water.train) > 0.92 and abs(agree(water.test) - 0.5) < 0.08
    assert not set(water.train.info["source_index"]) & set(water.test.info["source_index"])
