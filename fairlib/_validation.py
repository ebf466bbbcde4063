"""Validated dataclass fields, in the style of peft's configs: bounds and choices live beside the field."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

__all__ = ["choice", "bounded", "validate_fields", "ConfigError"]


class ConfigError(ValueError):
    """A configuration field holds a value outside its allowed range or choices."""


def choice(default: Any, choices: tuple, *, doc: str = "") -> Any:
    """A field whose value must be one of ``choices``."""
    return dataclasses.field(default=default, metadata={"choices": tuple(choices), "doc": doc})


def bounded(default: Any, *, ge: float | None = None, gt: float | None = None, le: float | None = None,
            lt: float | None = None, doc: str = "") -> Any:
    """A numeric field (or a tuple of numbers) with inclusive (ge/le) or strict (gt/lt) bounds."""
    factory = {"default_factory": lambda: default} if isinstance(default, (list, dict)) else {"default": default}
    return dataclasses.field(**factory, metadata={"ge": ge, "gt": gt, "le": le, "lt": lt, "doc": doc})


def _bound_error(value: Any, meta: dict) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return "must be a number"
    if meta.get("ge") is not None and not value >= meta["ge"]:
        return f"must be >= {meta['ge']}"
    if meta.get("gt") is not None and not value > meta["gt"]:
        return f"must be > {meta['gt']}"
    if meta.get("le") is not None and not value <= meta["le"]:
        return f"must be <= {meta['le']}"
    if meta.get("lt") is not None and not value < meta["lt"]:
        return f"must be < {meta['lt']}"
    return None


def validate_fields(obj: Any) -> None:
    """Check every field of dataclass ``obj`` against its ``choice``/``bounded`` metadata.

    Raises
    ------
    ConfigError
        Naming the class, the field, the bad value and the allowed choices or bounds.
    """
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        meta = f.metadata
        where = f"{type(obj).__name__}.{f.name} = {value!r}"
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
