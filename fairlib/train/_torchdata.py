"""From a GroupedDataset to the batches the training loop consumes: dicts with x, y, s and index."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from ..data import GroupedDataset

__all__ = ["GroupedTorchDataset", "as_torch", "tokenize_texts", "trim_padding", "text_lengths"]


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


def trim_padding(x: Any) -> Any:
    """Drop the trailing columns that are padding in every row of a tokenised batch.

    Texts are tokenised once, padded to the longest text of the whole dataset (:func:`tokenize_texts`); a batch
    of shorter texts then carries columns that are padding in every row. With right padding they are the last
    columns, and the model ignores them (the attention mask is 0 there), so dropping them gives the same
    outputs up to floating-point rounding (the sums over keys have fewer zero terms) for less compute. Left
    padding has real tokens in the last column, so nothing is dropped. Anything but a dict with a 2-D
    ``attention_mask`` is returned unchanged.

    Examples
    --------
    >>> batch = {"input_ids": torch.tensor([[5, 6, 0, 0], [7, 0, 0, 0]]),
    ...          "attention_mask": torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0]])}
    >>> {k: v.shape[1] for k, v in trim_padding(batch).items()}
    {'input_ids': 2, 'attention_mask': 2}
    """
    if not isinstance(x, dict) or not isinstance(x.get("attention_mask"), torch.Tensor) or x["attention_mask"].dim() != 2:
        return x
    mask = x["attention_mask"]
    used = torch.nonzero(mask.any(dim=0))
    keep = int(used.max()) + 1 if len(used) else 1
    if keep == mask.shape[1]:
        return x
    width = mask.shape[1]
    return {k: (v[:, :keep] if isinstance(v, torch.Tensor) and v.dim() >= 2 and v.shape[1] == width else v)
            for k, v in x.items()}


def text_lengths(dataset: Dataset) -> np.ndarray | None:
    """Tokens per example of a tokenised :class:`GroupedTorchDataset` (its attention mask's row sums); None for
    other inputs. Evaluation visits texts shortest first so that each batch is padded only to its own longest."""
    x = getattr(dataset, "x", None)
    if isinstance(x, dict) and isinstance(x.get("attention_mask"), torch.Tensor) and x["attention_mask"].dim() == 2:
        return x["attention_mask"].sum(dim=1).numpy()
    return None


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
