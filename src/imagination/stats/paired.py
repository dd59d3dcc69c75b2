"""Paired tests of two models on the same cases: Wilcoxon signed-rank (as R's ``wilcox.test``),
sign-flip permutation, and McNemar for paired correctness. Every effect has the sign of a − b,
as ``scipy.stats.wilcoxon(a, b)`` and R's ``wilcox.test(a, b, paired = TRUE)``."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.stats import binomtest, chi2, norm, rankdata

from imagination.errors import InputError

Alternative = Literal["two-sided", "greater", "less"]


#: What :func:`wilcoxon_paired` computes, recorded in ``run.json`` and named in the report.
WILCOXON_VARIANT = (
    "Wilcoxon signed-rank test of a − b as R's wilcox.test(a, b, paired = TRUE) default: zero "
    "differences dropped; exact null distribution when fewer than 50 non-zero differences and "
    "no ties or zeros, else the normal approximation with tie correction and continuity "
    "correction; statistic V = sum of the ranks of the positive differences"
)


@dataclass(frozen=True)
class PairedTest:
    method: str
    statistic: float
    p_value: float
    n: int
    #: estimate of the effect: median (Wilcoxon), mean (permutation) of a − b, or the count
    #: (only a correct) − (only b correct) (McNemar)
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
    return x - y


def _signrank_counts(n: int) -> np.ndarray:
    """Number of subsets of {1..n} with each rank sum 0..n(n+1)/2 (the exact null of V)."""
    counts = np.zeros(n * (n + 1) // 2 + 1)
    counts[0] = 1.0
    for k in range(1, n + 1):
        counts[k:] = counts[k:] + counts[:-k].copy()
    return counts


def wilcoxon_paired(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *,
                    alternative: Alternative = "two-sided") -> PairedTest:
    """Wilcoxon signed-rank test of a − b, as R's ``wilcox.test(a, b, paired = TRUE)`` with its
    defaults (:data:`WILCOXON_VARIANT`): method ``wilcoxon-exact`` or ``wilcoxon-normal``.
    ``statistic`` is R's V; ``effect`` the median of a − b. All differences zero: p = 1."""
    d = _differences(a, b)
    median = float(np.median(d))
    zeros = bool(np.any(d == 0))
    nonzero = d[d != 0]
    n = nonzero.size
    if n == 0:
        return PairedTest("wilcoxon-normal", 0.0, 1.0, d.size, median)
    ranks = rankdata(np.abs(nonzero))
    v = float(ranks[nonzero > 0].sum())
    _, tie_sizes = np.unique(ranks, return_counts=True)
    ties = bool(np.any(tie_sizes > 1))
    if n < 50 and not ties and not zeros:
        counts = _signrank_counts(n)
        total = counts.sum()
        k = round(v)
        lower = counts[: k + 1].sum() / total  # P(V <= v)
        upper = counts[k:].sum() / total  # P(V >= v)
        p = {"less": lower, "greater": upper}.get(
            alternative, min(1.0, 2 * (upper if v > n * (n + 1) / 4 else lower)))
        return PairedTest("wilcoxon-exact", v, float(p), d.size, median)
    z = v - n * (n + 1) / 4
    sigma = np.sqrt(n * (n + 1) * (2 * n + 1) / 24 - np.sum(tie_sizes**3 - tie_sizes) / 48)
    correction = {"less": -0.5, "greater": 0.5}.get(alternative, float(np.sign(z)) * 0.5)
    z = (z - correction) / sigma if sigma > 0 else 0.0
    if alternative == "less":
        p = norm.cdf(z)
    elif alternative == "greater":
        p = norm.sf(z)
    else:
        p = 2 * min(norm.cdf(z), norm.sf(z))
    return PairedTest("wilcoxon-normal", v, float(min(1.0, p)), d.size, median)


def permutation_paired(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *,
                       n_resamples: int = 10000, seed: int = 0,
                       alternative: Alternative = "two-sided") -> PairedTest:
    """Sign-flip permutation test of the mean of a − b. Exact (all 2^n sign patterns) when
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
    (only a correct) − (only b correct), the sign of a − b."""
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
                          float(only_a - only_b))
    statistic = (abs(only_a - only_b) - 1) ** 2 / discordant
    return PairedTest("mcnemar-chi2", float(statistic), float(chi2.sf(statistic, 1)), x.size,
                      float(only_a - only_b))
