"""GPU check of the full profile's vision path: a ViT-Base-sized model, LoRA and full fine-tuning under bf16.

Builds the full profile's vision model shape (a transformers ``ViTModel`` from a ViT-Base/16 config with random
weights and a linear head, :func:`fairlib.models.image_classifier`), writes images in CelebA's layout
(``img_align_celeba/`` + the two text files, with ``tests/fixtures_full.py``'s writers, 178x218 JPEGs as in the
release), loads them with :func:`fairlib.data.load_celeba` and trains LoRA and full fine-tuning through
:func:`fairlib.train.fit` with ``mixed_precision="bf16"`` (autocast on a GPU; off on a CPU). Printed, one
``key=value`` line per arm and one for LiRA:

- ``images_per_s``: training images per second (data loading included);
- ``peak_memory_gb``: peak GPU memory allocated (``torch.cuda.max_memory_allocated``; on a CPU the process's
  peak resident memory, ``memory_source=cpu-rss``) and ``estimate_gb``: :func:`fairlib.models.training_state_gb`
  for the same parameter counts (fp32 weights, as autocast keeps them; activations come on top);
- ``lira_seconds``: :func:`fairlib.methods.membership.lira_scores` (online, per-example variances) plus the
  logit-scaled confidences for ``--candidates`` examples and ``--shadows`` shadow models.

Usage: ``python bench/bench_gpu.py`` (one GPU; finishes in a few minutes on an H200) or ``--tiny`` (a 2-layer,
64-wide ViT on 32-px images, a few steps: what the test suite runs on the CPU).
"""

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from fairlib.data import ImageFileDataset, load_celeba, make_image_processor  # noqa: E402
from fairlib.methods.membership import (lira_scores, logit_scaled_confidence_from_logits,  # noqa: E402
                                        shadow_membership)
from fairlib.models import LoraSpec, adapt, count_parameters, image_classifier, training_state_gb  # noqa: E402
from fairlib.models import vit_from_config  # noqa: E402
from fairlib.train import TrainConfig, fit, seed_everything  # noqa: E402
from tests.fixtures_full import write_celeba, write_image  # noqa: E402

VIT_BASE = dict(image_size=224, patch_size=16, num_channels=3, hidden_size=768, num_hidden_layers=12,
                num_attention_heads=12, intermediate_size=3072)
VIT_TINY = dict(image_size=32, patch_size=8, num_channels=3, hidden_size=64, num_hidden_layers=2,
                num_attention_heads=2, intermediate_size=128)
SIZES = {
    "gpu": dict(vit=VIT_BASE, images=3072, epochs=2, batch=128, picture=(178, 218), candidates=50_000, shadows=64,
                workers=min(12, os.cpu_count() or 1)),
    "tiny": dict(vit=VIT_TINY, images=48, epochs=1, batch=16, picture=(24, 28), candidates=500, shadows=8, workers=0),
}


def celeba_layout(root: Path, n: int, picture: tuple[int, int]) -> Path:
    """``n`` training images in CelebA's layout (Smiling / Male from the image index), release-sized pictures."""
    rows = [(f"{i + 1:06d}.jpg", {"Smiling": i % 2, "Male": (i // 2) % 2}, 0) for i in range(n)]
    rows = [(name, {k: 1 for k, v in attrs.items() if v}, split) for name, attrs, split in rows]
    write_celeba(root, rows)
    for i, (name, _, _) in enumerate(rows):  # the writers' default pictures are 12x10; CelebA's are 178x218
        write_image(root / "img_align_celeba" / name, seed=i, size=picture)
    return root


def peak_memory_gb(on_gpu: bool) -> tuple[float, str]:
    if on_gpu:
        return torch.cuda.max_memory_allocated() / 1e9, "gpu"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9, "cpu-rss"


def train_arm(arm: str, dataset, size: dict, on_gpu: bool) -> str:
    seed_everything(0)
    model = adapt(image_classifier(vit_from_config(**size["vit"]), num_labels=2), arm, lora=LoraSpec(r=16, alpha=16))
    counts = count_parameters(model)
    if on_gpu:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    config = TrainConfig(epochs=size["epochs"], lr=1e-4 if arm == "full" else 1e-3, batch_size=size["batch"],
                         mixed_precision="bf16", seed=0)
    result = fit(model, dataset, config=config, desc=f"bench {arm}", num_workers=size["workers"])
    if on_gpu:
        torch.cuda.synchronize()
    peak, source = peak_memory_gb(on_gpu)
    estimate = training_state_gb(counts["total"], counts["trainable"], weights="fp32")
    images = size["epochs"] * len(dataset)
    del model
    return (f"arm={arm} images={images} seconds={result.seconds:.6g} images_per_s={images / result.seconds:.2f} "
            f"peak_memory_gb={peak:.4f} estimate_gb={estimate:.4f} memory_source={source} "
            f"trainable_params={counts['trainable']} total_params={counts['total']} "
            f"final_loss={result.epoch_losses[-1]:.4f}")


def lira_timing(size: dict) -> str:
    rng = np.random.default_rng(0)
    n, k = size["candidates"], size["shadows"]
    labels = rng.integers(0, 2, n)
    start = time.perf_counter()
    target = logit_scaled_confidence_from_logits(rng.normal(size=(n, 2)), labels)
    shadows = np.stack([logit_scaled_confidence_from_logits(rng.normal(size=(n, 2)), labels) for _ in range(k)])
    scores = lira_scores(target, shadows, shadow_membership(n, k, seed=0), online=True)
    seconds = time.perf_counter() - start
    assert scores.shape == (n,) and np.isfinite(scores).all()
    return f"lira candidates={n} shadows={k} lira_seconds={seconds:.4f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="2-layer, 64-wide ViT on 32-px images (CPU, tests)")
    parser.add_argument("--images", type=int, help="training images (default 3072, tiny 48)")
    args = parser.parse_args(argv)
    size = dict(SIZES["tiny" if args.tiny else "gpu"])
    if args.images is not None:
        if args.images < size["batch"]:
            parser.error(f"--images {args.images}: at least one batch ({size['batch']}) is needed")
        size["images"] = args.images
    on_gpu = torch.cuda.is_available()
    if not on_gpu and not args.tiny:
        print("warning: no GPU; the default size is meant for one, expect a long run", file=sys.stderr)
    device = torch.cuda.get_device_name(0) if on_gpu else "cpu"
    print(f"device={device.replace(' ', '_')} vit_hidden={size['vit']['hidden_size']} "
          f"vit_layers={size['vit']['num_hidden_layers']} image_px={size['vit']['image_size']} "
          f"torch={torch.__version__}", flush=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = celeba_layout(Path(tmp) / "celeba", size["images"], size["picture"])
        data = load_celeba(root=root, target="Smiling", sensitive="Male", split="train", verbose=False)
        processor = make_image_processor(size=size["vit"]["image_size"])
        dataset = ImageFileDataset.from_grouped(data, processor=processor, train=True, seed=0)
        print(f"data images={len(dataset)} write_and_load_seconds={time.perf_counter() - start:.3f}", flush=True)
        for arm in ("lora", "full"):
            print(train_arm(arm, dataset, size, on_gpu), flush=True)
    print(lira_timing(size), flush=True)
    print(f"total_seconds={time.perf_counter() - start:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
