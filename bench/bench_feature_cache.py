"""Time one epoch of head training on cached backbone features against re-running the frozen backbone.

Notebook 04's head-only methods (TL, f+SVD, OURS) train only the last layer, so the frozen backbone's output
for an image never changes: :class:`fairlib.methods.feature_cache.FeatureCache` computes it once per backbone
and dataset. This script measures what that saves, side by side in one run: the same head, the same batches
(same seed) and the same loop (:func:`fairlib.methods.feature_cache.fit_on_features`), one epoch

* **recompute**: on the images, through the frozen backbone at every batch;
* **cached**: on the cached feature matrix;

alternating the two arms (A B B A ...) so that a change in machine load hits both alike. It prints the median
time per epoch of each arm and their ratio (target >= 10x), the one-off cost of computing the features, the
number of epochs after which the cache has paid for itself, and the largest difference between the two trained
heads (the same computation, so it must be float noise). Exits non-zero if the target is missed.

Backbone: the smoke profile's stand-in ViT architecture (the weights do not change the timing, so a fresh
network of that architecture needs no cache), on the CelebA-like stand-in images.
Usage: ``python bench/bench_feature_cache.py [--n 2000] [--repeats 3] [--threads 1]``.
"""

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from fairlib.config import get_profile  # noqa: E402
from fairlib.data import celeba_like  # noqa: E402
from fairlib.methods.feature_cache import FeatureCache, fit_on_features  # noqa: E402
from fairlib.models import Classifier, image_classifier, vit_from_config  # noqa: E402
from fairlib.train import TrainConfig, seed_everything  # noqa: E402

TARGET = 10.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000, help="training images per epoch")
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs per arm")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    profile = get_profile("smoke")
    data = celeba_like(n=args.n, seed=0)
    seed_everything(0)
    classifier = image_classifier(vit_from_config(**profile.stand_in_vit.vit_config()), num_labels=2)
    classifier.eval().requires_grad_(False)
    head0 = copy.deepcopy(classifier.head).requires_grad_(True)
    config = TrainConfig(epochs=1, lr=profile.fisher.finetune_lr, batch_size=profile.fisher.batch_size, seed=0)

    start = time.perf_counter()
    cached = FeatureCache(disk=False).features(classifier, data, spec={"bench": "feature_cache", "n": args.n})
    extract = time.perf_counter() - start

    def recompute_epoch():
        head = copy.deepcopy(head0)
        model = Classifier(classifier.backbone, head, pool=classifier._pool, model_type="vit")
        start = time.perf_counter()
        fit_on_features(model, data, config=config, progress=False)
        return time.perf_counter() - start, head

    def cached_epoch():
        head = copy.deepcopy(head0)
        start = time.perf_counter()
        fit_on_features(head, cached, config=config, progress=False)
        return time.perf_counter() - start, head

    times = {"recompute": [], "cached": []}
    heads = {}
    order = ["recompute", "cached", "cached", "recompute"] * ((args.repeats + 1) // 2)
    for arm in order[:2 * args.repeats]:
        seconds, head = (recompute_epoch if arm == "recompute" else cached_epoch)()
        times[arm].append(seconds)
        heads[arm] = head
    t_re, t_ca = statistics.median(times["recompute"]), statistics.median(times["cached"])
    ratio = t_re / t_ca
    gap = max((a - b).abs().max().item() for a, b in zip(heads["recompute"].parameters(),
                                                         heads["cached"].parameters()))
    n_params = sum(p.numel() for p in classifier.backbone.parameters())
    print(f"backbone: stand-in ViT architecture ({n_params:,} parameters, frozen); {args.n} images, batch "
          f"{config.batch_size}, threads={torch.get_num_threads()}")
    print(f"one-off feature extraction: {extract:.2f} s")
    print(f"per epoch: recompute backbone {t_re * 1e3:9.1f} ms   cached features {t_ca * 1e3:7.1f} ms   "
          f"ratio {ratio:7.1f}x (target >= {TARGET:.0f}x)")
    print(f"the cache pays for itself after {extract / max(t_re - t_ca, 1e-9):.2f} epoch(s); max |head difference| "
          f"between the arms {gap:.1e}")
    ok = ratio >= TARGET and gap < 1e-4
    print("OK" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
