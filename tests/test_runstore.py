"""The run store: keys that follow the code and library versions, damaged entries detected and retrained."""

import json
import os
import shutil
import struct
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from fairlib.train import RunStore, check_run_folder, code_fingerprint, library_versions, run_key

PACKAGE = Path(__file__).resolve().parent.parent / "fairlib"
SPEC = {"method": "lora", "seed": 0, "lam": 0.5}


class Trainer:
    """Counts its calls; returns fixed metrics and two tensors."""

    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return {"acc": 0.75, "losses": [1.0, 0.5]}, {"lora.A": torch.arange(6.0).reshape(2, 3),
                                                      "lora.B": torch.ones(3, 2, dtype=torch.float16)}


def stored(tmp_path):
    store, train = RunStore("t", root=tmp_path / "store"), Trainer()
    store.run(SPEC, train)
    assert train.calls == 1 and store.contains(SPEC)
    return store, train, store.folder(SPEC)


# -- keys ------------------------------------------------------------------------------------------------------------
def test_key_covers_code_fingerprint_and_library_versions(monkeypatch):
    import fairlib.train._runs as runs

    before = run_key(SPEC)
    assert run_key(dict(reversed(list(SPEC.items())))) == before and run_key({**SPEC, "seed": 1}) != before
    monkeypatch.setattr(runs, "code_fingerprint", lambda: "0" * 64)
    assert run_key(SPEC) != before
    monkeypatch.undo()
    monkeypatch.setattr(runs, "library_versions", lambda: {**library_versions(), "peft": "9.9.9"})
    assert run_key(SPEC) != before


def test_versions_are_the_installed_ones_and_spec_json_records_them(tmp_path):
    assert library_versions() == {"torch": metadata.version("torch"), "transformers": metadata.version("transformers"),
                                  "peft": metadata.version("peft")}
    assert torch.__version__.startswith(library_versions()["torch"].split("+")[0])
    _, _, folder = stored(tmp_path)
    record = json.loads((folder / "spec.json").read_text())
    assert record["spec"] == SPEC and record["versions"] == library_versions()
    assert record["code_fingerprint"] == code_fingerprint() and len(code_fingerprint()) == 64


_KEY_OF_A_COPY = """
import sys, fairlib
from fairlib.train import RunStore
assert fairlib.__file__.startswith(sys.argv[1]), fairlib.__file__
calls = []
store = RunStore("t", root=sys.argv[2])
store.run({"method": "fairlora", "lam": 1.0}, lambda: (calls.append(1) or {"acc": 1.0}, None))
print(store.folder({"method": "fairlora", "lam": 1.0}).name, "trained" if calls else "reused")
"""


def _copy_and_run(tmp_path, name, store_root, edit=None):
    target = tmp_path / name
    shutil.copytree(PACKAGE, target / "fairlib", ignore=shutil.ignore_patterns("__pycache__"))
    if edit is not None:
        edit(target / "fairlib")
    env = {**os.environ, "PYTHONPATH": str(target), "FAIRLIB_PROGRESS": "0"}
    env.pop("FAIRLIB_FORCE", None)
    out = subprocess.run([sys.executable, "-c", _KEY_OF_A_COPY, str(target), str(store_root)], cwd=target, env=env,
                         capture_output=True, text=True, timeout=300, check=True)
    key, what = out.stdout.split()
    return key, what


def test_editing_a_method_in_a_copy_of_the_package_changes_the_key_and_retrains(tmp_path):
    def ten_times_the_penalty(package):
        source = package / "methods" / "fairlora.py"
        text = source.read_text()
        assert "penalty = lam * group_loss_variance(sums, counts)" in text
        source.write_text(text.replace("penalty = lam * group_loss_variance(sums, counts)",
                                       "penalty = 10 * lam * group_loss_variance(sums, counts)"))

    root = tmp_path / "store"
    # A run stored by this process (this worktree's code) ...
    RunStore("t", root=root).run({"method": "fairlora", "lam": 1.0}, lambda: ({"acc": 1.0}, None))
    # ... is reused by an unchanged copy (same key) and trained again by an edited copy (another key).
    same_key, same = _copy_and_run(tmp_path, "unchanged", root)
    edited_key, edited = _copy_and_run(tmp_path, "edited", root, edit=ten_times_the_penalty)
    assert same_key == run_key({"method": "fairlora", "lam": 1.0}) and same == "reused"
    assert edited_key != same_key and edited == "trained"
    # Presentation-only modules are outside the fingerprint: editing the command line changes nothing.
    cli_key, cli = _copy_and_run(tmp_path, "cli", root,
                                 edit=lambda p: (p / "__main__.py").write_text((p / "__main__.py").read_text() + "\n#\n"))
    assert cli_key == same_key and cli == "reused"


def test_fairlib_force_ignores_runs_stored_before_its_cutoff(tmp_path, monkeypatch):
    import os
    import time

    store, train, _ = stored(tmp_path)
    metrics = store.folder(SPEC) / "metrics.json"
    os.utime(metrics, (time.time() - 100, time.time() - 100))  # as if stored by an earlier reproduction
    monkeypatch.setenv("FAIRLIB_FORCE", repr(time.time() - 50))
    assert not store.contains(SPEC)
    store.run(SPEC, train)
    assert train.calls == 2 and store.contains(SPEC)
    store.run(SPEC, train)  # stored after the cut-off (by this or another process of the same --force): reused
    assert train.calls == 2
    monkeypatch.setenv("FAIRLIB_FORCE", "1")  # "since this process started": the run above is older
    os.utime(metrics, (time.time() - 1e6, time.time() - 1e6))
    store.run(SPEC, train)
    assert train.calls == 3
    monkeypatch.setenv("FAIRLIB_FORCE", "0")
    os.utime(metrics, (time.time() - 1e6, time.time() - 1e6))
    store.run(SPEC, train)
    assert train.calls == 3
    monkeypatch.setenv("FAIRLIB_FORCE", "yes")
    with pytest.raises(ValueError, match="FAIRLIB_FORCE"):
        store.contains(SPEC)


# -- damaged entries -------------------------------------------------------------------------------------------------
def _truncate(path, keep):
    data = path.read_bytes()
    path.write_bytes(data[:keep(len(data))])


def _flip_data_byte(path):
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # inside the tensor data: header and size stay valid
    path.write_bytes(bytes(data))


def _garble_header(path):
    data = bytearray(path.read_bytes())
    data[:8] = struct.pack("<Q", 10**12)
    path.write_bytes(bytes(data))


def _other_names(path):
    save_file({"other.A": torch.arange(6.0).reshape(2, 3), "lora.B": torch.ones(3, 2, dtype=torch.float16)},
              str(path))


def _other_shapes(path):
    save_file({"lora.A": torch.arange(6.0).reshape(3, 2), "lora.B": torch.ones(3, 2, dtype=torch.float16)},
              str(path))


DAMAGE = {
    "metrics_truncated": ("metrics.json", lambda p: _truncate(p, lambda n: n // 2)),
    "metrics_empty": ("metrics.json", lambda p: p.write_text("")),
    "metrics_unparseable": ("metrics.json", lambda p: p.write_bytes(b"\xff\xfe{not json")),
    "spec_unparseable": ("spec.json", lambda p: p.write_text("{")),
    "weights_truncated": ("weights.safetensors", lambda p: _truncate(p, lambda n: n - 7)),
    "weights_header_only": ("weights.safetensors", lambda p: _truncate(p, lambda n: 5)),
    "weights_header_garbled": ("weights.safetensors", _garble_header),
    "weights_data_garbled": ("weights.safetensors", _flip_data_byte),
    "weights_missing": ("weights.safetensors", lambda p: p.unlink()),
    "weights_other_names": ("weights.safetensors", _other_names),
    "weights_other_shapes": ("weights.safetensors", _other_shapes),
    "manifest_missing": ("manifest.json", lambda p: p.unlink()),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damaged_entry_is_detected_warned_moved_aside_and_retrained(tmp_path, case):
    store, train, folder = stored(tmp_path)
    name, damage = DAMAGE[case]
    damage(folder / name)
    # contains() reads no tensor data: flipped data bytes (same size, valid header) are found by run()'s sha256.
    assert store.contains(SPEC) == (case == "weights_data_garbled")
    with pytest.warns(UserWarning, match=f"damaged stored run {folder}") as caught:
        metrics, tensors = store.run(SPEC, train)
    assert name in str(caught[0].message)
    assert train.calls == 2
    assert metrics == {"acc": 0.75, "losses": [1.0, 0.5]}
    assert torch.equal(tensors["lora.A"], torch.arange(6.0).reshape(2, 3)) and tensors["lora.B"].dtype == torch.float16
    assert (folder.parent / f"{folder.name}.damaged" / "metrics.json").exists() or name == "metrics.json"
    assert (folder.parent / f"{folder.name}.damaged").is_dir()
    # stored again, intact, and reused from now on
    assert store.contains(SPEC)
    check_run_folder(folder)
    store.run(SPEC, train)
    assert train.calls == 2


def test_a_run_without_weights_needs_none_and_an_unexpected_weights_file_is_damage(tmp_path):
    store, calls = RunStore("t", root=tmp_path), []
    store.run(SPEC, lambda: (calls.append(1) or {"acc": 1.0}, None))
    manifest = json.loads((store.folder(SPEC) / "manifest.json").read_text())
    assert store.contains(SPEC) and manifest["weights"] is None and set(manifest) == {"weights", "seconds"}
    save_file({"x": torch.zeros(1)}, str(store.folder(SPEC) / "weights.safetensors"))
    with pytest.warns(UserWarning, match="manifest records no weights"):
        store.run(SPEC, lambda: (calls.append(1) or {"acc": 1.0}, None))
    assert len(calls) == 2


def test_interrupted_run_is_retrained_without_a_warning(tmp_path, recwarn):
    store, train, folder = stored(tmp_path)
    (folder / "metrics.json").unlink()
    assert not store.contains(SPEC) and store.load(SPEC) is None
    store.run(SPEC, train)
    assert train.calls == 2 and not recwarn.list and not folder.with_name(folder.name + ".damaged").exists()


def test_manifest_records_names_shapes_dtypes_size_and_sha256(tmp_path):
    import hashlib

    _, _, folder = stored(tmp_path)
    weights = json.loads((folder / "manifest.json").read_text())["weights"]
    data = (folder / "weights.safetensors").read_bytes()
    assert weights["bytes"] == len(data) and weights["sha256"] == hashlib.sha256(data).hexdigest()
    assert weights["tensors"] == {"lora.A": {"dtype": "F32", "shape": [2, 3]},
                                  "lora.B": {"dtype": "F16", "shape": [3, 2]}}


def test_a_stored_run_records_its_wall_time_and_pool_costs_sums_it(tmp_path):
    import importlib.util
    import time as _time

    store = RunStore("nb-test", root=tmp_path / "runs" / "nb-test")

    def slow(delay):
        def train():
            _time.sleep(delay)
            return {"acc": 1.0}, None
        return train

    for seed, delay in ((0, 0.05), (1, 0.15)):
        store.run({"method": "m", "seed": seed, "params": {"task": "adult"}}, slow(delay))
    store.run({"method": "m", "seed": 0, "params": {"task": "adult"}}, slow(5.0))  # reused: not timed again
    spec = importlib.util.spec_from_file_location("pool_costs", Path(__file__).resolve().parent.parent / "bench" / "pool_costs.py")
    pool_costs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pool_costs)
    table = pool_costs.costs(tmp_path / "runs")
    entry = table["nb-test"]
    assert entry["runs"] == 2 and entry["untimed"] == 0
    assert 0.2 <= entry["seconds"] < 2.0  # the two runs' sleeps, not the reused call's
    assert dict(entry["by_label"]) == {"m / adult": [2, pytest.approx(entry["seconds"])]}
