"""Where a grid's time went, read from the run store: wall seconds per notebook and per method.

Every run the store holds records its whole wall time (training, evaluation, storing: ``manifest.json``'s
``seconds``, written by ``RunStore.run``). This sums them per run-store namespace (``01-smoke``, ...) and, within
each, per method and the parameters that set a run's cost (task, backbone, budget), largest first. These are
one worker's seconds: with ``W`` workers the pool's wall time is roughly their sum divided by ``W``. Runs stored
before the seconds were recorded are counted as "untimed".

Usage: ``python bench/pool_costs.py [--store DIR] [--top 8]`` (default store: ``CACHE/runs``).
"""

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fairlib import paths  # noqa: E402

#: Parameters that set what a run costs; the others (seed, learning rate, ...) are summed over.
COST_PARAMS = ("task", "backbone", "budget", "domain", "role")


def _label(spec: dict) -> str:
    params = spec.get("params", {})
    parts = [spec.get("method", "?")]
    for name in COST_PARAMS:
        value = params.get(name)
        if isinstance(value, dict):
            value = value.get("key", value.get("dataset"))
        if value not in (None, "", "test"):
            parts.append(str(value))
    return " / ".join(parts)


def costs(store: Path) -> dict:
    """``{namespace: {"runs", "seconds", "untimed", "by_label": {label: [runs, seconds]}}}`` of a run store."""
    out: dict = {}
    for namespace in sorted(p for p in store.iterdir() if p.is_dir()):
        entry = {"runs": 0, "seconds": 0.0, "untimed": 0, "by_label": defaultdict(lambda: [0, 0.0])}
        for folder in sorted(p for p in namespace.iterdir() if p.is_dir()):
            try:
                manifest = json.loads((folder / "manifest.json").read_text())
                spec = json.loads((folder / "spec.json").read_text())["spec"]
            except (OSError, ValueError, KeyError):
                continue  # unfinished or damaged: not a stored run
            entry["runs"] += 1
            seconds = manifest.get("seconds")
            if seconds is None:
                entry["untimed"] += 1
                continue
            entry["seconds"] += float(seconds)
            row = entry["by_label"][_label(spec)]
            row[0] += 1
            row[1] += float(seconds)
        if entry["runs"]:
            out[namespace.name] = entry
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, default=None, help="a run store (default CACHE/runs)")
    parser.add_argument("--top", type=int, default=8, help="rows per namespace (default 8)")
    args = parser.parse_args()
    store = args.store or paths.CACHE / "runs"
    if not store.is_dir():
        print(f"no run store at {store}", file=sys.stderr)
        return 1
    table = costs(store)
    timed = sum(e["seconds"] for e in table.values())
    total = timed or 1.0  # shares of nothing are 0%
    print(f"run store {store}: {sum(e['runs'] for e in table.values())} runs, {timed:.0f} s of one worker's time")
    for name, e in table.items():
        untimed = f", {e['untimed']} untimed" if e["untimed"] else ""
        print(f"\n{name}: {e['runs']} runs, {e['seconds']:.0f} s ({100 * e['seconds'] / total:.0f}%){untimed}")
        rows = sorted(e["by_label"].items(), key=lambda kv: -kv[1][1])
        for label, (n, seconds) in rows[:args.top]:
            print(f"  {seconds:8.1f} s  {n:4d} runs  {seconds / n:6.2f} s/run  {label}")
        if len(rows) > args.top:
            rest = rows[args.top:]
            print(f"  {sum(r[1][1] for r in rest):8.1f} s  {sum(r[1][0] for r in rest):4d} runs  (the other {len(rest)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
