"""Per-site heterogeneity and bootstrap rank stability."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from imagination.errors import InputError
from imagination.metrics.registry import get
from imagination.stats import ranking, sites


def test_heterogeneity_by_hand() -> None:
    est = [sites.SiteEstimate(s, e, se, np.nan, np.nan, 10)
           for s, e, se in (("A", 0.80, 0.05), ("B", 0.70, 0.04), ("C", 0.90, 0.10))]
    w = np.array([400.0, 625.0, 100.0])
    theta = np.array([0.80, 0.70, 0.90])
    fixed = (w * theta).sum() / w.sum()
    q = (w * (theta - fixed) ** 2).sum()
    tau2 = max(0.0, (q - 2) / (w.sum() - (w**2).sum() / w.sum()))
    wr = 1 / (1 / w + tau2)
    r = sites.site_heterogeneity(est)
    assert r.fixed_estimate == pytest.approx(fixed)
    assert r.q == pytest.approx(q) and r.df == 2
    assert r.p_value == pytest.approx(stats.chi2.sf(q, 2))
    assert r.i2 == pytest.approx(max(0, (q - 2) / q))
    assert r.tau2 == pytest.approx(tau2)
    assert r.random_estimate == pytest.approx((wr * theta).sum() / wr.sum())
    assert r.random_low < r.random_estimate < r.random_high


def test_homogeneous_sites_have_zero_i2_and_unusable_sites_are_excluded() -> None:
    est = [sites.SiteEstimate("A", 0.5, 0.1, 0, 0, 5), sites.SiteEstimate("B", 0.5, 0.2, 0, 0, 5),
           sites.SiteEstimate("C", 0.9, float("nan"), 0, 0, 1)]
    r = sites.site_heterogeneity(est)
    assert r.q == 0.0 and r.i2 == 0.0 and r.tau2 == 0.0 and r.excluded == ("C",)
    with pytest.raises(InputError, match="two sites"):
        sites.site_heterogeneity(est[:1])


def test_site_means_with_t_intervals() -> None:
    values = [1.0, 2.0, 3.0, 10.0, 4.0]
    labels = ["x", "x", "x", "y", "z"]
    out = {e.site: e for e in sites.site_means(values, labels)}
    assert out["x"].estimate == 2.0 and out["x"].n == 3
    assert out["x"].se == pytest.approx(1 / np.sqrt(3))
    assert out["x"].high - 2.0 == pytest.approx(stats.t.ppf(0.975, 2) / np.sqrt(3))
    assert np.isnan(out["y"].se)


def test_ranks_follow_direction() -> None:
    v = np.array([0.7, 0.9, 0.7, np.nan])
    assert list(ranking.ranks(v)) == [2, 1, 2, 4]
    assert list(ranking.ranks(v, badness=get("hd95").badness)) == [1, 3, 1, 4]
    assert list(ranking.ranks(np.array([0.8, 1.3, 1.05]),
                              badness=get("calibration_slope").badness)) == [
        2, 3, 1]


def test_rank_stability_separated_and_tied_models() -> None:
    rng = np.random.default_rng(0)
    n = 80
    subjects = np.arange(n)
    values = np.vstack([
        rng.normal(0.9, 0.02, n),   # clearly best
        rng.normal(0.5, 0.05, n),   # these two are indistinguishable
        rng.normal(0.5, 0.05, n),
    ])
    est, boot = ranking.bootstrap_case_means(values, subjects=subjects, n_resamples=1000, seed=1)
    assert est == pytest.approx(values.mean(axis=1))
    result = ranking.rank_stability(["best", "m2", "m3"], est, boot)
    best, m2, m3 = result
    assert best.rank == 1 and (best.rank_low, best.rank_high) == (1, 1) and best.p_best == 1.0
    assert (m2.rank_low, m2.rank_high) == (2, 3) and (m3.rank_low, m3.rank_high) == (2, 3)
    for r in result:
        assert sum(r.rank_probabilities) == pytest.approx(1.0)
    assert 0.2 < m2.rank_probabilities[1] < 0.8


def test_bootstrap_aucs_are_paired_and_exact() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    y = rng.random(60) < 0.5
    scores = np.vstack([rng.normal(size=60) + y, rng.normal(size=60) + 2 * y])
    est, boot = ranking.bootstrap_aucs(y, scores, subjects=np.arange(60), n_resamples=200)
    assert est == pytest.approx([roc_auc_score(y, s) for s in scores], abs=1e-12)
    assert boot.shape == (200, 2)
    r = ranking.rank_stability(["a", "b"], est, boot)
    assert r[1].rank == 1 and r[1].p_best > 0.9
