"""One run of an experiment's grid, as frozen, validated data (:class:`RunSpec`)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from ..config import PROFILE_NAMES, ConfigError

__all__ = ["RunSpec"]

_NOTEBOOK = re.compile(r"^\d\d$")
_KEY = re.compile(r"^[0-9a-f]{16}$")
_REQUIRED = object()


class _FrozenDict(dict):
    """A read-only, hashable dict: a nested dict parameter of a frozen :class:`RunSpec`.

    It is a ``dict`` for ``json`` and :func:`fairlib.report.to_jsonable`, so the run key is that of the
    plain dict.
    """

    def _readonly(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("a RunSpec parameter is read-only; build a new RunSpec with RunSpec.make(...)")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _readonly  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items())))

    def __reduce__(self) -> tuple:
        return type(self), (dict(self),)


def _freeze(value: Any, where: str) -> Any:
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
        return tuple(_freeze(v, f"{where}[{i}]") for i, v in enumerate(value))
    if isinstance(value, dict):
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise ConfigError(f"{where} has non-string keys {bad!r}; a parameter must be JSON-able")
        return _FrozenDict({k: _freeze(v, f"{where}[{k!r}]") for k, v in sorted(value.items())})
    raise ConfigError(f"{where} = {value!r} is of type {type(value).__name__}; a parameter must be JSON-able "
                      f"(None, bool, int, finite float, str, or lists/dicts of these)")


def _thaw(value: Any) -> Any:
    """A frozen parameter back as plain JSON values (tuples as lists, read-only dicts as dicts)."""
    if isinstance(value, dict):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class RunSpec:
    """One training run of a notebook's grid: everything that determines it, and its run-store key.

    Parameters
    ----------
    notebook : str
        Two digits, e.g. ``"02"``.
    profile : {"smoke", "full", "test"}
    method : str
        The method's name, e.g. ``"FairLoRA"``.
    seed : int
        ``>= 0``.
    params : tuple of (str, value)
        Sorted by name, names unique; JSON-able, finite values (hyper-parameters, data, backbone). Lists are
        held as tuples and dicts as read-only dicts, so a spec is hashable; both serialise as before.
    after : tuple of str
        Keys of runs that must be stored before this one runs (e.g. a pre-trained model it starts from).
    gpu_hours : float
        Estimated cost of this run at its profile (summed by ``--dry-run``).

    Notes
    -----
    Build one with :meth:`make` (keyword hyper-parameters, sorted for you). ``after`` and ``gpu_hours`` are
    scheduling information, not part of the run: they do not enter :meth:`to_dict` or :attr:`key`.
    """

    notebook: str
    profile: str
    method: str
    seed: int
    params: tuple = ()
    after: tuple[str, ...] = ()
    gpu_hours: float = 0.0

    def __post_init__(self) -> None:
        where = f"RunSpec(notebook={self.notebook!r}, method={self.method!r}, seed={self.seed!r})"
        if not isinstance(self.notebook, str) or not _NOTEBOOK.match(self.notebook):
            raise ConfigError(f"{where}: notebook = {self.notebook!r} is invalid: must be two digits, e.g. '02'")
        if self.profile not in PROFILE_NAMES:
            raise ConfigError(f"{where}: profile = {self.profile!r} is invalid; valid choices: {PROFILE_NAMES}")
        if not isinstance(self.method, str) or not self.method:
            raise ConfigError(f"{where}: method = {self.method!r} is invalid: must be a non-empty string")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"{where}: seed = {self.seed!r} is invalid: must be an int >= 0")
        if not isinstance(self.params, tuple) or not all(isinstance(p, tuple) and len(p) == 2 for p in self.params):
            raise ConfigError(f"{where}: params must be a tuple of (name, value) pairs; use RunSpec.make(...)")
        names = [name for name, _ in self.params]
        if not all(isinstance(n, str) and n for n in names):
            raise ConfigError(f"{where}: parameter names {names!r} must be non-empty strings")
        if names != sorted(set(names)):
            raise ConfigError(f"{where}: parameter names {names!r} must be sorted and unique; use RunSpec.make(...)")
        reserved = {"notebook", "profile", "method", "seed"} & set(names)
        if reserved:
            raise ConfigError(f"{where}: parameter names {sorted(reserved)} are reserved (fields of RunSpec)")
        object.__setattr__(self, "params", tuple((n, _freeze(v, f"{where}: parameter {n!r}")) for n, v in self.params))
        if isinstance(self.after, str) or not isinstance(self.after, tuple):
            raise ConfigError(f"{where}: after = {self.after!r} is invalid: must be a tuple of run keys")
        bad = [k for k in self.after if not (isinstance(k, str) and _KEY.match(k))]
        if bad:
            raise ConfigError(f"{where}: after = {self.after!r} is invalid: {bad!r} are not 16-hex-digit run keys")
        if isinstance(self.gpu_hours, bool) or not isinstance(self.gpu_hours, (int, float)) \
                or not math.isfinite(self.gpu_hours) or self.gpu_hours < 0:
            raise ConfigError(f"{where}: gpu_hours = {self.gpu_hours!r} is invalid: must be a finite number >= 0")
        object.__setattr__(self, "gpu_hours", float(self.gpu_hours))

    @classmethod
    def make(cls, notebook: str, profile: str, method: str, seed: int, *, after: tuple = (), gpu_hours: float = 0.0,
             **params: Any) -> "RunSpec":
        """Build a spec from keyword hyper-parameters.

        Parameters
        ----------
        notebook, profile, method, seed
            As in the class.
        after : iterable of str or RunSpec
            Runs that must be stored first, by key or as their specs.
        gpu_hours : float
        **params
            The run's hyper-parameters, data and backbone (JSON-able values).

        Examples
        --------
        >>> spec = RunSpec.make("02", "smoke", "FairLoRA", 0, lam=0.5, rank=8)
        >>> spec.param("rank"), spec.to_dict()["params"]
        (8, {'lam': 0.5, 'rank': 8})
        """
        keys = tuple(a.key if isinstance(a, RunSpec) else a for a in (after if not isinstance(after, str) else (after,)))
        return cls(notebook=notebook, profile=profile, method=method, seed=seed, params=tuple(sorted(params.items())),
                   after=keys, gpu_hours=gpu_hours)

    def param(self, name: str, default: Any = _REQUIRED) -> Any:
        """The value of hyper-parameter ``name`` (``default`` if given and absent).

        Raises
        ------
        KeyError
            If ``name`` is absent and no default is given (the message lists the parameters there are).
        """
        for n, value in self.params:
            if n == name:
                return value  # as held: lists as tuples, dicts read-only
        if default is _REQUIRED:
            raise KeyError(f"run {self.method!r} seed {self.seed} of notebook {self.notebook} has no parameter "
                           f"{name!r}; its parameters: {[n for n, _ in self.params]}")
        return default

    def to_dict(self) -> dict:
        """``{"notebook", "profile", "method", "seed", "params": {...}}``: what the run store keys the run by."""
        return {"notebook": self.notebook, "profile": self.profile, "method": self.method, "seed": self.seed,
                "params": {name: _thaw(value) for name, value in self.params}}

    @property
    def key(self) -> str:
        """The run-store key, ``fairlib.train.run_key(self.to_dict())`` (the run's folder name)."""
        from ..train import run_key

        return run_key(self.to_dict())

    @property
    def namespace(self) -> str:
        """The run store's namespace of this run, ``"<notebook>-<profile>"``."""
        return f"{self.notebook}-{self.profile}"

    def describe(self) -> str:
        """``"<key> (<method>, seed <seed>, notebook <nn>)"``, for messages."""
        return f"{self.key} ({self.method}, seed {self.seed}, notebook {self.notebook})"
