"""The claims catalogue: every claim of papers 1-4 (and notebook 05's cross-paper re-tests), declared before any
result is seen, and the separate list of checks (parameter counts, identities) that are never paper claims.

Each :class:`Claim` carries everything its statistical test needs (kind, metric, direction, margin, the paper's
value); :mod:`fairlib.evidence` evaluates it on a notebook's per-seed values and returns one row of the results
JSON schema (documented in ``figures/README.md``). :data:`PAPERS` names the paper of each notebook.

:data:`CLAIMS` is the legacy text list that notebooks 01-05 still emit as free-text rows; it is kept until those
notebooks move onto :mod:`fairlib.evidence` (``fairlib.experiments.fisher`` reads its notebook-04 order).
"""

from __future__ import annotations

import dataclasses
from typing import Optional

__all__ = ["PAPERS", "CLAIMS", "KINDS", "METRICS", "MARGINS", "SLOPE_MARGINS", "Claim", "Check", "CATALOGUE",
           "CHECKS", "claim", "check", "claims_of", "checks_of"]

PAPERS = {
    "01": "Ding, Liu, Peetathawatchai, Isik & Koyejo (2024): LoRA vs full fine-tuning fairness",
    "02": "FairLoRA (2024): per-group loss-variance regularised LoRA",
    "03": "Kamalaruban et al. (2025): fairness-aware LoRA under demographic privacy constraints",
    "04": "Zhang & Zhou (2024): Fisher-neutralised weighted SVD of the last layer",
    "05": "This repository: every method on the same tasks",
    "06": "This repository: the PEFT family at a matched budget of trainable parameters",
}

#: The four kinds of claim (see :mod:`fairlib.evidence` for each test).
KINDS = ("superiority", "equivalence", "match", "trend")

#: Canonical metric names. ``error`` is in percent (paper 4 reports 100 - weighted F1), ``eo_sum`` is
#: Delta_TPR + Delta_FPR (paper 4's Delta_EO), ``eo_max`` the larger of the two (fairlearn's EOD), ``auc`` the
#: area under a ROC curve (membership inference, group separability), ``rank_correlation`` a Spearman rho.
METRICS = ("accuracy", "worst_group_accuracy", "worst_cell_accuracy", "dpd", "tpr_gap", "fpr_gap", "eo_max",
           "eo_sum", "f1_gap", "min_group_f1", "min_group_recall", "ece", "auc", "error", "rank_correlation")

#: Equivalence (and non-inferiority) margins per metric, in the metric's own units, declared before any result.
MARGINS = {
    # Two accuracy points: below the seed-to-seed spread the papers report for fine-tuned ViTs (about 1 point
    # sd) times two, and the smallest difference papers 1-3 discuss as a change in utility.
    "accuracy": 0.02, "worst_group_accuracy": 0.02, "worst_cell_accuracy": 0.02,
    # F1 and recall of the worst group move like accuracy: the same two points.
    "min_group_f1": 0.02, "min_group_recall": 0.02,
    # A gap between groups (DPD, TPR/FPR gaps, EOD, F1 gap) of 0.05 is the smallest change papers 1-4 call a
    # difference in fairness (paper 4's Table 3 distinguishes settings 0.02-0.05 apart only with its own sd).
    "dpd": 0.05, "tpr_gap": 0.05, "fpr_gap": 0.05, "eo_max": 0.05, "f1_gap": 0.05,
    # Paper 4's Delta_EO sums two gaps: twice the margin of one gap.
    "eo_sum": 0.10,
    # ECE of 0.02: paper 1 calls calibration differences of this order "comparable" (its Fig. 3 spread).
    "ece": 0.02,
    # AUC of 0.03: paper 1 reads LiRA AUCs within a few hundredths of each other as "roughly as resistant".
    "auc": 0.03,
    # Error in percent: the accuracy margin of two points, in paper 4's units.
    "error": 2.0,
    # A rank correlation differing by 0.1 is the smallest change read as a different ranking.
    "rank_correlation": 0.1,
}

#: Margins of "does not depend on X" trend claims: the largest slope per unit of log2(X) still read as no
#: dependence. A slope of margin/6 per doubling moves the metric by at most its equivalence margin over the six
#: doublings of a rank sweep 1 -> 64, so the whole sweep stays inside :data:`MARGINS`.
SLOPE_MARGINS = {metric: margin / 6 for metric, margin in MARGINS.items()}


@dataclasses.dataclass(frozen=True)
class Claim:
    """One claim of a paper, with its test declared before any result.

    Parameters
    ----------
    id : str
        Stable identifier ``p<paper>.<topic>.<what>`` (``x.`` for notebook 05's re-tests).
    notebook : str
        Two-digit number of the notebook that tests it.
    paper : str
        ``"1"``..``"4"``.
    statement : str
        What the paper says, in its sense.
    kind : str
        One of :data:`KINDS`.
    metric : str
        A name of :data:`METRICS`, or several joined by ``+`` when one claim spans metrics (each comparison
        then names its own).
    direction : int
        superiority: +1 when the claim is ``A - B > 0`` (``A`` larger), -1 when ``A - B < 0``;
        equivalence: 0 for two-sided equivalence, +1/-1 for non-inferiority (``direction * (A - B) > -margin``);
        trend: +1/-1 for a monotone rise/fall along the sweep, 0 for "does not depend on it".
    margin : float, optional
        Equivalence: from :data:`MARGINS`; trend with direction 0: from :data:`SLOPE_MARGINS`; match: the
        margin used when the paper gives no spread.
    paper_value, paper_pm : float, optional
        match: the paper's number and its reported spread.
    dataset : str
        The paper's data the claim is about.
    combine : str
        With several comparisons: ``"all"`` (every one must hold) or ``"any"`` (at least one; "in some cases").
    threshold : float
        superiority with one sample: the value ``A`` is compared with (0 for paired differences).
    log_x : bool
        trend: the sweep is read on a log2 scale (ranks).
    """

    id: str
    notebook: str
    paper: str
    statement: str
    kind: str
    metric: str
    direction: int = 0
    margin: Optional[float] = None
    paper_value: Optional[float] = None
    paper_pm: Optional[float] = None
    dataset: str = ""
    combine: str = "all"
    threshold: float = 0.0
    log_x: bool = False

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.id}: kind {self.kind!r} is not one of {KINDS}")
        bad = [m for m in self.metric.split("+") if m not in METRICS]
        if bad:
            raise ValueError(f"claim {self.id}: metric {bad[0]!r} is not one of {METRICS}")
        if self.direction not in (-1, 0, 1):
            raise ValueError(f"claim {self.id}: direction {self.direction!r} must be -1, 0 or +1")
        if self.combine not in ("all", "any"):
            raise ValueError(f"claim {self.id}: combine {self.combine!r} must be 'all' or 'any'")
        if self.kind == "superiority" and self.direction == 0:
            raise ValueError(f"claim {self.id}: a superiority claim needs direction +1 or -1")
        if (self.kind == "equivalence" or (self.kind == "trend" and self.direction == 0)) and not self.margin:
            raise ValueError(f"claim {self.id}: an equivalence needs a positive margin")
        if self.kind == "match" and (self.paper_value is None or not (self.paper_pm or self.margin)):
            raise ValueError(f"claim {self.id}: a match claim needs paper_value and paper_pm (or a margin)")
        if self.notebook not in PAPERS:
            raise ValueError(f"claim {self.id}: notebook {self.notebook!r} is not one of {sorted(PAPERS)}")


@dataclasses.dataclass(frozen=True)
class Check:
    """A property of the implementation (a count, an identity): shown in the report, never a reproduction."""

    id: str
    notebook: str
    statement: str
    expected: Optional[float] = None
    tolerance: float = 0.0


def _m(*metrics: str) -> float:
    return max(MARGINS[m] for m in metrics)


_P1_DATA = "CelebA and UTK-Face (ViT-Base, Swin-v2), Berkeley D-Lab hate speech (Llama-2 7B, Mistral 7B)"
_P2_DATA = "the paper's vision benchmarks with distribution shift (ViT, DINO, CLIP backbones)"
#: Notebook 02's two readings of FairLoRA's groups: (claim id suffix, name). The first is the paper's headline.
_P2_READINGS = (("", "per-class"), (".subgroups", "class x attribute subgroups"))
_P3_DATA = "CelebA and UTK-Face with an ImageNet pre-trained ViT-Base"
#: Notebook 03's three forms of Orth: (claim id suffix, name). The first is the paper's stated form.
_P3_ORTH_FORMS = (("", "the paper's form, orth: representation vs the sensitive adapter's representation"),
                  (".shift", "variant orth_shift: representation vs the sensitive representation shift"),
                  (".olora", "variant orth_olora: O-LoRA adapter orthogonality"))
_P4_DATA = "Adult (MLP)"
_P4_IMAGES = "CelebA and LFW+a"
_X_DATA = "notebook 05's common tasks (a re-test, not the paper's data)"
_X06_DATA = "notebook 05's tasks with peft's methods (an extension, not a paper's data)"

CATALOGUE: tuple[Claim, ...] = (
    # ---------------------------------------------------------------- paper 1 (notebook 01)
    # "no consistent pattern of LoRA worsening subgroup fairness; in many cases equivalent or even improved":
    # non-inferiority of LoRA against full fine-tuning (A = LoRA, B = full FT) on every (backbone, task).
    Claim("p1.fairness.worst_group_accuracy", "01", "1",
          "LoRA is not less fair than full fine-tuning: worst-group accuracy no lower", "equivalence",
          "worst_group_accuracy", +1, MARGINS["worst_group_accuracy"], dataset=_P1_DATA),
    Claim("p1.fairness.dpd", "01", "1", "LoRA is not less fair than full fine-tuning: demographic parity gap no "
          "larger", "equivalence", "dpd", -1, MARGINS["dpd"], dataset=_P1_DATA),
    Claim("p1.fairness.eo_max", "01", "1", "LoRA is not less fair than full fine-tuning: equalized-odds gap no "
          "larger", "equivalence", "eo_max", -1, MARGINS["eo_max"], dataset=_P1_DATA),
    Claim("p1.calibration.ece", "01", "1", "LoRA's calibration per subgroup is comparable to full fine-tuning's "
          "(ECE and worst-group ECE)", "equivalence", "ece", 0, MARGINS["ece"], dataset=_P1_DATA),
    # One LoRA and one full-FT target per attacked domain, as in the paper: each comparison rests on n = 1 pair at
    # every profile (underpowered by design; notebook 01's row says so under detail["power"]).
    Claim("p1.membership.auc", "01", "1", "LoRA is roughly as resistant to membership inference (LiRA AUC) as full "
          "fine-tuning, per subgroup", "equivalence", "auc", 0, MARGINS["auc"], dataset=_P1_DATA),
    Claim("p1.rank.dpd", "01", "1", "Fairness does not depend consistently on the LoRA rank (demographic parity "
          "gap)", "trend", "dpd", 0, SLOPE_MARGINS["dpd"], dataset=_P1_DATA, log_x=True),
    Claim("p1.rank.eo_max", "01", "1", "Fairness does not depend consistently on the LoRA rank (equalized-odds "
          "gap)", "trend", "eo_max", 0, SLOPE_MARGINS["eo_max"], dataset=_P1_DATA, log_x=True),
    # A = |fairness change from swapping the base model|, B = |change from LoRA vs full FT|, per (task, metric).
    Claim("p1.base_model.matters_more", "01", "1", "The base model matters more to fairness than the choice "
          "between LoRA and full fine-tuning", "superiority", "worst_group_accuracy+dpd+eo_max", +1,
          dataset=_P1_DATA),
    # ---------------------------------------------------------------- paper 2 (notebook 02): A = FairLoRA
    # Each claim twice: on the per-class reading of the regulariser (the paper's headline, "minimizing per-class
    # variance in loss"; id p2.<claim>) and re-tested on the class x attribute subgroups reading (the group-DRO
    # cells, which the paper's method text also allows, "each class or subgroup"; id p2.<claim>.subgroups).
    *(Claim(f"p2.{other_id}.{metric}{suffix}", "02", "2",
            f"FairLoRA is fairer than {other} ({label}; {reading} reading)", "superiority", metric, direction,
            dataset=_P2_DATA)
      for suffix, reading in _P2_READINGS
      for other_id, other in (("vs_lora", "LoRA"), ("vs_fair_fft", "fair full fine-tuning"))
      for metric, label, direction in (("min_group_f1", "higher min-group F1", +1),
                                       ("min_group_recall", "higher min-group recall", +1),
                                       ("f1_gap", "smaller F1 gap", -1), ("eo_max", "smaller EOD", -1))),
    *(c for suffix, reading in _P2_READINGS for c in (
        Claim(f"p2.rank.not_needed{suffix}", "02", "2", "FairLoRA's fairness does not need a higher LoRA rank "
              f"(min-group F1 flat in rank; {reading} reading)", "trend", "min_group_f1", 0,
              SLOPE_MARGINS["min_group_f1"], dataset=_P2_DATA, log_x=True),
        Claim(f"p2.rank.low_rank_fairlora_vs_high_rank_lora{suffix}", "02", "2", "FairLoRA at a low rank is at "
              f"least as fair as LoRA at a high rank (min-group F1; {reading} reading)", "equivalence",
              "min_group_f1", +1, MARGINS["min_group_f1"], dataset=_P2_DATA))),
    # ---------------------------------------------------------------- paper 3 (notebook 03): B = Erm
    # Each Orth claim on the paper's stated form (id p3.orth.<claim>) and re-tested on the two named variants
    # (p3.orth.<claim>.shift, .olora; fairlib.methods.privacy_strategies says how the three differ).
    *(c for suffix, form in _P3_ORTH_FORMS for c in (
        Claim(f"p3.orth.reduces_bias{suffix}", "03", "3", f"Orth ({form}) consistently reduces bias (DP, TPR and "
              "FPR gaps) relative to the fairness-unaware baseline", "superiority", "dpd+tpr_gap+fpr_gap", -1,
              dataset=_P3_DATA),
        Claim(f"p3.orth.keeps_utility{suffix}", "03", "3", f"Orth ({form}) maintains or improves utility "
              "(accuracy)", "equivalence", "accuracy", +1, MARGINS["accuracy"], dataset=_P3_DATA))),
    Claim("p3.adv.fpr_gap", "03", "3", "Adv improves FPR parity in some cases", "superiority", "fpr_gap", -1,
          dataset=_P3_DATA, combine="any"),
    Claim("p3.adv.dpd", "03", "3", "Adv improves demographic parity in some cases", "superiority", "dpd", -1,
          dataset=_P3_DATA, combine="any"),
    # "no clear benefit": Unl's gaps are not lower than Erm's by more than the margin (A - B > -margin).
    Claim("p3.unl.no_clear_benefit", "03", "3", "Sensitive unlearning (Unl) gives no clear benefit (gaps not "
          "lower)", "equivalence", "dpd+tpr_gap+fpr_gap", +1, _m("dpd", "tpr_gap", "fpr_gap"), dataset=_P3_DATA),
    # ---------------------------------------------------------------- paper 4 (notebook 04)
    Claim("p4.table3.ours_error", "04", "4", "Table 3: OURS error 15.829 ± 0.340 (%)", "match", "error",
          paper_value=15.829, paper_pm=0.340, dataset=_P4_DATA),
    Claim("p4.table3.ours_eo_sum", "04", "4", "Table 3: OURS Delta_EO 0.197 ± 0.011", "match", "eo_sum",
          paper_value=0.197, paper_pm=0.011, dataset=_P4_DATA),
    Claim("p4.table3.ours_dpd", "04", "4", "Table 3: OURS Delta_DP 0.180 ± 0.022", "match", "dpd",
          paper_value=0.180, paper_pm=0.022, dataset=_P4_DATA),
    Claim("p4.ours.reduces_bias", "04", "4", "OURS reduces bias (Delta_EO, Delta_DP) relative to the pre-trained "
          "model without retraining (Table 3)", "superiority", "eo_sum+dpd", -1, dataset=_P4_DATA),
    Claim("p4.ours.error_below_retrain", "04", "4", "OURS has lower error than every Retrain+EO/DP setting "
          "(Table 3)", "superiority", "error", -1, dataset=_P4_DATA),
    Claim("p4.ours.other_gap_below_retrain", "04", "4", "OURS has lower Delta_DP than Retrain+EO and lower "
          "Delta_EO than Retrain+DP (Table 3)", "superiority", "dpd+eo_sum", -1, dataset=_P4_DATA),
    Claim("p4.retrain.error_rises", "04", "4", "Retrain+EO/DP: error rises as the penalty intensity grows "
          "(Table 3)", "trend", "error", +1, dataset=_P4_DATA),
    Claim("p4.retrain.bias_falls", "04", "4", "Retrain+EO/DP: the penalised gap falls as the intensity grows "
          "(Table 3)", "trend", "eo_sum+dpd", -1, dataset=_P4_DATA),
    Claim("p4.fair_pretraining.bias_rises", "04", "4", "Fair pre-training does not transfer: bias rises after "
          "fine-tuning (Table 2)", "superiority", "eo_sum+dpd", +1, dataset=_P4_DATA),
    Claim("p4.fig4.adult.error", "04", "4", "Fig. 4 (Adult): OURS has lower error than TL and f+SVD",
          "superiority", "error", -1, dataset=_P4_DATA),
    Claim("p4.fig4.adult.gaps", "04", "4", "Fig. 4 (Adult): OURS has lower Delta_DP and Delta_EO than TL and "
          "f+SVD", "superiority", "dpd+eo_sum", -1, dataset=_P4_DATA),
    Claim("p4.fig4.images", "04", "4", "Fig. 4 (image sets): OURS has the lowest error, Delta_DP and Delta_EO",
          "superiority", "error+dpd+eo_sum", -1, dataset=_P4_IMAGES),
    # AUC of predicting the group from the representation, f_B (standard) minus f_F (fair pre-training).
    Claim("p4.fig1.separation", "04", "4", "Fig. 1: fine-tuned representations separate the groups, less so for "
          "the fair pre-trained model", "superiority", "auc", +1, dataset=_P4_DATA),
    # Spearman rho between the groups' rankings of the last layer's units by Fisher importance, below 0.9.
    Claim("p4.fig3.important_weights_differ", "04", "4", "Fig. 3: the last layer's important weights differ "
          "between the groups", "superiority", "rank_correlation", -1, dataset=_P4_DATA, threshold=0.9),
    Claim("p4.table4.depth", "04", "4", "Table 4: deeper MLPs give marginally lower error (Adult)", "trend",
          "error", -1, dataset=_P4_DATA),
    Claim("p4.fig5.error_falls", "04", "4", "Fig. 5: as alpha grows, error falls slightly", "trend", "error", -1,
          dataset=_P4_DATA),
    Claim("p4.fig5.gaps_rise", "04", "4", "Fig. 5: as alpha grows, Delta_DP and Delta_EO rise", "trend",
          "dpd+eo_sum", +1, dataset=_P4_DATA),
    # ---------------------------------------------------------------- notebook 05: re-tests on common tasks
    Claim("x.p1.lora_not_less_fair", "05", "1", "Paper 1 on the common tasks: LoRA is not less fair than full "
          "fine-tuning (EOD, DPD)", "equivalence", "eo_max+dpd", -1, _m("eo_max", "dpd"), dataset=_X_DATA),
    Claim("x.p2.fairlora_vs_lora", "05", "2", "Paper 2 on the common tasks: FairLoRA is fairer than LoRA "
          "(min-group F1)", "superiority", "min_group_f1", +1, dataset=_X_DATA),
    Claim("x.p2.fairlora_vs_fair_fft", "05", "2", "Paper 2 on the common tasks: FairLoRA is fairer than fair full "
          "fine-tuning (min-group F1)", "superiority", "min_group_f1", +1, dataset=_X_DATA),
    Claim("x.p3.orth_lowers_dpd", "05", "3", "Paper 3 on the common tasks: Orth lowers the DP gap relative to Erm",
          "superiority", "dpd", -1, dataset=_X_DATA),
    Claim("x.p3.orth_keeps_accuracy", "05", "3", "Paper 3 on the common tasks: Orth keeps accuracy relative to "
          "Erm", "equivalence", "accuracy", +1, MARGINS["accuracy"], dataset=_X_DATA),
    Claim("x.p3.unl_no_clear_benefit", "05", "3", "Paper 3 on the common tasks: Unl gives no clear benefit over "
          "Erm (DP gap not lower)", "equivalence", "dpd", +1, MARGINS["dpd"], dataset=_X_DATA),
    Claim("x.p4.fisher_vs_tl", "05", "4", "Paper 4 on the common tasks: Fisher-neutralised SVD is fairer (Delta_DP, "
          "Delta_EO) and no less accurate than TL", "superiority", "dpd+eo_sum+error", -1, dataset=_X_DATA),
    # ---------------------------------------------------------------- notebook 06: the PEFT family (issue 15)
    # Declared before any notebook-06 run. Paper 1's claim extended to peft's other methods at each matched
    # budget level: LoRA's gaps no larger than each other adapter's by more than the gap margin (0.05).
    Claim("06.lora_not_less_fair", "06", "1", "LoRA is not less fair than the other PEFT methods at the same "
          "budget of trainable parameters (DPD, EOD)", "equivalence", "dpd+eo_max", -1, _m("dpd", "eo_max"),
          dataset=_X06_DATA),
    # "Does not depend": the DPD slope per doubling of the adapter's parameters within SLOPE_MARGINS (the gap
    # margin over six doublings), read over every adapter, budget and seed.
    Claim("06.gap_vs_parameters", "06", "1", "Fairness (DPD) does not depend on the number of trainable "
          "parameters across PEFT methods", "trend", "dpd", 0, SLOPE_MARGINS["dpd"], dataset=_X06_DATA,
          log_x=True),
    # Paper 2's regulariser transferred: a gain in worst-group accuracy for every method.
    Claim("06.variance_term_worst_group", "06", "2", "FairLoRA's loss-variance term improves worst-group "
          "accuracy for every PEFT method", "superiority", "worst_group_accuracy", +1, dataset=_X06_DATA),
)

CHECKS: tuple[Check, ...] = (
    Check("check.p4.parameters_ours", "04", "Trainable parameters of OURS on the Adult MLP: 46 (paper)", 46),
    Check("check.p4.parameters_retrain", "04", "Trainable parameters of retraining on the Adult MLP: 742 (paper)",
          742),
    Check("check.p4.full_rank_identity", "04", "At full rank (2) the factorised head equals the pre-trained one "
          "before fine-tuning (largest logit difference)", 0.0, 1e-4),
    Check("check.x.parameters_ours", "05", "Trainable parameters of Fisher-neutralised SVD on the Adult MLP: 46", 46),
    Check("check.x.parameters_retrain", "05", "Trainable parameters of retraining (full FT) on the Adult MLP: 742",
          742),
)

_BY_ID = {c.id: c for c in CATALOGUE}
_CHECKS_BY_ID = {c.id: c for c in CHECKS}
if len(_BY_ID) != len(CATALOGUE) or len(_CHECKS_BY_ID) != len(CHECKS) or set(_BY_ID) & set(_CHECKS_BY_ID):
    raise RuntimeError("claim and check ids must be unique")


def claim(claim_id: str) -> Claim:
    """The catalogue entry of ``claim_id`` (a ``KeyError`` naming close ids when unknown)."""
    try:
        return _BY_ID[claim_id]
    except KeyError:
        prefix = claim_id.split(".")[0]
        close = sorted(i for i in _BY_ID if i.startswith(prefix + "."))
        raise KeyError(f"unknown claim id {claim_id!r}; claims with that prefix: {close}") from None


def check(check_id: str) -> Check:
    """The check ``check_id``."""
    try:
        return _CHECKS_BY_ID[check_id]
    except KeyError:
        raise KeyError(f"unknown check id {check_id!r}; valid: {sorted(_CHECKS_BY_ID)}") from None


def claims_of(notebook: str) -> tuple[Claim, ...]:
    """The catalogue's claims tested by ``notebook`` (two digits), in catalogue order."""
    return tuple(c for c in CATALOGUE if c.notebook == notebook)


def checks_of(notebook: str) -> tuple[Check, ...]:
    """The checks of ``notebook``."""
    return tuple(c for c in CHECKS if c.notebook == notebook)


# ------------------------------------------------------------------------------------------------------------
# LEGACY (removed when notebooks 01-05 emit rows of fairlib.evidence): the free-text claims they record today.
# ------------------------------------------------------------------------------------------------------------
CLAIMS = {
    "01": [
        "No consistent pattern that LoRA is less fair than full fine-tuning (group accuracy, DPD, EOD)",
        "LoRA's calibration per subgroup is comparable to full fine-tuning's",
        "LoRA is roughly as resistant to membership inference (LiRA) as full fine-tuning, per subgroup",
        "Fairness does not depend consistently on the LoRA rank",
        "The base model's quality and the metric matter more than the fine-tuning method",
    ],
    "02": [
        "FairLoRA beats LoRA on fairness metrics (min-group F1 / recall, F1 gap, EOD)",
        "FairLoRA beats fair full fine-tuning on fairness metrics",
        "A higher LoRA rank is not needed for fairness",
    ],
    "03": [
        "Orth consistently reduces bias and keeps or improves utility",
        "Adv helps FPR parity and demographic parity in some cases",
        "Unl gives no clear benefit",
    ],
    # fairlib.experiments.fisher records one row per string, in this order.
    "04": [
        "Table 3: OURS error 15.829 ± 0.340 (Adult)",
        "Table 3: OURS Delta_EO 0.197 ± 0.011 (Adult)",
        "Table 3: OURS Delta_DP 0.180 ± 0.022 (Adult)",
        "OURS reduces bias relative to the pre-trained model without retraining (Table 3)",
        "OURS has lower error than every Retrain+EO/DP setting (Table 3)",
        "OURS has lower Delta_DP than Retrain+EO and lower Delta_EO than Retrain+DP (Table 3)",
        "Retrain+EO/DP trade error for bias as the intensity grows (Table 3)",
        "Fair pre-training does not transfer: bias rises after fine-tuning (Table 2)",
        "Fig. 4 (Adult): OURS has the lowest error of TL, f+SVD and OURS",
        "Fig. 4 (Adult): OURS has lower Delta_DP and Delta_EO than TL and f+SVD",
        "Fig. 4 (image sets): OURS has the lowest error, Delta_DP and Delta_EO",
        "Fig. 1: fine-tuned representations separate the groups, less so for the fair pre-trained model",
        "Fig. 3: the last layer's important weights differ between the groups",
        "Table 4: deeper MLPs give marginally lower error with similar bias (Adult)",
        "Fig. 5: as alpha grows, error falls slightly while Delta_DP and Delta_EO rise",
        "Trainable parameters: 46 (OURS) vs 742 (retraining), a 93.8% reduction",
        "At full rank (2) the factorised head equals the pre-trained one before fine-tuning (reviewer check)",
    ],
    "05": [
        "Paper 1 on a common task: LoRA is not less fair than full fine-tuning (EO and DP differences)",
        "Paper 2 on a common task: FairLoRA is fairer than LoRA and than fair full fine-tuning (min-group F1)",
        "Paper 3 on a common task: Orth lowers the DP gap relative to Erm and keeps accuracy",
        "Paper 3 on a common task: Unl gives no clear benefit over Erm (DP gap)",
        "Paper 4 on a common task: Fisher-neutralised SVD is fairer (ΔDP, ΔEO) and no less accurate than TL",
        "Paper 4: trainable parameters 46 (Fisher-neutralised SVD) vs 742 (retraining) on the Adult MLP",
    ],
}
