"""Patient-level bootstrap confidence intervals (percentile and BCa).

A resample draws *subjects* with replacement (within each stratum, so every resample keeps the
stratum sizes) and keeps all cases of a drawn subject. It is stored as a case-weight matrix
``W`` (resamples × cases, W[b, i] = times case i's subject was drawn), which lets statistics be
computed for all resamples at once. Strata are per case (default for AUC: the outcome);
subjects whose cases fall in different strata (several follow-up pairs with different
responses) form one stratum of their own together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.special import ndtr, ndtri

from imagination.errors import InputError

Method = Literal["percentile", "bca"]
#: The stratum of subjects whose cases fall in several strata.
MIXED = "\x00mixed"


@dataclass(frozen=True)
class BootstrapResult:
    estimate: float
    low: float
    high: float
    method: str
    alpha: float
    n_resamples: int
    #: resamples whose statistic was finite (the others are left out of the interval)
    n_valid: int
    distribution: np.ndarray


def _subject_index(subjects: Sequence[object] | np.ndarray, n: int) -> tuple[np.ndarray, int]:
    labels = np.asarray([str(s) for s in subjects])
    if labels.size != n:
        raise InputError(f"subjects has {labels.size} entries for {n} cases")
    _, index = np.unique(labels, return_inverse=True)
    return index, int(index.max()) + 1


def _subject_strata(index: np.ndarray, n_subjects: int,
                    strata: Sequence[object] | np.ndarray | None) -> np.ndarray:
    if strata is None:
        return np.zeros(n_subjects, dtype=np.intp)
    case_strata = np.asarray([str(s) for s in strata])
    if case_strata.size != index.size:
        raise InputError(f"strata has {case_strata.size} entries for {index.size} cases")
    keys: list[set[str]] = [set() for _ in range(n_subjects)]
    for subject, stratum in zip(index, case_strata, strict=True):
        keys[subject].add(str(stratum))
    # a subject whose cases fall in several strata (pairs of one subject with different
    # outcomes) joins the one stratum of such subjects: a stratum per combination would often
    # hold a single subject, drawn exactly once in every resample (no variance)
    combined = [next(iter(k)) if len(k) == 1 else MIXED for k in keys]
    return np.unique(combined, return_inverse=True)[1]


def resample_weights(
    subjects: Sequence[object] | np.ndarray, *, strata: Sequence[object] | np.ndarray | None = None,
    n_resamples: int = 2000, seed: int = 0,
) -> np.ndarray:
    """Case-weight matrix (n_resamples × cases) of a stratified subject-level bootstrap."""
    if n_resamples < 1:
        raise InputError(f"n_resamples must be >= 1, got {n_resamples}")
    n = len(subjects)
    index, n_subjects = _subject_index(subjects, n)
    subject_stratum = _subject_strata(index, n_subjects, strata)
    rng = np.random.default_rng(seed)
    offsets = (np.arange(n_resamples) * n_subjects)[:, None]
    flat = []
    for stratum in range(int(subject_stratum.max()) + 1):
        members = np.flatnonzero(subject_stratum == stratum)
        draws = members[rng.integers(0, members.size, size=(n_resamples, members.size))]
        flat.append((draws + offsets).ravel())
    counts = np.bincount(np.concatenate(flat), minlength=n_resamples * n_subjects)
    return counts.reshape(n_resamples, n_subjects).astype(np.int32)[:, index]


def jackknife_weights(subjects: Sequence[object] | np.ndarray) -> np.ndarray:
    """Leave-one-subject-out case weights (subjects × cases, 0/1)."""
    index, n_subjects = _subject_index(subjects, len(subjects))
    return (index[None, :] != np.arange(n_subjects)[:, None]).astype(np.int32)


def interval(distribution: np.ndarray, estimate: float, *, alpha: float = 0.05,
             method: Method = "percentile", jackknife: np.ndarray | None = None,
             ) -> tuple[float, float]:
    """Percentile or BCa (Efron 1987) interval from a bootstrap distribution. BCa needs the
    jackknife values; its bias correction counts ties half (as SciPy)."""
    finite = distribution[np.isfinite(distribution)]
    if finite.size == 0:
        return float("nan"), float("nan")
    levels = np.array([alpha / 2, 1 - alpha / 2])
    if method == "bca":
        if jackknife is None:
            raise InputError("the BCa interval needs jackknife values")
        share_below = (np.count_nonzero(finite < estimate)
                       + np.count_nonzero(finite <= estimate)) / (2 * finite.size)
        z0 = ndtri(share_below)
        jk = jackknife[np.isfinite(jackknife)]
        d = jk.mean() - jk
        denominator = 6.0 * np.sum(d**2) ** 1.5
        accel = float(np.sum(d**3) / denominator) if denominator > 0 else 0.0
        z = ndtri(levels)
        levels = ndtr(z0 + (z0 + z) / (1 - accel * (z0 + z)))
        if not np.all(np.isfinite(levels)):
            return float("nan"), float("nan")
    elif method != "percentile":
        raise InputError(f"unknown bootstrap interval method {method!r} (percentile or bca)")
    low, high = np.percentile(finite, 100 * levels)
    return float(low), float(high)


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise InputError(f"alpha must lie in (0, 1), got {alpha}")


def bootstrap_ci(
    statistic: Callable[..., float | np.ndarray], *arrays: np.ndarray | Sequence[object],
    subjects: Sequence[object] | np.ndarray, strata: Sequence[object] | np.ndarray | None = None,
    n_resamples: int = 2000, alpha: float = 0.05, method: Method = "percentile", seed: int = 0,
    weighted: bool = False,
) -> BootstrapResult:
    """Bootstrap CI of ``statistic(*arrays)`` resampling subjects (all arrays are per case).

    With ``weighted=True`` the statistic is vectorised: it is called once as
    ``statistic(*arrays, weights=W)`` with a (resamples × cases) weight matrix and returns one
    value per row. Otherwise it is called per resample on the resampled arrays."""
    _check_alpha(alpha)
    data = [np.asarray(a) for a in arrays]
    if not data or any(len(a) != len(subjects) for a in data):
        raise InputError("every array must have one entry per case (as many as subjects)")
    weights = resample_weights(subjects, strata=strata, n_resamples=n_resamples, seed=seed)

    def evaluate(w: np.ndarray) -> np.ndarray:
        if weighted:
            return np.asarray(statistic(*data, weights=w), dtype=np.float64)
        cases = np.arange(w.shape[1])
        return np.array([float(statistic(*(a[np.repeat(cases, row)] for a in data)))
                         for row in w])

    estimate = float(evaluate(np.ones((1, len(subjects)), dtype=np.int32))[0])
    distribution = evaluate(weights)
    jackknife = evaluate(jackknife_weights(subjects)) if method == "bca" else None
    low, high = interval(distribution, estimate, alpha=alpha, method=method, jackknife=jackknife)
    return BootstrapResult(estimate, low, high, method, alpha, n_resamples,
                           int(np.count_nonzero(np.isfinite(distribution))), distribution)


def weighted_mean(values: np.ndarray, *, weights: np.ndarray) -> np.ndarray:
    """Vectorised statistic for :func:`bootstrap_ci`: the weighted mean of per-case values."""
    return weights @ np.asarray(values, dtype=np.float64) / weights.sum(axis=1)


def weighted_auc(y: np.ndarray, score: np.ndarray, *, weights: np.ndarray) -> np.ndarray:
    """ROC AUC under each row of case weights, exact with tied scores (NaN without both
    classes). The negatives are sorted once and each positive's run of lower and tied
    negatives is found once; per row only a cumulative sum and two gathers remain."""
    yb = np.asarray(y).astype(bool)
    s = np.asarray(score, dtype=np.float64)
    w = np.asarray(weights)
    order = np.argsort(s[~yb], kind="stable")
    neg_sorted = s[~yb][order]
    lower = np.searchsorted(neg_sorted, s[yb], side="left")
    upper = np.searchsorted(neg_sorted, s[yb], side="right")
    w_pos = w[:, yb].astype(np.float64)
    cum_neg = np.zeros((w.shape[0], neg_sorted.size + 1))
    np.cumsum(w[:, ~yb][:, order], axis=1, out=cum_neg[:, 1:])
    below = cum_neg[:, lower]
    tied = cum_neg[:, upper] - below
    with np.errstate(invalid="ignore", divide="ignore"):
        return (w_pos * (below + 0.5 * tied)).sum(axis=1) / (w_pos.sum(axis=1) * cum_neg[:, -1])


def bootstrap_auc_ci(
    y: np.ndarray | Sequence[bool], score: np.ndarray | Sequence[float], *,
    subjects: Sequence[object] | np.ndarray, strata: Sequence[object] | np.ndarray | None = None,
    n_resamples: int = 2000, alpha: float = 0.05, method: Method = "percentile", seed: int = 0,
) -> BootstrapResult:
    """Bootstrap CI of a binary ROC AUC, stratified by outcome unless ``strata`` is given."""
    yb = np.asarray(y).astype(bool)
    s = np.asarray(score, dtype=np.float64)
    if yb.shape != s.shape or yb.ndim != 1:
        raise InputError("y and score must be 1-D arrays of equal length")
    if not np.all(np.isfinite(s)):
        raise InputError("scores contain NaN or infinite values")
    return bootstrap_ci(weighted_auc, yb, s, subjects=subjects,
                        strata=yb if strata is None else strata, n_resamples=n_resamples,
                        alpha=alpha, method=method, seed=seed, weighted=True)
