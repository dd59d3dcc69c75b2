"""Patient-level bootstrap: resampling structure, exact resample AUCs, BCa, coverage."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.special import ndtr
from sklearn.metrics import roc_auc_score

from imagination.errors import InputError
from imagination.stats import bootstrap as bs


def test_weights_resample_subjects_within_strata() -> None:
    subjects = ["s1", "s1", "s2", "s3", "s3", "s3", "s4", "s5"]
    strata = ["0", "0", "0", "1", "1", "1", "1", "0"]
    w = bs.resample_weights(subjects, strata=strata, n_resamples=500, seed=7)
    assert w.shape == (500, 8)
    # all cases of a subject carry the same weight
    assert np.array_equal(w[:, 0], w[:, 1]) and np.array_equal(w[:, 3], w[:, 5])
    # stratum 0 has subjects s1, s2, s5 and stratum 1 has s3, s4: draws per stratum are kept
    subject_weight = w[:, [0, 2, 7, 3, 6]]
    assert np.all(subject_weight[:, :3].sum(axis=1) == 3)
    assert np.all(subject_weight[:, 3:].sum(axis=1) == 2)
    assert np.array_equal(w, bs.resample_weights(subjects, strata=strata, n_resamples=500, seed=7))
    assert not np.array_equal(w, bs.resample_weights(subjects, strata=strata, n_resamples=500,
                                                     seed=8))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(6, 50))
def test_weighted_auc_equals_sklearn_on_every_resample(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    y = np.r_[True, False, rng.random(n - 2) < 0.4]
    score = np.round(rng.normal(size=n) + y, 1)  # ties
    w = bs.resample_weights(np.arange(n), strata=y, n_resamples=12, seed=seed)
    got = bs.weighted_auc(y, score, weights=w)
    for row, value in zip(w, got, strict=True):
        idx = np.repeat(np.arange(n), row)
        assert value == pytest.approx(roc_auc_score(y[idx], score[idx]), abs=1e-12)


def test_generic_statistic_loop_equals_weighted_path() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=40)
    subjects = np.repeat(np.arange(20), 2)
    loop = bs.bootstrap_ci(np.mean, x, subjects=subjects, n_resamples=300, seed=3)
    vec = bs.bootstrap_ci(bs.weighted_mean, x, subjects=subjects, n_resamples=300, seed=3,
                          weighted=True)
    assert np.allclose(loop.distribution, vec.distribution, atol=1e-12)
    assert (loop.low, loop.high) == pytest.approx((vec.low, vec.high))
    assert loop.estimate == pytest.approx(x.mean())


def test_bca_matches_scipy_within_monte_carlo_error() -> None:
    rng = np.random.default_rng(11)
    x = rng.exponential(size=60)  # skewed: BCa differs from percentile
    ours = bs.bootstrap_ci(bs.weighted_mean, x, subjects=np.arange(60), n_resamples=20000,
                           method="bca", seed=1, weighted=True)
    ref = stats.bootstrap((x,), np.mean, n_resamples=20000, method="BCa", rng=2)
    se = x.std() / np.sqrt(60)
    assert ours.low == pytest.approx(ref.confidence_interval.low, abs=0.05 * se)
    assert ours.high == pytest.approx(ref.confidence_interval.high, abs=0.05 * se)
    pct = bs.bootstrap_ci(bs.weighted_mean, x, subjects=np.arange(60), n_resamples=20000,
                          seed=1, weighted=True)
    assert ours.high > pct.high  # right-skewed data: BCa shifts the interval up


def test_bca_formula_on_a_fixed_distribution() -> None:
    # z0 = Φ⁻¹(0.5) = 0 and zero acceleration (symmetric jackknife): BCa = percentile
    dist = np.linspace(-1, 1, 2001)
    jack = np.array([-1.0, 0.0, 1.0])
    assert bs.interval(dist, 0.0, method="bca", jackknife=jack) == pytest.approx(
        bs.interval(dist, 0.0, method="percentile"))
    # a shifted estimate moves the levels by Φ(2 z0 ± 1.96)
    est = np.percentile(dist, 60)
    z0 = stats.norm.ppf((np.count_nonzero(dist < est) + np.count_nonzero(dist <= est))
                        / (2 * dist.size))
    lo, hi = ndtr(2 * z0 + stats.norm.ppf([0.025, 0.975]))
    assert bs.interval(dist, est, method="bca", jackknife=jack) == pytest.approx(
        tuple(np.percentile(dist, [100 * lo, 100 * hi])))


def _coverage(method: str, reps: int, rng: np.random.Generator) -> float:
    hits = 0
    for rep in range(reps):
        x = rng.normal(1.0, 2.0, 30)
        r = bs.bootstrap_ci(bs.weighted_mean, x, subjects=np.arange(30), n_resamples=400,
                            method=method, seed=rep, weighted=True)
        hits += r.low <= 1.0 <= r.high
    return hits / reps


def test_mean_interval_coverage_by_simulation() -> None:
    rng = np.random.default_rng(2024)
    # 300 repetitions: binomial SD at 95 % is 1.3 points; bootstrap intervals for n = 30
    # under-cover slightly (about 93-94 %)
    for method in ("percentile", "bca"):
        assert 0.90 <= _coverage(method, 300, rng) <= 0.985


def test_auc_interval_coverage_by_simulation() -> None:
    rng = np.random.default_rng(99)
    d = 1.0
    true_auc = stats.norm.cdf(d / np.sqrt(2))  # binormal, unit variances
    hits, reps = 0, 250
    for rep in range(reps):
        y = np.r_[np.ones(60, bool), np.zeros(90, bool)]
        score = rng.normal(size=y.size) + d * y
        r = bs.bootstrap_auc_ci(y, score, subjects=np.arange(y.size), n_resamples=500, seed=rep)
        hits += r.low <= true_auc <= r.high
    assert 0.90 <= hits / reps <= 0.985


def test_auc_bootstrap_is_stratified_by_outcome() -> None:
    y = np.r_[np.ones(3, bool), np.zeros(30, bool)]
    score = np.random.default_rng(0).normal(size=y.size) + y
    r = bs.bootstrap_auc_ci(y, score, subjects=np.arange(y.size), n_resamples=2000)
    assert r.n_valid == 2000  # never a resample without positives
    assert r.estimate == pytest.approx(roc_auc_score(y, score))


def test_bad_inputs() -> None:
    with pytest.raises(InputError, match="one entry per case"):
        bs.bootstrap_ci(np.mean, np.ones(3), subjects=[1, 2])
    with pytest.raises(InputError, match="alpha"):
        bs.bootstrap_ci(np.mean, np.ones(3), subjects=[1, 2, 3], alpha=1.5)
    with pytest.raises(InputError, match="method"):
        bs.bootstrap_ci(np.mean, np.ones(3), subjects=[1, 2, 3], method="basic")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="NaN"):
        bs.bootstrap_auc_ci([1, 0], [np.nan, 0.0], subjects=[1, 2])
