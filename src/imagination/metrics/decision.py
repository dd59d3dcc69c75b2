"""Decision-curve analysis (Vickers & Elkin 2006): net benefit of acting on a model's risk."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from imagination.errors import InputError
from imagination.metrics._validate import class_inputs, positive_index

Proba = np.ndarray | Sequence[Sequence[float]]


@dataclass(frozen=True)
class DecisionCurve:
    """Net benefit at each threshold probability for the model, treat-all and treat-none."""

    thresholds: np.ndarray
    model: np.ndarray
    treat_all: np.ndarray
    treat_none: np.ndarray


def _check_thresholds(thresholds: np.ndarray) -> None:
    if thresholds.size == 0 or np.any(thresholds <= 0) or np.any(thresholds >= 1):
        raise InputError("decision-curve thresholds must lie strictly between 0 and 1")


def decision_curve(
    y_true: Sequence[str], proba: Proba, classes: Sequence[str], *,
    positive: str | None = None, thresholds: Sequence[float] | np.ndarray | None = None,
) -> DecisionCurve:
    """Net benefit TP/n − FP/n · p_t/(1 − p_t), treating cases with p_positive >= p_t.
    Default thresholds: 0.01, 0.02, …, 0.99. Treat-none is 0 everywhere."""
    truth, p, labels = class_inputs(y_true, proba, classes)
    pos = positive_index(labels, positive)
    t = np.linspace(0.01, 0.99, 99) if thresholds is None else np.asarray(thresholds, float)
    _check_thresholds(t)
    actual = truth == pos
    score = p[:, pos]
    n = truth.size
    treated = score[None, :] >= t[:, None]
    tp = np.count_nonzero(treated & actual[None, :], axis=1) / n
    fp = np.count_nonzero(treated & ~actual[None, :], axis=1) / n
    odds = t / (1 - t)
    prevalence = np.count_nonzero(actual) / n
    return DecisionCurve(
        thresholds=t,
        model=tp - fp * odds,
        treat_all=prevalence - (1 - prevalence) * odds,
        treat_none=np.zeros_like(t),
    )


def net_benefit(y_true: Sequence[str], proba: Proba, classes: Sequence[str], *,
                positive: str | None = None, threshold: float = 0.5) -> float:
    """Net benefit of the model at one threshold probability ``threshold``."""
    curve = decision_curve(y_true, proba, classes, positive=positive, thresholds=[threshold])
    return float(curve.model[0])
