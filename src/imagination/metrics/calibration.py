"""Probability-quality metrics: Brier score, log loss, expected calibration error, calibration
slope and intercept. Same call shape as :mod:`imagination.metrics.classification`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import expit

from imagination.metrics._validate import class_inputs, positive_index

Proba = np.ndarray | Sequence[Sequence[float]]

#: Probabilities are clipped to [LOGIT_EPS, 1 - LOGIT_EPS] before taking logits.
LOGIT_EPS = 1e-15
_MAX_NEWTON_STEPS = 100


def brier(y_true: Sequence[str], proba: Proba, classes: Sequence[str], *,
          positive: str | None = None, threshold: float = 0.5) -> float:
    """Binary: mean (p_positive − y)², in [0, 1]. Multiclass: mean over cases of the squared
    distance between the probability row and the one-hot truth, in [0, 2] (scikit-learn)."""
    del threshold
    truth, p, labels = class_inputs(y_true, proba, classes)
    if len(labels) == 2:
        pos = positive_index(labels, positive)
        return float(np.mean((p[:, pos] - (truth == pos)) ** 2))
    onehot = np.eye(len(labels))[truth]
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


def log_loss(y_true: Sequence[str], proba: Proba, classes: Sequence[str], *,
             positive: str | None = None, threshold: float = 0.5) -> float:
    """Mean negative log-probability of the true class, probabilities clipped to
    [eps, 1 − eps] with eps the float64 machine epsilon (as scikit-learn)."""
    del positive, threshold
    truth, p, _ = class_inputs(y_true, proba, classes)
    eps = np.finfo(np.float64).eps
    p_true = np.clip(p[np.arange(truth.size), truth], eps, 1 - eps)
    return float(-np.mean(np.log(p_true)))


def expected_calibration_error(
    y_true: Sequence[str], proba: Proba, classes: Sequence[str], *,
    positive: str | None = None, threshold: float = 0.5, n_bins: int = 10,
) -> float:
    """ECE with ``n_bins`` equal-width bins on [0, 1] (bin i holds [i/n, (i+1)/n), the last bin
    also holds 1): Σ_b (n_b / N)·|observed_b − mean confidence_b|. Binary: confidence is the
    positive-class probability and observed the positive fraction. Multiclass: top-label
    confidence (maximum probability) against the fraction of correct arg-max predictions."""
    del threshold
    truth, p, labels = class_inputs(y_true, proba, classes)
    if len(labels) == 2:
        pos = positive_index(labels, positive)
        confidence, outcome = p[:, pos], (truth == pos).astype(np.float64)
    else:
        confidence = p.max(axis=1)
        outcome = (np.argmax(p, axis=1) == truth).astype(np.float64)
    bins = np.minimum((confidence * n_bins).astype(np.intp), n_bins - 1)
    count = np.bincount(bins, minlength=n_bins).astype(np.float64)
    gap = np.abs(np.bincount(bins, outcome, n_bins) - np.bincount(bins, confidence, n_bins))
    return float(gap.sum() / count.sum())


def _binary_logits(
    y_true: Sequence[str], proba: Proba, classes: Sequence[str], positive: str | None
) -> tuple[np.ndarray, np.ndarray]:
    truth, p, labels = class_inputs(y_true, proba, classes)
    pos = positive_index(labels, positive)
    q = np.clip(p[:, pos], LOGIT_EPS, 1 - LOGIT_EPS)
    return (truth == pos).astype(np.float64), np.log(q) - np.log1p(-q)


def separated(x: np.ndarray, y: np.ndarray) -> bool:
    """True when a cut on x splits the classes (ties at the cut allowed): then the maximum
    likelihood slope is infinite (complete or quasi-complete separation)."""
    pos, neg = x[y], x[~y]
    return bool(neg.max() <= pos.min() or pos.max() <= neg.min())


def calibration_slope(y_true: Sequence[str], proba: Proba, classes: Sequence[str], *,
                      positive: str | None = None, threshold: float = 0.5) -> float:
    """Slope b of the logistic recalibration model logit P(y=1) = a + b·logit(p), fitted by
    maximum likelihood (Newton). NaN with one class, with separated classes (no finite
    estimate) or when the fit does not converge."""
    del threshold
    y, x = _binary_logits(y_true, proba, classes, positive)
    if y.min() == y.max() or separated(x, y.astype(bool)):
        return float("nan")
    design = np.column_stack([np.ones_like(x), x])
    beta = np.zeros(2)
    for _ in range(_MAX_NEWTON_STEPS):
        mu = expit(design @ beta)
        w = mu * (1 - mu)
        hessian = design.T @ (design * w[:, None])
        try:
            step = np.linalg.solve(hessian, design.T @ (y - mu))
        except np.linalg.LinAlgError:
            return float("nan")
        beta = beta + step
        if np.max(np.abs(step)) < 1e-12 * max(1.0, np.max(np.abs(beta))):
            return float(beta[1])
    return float("nan")


def calibration_intercept(y_true: Sequence[str], proba: Proba, classes: Sequence[str], *,
                          positive: str | None = None, threshold: float = 0.5) -> float:
    """Calibration-in-the-large: a in logit P(y=1) = a + logit(p) (slope fixed at 1, i.e.
    logit(p) as an offset), fitted by maximum likelihood. 0 is ideal; NaN with one class."""
    del threshold
    y, x = _binary_logits(y_true, proba, classes, positive)
    if y.min() == y.max():
        return float("nan")
    a = 0.0
    for _ in range(_MAX_NEWTON_STEPS):
        mu = expit(a + x)
        information = float(np.sum(mu * (1 - mu)))
        if not information > 0:  # all predictions saturated at 0 or 1: no finite fit
            return float("nan")
        step = float(np.sum(y - mu)) / information
        a += step
        if abs(step) < 1e-13 * max(1.0, abs(a)):
            return a
    return float("nan")
