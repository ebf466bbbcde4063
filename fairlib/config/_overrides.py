"""Overriding a profile's fields (``get_profile(name, **overrides)``) and reading a profile's overrides back.

An override names a top-level :class:`~fairlib.config.Profile` field (``seeds=[0, 1]``) or, as a dict, fields of
a section (``fairlora=dict(epochs=1, lambdas=[1.0])``; nested dataclasses nest the same way). ``None`` keeps the
profile's value; lists are taken as tuples. Every value is checked by the dataclass it lands in.

:func:`overrides_of` is the inverse: the fields in which a profile differs from the registered profile of its
name, as the (frozen, hashable, JSON-able) overrides that rebuild it. A :class:`~fairlib.experiments.RunSpec`
carries them, so a worker process or a cluster job rebuilds exactly the profile the grid was made from.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from .._validation import ConfigError

__all__ = ["FrozenDict", "freeze", "thaw", "apply_overrides", "diff_overrides"]


class FrozenDict(dict):
    """A read-only, hashable dict (nested overrides, :class:`~fairlib.experiments.RunSpec` parameters).

    It is a ``dict`` for ``json`` and :func:`fairlib.report.to_jsonable`, so it serialises as the plain dict.
    """

    def _readonly(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("this mapping is read-only; build a new one")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _readonly  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items())))

    def __reduce__(self) -> tuple:
        return type(self), (dict(self),)


def freeze(value: Any, where: str) -> Any:
    """``value`` as an immutable JSON-able value (lists become tuples, dicts read-only), or ConfigError."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if hasattr(value, "item") and getattr(value, "shape", None) == ():  # numpy / torch scalars
        value = value.item()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(f"{where} = {value!r} is invalid: must be a finite number")
        return float(value)
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v, f"{where}[{i}]") for i, v in enumerate(value))
    if isinstance(value, dict):
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise ConfigError(f"{where} has non-string keys {bad!r}; a parameter must be JSON-able")
        return FrozenDict({k: freeze(v, f"{where}[{k!r}]") for k, v in sorted(value.items())})
    raise ConfigError(f"{where} = {value!r} is of type {type(value).__name__}; a parameter must be JSON-able "
                      f"(None, bool, int, finite float, str, or lists/dicts of these)")


def thaw(value: Any) -> Any:
    """A frozen value back as plain JSON values (tuples as lists, read-only dicts as dicts)."""
    if isinstance(value, dict):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


def _tupled(value: Any) -> Any:
    """Lists (also inside tuples and dicts) as tuples: the dataclasses hold sequences as tuples."""
    if isinstance(value, (list, tuple)):
        return tuple(_tupled(v) for v in value)
    if isinstance(value, Mapping) and not dataclasses.is_dataclass(value):
        return {k: _tupled(v) for k, v in value.items()}
    return value


def _fields(obj: Any, reserved: tuple = ()) -> list[str]:
    return [f.name for f in dataclasses.fields(obj) if f.init and f.name not in reserved]


def apply_overrides(obj: Any, overrides: Mapping, *, where: str, reserved: tuple = ()) -> Any:
    """``obj`` (a frozen dataclass) with ``overrides`` applied, validated by the dataclass.

    A dict given for a dataclass-valued field overrides fields of that dataclass (recursively); ``None`` keeps
    the current value; lists become tuples.

    Raises
    ------
    ConfigError
        An unknown field (naming the valid ones), or a value the dataclass rejects.
    """
    valid = _fields(obj, reserved)
    if not isinstance(overrides, Mapping):
        raise ConfigError(f"{where} = {overrides!r} is invalid: expected a dict of fields; valid fields: {valid}")
    unknown = [name for name in overrides if name not in valid]
    if unknown:
        raise ConfigError(f"{where} has no field {', '.join(map(repr, unknown))}; valid fields: {valid}")
    changes = {}
    for name, value in overrides.items():
        if value is None:
            continue
        current = getattr(obj, name)
        if dataclasses.is_dataclass(current) and isinstance(value, Mapping):
            changes[name] = apply_overrides(current, value, where=f"{where}.{name}")
        else:
            changes[name] = _tupled(value)
    if not changes:
        return obj
    try:
        return dataclasses.replace(obj, **changes)
    except ConfigError as error:
        raise ConfigError(f"{error} (override of {where}; valid fields: {valid})") from None
    except (TypeError, ValueError) as error:
        raise ConfigError(f"invalid override of {where}: {error}; valid fields: {valid}") from None


def diff_overrides(obj: Any, registered: Any, *, reserved: tuple = ()) -> dict:
    """The fields in which dataclass ``obj`` differs from ``registered``, nested as :func:`apply_overrides` reads
    them (a dataclass-valued field as a dict of its differing fields)."""
    out: dict = {}
    for name in _fields(obj, reserved):
        mine, theirs = getattr(obj, name), getattr(registered, name)
        if dataclasses.is_dataclass(mine) and type(mine) is type(theirs):
            inner = diff_overrides(mine, theirs)
            if inner:
                out[name] = inner
        elif mine != theirs:
            out[name] = dataclasses.asdict(mine) if dataclasses.is_dataclass(mine) else mine
    return out
