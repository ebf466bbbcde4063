"""From a GroupedDataset to the batches the training loop consumes: dicts with x, y, s and index."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from ..data import GroupedDataset

__all__ = ["GroupedTorchDataset", "as_torch", "tokenize_texts"]


class GroupedTorchDataset(Dataset):
    """Indexable view returning ``{"x", "y", "s", "index"}`` per example.

    ``x`` is a tensor (features, images) or a dict of tensors (tokenised text); ``transform`` (optional)
    maps a stored input to the model's input at access time (image files at full scale).
    """

    def __init__(self, x: Any, y: np.ndarray, s: np.ndarray, *, transform: Callable | None = None):
        self.x, self.transform = x, transform
        self.y = torch.as_tensor(y, dtype=torch.long)
        self.s = torch.as_tensor(s, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict:
        x = {k: v[i] for k, v in self.x.items()} if isinstance(self.x, dict) else self.x[i]
        if self.transform is not None:
            x = self.transform(x)
        return {"x": x, "y": self.y[i], "s": self.s[i], "index": i}


def tokenize_texts(texts: list[str], tokenizer: Any, *, max_length: int) -> dict[str, torch.Tensor]:
    """Tokenise once, padded to the longest text (capped at ``max_length``), for the whole dataset."""
    enc = tokenizer(list(texts), padding="longest", truncation=True, max_length=max_length, return_tensors="pt")
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


def as_torch(data: GroupedDataset | Dataset, *, encode: Callable[[Any], Any] | None = None,
             transform: Callable | None = None) -> Dataset:
    """A torch view of ``data``.

    Parameters
    ----------
    data : GroupedDataset or torch Dataset
        A torch dataset is returned unchanged (it must yield the same dict keys).
    encode : callable, optional
        Applied once to all inputs (e.g. tokenisation: texts -> dict of tensors). Default: numeric arrays
        become float tensors.
    transform : callable, optional
        Applied per example at access time (e.g. loading an image file).
    """
    if isinstance(data, Dataset):
        return data
    if encode is not None:
        x = encode(data.x)
    elif isinstance(data.x, np.ndarray) and data.x.dtype != object:
        x = torch.as_tensor(data.x, dtype=torch.float32 if data.x.dtype.kind in "fu" else None)
    else:
        x = data.x
    return GroupedTorchDataset(x, data.y, data.s, transform=transform)
