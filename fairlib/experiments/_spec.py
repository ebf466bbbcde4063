"""One run of an experiment's grid, as frozen, validated data (:class:`RunSpec`)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from ..config import PROFILE_NAMES, ConfigError, FrozenDict, freeze, get_profile, overrides_of, thaw

__all__ = ["RunSpec"]

_NOTEBOOK = re.compile(r"^\d\d$")
_KEY = re.compile(r"^[0-9a-f]{16}$")
_REQUIRED = object()


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
    overrides : dict
        How the grid's profile differs from the registered profile ``profile``
        (:func:`fairlib.config.overrides_of`); empty for a registered profile. A worker rebuilds the profile with
        :meth:`config`, ``get_profile(spec.profile, **spec.overrides)``. Non-empty overrides enter
        :meth:`to_dict` and so the key: a run of a modified profile never takes the place of the registered one's.

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
    overrides: FrozenDict = FrozenDict()

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
        object.__setattr__(self, "params", tuple((n, freeze(v, f"{where}: parameter {n!r}")) for n, v in self.params))
        if isinstance(self.after, str) or not isinstance(self.after, tuple):
            raise ConfigError(f"{where}: after = {self.after!r} is invalid: must be a tuple of run keys")
        bad = [k for k in self.after if not (isinstance(k, str) and _KEY.match(k))]
        if bad:
            raise ConfigError(f"{where}: after = {self.after!r} is invalid: {bad!r} are not 16-hex-digit run keys")
        if isinstance(self.gpu_hours, bool) or not isinstance(self.gpu_hours, (int, float)) \
                or not math.isfinite(self.gpu_hours) or self.gpu_hours < 0:
            raise ConfigError(f"{where}: gpu_hours = {self.gpu_hours!r} is invalid: must be a finite number >= 0")
        object.__setattr__(self, "gpu_hours", float(self.gpu_hours))
        if not isinstance(self.overrides, dict):
            raise ConfigError(f"{where}: overrides = {self.overrides!r} is invalid: must be a dict of profile fields "
                              f"(fairlib.config.overrides_of(profile))")
        object.__setattr__(self, "overrides", freeze(self.overrides, f"{where}: overrides"))

    @classmethod
    def make(cls, notebook: str, profile: Any, method: str, seed: int, *, after: tuple = (), gpu_hours: float = 0.0,
             **params: Any) -> "RunSpec":
        """Build a spec from keyword hyper-parameters.

        Parameters
        ----------
        notebook, method, seed
            As in the class.
        profile : str or fairlib.config.Profile
            A profile's name, or the Profile itself: its name and its :func:`~fairlib.config.overrides_of`
            (carried to the worker that trains the run).
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
        name, overrides = (profile, FrozenDict()) if isinstance(profile, str) else (
            getattr(profile, "name", profile), overrides_of(profile))
        return cls(notebook=notebook, profile=name, method=method, seed=seed, params=tuple(sorted(params.items())),
                   after=keys, gpu_hours=gpu_hours, overrides=overrides)

    def config(self) -> Any:
        """The profile this run belongs to, rebuilt: ``get_profile(self.profile, **self.overrides)``."""
        return get_profile(self.profile, **self.overrides)

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
        """``{"notebook", "profile", "method", "seed", "params": {...}}`` and, for a modified profile,
        ``"overrides"``: what the run store keys the run by."""
        out = {"notebook": self.notebook, "profile": self.profile, "method": self.method, "seed": self.seed,
               "params": {name: thaw(value) for name, value in self.params}}
        if self.overrides:
            out["overrides"] = thaw(self.overrides)
        return out

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
        changed = f", profile {self.profile} with {thaw(self.overrides)}" if self.overrides else ""
        return f"{self.key} ({self.method}, seed {self.seed}, notebook {self.notebook}{changed})"
