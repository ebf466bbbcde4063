"""Notebook 04's constants: method names, metric names and the paper's Tables 2-4."""

from __future__ import annotations

import copy
import dataclasses
import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from ... import metrics as fm
from ...config import FISHER_STAND_IN_VIT
from ...data import GroupedDataset, make_splits
from ...methods.fair_penalties import FairnessPenalty
from ...methods.feature_cache import FeatureCache, fit_on_features, predict_on_features
from ...methods.fisher_svd import FactorizedLinear, neutralized_importance


#: Bump when a change makes stored runs stale (it is part of every RunStore key).
VERSION = 3
#: The paper's three metrics (error in %, the two gaps as fractions).
METRICS = ("error", "dp", "eo")
#: Methods that train only the last layer (or its factors) on cached features.
HEAD_METHODS = ("TL", "f+SVD", "OURS", "OURS (shuffled I_N)")
#: Methods of the reviewer's optimiser x learning-rate sweep.
REVIEW_METHODS = ("TL", "f+SVD", "OURS")
METHOD_ORDER = ("pre-trained", "TL", "f+SVD", "OURS", "OURS (shuffled I_N)", "Retrain", "Retrain+EO", "Retrain+DP")
_LABELS = {"error": "error (%) = 100 - weighted F1", "dp": "Delta_DP", "eo": "Delta_EO = Delta_TPR + Delta_FPR"}
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


