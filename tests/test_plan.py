import pytest

from fairlib._plan import PlannedRuns, Requirement, check_requirement, format_plan


def test_requirements_checked_on_disk_and_in_cache(tmp_path, monkeypatch):
    from tests.fixtures_full import write_celeba

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    # a complete (tiny) CelebA, its text files in Anno/ and Eval/ as on the download page: the dry run reads
    # them and decodes the images, so they must be real
    root = write_celeba(tmp_path / "celeba", [("000001.jpg", {"Smiling": 1}, 0), ("000002.jpg", {"Male": 1}, 2)])
    for name, part in (("list_attr_celeba.txt", "Anno"), ("list_eval_partition.txt", "Eval")):
        (root / part).mkdir()
        (root / name).rename(root / part / name)
    ckpt = tmp_path / "vit"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{}")
    present = Requirement("dataset", "celeba", str(tmp_path / "celeba"))
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


def test_dry_run_names_the_first_file_the_loader_would_miss(tmp_path):
    from fairlib._plan import missing_reason
    from fairlib.data import load_celeba

    root = tmp_path / "celeba"
    (root / "img_align_celeba").mkdir(parents=True)
    (root / "list_attr_celeba.txt").write_text("1\n")
    req = Requirement("dataset", "celeba", str(root))
    assert missing_reason(req) == f"missing {root / 'list_eval_partition.txt'}"
    # the loader stops at the same file
    with pytest.raises(FileNotFoundError, match="list_eval_partition.txt"):
        load_celeba(root=root)
    waterbirds = tmp_path / "waterbirds" / "waterbird_complete95_forest2water2"
    waterbirds.mkdir(parents=True)
    req = Requirement("dataset", "waterbirds", str(tmp_path / "waterbirds"))
    assert missing_reason(req) == f"missing {tmp_path / 'waterbirds' / 'metadata.csv'}"
    (waterbirds / "metadata.csv").write_text("img_filename,y,place,split\n")
    assert missing_reason(req) is None
    text, missing = format_plan({"04": [Requirement("dataset", "lfwa", str(tmp_path / "lfwa"), "lfw.tgz")]}, {})
    assert missing == 1 and f"missing {tmp_path / 'lfwa'}" in text and "lfw.tgz" in text


def test_unknown_dataset_name_lists_the_known_ones():
    from fairlib.data import locate_dataset

    with pytest.raises(ValueError, match="known datasets.*celeba"):
        locate_dataset("imagenet")


@pytest.mark.parametrize("profile", ["smoke", "full", "test"])
def test_every_dataset_requirement_names_the_folder_its_loader_reads(profile):
    from fairlib import paths
    from fairlib.config import get_profile
    from fairlib.data import DATASET_LOCATORS

    needs, _ = get_profile(profile).requirements_and_plans()
    datasets = [r for reqs in needs.values() for r in reqs if r.kind == "dataset"]
    for req in datasets:
        if req.name in DATASET_LOCATORS:
            # the dry run then checks the files exactly as the loader will find them (or not)
            assert req.location == str(paths.DATA / req.name), req


def test_require_section_names_each_missing_file_and_passes_when_nothing_is_needed(tmp_path, monkeypatch):
    from fairlib import paths
    from fairlib._plan import require_section
    from fairlib.config import get_profile

    monkeypatch.setattr(paths, "DATA", tmp_path)
    (tmp_path / "celeba" / "img_align_celeba").mkdir(parents=True)
    with pytest.raises(FileNotFoundError) as error:
        require_section(get_profile("full"), "privacy", readers="read by load_celeba")
    message = str(error.value)
    assert message.startswith("notebook 03 at profile 'full'")
    # CelebA's folder exists: the message names the first file its loader would miss
    assert f"missing {tmp_path / 'celeba' / 'list_attr_celeba.txt'}" in message
    assert f"missing {tmp_path / 'utkface'}" in message and message.endswith("read by load_celeba")
    require_section(get_profile("smoke"), "privacy")  # stand-ins only: nothing to check
