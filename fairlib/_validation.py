"""Validated dataclass fields, in the style of peft's configs: bounds and choices live beside the field.

:func:`validate_fields` checks every field of a configuration dataclass against

* its annotation: ``int`` (not ``bool``, not ``2.5``), ``float`` (finite), ``str``, ``bool``, ``tuple[X, ...]``
  (a tuple, not a bare value or a string, each element an ``X``), ``dict``, nested dataclasses, ``X | None``;
* duplicates: a tuple field must not repeat a value (``seeds=(0, 0)`` would narrow every interval), unless its
  field says ``unique=False`` (shares such as ``(0.4, 0.3, 0.3)``);
* the ``choice`` / ``bounded`` metadata: allowed values, bounds, finiteness.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import types
import typing
from typing import Any

__all__ = ["choice", "bounded", "validate_fields", "check_seed_list", "check_seed_limits", "ConfigError"]


class ConfigError(ValueError):
    """A configuration field holds a value outside its allowed type, range or choices."""


def choice(default: Any, choices: tuple, *, doc: str = "") -> Any:
    """A field whose value must be one of ``choices``."""
    return dataclasses.field(default=default, metadata={"choices": tuple(choices), "doc": doc})


def bounded(default: Any, *, ge: float | None = None, gt: float | None = None, le: float | None = None,
            lt: float | None = None, unique: bool = True, doc: str = "") -> Any:
    """A numeric field (or a tuple of numbers) with inclusive (ge/le) or strict (gt/lt) bounds.

    Every value must be a finite number. ``unique=False`` lets a tuple repeat a value (shares of a split).
    """
    factory = {"default_factory": lambda: default} if isinstance(default, (list, dict)) else {"default": default}
    return dataclasses.field(**factory, metadata={"ge": ge, "gt": gt, "le": le, "lt": lt, "unique": unique,
                                                  "doc": doc})


def _bound_error(value: Any, meta: dict) -> str | None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return "must be a number"
    if not math.isfinite(value):
        return "must be a finite number"
    if meta.get("ge") is not None and not value >= meta["ge"]:
        return f"must be >= {meta['ge']}"
    if meta.get("gt") is not None and not value > meta["gt"]:
        return f"must be > {meta['gt']}"
    if meta.get("le") is not None and not value <= meta["le"]:
        return f"must be <= {meta['le']}"
    if meta.get("lt") is not None and not value < meta["lt"]:
        return f"must be < {meta['lt']}"
    return None


@functools.lru_cache(maxsize=None)
def _hints(cls: type) -> dict:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # an annotation that cannot be resolved is not checked (bounds and choices still are)
        return {}


def _describe(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if tp is type(None):
        return "None"
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a tuple of {_describe(args[0]).removeprefix('an ').removeprefix('a ')}"
        return f"a tuple ({', '.join(_describe(a) for a in args)})"
    if isinstance(tp, type):
        name = tp.__name__
        return f"an {name}" if name[0] in "aeiouAEIOU" else f"a {name}"
    return str(tp)


def _type_ok(value: Any, tp: Any) -> bool:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in args)
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if tp is str:
        return isinstance(value, str)
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_type_ok(v, args[0]) for v in value)
        return len(args) == len(value) and all(_type_ok(v, a) for v, a in zip(value, args))
    if origin is not None:
        return isinstance(value, origin)
    if isinstance(tp, type):
        return isinstance(value, tp)
    return True


def _is_tuple_type(tp: Any) -> bool:
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return any(_is_tuple_type(a) for a in args)
    return typing.get_origin(tp) is tuple


def validate_fields(obj: Any) -> None:
    """Check every field of dataclass ``obj`` against its annotation and its ``choice``/``bounded`` metadata.

    Raises
    ------
    ConfigError
        Naming the class, the field, the bad value and what is valid (the type, the choices or the bounds).
    """
    hints = _hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        meta = f.metadata
        where = f"{type(obj).__name__}.{f.name} = {value!r}"
        tp = hints.get(f.name)
        if tp is not None and not _type_ok(value, tp):
            hint = ""
            if _is_tuple_type(tp) and not isinstance(value, (tuple, list)):
                hint = f" (one value is written ({value!r},))"
            elif any(isinstance(v, float) and not math.isfinite(v)
                     for v in (value if isinstance(value, tuple) else (value,))):
                hint = " (finite numbers only)"
            raise ConfigError(f"{where} is invalid: expected {_describe(tp)}{hint}")
        if isinstance(value, tuple) and meta.get("unique", True):
            repeated = sorted({repr(v) for i, v in enumerate(value) if v in value[:i]})
            if repeated:
                raise ConfigError(f"{where} is invalid: repeats {', '.join(repeated)}; each value must appear once")
        if "choices" in meta and value not in meta["choices"]:
            raise ConfigError(f"{where} is invalid; valid choices: {meta['choices']}")
        if any(meta.get(k) is not None for k in ("ge", "gt", "le", "lt")):
            values = value if isinstance(value, (tuple, list)) else (value,)
            if isinstance(value, (tuple, list)) and not values:
                raise ConfigError(f"{where} is invalid: must not be empty")
            for v in values:
                problem = _bound_error(v, meta)
                if problem:
                    raise ConfigError(f"{where} is invalid: {problem}")


def check_seed_list(obj: Any, field: str = "seeds") -> None:
    """A notebook section's own seed list: ``None`` (the profile's seeds) or a non-empty tuple of distinct ints >= 0.

    Raises
    ------
    ConfigError
        Naming the class, the field and the value.
    """
    seeds = getattr(obj, field)
    if seeds is not None and (not isinstance(seeds, tuple) or not seeds or len(set(seeds)) != len(seeds)
                              or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds)):
        raise ConfigError(f"{type(obj).__name__}.{field} = {seeds!r} is invalid: must be a non-empty tuple of "
                          f"distinct ints >= 0, or None (the profile's seeds)")


def check_seed_limits(obj: Any, tasks: tuple | None = None) -> None:
    """A section's ``seed_limits``: ``(task, n)`` pairs, ``n`` an int >= 2, no task named twice.

    ``tasks`` given: each task must be one of them; ``None``: any task key (a limit for an absent task has no
    effect).

    Raises
    ------
    ConfigError
        Naming the class, the pair and what is valid.
    """
    name = type(obj).__name__
    for pair in obj.seed_limits:
        if not (isinstance(pair, tuple) and len(pair) == 2
                and (pair[0] in tasks if tasks is not None else isinstance(pair[0], str))
                and isinstance(pair[1], int) and not isinstance(pair[1], bool) and pair[1] >= 2):
            which = f"of {name}.tasks {tasks}" if tasks is not None else "key"
            raise ConfigError(f"{name}.seed_limits: {pair!r} is invalid: a (task, n) pair with a task {which} and an "
                              f"int n >= 2")
    if len({task for task, _ in obj.seed_limits}) != len(obj.seed_limits):
        raise ConfigError(f"{name}.seed_limits must not name a task twice")
