"""Post-processing (Hardt et al., 2016): fairlearn's ``ThresholdOptimizer`` on a trained model's scores.

A trained LoRA (or any) model is not an sklearn estimator, so its scores ``P(y = 1)`` are computed once and passed
as the one feature column of :class:`ScoreEstimator`, which hands them back as probabilities.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ScoreEstimator", "fit_threshold_optimizer", "threshold_predict"]

try:
    from sklearn.base import BaseEstimator, ClassifierMixin
except ImportError:  # pragma: no cover - scikit-learn is a dependency
    BaseEstimator = ClassifierMixin = object


class ScoreEstimator(ClassifierMixin, BaseEstimator):
    """An already-fitted "classifier" whose input is one column of scores ``P(y = 1)`` of another model.

    fairlearn's ``ThresholdOptimizer(prefit=True)`` needs an estimator with ``predict_proba``; a trained LoRA
    model is not an sklearn estimator and its inputs (images, token ids) are not a feature matrix, so the model's
    scores are computed once and passed as ``X``; this estimator hands them back as the positive-class column.
    """

    classes_ = np.array([0, 1])

    def fit(self, X: Any, y: Any = None) -> "ScoreEstimator":
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def predict_proba(self, X: Any) -> np.ndarray:
        p = np.asarray(X, dtype=float).reshape(len(X), -1)
        if p.shape[1] != 1:
            raise ValueError(f"ScoreEstimator takes one column of scores, got {p.shape[1]} columns")
        p = p[:, 0]
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)


def fit_threshold_optimizer(scores: np.ndarray, y: np.ndarray, *, sensitive_features: np.ndarray,
                            constraint: str = "demographic_parity", objective: str = "accuracy_score",
                            grid_size: int = 1000) -> Any:
    """fairlearn's ``ThresholdOptimizer`` fitted on a prefit model's scores (Hardt et al., 2016).

    Parameters
    ----------
    scores : array (n,)
        ``P(y = 1)`` of the trained model on the fitting data (e.g. the validation split).
    y : array (n,)
        Binary labels.
    sensitive_features : array (n,)
        Group of each example; every group met at prediction time must occur here.
    constraint : str
        ``"demographic_parity"``, ``"equalized_odds"``, ``"true_positive_rate_parity"``, ...
    objective : str
        ``"accuracy_score"`` or ``"balanced_accuracy_score"``.
    grid_size : int

    Returns
    -------
    fairlearn.postprocessing.ThresholdOptimizer
        Fitted with ``prefit=True, predict_method="predict_proba"`` on a :class:`ScoreEstimator`; predict with
        :func:`threshold_predict`.
    """
    from fairlearn.postprocessing import ThresholdOptimizer

    scores = np.asarray(scores, dtype=float).reshape(-1)
    y = np.asarray(y).reshape(-1)
    if len(scores) != len(y) or len(y) != len(np.asarray(sensitive_features)):
        raise ValueError(f"scores, y and sensitive_features must have the same length, got {len(scores)}, "
                         f"{len(y)}, {len(np.asarray(sensitive_features))}")
    if not np.isin(np.unique(y), (0, 1)).all():
        raise ValueError("ThresholdOptimizer needs binary labels 0/1")
    optimizer = ThresholdOptimizer(estimator=ScoreEstimator(), constraints=constraint, objective=objective,
                                   grid_size=grid_size, prefit=True, predict_method="predict_proba")
    return optimizer.fit(scores[:, None], y, sensitive_features=np.asarray(sensitive_features))


def threshold_predict(optimizer: Any, scores: np.ndarray, *, sensitive_features: np.ndarray,
                      random_state: int) -> np.ndarray:
    """Randomised group-threshold predictions of a fitted :func:`fit_threshold_optimizer` (seeded)."""
    scores = np.asarray(scores, dtype=float).reshape(-1, 1)
    return np.asarray(optimizer.predict(scores, sensitive_features=np.asarray(sensitive_features),
                                        random_state=random_state), dtype=np.int64)


