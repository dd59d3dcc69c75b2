"""Threshold-free ranking metrics of one binary problem: ROC AUC and average precision.

Both are exact with tied scores. ``binary_auroc`` sorts the negatives once and binary-searches the
positives (a tie counts one half), which is the Mann–Whitney U statistic and equals the
trapezoidal ROC area of scikit-learn; it scales to millions of voxels.
"""

from __future__ import annotations

import numpy as np

from imagination.errors import InputError


def _split(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    yb = np.asarray(y).astype(bool, copy=False).ravel()
    s = np.asarray(score).ravel()
    if not np.issubdtype(s.dtype, np.floating):
        s = s.astype(np.float64)
    if yb.shape != s.shape:
        raise InputError(f"labels ({yb.size}) and scores ({s.size}) differ in length")
    if not np.all(np.isfinite(s)):
        raise InputError("scores contain NaN or infinite values")
    return yb, s


def binary_auroc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC of ``score`` for the boolean truth ``y``; NaN when ``y`` holds one class only."""
    yb, s = _split(y, score)
    pos = s[yb]
    neg = np.sort(s[~yb])
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    below = np.searchsorted(neg, pos, side="left")
    below_or_tied = np.searchsorted(neg, pos, side="right")
    u = below.sum(dtype=np.float64) + 0.5 * (below_or_tied - below).sum(dtype=np.float64)
    return float(u / (float(pos.size) * float(neg.size)))


def average_precision(y: np.ndarray, score: np.ndarray) -> float:
    """Average precision, sum over distinct thresholds of ΔRecall × Precision (scikit-learn's
    step-wise definition, no interpolation); NaN when ``y`` has no positive case."""
    yb, s = _split(y, score)
    n_pos = int(np.count_nonzero(yb))
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], yb[order]
    group_end = np.r_[np.flatnonzero(s_sorted[1:] != s_sorted[:-1]), s_sorted.size - 1]
    tp = np.cumsum(y_sorted, dtype=np.float64)[group_end]
    predicted = (group_end + 1).astype(np.float64)
    precision = tp / predicted
    recall_step = np.diff(np.r_[0.0, tp]) / n_pos
    return float(np.sum(recall_step * precision))
