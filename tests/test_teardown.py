"""Processes end cleanly: the process group fairlib initialised is torn down once, at the end, on success."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fairlib.train import end_processes

HERE = Path(__file__).resolve().parent


def test_end_processes_without_a_process_group_does_nothing():
    import torch

    assert not torch.distributed.is_initialized()
    assert end_processes() is False


@pytest.mark.multiprocess
def test_two_processes_launched_ten_times_all_end_cleanly(tmp_path):
    """`accelerate launch` with two processes aborted in 2 of 30 runs before the teardown (SIGABRT in rank 1), and
    in 1 of 10 on CI after it, while DDP's import of torch.distributed.nn kept the destroyed group alive."""
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    env = {**os.environ, "FAIRLIB_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    failures, losses = [], set()
    for i in range(10):
        mode = "explicit" if i % 2 == 0 else "atexit"
        out = tmp_path / f"run{i}"
        done = subprocess.run([accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                               "--mixed_precision", "no", "--dynamo_backend", "no",
                               str(HERE / "_teardown_two_process.py"), str(out), mode],
                              env=env, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            failures.append((i, mode, done.returncode, done.stderr[:1500] + " ... " + done.stderr[-2500:]))
            continue
        for rank in (0, 1):
            processes, destroyed, still_initialised, *epoch_losses = Path(f"{out}.{rank}").read_text().split()
            assert processes == "2"
            # the explicit call destroys the group; under "atexit" the hook does it after the file is written
            assert (destroyed, still_initialised) == (("1", "0") if mode == "explicit" else ("0", "1"))
            losses.add(tuple(epoch_losses))
            # the group is really freed: no gloo thread survives into interpreter exit, where a peer closing
            # its sockets could abort this process (torch.distributed.nn bound the group as a default argument)
            exit_record = Path(f"{out}.{rank}.exit")
            assert exit_record.exists(), (i, mode, rank, done.stderr[-2000:])
            assert exit_record.read_text() == "0", (i, mode, rank)
    assert not failures, failures
    assert len(losses) == 1  # every launch, both ranks, trained the same
