"""Time the vectorised per-group Fisher diagonal against the per-sample autograd loop, in one run.

10,000 samples, 20-d features, 2 classes, 2 groups (the Adult head of Zhang & Zhou). Prints both times, the
speed-up (target >= 10x) and the maximum relative error between the two (target < 1e-6); exits non-zero if a
target is missed. Usage: ``python bench/bench_fisher.py [--n 10000] [--repeats 5] [--threads 1]``.

The first call of ``torch.func.grad`` in a process imports ``torch._dynamo`` (several seconds, once per
process); it is timed and printed separately as the cold start and excluded from the speed-up, which compares
steady-state calls. Each timing is the median of ``--repeats`` runs (the loop: of fewer, it is slow).

Threads default to 1: the comparison is about vectorisation, not parallelism, and on a shared, oversubscribed
machine torch's intra-op threads made the vectorised call up to ~70x slower from synchronisation alone
(``--threads 0`` keeps torch's default, to see that effect).
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from fairlib.methods.fisher_svd import group_fisher_diagonal, group_fisher_diagonal_loop  # noqa: E402

TARGET_SPEEDUP = 10.0
TARGET_REL_ERR = 1e-6


def timed(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--loop-repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0 = torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    gen = torch.Generator().manual_seed(args.seed)
    layer = nn.Linear(20, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(2, 20, generator=gen))
        layer.bias.copy_(torch.randn(2, generator=gen))
    x = torch.randn(args.n, 20, generator=gen)
    y = torch.randint(0, 2, (args.n,), generator=gen)
    s = torch.randint(0, 2, (args.n,), generator=gen)

    start = time.perf_counter()
    group_fisher_diagonal(layer, x[:8], y[:8], groups=s[:8], num_groups=None)
    cold = time.perf_counter() - start

    print(f"n={args.n} features=20 classes=2 groups=2 threads={torch.get_num_threads()} torch={torch.__version__}")
    print(f"cold start (first torch.func call, imports torch._dynamo): {cold:.2f} s")
    results = {}
    for label, dtype in (("float64", torch.float64), ("float32", None)):
        t_vec, fast = timed(lambda: group_fisher_diagonal(layer, x, y, groups=s, dtype=dtype), args.repeats)
        t_loop, slow = timed(lambda: group_fisher_diagonal_loop(layer, x, y, groups=s, dtype=dtype),
                             args.loop_repeats)
        rel = ((fast.double() - slow.double()).abs() / slow.double().abs()).max().item()
        results[label] = (t_vec, t_loop, rel)
        print(f"[{label}] vectorised {t_vec * 1e3:9.1f} ms   loop {t_loop * 1e3:9.1f} ms   "
              f"speed-up {t_loop / t_vec:7.1f}x   max rel err {rel:.2e}")

    t_vec, t_loop, rel = results["float64"]  # the default precision of group_fisher_diagonal
    ok = t_loop / t_vec >= TARGET_SPEEDUP and rel < TARGET_REL_ERR
    print(f"default (float64): speed-up {t_loop / t_vec:.1f}x (target >= {TARGET_SPEEDUP:.0f}x), "
          f"max rel err {rel:.2e} (target < {TARGET_REL_ERR:.0e}) -> {'OK' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
