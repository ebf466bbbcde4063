"""`python -m fairlib cache ls|clean` on a temporary store."""

import json
import os
import subprocess
import sys

import pytest
import torch

from fairlib.__main__ import main
from fairlib.train import RunStore


def _store(root, namespace, seed, *, weights=True):
    store = RunStore(namespace, root=root / "runs" / namespace)
    spec = {"seed": seed}
    store.run(spec, lambda: ({"acc": 0.5}, {"w": torch.zeros(1000)} if weights else None))
    return store.folder(spec)


@pytest.fixture
def cache(tmp_path):
    made = {"ok": _store(tmp_path, "02-smoke", 0), "stale": _store(tmp_path, "02-smoke", 1),
            "damaged": _store(tmp_path, "02-smoke", 2), "partial": _store(tmp_path, "02-smoke", 3, weights=False),
            "full": _store(tmp_path, "02-full", 0), "other": _store(tmp_path, "05-smoke", 0, weights=False)}
    spec = json.loads((made["stale"] / "spec.json").read_text())
    (made["stale"] / "spec.json").write_text(json.dumps({**spec, "code_fingerprint": "0" * 64}))  # older code
    (made["damaged"] / "weights.safetensors").write_bytes(b"\0" * 10)
    (made["partial"] / "metrics.json").unlink()
    backbone = tmp_path / "tiny_vit" / "abc"
    backbone.mkdir(parents=True)
    (backbone / "pretraining.json").write_text(json.dumps({"code_fingerprint": "old"}))
    (backbone / "config.json").write_text("{}")
    (backbone / "model.safetensors").write_bytes(b"x")
    return tmp_path, made


def _run(argv, root, capsys, monkeypatch):
    from fairlib import paths

    monkeypatch.setattr(paths, "CACHE", root)
    status = main(argv)
    captured = capsys.readouterr()
    _run.err = captured.err
    return status, captured.out


def _table(out):
    rows = {}
    for line in out.splitlines()[1:]:
        if not line.startswith(" "):
            name, runs, size, unit, stale, damaged, partial = line.split()
            rows[name] = (int(runs), int(stale), int(damaged), int(partial))
    return rows


def test_ls_counts_runs_stale_damaged_and_partial_per_notebook_and_profile(cache, capsys, monkeypatch):
    root, made = cache
    status, out = _run(["cache", "ls", "--profile", "smoke"], root, capsys, monkeypatch)
    assert status == 0
    assert _table(out) == {"02-smoke": (4, 1, 1, 1), "05-smoke": (1, 0, 0, 0)}
    assert f"damaged: {made['damaged']}" in out and f"partial: {made['partial']}" in out
    _, out = _run(["cache", "ls"], root, capsys, monkeypatch)
    assert _table(out) == {"02-smoke": (4, 1, 1, 1), "02-full": (1, 0, 0, 0), "05-smoke": (1, 0, 0, 0),
                           "tiny_vit": (1, 1, 0, 0)}
    _, out = _run(["cache", "ls", "--only", "05"], root, capsys, monkeypatch)
    assert _table(out) == {"05-smoke": (1, 0, 0, 0)}


def test_clean_stale_keeps_current_runs_and_other_profiles(cache, capsys, monkeypatch):
    root, made = cache
    status, out = _run(["cache", "clean", "--profile", "smoke", "--stale"], root, capsys, monkeypatch)
    assert status == 0
    gone = {name for name, folder in made.items() if not folder.exists()}
    assert gone == {"stale", "damaged", "partial"}
    for name in gone:
        assert str(made[name]) in out
    assert "Removed 3 entries" in out
    assert (root / "tiny_vit" / "abc").exists()  # shared backbones: only without --profile/--only


def test_clean_only_one_notebook_removes_all_of_its_runs_and_nothing_else(cache, capsys, monkeypatch):
    root, made = cache
    _run(["cache", "clean", "--only", "05"], root, capsys, monkeypatch)
    assert not made["other"].exists() and all(f.exists() for n, f in made.items() if n != "other")
    _run(["cache", "clean"], root, capsys, monkeypatch)
    assert not any(f.exists() for f in made.values()) and not (root / "tiny_vit" / "abc").exists()
    _, out = _run(["cache", "ls"], root, capsys, monkeypatch)
    assert out.strip() == "No stored runs."


def test_bad_only_and_profile_are_refused(cache, capsys, monkeypatch):
    root, made = cache
    status, _ = _run(["cache", "clean", "--only", "5"], root, capsys, monkeypatch)
    assert status == 2 and "--only 5" in _run.err and "two digits" in _run.err
    assert all(f.exists() for f in made.values())
    with pytest.raises(SystemExit):
        main(["cache", "ls", "--profile", "nope"])


def test_command_line_in_a_subprocess_reads_FAIRLIB_CACHE(cache):
    root, _ = cache
    env = {**os.environ, "FAIRLIB_CACHE": str(root)}
    out = subprocess.run([sys.executable, "-m", "fairlib", "cache", "ls", "--only", "02"], env=env, check=True,
                         capture_output=True, text=True, timeout=300).stdout
    assert _table(out) == {"02-full": (1, 0, 0, 0), "02-smoke": (4, 1, 1, 1)}
