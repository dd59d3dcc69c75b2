"""DeLong against an independent O(m·n) structural-component implementation (DeLong 1988)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from imagination.errors import InputError
from imagination.stats import delong


def _pairwise(y: np.ndarray, scores: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and covariance from the kernel psi(x, y) = 1[x > y] + 1/2·1[x = y], looped over models
    and written without ranks."""
    comps10, comps01, aucs = [], [], []
    for s in scores:
        pos, neg = s[y], s[~y]
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        aucs.append(psi.mean())
        comps10.append(psi.mean(axis=1))
        comps01.append(psi.mean(axis=0))
    m, n = int(y.sum()), int((~y).sum())
    k = len(scores)
    cov = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            s10 = np.sum((comps10[i] - aucs[i]) * (comps10[j] - aucs[j])) / (m - 1)
            s01 = np.sum((comps01[i] - aucs[i]) * (comps01[j] - aucs[j])) / (n - 1)
            cov[i, j] = s10 / m + s01 / n
    return np.array(aucs), cov


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(6, 120), rounding=st.sampled_from([0, 1, 3]))
def test_fast_delong_equals_the_pairwise_definition(seed: int, n: int, rounding: int) -> None:
    rng = np.random.default_rng(seed)
    y = np.r_[True, True, False, False, rng.random(n - 4) < 0.4]
    a = np.round(rng.normal(size=n) + y, rounding)
    b = np.round(a + rng.normal(size=n) * 0.7 + 0.3 * y, rounding)
    aucs, cov = delong.delong_covariance(y, np.vstack([a, b]))
    ref_aucs, ref_cov = _pairwise(y, [a, b])
    assert aucs == pytest.approx(ref_aucs, abs=1e-12)
    assert aucs[0] == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert cov == pytest.approx(ref_cov, abs=1e-12)
    test = delong.delong_paired_test(y, a, b)
    var = ref_cov[0, 0] + ref_cov[1, 1] - 2 * ref_cov[0, 1]
    if var > 1e-15:
        z = (ref_aucs[1] - ref_aucs[0]) / np.sqrt(var)
        assert test.z == pytest.approx(z, rel=1e-9)
        assert test.p_value == pytest.approx(2 * norm.sf(abs(z)), rel=1e-9, abs=1e-15)


def test_hand_computed_small_example() -> None:
    # positives 0.9, 0.8, 0.4; negatives 0.7, 0.4, 0.1: psi rows [1,1,1], [1,1,1], [0,.5,1]
    y = np.array([1, 1, 1, 0, 0, 0], bool)
    s = np.array([0.9, 0.8, 0.4, 0.7, 0.4, 0.1])
    # AUC = 7.5/9; V10 = [1, 1, 0.5], V01 = [2/3, 2.5/3, 1]
    auc = 7.5 / 9
    s10 = np.var([1, 1, 0.5], ddof=1)
    s01 = np.var([2 / 3, 2.5 / 3, 1], ddof=1)
    se = np.sqrt(s10 / 3 + s01 / 3)
    r = delong.delong_ci(y, s)
    assert r.auc == pytest.approx(auc)
    assert r.se == pytest.approx(se)
    assert r.low == pytest.approx(max(0, auc - 1.959963984540054 * se))
    assert r.high == 1.0  # clipped


def test_identical_models_and_too_few_cases() -> None:
    y = np.array([1, 1, 0, 0, 1, 0], bool)
    s = np.array([0.3, 0.8, 0.2, 0.5, 0.9, 0.1])
    t = delong.delong_paired_test(y, s, s)
    assert t.difference == 0.0 and t.p_value == 1.0
    with pytest.raises(InputError, match="two positive"):
        delong.delong_ci([1, 0, 0], [0.2, 0.1, 0.3])


def test_hanley_mcneil_ct_ratings() -> None:
    # Hanley & McNeil (1982), Radiology 143:29, Table 1: 109 CT images rated 1-5.
    # Published AUC 0.893 with their approximate SE 0.032; DeLong's SE is close to it.
    normal = np.repeat([1, 2, 3, 4, 5], [33, 6, 6, 11, 2])
    abnormal = np.repeat([1, 2, 3, 4, 5], [3, 2, 2, 11, 33])
    y = np.r_[np.zeros(normal.size, bool), np.ones(abnormal.size, bool)]
    r = delong.delong_ci(y, np.r_[normal, abnormal].astype(float))
    assert r.auc == pytest.approx(0.893, abs=5e-4)
    assert r.se == pytest.approx(0.032, abs=0.002)
