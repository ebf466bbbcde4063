"""Role separation of notebook 03: the developer never holds s, the auditor never holds y, only adapters cross."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from fairlib.data import GroupedDataset
from fairlib.methods.privacy_roles import (AuditorView, DeveloperView, ExchangeError, SensitiveAttributeError,
                                           TaskLabelError, check_exchange, read_signals, refuse_sensitive,
                                           save_exchange, split_roles)
from fairlib.methods.privacy_strategies import Developer
from fairlib.models import LoraSpec, adapt, vit_from_config

ROOT = Path(__file__).resolve().parents[1]


def tiny_vit():
    torch.manual_seed(0)
    return vit_from_config(image_size=8, num_channels=1, patch_size=4, hidden_size=16, num_hidden_layers=1,
                           num_attention_heads=2, intermediate_size=16)


def pool(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = np.arange(n, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)  # row i identifies example i
    return GroupedDataset(name="pool", x=x, y=rng.integers(0, 2, n), s=rng.integers(0, 2, n),
                          group_names=("a", "b"), class_names=("neg", "pos"), sensitive_name="sex")


def test_developer_view_has_no_sensitive_field_and_refuses_sensitive_data():
    data = pool()
    view = DeveloperView(x=data.x, y=data.y, class_names=data.class_names)
    assert not hasattr(view, "s")
    with pytest.raises(SensitiveAttributeError):
        DeveloperView(x=data, y=data.y, class_names=data.class_names)
    with pytest.raises(SensitiveAttributeError):
        DeveloperView(x={"pixels": data.x, "sex": data.s}, y=data.y, class_names=data.class_names)
    table = {"f1": data.x[:, 0], "f2": data.x[:, 1], "label": data.y, "gender": data.s}
    with pytest.raises(SensitiveAttributeError, match="gender"):
        DeveloperView.from_table(table, features=["f1", "f2"], target="label")
    del table["gender"]
    ok = DeveloperView.from_table(table, features=["f1", "f2"], target="label")
    np.testing.assert_array_equal(ok.y, data.y)


def test_auditor_view_refuses_task_labels():
    data = pool()
    view = AuditorView(x=data.x, s=data.s, group_names=data.group_names)
    assert not hasattr(view, "y")
    with pytest.raises(TaskLabelError):
        AuditorView(x=data, s=data.s, group_names=data.group_names)
    with pytest.raises(TaskLabelError):
        AuditorView(x={"pixels": data.x, "label": data.y}, s=data.s, group_names=data.group_names)


def test_split_roles_gives_disjoint_parts_without_the_other_partys_column():
    data = pool(n=60)
    developer, auditor = split_roles(data, auditor_fraction=0.5, seed=3)
    assert isinstance(developer, DeveloperView) and isinstance(auditor, AuditorView)
    dev_ids, aud_ids = developer.x[:, 0].astype(int), auditor.x[:, 0].astype(int)
    assert not set(dev_ids) & set(aud_ids)
    assert sorted(set(dev_ids) | set(aud_ids)) == list(range(60))
    # each part keeps its own column for exactly its examples
    np.testing.assert_array_equal(developer.y, data.y[dev_ids])
    np.testing.assert_array_equal(auditor.s, data.s[aud_ids])
    assert abs(len(auditor) - 30) <= 4


def test_developer_code_path_raises_when_given_s():
    data = pool()
    developer_view, auditor_view = split_roles(data, seed=0)
    with pytest.raises(SensitiveAttributeError):
        Developer(auditor_view, backbone=tiny_vit(), lora=LoraSpec(r=2, alpha=2), lr=1e-3, batch_size=8, seed=0)
    with pytest.raises(SensitiveAttributeError):
        Developer(data, backbone=tiny_vit(), lora=LoraSpec(r=2, alpha=2), lr=1e-3, batch_size=8, seed=0)
    images = DeveloperView(x=np.zeros((4, 1, 8, 8), np.float32), y=[0, 1, 0, 1], class_names=("a", "b"))
    dev = Developer(images, backbone=tiny_vit(), lora=LoraSpec(r=2, alpha=2), lr=1e-3, batch_size=8, seed=0)
    with pytest.raises(SensitiveAttributeError):
        dev.predict_proba({"x": images.x, "s": np.zeros(4)})
    with pytest.raises(SensitiveAttributeError):
        refuse_sensitive([images.x, auditor_view])


def test_view_files_refuse_the_other_partys_column(tmp_path):
    data = pool()
    np.savez(tmp_path / "leaky.npz", x=data.x, y=data.y, s=data.s, class_names=np.asarray(data.class_names))
    with pytest.raises(SensitiveAttributeError):
        DeveloperView.load(tmp_path / "leaky.npz")
    developer, auditor = split_roles(data, seed=0)
    back = DeveloperView.load(developer.save(tmp_path / "dev.npz"))
    np.testing.assert_array_equal(back.y, developer.y)
    assert set(np.load(tmp_path / "dev.npz").files) == {"x", "y", "class_names"}
    auditor.save(tmp_path / "aud.npz")
    assert set(np.load(tmp_path / "aud.npz").files) == {"x", "s", "group_names"}
    np.savez(tmp_path / "leaky_aud.npz", x=data.x, s=data.s, y=data.y, group_names=np.asarray(data.group_names))
    with pytest.raises(TaskLabelError):
        AuditorView.load(tmp_path / "leaky_aud.npz")


def test_exchange_holds_adapter_tensors_only(tmp_path):
    from safetensors.torch import load_file, save_file

    model = adapt(tiny_vit(), "lora", lora=LoraSpec(r=2, alpha=2))
    folder = save_exchange(model, tmp_path / "ex", signals={"adversary_accuracy": 0.75})
    assert sorted(p.name for p in folder.iterdir()) == ["adapter_config.json", "adapter_model.safetensors",
                                                         "signals.json"]
    summary = check_exchange(folder)
    tensors = load_file(folder / "adapter_model.safetensors")
    assert all(".lora_A." in k or ".lora_B." in k for k in tensors)
    # one layer, q and v, A (2 x 16) and B (16 x 2) each: 4 tensors, 128 numbers
    assert summary["tensors"] == 4 and summary["parameters"] == 4 * 2 * 16
    assert read_signals(folder) == {"adversary_accuracy": 0.75}

    # a head smuggled into the tensor file is refused
    save_file({**tensors, "base_model.model.head.weight": torch.zeros(2, 16)}, str(folder / "adapter_model.safetensors"))
    with pytest.raises(ExchangeError, match="head"):
        check_exchange(folder)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    check_exchange(folder)
    # a config that saves extra modules, an extra file, or a non-scalar / unknown signal are refused
    config = json.loads((folder / "adapter_config.json").read_text())
    (folder / "adapter_config.json").write_text(json.dumps({**config, "modules_to_save": ["head"]}))
    with pytest.raises(ExchangeError, match="modules_to_save"):
        check_exchange(folder)
    (folder / "adapter_config.json").write_text(json.dumps(config))
    np.save(folder / "s.npy", np.zeros(3))
    with pytest.raises(ExchangeError, match="s.npy"):
        check_exchange(folder)
    (folder / "s.npy").unlink()
    (folder / "signals.json").write_text(json.dumps({"s": [0, 1, 1]}))
    with pytest.raises(ExchangeError):
        check_exchange(folder)
    with pytest.raises(ExchangeError):
        save_exchange(model, tmp_path / "ex2", signals={"labels_of_test_set": 1.0})


def _run(args, cwd):
    env = {**os.environ, "FAIRLIB_PROGRESS": "0", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "fairlib.methods.privacy_cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_each_role_runs_as_its_own_process(tmp_path):
    rng = np.random.default_rng(0)
    n = 48
    x = rng.uniform(-1, 1, (n, 1, 28, 28)).astype(np.float32)
    y, s = rng.integers(0, 2, n), rng.integers(0, 2, n)
    x[s == 1] *= 0.3  # s visible in the image, as in the stand-ins
    DeveloperView(x=x[:24], y=y[:24], class_names=("a", "b")).save(tmp_path / "developer.npz")
    AuditorView(x=x[24:], s=s[24:], group_names=("g0", "g1")).save(tmp_path / "auditor.npz")

    auditor = _run(["auditor-sensitive", "--profile", "test", "--data", "auditor.npz", "--out", "sens",
                    "--epochs", "1"], tmp_path)
    assert auditor.returncode == 0, auditor.stderr[-2000:]
    assert json.loads(auditor.stdout.strip().splitlines()[-1])["exchange"]["tensors"] > 0

    developer = _run(["developer", "--profile", "test", "--data", "developer.npz", "--strategy", "orth",
                      "--sensitive", "sens", "--out", "task", "--private", "private", "--epochs", "1"], tmp_path)
    assert developer.returncode == 0, developer.stderr[-2000:]
    summary = json.loads(developer.stdout.strip().splitlines()[-1])
    assert summary["strategy"] == "orth" and summary["examples"] == 24
    check_exchange(tmp_path / "task")
    assert (tmp_path / "private" / "head.safetensors").exists()  # the head stays in the private folder
    from safetensors.torch import load_file
    sent, got = load_file(tmp_path / "task" / "adapter_model.safetensors"), load_file(
        tmp_path / "sens" / "adapter_model.safetensors")
    assert sent.keys() == got.keys() and any(not torch.equal(sent[k], got[k]) for k in sent)

    # one adversarial round on the auditor's side, through the same entry point (in-process: no third start-up)
    from fairlib.methods.privacy_cli import main
    assert main(["auditor-adversary", "--profile", "test", "--data", str(tmp_path / "auditor.npz"),
                 "--adapter", str(tmp_path / "task"), "--out", str(tmp_path / "debiased"), "--epochs", "2"]) == 0
    signals = check_exchange(tmp_path / "debiased")["signals"]
    assert signals["round"] == 1 and 0.0 <= signals["adversary_accuracy"] <= 1.0
    back = load_file(tmp_path / "debiased" / "adapter_model.safetensors")
    assert back.keys() == sent.keys() and any(not torch.equal(back[k], sent[k]) for k in sent)

    # the developer's entry point refuses the auditor's data file (it holds s), before writing anything
    with pytest.raises(SensitiveAttributeError):
        main(["developer", "--profile", "test", "--data", str(tmp_path / "auditor.npz"), "--out", str(tmp_path / "bad")])
    assert not (tmp_path / "bad").exists()


def test_full_profile_fails_fast_naming_the_missing_datasets(tmp_path, monkeypatch):
    from fairlib import paths
    from fairlib.config import get_profile
    from fairlib.experiments.privacy import require

    monkeypatch.setattr(paths, "DATA", tmp_path)  # an empty data directory
    with pytest.raises(FileNotFoundError) as error:
        require(get_profile("full"))
    message = str(error.value)
    assert "celeba" in message and "utkface" in message and "load_celeba" in message
    require(get_profile("smoke"))  # the stand-ins need nothing from the data directory
