"""fairlib.metrics rejects the inputs that used to give plausible wrong numbers (issue 13, item 4)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import fairlib.metrics as M

Y = np.array([1, 1, 0, 0, 1, 1, 1, 0])
P = np.array([1, 0, 0, 1, 1, 1, 0, 0])
S = np.array([0, 0, 0, 0, 1, 1, 1, 1])
GAPS = (M.demographic_parity_difference, M.equal_opportunity_difference, M.fpr_parity_difference,
        M.equalized_odds_difference, M.equalized_odds_sum, M.f1_gap, M.min_group_f1, M.min_group_recall)


@pytest.mark.parametrize("metric", GAPS + (M.group_metrics, M.fairness_summary, M.evaluate))
def test_stray_label_two_in_y_pred_is_an_error_naming_value_and_count(metric):
    p = P.copy()
    p[[1, 6]] = 2   # two stray labels: used to switch silently to multi-class (DPD 0.25)
    with pytest.raises(ValueError, match=r"y_pred holds 2 value\(s\) outside the classes \(0, 1\): 2 \(2x\)"):
        metric(Y, p, sensitive_features=S)


@pytest.mark.parametrize("metric", GAPS + (M.evaluate,))
def test_probabilities_as_predictions_are_an_error(metric):
    prob = np.array([0.9, 0.2, 0.1, 0.7, 0.8, 0.6, 0.4, 0.2])
    with pytest.raises(ValueError, match=r"y_pred holds 8 value\(s\) outside.*0.2 \(2x\).*probabilities"):
        metric(Y, prob, sensitive_features=S)


def test_stray_label_in_y_true_of_binary_data_is_an_error():
    y = Y.copy()
    y[0] = -1
    with pytest.raises(ValueError, match=r"y_true holds 1 value\(s\) outside.*-1 \(1x\)"):
        M.demographic_parity_difference(y, P, sensitive_features=S)


@pytest.mark.parametrize("where", ["y_true", "y_pred"])
def test_nan_label_is_an_error_not_a_class(where):
    y, p = Y.astype(float), P.astype(float)
    (y if where == "y_true" else p)[3] = np.nan
    for metric in (M.demographic_parity_difference, M.group_metrics, M.evaluate):
        with pytest.raises(ValueError, match=rf"{where} has 1 missing value.*index 3"):
            metric(y, p, sensitive_features=S)


@pytest.mark.parametrize("missing", [np.nan, None])
def test_missing_sensitive_feature_is_an_error_not_a_group(missing):
    s = np.array(["a", "a", "b", "b", "a", "b", "a", missing], dtype=object)
    for metric in (M.demographic_parity_difference, M.group_metrics, M.evaluate):
        with pytest.raises(ValueError, match=r"sensitive_features has 1 missing value.*index 7"):
            metric(Y, P, sensitive_features=s)
    with pytest.raises(ValueError, match="sensitive_features has 1 missing"):
        M.ece_by_group(Y, np.full(8, 0.5), sensitive_features=s)
    s_float = S.astype(float)
    s_float[0] = np.nan
    with pytest.raises(ValueError, match="sensitive_features has 1 missing"):
        M.equalized_odds_difference(Y, P, sensitive_features=s_float)


def test_valid_float_labels_and_bool_labels_still_work():
    # 0.0/1.0 floats and booleans are the binary classes, with the same numbers as ints
    expected = M.equalized_odds_sum(Y, P, sensitive_features=S)
    assert M.equalized_odds_sum(Y.astype(float), P.astype(float), sensitive_features=S) == expected
    assert M.equalized_odds_sum(Y.astype(bool), P.astype(bool), sensitive_features=S) == expected


def test_other_pos_label_declares_the_binary_classes():
    y = np.where(Y == 1, "yes", "no")
    p = np.where(P == 1, "yes", "no")
    # same example as 0/1 with "yes" as the positive class
    assert M.equalized_odds_sum(y, p, sensitive_features=S, pos_label="yes") == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match=r"outside the classes \(0, 1\).*pos_label"):
        M.equalized_odds_sum(y, p, sensitive_features=S)
    p = p.astype(object)
    p[0] = "maybe"
    with pytest.raises(ValueError, match=r"y_pred holds 1 value\(s\) outside.*'maybe' \(1x\)"):
        M.equalized_odds_sum(y, p, sensitive_features=S, pos_label="yes")


def test_explicit_classes_allow_multiclass_and_check_membership():
    y = np.array([0, 1, 2, 0, 0, 1, 2, 2])
    p = np.array([0, 1, 1, 0, 1, 1, 2, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # the declared way warns about nothing
        dpd = M.demographic_parity_difference(y, p, sensitive_features=S, classes=(0, 1, 2))
    assert dpd == pytest.approx(0.25)    # selection of class 0: 2/4 vs 1/4; class 2: 0 vs 1/4
    with pytest.raises(ValueError, match=r"y_pred holds 1 value\(s\) outside the classes \(0, 1, 2\): 5 \(1x\)"):
        M.demographic_parity_difference(y, np.where(np.arange(8) == 4, 5, p), sensitive_features=S,
                                        classes=(0, 1, 2))
    with pytest.raises(ValueError, match="pos_label=1 is not one of the classes"):
        M.demographic_parity_difference(Y, P, sensitive_features=S, classes=("a", "b"))
    with pytest.raises(ValueError, match="at least two distinct"):
        M.demographic_parity_difference(Y, P, sensitive_features=S, classes=(1, 1))


def test_explicit_multiclass_declaration_keeps_its_meaning_on_a_binary_looking_split():
    # classes 0/1/2 declared, but this split only shows 0 and 1: still multi-class (worst class one-vs-rest),
    # here equal to the binary value since class 0 and 1 selection gaps mirror each other
    declared = M.demographic_parity_difference(Y, P, sensitive_features=S, classes=(0, 1, 2))
    assert declared == pytest.approx(M.demographic_parity_difference(Y, P, sensitive_features=S))
    table = M.group_metrics(Y, P, sensitive_features=S, classes=(0, 1, 2))
    # macro F1 of group 0 over classes {0, 1}: both F1 = 1/2 -> 1/2; group 1: class 1 4/5, class 0 2/3
    np.testing.assert_allclose(table["f1"], [0.5, (0.8 + 2 / 3) / 2])


def test_legacy_multiclass_inference_warns_and_keeps_its_numbers():
    y = np.array([0, 1, 2, 0, 0, 1, 2, 2])
    p = np.array([0, 1, 1, 0, 1, 1, 2, 0])
    with pytest.warns(FutureWarning, match=r"y_true holds 3 distinct labels.*classes="):
        legacy = M.equalized_odds_sum(y, p, sensitive_features=S)
    assert legacy == M.equalized_odds_sum(y, p, sensitive_features=S, classes=(0, 1, 2)) == pytest.approx(4 / 3)


# --------------------------------------------------------------------------- calibration
def test_ece_all_nan_probabilities_is_nan_with_warning():
    y = np.array([0, 1, 1, 0])
    with pytest.warns(UserWarning, match=r"4 of 4 rows of y_prob contain NaN"):
        assert math.isnan(M.expected_calibration_error(y, np.full(4, np.nan)))
    with pytest.warns(UserWarning, match=r"4 of 4 rows"):
        assert math.isnan(M.expected_calibration_error(y, np.full((4, 2), np.nan)))
    with pytest.warns(UserWarning, match=r"1 of 4 rows"):
        assert math.isnan(M.expected_calibration_error(y, np.array([0.1, 0.9, np.nan, 0.2])))
    with pytest.warns(UserWarning, match=r"group 'b': 1 of 2 rows"):
        ece = M.ece_by_group(y, np.array([0.1, 0.9, np.nan, 0.2]), sensitive_features=["a", "a", "b", "b"])
    assert ece["a"] == pytest.approx(0.1) and math.isnan(ece["b"])   # a: conf 0.9, both right
    with pytest.raises(ValueError, match="NaN"):
        M.reliability_diagram(y, np.full(4, np.nan))


def test_probabilities_outside_unit_interval_are_an_error():
    with pytest.raises(ValueError, match=r"y_prob must lie in \[0, 1\]; 2 value\(s\) outside: -0.5 \(1x\), 1.5 \(1x\)"):
        M.expected_calibration_error([0, 1, 1], [0.2, 1.5, 0.9])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        M.expected_calibration_error([0, 1], np.array([[1.2, -0.2], [0.5, 0.5]]))


# --------------------------------------------------------------------------- binary_group_rates
def test_binary_group_rates_rejects_label_two_and_codes_out_of_range():
    with pytest.raises(ValueError, match=r"y_true holds 1 other value\(s\): 2 \(1x\)"):
        M.binary_group_rates(np.array([0, 1, 2, 1]), np.array([0, 1, 1, 1]), sensitive_features=[0, 0, 1, 1],
                             num_groups=2)
    with pytest.raises(ValueError, match=r"y_pred holds 2 other value\(s\): 0.5 \(2x\)"):
        M.binary_group_rates([0, 1, 1, 1], [0.5, 0.5, 1, 1], sensitive_features=[0, 0, 1, 1], num_groups=2)
    with pytest.raises(ValueError, match=r"codes in 0..1 \(num_groups=2\); 2 code\(s\) outside: -1 \(1x\), 2 \(1x\)"):
        M.binary_group_rates([0, 1, 1, 1], [0, 1, 1, 1], sensitive_features=[0, 2, -1, 1], num_groups=2)
    with pytest.raises(ValueError, match="missing"):
        M.binary_group_rates([0, 1, 1, 1], [0, 1, 1, 1], sensitive_features=[0, np.nan, 1, 1], num_groups=2)
    with pytest.raises(ValueError, match="integer group codes"):
        M.binary_group_rates([0, 1, 1, 1], [0, 1, 1, 1], sensitive_features=[0, 0.5, 1, 1], num_groups=2)
    with pytest.raises(ValueError, match="equal length"):
        M.binary_group_rates([0, 1, 1], [0, 1, 1, 1], sensitive_features=[0, 0, 1, 1], num_groups=2)
    with pytest.raises(ValueError, match="num_groups"):
        M.binary_group_rates([0, 1], [0, 1], sensitive_features=[0, 0], num_groups=0)
    # valid: booleans and float codes that are integers
    r = M.binary_group_rates(np.array([True, False]), np.array([True, True]), sensitive_features=[0.0, 1.0],
                             num_groups=2)
    np.testing.assert_allclose(r["selection_rate"], [1.0, 1.0])
