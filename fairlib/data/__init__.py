"""Datasets: one type (:class:`GroupedDataset`), seeded splits, and loaders that fail with clear messages."""

from __future__ import annotations

import numpy as np

from ._adult import ADULT_COLUMNS, ADULT_ENCODING, adult_files, load_adult
from ._errors import DataFormatError, MissingDataError
from ._standins import APPEARANCES, GARMENT_TASKS, celeba_like, fashion_standin, utk_like, waterbirds_like
from ._fashion import FASHION_CLASSES, PRETRAIN_SIZE, load_fashion_mnist, read_idx
from ._types import GroupedDataset, Splits, make_splits
from ._images import ImageFileDataset, image_loader, make_image_processor, verify_images
from ._utkface import UTK_AGE_CLASSES, UTK_AGE_EDGES, UTK_RACES, load_utkface
from ._celeba import load_celeba
from ._lfwa import LFWA_SPLIT_FRACTIONS, load_lfwa
from ._hatespeech import load_measuring_hate_speech
from ._waterbirds import load_waterbirds

__all__ = [
    "GroupedDataset", "Splits", "make_splits", "standardize",
    "DataFormatError", "MissingDataError",
    "load_adult", "adult_files", "ADULT_COLUMNS", "ADULT_ENCODING",
    "load_fashion_mnist", "read_idx", "FASHION_CLASSES", "PRETRAIN_SIZE",
    "fashion_standin", "utk_like", "celeba_like", "waterbirds_like", "APPEARANCES", "GARMENT_TASKS",
    "ImageFileDataset", "image_loader", "make_image_processor", "verify_images",
    "load_utkface", "UTK_AGE_EDGES", "UTK_AGE_CLASSES", "UTK_RACES", "load_celeba", "load_lfwa",
    "LFWA_SPLIT_FRACTIONS", "load_measuring_hate_speech", "load_waterbirds",
]


def standardize(splits: Splits, *, columns: slice | np.ndarray | None = None) -> Splits:
    """Scale feature columns to zero mean and unit variance with statistics of the training part only.

    Parameters
    ----------
    splits : Splits
        Splits whose ``x`` are float matrices.
    columns : slice or index array, optional
        Which columns to scale (default: all columns with more than two distinct values, i.e. not one-hot).

    Returns
    -------
    Splits
    """
    train_x = np.asarray(splits.train.x, dtype=np.float64)
    if columns is None:
        columns = np.asarray([len(np.unique(train_x[:, j])) > 2 for j in range(train_x.shape[1])])
    mean = train_x[:, columns].mean(axis=0)
    std = train_x[:, columns].std(axis=0)
    std[std == 0] = 1.0

    def scale(part: GroupedDataset) -> GroupedDataset:
        x = np.array(part.x, dtype=np.float32, copy=True)
        x[:, columns] = ((x[:, columns] - mean) / std).astype(np.float32)
        return _with_x(part, x)

    return Splits(train=scale(splits.train), val=scale(splits.val), test=scale(splits.test))


def _with_x(part: GroupedDataset, x: np.ndarray) -> GroupedDataset:
    from dataclasses import replace
    return replace(part, x=x)
