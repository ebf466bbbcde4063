"""The PEFT family as data (:data:`PEFT_METHODS`): each method's peft config, its width, its recipe, and the
search for a width that matches a budget of trainable parameters (:func:`match_budget`).

Every adapter is built through peft's own config class (``LoraConfig``, ``VeraConfig``, ``IA3Config``, ...);
the classification head is trained by every method (peft's ``modules_to_save``) and is not counted in the
budget. A *placement* is a module set (``qv``: attention query/value; ``attn``: query/key/value/output; ``all``:
those and the two MLP layers; ``v``: the value projection alone, for the smallest budgets) on the last ``layers``
blocks; a *width* is the method's size knob (rank, VeRA's
shared rank, OFT/BOFT's block size, prompt tuning's virtual tokens; (IA)3 has none). Prompt tuning is placed at the
*input* of a text encoder (:data:`INPUT`): peft prepends its trained virtual tokens to the token embeddings. :func:`match_budget` wraps a fresh copy of the model at
every placement and width and keeps the one whose trainable adapter parameters, as peft counts them
(``get_nb_trainable_parameters``), are nearest the target.
"""

from __future__ import annotations

import contextlib
import copy
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from torch import nn

__all__ = ["PeftMethod", "PEFT_METHODS", "Placement", "BudgetChoice", "MODULE_SETS", "FEEDFORWARD", "INPUT",
           "TOKEN_MODEL_TYPES", "get_peft_method",
           "placements", "target_regex", "wrap", "trainable_names", "adapter_parameters", "head_parameters",
           "match_budget", "recipe_choice", "NotApplicable", "adalora_allocation"]


class NotApplicable(RuntimeError):
    """peft cannot apply a method to a backbone (the message is peft's reason)."""


#: Module sets by the classifier's ``model_type``: last name components of the targeted ``nn.Linear`` layers.
MODULE_SETS: dict[str, dict[str, tuple[str, ...]]] = {
    "vit": {"qv": ("q_proj", "v_proj"), "attn": ("q_proj", "k_proj", "v_proj", "o_proj"),
            "all": ("q_proj", "k_proj", "v_proj", "o_proj", "fc1", "fc2"), "kv+fc2": ("k_proj", "v_proj", "fc2"),
            "v": ("v_proj",)},
    "bert": {"qv": ("query", "value"), "attn": ("query", "key", "value"),
             "all": ("query", "key", "value", "dense"), "v": ("value",)},
    "mlp": {"hidden": ("0",)},
}
#: The placement of a prompt-learning method: the input token embeddings, not a module set.
INPUT = "input"
#: Backbones whose inputs are token embeddings that prompt tuning can extend (by ``model_type``).
TOKEN_MODEL_TYPES = ("bert",)
#: (IA)3's feed-forward layers (their *input* is scaled, as peft's ``feedforward_modules``), by ``model_type``.
FEEDFORWARD = {"vit": ("fc2",), "bert": (), "mlp": ()}


@dataclass(frozen=True)
class Placement:
    """Where an adapter goes and how wide it is: module set, last ``layers`` blocks (None: all), width."""

    modules: str
    layers: int | None
    width: int | None

    def to_dict(self) -> dict:
        return {"modules": self.modules, "layers": self.layers, "width": self.width}


@dataclass(frozen=True)
class BudgetChoice:
    """A method's placement at a budget, its trainable adapter parameters and how far they are from the target."""

    method: str
    placement: Placement
    adapter_parameters: int
    target: int | None
    relative_error: float | None
    within: bool
    reason: str | None = None

    def to_dict(self) -> dict:
        return {"method": self.method, **self.placement.to_dict(), "adapter_parameters": self.adapter_parameters,
                "target": self.target, "relative_error": self.relative_error, "within": self.within,
                "reason": self.reason}


@dataclass(frozen=True)
class PeftMethod:
    """One method of the family.

    Parameters
    ----------
    key, label : str
    kind : {"adapter", "reference"}
        Adapters are built by peft and matched to the budget; references (probe, BitFit, full FT) train a fixed
        set of the model's own parameters.
    config : callable, optional
        ``config(width, targets, feedforward, total_steps) -> peft.PeftConfig`` (adapters).
    width_name : str
        What the width is (``"rank"``, ``"block size"``; empty for none).
    widths : tuple
        Widths tried by :func:`match_budget` (``(None,)``: no width).
    recipe : Placement
        The method's recommended setting (the ``recipe`` budget), on a ViT (other backbones: its width on
        the ``qv``/``hidden`` set; a prompt-learning method: its width at :data:`INPUT`).
    description : str
    modalities : tuple of str
        The task modalities (``"tabular"``, ``"image"``, ``"text"``) the method applies to; elsewhere it is recorded
        as not applicable with :meth:`not_applicable_reason`'s reason.
    why_not : str
        Why the other modalities are excluded (part of that reason).
    """

    key: str
    label: str
    kind: str
    config: Callable[..., Any] | None = None
    width_name: str = ""
    widths: tuple = (None,)
    recipe: Placement = field(default_factory=lambda: Placement("qv", None, None))
    description: str = ""
    modalities: tuple[str, ...] = ("tabular", "image", "text")
    why_not: str = ""

    @property
    def prompt_learning(self) -> bool:
        """Whether the method trains virtual input tokens (placed at :data:`INPUT`) rather than modules."""
        return self.recipe.modules == INPUT

    def not_applicable_reason(self, modality: str) -> str | None:
        """Why the method does not apply to a task of ``modality`` (None when it does)."""
        if modality in self.modalities:
            return None
        return (f"{self.label} applies to {'/'.join(self.modalities)} tasks only (this task is {modality})"
                + (f": {self.why_not}" if self.why_not else ""))


def _lora(**extra: Any) -> Callable[..., Any]:
    def make(width: int, targets: str, feedforward: str | None, total_steps: int) -> Any:
        from peft import LoraConfig

        # alpha = 2 r: LoRA's scale alpha / r = 2, notebook 05's image setting (rsLoRA: 2 sqrt(r)).
        return LoraConfig(r=width, lora_alpha=2 * width, target_modules=targets, modules_to_save=["head"], **extra)

    return make


def _vera(width: int, targets: str, feedforward: str | None, total_steps: int) -> Any:
    from peft import VeraConfig

    return VeraConfig(r=width, target_modules=targets, modules_to_save=["head"], save_projection=True)


def _ia3(width: Any, targets: str, feedforward: str | None, total_steps: int) -> Any:
    from peft import IA3Config

    return IA3Config(target_modules=targets, feedforward_modules=feedforward or [], modules_to_save=["head"])


def _loha(width: int, targets: str, feedforward: str | None, total_steps: int) -> Any:
    from peft import LoHaConfig

    return LoHaConfig(r=width, alpha=width, target_modules=targets, modules_to_save=["head"])


def _lokr(width: int, targets: str, feedforward: str | None, total_steps: int) -> Any:
    from peft import LoKrConfig

    return LoKrConfig(r=width, alpha=width, target_modules=targets, modules_to_save=["head"])


def _adalora(width: int, targets: str, feedforward: str | None, total_steps: int) -> Any:
    from peft import AdaLoraConfig

    # Budget = the initial rank (what trains); the schedule prunes to half of it: warm-up for the first 20% of
    # the steps, final rank fixed for the last 20%, a reallocation every 10% (at least one step each).
    total = max(int(total_steps), 10)
    tinit, tfinal = max(1, total // 5), max(1, total // 5)
    return AdaLoraConfig(init_r=width, target_r=max(1, width // 2), lora_alpha=2 * width, target_modules=targets,
                         modules_to_save=["head"], total_step=total, tinit=tinit, tfinal=tfinal,
                         deltaT=max(1, total // 10))


def _oft(width: int, targets: str, feedforward: str | None, total_steps: int) -> Any:
    from peft import OFTConfig

    return OFTConfig(r=0, oft_block_size=width, target_modules=targets, modules_to_save=["head"])


def _prompt_tuning(width: int, targets: Any, feedforward: Any, total_steps: int) -> Any:
    from peft import PromptTuningConfig

    # Initialised from randomly sampled vocabulary embeddings (Lester et al. 2021 find this better than random
    # vectors, which peft's default draws on another scale than the model's embeddings); the draw is seeded.
    return PromptTuningConfig(task_type="FEATURE_EXTRACTION", num_virtual_tokens=int(width),
                              prompt_tuning_init="SAMPLE_VOCAB")


def _boft(width: int, targets: str, feedforward: str | None, total_steps: int) -> Any:
    from peft import BOFTConfig

    return BOFTConfig(boft_block_size=width, boft_n_butterfly_factor=1, target_modules=targets,
                      modules_to_save=["head"])


# Every rank to 12, so that a budget between two module-set sizes is reachable (e.g. 1% of the stand-in ViT:
# rank 5 on q/v of one block, 1,280 parameters, -8%; ranks 4 and 6 miss it by 26% and 11%).
_RANKS = tuple(range(1, 13)) + (16, 24, 32)
_BLOCKS = (2, 4, 8, 16, 32)
# Virtual tokens, dense enough near MiniLM's 0.1% (22,713 parameters = 59.1 tokens of width 384: 60 is +1.4%);
# :func:`placements` keeps those that fit half of the backbone's positions (the other half is the text's).
_TOKENS = (1, 2, 4, 8, 12, 16, 20, 24, 32, 40, 48, 56, 60, 64, 80, 96, 128, 160, 192, 256)

#: The family, in display order.
PEFT_METHODS: dict[str, PeftMethod] = {m.key: m for m in (
    PeftMethod("lora", "LoRA", "adapter", _lora(), "rank", _RANKS, Placement("qv", None, 8),
               "low-rank update B A, scale alpha / r"),
    PeftMethod("dora", "DoRA", "adapter", _lora(use_dora=True), "rank", _RANKS, Placement("qv", None, 8),
               "LoRA on the direction, a trained magnitude per output unit"),
    PeftMethod("rslora", "rsLoRA", "adapter", _lora(use_rslora=True), "rank", _RANKS, Placement("qv", None, 8),
               "LoRA scaled by alpha / sqrt(r)"),
    PeftMethod("vera", "VeRA", "adapter", _vera, "shared rank", (16, 32, 64, 128, 192, 256, 384, 512, 768, 1024),
               Placement("qv", None, 256), "frozen shared random A, B; trained scaling vectors"),
    PeftMethod("ia3", "(IA)3", "adapter", _ia3, "", (None,), Placement("kv+fc2", None, None),
               "learned rescaling of activations (keys, values, feed-forward input)"),
    PeftMethod("loha", "LoHa", "adapter", _loha, "rank", _RANKS, Placement("qv", None, 8),
               "Hadamard product of two low-rank updates"),
    PeftMethod("lokr", "LoKr", "adapter", _lokr, "rank", _RANKS, Placement("qv", None, 8),
               "Kronecker product of a small factor and a low-rank one"),
    # AdaLoRA from rank 2: it prunes to half its initial rank, and at rank 1 peft's budget mask fails
    # (torch.kthvalue out of range) at the first reallocation.
    PeftMethod("adalora", "AdaLoRA", "adapter", _adalora, "initial rank", _RANKS[1:], Placement("qv", None, 12),
               "SVD-form LoRA whose rank budget is reallocated by importance during training"),
    PeftMethod("oft", "OFT", "adapter", _oft, "block size", _BLOCKS, Placement("qv", None, 32),
               "block-diagonal orthogonal rotation of the weights"),
    PeftMethod("boft", "BOFT", "adapter", _boft, "block size", _BLOCKS, Placement("qv", None, 4),
               "butterfly-factorised orthogonal rotation", modalities=("image", "text"),
               why_not="its block size must divide every adapted layer's inputs, and Adult's MLP has 34"),
    # 20 virtual tokens at the recipe: our choice inside the range Lester et al. study (1 to 150), the prompt
    # length their results level off at for most model sizes.
    PeftMethod("prompt_tuning", "Prompt tuning", "adapter", _prompt_tuning, "virtual tokens", _TOKENS,
               Placement(INPUT, None, 20), "trained virtual tokens prepended to the input embeddings",
               modalities=("text",), why_not="it prepends virtual tokens to a text model's token embeddings"),
    PeftMethod("bitfit", "BitFit", "reference", description="the backbone's biases and the head"),
    PeftMethod("probe", "Linear probe", "reference", description="the head only, on the frozen backbone"),
    PeftMethod("full", "Full FT", "reference", description="every weight"),
)}


def get_peft_method(key: str) -> PeftMethod:
    """The method ``key`` (a ``KeyError`` listing the valid keys)."""
    if key not in PEFT_METHODS:
        raise KeyError(f"unknown PEFT method {key!r}; valid: {tuple(PEFT_METHODS)}")
    return PEFT_METHODS[key]


def _model_type(model: nn.Module) -> str:
    model_type = getattr(model, "model_type", None)
    if model_type not in MODULE_SETS:
        raise NotApplicable(f"no module sets for model_type {model_type!r} (known: {sorted(MODULE_SETS)})")
    return model_type


def _num_layers(model: nn.Module) -> int:
    found = [int(m.group(1)) for name, _ in model.named_modules() if (m := re.search(r"\.layers?\.(\d+)\.", name))]
    return max(found) + 1 if found else 0


def target_regex(model: nn.Module, modules: str, layers: int | None, *, names: tuple[str, ...] | None = None) -> str:
    """The peft ``target_modules`` regex (a full match) of module set ``modules`` on the last ``layers`` blocks."""
    model_type = _model_type(model)
    sets = MODULE_SETS[model_type]
    if modules not in sets:
        raise NotApplicable(f"module set {modules!r} is not defined for {model_type!r}; valid: {tuple(sets)}")
    wanted = names if names is not None else sets[modules]
    alternatives = "|".join(re.escape(n) for n in wanted)
    if model_type == "mlp":
        return rf"backbone\.({alternatives})"
    total = _num_layers(model)
    chosen = range(total - (layers or total), total)
    return rf"backbone(\..*)?\.layers?\.({'|'.join(str(i) for i in chosen)})\..*\b({alternatives})"


def placements(model: nn.Module, method: PeftMethod) -> Iterator[Placement]:
    """Every placement :func:`match_budget` tries, widest reach first (all layers), then narrower; a prompt-learning
    method's at :data:`INPUT`, one per number of virtual tokens that fits half of the backbone's positions."""
    model_type = _model_type(model)
    if method.prompt_learning:
        positions = _max_positions(model)
        for width in method.widths:
            if positions is None or width <= positions // 2:
                yield Placement(INPUT, None, width)
        return
    sets = [s for s in MODULE_SETS[model_type] if s != "kv+fc2"]
    total = _num_layers(model)
    for modules in sets:
        for layers in (range(total, 0, -1) if total else (None,)):
            for width in method.widths:
                yield Placement(modules, None if layers == total or not total else layers, width)


def _max_positions(model: nn.Module) -> int | None:
    config = getattr(getattr(model, "backbone", None), "config", None)
    return getattr(config, "max_position_embeddings", None)


def head_parameters(model: nn.Module) -> int:
    """Parameters of the classification head (trained by every method, not part of the budget)."""
    return sum(p.numel() for p in model.head.parameters())


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def wrap(model: nn.Module, key: str, placement: Placement | None = None, *, total_steps: int = 100) -> nn.Module:
    """``model`` (a :class:`fairlib.models.Classifier`) prepared for method ``key`` at ``placement``.

    Adapters are built with :func:`peft.get_peft_model` from the method's peft config (the head in
    ``modules_to_save``); references set ``requires_grad`` on the model itself. A prompt-learning method wraps the
    backbone (peft's feature-extraction model, which prepends the virtual tokens to the token embeddings and
    freezes the backbone) and trains the head beside it; the classifier's pooling reads the text's own tokens.

    Raises
    ------
    NotApplicable
        peft refuses the config on this backbone (its message says why).
    """
    method = get_peft_method(key)
    if method.kind == "reference":
        model.requires_grad_(key == "full")
        if key == "bitfit":
            for name, param in model.backbone.named_parameters():
                param.requires_grad_(name.endswith("bias"))
        model.head.requires_grad_(True)
        return model
    from peft import get_peft_model

    placement = placement or method.recipe
    model_type = _model_type(model)
    if method.prompt_learning:
        if model_type not in TOKEN_MODEL_TYPES:
            raise NotApplicable(f"{method.label} prepends virtual tokens to a text model's token embeddings; a "
                                f"{model_type!r} backbone has none (text backbones: {TOKEN_MODEL_TYPES})")
        try:
            with _quiet():
                model.backbone = get_peft_model(model.backbone, method.config(placement.width, None, None, total_steps))
        except (ValueError, TypeError, NotImplementedError, RuntimeError, AssertionError, KeyError) as error:
            raise NotApplicable(f"{method.label} at {placement.to_dict()}: peft says: {error}") from error
        model.head.requires_grad_(True)
        return model
    targets = target_regex(model, placement.modules, placement.layers)
    names = MODULE_SETS[model_type][placement.modules]
    ff_names = tuple(n for n in FEEDFORWARD.get(model_type, ()) if n in names)
    feedforward = target_regex(model, placement.modules, placement.layers, names=ff_names) if ff_names else None
    try:
        with _quiet():
            config = method.config(placement.width, targets, feedforward, total_steps)
            return get_peft_model(model, config)
    except (ValueError, TypeError, NotImplementedError, RuntimeError, AssertionError, KeyError) as error:
        raise NotApplicable(f"{method.label} at {placement.to_dict()}: peft says: {error}") from error


def trainable_names(model: nn.Module) -> list[str]:
    """Names of the parameters that train."""
    return [name for name, p in model.named_parameters() if p.requires_grad]


def adapter_parameters(model: nn.Module, head: int) -> int:
    """Trainable parameters minus the head's ``head`` (peft's ``get_nb_trainable_parameters`` for a PeftModel; for a
    classifier whose backbone peft wrapped for prompt learning, the backbone's count: the virtual tokens)."""
    if hasattr(model, "get_nb_trainable_parameters"):
        trainable = model.get_nb_trainable_parameters()[0]
    elif hasattr(getattr(model, "backbone", None), "get_nb_trainable_parameters"):
        return int(model.backbone.get_nb_trainable_parameters()[0])
    else:
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return int(trainable) - int(head)


def recipe_choice(make_model: Callable[[], nn.Module], key: str) -> BudgetChoice:
    """Method ``key`` at its recommended setting (its ``recipe``: peft's default width on the module set of peft's
    default targets, every block), or a reference at its only size (placement ``"own"``): its count, no target."""
    method = get_peft_method(key)
    model = make_model()
    head = head_parameters(model)
    recipe = method.recipe if method.kind == "adapter" else Placement("own", None, None)
    if (method.kind == "adapter" and not method.prompt_learning
            and recipe.modules not in MODULE_SETS.get(getattr(model, "model_type", ""), {})):
        recipe = Placement(next(iter(MODULE_SETS[_model_type(model)])), None, recipe.width)
    try:
        wrapped = wrap(model, key, recipe)
    except NotApplicable as error:
        return BudgetChoice(key, recipe, 0, None, None, False, str(error))
    return BudgetChoice(key, recipe, adapter_parameters(wrapped, head), None, None, True)


def match_budget(make_model: Callable[[], nn.Module], key: str, target: int, *, tolerance: float) -> BudgetChoice:
    """The placement of method ``key`` whose trainable adapter parameters are nearest ``target``.

    Parameters
    ----------
    make_model : callable
        ``make_model() -> Classifier``: a fresh copy of the pre-trained architecture (weights do not matter).
    key : str
        A key of :data:`PEFT_METHODS`.
    target : int
        Adapter parameters wanted (head excluded).
    tolerance : float
        Largest accepted ``|count - target| / target``; beyond it the choice is returned with ``within=False``
        and the reason (the nearest count), and the run is left out of matched comparisons.

    Returns
    -------
    BudgetChoice
        Ties are broken by the order of :func:`placements` (the smallest module set on the most layers first).
        References (probe, BitFit, full) have one placement: their count, judged against the target the same way.
    """
    method = get_peft_method(key)
    if target <= 0:
        raise ValueError(f"target = {target!r} is invalid: must be > 0 parameters")
    original = make_model()  # built once (a task's make_model may load weights); each placement wraps a copy

    def make_model() -> nn.Module:
        # A copy of the modules that shares the original's parameter tensors: a count needs the shapes only, and
        # copying MiniLM's 22.7M weights for each of its ~1,000 placements took a minute. Sharing is safe here:
        # peft leaves the base weights as they are (it only freezes them, the same way on every copy) and gives
        # each adapter, and the head it saves, tensors of its own.
        return copy.deepcopy(original, memo={id(p): p for p in original.parameters()})

    probe_model = make_model()
    head = head_parameters(probe_model)
    if method.kind == "reference":
        count = adapter_parameters(wrap(probe_model, key), head)
        return _judge(key, Placement("own", None, None), count, target, tolerance)
    choice = _search(make_model, probe_model, key, head, target, tolerance, by_module=True)
    if choice is None:  # the sum over modules did not give the count of the chosen placement's own wrap
        choice = _search(make_model, probe_model, key, head, target, tolerance, by_module=False)
    return choice


def _search(make_model: Callable[[], nn.Module], probe_model: nn.Module, key: str, head: int, target: int,
            tolerance: float, *, by_module: bool) -> BudgetChoice | None:
    # Every placement in order, the nearest count kept; None when a count summed by module (by_module) is not the
    # one the chosen placement's own wrap gives.
    method = get_peft_method(key)
    counter = _Counter(make_model, probe_model, key, head, by_module=by_module)
    best: tuple[float, Placement, int] | None = None
    errors: list[str] = []
    upper = target * (1 + tolerance)
    seen: set[tuple] = set()
    for placement in placements(probe_model, method):
        reach = (placement.modules, placement.layers)
        if reach in seen:  # a narrower width already overshot on this reach: wider ones only grow
            continue
        try:
            count = counter.count(placement)
        except NotApplicable as error:
            errors.append(str(error))
            continue
        distance = abs(count - target) / target
        if best is None or distance < best[0] - 1e-12:
            best = (distance, placement, count)
        if count > upper:
            seen.add(reach)
    if best is None:
        return BudgetChoice(key, method.recipe, 0, target, None, False,
                            f"peft cannot apply {method.label} here: {errors[0] if errors else 'no placement'}")
    if by_module:  # the choice's count from its own wrap: what the run will train
        try:
            if adapter_parameters(wrap(make_model(), key, best[1]), head) != best[2]:
                return None
        except NotApplicable:
            return None
    return _judge(key, best[1], best[2], target, tolerance)


class _Counter:
    """Trainable adapter parameters of a method at a placement, as peft counts them.

    The adapters of the module-based methods (every one here but prompt tuning) put a set of parameters on each
    targeted module, whose size depends on that module's shape and the width only; so one wrap per width of
    *every* module of every block gives each module's count, and a placement's count is the sum over the modules
    its regex matches (peft's ``re.fullmatch`` on module names). That replaces a wrap per placement (MiniLM: ~1,400
    wraps, a minute) by one per width. A width whose all-module wrap peft refuses, a trainable parameter that
    belongs to no module, or counts that do not add up to peft's total are wrapped placement by placement, and
    :func:`match_budget` checks its choice by wrapping it.
    """

    def __init__(self, make_model: Callable[[], nn.Module], model: nn.Module, key: str, head: int, *,
                 by_module: bool = True):
        self.make_model, self.model, self.key, self.head = make_model, model, key, head
        self.method = get_peft_method(key)
        self.by_module = by_module and not self.method.prompt_learning
        self.names = [name for name, _ in model.named_modules()]
        self.tables: dict[Any, dict[str, int] | None] = {}

    def count(self, placement: Placement) -> int:
        table = None
        if self.by_module:
            if placement.width not in self.tables:
                self.tables[placement.width] = self._table(placement.width)
            table = self.tables[placement.width]
        if table is not None:
            regex = target_regex(self.model, placement.modules, placement.layers)
            matched = [n for n in self.names if re.fullmatch(regex, n)]
            if matched and all(n in table for n in matched):
                return sum(table[n] for n in matched)
        return adapter_parameters(wrap(self.make_model(), self.key, placement), self.head)

    def _table(self, width: Any) -> dict[str, int] | None:
        # the module set that holds every other one (vit, bert: "all"; mlp: "hidden")
        sets = MODULE_SETS[_model_type(self.model)]
        widest = max(sets, key=lambda name: len(sets[name]))
        if not all(set(names) <= set(sets[widest]) for names in sets.values()):
            return None
        try:
            wrapped = wrap(self.make_model(), self.key, Placement(widest, None, width))
        except NotApplicable:
            return None
        regex = target_regex(self.model, widest, None)
        modules = [n for n in self.names if re.fullmatch(regex, n)]
        table = dict.fromkeys(modules, 0)
        total = 0
        for name, param in wrapped.named_parameters():
            if not param.requires_grad:
                continue
            total += param.numel()
            if ".head." in f".{name}":
                continue
            owner = [m for m in modules if f".{m}." in f".{name}"]
            if len(owner) != 1:
                return None
            table[owner[0]] += param.numel()
        if total - self.head != sum(table.values()) or adapter_parameters(wrapped, self.head) != sum(table.values()):
            return None
        return table


def _judge(key: str, placement: Placement, count: int, target: int, tolerance: float) -> BudgetChoice:
    error = (count - target) / target
    within = abs(error) <= tolerance
    reason = None if within else (f"budget not reachable: nearest {count:,} trainable adapter parameters, "
                                  f"{error:+.0%} from the target {target:,}")
    return BudgetChoice(key, placement, int(count), int(target), float(error), within, reason)


@contextlib.contextmanager
def adalora_allocation(model: nn.Module) -> Iterator[None]:
    """While active, every optimiser step first lets AdaLoRA reallocate its ranks (``update_and_allocate``).

    peft's AdaLoRA needs ``update_and_allocate(step)`` after the backward pass and before the gradients are
    cleared; :func:`fairlib.train.fit` has no step hook, so a global optimiser pre-step hook (torch's
    ``register_optimizer_step_pre_hook``) calls it, with the count of steps taken.
    """
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    base = getattr(model, "base_model", None)
    if base is None or not hasattr(base, "update_and_allocate"):
        yield
        return
    step = {"n": 0}

    def hook(optimizer: Any, args: Any, kwargs: Any) -> None:
        base.update_and_allocate(step["n"])
        step["n"] += 1

    handle = register_optimizer_step_pre_hook(hook)
    try:
        yield
    finally:
        handle.remove()
