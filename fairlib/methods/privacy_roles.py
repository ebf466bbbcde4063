"""The two parties of Kamalaruban et al. (2025), kept apart by construction.

The **model developer** holds inputs and task labels ``(x, y)`` and never the sensitive attribute; the
**fairness auditor** holds inputs and sensitive attributes ``(x, s)`` and never the task labels. They share a
frozen backbone (a public checkpoint) and exchange nothing but LoRA adapter files -- peft's
``adapter_config.json`` + ``adapter_model.safetensors`` holding ``lora_A``/``lora_B`` tensors only -- plus a
few named scalar signals (``signals.json``) that a strategy needs for its schedule and logs. Each party's
classification head (the developer's task head, the auditor's sensitive-attribute head or adversary) is
private and never written to an exchange folder, so the developer never receives a predictor of ``s``.

How the separation is enforced
------------------------------
- :class:`DeveloperView` has no field for ``s``; constructing one from anything that carries a sensitive
  attribute (a :class:`~fairlib.data.GroupedDataset`, an :class:`AuditorView`, a table or dict with a
  sensitive column) raises :class:`SensitiveAttributeError`. :class:`AuditorView` mirrors this for ``y``
  (:class:`TaskLabelError`).
- :func:`split_roles` is the one place where ``(x, y, s)`` meet: the data owner of the simulation splits a
  training pool into the developer's part and a disjoint auditor's part (the paper's "separate datasets").
- Every public method of the developer's code path (:class:`fairlib.methods.privacy_strategies.Developer`)
  passes its arguments through :func:`refuse_sensitive` first.
- :func:`save_exchange` writes, and :func:`check_exchange` verifies, that a folder crossing between the roles
  holds adapter tensors only (file names, tensor names, safetensors metadata, no ``modules_to_save``) and
  scalar signals from an allow-list.
- ``python -m fairlib.methods.privacy_cli developer|auditor ...`` runs one role as its own process, reading
  its own data file and the other party's adapter folder and writing its own (see that module).
"""

from __future__ import annotations

import json
import math
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from ..data import GroupedDataset

__all__ = [
    "SensitiveAttributeError", "TaskLabelError", "ExchangeError", "SENSITIVE_NAMES", "ALLOWED_SIGNALS",
    "DeveloperView", "AuditorView", "split_roles", "auditor_mask", "refuse_sensitive", "refuse_labels",
    "save_exchange", "check_exchange", "read_signals", "EXCHANGE_FILES", "roles_diagram",
]

#: Column / key names treated as a sensitive attribute when they appear in the developer's data.
SENSITIVE_NAMES = frozenset({"s", "sensitive", "sensitive_features", "sensitive_attribute", "group", "groups",
                             "sex", "gender", "male", "race", "ethnicity", "age_group", "appearance"})
_LABEL_NAMES = frozenset({"y", "label", "labels", "target", "targets", "y_true"})

#: Scalar signals a strategy may send along with an adapter (anything else is refused).
ALLOWED_SIGNALS = frozenset({"round", "adversary_loss", "adversary_accuracy", "adversary_loss_after",
                             "sensitive_loss", "sensitive_accuracy", "steps"})

#: The only files an exchange folder may hold (``signals.json`` is optional).
EXCHANGE_FILES = ("adapter_config.json", "adapter_model.safetensors", "signals.json")
_ADAPTER_KEY = re.compile(r"^base_model\.model\.[\w.]+\.lora_[AB]\.weight$")


class SensitiveAttributeError(TypeError):
    """The sensitive attribute (or data carrying it) reached the model developer's side."""


class TaskLabelError(TypeError):
    """Task labels (or data carrying them) reached the fairness auditor's side."""


class ExchangeError(ValueError):
    """A folder meant to cross between the roles holds something other than adapter tensors and signals."""


def _columns(obj: Any) -> list[str]:
    if isinstance(obj, Mapping):
        return [str(k) for k in obj.keys()]
    columns = getattr(obj, "columns", None)  # pandas DataFrame
    if columns is not None and not isinstance(obj, (np.ndarray, torch.Tensor)):
        return [str(c) for c in columns]
    names = getattr(getattr(obj, "dtype", None), "names", None)  # numpy structured array
    return list(names or [])


def refuse_sensitive(*objects: Any, where: str = "the developer's code path") -> None:
    """Raise if any of ``objects`` carries a sensitive attribute.

    Refused: a :class:`~fairlib.data.GroupedDataset` (it has ``s``), an :class:`AuditorView`, any object
    with an ``s`` attribute, and tables, dicts or structured arrays with a column named in
    :data:`SENSITIVE_NAMES` (searched one level into lists, tuples and dicts).

    Raises
    ------
    SensitiveAttributeError
    """
    for obj in objects:
        if obj is None or isinstance(obj, (str, bytes, int, float, bool, Path, np.ndarray, torch.Tensor)):
            continue
        if isinstance(obj, (GroupedDataset, AuditorView)) or hasattr(obj, "s"):
            raise SensitiveAttributeError(
                f"{type(obj).__name__} carries the sensitive attribute and cannot enter {where}; the data owner "
                f"gives the developer a DeveloperView (x, y) via split_roles(...)")
        bad = sorted(SENSITIVE_NAMES.intersection(c.lower() for c in _columns(obj)))
        if bad:
            raise SensitiveAttributeError(f"sensitive column(s) {bad} cannot enter {where}")
        if isinstance(obj, Mapping):
            refuse_sensitive(*[v for v in obj.values() if not isinstance(v, Mapping)], where=where)
        elif isinstance(obj, (list, tuple)) and obj and not isinstance(obj[0], (str, Path)):
            refuse_sensitive(*obj, where=where)


def refuse_labels(*objects: Any, where: str = "the auditor's code path") -> None:
    """Raise :class:`TaskLabelError` if any of ``objects`` carries task labels (mirror of :func:`refuse_sensitive`)."""
    for obj in objects:
        if obj is None or isinstance(obj, (str, bytes, int, float, bool, Path, np.ndarray, torch.Tensor)):
            continue
        if isinstance(obj, (GroupedDataset, DeveloperView)) or hasattr(obj, "y"):
            raise TaskLabelError(f"{type(obj).__name__} carries task labels and cannot enter {where}")
        bad = sorted(_LABEL_NAMES.intersection(c.lower() for c in _columns(obj)))
        if bad:
            raise TaskLabelError(f"label column(s) {bad} cannot enter {where}")


def _check_inputs(x: Any, n: int, what: str) -> None:
    if len(x) != n:
        raise ValueError(f"{what}: x has {len(x)} entries for {n} labels")


@dataclass(frozen=True, eq=False)
class DeveloperView:
    """What the model developer holds: inputs and task labels, and nothing else.

    Parameters
    ----------
    x : numpy.ndarray or sequence of image paths
        Inputs (an image array, or file paths read through ``transform``). A table, dict or dataset carrying
        a sensitive column is refused.
    y : array of int
        Task labels, ``0 .. len(class_names) - 1``.
    class_names : tuple of str
    name : str
    transform : callable, optional
        Maps one stored input to a model input tensor (image files at full scale).

    Raises
    ------
    SensitiveAttributeError
        If ``x`` carries a sensitive attribute.
    """

    x: Any
    y: np.ndarray
    class_names: tuple[str, ...]
    name: str = "developer data"
    transform: Callable | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        refuse_sensitive(self.x, where="DeveloperView")
        object.__setattr__(self, "y", np.asarray(self.y, dtype=np.int64))
        _check_inputs(self.x, len(self.y), "DeveloperView")
        if len(self.y) and (self.y.min() < 0 or self.y.max() >= len(self.class_names)):
            raise ValueError(f"DeveloperView: labels must lie in 0..{len(self.class_names) - 1}")

    def __len__(self) -> int:
        return len(self.y)

    @classmethod
    def from_table(cls, table: Any, *, features: Sequence[str], target: str,
                   class_names: tuple[str, ...] = ("0", "1"), name: str = "developer data") -> "DeveloperView":
        """Build the view from a table (DataFrame or dict of columns); refused if it has a sensitive column.

        The check is on the whole table, not only on ``features``: data that arrives at the developer with a
        sensitive column is a breach even if the column is never used.
        """
        refuse_sensitive(table, where="DeveloperView.from_table")
        x = np.column_stack([np.asarray(table[c], dtype=np.float32) for c in features])
        return cls(x=x, y=np.asarray(table[target]), class_names=class_names, name=name)

    def subset(self, index: np.ndarray) -> "DeveloperView":
        index = np.asarray(index, dtype=np.int64)
        x = self.x[index] if isinstance(self.x, np.ndarray) else [self.x[i] for i in index]
        return DeveloperView(x=x, y=self.y[index], class_names=self.class_names, name=self.name,
                             transform=self.transform)

    def save(self, path: str | Path) -> Path:
        """Write ``x`` and ``y`` (only) to an ``.npz`` file, the developer's data for a separate process."""
        path = Path(path)
        np.savez(path, x=np.asarray(self.x), y=self.y, class_names=np.asarray(self.class_names))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "DeveloperView":
        """Read a file written by :meth:`save`; a file that also holds a sensitive column is refused."""
        with np.load(path, allow_pickle=False) as archive:
            refuse_sensitive(dict.fromkeys(archive.files), where=f"DeveloperView.load({path})")
            return cls(x=archive["x"], y=archive["y"], class_names=tuple(archive["class_names"].tolist()),
                       name=Path(path).stem)


@dataclass(frozen=True, eq=False)
class AuditorView:
    """What the fairness auditor holds: inputs and sensitive attributes, never task labels.

    Parameters
    ----------
    x : numpy.ndarray or sequence of image paths
    s : array of int
        Sensitive-group codes, ``0 .. len(group_names) - 1``.
    group_names : tuple of str
    sensitive_name : str
    name : str
    transform : callable, optional

    Raises
    ------
    TaskLabelError
        If ``x`` carries task labels.
    """

    x: Any
    s: np.ndarray
    group_names: tuple[str, ...]
    sensitive_name: str = "sensitive"
    name: str = "auditor data"
    transform: Callable | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        refuse_labels(self.x, where="AuditorView")
        object.__setattr__(self, "s", np.asarray(self.s, dtype=np.int64))
        _check_inputs(self.x, len(self.s), "AuditorView")
        if len(self.s) and (self.s.min() < 0 or self.s.max() >= len(self.group_names)):
            raise ValueError(f"AuditorView: groups must lie in 0..{len(self.group_names) - 1}")

    def __len__(self) -> int:
        return len(self.s)

    def save(self, path: str | Path) -> Path:
        """Write ``x`` and ``s`` (only) to an ``.npz`` file."""
        path = Path(path)
        np.savez(path, x=np.asarray(self.x), s=self.s, group_names=np.asarray(self.group_names))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "AuditorView":
        """Read a file written by :meth:`save`; a file that also holds task labels is refused."""
        with np.load(path, allow_pickle=False) as archive:
            refuse_labels(dict.fromkeys(archive.files), where=f"AuditorView.load({path})")
            return cls(x=archive["x"], s=archive["s"], group_names=tuple(archive["group_names"].tolist()),
                       name=Path(path).stem)


def auditor_mask(data: GroupedDataset, *, auditor_fraction: float = 0.5, seed: int = 0) -> np.ndarray:
    """Which examples of ``data`` :func:`split_roles` gives the auditor (``True``) and the developer (``False``).

    The data owner's (and the experimenter's) knowledge, e.g. for the developer-side leakage audit, which
    needs ``s`` of the developer's examples: ``data.s[~auditor_mask(data, ...)]``.
    """
    if not 0.0 < auditor_fraction < 1.0:
        raise ValueError(f"auditor_fraction must lie in (0, 1), got {auditor_fraction}")
    rng = np.random.default_rng(seed)
    cells = data.y * data.num_groups + data.s
    to_auditor = np.zeros(len(data), dtype=bool)
    for cell in np.unique(cells):
        idx = rng.permutation(np.flatnonzero(cells == cell))
        to_auditor[idx[: int(round(auditor_fraction * len(idx)))]] = True
    return to_auditor


def split_roles(data: GroupedDataset, *, auditor_fraction: float = 0.5, seed: int = 0,
                transform: Callable | None = None) -> tuple[DeveloperView, AuditorView]:
    """The data owner's step: split a labelled pool into the developer's and the auditor's disjoint parts.

    Parameters
    ----------
    data : GroupedDataset
        Training pool with ``x``, ``y`` and ``s`` (in the paper the two parties hold different data sets; a
        simulation draws both from one pool).
    auditor_fraction : float
        Share of the pool that goes to the auditor, stratified by ``(y, s)``.
    seed : int
    transform : callable, optional
        Per-example input transform handed to both views (image files at full scale).

    Returns
    -------
    (DeveloperView, AuditorView)
        The developer's part without ``s``; the auditor's part without ``y``.
    """
    to_auditor = auditor_mask(data, auditor_fraction=auditor_fraction, seed=seed)
    dev, aud = data.subset(np.flatnonzero(~to_auditor)), data.subset(np.flatnonzero(to_auditor))
    developer = DeveloperView(x=dev.x, y=dev.y, class_names=data.class_names, name=f"{data.name} (developer)",
                              transform=transform)
    auditor = AuditorView(x=aud.x, s=aud.s, group_names=data.group_names, sensitive_name=data.sensitive_name,
                          name=f"{data.name} (auditor)", transform=transform)
    return developer, auditor


def save_exchange(peft_model: Any, directory: str | Path, *, adapter_name: str = "default",
                  signals: Mapping[str, float] | None = None) -> Path:
    """Write one adapter (and optional scalar signals) to a folder meant for the other party.

    Uses peft's ``save_pretrained``; the model card peft adds is removed (free text has no place in an
    exchange), and the folder is checked with :func:`check_exchange` before it is returned.

    Parameters
    ----------
    peft_model : peft.PeftModel
        A backbone wrapped by peft **without** ``modules_to_save`` (heads stay private).
    directory : path
        Created or emptied.
    adapter_name : str
    signals : mapping of str to float, optional
        Keys from :data:`ALLOWED_SIGNALS`.

    Returns
    -------
    pathlib.Path
    """
    directory = Path(directory)
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    peft_model.save_pretrained(str(directory), selected_adapters=[adapter_name])
    if adapter_name != "default":  # peft nests non-default adapters in a sub-folder
        nested = directory / adapter_name
        for item in nested.iterdir():
            shutil.move(str(item), directory / item.name)
        nested.rmdir()
    (directory / "README.md").unlink(missing_ok=True)
    if signals:
        _check_signals(dict(signals))
        (directory / "signals.json").write_text(json.dumps({k: float(v) for k, v in signals.items()}, indent=1))
    check_exchange(directory)
    return directory


def _check_signals(signals: dict) -> None:
    unknown = sorted(set(signals) - ALLOWED_SIGNALS)
    if unknown:
        raise ExchangeError(f"signals {unknown} are not allowed; allowed: {sorted(ALLOWED_SIGNALS)}")
    for key, value in signals.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
            raise ExchangeError(f"signal {key!r} must be a finite scalar, got {value!r}")


def check_exchange(directory: str | Path) -> dict:
    """Verify that ``directory`` holds LoRA adapter tensors only (plus allowed scalar signals).

    Checked: no file other than :data:`EXCHANGE_FILES`; every tensor name is a ``lora_A``/``lora_B`` weight
    of the wrapped backbone and every tensor is 2-D with the rank of ``adapter_config.json``; the safetensors
    metadata holds nothing but the format; the config saves no extra modules (``modules_to_save``, i.e. no
    head) and no trainable token embeddings; signals are allow-listed finite scalars.

    Returns
    -------
    dict
        ``tensors`` (count), ``parameters`` (total elements), ``rank``, ``target_modules``, ``signals``.

    Raises
    ------
    ExchangeError
    """
    from safetensors import safe_open

    directory = Path(directory)
    if not directory.is_dir():
        raise ExchangeError(f"{directory} is not a folder")
    extra = sorted(p.name for p in directory.iterdir() if p.name not in EXCHANGE_FILES)
    if extra:
        raise ExchangeError(f"{directory} holds {extra}; an exchange holds only {EXCHANGE_FILES}")
    for required in EXCHANGE_FILES[:2]:
        if not (directory / required).exists():
            raise ExchangeError(f"{directory} lacks {required}")
    config = json.loads((directory / "adapter_config.json").read_text())
    if config.get("peft_type") != "LORA":
        raise ExchangeError(f"adapter type {config.get('peft_type')!r} is not LORA")
    for key in ("modules_to_save", "trainable_token_indices"):
        if config.get(key):
            raise ExchangeError(f"adapter_config.json saves {key}={config[key]!r}: heads/embeddings stay private")
    rank = int(config["r"])
    count = parameters = 0
    with safe_open(str(directory / "adapter_model.safetensors"), framework="pt") as handle:
        metadata = handle.metadata() or {}
        if set(metadata) - {"format"}:
            raise ExchangeError(f"unexpected safetensors metadata {sorted(set(metadata) - {'format'})}")
        for key in handle.keys():
            if not _ADAPTER_KEY.match(key):
                raise ExchangeError(f"tensor {key!r} is not a LoRA adapter weight")
            shape = tuple(handle.get_slice(key).get_shape())
            side = 0 if ".lora_A." in key else 1
            if len(shape) != 2 or shape[side] != rank:
                raise ExchangeError(f"tensor {key!r} has shape {shape}, not that of a rank-{rank} LoRA factor")
            count += 1
            parameters += int(np.prod(shape))
    if count == 0:
        raise ExchangeError(f"{directory} holds no adapter tensor")
    signals = read_signals(directory)
    return {"tensors": count, "parameters": parameters, "rank": rank,
            "target_modules": sorted(config.get("target_modules") or []), "signals": signals}


def read_signals(directory: str | Path) -> dict[str, float]:
    """The scalar signals sent with an adapter (empty when there are none)."""
    path = Path(directory) / "signals.json"
    if not path.exists():
        return {}
    signals = json.loads(path.read_text())
    if not isinstance(signals, dict):
        raise ExchangeError("signals.json must hold one object of scalars")
    _check_signals(signals)
    return signals


def roles_diagram(*, title: str = "Who holds what, and what crosses") -> Any:
    """A matplotlib drawing of the two roles, their private holdings and the exchanged artefacts.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    fig, ax = plt.subplots(figsize=(9, 4.6))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 6)
    ax.axis("off")
    boxes = [
        (0.2, 1.0, 3.4, 4.2, "#dbe9f6", "Model developer",
         "holds: images x, task labels y\nprivate: task head, optimiser\nnever: s, or a predictor of s\n\n"
         "trains: task LoRA adapter\n(Erm / Unl / Adv / Orth)"),
        (6.4, 1.0, 3.4, 4.2, "#fde2d4", "Fairness auditor",
         "holds: images x', sensitive s\nprivate: sensitive head, adversary\nnever: task labels y\n\n"
         "trains: sensitive LoRA adapter (Unl, Orth)\nadversarial rounds (Adv)"),
        (3.9, 4.6, 2.2, 1.1, "#eeeeee", "Public", "frozen backbone W0\n(same checkpoint)"),
    ]
    for x, y, w, h, colour, head, body in boxes:
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.05", fc=colour, ec="0.3"))
        ax.text(x + w / 2, y + h - 0.3, head, ha="center", va="top", fontsize=10, weight="bold")
        ax.text(x + w / 2, y + h - 0.75, body, ha="center", va="top", fontsize=7.5)
    arrows = [((6.3, 3.6), (3.7, 3.6), "sensitive adapter {B_s, A_s}\n(Unl: negated, merged;\nOrth: frozen reference)"),
              ((3.7, 2.4), (6.3, 2.4), "task adapter {B, A} (Adv round)"),
              ((6.3, 1.5), (3.7, 1.5), "updated task adapter + scalars\n(adversary loss / accuracy)")]
    for start, end, label in arrows:
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, lw=1.5, color="0.2"))
        ax.text((start[0] + end[0]) / 2, start[1] + 0.12, label, ha="center", va="bottom", fontsize=7.5)
    ax.text(5.0, 0.45, "Crossing files: adapter_config.json + adapter_model.safetensors (lora_A / lora_B only)"
            " + signals.json (allow-listed scalars)\nchecked by check_exchange(); heads, data, labels and groups never cross",
            ha="center", va="center", fontsize=7.5, style="italic")
    ax.set_title(title, fontsize=10)
    return fig
