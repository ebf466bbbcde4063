"""Trains a tiny MLP on 512 Adult rows and saves its test logits; run directly or under `accelerate launch`."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fairlib.data import load_adult, make_splits, standardize  # noqa: E402
from fairlib.models import mlp_classifier  # noqa: E402
from fairlib.train import TrainConfig, end_processes, fit, make_accelerator, predict, seed_everything  # noqa: E402


def main(out: str) -> None:
    data = load_adult(verbose=False)
    splits = standardize(make_splits(data.subset(np.arange(1280)), seed=0))
    accelerator = make_accelerator(cpu=True)
    seed_everything(0)
    model = mlp_classifier(34, hidden=(8,))
    # 768 training rows, global batch 64: 12 full steps per epoch, so both processes always see equal halves.
    train = splits.train.subset(np.arange(768))
    result = fit(model, train, config=TrainConfig(epochs=2, lr=0.01, batch_size=64, seed=0),
                 accelerator=accelerator, progress=False)
    if accelerator.is_main_process:
        logits = predict(accelerator.unwrap_model(model), splits.test).logits
        np.savez(out, logits=logits, processes=result.num_processes, losses=np.asarray(result.epoch_losses))


if __name__ == "__main__":
    main(sys.argv[1])
    end_processes()  # wait for every process, then tear the process group down
