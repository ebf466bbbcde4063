"""Erm, Unl, Adv and Orth of Kamalaruban et al. (2025): fairness-aware LoRA when only adapters may cross.

The model developer (:class:`Developer`, data ``(x, y)``) and the fairness auditor (:class:`Auditor`, data
``(x, s)``) each wrap their own copy of the frozen backbone with peft LoRA (no ``modules_to_save``: each
party's head is private) and exchange adapter folders through :mod:`fairlib.methods.privacy_roles`.

Strategies (the paper's Figures 2-5) and the choices the paper's text leaves open
--------------------------------------------------------------------------------
``erm``
    The developer fine-tunes a LoRA adapter and a head on ``(x, y)``; no auditor.
``unl`` (sensitive unlearning)
    The auditor fine-tunes a LoRA adapter (with its private head) to predict ``s`` and sends the adapter.
    The text says only that this capability is "unlearned" before downstream fine-tuning. **Choice made:**
    task-vector negation (Ilharco et al., 2023): the developer merges ``-unlearn_scale * B_s A_s`` into the
    frozen weights, then fine-tunes a fresh task adapter on top. Alternatives the text would also allow
    (gradient ascent on the auditor's side; projecting the task adapter out of the sensitive subspace) are
    not implemented.
``adv`` (adversarial training)
    Alternating optimisation, one round per developer epoch: the developer trains its adapter and head on
    the task and sends the adapter; the auditor loads it, refits its private adversary (a linear head on the
    representation) on ``(x, s)``, then takes one pass of joint steps in which the adversary minimises its
    cross-entropy and the adapter, through a gradient-reversal layer of weight ``adv_lambda``, maximises it;
    the auditor sends the updated adapter back. **Choices made:** the adversary reads the [CLS]
    representation; after the last round the developer refits its head only (one epoch, adapter frozen), so
    that its head matches the adapter the auditor returned without re-learning ``s`` into the adapter (every
    strategy takes this head-only epoch: see "Training budget"). The
    adapter's optimiser in the auditor's pass is Adam; as the reversed gradient is the only one the adapter
    receives there, Adam's invariance to gradient scale makes the step size ``adv_lr``, not ``adv_lambda``
    (which matters with SGD, and is what the gradient-reversal layer applies).
``orth`` (orthogonality loss, the paper's stated form) and its variants ``orth_shift`` and ``orth_olora``
    The auditor trains the sensitive adapter as in ``unl`` and sends it; the developer loads it as a second,
    frozen adapter and adds ``orth_lambda * L_orth`` to its task loss. The text available to us says only
    "decorrelation between learned representations and sensitive features" (the caption of its Figure 5).
    Under the privacy constraint the developer never holds ``s`` nor a predictor of it (the auditor's head
    stays private), so the three forms differ in which quantity plays "sensitive features"; **all three are
    computed by the developer, on its own training images, from the received adapter alone**:

    ``orth`` (``orth_space="features"``, the default: the paper's stated form)
        *Learned representations* = the developer's [CLS] representation ``h_d(x)`` (task adapter active);
        *sensitive features* = ``h_s(x)``, the [CLS] representation of the backbone under the auditor's
        sensitive adapter -- the features the auditor's private head reads to predict ``s`` -- for every
        dimension, computed once before training (the sensitive adapter is frozen, so they do not change).
        ``L_orth`` = squared Frobenius norm of the batch cross-correlation between ``h_d`` and ``h_s``
        (:func:`orthogonality_loss`, centred and normalised: the sum of squared Pearson correlations).
    ``orth_shift`` (``orth_space="shift"``; the default of earlier versions, ``"representation"``)
        Sensitive features = the *shift* the sensitive adapter causes, ``h_s(x) - h_0(x)`` (``h_0`` the frozen
        backbone's representation), reduced to its ``orth_components`` principal directions; same loss. It
        differs from ``orth``: ``h_s`` contains the backbone's own features ``h_0``, which the shift removes, so
        ``orth`` also decorrelates the developer from what the backbone encodes regardless of ``s``.
    ``orth_olora`` (``orth_space="weights"``)
        The O-LoRA form (Wang et al., 2023), on the adapters' weights rather than on representations:
        ``sum_layers ||A_task A_s^T||_F^2`` on the down-projections (no data enters it).

    ``L_orth`` sums ``d x k`` squared correlations: with ``orth`` ``k`` is the hidden width, with
    ``orth_shift`` ``orth_components``, so one ``orth_lambda`` weighs them differently (the notebook states it).

Training budget (equal for every strategy)
    The developer takes the same optimiser steps over the same data in every strategy: ``epochs`` passes of
    adapter + head (the same shuffles: each pass's order depends only on the seed and the pass's number), then
    one head-only pass with the adapter frozen. Adv needs that last pass (its head must match the adapter the
    auditor returned); the others take it too, so that no strategy gets more steps. What differs, and is the
    auditor's, not the developer's: the auditor's sensitive adapter (``auditor_epochs`` passes over the
    auditor's data, for ``unl`` and the ``orth`` forms) and, in ``adv``, the auditor's adversary refits and one
    joint pass per round over the auditor's data. :attr:`Developer.steps` and :attr:`Developer.examples` count
    the developer's side.

peft's multi-adapter behaviour: ``set_adapter(name)`` makes ``name`` the only trainable adapter (every other
adapter's ``requires_grad`` is switched off, and switching back switches the first one on again). The
developer therefore never trains with the sensitive adapter active: :func:`adapter_active` runs a forward
pass under another adapter and restores the active adapter and every ``requires_grad`` flag afterwards, and
the sensitive features are computed once, before training.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..models import LoraSpec, adapt
from ..train import seed_everything
from .privacy_roles import (AuditorView, DeveloperView, SensitiveAttributeError, TaskLabelError, check_exchange,
                            read_signals, refuse_labels, refuse_sensitive, save_exchange)

__all__ = [
    "STRATEGIES", "orthogonality_loss", "adapter_orthogonality", "GradientReversal", "grad_reverse",
    "adversarial_step", "adapter_active", "representation", "Developer", "Auditor", "run_strategy",
    "train_sensitive_adapter", "task_label", "backbone_factory", "ORTH_VARIANTS", "ORTH_SPACES", "adapter_shift",
    "base_representation",
]

#: Orth's three forms: strategy name -> the ``orth_space`` of :class:`Developer` (see the module docstring).
ORTH_VARIANTS = {"orth": "features", "orth_shift": "shift", "orth_olora": "weights"}
ORTH_SPACES = tuple(ORTH_VARIANTS.values())
STRATEGIES = ("erm", "unl", "adv", *ORTH_VARIANTS)


# ----------------------------------------------------------------------------------------------- losses
def orthogonality_loss(u: torch.Tensor, v: torch.Tensor, *, center: bool = True, normalize: bool = True,
                       eps: float = 1e-8) -> torch.Tensor:
    """Squared Frobenius norm of the cross-(co)rrelation ``U^T V`` between the columns of ``u`` and ``v``.

    Parameters
    ----------
    u : tensor (n, d)
    v : tensor (n, k)
        Same rows (examples, or input dimensions for adapter weights).
    center : bool
        Subtract each column's mean first (then ``U^T V`` is a cross-covariance).
    normalize : bool
        Scale each column to unit norm (then the entries are correlations in [-1, 1], and the loss does not
        depend on the scale of either representation).

    Returns
    -------
    tensor
        ``sum_ij (u_i . v_j)^2`` over columns ``i`` of ``u`` and ``j`` of ``v``: 0 exactly when every column of
        ``u`` is orthogonal to every column of ``v``.
    """
    if u.ndim != 2 or v.ndim != 2 or u.shape[0] != v.shape[0]:
        raise ValueError(f"u and v must be (n, d) and (n, k) with the same n, got {tuple(u.shape)}, {tuple(v.shape)}")
    if center:
        u = u - u.mean(dim=0, keepdim=True)
        v = v - v.mean(dim=0, keepdim=True)
    if normalize:
        u = u / (u.norm(dim=0, keepdim=True) + eps)
        v = v / (v.norm(dim=0, keepdim=True) + eps)
    return (u.T @ v).pow(2).sum()


def _lora_factors(model: nn.Module, adapter: str) -> dict[str, torch.Tensor]:
    factors = {}
    for name, module in model.named_modules():
        lora_a = getattr(module, "lora_A", None)
        if isinstance(lora_a, nn.ModuleDict) and adapter in lora_a:
            factors[name] = lora_a[adapter].weight
    return factors


def adapter_orthogonality(model: nn.Module, adapter: str, other: str) -> torch.Tensor:
    """O-LoRA's ``sum over adapted layers of ||A_adapter A_other^T||_F^2`` (peft's ``lora_A`` is ``(r, d_in)``).

    Zero when the input subspaces the two adapters read are orthogonal in every layer.
    """
    mine, theirs = _lora_factors(model, adapter), _lora_factors(model, other)
    if not mine or set(mine) != set(theirs):
        raise ValueError(f"adapters {adapter!r} and {other!r} must adapt the same layers")
    return sum(orthogonality_loss(mine[k].T, theirs[k].T.detach(), center=False, normalize=False) for k in mine)


class GradientReversal(torch.autograd.Function):
    """Identity forward; multiplies the gradient by ``-lam`` backward (Ganin & Lempitsky, 2015)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, lam: float) -> torch.Tensor:
        ctx.lam = float(lam)
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.lam * grad, None


def grad_reverse(x: torch.Tensor, lam: float = 1.0) -> torch.Tensor:
    """``x`` unchanged, with gradients flowing back through it multiplied by ``-lam``."""
    return GradientReversal.apply(x, lam)


def adversarial_step(features: torch.Tensor, adversary: nn.Module, s: torch.Tensor, *, lam: float,
                     optimizers: Sequence[torch.optim.Optimizer]) -> float:
    """One joint step: the adversary descends its cross-entropy, the encoder (through reversal) ascends it.

    Parameters
    ----------
    features : tensor (n, d)
        The representation, still attached to the encoder's (adapter's) graph.
    adversary : nn.Module
        Predicts ``s`` from the representation.
    s : tensor (n,)
    lam : float
        Weight of the reversed gradient reaching the encoder.
    optimizers : sequence of torch optimizers
        Those of the adversary and of the encoder; each is stepped once and zeroed.

    Returns
    -------
    float
        The adversary's cross-entropy before the step.
    """
    loss = F.cross_entropy(adversary(grad_reverse(features, lam)), s)
    for optimizer in optimizers:
        optimizer.zero_grad()
    loss.backward()
    for optimizer in optimizers:
        optimizer.step()
        optimizer.zero_grad()
    return float(loss.detach())


# ------------------------------------------------------------------------------------- peft plumbing
def representation(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The [CLS] representation of a (peft-wrapped) ViT: what the heads and the adversary read."""
    return model(pixel_values=x).last_hidden_state[:, 0]


@contextmanager
def adapter_active(model: nn.Module, name: str) -> Iterator[nn.Module]:
    """Run under adapter ``name``, then restore the active adapter and every parameter's ``requires_grad``.

    peft's ``set_adapter`` switches gradients on for the adapter it activates and off for all others; without
    the restore, computing a feature under a frozen adapter would silently freeze the adapter being trained.
    """
    flags = {p: p.requires_grad for p in model.parameters()}
    previous = model.active_adapter
    model.set_adapter(name)
    try:
        yield model
    finally:
        model.set_adapter(previous)
        for p, flag in flags.items():
            p.requires_grad_(flag)


class _RoleData(Dataset):
    def __init__(self, x: Any, target: np.ndarray | None, transform: Any):
        self.x = torch.as_tensor(np.asarray(x), dtype=torch.float32) if isinstance(x, np.ndarray) else x
        self.target = None if target is None else torch.as_tensor(target, dtype=torch.long)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict:
        x = self.x[i] if self.transform is None else self.transform(self.x[i])
        item = {"x": x, "index": i}
        if self.target is not None:
            item["target"] = self.target[i]
        return item


def _loader(x: Any, target: np.ndarray | None, transform: Any, *, batch_size: int, shuffle: bool,
            seed: int) -> DataLoader:
    generator = torch.Generator().manual_seed(int(seed))
    return DataLoader(_RoleData(x, target, transform), batch_size=batch_size, shuffle=shuffle, generator=generator)


@torch.no_grad()
def _features(model: nn.Module, x: Any, transform: Any, *, batch_size: int, device: str) -> torch.Tensor:
    was_training = model.training
    model.eval()
    out = [representation(model, b["x"].to(device)).cpu()
           for b in _loader(x, None, transform, batch_size=batch_size, shuffle=False, seed=0)]
    model.train(was_training)
    return torch.cat(out)


def _fresh_head(width: int, classes: int, seed: int) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(width, classes)


# ------------------------------------------------------------------------------------------- developer
class Developer:
    """The model developer: LoRA adapter + private task head trained on a :class:`DeveloperView` only.

    Parameters
    ----------
    view : DeveloperView
        Anything carrying a sensitive attribute is refused (:class:`SensitiveAttributeError`).
    backbone : nn.Module
        The developer's own copy of the frozen backbone (modified in place by peft).
    lora : LoraSpec
    lr, batch_size : float, int
        AdamW learning rate (constant) and batch size.
    seed : int
    unlearn_from : path, optional
        An exchange folder with the auditor's sensitive adapter: its negation, times ``unlearn_scale``, is
        merged into the frozen weights before the task adapter is created (strategy ``unl``).
    orthogonal_to : path, optional
        An exchange folder with the auditor's sensitive adapter, loaded as the frozen adapter
        ``"sensitive"`` for the orthogonality loss (strategy ``orth``).
    orth_space : {"features", "shift", "weights"}
        Which form of Orth (:data:`ORTH_VARIANTS`): the paper's (the sensitive adapter's representation),
        the representation shift's principal directions, or O-LoRA's adapter orthogonality.
    orth_components : int
        Principal directions of the sensitive representation shift kept (``orth_space="shift"`` only).
    device : str
    """

    def __init__(self, view: DeveloperView, *, backbone: nn.Module, lora: LoraSpec, lr: float, batch_size: int,
                 seed: int, unlearn_from: str | Path | None = None, unlearn_scale: float = 1.0,
                 orthogonal_to: str | Path | None = None, orth_space: str = "features",
                 orth_components: int = 4, device: str = "cpu"):
        refuse_sensitive(view, backbone, where="Developer")
        if not isinstance(view, DeveloperView):
            raise SensitiveAttributeError(f"the developer takes a DeveloperView, got {type(view).__name__}")
        if orth_space not in ORTH_SPACES:
            raise ValueError(f"orth_space={orth_space!r}; valid choices: {ORTH_SPACES}")
        self.view, self.lr, self.batch_size, self.seed, self.device = view, lr, batch_size, seed, device
        self.orth_space, self.epochs_done = orth_space, 0
        #: Optimiser steps and examples the developer has trained on (every pass, head-only ones included).
        self.steps, self.examples = 0, 0
        seed_everything(seed)
        if unlearn_from is not None:
            backbone = _merge_negated(backbone, unlearn_from, scale=unlearn_scale)
        self.model = adapt(backbone, "lora", lora=lora).to(device)
        width = backbone.config.hidden_size
        self.head = _fresh_head(width, len(view.class_names), seed).to(device)
        self.sensitive_features: torch.Tensor | None = None
        if orthogonal_to is not None:
            check_exchange(orthogonal_to)
            self.model.load_adapter(str(orthogonal_to), adapter_name="sensitive", is_trainable=False)
            self.model.set_adapter("default")
            if orth_space == "features":
                self.sensitive_features = self._sensitive_representation()
            elif orth_space == "shift":
                self.sensitive_features = self._sensitive_shift(orth_components)
        self._optimizer = self._make_optimizer()

    def _make_optimizer(self) -> torch.optim.Optimizer:
        params = [p for p in self.model.parameters() if p.requires_grad] + list(self.head.parameters())
        return torch.optim.AdamW(params, lr=self.lr, weight_decay=0.0)

    def _sensitive_representation(self) -> torch.Tensor:
        # h_s(x): the representation of the developer's images under the auditor's (frozen) sensitive adapter.
        with adapter_active(self.model, "sensitive"):
            return _features(self.model, self.view.x, self.view.transform, batch_size=256, device=self.device)

    def _sensitive_shift(self, components: int) -> torch.Tensor:
        # h_s(x) - h_0(x): what the auditor's adapter changes in the representation of the developer's images.
        with adapter_active(self.model, "sensitive"):
            h_s = _features(self.model, self.view.x, self.view.transform, batch_size=256, device=self.device)
        with self.model.disable_adapter():
            h_0 = _features(self.model, self.view.x, self.view.transform, batch_size=256, device=self.device)
        shift = h_s - h_0
        shift = shift - shift.mean(dim=0, keepdim=True)
        _, _, vh = torch.linalg.svd(shift, full_matrices=False)
        return shift @ vh[:components].T

    def orthogonality(self, h: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """The orthogonality loss of a batch (representation ``h`` of the examples at ``index``)."""
        if self.orth_space == "weights":
            return adapter_orthogonality(self.model, "default", "sensitive")
        return orthogonality_loss(h, self.sensitive_features[index].to(h.device))

    def train_epoch(self, *, orth_lambda: float = 0.0, head_only: bool = False) -> float:
        """One pass over the developer's data; returns the mean loss (cross-entropy + weighted penalty)."""
        if orth_lambda and self.model.peft_config.get("sensitive") is None:
            raise ValueError("orth_lambda > 0 needs the auditor's adapter (orthogonal_to=...)")
        adapter_params = [p for n, p in self.model.named_parameters() if "lora_" in n and ".default." in n]
        for p in adapter_params:
            p.requires_grad_(not head_only)
        self.model.train()
        total, count = 0.0, 0
        loader = _loader(self.view.x, self.view.y, self.view.transform, batch_size=self.batch_size, shuffle=True,
                         seed=self.seed * 1000 + self.epochs_done)
        for batch in loader:
            x, y = batch["x"].to(self.device), batch["target"].to(self.device)
            h = representation(self.model, x)
            loss = F.cross_entropy(self.head(h), y)
            if orth_lambda:
                loss = loss + orth_lambda * self.orthogonality(h, batch["index"])
            self._optimizer.zero_grad()
            loss.backward()
            self._optimizer.step()
            self.steps += 1
            self.examples += len(y)
            total += float(loss.detach()) * len(y)
            count += len(y)
        for p in adapter_params:
            p.requires_grad_(True)
        self.epochs_done += 1
        return total / max(count, 1)

    def export_adapter(self, directory: str | Path, **signals: float) -> Path:
        """Write the task adapter (no head) to an exchange folder for the auditor."""
        refuse_sensitive(signals, where="Developer.export_adapter")
        return save_exchange(self.model, directory, adapter_name="default", signals=signals or None)

    def import_adapter(self, directory: str | Path) -> dict[str, float]:
        """Replace the task adapter's weights by those the auditor sent back; returns its signals."""
        _load_into(self.model, directory)
        return read_signals(directory)

    @torch.no_grad()
    def predict_proba(self, x: Any, *, transform: Any = None) -> np.ndarray:
        """Class probabilities of the developer's model on inputs ``x`` (no labels, no groups)."""
        refuse_sensitive(x, where="Developer.predict_proba")
        self.model.eval()
        out = [F.softmax(self.head(representation(self.model, b["x"].to(self.device))), dim=1).cpu()
               for b in _loader(x, None, transform, batch_size=256, shuffle=False, seed=0)]
        return torch.cat(out).numpy()

    def features(self, x: Any, *, transform: Any = None) -> np.ndarray:
        """The developer's representation of ``x`` (for the experimenter's leakage probe)."""
        refuse_sensitive(x, where="Developer.features")
        return _features(self.model, x, transform, batch_size=256, device=self.device).numpy()


def _merge_negated(backbone: nn.Module, directory: str | Path, *, scale: float) -> nn.Module:
    from peft import PeftModel

    check_exchange(directory)
    wrapped = PeftModel.from_pretrained(backbone, str(directory), is_trainable=False)
    with torch.no_grad():
        for name, param in wrapped.named_parameters():
            if ".lora_B." in name:
                param.mul_(-scale)
    merged = wrapped.merge_and_unload()
    merged.requires_grad_(False)
    return merged


def _load_into(model: nn.Module, directory: str | Path, adapter_name: str = "default") -> None:
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    check_exchange(directory)
    state = load_file(str(Path(directory) / "adapter_model.safetensors"))
    result = set_peft_model_state_dict(model, state, adapter_name=adapter_name)
    unexpected = [k for k in getattr(result, "unexpected_keys", []) if "lora_" in k]
    if unexpected:
        raise ValueError(f"adapter tensors that do not fit this model: {unexpected[:3]}")


def adapter_shift(backbone: Any, adapter: str | Path, x: Any, *, reference: str | Path | None = None,
                  transform: Any = None, device: str = "cpu") -> np.ndarray:
    """What a received adapter changes in the developer's representation of its own inputs.

    The developer can compute this from what it receives alone (the adapter folder and its own ``x``): it is
    the input of the developer-side leakage audit (:mod:`fairlib.methods.privacy_audit`).

    Parameters
    ----------
    backbone : callable
        Returns a fresh copy of the frozen backbone.
    adapter : path
        An exchange folder the developer received.
    x : array or sequence
        The developer's inputs (no labels, no groups).
    reference : path, optional
        Another exchange folder: the shift is taken from its representation (Adv: the adapter the developer
        sent in a round, ``adapter`` being the one the auditor returned). Default: the frozen backbone ``h_0``.
    transform : callable, optional
    device : str

    Returns
    -------
    numpy.ndarray (n, hidden)
        ``h_adapter(x) - h_reference(x)`` ([CLS] representations).
    """
    from peft import PeftModel

    refuse_sensitive(x, where="adapter_shift")
    check_exchange(adapter)
    model = PeftModel.from_pretrained(backbone(), str(adapter), is_trainable=False).to(device)
    h = _features(model, x, transform, batch_size=256, device=device)
    if reference is None:
        with model.disable_adapter():
            base = _features(model, x, transform, batch_size=256, device=device)
    else:
        _load_into(model, reference)
        base = _features(model, x, transform, batch_size=256, device=device)
    return (h - base).numpy()


def base_representation(backbone: Any, x: Any, *, transform: Any = None, device: str = "cpu") -> np.ndarray:
    """The developer's own frozen representation ``h_0(x)`` of its inputs ([CLS]), which it has without receiving
    anything: the baseline of the developer-side leakage audit (what ``s`` it could already predict).

    Parameters
    ----------
    backbone : callable
        Returns a fresh copy of the frozen backbone.
    x : array or sequence
        The developer's inputs (no labels, no groups).
    transform : callable, optional
    device : str

    Returns
    -------
    numpy.ndarray (n, hidden)
    """
    refuse_sensitive(x, where="base_representation")
    model = backbone().to(device)
    return _features(model, x, transform, batch_size=256, device=device).numpy()


# --------------------------------------------------------------------------------------------- auditor
class Auditor:
    """The fairness auditor: holds an :class:`AuditorView`; its heads (sensitive predictor, adversary) stay private.

    Parameters
    ----------
    view : AuditorView
        Anything carrying task labels is refused (:class:`TaskLabelError`).
    backbone : nn.Module
        The auditor's own copy of the frozen backbone.
    lora : LoraSpec
    lr, batch_size, seed, device
    """

    def __init__(self, view: AuditorView, *, backbone: nn.Module, lora: LoraSpec, lr: float, batch_size: int,
                 seed: int, device: str = "cpu"):
        refuse_labels(view, backbone, where="Auditor")
        if not isinstance(view, AuditorView):
            raise TaskLabelError(f"the auditor takes an AuditorView, got {type(view).__name__}")
        self.view, self.backbone, self.lora = view, backbone, lora
        self.lr, self.batch_size, self.seed, self.device = lr, batch_size, seed, device
        self.model: nn.Module | None = None
        self.adversary: nn.Module | None = None
        self._adversary_opt: torch.optim.Optimizer | None = None
        self.rounds = 0

    def _loader(self, shuffle: bool, epoch: int = 0) -> DataLoader:
        return _loader(self.view.x, self.view.s, self.view.transform, batch_size=self.batch_size, shuffle=shuffle,
                       seed=self.seed * 1000 + 500 + epoch)

    def train_sensitive_adapter(self, *, epochs: int) -> dict[str, float]:
        """Fine-tune a LoRA adapter and a private head to predict ``s`` (strategies ``unl`` and ``orth``)."""
        seed_everything(self.seed + 7)
        self.model = adapt(self.backbone, "lora", lora=self.lora).to(self.device)
        head = _fresh_head(self.backbone.config.hidden_size, len(self.view.group_names), self.seed + 7)
        head = head.to(self.device)
        params = [p for p in self.model.parameters() if p.requires_grad] + list(head.parameters())
        optimizer = torch.optim.AdamW(params, lr=self.lr)
        self.model.train()
        for epoch in range(epochs):
            total = correct = count = 0.0
            for batch in self._loader(True, epoch):
                x, s = batch["x"].to(self.device), batch["target"].to(self.device)
                logits = head(representation(self.model, x))
                loss = F.cross_entropy(logits, s)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(s)
                correct += float((logits.argmax(1) == s).sum())
                count += len(s)
        self.model.eval()
        return {"sensitive_loss": total / max(count, 1), "sensitive_accuracy": correct / max(count, 1)}

    def export_sensitive_adapter(self, directory: str | Path, **signals: float) -> Path:
        """Write the sensitive adapter (never its head) to an exchange folder for the developer."""
        if self.model is None:
            raise RuntimeError("train_sensitive_adapter(...) first")
        return save_exchange(self.model, directory, signals=signals or None)

    def adversarial_round(self, task_adapter: str | Path, out: str | Path, *, lam: float, lr: float | None = None,
                          refit_epochs: int = 20) -> dict[str, float]:
        """One auditor turn of ``adv``: load the developer's adapter, refit the adversary, push the adapter away.

        Parameters
        ----------
        task_adapter : path
            The developer's exchange folder.
        out : path
            Where the updated adapter is written (with the adversary's loss and accuracy as signals).
        lam : float
            Gradient-reversal weight of the adapter update.
        lr : float, optional
            Learning rate of the adapter update (default: the auditor's ``lr``).
        refit_epochs : int
            Epochs of adversary training on the frozen representation before the joint pass (cheap: the
            representation is computed once).

        Returns
        -------
        dict
            The signals written with the adapter.
        """
        from peft import PeftModel

        check_exchange(task_adapter)
        if self.model is None:
            self.model = PeftModel.from_pretrained(self.backbone, str(task_adapter), is_trainable=True).to(self.device)
            torch.manual_seed(self.seed + 11)
            self.adversary = nn.Linear(self.backbone.config.hidden_size, len(self.view.group_names)).to(self.device)
            self._adversary_opt = torch.optim.AdamW(self.adversary.parameters(), lr=self.lr)
        else:
            _load_into(self.model, task_adapter)
        # 1. The adversary catches up with the current adapter (full-batch on cached features).
        feats = _features(self.model, self.view.x, self.view.transform, batch_size=256, device=self.device)
        s_all = torch.as_tensor(self.view.s).to(self.device)
        for _ in range(refit_epochs):
            for idx in torch.randperm(len(s_all)).split(self.batch_size):
                loss = F.cross_entropy(self.adversary(feats[idx].to(self.device)), s_all[idx])
                self._adversary_opt.zero_grad()
                loss.backward()
                self._adversary_opt.step()
        with torch.no_grad():
            logits = self.adversary(feats.to(self.device))
            accuracy = float((logits.argmax(1) == s_all).float().mean())
            adv_loss = float(F.cross_entropy(logits, s_all))
        # 2. One pass of joint steps: adversary down its loss, adapter (reversed gradient) up.
        adapter_params = [p for p in self.model.parameters() if p.requires_grad]
        adapter_opt = torch.optim.AdamW(adapter_params, lr=lr or self.lr, weight_decay=0.0)
        self.model.train()
        losses = []
        for batch in self._loader(True, self.rounds):
            x, s = batch["x"].to(self.device), batch["target"].to(self.device)
            losses.append(adversarial_step(representation(self.model, x), self.adversary, s, lam=lam,
                                           optimizers=(self._adversary_opt, adapter_opt)))
        self.model.eval()
        # The pass's last steps (running estimate; a second full pass would double the auditor's cost).
        loss_after = float(np.mean(losses[-max(1, len(losses) // 4):]))
        self.rounds += 1
        signals = {"round": self.rounds, "adversary_loss": adv_loss, "adversary_accuracy": accuracy,
                   "adversary_loss_after": loss_after}
        save_exchange(self.model, out, signals=signals)
        return signals


# ------------------------------------------------------------------------------------------ orchestration
def train_sensitive_adapter(auditor_view: AuditorView, out: str | Path, *, backbone: nn.Module, lora: LoraSpec,
                            lr: float, batch_size: int, epochs: int, seed: int, device: str = "cpu") -> dict:
    """The auditor's whole job for ``unl`` and ``orth``: train the sensitive adapter, write it to ``out``."""
    auditor = Auditor(auditor_view, backbone=backbone, lora=lora, lr=lr, batch_size=batch_size, seed=seed,
                      device=device)
    signals = auditor.train_sensitive_adapter(epochs=epochs)
    auditor.export_sensitive_adapter(out, **signals)
    return signals


def run_strategy(strategy: str, developer_view: DeveloperView, *, backbone: Any, lora: LoraSpec, epochs: int,
                 lr: float, batch_size: int, seed: int, workdir: str | Path,
                 auditor_view: AuditorView | None = None, sensitive_adapter: str | Path | None = None,
                 unlearn_scale: float = 1.0, orth_lambda: float = 1.0, orth_components: int = 4, adv_lambda: float = 1.0, adv_lr: float | None = None,
                 adv_refit_epochs: int = 20, device: str = "cpu") -> tuple[Developer, list[dict]]:
    """Run one strategy end to end; the two roles meet only through exchange folders under ``workdir``.

    Parameters
    ----------
    strategy : {"erm", "unl", "adv", "orth", "orth_shift", "orth_olora"}
        The ``orth`` forms choose their ``orth_space`` by name (:data:`ORTH_VARIANTS`).
    developer_view : DeveloperView
    backbone : callable
        Returns a fresh copy of the frozen backbone (each party, each run, gets its own).
    lora : LoraSpec
    epochs, lr, batch_size, seed
        The developer's training (``adv``: one round per epoch).
    workdir : path
        Exchange folders are written here.
    auditor_view : AuditorView, optional
        Needed for ``adv`` (the auditor runs its rounds).
    sensitive_adapter : path, optional
        The auditor's exchange folder with the sensitive adapter; needed for ``unl`` and ``orth``.
    unlearn_scale, orth_lambda, orth_components, adv_lambda, adv_lr, adv_refit_epochs
        See the module docstring.
    device : str

    Returns
    -------
    (Developer, list of dict)
        The trained developer and the signals received from the auditor (``adv``), one dict per round. Every
        strategy ends with the same head-only epoch, so the developer's :attr:`~Developer.steps` are equal.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy={strategy!r}; valid choices: {STRATEGIES}")
    orth = strategy in ORTH_VARIANTS
    if (strategy == "unl" or orth) and sensitive_adapter is None:
        raise ValueError(f"strategy {strategy!r} needs the auditor's sensitive adapter (sensitive_adapter=...)")
    if strategy == "adv" and auditor_view is None:
        raise ValueError("strategy 'adv' needs the auditor's data (auditor_view=...) for its rounds")
    workdir = Path(workdir)
    developer = Developer(developer_view, backbone=backbone(), lora=lora, lr=lr, batch_size=batch_size, seed=seed,
                          unlearn_from=sensitive_adapter if strategy == "unl" else None, unlearn_scale=unlearn_scale,
                          orthogonal_to=sensitive_adapter if orth else None,
                          orth_space=ORTH_VARIANTS.get(strategy, ORTH_VARIANTS["orth"]),
                          orth_components=orth_components, device=device)
    received: list[dict] = []
    if strategy == "adv":
        auditor = Auditor(auditor_view, backbone=backbone(), lora=lora, lr=lr, batch_size=batch_size, seed=seed,
                          device=device)
        for r in range(epochs):
            developer.train_epoch()
            sent = developer.export_adapter(workdir / f"adv_round{r}_developer")
            auditor.adversarial_round(sent, workdir / f"adv_round{r}_auditor", lam=adv_lambda, lr=adv_lr,
                                      refit_epochs=adv_refit_epochs)
            received.append(developer.import_adapter(workdir / f"adv_round{r}_auditor"))
    else:
        for _ in range(epochs):
            developer.train_epoch(orth_lambda=orth_lambda if orth else 0.0)
    developer.train_epoch(head_only=True)  # every strategy: the same steps (see "Training budget")
    return developer, received


# ------------------------------------------------------------------------------------------------ data
def task_label(task: str) -> str:
    """Readable name of a task key of :class:`fairlib.config.PrivacyLoraConfig` (stand-ins say so)."""
    parts = task.split(":")
    if parts[0] == "standin" and parts[1] == "celeba-like":
        return f"CelebA-like stand-in: {parts[2]} (s = {parts[3]})"
    if parts[0] == "standin" and parts[1] == "utk-like":
        return f"UTK-like stand-in: {parts[2]} (s = 5 appearances)"
    if parts[0] == "celeba":
        return f"CelebA {parts[1]} (s = Male)"
    if parts[0] == "utkface":
        return f"UTK-Face {parts[1]} (s = race)"
    raise ValueError(f"unknown task {task!r}")


def backbone_factory(name: str, *, stand_in_vit: Any = None) -> Any:
    """A callable returning a fresh, frozen copy of the backbone (loaded once; every party gets its own copy).

    ``name="stand-in"`` uses :func:`fairlib.train.pretrained_tiny_vit` with ``stand_in_vit``; anything else is
    a hub id or local directory read by :func:`fairlib.models.load_backbone`, which raises
    :class:`~fairlib.models.CheckpointMissingError` with instructions when the checkpoint is absent.
    """
    if name == "stand-in":
        from ..train import pretrained_tiny_vit

        base = pretrained_tiny_vit(stand_in_vit, verbose=False)
    else:
        from ..models import load_backbone

        base = load_backbone(name)
    base.requires_grad_(False).eval()

    def fresh() -> nn.Module:
        return copy.deepcopy(base)

    fresh.config = base.config
    return fresh
