"""Input checks shared by the metric functions: clear errors instead of tracebacks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from imagination.errors import InputError

#: Probabilities may overshoot [0, 1] by this much (float32 round-off); they are clipped.
PROBA_TOLERANCE = 1e-6


def class_inputs(
    y_true: Sequence[str], proba: np.ndarray | Sequence[Sequence[float]], classes: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Validate classification inputs; return (class index per case, n×k float64 proba, classes)."""
    labels = tuple(str(c) for c in classes)
    if len(labels) < 2 or len(set(labels)) != len(labels):
        raise InputError(f"classes must be at least two distinct labels, got {list(labels)}")
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != len(labels):
        raise InputError(
            f"proba must be an n×{len(labels)} array (one column per class), got shape {p.shape}"
        )
    truth = [str(y) for y in y_true]
    if len(truth) != p.shape[0]:
        raise InputError(f"y_true has {len(truth)} cases but proba has {p.shape[0]} rows")
    if len(truth) == 0:
        raise InputError("no cases to score")
    if not np.all(np.isfinite(p)):
        raise InputError("proba contains NaN or infinite values")
    if np.any(p < -PROBA_TOLERANCE) or np.any(p > 1 + PROBA_TOLERANCE):
        raise InputError("proba values must lie in [0, 1]")
    p = np.clip(p, 0.0, 1.0)  # float32 round-off from adapters
    index = {c: i for i, c in enumerate(labels)}
    unknown = sorted({y for y in truth if y not in index})
    if unknown:
        raise InputError(f"y_true holds labels not in classes {list(labels)}: {unknown}")
    return np.fromiter((index[y] for y in truth), dtype=np.intp, count=len(truth)), p, labels


def positive_index(classes: tuple[str, ...], positive: str | None) -> int:
    """Column of the positive class of a binary task (default: the second class)."""
    if len(classes) != 2:
        raise InputError(f"this metric needs a binary task, got {len(classes)} classes")
    if positive is None:
        return 1
    if positive not in classes:
        raise InputError(f"positive class {positive!r} is not one of {list(classes)}")
    return classes.index(positive)
