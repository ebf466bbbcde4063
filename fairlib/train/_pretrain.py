"""Pre-training of the stand-in backbone, once, cached under ``data/cache``."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import torch

from .. import paths
from ..data import FASHION_CLASSES, GroupedDataset, load_fashion_mnist
from ..models import TinyViTSpec, image_classifier, images_to_tensor, vit_from_config
from ..report import atomic_write
from ._config import TrainConfig
from ._loop import fit, predict
from ._runs import code_fingerprint, library_versions, run_key
from ._seed import seed_everything

__all__ = ["pretrained_tiny_vit"]


def pretrained_tiny_vit(spec: TinyViTSpec = TinyViTSpec(), *, force: bool = False, verbose: bool = True):
    """The stand-in ViT backbone (a transformers ``ViTModel``), pre-trained on Fashion-MNIST classes.

    Pre-training runs once per spec (on the first ``spec.pretrain_images`` of the 50,000 images reserved for
    it, see :data:`fairlib.data.PRETRAIN_SIZE`) and is cached under ``CACHE/tiny_vit/<key>/``; later calls
    load the cached weights in well under a second. The key covers the code fingerprint and library
    versions (:func:`fairlib.train.run_key`); a cached folder that cannot be loaded is moved aside to
    ``<key>.damaged`` with a warning naming it, and pre-training runs again.

    Returns
    -------
    transformers.ViTModel
        In evaluation mode; ``model.fairlib_pretraining`` holds the pre-training record (held-out accuracy).
    """
    from transformers import ViTModel

    folder = paths.CACHE / "tiny_vit" / run_key(spec.to_dict())
    record_path = folder / "pretraining.json"
    if record_path.exists() and not force:
        try:
            record = json.loads(record_path.read_text())
            model = ViTModel.from_pretrained(str(folder), add_pooling_layer=False)
        except Exception as error:  # noqa: BLE001 - any unreadable file means: pre-train again
            aside = folder.with_name(folder.name + ".damaged")
            if aside.exists():
                shutil.rmtree(aside)
            folder.rename(aside)
            warnings.warn(f"damaged stand-in backbone cache {folder}: {type(error).__name__}: {error}; "
                          f"moved to {aside}, pre-training again", stacklevel=2)
        else:
            model.fairlib_pretraining = record
            return model.eval()

    images, labels = load_fashion_mnist("pretrain")
    held_out = 2_000
    n = min(spec.pretrain_images, len(labels) - held_out)
    x = images_to_tensor(images)
    none = np.zeros(len(labels), dtype=np.int64)
    data = GroupedDataset(name="fashion-mnist-pretrain", x=x.numpy(), y=labels, s=none, group_names=("all",),
                          class_names=FASHION_CLASSES, sensitive_name="none")
    seed_everything(spec.seed)
    classifier = image_classifier(vit_from_config(**spec.vit_config()), num_labels=len(FASHION_CLASSES))
    if verbose:
        print(f"Pre-training the stand-in ViT on {n} Fashion-MNIST images for {spec.pretrain_epochs} epoch(s); "
              f"cached under {folder} for later runs.")
    config = TrainConfig(epochs=spec.pretrain_epochs, lr=spec.pretrain_lr, batch_size=256, weight_decay=0.05,
                         warmup_ratio=0.05, seed=spec.seed)
    result = fit(classifier, data.subset(np.arange(n)), config=config, desc="pre-train stand-in ViT")
    check = data.subset(np.arange(len(labels) - held_out, len(labels)))
    accuracy = float((predict(classifier, check).y_pred == check.y).mean())
    record = {"spec": spec.to_dict(), "code_fingerprint": code_fingerprint(), "versions": library_versions(),
              "images": n, "held_out_accuracy": accuracy,
              "epoch_losses": result.epoch_losses, "seconds": result.seconds}
    classifier.backbone.save_pretrained(str(folder))
    atomic_write(record_path, lambda t: t.write_text(json.dumps(record, indent=1)))
    if verbose:
        print(f"Stand-in ViT: held-out Fashion-MNIST accuracy {accuracy:.3f}")
    classifier.backbone.fairlib_pretraining = record
    return classifier.backbone.eval()
