"""Classification metrics under many resamples at once.

A bootstrap resample is a row of integer case weights (see :mod:`imagination.stats.bootstrap`).
``resampled_classification`` returns the metric of every row without building the resampled
data: per-row confusion matrices, bin counts, loss sums, rank counts or a batched Newton fit.
Each value equals the registry metric computed on the case list repeated by the weights (tests
check this to 1e-12), with the same edge-case policy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.special import expit

from imagination.errors import InputError
from imagination.metrics._validate import class_inputs, positive_index
from imagination.metrics.calibration import LOGIT_EPS
from imagination.metrics.classification import predicted_index
from imagination.stats.bootstrap import weighted_auc

_MAX_NEWTON_STEPS = 100


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _confusion(truth: np.ndarray, pred: np.ndarray, k: int, w: np.ndarray) -> np.ndarray:
    cell = np.zeros((truth.size, k * k))
    cell[np.arange(truth.size), truth * k + pred] = 1.0
    return (w @ cell).reshape(-1, k, k)


def _count_metric(name: str, cm: np.ndarray, pos: int | None) -> np.ndarray:
    k = cm.shape[1]
    total = cm.sum(axis=(1, 2))
    diag = np.diagonal(cm, axis1=1, axis2=2)
    truth_sum, pred_sum = cm.sum(axis=2), cm.sum(axis=1)
    if name == "accuracy":
        return diag.sum(axis=1) / total
    if name == "balanced_accuracy":
        recall = np.where(truth_sum > 0, _safe_divide(diag, truth_sum), 0.0)
        present = (truth_sum > 0).sum(axis=1)  # a resample with no labelled case: NaN, silently
        return _safe_divide(recall.sum(axis=1), present)
    if name == "mcc":
        c, s = diag.sum(axis=1), total
        tp = np.einsum("bk,bk->b", truth_sum, pred_sum)
        den = np.sqrt((s * s - np.einsum("bk,bk->b", pred_sum, pred_sum))
                      * (s * s - np.einsum("bk,bk->b", truth_sum, truth_sum)))
        return np.where(den > 0, (c * s - tp) / np.where(den > 0, den, 1), 0.0)
    if name == "cohen_kappa":
        observed = diag.sum(axis=1) / total
        expected = np.einsum("bk,bk->b", truth_sum, pred_sum) / (total * total)
        return _safe_divide(observed - expected, 1.0 - expected)
    per_class_f1 = _safe_divide(2 * diag, truth_sum + pred_sum)
    if name == "f1" and k > 2:
        finite = np.isfinite(per_class_f1)
        count = finite.sum(axis=1)
        summed = np.where(finite, per_class_f1, 0).sum(axis=1)
        return np.where(count > 0, summed / np.maximum(count, 1), np.nan)
    assert pos is not None
    neg = 1 - pos
    tp, fn = cm[:, pos, pos], cm[:, pos, neg]
    fp, tn = cm[:, neg, pos], cm[:, neg, neg]
    binary = {
        "f1": lambda: per_class_f1[:, pos],
        "sensitivity": lambda: _safe_divide(tp, tp + fn),
        "specificity": lambda: _safe_divide(tn, tn + fp),
        "ppv": lambda: _safe_divide(tp, tp + fp),
        "npv": lambda: _safe_divide(tn, tn + fn),
    }
    return binary[name]()


def _macro(values: list[np.ndarray]) -> np.ndarray:
    stacked = np.column_stack(values)
    finite = np.isfinite(stacked)
    count = finite.sum(axis=1)
    summed = np.where(finite, stacked, 0).sum(axis=1)
    return np.where(count >= 2, summed / np.maximum(count, 1), np.nan)


def weighted_average_precision(y: np.ndarray, score: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Step-wise average precision under each row of case weights (NaN without positives)."""
    order = np.argsort(-score, kind="stable")
    s_sorted, y_sorted = score[order], y[order]
    group_end = np.r_[np.flatnonzero(s_sorted[1:] != s_sorted[:-1]), s_sorted.size - 1]
    w_sorted = w[:, order]
    tp = np.cumsum(w_sorted * y_sorted, axis=1)[:, group_end]
    predicted = np.cumsum(w_sorted, axis=1)[:, group_end]
    positives = tp[:, -1]
    step = np.diff(np.column_stack([np.zeros(w.shape[0]), tp]), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(step > 0, tp / np.where(predicted > 0, predicted, 1), 0.0)
        return np.where(positives > 0, (step * precision).sum(axis=1) / positives, np.nan)


def _batched_logistic(x: np.ndarray, y: np.ndarray, w: np.ndarray, *,
                      fit_slope: bool) -> np.ndarray:
    """Per-row weighted ML fit of logit P(y) = a + b·x (or a + x); returns b (or a).
    NaN for rows with one class, separated classes (slope) or without convergence, as the
    single-fit functions."""
    rows = w.shape[0]
    a = np.zeros(rows)
    b = np.zeros(rows) if fit_slope else np.ones(rows)
    done = np.zeros(rows, bool)
    result = np.full(rows, np.nan)
    n_pos = w @ y
    n_all = w.sum(axis=1)
    active = (n_pos > 0) & (n_pos < n_all)
    if fit_slope:  # separated classes have no finite slope (as calibration_slope)
        present = w > 0
        is_pos = y.astype(bool)[None, :]
        pos_min = np.where(present & is_pos, x, np.inf).min(axis=1)
        pos_max = np.where(present & is_pos, x, -np.inf).max(axis=1)
        neg_min = np.where(present & ~is_pos, x, np.inf).min(axis=1)
        neg_max = np.where(present & ~is_pos, x, -np.inf).max(axis=1)
        active &= ~((neg_max <= pos_min) | (pos_max <= neg_min))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for _ in range(_MAX_NEWTON_STEPS):
            todo = active & ~done
            if not todo.any():
                break
            wt = w[todo]
            mu = expit(a[todo, None] + b[todo, None] * x[None, :])
            resid = wt * (y[None, :] - mu)
            info = wt * mu * (1 - mu)
            if fit_slope:
                g0, g1 = resid.sum(axis=1), resid @ x
                h00, h01, h11 = info.sum(axis=1), info @ x, info @ (x * x)
                det = h00 * h11 - h01 * h01
                step_a = (h11 * g0 - h01 * g1) / det
                step_b = (h00 * g1 - h01 * g0) / det
                a[todo] += step_a
                b[todo] += step_b
                size = np.maximum(np.abs(step_a), np.abs(step_b))
                scale = np.maximum(1.0, np.maximum(np.abs(a[todo]), np.abs(b[todo])))
                converged = size < 1e-12 * scale
                result_rows = b[todo]
            else:
                step_a = resid.sum(axis=1) / info.sum(axis=1)
                a[todo] += step_a
                converged = np.abs(step_a) < 1e-13 * np.maximum(1.0, np.abs(a[todo]))
                result_rows = a[todo]
            converged &= np.isfinite(result_rows)
            index = np.flatnonzero(todo)
            result[index[converged]] = result_rows[converged]
            done[index[converged]] = True
            done[index[~np.isfinite(step_a)]] = True
    return result


def _expected_calibration_error(confidence: np.ndarray, outcome: np.ndarray, w: np.ndarray,
                                n_bins: int) -> np.ndarray:
    bins = np.minimum((confidence * n_bins).astype(np.intp), n_bins - 1)
    member = np.zeros((confidence.size, n_bins))
    member[np.arange(confidence.size), bins] = 1.0
    observed = w @ (member * outcome[:, None])
    predicted = w @ (member * confidence[:, None])
    return np.abs(observed - predicted).sum(axis=1) / w.sum(axis=1)


SUPPORTED: frozenset[str] = frozenset({
    "auroc", "auprc", "accuracy", "balanced_accuracy", "sensitivity", "specificity", "ppv",
    "npv", "f1", "mcc", "cohen_kappa", "brier", "log_loss", "ece", "calibration_slope",
    "calibration_intercept", "net_benefit",
})


def resampled_classification(
    name: str, y_true: Sequence[str], proba: np.ndarray | Sequence[Sequence[float]],
    classes: Sequence[str], *, weights: np.ndarray, positive: str | None = None,
    threshold: float = 0.5, n_bins: int = 10,
) -> np.ndarray | None:
    """The registry metric ``name`` under each row of ``weights`` (resamples × cases), or
    ``None`` when the metric has no vectorised form here (then loop over resamples)."""
    if name not in SUPPORTED:
        return None
    truth, p, labels = class_inputs(y_true, proba, classes)
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    k = len(labels)
    pos = positive_index(labels, positive) if k == 2 else None
    if name in ("calibration_slope", "calibration_intercept", "net_benefit", "sensitivity",
                "specificity", "ppv", "npv") and pos is None:
        positive_index(labels, positive)  # raises the binary-task error
    computations: dict[str, Callable[[], np.ndarray]] = {
        "auroc": lambda: _ranking(weighted_auc, truth, p, pos, w),
        "auprc": lambda: _ranking(_ap, truth, p, pos, w),
        "brier": lambda: w @ _brier_per_case(truth, p, pos) / w.sum(axis=1),
        "log_loss": lambda: w @ _log_loss_per_case(truth, p) / w.sum(axis=1),
        "ece": lambda: _ece(truth, p, pos, w, n_bins),
        "calibration_slope": lambda: _calibration(truth, p, pos, w, fit_slope=True),
        "calibration_intercept": lambda: _calibration(truth, p, pos, w, fit_slope=False),
        "net_benefit": lambda: _net_benefit(truth, p, pos, w, threshold),
    }
    if name in computations:
        return computations[name]()
    pred = predicted_index(p, labels, positive=positive, threshold=threshold)
    return _count_metric(name, _confusion(truth, pred, k, w), pos)


def _ap(y: np.ndarray, score: np.ndarray, *, weights: np.ndarray) -> np.ndarray:
    return weighted_average_precision(y, score, weights)


def _ranking(fn: Callable[..., np.ndarray], truth: np.ndarray, p: np.ndarray, pos: int | None,
             w: np.ndarray) -> np.ndarray:
    if pos is not None:
        return fn(truth == pos, p[:, pos], weights=w)
    return _macro([fn(truth == j, p[:, j], weights=w) for j in range(p.shape[1])])


def _brier_per_case(truth: np.ndarray, p: np.ndarray, pos: int | None) -> np.ndarray:
    if pos is not None:
        return (p[:, pos] - (truth == pos)) ** 2
    return np.sum((p - np.eye(p.shape[1])[truth]) ** 2, axis=1)


def _log_loss_per_case(truth: np.ndarray, p: np.ndarray) -> np.ndarray:
    eps = np.finfo(np.float64).eps
    return -np.log(np.clip(p[np.arange(truth.size), truth], eps, 1 - eps))


def _ece(truth: np.ndarray, p: np.ndarray, pos: int | None, w: np.ndarray,
         n_bins: int) -> np.ndarray:
    if pos is not None:
        return _expected_calibration_error(p[:, pos], (truth == pos).astype(float), w, n_bins)
    hit = (np.argmax(p, axis=1) == truth).astype(float)
    return _expected_calibration_error(p.max(axis=1), hit, w, n_bins)


def _calibration(truth: np.ndarray, p: np.ndarray, pos: int | None, w: np.ndarray, *,
                 fit_slope: bool) -> np.ndarray:
    assert pos is not None
    q = np.clip(p[:, pos], LOGIT_EPS, 1 - LOGIT_EPS)
    x = np.log(q) - np.log1p(-q)
    return _batched_logistic(x, (truth == pos).astype(float), w, fit_slope=fit_slope)


def _net_benefit(truth: np.ndarray, p: np.ndarray, pos: int | None, w: np.ndarray,
                 threshold: float) -> np.ndarray:
    assert pos is not None
    if not 0 < threshold < 1:
        raise InputError("decision-curve thresholds must lie strictly between 0 and 1")
    treated = p[:, pos] >= threshold
    actual = truth == pos
    n = w.sum(axis=1)
    tp = w @ (treated & actual).astype(float)
    fp = w @ (treated & ~actual).astype(float)
    return tp / n - fp / n * threshold / (1 - threshold)
