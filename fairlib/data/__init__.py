"""Datasets: one type (:class:`GroupedDataset`), seeded splits, and loaders that fail with clear messages."""

from __future__ import annotations

from ._adult import ADULT_COLUMNS, ADULT_ENCODING, adult_files, load_adult
from ._errors import DataFormatError, MissingDataError
from ._standins import APPEARANCES, GARMENT_TASKS, celeba_like, fashion_standin, utk_like, waterbirds_like
from ._fashion import FASHION_CLASSES, PRETRAIN_SIZE, load_fashion_mnist, read_idx
from ._types import GroupedDataset, Splits, make_splits, standardize
from ._images import ImageFileDataset, image_loader, make_image_processor, open_rgb, verify_images
from ._utkface import UTK_SENSITIVE, UTK_TARGETS, UTK_AGE_CLASSES, UTK_AGE_EDGES, UTK_RACES, load_utkface
from ._celeba import CELEBA_ATTRIBUTES, load_celeba, resolve_attribute
from ._lfwa import LFWA_SPLIT_FRACTIONS, load_lfwa
from ._hatespeech import load_measuring_hate_speech
from ._waterbirds import load_waterbirds
from ._geode import GEODE_SPLIT_FRACTIONS, load_geode
from ._aircraft import AIRCRAFT_LEVELS, load_aircraft
from ._locate import DATASET_LOCATORS, check_dataset, locate_dataset
from ._text_standin import IDENTITY_TERMS, RELIGION_GROUPS, TEXT_CATEGORIES, religion_standin

__all__ = [
    "GroupedDataset", "Splits", "make_splits", "standardize",
    "DataFormatError", "MissingDataError",
    "load_adult", "adult_files", "ADULT_COLUMNS", "ADULT_ENCODING",
    "load_fashion_mnist", "read_idx", "FASHION_CLASSES", "PRETRAIN_SIZE",
    "fashion_standin", "utk_like", "celeba_like", "waterbirds_like", "APPEARANCES", "GARMENT_TASKS",
    "ImageFileDataset", "image_loader", "make_image_processor", "open_rgb", "verify_images",
    "load_utkface", "UTK_AGE_EDGES", "UTK_AGE_CLASSES", "UTK_RACES", "UTK_TARGETS", "UTK_SENSITIVE",
    "load_celeba", "CELEBA_ATTRIBUTES", "resolve_attribute", "load_lfwa",
    "LFWA_SPLIT_FRACTIONS", "load_measuring_hate_speech", "load_waterbirds", "load_geode", "GEODE_SPLIT_FRACTIONS", "load_aircraft", "AIRCRAFT_LEVELS", "DATASET_LOCATORS", "locate_dataset",
    "check_dataset",
    "religion_standin", "RELIGION_GROUPS", "IDENTITY_TERMS", "TEXT_CATEGORIES",
]
