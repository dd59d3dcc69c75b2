"""Paired tests of two models on the same cases: Wilcoxon signed-rank, sign-flip permutation,
and McNemar for paired correctness."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.stats import binomtest, chi2, wilcoxon

from imagination.errors import InputError

Alternative = Literal["two-sided", "greater", "less"]


@dataclass(frozen=True)
class PairedTest:
    method: str
    statistic: float
    p_value: float
    n: int
    #: estimate of the effect: median (Wilcoxon), mean (permutation) of b − a, or b − c counts
    effect: float


def _differences(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> np.ndarray:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise InputError(f"paired values must be two 1-D arrays of equal length "
                         f"(got {x.shape} and {y.shape})")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise InputError("paired values contain NaN or infinite values")
    if x.size == 0:
        raise InputError("no pairs to test")
    return y - x


def wilcoxon_paired(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *,
                    alternative: Alternative = "two-sided") -> PairedTest:
    """Wilcoxon signed-rank test of b − a (SciPy, zero differences dropped: ``wilcox``).
    The exact null distribution for up to 50 non-zero differences without ties in |d|, else
    the normal approximation with tie correction (as R's ``wilcox.test``; SciPy's default
    would run a permutation test for tied data, ~0.5 s a call). All differences zero:
    statistic 0, p = 1."""
    d = _differences(a, b)
    if not np.any(d):
        return PairedTest("wilcoxon", 0.0, 1.0, d.size, 0.0)
    magnitudes = np.abs(d[d != 0])
    if magnitudes.size <= 50 and np.unique(magnitudes).size == magnitudes.size:
        method = "exact"
    else:
        method = "approx"
    result = wilcoxon(d, zero_method="wilcox", alternative=alternative, method=method)
    return PairedTest("wilcoxon", float(result.statistic), float(result.pvalue), d.size,
                      float(np.median(d)))


def permutation_paired(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *,
                       n_resamples: int = 10000, seed: int = 0,
                       alternative: Alternative = "two-sided") -> PairedTest:
    """Sign-flip permutation test of the mean of b − a. Exact (all 2^n sign patterns) when
    2^n <= ``n_resamples``, else ``n_resamples`` random patterns with p = (hits + 1)/(B + 1).
    Two-sided p = min(1, 2·min(p_less, p_greater)), ties within 100 ulp counted (as SciPy)."""
    d = _differences(a, b)
    n = d.size
    exact = n < 63 and 2**n <= n_resamples
    if exact:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
    else:
        signs = np.where(np.random.default_rng(seed).random((n_resamples, n)) < 0.5, -1.0, 1.0)
    null = signs @ d / n
    observed = float(d.mean())
    gamma = abs(observed) * np.finfo(np.float64).eps * 100
    adjustment = 0 if exact else 1
    total = null.size + adjustment
    p_less = (np.count_nonzero(null <= observed + gamma) + adjustment) / total
    p_greater = (np.count_nonzero(null >= observed - gamma) + adjustment) / total
    if alternative == "less":
        p = p_less
    elif alternative == "greater":
        p = p_greater
    else:
        p = min(1.0, 2 * min(p_less, p_greater))
    return PairedTest("permutation" + ("-exact" if exact else ""), observed, float(p), n,
                      observed)


def mcnemar(correct_a: Sequence[bool] | np.ndarray, correct_b: Sequence[bool] | np.ndarray, *,
            exact: bool = True) -> PairedTest:
    """McNemar's test of paired correctness. Exact: two-sided binomial test of the discordant
    pairs; otherwise χ² with continuity correction. No discordant pair: p = 1. ``effect`` is
    (only b correct) − (only a correct)."""
    x = np.asarray(correct_a).astype(bool)
    y = np.asarray(correct_b).astype(bool)
    if x.shape != y.shape or x.ndim != 1:
        raise InputError("McNemar needs two 1-D boolean arrays of equal length")
    only_a = int(np.count_nonzero(x & ~y))
    only_b = int(np.count_nonzero(~x & y))
    discordant = only_a + only_b
    if discordant == 0:
        return PairedTest("mcnemar", 0.0, 1.0, x.size, 0.0)
    if exact:
        p = binomtest(only_b, discordant, 0.5).pvalue
        return PairedTest("mcnemar-exact", float(min(only_a, only_b)), float(p), x.size,
                          float(only_b - only_a))
    statistic = (abs(only_a - only_b) - 1) ** 2 / discordant
    return PairedTest("mcnemar-chi2", float(statistic), float(chi2.sf(statistic, 1)), x.size,
                      float(only_b - only_a))
