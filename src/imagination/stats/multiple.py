"""Multiple-testing correction across a family of comparisons."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from imagination.errors import InputError


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values, in the input order. NaN p-values stay NaN and are
    not counted in the family size."""
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise InputError("holm expects a 1-D sequence of p-values")
    finite = ~np.isnan(p)
    if np.any((p[finite] < 0) | (p[finite] > 1)):
        raise InputError("p-values must lie in [0, 1]")
    out = np.full(p.shape, np.nan)
    values = p[finite]
    m = values.size
    if m == 0:
        return out
    order = np.argsort(values, kind="stable")
    scaled = (m - np.arange(m)) * values[order]
    adjusted = np.minimum(np.maximum.accumulate(scaled), 1.0)
    result = np.empty(m)
    result[order] = adjusted
    out[finite] = result
    return out
