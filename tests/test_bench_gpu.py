"""bench/bench_gpu.py --tiny runs on the CPU and prints parseable, positive numbers."""

import os

import pytest
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _parse(line):
    return dict(field.split("=", 1) for field in line.split() if "=" in field)


def test_bench_gpu_tiny_prints_throughput_memory_and_lira_time():
    env = {**os.environ, "FAIRLIB_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_gpu.py"), "--tiny"], env=env, check=True,
                         capture_output=True, text=True, timeout=600).stdout
    lines = [_parse(line) for line in out.splitlines() if "=" in line]
    arms = {line["arm"]: line for line in lines if "arm" in line}
    assert set(arms) == {"lora", "full"}
    for arm in arms.values():
        for key in ("images_per_s", "peak_memory_gb", "estimate_gb", "seconds"):
            assert float(arm[key]) > 0, (key, arm)
        # throughput is what was trained over the time it took
        assert float(arm["images_per_s"]) == pytest.approx(
            int(arm["images"]) / float(arm["seconds"]), rel=0.01)
    # LoRA trains a small part of the tiny ViT; full fine-tuning trains all of it
    assert int(arms["lora"]["trainable_params"]) < int(arms["full"]["trainable_params"]) == \
        int(arms["full"]["total_params"])
    (lira,) = [line for line in lines if "lira_seconds" in line]
    assert float(lira["lira_seconds"]) > 0 and int(lira["candidates"]) > 0
