"""Notebook 05 before/after the move onto the experiments layer: every record compared by its key after RENAMED.

Usage: python -m bench.compare_nb05_records BEFORE/05_results.json AFTER/05_results.json (from the repository root).
"""
import json, math, sys
from fairlib.experiments.benchmark import rename_record

a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
CHANGED = {"lora", "fairlora", "threshold"}  # LoRA's adapter init is now seeded per run
SKIP = ("seconds", "reused", "trained_now")
def same(x, y):
    if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y): return True
    return x == y
def table(name, key):
    A = {tuple(r[k] for k in key): rename_record(r) for r in a["metrics"][name]}
    B = {tuple(r[k] for k in key): r for r in b["metrics"][name]}
    print(f"{name}: {len(A)} before, {len(B)} after, keys equal: {set(A) == set(B)}")
    by = {}
    for k in A.keys() & B.keys():
        cols = [c for c in set(A[k]) | set(B[k]) if not any(s in c for s in SKIP)]
        bad = sorted(c for c in cols if not same(A[k].get(c, "<absent>"), B[k].get(c, "<absent>")))
        if bad: by[k] = bad
    for k, bad in sorted(by.items(), key=str):
        method = [x for x in k if x in CHANGED]
        print(f"   differs {k}: {'(LoRA family) ' if method else ''}{len(bad)} fields, e.g. {bad[:5]}")
    return by
table("runs", ("task", "method", "setting", "seed", "split"))
table("selection", ("task", "method"))
table("ranking", ("task", "method"))
table("pareto", ("task", "method"))
table("skipped", ("task", "method"))
table("tasks", ("task",))
table("methods", ("method",))
