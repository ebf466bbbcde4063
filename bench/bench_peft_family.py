"""Cost of each PEFT method of notebook 06: seconds per optimiser step and trainable parameters, as ratios to LoRA.

One run per method on one task of the profile (default: the image stand-in of the ``test`` profile), each method at
its placement at a matched level (``--budget``, default the largest; :func:`fairlib.experiments.peft_family.budget_choices`), trained for ``--epochs`` epochs of
the task's training split (the fastest of ``--repeats`` runs is kept, after one untimed warm-up run) through :func:`fairlib.train.fit` (notebook 06's training loop, one torch thread). Prints a
table: trainable parameters (head included, as ``fit`` trains them), adapter parameters (head excluded, peft's
count), step seconds (training time / steps), each with its ratio to LoRA's. A method peft refuses is named.

Timings are of this machine at the time of the run (a shared machine adds noise); the parameter counts are exact.

Usage: ``python bench/bench_peft_family.py [--profile test|smoke] [--task KEY] [--methods lora vera ...]``.
"""

import argparse
import copy
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
import torch  # noqa: E402

from fairlib.config import OWN_SIZE, PROFILE_NAMES, get_profile  # noqa: E402
from fairlib.experiments import benchmark as bm  # noqa: E402
from fairlib.experiments import peft_family as pf  # noqa: E402
from fairlib.train import TrainConfig, fit, seed_everything  # noqa: E402


def one_method(task, splits, method: str, row: dict, profile, epochs: int) -> dict:
    seed_everything(0)
    model = task.make_classifier().requires_grad_(True).train()
    head = pf.head_parameters(model)
    kind = pf.get_peft_method(method).kind
    placement = None
    if kind == "adapter":
        value = lambda v: None if v is None or pd.isna(v) else int(v)  # noqa: E731
        placement = pf.Placement(row["modules"], value(row["layers"]), value(row["width"]))
    cfg = profile.peft_family
    config = TrainConfig(epochs=epochs, lr=cfg.lr(task.modality, full=method == "full"),
                         batch_size=profile.benchmark.budget(task.modality).batch_size, seed=0)
    steps = epochs * -(-len(splits.train) // config.batch_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = pf.wrap(model, method, placement, total_steps=steps)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        start = time.perf_counter()
        with pf.adalora_allocation(model):
            result = fit(model, splits.train, config=config, encode=task.encode, transform=task.transform,
                         progress=False)
        seconds = time.perf_counter() - start
    return {"method": method, "trainable": trainable, "adapter": pf.adapter_parameters(model, head),
            "steps": result.steps, "step_seconds": seconds / max(1, result.steps)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="test", choices=PROFILE_NAMES)
    parser.add_argument("--task", default="standin:utk-like:upper-body")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per timed run")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per method (the fastest is kept)")
    parser.add_argument("--methods", nargs="+", default=list(pf.PEFT_METHODS), choices=list(pf.PEFT_METHODS))
    parser.add_argument("--budget", default=None,
                        help='the adapters\' budget, e.g. "matched 0.1%%" (default: the largest matched level); '
                             "the references run at their own size")
    args = parser.parse_args()
    if "lora" not in args.methods:
        parser.error("--methods must include lora (the ratios' reference)")
    torch.set_num_threads(1)
    # the profile's attacked task stays among the tasks (the configuration requires it); only args.task is timed
    attacked = get_profile(args.profile).peft_family.lira_task
    tasks = list(dict.fromkeys([args.task] + ([attacked] if attacked else [])))
    profile = get_profile(args.profile, peft_family=dict(tasks=tasks, methods=args.methods))
    task = bm.load_task(args.task, profile, pretrained=False)
    splits = task.splits(0, profile.benchmark.split_fractions)
    choices = pf.budget_choices(profile, tasks=[args.task])
    rows = []
    levels = choices[choices["budget"].str.startswith("matched")].sort_values("level")["budget"].unique()
    budget = args.budget or levels[-1]
    if budget not in set(choices["budget"]):
        parser.error(f"--budget {budget!r}: valid choices: {sorted(set(choices['budget']) - {OWN_SIZE})}")
    matched = {m: choices[(choices["method"] == m) & (choices["budget"] == (
        OWN_SIZE if pf.get_peft_method(m).kind == "reference" else budget))].iloc[0].to_dict() for m in args.methods}
    one_method(task, splits, "lora", matched["lora"], profile, 1)  # warm-up (first-call costs), not timed
    for method in args.methods:
        try:
            runs = [one_method(task, splits, method, matched[method], profile, args.epochs) for _ in range(args.repeats)]
        except pf.NotApplicable as error:
            print(f"{method}: not applicable: {error}")
            continue
        best = min(runs, key=lambda r: r["step_seconds"])
        rows.append({**best, "within budget": bool(matched[method]["within"])})
    table = pd.DataFrame(rows).set_index("method")
    lora = table.loc["lora"]
    for column in ("trainable", "adapter", "step_seconds"):
        table[f"{column} / LoRA"] = table[column] / lora[column] if lora[column] else float("nan")
    print(f"{task.label}, profile {args.profile}, adapters at {budget}: {len(splits.train)} training examples, {args.epochs} epoch(s), "
          f"fastest of {args.repeats} runs per method, one thread")
    with pd.option_context("display.width", 250, "display.max_columns", None, "display.float_format", "{:.3g}".format):
        print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
