import pytest
import torch

from fairlib.models import (CheckpointMissingError, LoraSpec, adapt, count_parameters, image_classifier,
                            load_backbone, minilm_path, mlp_classifier, text_classifier, trainable_state_dict,
                            vit_from_config)

SMALL_VIT = dict(image_size=28, num_channels=1, patch_size=4, hidden_size=32, num_hidden_layers=2,
                 num_attention_heads=2, intermediate_size=64)


def test_fisher_paper_parameter_count():
    # (34 + 1) * 20 + (20 + 1) * 2 = 742, the paper's count for retraining the two-layer MLP
    assert count_parameters(mlp_classifier(34, hidden=(20,)))["trainable"] == 742


def test_probe_full_and_lora_train_what_they_should():
    torch.manual_seed(0)
    probe = adapt(image_classifier(vit_from_config(**SMALL_VIT), num_labels=3), "probe")
    assert count_parameters(probe)["trainable"] == 32 * 3 + 3
    full = adapt(image_classifier(vit_from_config(**SMALL_VIT), num_labels=3), "full")
    counts = count_parameters(full)
    assert counts["trainable"] == counts["total"]
    lora = adapt(image_classifier(vit_from_config(**SMALL_VIT), num_labels=3), "lora", lora=LoraSpec(r=4))
    names = [n for n, p in lora.named_parameters() if p.requires_grad]
    # q and v of 2 layers, A (4 x 32) and B (32 x 4) each: 2 * 2 * 256 = 1024, plus the head (99)
    assert count_parameters(lora)["trainable"] == 1024 + 99
    assert any("q_proj.lora_A" in n for n in names) and any("v_proj.lora_B" in n for n in names)
    assert not any("k_proj.lora" in n for n in names)
    assert set(trainable_state_dict(lora)) == set(names)


def test_lora_starts_as_the_base_model():
    torch.manual_seed(0)
    model = image_classifier(vit_from_config(**SMALL_VIT), num_labels=2)
    x = torch.randn(4, 1, 28, 28)
    before = model(x)
    assert torch.allclose(adapt(model, "lora")(x), before, atol=1e-6)  # B = 0 at initialisation


def test_unknown_method_and_architecture():
    with pytest.raises(ValueError, match="valid choices"):
        adapt(mlp_classifier(4, hidden=(3,)), "prefix")
    with pytest.raises(ValueError, match="no default LoRA targets"):
        adapt(mlp_classifier(4, hidden=(3,)), "lora")


def test_missing_hub_checkpoint_fails_fast_naming_the_model(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.delenv("FAIRLIB_ALLOW_DOWNLOAD", raising=False)
    with pytest.raises(CheckpointMissingError) as error:
        load_backbone("google/vit-base-patch16-224-in21k")
    assert "google/vit-base-patch16-224-in21k" in str(error.value) and "local directory" in str(error.value)


def test_shipped_minilm_loads_with_lora_on_query_value():
    from transformers import AutoTokenizer
    backbone = load_backbone(minilm_path())
    model = adapt(text_classifier(backbone, num_labels=2), "lora", lora=LoraSpec(r=2))
    tok = AutoTokenizer.from_pretrained(str(minilm_path()))
    enc = dict(tok(["a short sentence", "another one here"], padding=True, return_tensors="pt"))
    logits = model({k: enc[k] for k in ("input_ids", "attention_mask")})
    assert logits.shape == (2, 2)
    assert any("query.lora_A" in n for n, p in model.named_parameters() if p.requires_grad)


def test_training_state_memory_by_hand():
    from fairlib.models import training_state_gb

    # 10 frozen bf16 weights (20 B) + 2 trainable with fp32 weight, grad and two Adam moments (2 x 16 B)
    assert training_state_gb(12, 2) * 1e9 == pytest.approx(20 + 32)
    assert training_state_gb(12, 2, weights="fp32", optimizer="sgd") * 1e9 == pytest.approx(40 + 2 * 12)
    # the claim of the README: a 7B model with LoRA fits on one 80 GB GPU, full fine-tuning does not
    assert training_state_gb(6_738_415_616, 4_194_304) < 80 < training_state_gb(6_738_415_616, 6_738_415_616)
    with pytest.raises(ValueError, match="trainable_params"):
        training_state_gb(1, 2)
    with pytest.raises(ValueError, match="valid choices"):
        training_state_gb(2, 1, weights="int3")


def _timm_or_reason():
    from fairlib.models import TimmUnavailableError, import_timm

    try:
        return import_timm(), None
    except TimmUnavailableError as error:
        return None, str(error)


def test_timm_is_optional_and_says_why_it_is_missing():
    from fairlib.models import TimmUnavailableError, load_timm_backbone

    timm, reason = _timm_or_reason()
    if timm is None:
        assert "optional extra" in reason and "torchvision" in reason
        with pytest.raises(TimmUnavailableError):
            load_timm_backbone("timm/densenet121.tv_in1k", pretrained=False)
    else:
        pytest.skip("timm imports here: its absence cannot be tested")


def test_timm_backbone_returns_pooled_features():
    timm, reason = _timm_or_reason()
    if timm is None:
        pytest.skip(f"timm unavailable: {reason}")
    from fairlib.models import load_timm_backbone

    net = load_timm_backbone("timm/resnet18", pretrained=False).eval()
    with torch.no_grad():
        out = net(torch.zeros(2, 3, 64, 64))
    assert out.shape == (2, net.num_features)
