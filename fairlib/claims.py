"""The papers' claims and headline numbers that the reproduction report checks, per notebook.

Each notebook records its own verdicts in the ``claims`` list of its results JSON (rows built with
:func:`fairlib.report.paper_vs_reproduced`). This catalogue is what the report lists for a notebook that has
not run at a profile, so that nothing the papers claim silently disappears from the report. The report reads each
row's verdict into one of three categories (reproduced / not reproduced / not run at this profile, see
:func:`fairlib._report_builder.normalize_verdict`) and keeps the notebook's wording beside it.
"""

from __future__ import annotations

__all__ = ["PAPERS", "CLAIMS"]

PAPERS = {
    "01": "Ding, Liu, Peetathawatchai, Isik & Koyejo (2024): LoRA vs full fine-tuning fairness",
    "02": "FairLoRA (2024): per-group loss-variance regularised LoRA",
    "03": "Kamalaruban et al. (2025): fairness-aware LoRA under demographic privacy constraints",
    "04": "Zhang & Zhou (2024): Fisher-neutralised weighted SVD of the last layer",
    "05": "This repository: every method on the same tasks",
}

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
    "04": [
        "Table 3: OURS error 15.829 ± 0.340 (Adult)",
        "Table 3: OURS Delta_EO 0.197 ± 0.011 (Adult)",
        "Table 3: OURS Delta_DP 0.180 ± 0.022 (Adult)",
        "OURS reduces bias relative to the pre-trained model without retraining (Table 3)",
        "Fair pre-training does not transfer: bias rises after fine-tuning (Table 2)",
        "Trainable parameters: 46 (OURS) vs 742 (retraining), a 93.8% reduction",
    ],
    # Notebook 05 ranks every method per task (no paper makes that comparison) and re-tests, on its common tasks,
    # the papers' claims that compare methods it runs side by side (one row per task in its results JSON).
    "05": [
        "Paper 1 on a common task: LoRA is not less fair than full fine-tuning (EO and DP differences)",
        "Paper 2 on a common task: FairLoRA is fairer than LoRA and than fair full fine-tuning (min-group F1)",
        "Paper 3 on a common task: Orth lowers the DP gap relative to Erm and keeps accuracy",
        "Paper 3 on a common task: Unl gives no clear benefit over Erm (DP gap)",
        "Paper 4 on a common task: Fisher-neutralised SVD is fairer (ΔDP, ΔEO) and no less accurate than TL",
        "Paper 4: trainable parameters 46 (Fisher-neutralised SVD) vs 742 (retraining) on the Adult MLP",
    ],
}
