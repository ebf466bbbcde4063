"""Notebook 04's constants: method and metric names, the rename map of the metric keys, the paper's Tables 2-4."""

from __future__ import annotations

from ...metrics import METRICS as VOCABULARY

#: Bump when a change makes stored runs stale (it is part of every RunStore key).
VERSION = 4
#: The paper's three metrics under fairlib's canonical names (:data:`fairlib.metrics.METRICS`): error in % =
#: 100 - weighted F1, Delta_DP = ``dpd``, Delta_EO = Delta_TPR + Delta_FPR = ``eo_sum``.
METRICS = ("weighted_f1_error", "dpd", "eo_sum")
#: Per-group columns of a record (group codes 0 and 1), from :func:`fairlib.metrics.evaluate`.
GROUP_COLUMNS = tuple(f"{column}[{g}]" for column in ("selection_rate", "recall", "fpr") for g in (0, 1))
#: The keys of this notebook's records before the one vocabulary, and their canonical names now.
RENAMED = {"error": "weighted_f1_error", "dp": "dpd", "eo": "eo_sum",
           **{f"{old}{g}": f"{new}[{g}]" for old, new in (("sel", "selection_rate"), ("tpr", "recall"),
                                                         ("fpr", "fpr")) for g in (0, 1)}}
#: Methods that train only the last layer (or its factors) on cached features.
HEAD_METHODS = ("TL", "f+SVD", "OURS", "OURS (shuffled I_N)")
#: Methods of the reviewer's optimiser x learning-rate sweep.
REVIEW_METHODS = ("TL", "f+SVD", "OURS")
METHOD_ORDER = ("pre-trained", "TL", "f+SVD", "OURS", "OURS (shuffled I_N)", "Retrain", "Retrain+EO", "Retrain+DP")
_LABELS = {m: VOCABULARY[m].label for m in METRICS}
_COLOURS = {"pre-trained": "0.45", "TL": "tab:blue", "f+SVD": "tab:orange", "OURS": "tab:green",
            "OURS (shuffled I_N)": "tab:purple", "Retrain": "tab:brown", "Retrain+EO": "tab:red",
            "Retrain+DP": "tab:pink"}


# ------------------------------------------------------------------------------------------------ the paper
#: Table 2: (constraint, intensity) -> error pre-train, error fine-tune (mean, std), bias pre-train, bias
#: fine-tune (mean, std); the bias is Delta_EO for the EO rows and Delta_DP for the DP rows.
PAPER_TABLE2 = {
    ("EO", 0.1): (16.835, (16.676, 0.313), 0.068, (0.206, 0.024)),
    ("EO", 0.5): (17.469, (17.168, 0.941), 0.012, (0.183, 0.037)),
    ("EO", 0.9): (18.744, (17.343, 0.973), 0.008, (0.186, 0.017)),
    ("DP", 0.1): (17.332, (17.479, 0.068), 0.125, (0.171, 0.009)),
    ("DP", 0.5): (17.489, (17.773, 0.034), 0.047, (0.173, 0.023)),
    ("DP", 0.9): (20.160, (17.071, 0.036), 0.031, (0.172, 0.018)),
}
#: Table 3: row -> (error, Delta_EO, Delta_DP), each (mean, std); the pre-trained model has no std.
PAPER_TABLE3 = {
    ("pre-trained", 0.0): ((16.165, None), (0.223, None), (0.192, None)),
    ("Retrain+EO", 0.1): ((16.763, 0.223), (0.214, 0.027), (0.196, 0.027)),
    ("Retrain+EO", 0.5): ((17.440, 0.676), (0.150, 0.040), (0.183, 0.011)),
    ("Retrain+EO", 0.9): ((18.810, 0.588), (0.147, 0.031), (0.184, 0.032)),
    ("Retrain+DP", 0.1): ((16.752, 0.263), (0.206, 0.035), (0.174, 0.026)),
    ("Retrain+DP", 0.5): ((17.659, 0.375), (0.201, 0.024), (0.168, 0.023)),
    ("Retrain+DP", 0.9): ((18.472, 0.228), (0.204, 0.023), (0.143, 0.021)),
    ("OURS", 0.0): ((15.829, 0.340), (0.197, 0.011), (0.180, 0.022)),
}
#: Table 4: (dataset, model) -> (error, Delta_EO, Delta_DP), each (mean, std).
PAPER_TABLE4 = {
    ("Adult", "MLP-3"): ((16.678, 0.681), (0.185, 0.023), (0.162, 0.027)),
    ("Adult", "MLP-4"): ((16.237, 0.456), (0.173, 0.029), (0.170, 0.022)),
    ("Adult", "MLP-5"): ((16.166, 0.337), (0.179, 0.012), (0.166, 0.014)),
    ("LFW+a", "ResNet-50"): ((10.634, 0.241), (0.218, 0.081), (0.080, 0.032)),
    ("LFW+a", "DenseNet"): ((9.775, 0.131), (0.232, 0.054), (0.073, 0.009)),
    ("CelebA", "ResNet-50"): ((17.582, 0.226), (0.243, 0.061), (0.182, 0.005)),
    ("CelebA", "DenseNet"): ((18.438, 0.174), (0.201, 0.028), (0.169, 0.009)),
}




def canonical_key(old: str) -> str:
    """The canonical name of a key of this notebook's records or summaries before the one vocabulary.

    ``"error" -> "weighted_f1_error"``, ``"init_dp" -> "init_dpd"``, ``"eo_minus_TL" -> "eo_sum_minus_TL"``,
    ``"init_error_change_ci_low" -> "init_weighted_f1_error_change_ci_low"``, ``"tpr0" -> "recall[0]"``; any
    other key is returned unchanged.
    """
    prefix, rest = ("init_", old[5:]) if old.startswith("init_") else ("", old)
    for before in sorted(RENAMED, key=len, reverse=True):
        if rest == before or rest.startswith(before + "_"):
            return prefix + RENAMED[before] + rest[len(before):]
    return old


def rename_record(record: dict) -> dict:
    """``record`` with every key mapped by :func:`canonical_key` (values untouched)."""
    return {canonical_key(k): v for k, v in record.items()}
