"""Fashion-MNIST's IDX files are decompressed once per process: same arrays, no shared mutable state, and a
file replaced on disk is read again."""

import gzip
import os

import numpy as np
import pytest

from fairlib.data import _fashion


def _write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def folder(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (_fashion.PRETRAIN_SIZE + 3, 2, 2))
    test = rng.integers(0, 256, (4, 2, 2))
    for (images, labels), data in zip(_fashion._FILES.values(), (train, test)):
        _write_idx(tmp_path / images, data)
        _write_idx(tmp_path / labels, np.arange(len(data)) % 10)
    monkeypatch.setattr(_fashion, "fashion_mnist_dir", lambda: tmp_path)
    return tmp_path, train, test


def test_a_second_load_gives_the_same_arrays_and_callers_cannot_alter_the_cache(folder):
    tmp_path, train, test = folder
    x, y = _fashion.load_fashion_mnist("downstream")
    np.testing.assert_array_equal(x, np.concatenate([train[_fashion.PRETRAIN_SIZE:], test]))
    x[:] = 0  # the caller's own copy
    again, _ = _fashion.load_fashion_mnist("downstream")
    np.testing.assert_array_equal(again, np.concatenate([train[_fashion.PRETRAIN_SIZE:], test]))
    pretrain, _ = _fashion.load_fashion_mnist("pretrain")
    assert not pretrain.flags.writeable  # a view of the cached file, as read_idx's own arrays always were
    with pytest.raises(ValueError):
        pretrain[0, 0, 0] = 1


def test_a_file_replaced_on_disk_is_read_again(folder):
    tmp_path, train, test = folder
    _fashion.load_fashion_mnist("downstream")
    images = tmp_path / _fashion._FILES["test"][0]
    _write_idx(images, np.full((4, 2, 2), 7))
    stat = images.stat()
    os.utime(images, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a later time, whatever the clock's grain
    x, _ = _fashion.load_fashion_mnist("downstream")
    assert (x[-4:] == 7).all()
