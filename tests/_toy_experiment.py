"""A toy experiment for the executor's tests: a grid of tiny least-squares fits, one pre-training run first.

Registered under notebook ``00`` by the tests only (``monkeypatch.setitem(EXPERIMENTS, "00", __name__)``),
always with ``FAIRLIB_CACHE`` pointing at a temporary folder.

Grid at any profile: ``pretrain`` (seed 0), then ``erm`` x seeds (0, 1) and ``fair`` x lam (0.1, 1.0) x seeds
(0, 1), each starting from the pre-trained weights (``after``): 7 runs, 2.0 GPU-hours.

``profile`` is a name or a :class:`fairlib.config.Profile`; a Profile's overrides travel in every spec, and
each run records the profile its worker rebuilt (``spec.config()``) in its metrics: ``profile_seeds``,
``profile_description``.

Test hooks (parameters of hand-made specs, not in the grid): ``fail=True`` raises; ``kill_first=True`` ends its
process with ``os._exit`` on its first attempt (as a pre-empted or OOM-killed worker would), then trains.
"""

from __future__ import annotations

import os

import torch

from fairlib import paths
from fairlib.experiments import RunSpec
from fairlib.train import RunStore

NOTEBOOK = "00"
GPU_HOURS = {"pretrain": 0.5, "erm": 0.25, "fair": 0.25}


def pretrain_spec(profile) -> RunSpec:
    return RunSpec.make(NOTEBOOK, profile, "pretrain", 0, gpu_hours=GPU_HOURS["pretrain"], steps=30, width=4)


def jobs(profile) -> list[RunSpec]:
    pre = pretrain_spec(profile)
    grid = [pre]
    for seed in (0, 1):
        grid.append(RunSpec.make(NOTEBOOK, profile, "erm", seed, after=(pre,), gpu_hours=GPU_HOURS["erm"], steps=20,
                                 width=4, pretrained=pre.key))
    for lam in (0.1, 1.0):
        for seed in (0, 1):
            grid.append(RunSpec.make(NOTEBOOK, profile, "fair", seed, after=(pre,), gpu_hours=GPU_HOURS["fair"],
                                     steps=20, width=4, lam=lam, pretrained=pre.key))
    return grid


def _train(spec: RunSpec) -> tuple[dict, dict]:
    g = torch.Generator().manual_seed(1000 + spec.seed)
    width = spec.param("width")
    x = torch.randn(256, width, generator=g)
    group = (torch.arange(256) % 2).float()
    y = x @ torch.arange(1.0, width + 1) + 0.5 * group + 0.1 * torch.randn(256, generator=g)
    w = torch.zeros(width)
    if spec.param("pretrained", None) is not None:
        stored = RunStore(spec.namespace).load(pretrain_spec(spec.config()).to_dict())
        if stored is None:
            raise RuntimeError("the pre-trained run is not stored: the executor ran this run too early")
        w = stored[1]["w"].clone()
    w.requires_grad_(True)
    opt = torch.optim.SGD([w], lr=0.05)
    lam = spec.param("lam", 0.0)
    losses = []
    for _ in range(spec.param("steps")):
        opt.zero_grad()
        residual = (x @ w - y) ** 2
        loss = residual.mean() + lam * (residual[group == 1].mean() - residual[group == 0].mean()) ** 2
        loss.backward()
        opt.step()
        losses.append(loss.item())
    rebuilt = spec.config()  # what this worker knows of the grid's profile
    return ({"loss": losses[-1], "losses": losses, "profile_seeds": list(rebuilt.seeds),
             "profile_description": rebuilt.description}, {"w": w.detach()})


def run_job(spec: RunSpec) -> None:
    if spec.param("fail", False):
        raise ValueError(f"toy failure of seed {spec.seed}")
    if spec.param("kill_first", False):
        marker = paths.CACHE / "toy-attempts" / spec.key
        if not marker.exists():
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text("killed once")
            os._exit(137)
    RunStore(spec.namespace).run(spec.to_dict(), lambda: _train(spec))
