"""Fashion-MNIST from its original IDX files (shipped by Debian's ``dataset-fashion-mnist`` package)."""

from __future__ import annotations

import functools
import gzip
from pathlib import Path

import numpy as np

from .. import paths
from ._errors import DataFormatError, MissingDataError

__all__ = ["read_idx", "load_fashion_mnist", "FASHION_CLASSES", "fashion_mnist_dir", "PRETRAIN_SIZE"]

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
#: The first PRETRAIN_SIZE training images pre-train the stand-in backbone; every downstream stand-in task
#: draws from the remaining 10,000 training images and the 10,000 test images, so no task reuses an image
#: the backbone saw.
PRETRAIN_SIZE = 50_000
_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
          "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def fashion_mnist_dir() -> Path:
    """``DATA/fashion-mnist`` if it holds the IDX files, else Debian's ``/usr/share/datasets/fashion-mnist``."""
    for folder in (paths.DATA / "fashion-mnist", _SYSTEM_DIR):
        if all((folder / f).exists() for pair in _FILES.values() for f in pair):
            return folder
    raise MissingDataError(
        "fashion-mnist", paths.DATA / "fashion-mnist",
        how_to_get="`apt-get install dataset-fashion-mnist` (Debian), or the IDX files from "
                   "https://github.com/zalandoresearch/fashion-mnist",
        layout=f"{paths.DATA / 'fashion-mnist'}/{{train,t10k}}-{{images-idx3,labels-idx1}}-ubyte.gz")


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped) into a numpy array.

    Raises
    ------
    DataFormatError
        If the magic number or the declared sizes do not match the file.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    expected = "IDX: two zero bytes, type byte 0x08 (uint8), rank byte, then rank big-endian uint32 sizes"
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataFormatError(path, "not an unsigned-byte IDX file (bad magic number)", expected=expected)
    rank = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(rank))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * rank)
    if data.size != int(np.prod(shape)):
        raise DataFormatError(path, f"header declares shape {shape} but the file holds {data.size} values",
                              expected=expected)
    return data.reshape(shape)


def _read_once(path: Path) -> np.ndarray:
    # Each process decompresses a file once (every stand-in run draws from it; that was ~0.3 s CPU a run).
    # The arrays are read-only views of the file's bytes (as read_idx returns them), so no caller can alter
    # the cached copy; a file replaced on disk (other size or time) is read again.
    stat = path.stat()
    return _read_cached(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _read_cached(path: str, mtime_ns: int, size: int) -> np.ndarray:
    array = read_idx(path)
    array.flags.writeable = False
    return array


def load_fashion_mnist(part: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (uint8, ``(n, 28, 28)``) and labels of one part of Fashion-MNIST.

    Parameters
    ----------
    part : {"pretrain", "downstream"}
        ``"pretrain"``: the first 50,000 training images (for the stand-in backbone only).
        ``"downstream"``: the other 10,000 training images followed by the 10,000 test images.
    """
    if part not in ("pretrain", "downstream"):
        raise ValueError(f"part={part!r}; valid choices: ('pretrain', 'downstream')")
    folder = fashion_mnist_dir()
    images = {k: _read_once(folder / f[0]) for k, f in _FILES.items()}
    labels = {k: _read_once(folder / f[1]) for k, f in _FILES.items()}
    if part == "pretrain":
        return images["train"][:PRETRAIN_SIZE], labels["train"][:PRETRAIN_SIZE].astype(np.int64)
    return (np.concatenate([images["train"][PRETRAIN_SIZE:], images["test"]]),
            np.concatenate([labels["train"][PRETRAIN_SIZE:], labels["test"]]).astype(np.int64))
