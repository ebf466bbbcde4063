"""A cheap two-process training run that ends by tearing the process group down; run under `accelerate launch`.

Writes (from each process) ``<out>.<rank>``: the number of processes, the epoch losses and whether
:func:`fairlib.train.end_processes` destroyed the group; and, from an atexit hook that runs after fairlib's,
``<out>.<rank>.exit``: how many gloo threads are still alive when the process exits (0 once the group is really
freed). Used to launch the multi-process case many times.
"""

import atexit
import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fairlib.data import GroupedDataset  # noqa: E402
from fairlib.methods.fairlora import FairLoRARegularizer  # noqa: E402
from fairlib.models import mlp_classifier  # noqa: E402
from fairlib.train import TrainConfig, end_processes, fit, make_accelerator, seed_everything  # noqa: E402


def gloo_threads() -> int:
    """Threads of gloo's transport and of torch's gloo backend alive in this process (Linux thread names).

    At exit threads end while they are listed: one whose entry vanished between the listing and the read has
    ended, and is not counted (reading it raised FileNotFoundError in 1 of ~200 launches)."""
    count = 0
    for task in os.listdir("/proc/self/task"):
        try:
            name = Path(f"/proc/self/task/{task}/comm").read_text().strip()
        except OSError:
            continue
        count += name.startswith(("gloo", "pt_gloo"))
    return count


def record_exit(path: str) -> None:
    """Write the gloo threads alive at exit, or what went wrong counting them (an atexit hook's exception is only
    printed, and the launch would still end with 0)."""
    try:
        value = str(gloo_threads())
    except Exception as error:  # noqa: BLE001 - the test shows it
        value = f"error: {error!r}"
    Path(path).write_text(value)


def main(out: str, mode: str) -> None:
    rank_env = os.environ["RANK"]
    # registered before fairlib's hook, so it runs after it (atexit is last in, first out)
    atexit.register(record_exit, f"{out}.{rank_env}.exit")
    rng = np.random.default_rng(0)
    y, s = rng.integers(0, 2, 64), rng.integers(0, 2, 64)
    x = (rng.normal(size=(64, 3)) + y[:, None]).astype(np.float32)
    data = GroupedDataset(name="toy", x=x, y=y, s=s, group_names=("a", "b"), class_names=("0", "1"),
                          sensitive_name="g")
    accelerator = make_accelerator(cpu=True)
    seed_everything(0)
    model = mlp_classifier(3, hidden=(4,))
    term = FairLoRARegularizer.for_dataset(data, lam=1.0, by="attribute")  # gathers over processes each step
    result = fit(model, data, config=TrainConfig(epochs=2, lr=0.05, batch_size=16, seed=0), loss_terms=[term],
                 accelerator=accelerator, progress=False)
    rank = accelerator.process_index
    # "atexit": leave the teardown to the hook fairlib registered with the group (as a notebook run does)
    destroyed = end_processes() if mode == "explicit" else False
    Path(f"{out}.{rank}").write_text(f"{result.num_processes} {int(destroyed)} {int(torch.distributed.is_initialized())} "
                                     + " ".join(f"{v:.6f}" for v in result.epoch_losses))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
