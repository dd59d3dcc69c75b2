"""Paired tests against SciPy and hand-computed values; Holm against its definition."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from imagination.errors import InputError
from imagination.stats import multiple, paired


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(3, 11))
def test_exact_permutation_equals_scipy(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = a + rng.normal(0.4, 1.0, n)
    got = paired.permutation_paired(a, b, n_resamples=5000)
    ref = stats.permutation_test((a, b), lambda x, y: np.mean(x - y), permutation_type="samples",
                                 n_resamples=np.inf)
    assert got.method == "permutation-exact"
    assert got.p_value == pytest.approx(ref.pvalue, abs=1e-12)
    assert got.statistic == pytest.approx(np.mean(a - b))  # the sign of a − b


def test_randomised_permutation_is_seeded_and_close_to_exact() -> None:
    rng = np.random.default_rng(5)
    a = rng.normal(size=14)
    b = a + rng.normal(0.5, 1.0, 14)
    exact = paired.permutation_paired(a, b, n_resamples=2**14)
    approx = paired.permutation_paired(a, b, n_resamples=4000, seed=1)
    assert approx.method == "permutation"
    assert approx.p_value == paired.permutation_paired(a, b, n_resamples=4000, seed=1).p_value
    assert approx.p_value == pytest.approx(exact.p_value, abs=0.02)


def test_wilcoxon_exact_branch_equals_scipy_and_handles_all_zero() -> None:
    a = np.array([0.61, 0.72, 0.55, 0.80, 0.43, 0.66, 0.70, 0.52])
    b = np.array([0.70, 0.76, 0.52, 0.91, 0.50, 0.66, 0.81, 0.60])  # one zero: normal branch
    c = np.array([0.70, 0.76, 0.52, 0.91, 0.50, 0.67, 0.82, 0.60])  # no zero, no tied |a - c|
    got = paired.wilcoxon_paired(a, c)
    ref = stats.wilcoxon(a, c, zero_method="wilcox", method="exact")
    assert got.method == "wilcoxon-exact"
    assert got.p_value == pytest.approx(ref.pvalue, rel=1e-12)
    assert got.statistic == np.sum(stats.rankdata(np.abs(a - c))[a - c > 0])  # R's V
    assert got.effect == pytest.approx(np.median(a - c))  # sign of a − b
    with_zero = paired.wilcoxon_paired(a, b)
    assert with_zero.method == "wilcoxon-normal"  # R leaves the exact test when zeros occur
    ref = stats.wilcoxon(a, b, zero_method="wilcox", correction=True, method="approx")
    assert with_zero.p_value == pytest.approx(ref.pvalue, rel=1e-12)
    same = paired.wilcoxon_paired(a, a)
    assert same.p_value == 1.0
    with pytest.raises(InputError, match="equal length"):
        paired.wilcoxon_paired(a, b[:-1])
    with pytest.raises(InputError, match="NaN"):
        paired.wilcoxon_paired(a, np.r_[b[:-1], np.nan])


R_WILCOX = json.loads((Path(__file__).parent / "fixtures" / "r_wilcox_test.json").read_text())


@pytest.mark.parametrize("case", R_WILCOX["cases"], ids=lambda c: c["call"] + c["alternative"])
def test_wilcoxon_matches_published_r_output(case: dict) -> None:
    x = np.asarray(case["x"], dtype=float)
    y = np.broadcast_to(np.asarray(case["y"], dtype=float), x.shape)
    got = paired.wilcoxon_paired(x, y, alternative=case["alternative"])
    assert got.method == case["method"]
    assert got.statistic == case["V"]
    assert float(f"{got.p_value:.{case['digits']}g}") == case["p"]  # R prints 4 significant


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 70),
       alternative=st.sampled_from(["two-sided", "less", "greater"]))
def test_wilcoxon_matches_scipy_on_both_branches(seed: int, n: int, alternative: str) -> None:
    rng = np.random.default_rng(seed)
    a = np.round(rng.normal(size=n), int(rng.integers(0, 3)))  # rounding makes ties and zeros
    b = np.round(rng.normal(0.3, 1.0, n), int(rng.integers(0, 3)))
    d = a - b
    if not np.any(d):
        return
    got = paired.wilcoxon_paired(a, b, alternative=alternative)  # type: ignore[arg-type]
    nonzero = np.abs(d[d != 0])
    exact = nonzero.size < 50 and np.unique(nonzero).size == nonzero.size and np.all(d != 0)
    ref = stats.wilcoxon(a, b, zero_method="wilcox", correction=True, alternative=alternative,
                         method="exact" if exact else "approx")
    assert got.method == ("wilcoxon-exact" if exact else "wilcoxon-normal")
    assert got.p_value == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-15)


def test_mcnemar_by_hand() -> None:
    # 10 pairs: only a right in 1, only b right in 6 -> exact p = 2 * P(X <= 1 | 7, 1/2) = 16/128
    a = np.array([1, 0, 0, 0, 0, 0, 0, 1, 1, 0], bool)
    b = np.array([0, 1, 1, 1, 1, 1, 1, 1, 1, 0], bool)
    exact = paired.mcnemar(a, b)
    assert exact.p_value == pytest.approx(16 / 128)
    assert exact.effect == -5  # (only a right) − (only b right): the sign of a − b
    chi = paired.mcnemar(a, b, exact=False)
    assert chi.statistic == pytest.approx((abs(1 - 6) - 1) ** 2 / 7)
    assert chi.p_value == pytest.approx(stats.chi2.sf(16 / 7, 1))
    assert paired.mcnemar(a, a).p_value == 1.0


def _holm_by_definition(p: list[float]) -> list[float]:
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out = [0.0] * m
    for rank, i in enumerate(order):
        out[i] = min(1.0, max((m - j) * p[order[j]] for j in range(rank + 1)))
    return out


def test_holm_worked_example_and_definition() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    assert multiple.holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    rng = np.random.default_rng(0)
    for _ in range(50):
        q = list(rng.random(rng.integers(1, 9)) ** 2)
        assert multiple.holm(q) == pytest.approx(_holm_by_definition(q))
    with_nan = multiple.holm([0.01, np.nan, 0.04])
    assert np.isnan(with_nan[1]) and with_nan[[0, 2]] == pytest.approx([0.02, 0.04])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=12))
def test_holm_properties(p: list[float]) -> None:
    adj = multiple.holm(p)
    assert np.all(adj >= np.asarray(p) - 1e-15) and np.all(adj <= 1)
    for i, j in itertools.combinations(range(len(p)), 2):  # order preserved
        if p[i] < p[j]:
            assert adj[i] <= adj[j]


def test_wilcoxon_with_tied_differences_uses_the_normal_approximation() -> None:
    a = np.zeros(30)
    b = np.repeat([0.1, -0.05, 0.2, 0.0, 0.3], 6)  # ties and zeros, as coverage values have
    got = paired.wilcoxon_paired(a, b)
    ref = stats.wilcoxon(a, b, zero_method="wilcox", correction=True, method="approx")
    assert got.method == "wilcoxon-normal"
    assert got.p_value == pytest.approx(ref.pvalue, rel=1e-12)
    assert got.statistic == np.sum(stats.rankdata(np.abs((a - b)[a != b]))[(a - b)[a != b] > 0])
