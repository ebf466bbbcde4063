"""The registry of benchmarked methods (:data:`METHODS`): what each is, where it applies, its grid."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from ._tasks import BenchmarkTask

__all__ = ["FAMILIES", "UnknownMethodError", "Outcome", "Method", "METHODS", "register_method", "get_method",
           "not_applicable_reason", "setting_label"]

#: Which paper each method comes from (colours of the figures).
FAMILIES = {"reference": "pre-trained model", "p1": "paper 1 (Ding et al.)", "p2": "paper 2 (FairLoRA)",
            "p3": "paper 3 (Kamalaruban et al.)", "p4": "paper 4 (Zhang & Zhou)", "post": "post-processing",
            "peft": "PEFT family (notebook 06)"}


class UnknownMethodError(KeyError):
    """A method key that is not in :data:`METHODS` (the message lists the registered ones)."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0])


@dataclass(frozen=True)
class Outcome:
    """What a method run returns: predictions on validation and test, its parameters and its training time.

    ``val_index`` (optional) restricts the validation metrics to those rows of the validation split (the
    post-processing baseline fits on one half of validation and is judged on the other).
    """

    val_pred: np.ndarray
    test_pred: np.ndarray
    trainable_parameters: int
    train_seconds: float
    val_prob: np.ndarray | None = None
    test_prob: np.ndarray | None = None
    val_index: np.ndarray | None = None
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Method:
    """One benchmarked method.

    Parameters
    ----------
    key, label : str
        Registry key (``"fairlora"``) and display name (``"FairLoRA"``).
    family : str
        Key of :data:`FAMILIES` (which paper it comes from).
    kind : {"reference", "head", "whole", "two-party", "post-processing"}
        Head-only methods train on cached backbone features; whole-model methods fine-tune the classifier.
    run : callable
        ``run(ctx: SeedContext, params: dict) -> Outcome``.
    modalities : tuple of str
        Task modalities it applies to.
    grid : callable
        ``grid(cfg: BenchmarkConfig) -> list of dict``: the hyper-parameter points tried (``[{}]``: none).
    uses : callable
        ``uses(cfg, profile, budget) -> dict``: every setting the run reads besides the task, its params and
        the seed (part of the run-store key, so that a changed setting re-runs the method and nothing else).
    requires : str, optional
        Key of a method whose run this one consumes (post-processing consumes LoRA's scores).
    binary_only : bool
        Applies to binary tasks only.
    description : str
    """

    key: str
    label: str
    family: str
    kind: str
    run: Callable[..., Outcome]
    modalities: tuple[str, ...] = ("tabular", "image", "text")
    grid: Callable[[Any], list[dict]] = lambda cfg: [{}]
    uses: Callable[[Any, Any, Any], dict] = lambda cfg, profile, budget: {}
    requires: str | None = None
    binary_only: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"Method {self.key!r}: family={self.family!r}; valid choices: {tuple(FAMILIES)}")
        if self.kind not in ("reference", "head", "whole", "two-party", "post-processing"):
            raise ValueError(f"Method {self.key!r}: kind={self.kind!r}; valid choices: ('reference', 'head', "
                             f"'whole', 'two-party', 'post-processing')")


#: The registry, in display order.
METHODS: dict[str, Method] = {}


def register_method(method: Method, *, replace: bool = False) -> Method:
    """Add ``method`` to :data:`METHODS` (``replace=True`` to swap an existing implementation)."""
    if not isinstance(method, Method):
        raise TypeError(f"register_method takes a Method, got {type(method).__name__}")
    if method.key in METHODS and not replace:
        raise ValueError(f"method {method.key!r} is already registered; pass replace=True to swap it")
    if method.requires is not None and method.requires not in METHODS:
        raise UnknownMethodError(f"method {method.key!r} requires {method.requires!r}, which is not registered; "
                                 f"registered: {tuple(METHODS)}")
    METHODS[method.key] = method
    return method


def get_method(key: str) -> Method:
    """The registered method ``key``.

    Raises
    ------
    UnknownMethodError
        Naming the key and listing the registered ones.
    """
    if key not in METHODS:
        raise UnknownMethodError(f"unknown method {key!r}; registered methods: {tuple(METHODS)}")
    return METHODS[key]


def not_applicable_reason(method: Method, task: Any) -> str | None:
    """Why ``method`` cannot run on ``task`` (None if it can).

    ``task`` is a :class:`~fairlib.experiments.benchmark.BenchmarkTask` or its
    :class:`~fairlib.experiments.benchmark.TaskTraits` (``modality``, ``num_classes``, ``has_vit``).
    """
    if task.modality not in method.modalities:
        return f"{method.label} applies to {'/'.join(method.modalities)} tasks only (this task is {task.modality})"
    if method.binary_only and task.num_classes != 2:
        return f"{method.label} needs a binary task ({task.num_classes} classes here)"
    if method.kind == "two-party" and not task.has_vit:
        return f"{method.label} reads a ViT's [CLS] representation; this task has no ViT backbone"
    return None


def setting_label(params: dict) -> str:
    """``"default"`` for no hyper-parameter, else ``"name=value, ..."`` in key order."""
    if not params:
        return "default"
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(params.items()))

