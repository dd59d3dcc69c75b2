"""Curve data for the report's plots, computed from stored predictions (no model is run).

ROC points come from scikit-learn, confusion matrices and decision curves from
:mod:`imagination.metrics`, so the plots show the same numbers the leaderboard was scored with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import roc_auc_score, roc_curve

from imagination.cohort.vocabulary import DEFAULT_VOCABULARIES, POSITIVE_CLASS
from imagination.metrics.classification import confusion_matrix
from imagination.metrics.decision import DecisionCurve, decision_curve

CALIBRATION_BINS = 10


@dataclass(frozen=True)
class ClassificationData:
    """One adapter's clean predictions for one task: truths, an n×k matrix and class order."""

    case_ids: list[str]
    truth: list[str]
    proba: np.ndarray
    classes: tuple[str, ...]
    positive: str | None

    @property
    def binary(self) -> bool:
        return len(self.classes) == 2


@dataclass(frozen=True)
class RocCurve:
    fpr: np.ndarray
    tpr: np.ndarray
    auc: float


@dataclass(frozen=True)
class CalibrationCurve:
    predicted: np.ndarray
    observed: np.ndarray
    counts: np.ndarray
    label: str


def class_order(task: str, labels: set[str]) -> tuple[str, ...]:
    """The task's vocabulary order when it covers every label, else sorted labels."""
    vocabulary = DEFAULT_VOCABULARIES.get(task, ())
    if labels <= set(vocabulary):
        return tuple(c for c in vocabulary if c in labels or len(vocabulary) == 2)
    return tuple(sorted(labels))


def classification_data(predictions: pd.DataFrame, task: str, adapter: str,
                        perturbation: str = "clean") -> ClassificationData | None:
    """Pivot ``predictions.csv`` rows (one per class) into a probability matrix."""
    rows = predictions[(predictions["task"] == task) & (predictions["adapter"] == adapter)
                       & (predictions["perturbation"] == perturbation)]
    rows = rows.dropna(subset=["truth", "class", "probability"])
    if rows.empty:
        return None
    classes = class_order(task, set(rows["class"]) | set(rows["truth"]))
    matrix = rows.pivot_table(index="case_id", columns="class", values="probability",
                              aggfunc="first").reindex(columns=list(classes)).fillna(0.0)
    truth = rows.groupby("case_id")["truth"].first().reindex(matrix.index)
    positive = POSITIVE_CLASS.get(task, classes[1] if len(classes) == 2 else None)
    return ClassificationData(case_ids=[str(c) for c in matrix.index], truth=list(truth),
                              proba=matrix.to_numpy(float), classes=classes, positive=positive)


def _positive_scores(data: ClassificationData) -> tuple[np.ndarray, np.ndarray]:
    assert data.positive is not None
    pos = data.classes.index(data.positive)
    return np.asarray([t == data.positive for t in data.truth]), data.proba[:, pos]


def roc(data: ClassificationData) -> RocCurve | None:
    """Binary ROC, or the macro-average one-vs-rest ROC for multiclass; None if one class."""
    if data.binary:
        y, score = _positive_scores(data)
        if y.all() or not y.any():
            return None
        fpr, tpr, _ = roc_curve(y, score)
        return RocCurve(fpr, tpr, float(roc_auc_score(y, score)))
    grid = np.linspace(0.0, 1.0, 201)
    tprs, aucs = [], []
    for k, label in enumerate(data.classes):
        y = np.asarray([t == label for t in data.truth])
        if y.all() or not y.any():
            continue
        fpr, tpr, _ = roc_curve(y, data.proba[:, k])
        tprs.append(np.interp(grid, fpr, tpr))
        aucs.append(roc_auc_score(y, data.proba[:, k]))
    if not tprs:
        return None
    mean_tpr = np.mean(tprs, axis=0)
    mean_tpr[0] = 0.0
    return RocCurve(grid, mean_tpr, float(np.mean(aucs)))


def calibration(data: ClassificationData) -> CalibrationCurve:
    """Reliability curve in equal-width bins: p(positive) for binary, top-label otherwise."""
    if data.binary:
        y, score = _positive_scores(data)
        label = f"p({data.positive})"
    else:
        truth_index = np.asarray([data.classes.index(t) for t in data.truth])
        y = np.argmax(data.proba, axis=1) == truth_index
        score = data.proba.max(axis=1)
        label = "top-label confidence"
    observed, predicted = calibration_curve(y, score, n_bins=CALIBRATION_BINS,
                                            strategy="uniform")
    edges = np.linspace(0.0, 1.0, CALIBRATION_BINS + 1)
    counts = np.bincount(np.clip(np.searchsorted(edges[1:-1], score), 0,
                                 CALIBRATION_BINS - 1), minlength=CALIBRATION_BINS)
    return CalibrationCurve(predicted, observed, counts[counts > 0], label)


def confusion(data: ClassificationData) -> np.ndarray:
    return confusion_matrix(data.truth, data.proba, data.classes, positive=data.positive)


def decision(data: ClassificationData) -> DecisionCurve | None:
    """Net benefit over thresholds 0.01–0.99 (binary tasks only)."""
    if not data.binary:
        return None
    return decision_curve(data.truth, data.proba, data.classes, positive=data.positive)


def paired_case_values(per_case: pd.DataFrame, task: str, adapter: str, standard_metric: str,
                       model_metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-case (standard, model) values on clean inputs, matched by case."""
    rows = per_case[(per_case["task"] == task) & (per_case["adapter"] == adapter)
                    & (per_case["perturbation"] == "clean")]
    wide = rows.pivot_table(index="case_id", columns="metric", values="value", aggfunc="first")
    if standard_metric not in wide or model_metric not in wide:
        return np.empty(0), np.empty(0)
    wide = wide[[standard_metric, model_metric]].dropna()
    return wide[standard_metric].to_numpy(float), wide[model_metric].to_numpy(float)
