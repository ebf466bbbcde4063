"""FairLoRA's penalty on one global batch and in a short training run; run directly or under `accelerate launch`.

Saves (from the main process) the penalty, the process-averaged loss and the gradient of one step on a fixed
global batch of 16 examples whose groups are uneven, absent from one process's half or from the whole batch;
the gradient a naive per-process penalty would give; the penalty and adapter gradient of the same step for a tiny
LoRA ViT (peft); and the test logits after two epochs of ``fit`` with the
term. With two processes each holds half of every global batch.
"""

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fairlib.data import GroupedDataset  # noqa: E402
from fairlib.methods.fairlora import FairLoRARegularizer, loss_variance_penalty  # noqa: E402
from fairlib.models import LoraSpec, adapt, image_classifier, mlp_classifier, vit_from_config  # noqa: E402
from fairlib.train import TrainConfig, end_processes, fit, make_accelerator, predict, seed_everything  # noqa: E402


def dataset(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = rng.choice(3, size=n, p=[0.7, 0.25, 0.05])
    x = (rng.normal(size=(n, 5)) + y[:, None] + 0.8 * s[:, None]).astype(np.float32)
    return GroupedDataset(name="toy", x=x, y=y, s=s, group_names=("a", "b", "c"), class_names=("0", "1"),
                          sensitive_name="g")


def tiny_lora_vit():
    backbone = vit_from_config(image_size=8, num_channels=1, patch_size=4, hidden_size=16, num_hidden_layers=1,
                               num_attention_heads=2, intermediate_size=16)
    return adapt(image_classifier(backbone, num_labels=2), "lora", lora=LoraSpec(r=2, alpha=2))


def one_step(accelerator, *, naive, lora=False):
    seed_everything(0)
    model = tiny_lora_vit() if lora else mlp_classifier(5, hidden=(8,))
    prepared = accelerator.prepare(model)
    # Global batch of 16: groups by class x attribute (6 codes); code 5 (y=1, s=2) never occurs, code 4 occurs
    # only in the first half, group sizes range from 1 to 5.
    rng = np.random.default_rng(7)
    shape = (16, 1, 8, 8) if lora else (16, 5)
    x = torch.as_tensor(rng.normal(size=shape), dtype=torch.float32)
    y = torch.tensor([0, 0, 1, 0, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1, 1, 0])
    s = torch.tensor([2, 0, 0, 1, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1])
    share = 16 // accelerator.num_processes
    part = slice(accelerator.process_index * share, (accelerator.process_index + 1) * share)
    term = FairLoRARegularizer(lam=4.0, by="class_attribute", num_classes=2, num_attributes=3)
    logits = prepared(x[part])
    per_sample = F.cross_entropy(logits, y[part], reduction="none")
    if naive:  # what one would get from each process's own share of the batch
        groups = y[part] * 3 + s[part]
        penalty = loss_variance_penalty(per_sample, groups, num_groups=6, lam=4.0, accelerator=None)
    else:
        penalty = term(logits, {"y": y[part], "s": s[part]}, per_sample_loss=per_sample, accelerator=accelerator)
    loss = per_sample.mean() + penalty
    accelerator.backward(loss)
    grad = torch.cat([p.grad.flatten() for p in model.parameters() if p.requires_grad]).numpy().copy()
    mean_loss = accelerator.reduce(loss.detach(), reduction="mean").item()
    return float(penalty.detach()), mean_loss, grad


def main(out):
    accelerator = make_accelerator(cpu=True)
    penalty, loss, grad = one_step(accelerator, naive=False)
    _, _, naive_grad = one_step(accelerator, naive=True)
    # The same through peft's LoRA (at step one the B matrices and the head carry the gradient, as B starts at 0).
    lora_penalty, _, lora_grad = one_step(accelerator, naive=False, lora=True)

    train, test = dataset(256, 0), dataset(64, 1)
    seed_everything(0)
    model = mlp_classifier(5, hidden=(8,))
    term = FairLoRARegularizer.for_dataset(train, lam=2.0, by="class_attribute")
    # 256 rows, global batch 32: 8 full steps per epoch, so both processes always see equal halves.
    fit(model, train, config=TrainConfig(epochs=2, lr=0.02, batch_size=32, seed=0), loss_terms=[term],
        accelerator=accelerator, progress=False)
    if accelerator.is_main_process:
        logits = predict(accelerator.unwrap_model(model), test).logits
        np.savez(out, processes=accelerator.num_processes, penalty=penalty, loss=loss, grad=grad,
                 naive_grad=naive_grad, logits=logits, lora_penalty=lora_penalty, lora_grad=lora_grad)


if __name__ == "__main__":
    main(sys.argv[1])
    end_processes()  # wait for every process, then tear the process group down
