"""Task keys of notebooks 03 and 05 checked when the configuration is built, against the loaders' own lists.

A key such as ``"celeba:Smile"`` would otherwise pass validation and the dry run and fail only when the
notebook reaches that task, possibly after hours of training on the others.
"""

from __future__ import annotations

from ..data import APPEARANCES, CELEBA_ATTRIBUTES, GARMENT_TASKS, UTK_TARGETS, resolve_attribute
from .._validation import ConfigError

__all__ = ["check_task_key", "TEXT_TASK_NAMES"]

#: Names after ``text:`` (keys of ``fairlib.experiments.benchmark.TEXT_TASKS``).
TEXT_TASK_NAMES = ("religion-standin", "measuring-hate-speech")
_STANDIN_FORMS = "'standin:celeba-like:<garment>:<appearance>' or 'standin:utk-like:<garment>'"


def check_task_key(key: object, *, where: str, kinds: tuple[str, ...], default_target: bool = False) -> None:
    """Raise :class:`ConfigError` unless ``key`` is a task key of one of ``kinds`` with valid parameters.

    Parameters
    ----------
    key : str
    where : str
        ``"<Class>.<field>"``, for the message.
    kinds : tuple of str
        Task kinds the field accepts (``"adult"``, ``"standin"``, ``"celeba"``, ``"utkface"``, ``"waterbirds"``,
        ``"text"``).
    default_target : bool
        Accept ``"celeba"`` and ``"utkface"`` without a target (the benchmark then uses Smiling / gender).

    Raises
    ------
    ConfigError
        Naming the field, the key and what is valid: the kinds, the CelebA attribute names (sensitive: Male),
        the UTK-Face targets (sensitive: race), the stand-in garments and appearances, the text tasks.
    """
    if not isinstance(key, str):
        raise ConfigError(f"{where}: task {key!r} is invalid: expected a str")
    parts = key.split(":")
    kind, rest = parts[0], parts[1:]
    bad = f"{where}: task {key!r} is invalid"
    if kind not in kinds:
        raise ConfigError(f"{bad}; a task key starts with one of {kinds}")
    if kind in ("adult", "waterbirds"):
        if rest:
            raise ConfigError(f"{bad}: the {kind} task key is just {kind!r}")
    elif kind in ("celeba", "utkface") and not rest and default_target:
        return
    elif kind == "celeba":
        if len(rest) != 1:
            raise ConfigError(f"{bad}: expected 'celeba:<target attribute>'; valid attributes: "
                              f"{', '.join(CELEBA_ATTRIBUTES)}")
        try:
            index = resolve_attribute(rest[0], CELEBA_ATTRIBUTES, dataset="CelebA")
        except ValueError as error:
            raise ConfigError(f"{bad}: {error}") from None
        if CELEBA_ATTRIBUTES[index] == "Male":
            raise ConfigError(f"{bad}: Male is the sensitive attribute of CelebA tasks; choose another target "
                              f"among {', '.join(a for a in CELEBA_ATTRIBUTES if a != 'Male')}")
    elif kind == "utkface":
        targets = tuple(t for t in UTK_TARGETS if t != "race")  # race defines the groups
        if len(rest) != 1 or rest[0] not in targets:
            raise ConfigError(f"{bad}: expected 'utkface:<target>' with target one of {targets} (groups: race)")
    elif kind == "standin":
        form = rest[0] if rest else ""
        arity = {"celeba-like": 3, "utk-like": 2}
        if form not in arity or len(rest) != arity[form]:
            raise ConfigError(f"{bad}: stand-in keys are {_STANDIN_FORMS}")
        if rest[1] not in GARMENT_TASKS:
            raise ConfigError(f"{bad}: garment task {rest[1]!r} unknown; valid: {tuple(GARMENT_TASKS)}")
        if form == "celeba-like" and rest[2] not in APPEARANCES:
            raise ConfigError(f"{bad}: appearance {rest[2]!r} unknown; valid: {tuple(APPEARANCES)}")
    elif kind == "text":
        if len(rest) != 1 or rest[0] not in TEXT_TASK_NAMES:
            raise ConfigError(f"{bad}: text task keys are {tuple('text:' + n for n in TEXT_TASK_NAMES)}")
