"""Rank uncertainty of a leaderboard: ranks of models over bootstrap resamples.

All models are resampled with the same subject draws (paired), so the rank distribution
reflects both their noise and their correlation. Ranks are competition ranks (ties share the
best rank, 1 = best); a non-finite value ranks last.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from imagination.errors import InputError
from imagination.stats.bootstrap import resample_weights, weighted_auc


@dataclass(frozen=True)
class ModelRank:
    model: str
    estimate: float
    rank: int
    #: probability of each rank 1..m over the resamples
    rank_probabilities: tuple[float, ...]
    median_rank: float
    rank_low: int
    rank_high: int
    p_best: float


Badness = Callable[[np.ndarray], np.ndarray]


def _higher_is_better(values: np.ndarray) -> np.ndarray:
    return -values


def ranks(values: np.ndarray, *, badness: Badness | None = None) -> np.ndarray:
    """Competition ranks along the last axis (1 = best; NaN ranks last). ``badness`` maps
    values to "smaller is better" (a metric's :meth:`~imagination.metrics.metric.Metric.badness`);
    default: higher is better."""
    v = np.asarray(values, dtype=np.float64)
    bad = np.asarray((badness or _higher_is_better)(v), dtype=np.float64)
    bad = np.where(np.isfinite(bad) & np.isfinite(v), bad, np.inf)
    return rankdata(bad, method="min", axis=-1).astype(np.intp)


def rank_stability(models: Sequence[str], estimates: Sequence[float] | np.ndarray,
                   bootstrap_values: np.ndarray, *, badness: Badness | None = None,
                   alpha: float = 0.05) -> list[ModelRank]:
    """Rank distribution of each model from bootstrap values (resamples × models); the rank
    interval is the (alpha/2, 1 − alpha/2) quantile pair of its ranks (nearest observed ranks)."""
    names = [str(m) for m in models]
    est = np.asarray(estimates, dtype=np.float64)
    boot = np.asarray(bootstrap_values, dtype=np.float64)
    if boot.ndim != 2 or boot.shape[1] != len(names) or est.shape != (len(names),):
        raise InputError(f"need {len(names)} estimates and a resamples × {len(names)} array")
    point = ranks(est, badness=badness)
    resampled = ranks(boot, badness=badness)
    m = len(names)
    out = []
    for j, name in enumerate(names):
        r = resampled[:, j]
        probs = np.bincount(r, minlength=m + 1)[1:] / r.size
        out.append(ModelRank(
            model=name, estimate=float(est[j]), rank=int(point[j]),
            rank_probabilities=tuple(float(x) for x in probs),
            median_rank=float(np.median(r)),
            rank_low=int(np.quantile(r, alpha / 2, method="lower")),
            rank_high=int(np.quantile(r, 1 - alpha / 2, method="higher")),
            p_best=float(probs[0]),
        ))
    return out


def bootstrap_case_means(values: np.ndarray, *, subjects: Sequence[object],
                         strata: Sequence[object] | None = None, n_resamples: int = 2000,
                         seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Means of per-case metric values (models × cases) and their paired bootstrap
    (resamples × models). Non-finite values are left out of each mean."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != len(subjects):
        raise InputError("values must be models × cases with one subject per case")
    w = resample_weights(subjects, strata=strata, n_resamples=n_resamples, seed=seed)
    finite = np.isfinite(v)
    filled = np.where(finite, v, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = (w @ filled.T) / (w @ finite.T.astype(np.float64))
        est = filled.sum(axis=1) / finite.sum(axis=1)
    return est, boot


def bootstrap_aucs(y: np.ndarray, scores: np.ndarray, *, subjects: Sequence[object],
                   n_resamples: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """AUCs of several models (models × cases scores) and their paired, outcome-stratified
    bootstrap (resamples × models)."""
    yb = np.asarray(y).astype(bool)
    s = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    w = resample_weights(subjects, strata=yb, n_resamples=n_resamples, seed=seed)
    ones = np.ones((1, yb.size))
    est = np.array([weighted_auc(yb, row, weights=ones)[0] for row in s])
    boot = np.column_stack([weighted_auc(yb, row, weights=w) for row in s])
    return est, boot
