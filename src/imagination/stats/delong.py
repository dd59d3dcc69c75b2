"""DeLong's method for ROC AUCs: variance, confidence interval and the paired test of two
correlated AUCs (DeLong, DeLong & Clarke-Pearson 1988), computed with midranks as in Sun & Xu
(2014), O(n log n). Cases are assumed independent; the interval is a Wald interval on the AUC
scale clipped to [0, 1] (as pROC's ``ci.auc(method="delong")``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm, rankdata

from imagination.errors import InputError


@dataclass(frozen=True)
class AucInterval:
    auc: float
    se: float
    low: float
    high: float


@dataclass(frozen=True)
class PairedAucTest:
    auc_a: float
    auc_b: float
    difference: float
    se: float
    z: float
    p_value: float
    low: float
    high: float


def delong_covariance(
    y: np.ndarray | Sequence[bool], scores: np.ndarray | Sequence[Sequence[float]]
) -> tuple[np.ndarray, np.ndarray]:
    """AUCs of k score rows (k × n) and their k × k DeLong covariance matrix."""
    yb = np.asarray(y).astype(bool)
    s = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    if s.shape[1] != yb.size:
        raise InputError(f"scores have {s.shape[1]} cases but y has {yb.size}")
    if not np.all(np.isfinite(s)):
        raise InputError("scores contain NaN or infinite values")
    m, n = int(np.count_nonzero(yb)), int(np.count_nonzero(~yb))
    if m < 2 or n < 2:
        raise InputError(f"DeLong needs at least two positive and two negative cases "
                         f"(got {m} and {n})")
    pos, neg = s[:, yb], s[:, ~yb]
    rank_pos, rank_neg = rankdata(pos, axis=1), rankdata(neg, axis=1)
    rank_all = rankdata(np.hstack([pos, neg]), axis=1)
    aucs = rank_all[:, :m].sum(axis=1) / (m * n) - (m + 1) / (2 * n)
    v_pos = (rank_all[:, :m] - rank_pos) / n
    v_neg = 1.0 - (rank_all[:, m:] - rank_neg) / m
    cov = np.atleast_2d(np.cov(v_pos)) / m + np.atleast_2d(np.cov(v_neg)) / n
    return aucs, cov


def delong_ci(y: np.ndarray | Sequence[bool], score: np.ndarray | Sequence[float], *,
              alpha: float = 0.05) -> AucInterval:
    """AUC with its DeLong standard error and (1 − alpha) Wald interval."""
    aucs, cov = delong_covariance(y, np.asarray(score, dtype=np.float64)[None, :])
    se = float(np.sqrt(cov[0, 0]))
    z = norm.ppf(1 - alpha / 2)
    auc = float(aucs[0])
    return AucInterval(auc, se, float(max(0.0, auc - z * se)), float(min(1.0, auc + z * se)))


def delong_paired_test(y: np.ndarray | Sequence[bool], score_a: np.ndarray | Sequence[float],
                       score_b: np.ndarray | Sequence[float], *,
                       alpha: float = 0.05) -> PairedAucTest:
    """Two-sided test of AUC_b − AUC_a = 0 for two models scored on the same cases.
    When the difference has zero variance, p is 1 if the AUCs are equal and 0 otherwise."""
    aucs, cov = delong_covariance(y, np.vstack([np.asarray(score_a, dtype=np.float64),
                                                np.asarray(score_b, dtype=np.float64)]))
    diff = float(aucs[1] - aucs[0])
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    se = float(np.sqrt(max(var, 0.0)))
    if se > 0:
        z = diff / se
        p = float(2 * norm.sf(abs(z)))
    else:
        z = 0.0 if diff == 0 else float(np.sign(diff) * np.inf)
        p = 1.0 if diff == 0 else 0.0
    half = float(norm.ppf(1 - alpha / 2)) * se
    return PairedAucTest(float(aucs[0]), float(aucs[1]), diff, se, z, p, diff - half, diff + half)
