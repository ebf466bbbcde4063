"""LoRA vs full fine-tuning: training-step time and optimizer-state memory, as ratios measured in one run.

Both arms are the same pretrained backbone with the same linear head, stepped on the *same* batch with AdamW (as
``fairlib.train.fit`` does): LoRA (peft, query/value, head trained) and full fine-tuning. Steps alternate
(L F F L ...) so that a change in machine load hits both arms alike; the ratio of the median step times is printed.
Optimizer-state memory is read off the optimizers themselves after a step (AdamW keeps two moments per trainable
parameter, plus a step counter); gradient memory is the trainable parameters' gradients.

Backbones: the shipped all-MiniLM-L6-v2 (22.7M parameters, the notebook's text model) on a batch of stand-in comments,
and the stand-in ViT architecture (139k parameters) on a batch of 28x28 images, where the backward pass through the
whole network dominates and LoRA saves little time (see OFFLINE_ASSETS: about 0.9x).
Usage: ``python bench/bench_lora_vs_full.py [--repeats 10] [--threads 1] [--batch 32]``.
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
import torch.nn.functional as F  # noqa: E402

from fairlib.config import get_profile  # noqa: E402
from fairlib.data import religion_standin, utk_like  # noqa: E402
from fairlib.models import (LoraSpec, adapt, count_parameters, image_classifier, text_classifier,  # noqa: E402
                            vit_from_config)
from fairlib.train import seed_everything, tokenize_texts  # noqa: E402


def _bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor))


def optimizer_state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes held in the optimizer's state (AdamW: exp_avg, exp_avg_sq and a step tensor per parameter)."""
    return sum(_bytes(state.values()) for state in optimizer.state.values())


def measure(name: str, make_model, x, y, *, repeats: int, lr: float) -> dict:
    arms = {}
    for method in ("lora", "full"):
        seed_everything(0)
        model = make_model(method)
        params = [p for p in model.parameters() if p.requires_grad]
        arms[method] = {"model": model, "params": params, "optimizer": torch.optim.AdamW(params, lr=lr),
                        "times": [], "counts": count_parameters(model)}

    def step(arm: dict) -> float:
        start = time.perf_counter()
        loss = F.cross_entropy(arm["model"](x), y)
        loss.backward()
        arm["optimizer"].step()
        arm["optimizer"].zero_grad(set_to_none=False)  # gradients stay allocated: their memory is measured below
        return time.perf_counter() - start

    for arm in arms.values():  # warm-up: first-call allocations, lazy state creation
        step(arm)
    for i in range(2 * repeats):
        method = ("lora", "full", "full", "lora")[i % 4]
        arms[method]["times"].append(step(arms[method]))
    out = {}
    for method, arm in arms.items():
        out[method] = {"median_s": statistics.median(arm["times"]), "trainable": arm["counts"]["trainable"],
                       "total": arm["counts"]["total"], "optimizer_bytes": optimizer_state_bytes(arm["optimizer"]),
                       "gradient_bytes": _bytes(p.grad for p in arm["params"])}
    lora, full = out["lora"], out["full"]
    print(f"\n{name}: batch {len(y)}, {repeats} timed steps per arm (interleaved)")
    print(f"  {'':10s} {'step s':>9s} {'trainable':>12s} {'optimizer MB':>13s} {'grad MB':>9s}")
    for method in ("lora", "full"):
        r = out[method]
        print(f"  {method:10s} {r['median_s']:9.4f} {r['trainable']:12,d} {r['optimizer_bytes'] / 2**20:13.3f} "
              f"{r['gradient_bytes'] / 2**20:9.3f}")
    print(f"  ratio LoRA / full: step time {lora['median_s'] / full['median_s']:.3f}, optimizer state "
          f"{lora['optimizer_bytes'] / full['optimizer_bytes']:.4f}, gradients "
          f"{lora['gradient_bytes'] / full['gradient_bytes']:.4f}, trainable parameters "
          f"{lora['trainable'] / full['trainable']:.4f}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=10, help="timed steps per arm")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--batch", type=int, default=32, help="examples per step (the authors' effective batch)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    lc = get_profile("smoke").lora_fairness

    from transformers import AutoModel, AutoTokenizer

    from fairlib.models import minilm_path

    encoder = AutoModel.from_pretrained(str(minilm_path()))
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path()))
    texts = religion_standin(n=args.batch, seed=0)
    x_text = tokenize_texts(texts.x, tokenizer, max_length=lc.max_length)
    y_text = torch.as_tensor(texts.y)

    def minilm(method):
        model = text_classifier(copy.deepcopy(encoder), num_labels=2)
        return adapt(model, method, lora=LoraSpec(r=lc.text_rank, alpha=lc.text_alpha))

    measure(f"all-MiniLM-L6-v2 (LoRA r={lc.text_rank}, alpha={lc.text_alpha:g})", minilm, x_text, y_text,
            repeats=args.repeats, lr=lc.text_lr_lora)

    images = utk_like(n=args.batch, seed=0)
    x_img, y_img = torch.as_tensor(images.x), torch.as_tensor(images.y)
    # Timing does not depend on the weights: a fresh network of the stand-in's architecture needs no cache.
    vit = vit_from_config(**get_profile("smoke").stand_in_vit.vit_config())

    def tiny_vit(method):
        model = image_classifier(copy.deepcopy(vit), num_labels=2)
        return adapt(model, method, lora=LoraSpec(r=lc.vision_rank, alpha=lc.vision_alpha))

    measure(f"stand-in ViT (LoRA r={lc.vision_rank}, alpha={lc.vision_alpha:g})", tiny_vit, x_img, y_img,
            repeats=args.repeats, lr=lc.vision_lr_lora)
    print(f"\n(threads {torch.get_num_threads()}; medians of interleaved steps; numpy {np.__version__}, torch "
          f"{torch.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
