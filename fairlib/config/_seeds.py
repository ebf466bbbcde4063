"""How many seeds the smoke profile spends where: the rule behind every section's ``seeds`` at ``smoke``.

A comparison that decides a verdict at ``smoke`` (real data: Adult in notebooks 04, 05 and 06) runs on
:data:`VERDICT_SEEDS` (issue 12: at least 10 per claimed comparison). A stand-in never decides a verdict about a
paper's dataset: its rows are ``not run (stand-in)``, the stand-in's result shown beside them as evidence. That
evidence runs on :data:`STANDIN_SEEDS`, as many seeds as the ``full`` profile gives the papers' data, and each
claim row resting on it says so (``detail["power"]``, :func:`fairlib.evidence.evaluate`).

Why not 10 everywhere: measured from fresh clones of the same commit (c4cba94), ``make reproduce`` took 19 min
06 s on one 2-core machine and 27 min 19 s on another (1.46x the worker time), against a 20-minute budget. Ten
seeds of stand-in evidence in notebooks 01-03 and on the image stand-ins of 05 and 06 cost about a third of the
runs' CPU time and decided nothing; with five, the whole reproduction fits 20 minutes on the slower machine
(``bench/results/make_reproduce_smoke.txt``). A user who wants ten runs ``-p seeds "[0, 1, ..., 9]"``.
"""

from __future__ import annotations

__all__ = ["VERDICT_SEEDS", "STANDIN_SEEDS"]

#: Seeds of a smoke comparison that decides a verdict (real data).
VERDICT_SEEDS: tuple[int, ...] = tuple(range(10))

#: Seeds of smoke evidence on stand-in data, which decides no verdict (the full profile's count).
STANDIN_SEEDS: tuple[int, ...] = tuple(range(5))
