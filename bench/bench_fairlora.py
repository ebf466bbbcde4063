"""FairLoRA's overhead: training-step time with the loss-variance term over plain LoRA, measured side by side.

Both arms train the stand-in ViT architecture (smoke profile spec) with LoRA at the smoke rank on the same
Waterbirds-like batches through ``fairlib.train.fit``; the arms alternate (A B B A ...) so that a change in machine
load hits both alike, and the ratio of the median times is printed (target: < 1.10). The same is measured for
full fine-tuning (fair FFT vs FFT). Usage: ``python bench/bench_fairlora.py [--repeats 6] [--threads 1]``.
"""

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from fairlib.config import get_profile  # noqa: E402
from fairlib.data import waterbirds_like  # noqa: E402
from fairlib.methods.fairlora import FairLoRARegularizer  # noqa: E402
from fairlib.models import LoraSpec, adapt, image_classifier, vit_from_config  # noqa: E402
from fairlib.train import TrainConfig, fit, seed_everything  # noqa: E402

TARGET = 1.10


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=6, help="timed fits per arm")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--n", type=int, default=640, help="training examples per fit (batch 64)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    profile = get_profile("smoke")
    fc = profile.fairlora
    data = waterbirds_like(n_train=args.n, n_eval=20, seed=0).train
    config = TrainConfig(epochs=1, lr=fc.lr_lora, batch_size=fc.batch_size, seed=0)
    seed_everything(0)
    # Timing does not depend on the weights: a fresh network of the stand-in's architecture needs no cache.
    backbone = vit_from_config(**profile.stand_in_vit.vit_config())
    term = FairLoRARegularizer.for_dataset(data, lam=1.0, by=fc.groups)

    print(f"{'adaptation':12s} {'plain s':>8s} {'+term s':>8s} {'ratio':>7s}  target < {TARGET:.2f}")
    worst = 0.0
    for adaptation in ("lora", "full"):
        def fresh():
            seed_everything(0)
            model = image_classifier(copy.deepcopy(backbone), num_labels=2)
            return adapt(model, adaptation, lora=LoraSpec(r=fc.rank, alpha=fc.alpha_over_rank * fc.rank))

        times = {"plain": [], "term": []}
        fit(fresh(), data, config=config, progress=False)  # warm-up (first-call allocations, lazy imports)
        for i in range(2 * args.repeats):
            arm = ("plain", "term", "term", "plain")[i % 4]
            result = fit(fresh(), data, config=config, loss_terms=[term] if arm == "term" else [], progress=False)
            times[arm].append(result.seconds)
        plain, fair = statistics.median(times["plain"]), statistics.median(times["term"])
        ratio = fair / plain
        worst = max(worst, ratio)
        if adaptation == "lora":
            lora_plain = plain
        print(f"{adaptation:12s} {plain:8.3f} {fair:8.3f} {ratio:7.3f}  (steps per fit: {int(np.ceil(args.n / 64))})")
    # The term in isolation (forward and backward of the penalty on one batch's per-sample losses), as a share of
    # a plain LoRA step: a noise-free upper bound on what the term can add.
    batch = {"y": torch.as_tensor(data.y[:64]), "s": torch.as_tensor(data.s[:64])}
    losses = torch.rand(64, requires_grad=True)
    repeats = 2000
    start = time.perf_counter()
    for _ in range(repeats):
        term(None, batch, per_sample_loss=losses).backward()
    per_call = (time.perf_counter() - start) / repeats
    step = lora_plain / int(np.ceil(args.n / 64))
    print(f"term alone: {per_call * 1e3:.3f} ms per step = {per_call / step:.1%} of a plain LoRA step "
          f"({step * 1e3:.1f} ms)")
    print(f"FairLoRA overhead: {'meets' if worst < TARGET else 'MISSES'} the target (worst ratio {worst:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
