import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from fairlib.data import GroupedDataset
from fairlib.models import mlp_classifier
from fairlib.train import RunStore, resolve_mixed_precision, TrainConfig, fit, predict, run_key, seed_everything

HERE = Path(__file__).resolve().parent


def blobs(n=256, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = (rng.normal(size=(n, 4)) + 1.5 * y[:, None]).astype(np.float32)
    return GroupedDataset(name="blobs", x=x, y=y, s=rng.integers(0, 2, n), group_names=("a", "b"),
                          class_names=("0", "1"), sensitive_name="g")


def train_once(seed, *, terms=()):
    seed_everything(seed)
    model = mlp_classifier(4, hidden=(8,))
    result = fit(model, blobs(), config=TrainConfig(epochs=3, lr=0.05, batch_size=32, seed=seed), loss_terms=terms)
    return model, result


def test_same_seed_same_run_and_learning_happens():
    (m1, r1), (m2, _), (m3, _) = train_once(1), train_once(1), train_once(2)
    for a, b in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(a, b)
    assert any(not torch.equal(a, c) for a, c in zip(m1.parameters(), m3.parameters()))
    assert r1.epoch_losses[-1] < r1.epoch_losses[0]
    assert (predict(m1, blobs(seed=5)).y_pred == blobs(seed=5).y).mean() > 0.8


def test_loss_terms_are_added_to_the_objective():
    calls = []

    def zero_weight_term(logits, batch, *, per_sample_loss, accelerator):
        calls.append(per_sample_loss.shape[0])
        return 0.0 * logits.sum()

    def constant_term(logits, batch, *, per_sample_loss, accelerator):
        return torch.tensor(3.0)

    (m0, r0), (m1, _), (_, r2) = train_once(0), train_once(0, terms=[zero_weight_term]), train_once(0, terms=[constant_term])
    assert sum(calls) == 3 * 256
    for a, b in zip(m0.parameters(), m1.parameters()):
        assert torch.equal(a, b)
    # a constant adds nothing to the gradient but 3 to every reported loss
    assert np.allclose(np.asarray(r2.epoch_losses) - np.asarray(r0.epoch_losses), 3.0, atol=1e-6)


def test_gradient_accumulation_matches_the_effective_batch():
    """Batches of 8 accumulated twice take the same SGD steps as batches of 16 (the papers' effective batch)."""
    data = blobs(n=64)
    models = []
    for batch_size, accum in ((16, 1), (8, 2)):
        seed_everything(3)
        model = mlp_classifier(4, hidden=(8,))
        config = TrainConfig(epochs=2, lr=0.1, batch_size=batch_size, grad_accum_steps=accum, optimizer="sgd",
                             schedule="constant", seed=3)
        result = fit(model, data, config=config)
        models.append(model)
    assert result.steps == 2 * 8
    for a, b in zip(*(m.parameters() for m in models)):
        assert torch.allclose(a, b, atol=1e-6)
    # and differs from not accumulating (batches of 8, one step each)
    seed_everything(3)
    single = mlp_classifier(4, hidden=(8,))
    fit(single, data, config=TrainConfig(epochs=2, lr=0.1, batch_size=8, optimizer="sgd", schedule="constant", seed=3))
    assert any(not torch.allclose(a, b, atol=1e-4) for a, b in zip(single.parameters(), models[0].parameters()))


def test_no_trainable_parameters_is_an_error():
    model = mlp_classifier(4, hidden=(8,)).requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        fit(model, blobs(), config=TrainConfig())


def test_group_balanced_batches_equalise_groups():
    from fairlib.train._loop import _loader
    s = np.r_[np.zeros(900, int), np.ones(100, int)]
    loader = _loader(list(range(1000)), batch_size=1000, shuffle=True, generator=torch.Generator().manual_seed(0),
                     group_balanced=True, groups=s)
    drawn = next(iter(loader)).numpy()
    assert abs((s[drawn] == 1).mean() - 0.5) < 0.06


def test_run_store_reuses_and_forces(tmp_path):
    store = RunStore("t", root=tmp_path)
    spec = {"method": "lora", "seed": 0, "lr": 1e-3}
    calls = []

    def run():
        calls.append(1)
        return {"acc": 0.5}, {"w": torch.ones(2)}

    metrics, tensors = store.run(spec, run)
    again, _ = store.run(dict(reversed(list(spec.items()))), run)
    assert metrics == again == {"acc": 0.5} and len(calls) == 1 and torch.equal(tensors["w"], torch.ones(2))
    store.run(spec, run, force=True)
    assert len(calls) == 2
    assert run_key(spec) != run_key({**spec, "seed": 1})
    # an interrupted run (no metrics file) is not reused
    (store.folder(spec) / "metrics.json").unlink()
    assert store.load(spec) is None


@pytest.mark.multiprocess
def test_two_processes_match_one_process(tmp_path):
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    env = {**os.environ, "FAIRLIB_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, str(HERE / "_fit_script.py"), str(tmp_path / "one.npz")], check=True, env=env)
    subprocess.run([accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                    "--mixed_precision", "no", "--dynamo_backend", "no", str(HERE / "_fit_script.py"),
                    str(tmp_path / "two.npz")], check=True, env=env, timeout=300)
    one, two = np.load(tmp_path / "one.npz"), np.load(tmp_path / "two.npz")
    assert int(one["processes"]) == 1 and int(two["processes"]) == 2
    # Same global batches, gradients averaged across the two halves: equal up to float summation order.
    np.testing.assert_allclose(two["logits"], one["logits"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(two["losses"], one["losses"], rtol=1e-5)


def test_mixed_precision_bf16_where_supported_fp16_otherwise_off_on_cpu():
    assert resolve_mixed_precision("bf16", on_gpu=True, bf16_supported=True) == "bf16"
    with pytest.warns(UserWarning, match="fp16"):
        assert resolve_mixed_precision("bf16", on_gpu=True, bf16_supported=False) == "fp16"
    assert resolve_mixed_precision("fp16", on_gpu=True, bf16_supported=False) == "fp16"
    assert resolve_mixed_precision("bf16", on_gpu=False, bf16_supported=False) == "no"
    with pytest.raises(ValueError, match="valid choices"):
        resolve_mixed_precision("fp8", on_gpu=True, bf16_supported=True)
