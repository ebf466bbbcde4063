"""Test helper: a sensitive adapter the auditor could send, its LoRA update moved away from peft's zero start."""

import torch

from fairlib.methods.privacy_roles import save_exchange
from fairlib.models import LoraSpec, adapt


def moved_lora_exchange(backbone, folder, *, r=2, alpha=2):
    """Wrap ``backbone`` in LoRA (rank ``r``, ``alpha``), draw every ``lora_B`` from N(0, 1) with torch's global
    generator (so B A != 0), save it as an exchange folder ``folder`` and return the wrapped model."""
    model = adapt(backbone, "lora", lora=LoraSpec(r=r, alpha=alpha))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_()
    save_exchange(model, folder)
    return model
