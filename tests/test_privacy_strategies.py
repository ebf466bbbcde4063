"""The four strategies' mechanisms: orthogonality loss, gradient reversal, adversarial step, peft adapters."""

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from fairlib.config import ConfigError, get_profile
from fairlib.config._privacy import PrivacyLoraConfig
from fairlib.methods.privacy_roles import DeveloperView, save_exchange
from fairlib.experiments.privacy import evaluate_run
from fairlib.methods.privacy_strategies import (Developer, adapter_active, adapter_orthogonality, adversarial_step,
                                                grad_reverse, orthogonality_loss, _merge_negated)
from fairlib.models import LoraSpec, adapt, vit_from_config

from ._adapters import moved_lora_exchange


def tiny_vit(seed=0):
    torch.manual_seed(seed)
    return vit_from_config(image_size=8, num_channels=1, patch_size=4, hidden_size=16, num_hidden_layers=1,
                           num_attention_heads=2, intermediate_size=16)


# ------------------------------------------------------------------------------ orthogonality loss
def test_orthogonality_loss_is_zero_for_orthogonal_columns():
    u = torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    v = torch.tensor([[0.0], [0.0], [5.0]])
    assert orthogonality_loss(u, v, center=False, normalize=False).item() == 0.0
    # centred: [1, 0, -1] and [1, -2, 1] are orthogonal
    a = torch.tensor([[1.0], [2.0], [3.0]])
    b = torch.tensor([[1.0], [-2.0], [1.0]])
    assert orthogonality_loss(a, b).item() == pytest.approx(0.0, abs=1e-12)


def test_orthogonality_loss_hand_cases():
    u = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    v = torch.tensor([[1.0], [1.0]])
    # U^T V = [[1], [1]] -> 1 + 1
    assert orthogonality_loss(u, v, center=False, normalize=False).item() == pytest.approx(2.0)
    # v normalised to (1, 1)/sqrt(2): (1/sqrt 2)^2 * 2
    assert orthogonality_loss(u, v, center=False, normalize=True).item() == pytest.approx(1.0)
    # centred and normalised: squared correlation; perfectly (anti-)correlated columns give 1 each
    a = torch.tensor([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]])
    b = torch.tensor([[10.0], [20.0], [30.0]])
    assert orthogonality_loss(a, b).item() == pytest.approx(2.0, rel=1e-6)


def test_orthogonality_loss_equals_sum_of_squared_pearson_correlations():
    rng = np.random.default_rng(0)
    u, v = rng.normal(size=(50, 3)), rng.normal(size=(50, 2))
    v[:, 0] += u[:, 1]
    expected = (np.corrcoef(u.T, v.T)[:3, 3:] ** 2).sum()
    got = orthogonality_loss(torch.tensor(u), torch.tensor(v), eps=0.0).item()
    assert got == pytest.approx(expected, rel=1e-9)


def test_adapter_orthogonality_matches_hand_computation_and_vanishes_for_orthogonal_subspaces(tmp_path):
    model = adapt(tiny_vit(), "lora", lora=LoraSpec(r=2, alpha=2))
    save_exchange(model, tmp_path / "other")
    model.load_adapter(str(tmp_path / "other"), adapter_name="sensitive", is_trainable=False)
    model.set_adapter("default")
    layers = [m for m in model.modules() if hasattr(m, "lora_A") and "sensitive" in m.lora_A]
    expected = sum(float(((m.lora_A["default"].weight @ m.lora_A["sensitive"].weight.T) ** 2).sum().detach()) for m in layers)
    assert adapter_orthogonality(model, "default", "sensitive").item() == pytest.approx(expected, rel=1e-6)
    assert expected > 0
    with torch.no_grad():
        eye = torch.eye(16)
        for m in layers:  # default reads coordinates 0-1, sensitive 2-3
            m.lora_A["default"].weight.copy_(eye[:2])
            m.lora_A["sensitive"].weight.copy_(eye[2:4])
    assert adapter_orthogonality(model, "default", "sensitive").item() == 0.0


# ------------------------------------------------------------------------------ adversarial side
def test_gradient_reversal_sign_by_hand():
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    y = grad_reverse(x, 2.0)
    assert torch.equal(y, x.detach())
    (3.0 * y).sum().backward()
    # d(3 y)/dx = 3, reversed and scaled by 2 -> -6
    assert torch.equal(x.grad, torch.tensor([-6.0, -6.0]))


def test_adversarial_step_lowers_the_adversary_loss_and_raises_it_for_the_encoder():
    torch.manual_seed(0)
    x = torch.randn(64, 5)
    s = (x[:, 0] + 0.3 * torch.randn(64) > 0).long()  # s readable from the input
    encoder, adversary = nn.Linear(5, 4), nn.Linear(4, 2)
    enc0, adv0 = [p.detach().clone() for p in encoder.parameters()], [p.detach().clone() for p in adversary.parameters()]

    def loss(enc, adv):
        with torch.no_grad():
            return nn.functional.cross_entropy(nn.functional.linear(nn.functional.linear(x, *enc), *adv), s).item()

    before = loss(enc0, adv0)
    opt_adv = torch.optim.SGD(adversary.parameters(), lr=0.05)
    opt_enc = torch.optim.SGD(encoder.parameters(), lr=0.05)
    reported = adversarial_step(encoder(x), adversary, s, lam=1.0, optimizers=(opt_adv, opt_enc))
    assert reported == pytest.approx(before, rel=1e-6)
    enc1, adv1 = [p.detach() for p in encoder.parameters()], [p.detach() for p in adversary.parameters()]
    assert loss(enc0, adv1) < before  # the adversary's own update helps it
    assert loss(enc1, adv0) > before  # the encoder's update (reversed gradient) hurts it
    # lam = 0: the encoder does not move
    encoder2 = nn.Linear(5, 4)
    w = encoder2.weight.detach().clone()
    adversarial_step(encoder2(x), nn.Linear(4, 2), s, lam=0.0,
                     optimizers=(torch.optim.SGD(encoder2.parameters(), lr=0.05),))
    assert torch.equal(encoder2.weight, w)


# ------------------------------------------------------------------------------ peft multi-adapter
def test_adapter_active_restores_the_trainable_adapter(tmp_path):
    model = adapt(tiny_vit(), "lora", lora=LoraSpec(r=2, alpha=2))
    save_exchange(model, tmp_path / "sens")
    model.load_adapter(str(tmp_path / "sens"), adapter_name="sensitive", is_trainable=False)
    model.set_adapter("default")

    def flags(name):
        return {p.requires_grad for n, p in model.named_parameters() if f".{name}." in n and "lora_" in n}

    assert flags("default") == {True} and flags("sensitive") == {False}
    with adapter_active(model, "sensitive"):
        assert model.active_adapter == "sensitive"
    assert model.active_adapter == "default"
    assert flags("default") == {True} and flags("sensitive") == {False}
    # what adapter_active guards against: peft's set_adapter alone freezes the other adapter
    model.set_adapter("sensitive")
    assert flags("default") == {False}


@pytest.mark.parametrize("space, width", [("features", 16), ("shift", 2), ("weights", None)])
def test_orth_trains_the_task_adapter_and_leaves_the_auditors_adapter_untouched(tmp_path, space, width):
    auditor_model = moved_lora_exchange(tiny_vit(), tmp_path / "sens")  # a non-zero sensitive update
    rng = np.random.default_rng(0)
    view = DeveloperView(x=rng.normal(size=(32, 1, 8, 8)).astype(np.float32), y=rng.integers(0, 2, 32),
                         class_names=("a", "b"))
    dev = Developer(view, backbone=tiny_vit(), lora=LoraSpec(r=2, alpha=2), lr=1e-2, batch_size=16, seed=0,
                    orthogonal_to=tmp_path / "sens", orth_space=space, orth_components=2)
    if width is None:
        assert dev.sensitive_features is None
    else:
        assert dev.sensitive_features.shape == (32, width)
    snapshot = {n: p.detach().clone() for n, p in dev.model.named_parameters() if "lora_" in n}
    dev.train_epoch(orth_lambda=1.0)
    changed = {n for n, p in dev.model.named_parameters() if "lora_" in n and not torch.equal(p, snapshot[n])}
    assert changed and all(".default." in n for n in changed)
    assert not any(".sensitive." in n for n in changed)


def test_orth_in_the_papers_form_decorrelates_from_the_sensitive_adapters_own_representation(tmp_path):
    # "sensitive features" = h_s(x): the auditor's model's [CLS] representation of the developer's images,
    # recomputed here from the auditor's side; the loss is the sum of squared Pearson correlations with h_d.
    auditor_model = moved_lora_exchange(tiny_vit(), tmp_path / "sens")
    x = np.random.default_rng(1).normal(size=(24, 1, 8, 8)).astype(np.float32)
    view = DeveloperView(x=x, y=np.arange(24) % 2, class_names=("a", "b"))
    dev = Developer(view, backbone=tiny_vit(), lora=LoraSpec(r=2, alpha=2), lr=1e-2, batch_size=24, seed=0,
                    orthogonal_to=tmp_path / "sens")
    assert dev.orth_space == "features"
    auditor_model.eval()
    with torch.no_grad():
        h_s = auditor_model(pixel_values=torch.as_tensor(x)).last_hidden_state[:, 0].numpy()
    assert np.allclose(dev.sensitive_features.numpy(), h_s, atol=1e-5)
    dev.model.eval()
    with torch.no_grad():
        h_d = dev.model(pixel_values=torch.as_tensor(x)).last_hidden_state[:, 0]
        loss = dev.orthogonality(h_d, torch.arange(24)).item()
    c = np.corrcoef(h_d.numpy().T.astype(np.float64), h_s.T.astype(np.float64))[:16, 16:]
    assert loss == pytest.approx(float((np.nan_to_num(c) ** 2).sum()), rel=1e-3)
    with pytest.raises(ValueError, match="valid choices"):
        Developer(view, backbone=tiny_vit(), lora=LoraSpec(r=2, alpha=2), lr=1e-2, batch_size=24, seed=0,
                  orthogonal_to=tmp_path / "sens", orth_space="representation")


def test_every_strategy_takes_the_same_developer_steps_over_the_same_data(tmp_path):
    from fairlib.methods.privacy_roles import AuditorView
    from fairlib.methods.privacy_strategies import STRATEGIES, run_strategy, train_sensitive_adapter

    rng = np.random.default_rng(0)
    view = DeveloperView(x=rng.normal(size=(40, 1, 8, 8)).astype(np.float32), y=np.arange(40) % 2,
                         class_names=("a", "b"))
    auditor = AuditorView(x=rng.normal(size=(30, 1, 8, 8)).astype(np.float32), s=np.arange(30) % 2,
                          group_names=("g0", "g1"))
    train_sensitive_adapter(auditor, tmp_path / "sens", backbone=tiny_vit(), lora=LoraSpec(r=2, alpha=2), lr=1e-2,
                            batch_size=16, epochs=1, seed=0)

    def backbone():
        return tiny_vit()

    backbone.config = tiny_vit().config
    epochs, batch = 2, 16
    seen = {}
    for strategy in STRATEGIES:
        orders = []
        original = Developer.train_epoch

        def spy(self, **kwargs):
            # the order of examples of each pass, from the same loader the pass uses
            from fairlib.methods.privacy_strategies import _loader
            loader = _loader(self.view.x, self.view.y, None, batch_size=self.batch_size, shuffle=True,
                             seed=self.seed * 1000 + self.epochs_done)
            orders.append(torch.cat([b["index"] for b in loader]).tolist())
            return original(self, **kwargs)

        Developer.train_epoch = spy
        try:
            dev, _ = run_strategy(strategy, view, backbone=backbone, lora=LoraSpec(r=2, alpha=2), epochs=epochs,
                                  lr=1e-2, batch_size=batch, seed=3, workdir=tmp_path / strategy,
                                  auditor_view=auditor, sensitive_adapter=tmp_path / "sens", adv_refit_epochs=1)
        finally:
            Developer.train_epoch = original
        seen[strategy] = (dev.steps, dev.examples, dev.epochs_done, orders)
    # (epochs + 1 head-only) passes of ceil(40 / 16) = 3 batches each, over 40 examples each
    assert seen["erm"][:3] == ((epochs + 1) * 3, (epochs + 1) * 40, epochs + 1)
    assert all(v == seen["erm"] for v in seen.values()), {k: v[:3] for k, v in seen.items()}


def test_unlearning_subtracts_the_sensitive_update(tmp_path):
    auditor_model = moved_lora_exchange(tiny_vit(), tmp_path / "sens", alpha=4)
    layer = auditor_model.base_model.model.layers[0].attention.q_proj
    delta = (layer.lora_B["default"].weight @ layer.lora_A["default"].weight) * (4 / 2)
    w0 = tiny_vit().layers[0].attention.q_proj.weight.detach().clone()
    merged = _merge_negated(tiny_vit(), tmp_path / "sens", scale=0.5)
    got = merged.layers[0].attention.q_proj.weight
    torch.testing.assert_close(got, w0 - 0.5 * delta.detach(), rtol=1e-5, atol=1e-6)
    assert not any(p.requires_grad for p in merged.parameters())


# ------------------------------------------------------------------------------ evaluation, config
def test_evaluate_run_hand_case():
    y = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    s = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    p1 = np.array([0.9, 0.8, 0.7, 0.1, 0.9, 0.2, 0.3, 0.1])  # predictions 1 1 1 0 | 1 0 0 0
    out = evaluate_run(y, p1, s, group_names=("a", "b"))
    assert out["accuracy"] == pytest.approx(6 / 8)
    assert out["dpd"] == pytest.approx(3 / 4 - 1 / 4)
    assert out["tpr_gap"] == pytest.approx(1.0 - 0.5)
    assert out["fpr_gap"] == pytest.approx(0.5 - 0.0)
    # AUC: positives 0.9 .8 .9 .2 vs negatives .7 .1 .3 .1 -> 14 of 16 pairs ordered correctly
    assert out["roc_auc"] == pytest.approx(14 / 16)
    assert out["recall[a]"] == 1.0 and out["fpr[b]"] == 0.0
    assert out["count[a]"] == 4 and out["selection_rate[b]"] == pytest.approx(1 / 4)
    # two-column probabilities give the same record
    assert evaluate_run(y, np.c_[1 - p1, p1], s, group_names=("a", "b")) == out


def test_privacy_config_sections():
    for name in ("smoke", "full", "test"):
        section = get_profile(name).privacy
        assert isinstance(section, PrivacyLoraConfig) and section.notebook == "03"
    assert get_profile("full").privacy.backbone == "google/vit-base-patch16-224-in21k"
    assert any(t.startswith("celeba:") for t in get_profile("full").privacy.tasks)
    with pytest.raises(ConfigError):
        dataclasses.replace(get_profile("smoke").privacy, tasks=("mnist:3",))
    with pytest.raises(ConfigError):
        dataclasses.replace(get_profile("smoke").privacy, variant_seeds=0)
    with pytest.raises(TypeError):  # Orth's form is chosen by the strategy's name, not by a field
        dataclasses.replace(get_profile("smoke").privacy, orth_space="weights")


def test_adapt_wraps_a_bare_backbone_with_adapters_only():
    # the one LoRA wrapper: on a backbone without a head (the roles keep their heads private) only the LoRA
    # factors of q and v train: 1 layer x 2 projections x (A: r x d + B: d x r) = 2 * 2 * 2 * 16
    model = adapt(tiny_vit(), "lora", lora=LoraSpec(r=2, alpha=2))
    trainable = {n: p.numel() for n, p in model.named_parameters() if p.requires_grad}
    assert all("lora_" in n for n in trainable) and sum(trainable.values()) == 2 * 2 * 2 * 16
    assert not model.peft_config["default"].modules_to_save
    with pytest.raises(ValueError, match="bare backbone"):
        adapt(tiny_vit(), "probe")
