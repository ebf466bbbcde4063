"""Notebook 03's tasks: the data of one task and seed, and the table of who holds how much of it."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ...methods.privacy_roles import auditor_mask, split_roles
from ...methods.privacy_strategies import task_label

__all__ = ["load_task", "split_task", "data_table", "require", "is_stand_in", "task_labels"]


def load_task(task: str, *, n: int, seed: int, correlation: float = 0.8, test_fraction: float = 0.3,
              image_size: int = 224) -> tuple[Any, Any, Any]:
    """The training pool, the held-out test set and the input transform of one task.

    Parameters
    ----------
    task : str
        A task key (see :class:`fairlib.config.PrivacyLoraConfig`).
    n : int
        Stand-ins: examples drawn. Real data: cap on the training pool (0 = all).
    seed : int
        Draw and split seed.
    correlation, test_fraction, image_size
        As in the configuration.

    Returns
    -------
    (GroupedDataset, GroupedDataset, callable or None)
        Training pool (split later between the roles by :func:`~fairlib.methods.privacy_roles.split_roles`),
        test set (held by the experimenter only), and the per-example transform (None for in-memory images).

    Raises
    ------
    fairlib.data.MissingDataError
        Real data that is not in the data directory (the message says where to get it and where to put it).
    ValueError
        An unknown task key (naming the valid kinds).
    """
    from ...data import celeba_like, load_celeba, load_utkface, make_splits, utk_like

    parts = task.split(":")
    fractions = (1 - test_fraction, 0.0, test_fraction)
    if parts[0] == "standin":
        if parts[1] == "celeba-like":
            data = celeba_like(n=n, seed=seed, correlation=correlation, task=parts[2], appearance=parts[3])
        elif parts[1] == "utk-like":
            data = utk_like(n=n, seed=seed, task=parts[2])
        else:
            raise ValueError(f"unknown stand-in {parts[1]!r} in task {task!r}; valid: 'celeba-like', 'utk-like'")
        splits = make_splits(data, fractions=fractions, seed=seed)
        return splits.train, splits.test, None
    from ...data import make_image_processor, open_rgb

    processor = make_image_processor(size=image_size)

    def transform(path: str) -> torch.Tensor:
        return processor(images=open_rgb(path), return_tensors="pt")["pixel_values"][0]

    if parts[0] == "celeba":
        data = load_celeba(target=parts[1], sensitive="Male")
        split = data.info["split"]
        train, test = data.subset(np.flatnonzero(split == "train")), data.subset(np.flatnonzero(split == "test"))
    elif parts[0] == "utkface":
        splits = make_splits(load_utkface(target=parts[1], sensitive="race"), fractions=fractions, seed=seed)
        train, test = splits.train, splits.test
    else:
        raise ValueError(f"unknown task {task!r}; valid kinds: 'standin:...', 'celeba:...', 'utkface:...'")
    if n and len(train) > n:
        train = train.subset(np.sort(np.random.default_rng(seed).choice(len(train), size=n, replace=False)))
    return train, test, transform


def split_task(task: str, config: Any, seed: int, *, developer_groups: bool = False) -> tuple:
    """``(developer_view, auditor_view, test, transform)`` of one task and seed under ``config``
    (a :class:`fairlib.config.PrivacyLoraConfig`): the data owner's split of the training pool.

    With ``developer_groups=True`` a fifth item follows: ``s`` of the developer's examples, in the order of its
    view -- the experimenter's knowledge, for the developer-side leakage audit; never given to the developer.
    """
    train, test, transform = load_task(task, n=config.n, seed=seed, correlation=config.correlation,
                                       test_fraction=config.test_fraction, image_size=config.image_size)
    developer_view, auditor_view = split_roles(train, auditor_fraction=config.auditor_fraction, seed=seed,
                                               transform=transform)
    if developer_groups:
        to_auditor = auditor_mask(train, auditor_fraction=config.auditor_fraction, seed=seed)
        return developer_view, auditor_view, test, transform, np.asarray(train.s)[~to_auditor]
    return developer_view, auditor_view, test, transform


def data_table(profile: Any) -> tuple[Any, list[dict]]:
    """Who holds how much of each task (first seed): developer, auditor and test sizes, groups, base rates.

    Returns
    -------
    (pandas.DataFrame, list of dict)
        The table indexed by the task's label, and its rows as records (for the results JSON).
    """
    import pandas as pd

    pc = profile.privacy
    seed = (pc.seeds or profile.seeds)[0]
    sizes = []
    for task in pc.tasks:
        train, test, _ = load_task(task, n=pc.n, seed=seed, correlation=pc.correlation,
                                   test_fraction=pc.test_fraction, image_size=pc.image_size)
        developer_view, auditor_view = split_roles(train, auditor_fraction=pc.auditor_fraction, seed=seed)
        if hasattr(developer_view, "s") or hasattr(auditor_view, "y"):
            raise AssertionError("a role's view carries the other role's column")
        positive_rate = {g: float(train.y[train.s == k].mean()) for k, g in enumerate(train.group_names)}
        sizes.append({"task": task_label(task), "developer (x, y)": len(developer_view),
                      "auditor (x, s)": len(auditor_view), "test (experimenter)": len(test),
                      "groups": train.group_counts(),
                      "P(y=1 | group)": {g: round(v, 2) for g, v in positive_rate.items()}})
    return pd.DataFrame(sizes).set_index("task"), sizes


def is_stand_in(config: Any) -> bool:
    """True when the backbone or any task stands in for the paper's (then claims are ``not run (stand-in)``)."""
    return config.backbone == "stand-in" or any(t.startswith("standin:") for t in config.tasks)


def require(profile: Any) -> None:
    """Fail fast, before any training, when the profile's backbone or datasets are not available.

    Raises
    ------
    FileNotFoundError
        Naming every missing checkpoint or dataset, where it was looked for and how to get it (the loaders
        ``fairlib.data.load_celeba`` / ``load_utkface`` read the datasets from there).
    """
    from ..._plan import require_section

    require_section(profile, "privacy", readers="Datasets are read by fairlib.data.load_celeba / load_utkface "
                                                "(see data/README.md); checkpoints by fairlib.models.load_backbone.")


def task_labels(config: Any) -> dict[str, str]:
    """Task key -> readable label (stand-ins say so), in the configuration's order."""
    return {task: task_label(task) for task in config.tasks}
