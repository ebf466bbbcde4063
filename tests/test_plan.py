import pytest

from fairlib._plan import PlannedRuns, Requirement, check_requirement, format_plan


def test_requirements_checked_on_disk_and_in_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    (tmp_path / "celeba").mkdir()
    (tmp_path / "celeba" / "list_attr_celeba.txt").write_text("1\n")
    ckpt = tmp_path / "vit"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{}")
    present = Requirement("dataset", "celeba", str(tmp_path / "celeba" / "list_attr_celeba.txt"))
    absent = Requirement("dataset", "utkface", str(tmp_path / "UTKFace"), how_to_get="https://susanqq.github.io/UTKFace/")
    local = Requirement("checkpoint", "vit", str(ckpt))
    hub = Requirement("checkpoint", "meta-llama/Llama-2-7b-hf", "meta-llama/Llama-2-7b-hf", how_to_get="hub")
    assert [check_requirement(r) for r in (present, absent, local, hub)] == [True, False, True, False]
    text, missing = format_plan({"01": [present, absent, local, hub]},
                                {"01": [PlannedRuns("01", "vision", methods=3, seeds=5, configs=2, gpu_hours_each=0.5)]})
    assert missing == 2
    assert "3 methods x 5 seeds x 2 configs = 30 runs, ~15.0 GPU-h" in text
    assert "MISSING" in text and "susanqq" in text


def test_requirement_kind_validated():
    with pytest.raises(ValueError, match="valid choices"):
        Requirement("weights", "x", "y")
