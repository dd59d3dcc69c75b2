"""Classification metrics of a cohort: ``metric(y_true, proba, classes, *, positive, threshold)``.

``y_true`` holds class labels (str), ``proba`` is n×k with one column per entry of ``classes``.
Binary tasks score the ``positive`` class (default: the second class) and call a case positive
when its positive-class probability is >= ``threshold``. Multiclass tasks predict the arg-max
class (ties go to the first class in ``classes`` order) and average over classes ("macro").
Undefined values (a zero denominator, a single class in the truth) are NaN unless stated.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from imagination.metrics._validate import class_inputs, positive_index
from imagination.metrics.ranking import average_precision, binary_auroc

Proba = np.ndarray | Sequence[Sequence[float]]


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else float("nan")


def predicted_index(
    proba: np.ndarray, classes: tuple[str, ...], *, positive: str | None, threshold: float
) -> np.ndarray:
    """Predicted class index per case: threshold rule (binary) or arg-max (multiclass)."""
    if len(classes) == 2:
        pos = positive_index(classes, positive)
        return np.where(proba[:, pos] >= threshold, pos, 1 - pos)
    return np.argmax(proba, axis=1)


def confusion_matrix(
    y_true: Sequence[str], proba: Proba, classes: Sequence[str], *,
    positive: str | None = None, threshold: float = 0.5,
) -> np.ndarray:
    """k×k counts, rows = true class, columns = predicted class, in ``classes`` order."""
    truth, p, labels = class_inputs(y_true, proba, classes)
    pred = predicted_index(p, labels, positive=positive, threshold=threshold)
    k = len(labels)
    return np.bincount(truth * k + pred, minlength=k * k).reshape(k, k)


def _binary_counts(
    y_true: Sequence[str], proba: Proba, classes: Sequence[str], positive: str | None,
    threshold: float,
) -> tuple[int, int, int, int]:
    truth, p, labels = class_inputs(y_true, proba, classes)
    pos = positive_index(labels, positive)
    actual = truth == pos
    called = p[:, pos] >= threshold
    tp = int(np.count_nonzero(actual & called))
    fp = int(np.count_nonzero(~actual & called))
    fn = int(np.count_nonzero(actual & ~called))
    tn = int(np.count_nonzero(~actual & ~called))
    return tp, fp, fn, tn


def sensitivity(y_true: Sequence[str], proba: Proba, classes: Sequence[str], *,
                positive: str | None = None, threshold: float = 0.5) -> float:
    """TP / (TP + FN) of the positive class at ``threshold`` (binary)."""
    tp, _, fn, _ = _binary_counts(y_true, proba, classes, positive, threshold)
    return _ratio(tp, tp + fn)


def specificity(y_true: Sequence[str], proba: Proba, classes: Sequence[str], *,
                positive: str | None = None, threshold: float = 0.5) -> float:
    """TN / (TN + FP) at ``threshold`` (binary)."""
    _, fp, _, tn = _binary_counts(y_true, proba, classes, positive, threshold)
    return _ratio(tn, tn + fp)


def ppv(y_true: Sequence[str], proba: Proba, classes: Sequence[str], *,
        positive: str | None = None, threshold: float = 0.5) -> float:
    """Positive predictive value TP / (TP + FP) at ``threshold`` (binary)."""
    tp, fp, _, _ = _binary_counts(y_true, proba, classes, positive, threshold)
    return _ratio(tp, tp + fp)


def npv(y_true: Sequence[str], proba: Proba, classes: Sequence[str], *,
        positive: str | None = None, threshold: float = 0.5) -> float:
    """Negative predictive value TN / (TN + FN) at ``threshold`` (binary)."""
    _, _, fn, tn = _binary_counts(y_true, proba, classes, positive, threshold)
    return _ratio(tn, tn + fn)


def _per_class_f1(cm: np.ndarray) -> np.ndarray:
    tp = np.diag(cm).astype(np.float64)
    den = 2 * tp + (cm.sum(axis=0) - tp) + (cm.sum(axis=1) - tp)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, 2 * tp / np.where(den > 0, den, 1), np.nan)


def f1(y_true: Sequence[str], proba: Proba, classes: Sequence[str], *,
       positive: str | None = None, threshold: float = 0.5) -> float:
    """F1 of the positive class (binary) or the macro mean of per-class F1 (multiclass); a class
    absent from both truth and predictions has no F1 and is left out of the mean."""
    cm = confusion_matrix(y_true, proba, classes, positive=positive, threshold=threshold)
    per_class = _per_class_f1(cm)
    if cm.shape[0] == 2:
        return float(per_class[positive_index(tuple(map(str, classes)), positive)])
    kept = per_class[~np.isnan(per_class)]
    return float(kept.mean()) if kept.size else float("nan")


def balanced_accuracy(y_true: Sequence[str], proba: Proba, classes: Sequence[str], *,
                      positive: str | None = None, threshold: float = 0.5) -> float:
    """Mean recall over the classes present in ``y_true``."""
    cm = confusion_matrix(y_true, proba, classes, positive=positive, threshold=threshold)
    support = cm.sum(axis=1)
    present = support > 0
    return float(np.mean(np.diag(cm)[present] / support[present]))


def accuracy(y_true: Sequence[str], proba: Proba, classes: Sequence[str], *,
             positive: str | None = None, threshold: float = 0.5) -> float:
    """Fraction of cases whose predicted class is the true class."""
    cm = confusion_matrix(y_true, proba, classes, positive=positive, threshold=threshold)
    return float(np.trace(cm) / cm.sum())


def mcc(y_true: Sequence[str], proba: Proba, classes: Sequence[str], *,
        positive: str | None = None, threshold: float = 0.5) -> float:
    """Matthews correlation (Gorodkin's multiclass form); 0 when undefined, as scikit-learn."""
    cm = confusion_matrix(y_true, proba, classes, positive=positive, threshold=threshold)
    cm = cm.astype(np.float64)
    t, p, c, s = cm.sum(axis=1), cm.sum(axis=0), np.trace(cm), cm.sum()
    den = np.sqrt((s * s - p @ p) * (s * s - t @ t))
    return float((c * s - t @ p) / den) if den > 0 else 0.0


def cohen_kappa(y_true: Sequence[str], proba: Proba, classes: Sequence[str], *,
                positive: str | None = None, threshold: float = 0.5) -> float:
    """Cohen's kappa (unweighted) between truth and predicted class; NaN when chance
    agreement is 1."""
    cm = confusion_matrix(y_true, proba, classes, positive=positive, threshold=threshold)
    cm = cm.astype(np.float64)
    n = cm.sum()
    observed = np.trace(cm) / n
    expected = float(cm.sum(axis=1) @ cm.sum(axis=0)) / (n * n)
    return _ratio(observed - expected, 1.0 - expected)


def _one_vs_rest(
    y_true: Sequence[str], proba: Proba, classes: Sequence[str], positive: str | None, score_fn
) -> float:
    truth, p, labels = class_inputs(y_true, proba, classes)
    if len(labels) == 2:
        pos = positive_index(labels, positive)
        return score_fn(truth == pos, p[:, pos])
    values = [score_fn(truth == j, p[:, j]) for j in range(len(labels))]
    kept = [v for v in values if not np.isnan(v)]
    return float(np.mean(kept)) if len(kept) >= 2 else float("nan")


def auroc(y_true: Sequence[str], proba: Proba, classes: Sequence[str], *,
          positive: str | None = None, threshold: float = 0.5) -> float:
    """ROC AUC (binary) or macro one-vs-rest AUC (multiclass). Classes absent from ``y_true``
    are left out of the macro mean; NaN when fewer than two classes are present."""
    del threshold
    return _one_vs_rest(y_true, proba, classes, positive, binary_auroc)


def auprc(y_true: Sequence[str], proba: Proba, classes: Sequence[str], *,
          positive: str | None = None, threshold: float = 0.5) -> float:
    """Average precision of the positive class (binary) or its macro one-vs-rest mean;
    NaN without a positive case (binary) or with fewer than two classes present."""
    del threshold
    return _one_vs_rest(y_true, proba, classes, positive, average_precision)


def weighted_kappa(y_true: Sequence[str], proba: Proba, classes: Sequence[str], *,
                   positive: str | None = None, threshold: float = 0.5) -> float:
    """Quadratic-weighted Cohen's kappa between truth and predicted class, the classes
    ordered as given (ordinal: CR < PR < SD < PD); NaN when expected disagreement is 0."""
    cm = confusion_matrix(y_true, proba, classes, positive=positive,
                          threshold=threshold).astype(np.float64)
    k = cm.shape[0]
    index = np.arange(k)
    weights = (index[:, None] - index[None, :]) ** 2 / max((k - 1) ** 2, 1)
    n = cm.sum()
    expected = np.outer(cm.sum(axis=1), cm.sum(axis=0)) / n
    return 1.0 - _ratio(float((weights * cm).sum()), float((weights * expected).sum()))


#: Specificity at which :func:`sensitivity_at_specificity` reads the ROC curve.
FIXED_SPECIFICITY = 0.9


def sensitivity_at_specificity(y_true: Sequence[str], proba: Proba, classes: Sequence[str], *,
                               positive: str | None = None, threshold: float = 0.5,
                               specificity: float = FIXED_SPECIFICITY) -> float:
    """Binary: the highest sensitivity among score thresholds whose specificity is at least
    ``specificity`` (0.9), a point of the empirical ROC curve (cases with equal scores are
    called together); NaN without a positive or a negative case."""
    del threshold
    truth, p, labels = class_inputs(y_true, proba, classes)
    pos = positive_index(labels, positive)
    actual = truth == pos
    score = p[:, pos]
    n_pos, n_neg = int(actual.sum()), int((~actual).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    best = 0.0
    for cut in np.unique(score):
        called = score >= cut
        if np.count_nonzero(~actual & ~called) / n_neg >= specificity:
            best = max(best, np.count_nonzero(actual & called) / n_pos)
    return float(best)
