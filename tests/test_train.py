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


# -- tokenised texts: batches cut to their own longest text ----------------------------------------------------
class _MaskedMean(torch.nn.Module):
    """Logits from the mean embedding of the real tokens; records the width of every batch it sees."""

    def __init__(self, vocab=50, classes=3):
        super().__init__()
        torch.manual_seed(0)
        self.emb = torch.nn.Embedding(vocab, 8)
        self.head = torch.nn.Linear(8, classes)
        self.widths, self.longest = [], []

    def forward(self, x):
        self.widths.append(x["input_ids"].shape[1])
        self.longest.append(int(x["attention_mask"].sum(1).max()))
        mask = x["attention_mask"].unsqueeze(-1).float()
        return self.head((self.emb(x["input_ids"]) * mask).sum(1) / mask.sum(1))


def _texts(n=37, width=12, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, width + 1, n)
    lengths[5] = width  # the dataset's longest text
    ids = np.zeros((n, width), dtype=np.int64)
    for i, k in enumerate(lengths):
        ids[i, :k] = rng.integers(1, 50, k)
    mask = (ids > 0).astype(np.int64)
    return lengths, {"input_ids": torch.as_tensor(ids), "attention_mask": torch.as_tensor(mask)}


def test_trim_padding_drops_only_columns_that_are_padding_in_every_row():
    from fairlib.train import trim_padding

    right = {"input_ids": torch.tensor([[5, 6, 0, 0], [7, 0, 0, 0]]), "attention_mask": torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0]])}
    out = trim_padding(right)
    assert torch.equal(out["input_ids"], torch.tensor([[5, 6], [7, 0]]))
    assert torch.equal(out["attention_mask"], torch.tensor([[1, 1], [1, 0]]))
    left = {"input_ids": torch.tensor([[0, 0, 5, 6], [0, 0, 0, 7]]), "attention_mask": torch.tensor([[0, 0, 1, 1], [0, 0, 0, 1]])}
    assert trim_padding(left) is left  # left padding: the last column is real, nothing to drop
    images = torch.zeros(2, 1, 28, 28)
    assert trim_padding(images) is images


def test_predict_on_texts_visits_short_texts_together_and_returns_the_original_order():
    from fairlib.train import as_torch

    lengths, enc = _texts()
    n = len(lengths)
    data = GroupedDataset(name="t", x=np.arange(n), y=np.arange(n) % 3, s=np.arange(n) % 2, group_names=("a", "b"),
                          class_names=("0", "1", "2"), sensitive_name="g")
    model = _MaskedMean()
    pred = predict(model, data, encode=lambda _: enc, batch_size=8)
    with torch.no_grad():
        direct = model({k: v for k, v in enc.items()}).numpy()  # one batch, full width, in order
    np.testing.assert_allclose(pred.logits, direct, rtol=0, atol=1e-6)
    assert np.array_equal(pred.y, data.y) and np.array_equal(pred.s, data.s)
    # batches of 8 shortest-first: each as wide as its own longest text, never wider
    widths = model.widths[:-1]
    expected = [int(np.sort(lengths)[i:i + 8].max()) for i in range(0, n, 8)]
    assert widths == expected and max(widths) == 12 and min(widths) < 12
    assert len(as_torch(data, encode=lambda _: enc)) == n


def test_fit_on_texts_trains_on_batches_cut_to_their_longest_text():
    lengths, enc = _texts(n=64)
    y = (lengths > 6).astype(np.int64)
    data = GroupedDataset(name="t", x=np.arange(64), y=y, s=np.arange(64) % 2, group_names=("a", "b"),
                          class_names=("0", "1"), sensitive_name="g")
    model = _MaskedMean(classes=2)
    fit(model, data, config=TrainConfig(epochs=1, lr=0.01, batch_size=16, seed=0), encode=lambda _: enc, progress=False)
    assert len(model.widths) == 4
    # each training batch is exactly as wide as its longest text (the dataset is 12 wide)
    assert model.widths == model.longest and min(model.widths) <= 12
