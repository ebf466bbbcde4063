"""Image files to model inputs without torchvision: PIL decoding, a transformers image processor, seeded flips.

torchvision (and with it timm) has no CPU build on the registry this project installs from, so the pipeline is
built from what is always there: PIL opens and converts the file, a transformers image processor (constructed
locally, never downloaded) resizes and normalises it exactly as the backbone expects, and the only
augmentation, a random horizontal flip in training, is drawn from ``(seed, epoch, index)`` so that it is the
same whatever the number of worker processes.

Unreadable images: :class:`ImageFileDataset` raises :class:`DataFormatError` naming the file when it meets one
(a silent substitute would bias a group's metrics); :func:`verify_images` finds them all up front, so a loader
(``verify=True``) can count, report and drop them before training starts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import DataLoader, Dataset

from ._errors import DataFormatError
from ._types import GroupedDataset

__all__ = ["ImageFileDataset", "image_loader", "open_rgb", "verify_images", "decode_problem", "make_image_processor",
           "IMAGE_SUFFIXES"]

#: File endings treated as images when a loader lists a folder.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
_READABLE = "an image file PIL can decode (JPEG, PNG, ...)"


def make_image_processor(*, size: int = 224, image_mean: Sequence[float] = (0.5, 0.5, 0.5),
                         image_std: Sequence[float] = (0.5, 0.5, 0.5)) -> Any:
    """A transformers ViT image processor built from a config, with no hub download.

    Parameters
    ----------
    size : int
        Output height and width in pixels (224 for ViT-Base/16).
    image_mean, image_std : sequence of three floats
        Per-channel normalisation after rescaling to [0, 1]. The default 0.5/0.5 is google/vit-base-patch16-224's;
        pass ImageNet's ``(0.485, 0.456, 0.406)`` / ``(0.229, 0.224, 0.225)`` for backbones trained with it.

    Returns
    -------
    transformers image processor
        Resize (bilinear) to ``size x size``, rescale by 1/255, normalise; called as
        ``processor(images=pil_image, return_tensors="pt")["pixel_values"]``.
    """
    import transformers

    config = dict(do_resize=True, size={"height": size, "width": size}, do_rescale=True, rescale_factor=1 / 255,
                  do_normalize=True, image_mean=list(image_mean), image_std=list(image_std))
    # The PIL backend needs no torchvision; the plain name falls back to it anyway, with a warning per call site.
    cls = getattr(transformers, "ViTImageProcessorPil", None) or transformers.ViTImageProcessor
    return cls(**config)


def _open_rgb(path: str) -> Image.Image:
    try:
        with Image.open(path) as img:
            # convert() forces the full decode inside the try: a truncated JPEG fails here, not in the processor.
            return img.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise DataFormatError(path, f"cannot read image ({type(error).__name__}: {error})",
                              expected=_READABLE) from error


def open_rgb(path: str) -> Image.Image:
    """The image at ``path``, fully decoded, as RGB; :class:`DataFormatError` naming the file if unreadable."""
    return _open_rgb(path)


def _progress_default() -> bool:
    return os.environ.get("FAIRLIB_PROGRESS", "1") != "0"


def decode_problem(path: str | os.PathLike) -> str | None:
    """None when the image at ``path`` decodes, else why not (a fast check, for whole datasets).

    JPEGs are decoded in draft mode (DCT scaling to about 1/8 of the size): every byte of the compressed
    stream is still read, so a truncated or corrupt file fails, at a fraction of a full decode's cost.
    Other formats are decoded in full.
    """
    try:
        with Image.open(path) as img:
            if img.format == "JPEG":
                img.draft(img.mode, (max(1, img.width // 8), max(1, img.height // 8)))
            img.load()
    except Exception as error:  # any failure to read is a reason to name the file, never to crash the check
        return f"{type(error).__name__}: {error}"
    return None


def verify_images(paths: Sequence[str | os.PathLike], *, workers: int | None = None, progress: bool | None = None,
                  desc: str = "checking images") -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Decode every image once (in parallel, with a progress bar) and report those that cannot be read.

    Parameters
    ----------
    paths : sequence of path-like
    workers : int, optional
        Decoding threads (PIL releases the GIL while decoding). Default: the number of CPU cores, at most 16.
    progress : bool, optional
        Show a progress bar (default: on unless ``FAIRLIB_PROGRESS=0``).
    desc : str
        Label of the progress bar.

    Returns
    -------
    ok : numpy.ndarray of bool
        One entry per path: True when the file decodes (see :func:`decode_problem`).
    bad : list of (path, reason)
        The unreadable files (absent, truncated, not an image), in input order.
    """
    from concurrent.futures import ThreadPoolExecutor

    from tqdm.auto import tqdm

    paths = [str(p) for p in paths]
    ok = np.ones(len(paths), dtype=bool)
    reasons: list[str | None] = [None] * len(paths)
    chunk = 64
    starts = range(0, len(paths), chunk)

    def check(start: int) -> int:
        for i in range(start, min(start + chunk, len(paths))):
            reasons[i] = decode_problem(paths[i])
        return min(start + chunk, len(paths)) - start

    workers = workers or min(16, os.cpu_count() or 1)
    show = _progress_default() if progress is None else progress
    with tqdm(total=len(paths), desc=desc, unit="img", disable=not show or not paths, leave=False) as bar:
        if workers <= 1 or len(paths) <= chunk:
            for start in starts:
                bar.update(check(start))
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for done in pool.map(check, starts):
                    bar.update(done)
    bad = [(p, r) for p, r in zip(paths, reasons) if r is not None]
    ok[[i for i, r in enumerate(reasons) if r is not None]] = False
    return ok, bad


def _flip_draw(seed: int, epoch: int, index: int) -> bool:
    # A pure function of (seed, epoch, index): identical in the main process and in any worker, so the
    # augmented epoch does not depend on num_workers or on which worker fetched which batch.
    return bool(np.random.default_rng([seed, epoch, index]).random() < 0.5)


class ImageFileDataset(Dataset):
    """A torch Dataset of image files, decoded lazily and prepared by a transformers image processor.

    Parameters
    ----------
    paths : sequence of path-like
        One image file per example (e.g. ``GroupedDataset.x`` of an image loader).
    processor : transformers image processor
        Does resize and normalisation (see :func:`make_image_processor`).
    train : bool
        Apply a random horizontal flip with probability 1/2 (training only; evaluation is deterministic).
    seed : int
        Seeds the flips: example ``i`` in epoch ``e`` is flipped iff a generator seeded with
        ``[seed, e, i]`` draws below 0.5.
    y, s : array of int, optional
        Labels and groups; when given, each item also carries ``"y"`` and ``"s"``.
    input_key : str
        Key of the image tensor in each item (``"pixel_values"``; ``"x"`` for :func:`fairlib.train.fit`).

    Notes
    -----
    Each item is a dict ``{input_key: float32 tensor (3, H, W), "index": i}`` plus ``"y"`` and ``"s"`` when
    labelled. An unreadable file raises :class:`DataFormatError` naming it; use :func:`verify_images` (or a
    loader's ``verify=True``) to find such files before training. The epoch used by the flips is set by
    :meth:`set_epoch`, which :func:`image_loader` and Accelerate's prepared loaders call on every pass.
    """

    def __init__(self, paths: Sequence[str | os.PathLike], *, processor: Any, train: bool, seed: int,
                 y: np.ndarray | None = None, s: np.ndarray | None = None, input_key: str = "pixel_values"):
        self.paths = [str(p) for p in paths]
        self.processor, self.train, self.seed, self.input_key = processor, bool(train), int(seed), input_key
        self.y = None if y is None else torch.as_tensor(np.asarray(y), dtype=torch.long)
        self.s = None if s is None else torch.as_tensor(np.asarray(s), dtype=torch.long)
        for arr, name in ((self.y, "y"), (self.s, "s")):
            if arr is not None and len(arr) != len(self.paths):
                raise ValueError(f"{name} has {len(arr)} entries for {len(self.paths)} image paths")
        self.epoch = 0

    @classmethod
    def from_grouped(cls, data: GroupedDataset, *, processor: Any, train: bool, seed: int,
                     input_key: str = "x") -> "ImageFileDataset":
        """The images of an image loader's dataset with its labels and groups, keyed for the training loop."""
        return cls(data.x, processor=processor, train=train, seed=seed, y=data.y, s=data.s, input_key=input_key)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose flips :meth:`__getitem__` draws."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.paths)

    def flipped(self, index: int) -> bool:
        """Whether example ``index`` is mirrored in the current epoch."""
        return self.train and _flip_draw(self.seed, self.epoch, index)

    def __getitem__(self, index: int) -> dict:
        img = _open_rgb(self.paths[index])
        if self.flipped(index):
            img = ImageOps.mirror(img)
        pixel_values = self.processor(images=img, return_tensors="pt")["pixel_values"][0]
        item = {self.input_key: pixel_values, "index": index}
        if self.y is not None:
            item["y"] = self.y[index]
        if self.s is not None:
            item["s"] = self.s[index]
        return item


class _EpochDataLoader(DataLoader):
    """A DataLoader that tells its dataset the epoch before each pass (so seeded flips change per epoch)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._epoch = 0

    def __iter__(self):
        if hasattr(self.dataset, "set_epoch"):
            # Workers are started by super().__iter__ (persistent_workers=False), after this call, so each
            # worker receives the dataset with this epoch.
            self.dataset.set_epoch(self._epoch)
        self._epoch += 1
        return super().__iter__()


def image_loader(dataset: Dataset, *, batch_size: int, num_workers: int, shuffle: bool, seed: int,
                 drop_last: bool = False, pin_memory: bool | None = None) -> DataLoader:
    """A DataLoader that decodes images in worker processes, so that a GPU is not left waiting for JPEGs.

    Parameters
    ----------
    dataset : torch Dataset
        Usually an :class:`ImageFileDataset`.
    batch_size : int
    num_workers : int
        Decoding processes (0 decodes in the main process; about the number of CPU cores per GPU otherwise).
    shuffle : bool
        Reshuffle every epoch, from a generator seeded with ``seed``.
    seed : int
        Seeds the shuffling order (and nothing else: flips are seeded by the dataset).
    drop_last : bool
    pin_memory : bool, optional
        Default: True when CUDA is available (faster host-to-GPU copies).

    Returns
    -------
    torch.utils.data.DataLoader
        Each pass first calls ``dataset.set_epoch(k)`` for pass ``k = 0, 1, ...``.
    """
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}")
    generator = torch.Generator().manual_seed(int(seed))
    extra = {"prefetch_factor": 4} if num_workers > 0 else {}
    return _EpochDataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
                            num_workers=num_workers, drop_last=drop_last,
                            pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
                            persistent_workers=False, **extra)


def list_images(folder: Path) -> set[str]:
    """Names of the image files directly inside ``folder`` (one directory listing instead of a stat per file)."""
    with os.scandir(folder) as entries:
        return {e.name for e in entries if e.name.lower().endswith(IMAGE_SUFFIXES)}


def check_images(paths: list[str], present: np.ndarray, *, verify: bool, name: str,
                 examples: int = 5) -> tuple[np.ndarray, dict, list[str]]:
    """Shared bookkeeping of the image loaders: which referenced images to keep, and what to report.

    Parameters
    ----------
    paths : list of str
        Referenced image files.
    present : numpy.ndarray of bool
        Whether each file exists (computed by the caller, cheaply).
    verify : bool
        Also decode the present files and drop unreadable ones.
    name : str
        Dataset name for the messages.

    Returns
    -------
    keep : numpy.ndarray of bool
    info : dict
        ``missing_images`` (count), ``missing_image_examples`` (first few paths), and with ``verify``
        ``unreadable_images`` and ``unreadable_image_examples`` (``"path: reason"``).
    messages : list of str
        Problems to print (empty when all images are there).
    """
    keep = present.copy()
    missing = [p for p, ok in zip(paths, present) if not ok]
    info: dict = {"missing_images": len(missing), "missing_image_examples": missing[:examples]}
    messages = []
    if missing:
        messages.append(f"{name}: {len(missing)} referenced image(s) not found and skipped, e.g. "
                        + ", ".join(missing[:examples]))
    if verify:
        index = np.flatnonzero(present)
        ok, bad = verify_images([paths[i] for i in index], desc=f"{name}: decoding images")
        keep[index[~ok]] = False
        info["unreadable_images"] = len(bad)
        info["unreadable_image_examples"] = [f"{p}: {why}" for p, why in bad[:examples]]
        if bad:
            messages.append(f"{name}: {len(bad)} unreadable image(s) skipped, e.g. "
                            + "; ".join(info["unreadable_image_examples"]))
    return keep, info, messages
