"""Image stand-ins built from Fashion-MNIST, for the papers' face and bird datasets that cannot ship.

Every stand-in works the same way: a binary or ten-class garment task, and a "sensitive" attribute that is
an appearance change applied to the image (the pre-trained backbone never saw it), with group sizes and the
label-group correlation chosen to mimic the paper's dataset. They are stand-ins: they test whether a method
behaves as claimed when a group is under-represented or spuriously correlated with the label, not whether
the paper's face-image numbers reproduce.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ._fashion import FASHION_CLASSES, load_fashion_mnist
from ._types import GroupedDataset, Splits

__all__ = ["APPEARANCES", "GARMENT_TASKS", "fashion_standin", "utk_like", "celeba_like", "waterbirds_like"]


def _inverted(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return 255 - img


def _low_contrast(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return (img.astype(np.float32) * 0.35 + 70).astype(np.uint8)


def _noisy(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.clip(img.astype(np.float32) + rng.normal(0, 45, img.shape), 0, 255).astype(np.uint8)


def _framed(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # A bright textured background, as water behind a bird: outside the garment, never on it.
    background = (rng.random(img.shape) < 0.5) * 110
    return np.where(img > 20, img, background).astype(np.uint8)


def _flipped(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return img[:, ::-1, :][:, :, ::-1].copy()


#: Appearance changes that define groups (applied to a whole group's images).
APPEARANCES = {"original": None, "inverted": _inverted, "low-contrast": _low_contrast, "noisy": _noisy,
               "background": _framed, "upside-down": _flipped}

#: Garment tasks: a mapping from the 10 Fashion-MNIST classes to task labels, with the task's class names.
GARMENT_TASKS = {
    "ten-class": (tuple(range(10)), FASHION_CLASSES),
    # upper-body garments (T-shirt, pullover, coat, shirt) vs the rest
    "upper-body": ((1, 0, 1, 0, 1, 0, 1, 0, 0, 0), ("other", "upper-body")),
    # footwear (sandal, sneaker, ankle boot) vs clothing and bags
    "footwear": ((0, 0, 0, 0, 0, 1, 0, 1, 0, 1), ("clothing", "footwear")),
}


def fashion_standin(*, task: str, appearances: tuple[str, ...], group_given_label: np.ndarray, n: int, seed: int,
                    name: str, images: tuple[np.ndarray, np.ndarray] | None = None) -> GroupedDataset:
    """Draw ``n`` downstream Fashion-MNIST images, assign each a group, and apply the group's appearance.

    Parameters
    ----------
    task : str
        Key of :data:`GARMENT_TASKS`.
    appearances : tuple of str
        Keys of :data:`APPEARANCES`, one per group (group names).
    group_given_label : array (num_task_classes, num_groups)
        Row ``c`` is the distribution of groups among examples of task class ``c``.
    n : int
        Number of examples (drawn without replacement from the 20,000 downstream images).
    seed : int
    name : str
        Dataset name (it should say "stand-in").
    images : (images, labels), optional
        Use these instead of the downstream part (for tests).

    Returns
    -------
    GroupedDataset
        ``x`` float32 ``(n, 1, 28, 28)`` scaled to [-1, 1], as the stand-in ViT expects.
    """
    if task not in GARMENT_TASKS:
        raise ValueError(f"task={task!r}; valid choices: {tuple(GARMENT_TASKS)}")
    unknown = [a for a in appearances if a not in APPEARANCES]
    if unknown:
        raise ValueError(f"unknown appearance(s) {unknown}; valid choices: {tuple(APPEARANCES)}")
    mapping, class_names = GARMENT_TASKS[task]
    probs = np.asarray(group_given_label, dtype=np.float64)
    if probs.shape != (len(class_names), len(appearances)) or not np.allclose(probs.sum(1), 1) or (probs < 0).any():
        raise ValueError(f"group_given_label must be a ({len(class_names)}, {len(appearances)}) array of "
                         f"probabilities with rows summing to 1")
    pool_x, pool_labels = images if images is not None else load_fashion_mnist("downstream")
    if n > len(pool_labels):
        raise ValueError(f"n={n} exceeds the {len(pool_labels)} images available")
    rng = np.random.default_rng(seed)
    index = rng.choice(len(pool_labels), size=n, replace=False)
    y = np.asarray(mapping)[pool_labels[index]]
    s = np.asarray([rng.choice(len(appearances), p=probs[c]) for c in y])
    out = np.empty((n, 28, 28), dtype=np.uint8)
    for i, (k, g) in enumerate(zip(index, s)):
        change = APPEARANCES[appearances[g]]
        out[i] = pool_x[k] if change is None else change(pool_x[k][None], rng)[0]
    x = (out.astype(np.float32)[:, None] / 127.5 - 1.0).astype(np.float32)
    return GroupedDataset(name=name, x=x, y=y, s=s, group_names=tuple(appearances), class_names=class_names,
                          sensitive_name="appearance",
                          info={"stand_in": True, "built_from": "Fashion-MNIST downstream images (not seen in "
                                "pre-training) with a group-specific appearance change", "task": task,
                                "source_index": index})


def utk_like(*, n: int, seed: int, task: str = "upper-body") -> GroupedDataset:
    """UTK-Face stand-in (Ding et al.): five groups of very unequal size, independent of the label.

    Group shares 46/19/16/12/7 % mirror UTK-Face's White/Black/Indian/Asian/Others proportions.
    """
    shares = np.array([0.46, 0.19, 0.16, 0.12, 0.07])
    classes = len(GARMENT_TASKS[task][1])
    return fashion_standin(task=task, appearances=("original", "low-contrast", "noisy", "inverted", "upside-down"),
                           group_given_label=np.tile(shares, (classes, 1)), n=n, seed=seed,
                           name=f"UTK-like stand-in ({task}, 5 appearance groups)")


def celeba_like(*, n: int, seed: int, correlation: float = 0.75, task: str = "upper-body",
                appearance: str = "low-contrast") -> GroupedDataset:
    """CelebA stand-in: binary target and a binary sensitive attribute correlated with it.

    ``P(s = 1 | y = 1) = correlation`` and ``P(s = 1 | y = 0) = 1 - correlation``: a model can lean on ``s``
    to predict ``y``, so demographic parity and equalised odds gaps appear, as with CelebA's attributes and sex.
    """
    if not 0.0 <= correlation <= 1.0:
        raise ValueError(f"correlation must lie in [0, 1], got {correlation}")
    table = np.array([[correlation, 1 - correlation], [1 - correlation, correlation]])
    return fashion_standin(task=task, appearances=("original", appearance), group_given_label=table, n=n, seed=seed,
                           name=f"CelebA-like stand-in ({task}, sensitive = {appearance})")


def waterbirds_like(*, n_train: int, n_eval: int, seed: int, spurious: float = 0.95) -> Splits:
    """Waterbirds stand-in: label footwear vs clothing, spurious attribute a textured background.

    In training the background agrees with the label for a share ``spurious`` of the examples (Waterbirds:
    95%), so the minority groups (footwear on plain, clothing on background) are small; validation and test
    are balanced (50% background within each label), as in Waterbirds.
    """
    aligned = np.array([[spurious, 1 - spurious], [1 - spurious, spurious]])
    balanced = np.full((2, 2), 0.5)
    appearances = ("original", "background")
    train = fashion_standin(task="footwear", appearances=appearances, group_given_label=aligned, n=n_train,
                            seed=seed, name="Waterbirds-like stand-in")
    # Validation and test come from a second draw that excludes the training images.
    pool_x, pool_y = load_fashion_mnist("downstream")
    rest = np.setdiff1d(np.arange(len(pool_y)), train.info["source_index"])
    evaluation = fashion_standin(task="footwear", appearances=appearances, group_given_label=balanced,
                                 n=2 * n_eval, seed=seed + 1, name="Waterbirds-like stand-in",
                                 images=(pool_x[rest], pool_y[rest]))
    evaluation = replace(evaluation, info={**evaluation.info, "source_index": rest[evaluation.info["source_index"]]})
    return Splits(train=train, val=evaluation.subset(np.arange(n_eval)),
                  test=evaluation.subset(np.arange(n_eval, 2 * n_eval)))
