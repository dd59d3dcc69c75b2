"""Agreement statistics against published worked examples and hand formulas."""

from __future__ import annotations

import numpy as np
import pytest

from imagination.errors import InputError
from imagination.stats import agreement

# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges.
SHROUT_FLEISS = np.array([
    [9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7],
])


def test_icc_shrout_fleiss_table() -> None:
    r = agreement.icc(SHROUT_FLEISS)
    # published: ICC(1,1) = .17, ICC(2,1) = .29, ICC(3,1) = .71
    assert r.icc1 == pytest.approx(0.17, abs=0.005)
    assert r.icc2 == pytest.approx(0.29, abs=0.005)
    assert r.icc3 == pytest.approx(0.71, abs=0.005)
    assert r.icc2_low < r.icc2 < r.icc2_high
    assert r.icc3_low < r.icc3 < r.icc3_high
    assert (r.n_targets, r.n_raters) == (6, 4)


def test_icc_of_identical_raters_is_one_and_constant_offset_hurts_only_agreement() -> None:
    rng = np.random.default_rng(0)
    truth = rng.normal(size=25)
    same = agreement.icc(np.column_stack([truth, truth + 1e-9 * rng.normal(size=25)]))
    assert same.icc2 == pytest.approx(1, abs=1e-6) and same.icc3 == pytest.approx(1, abs=1e-6)
    shifted = agreement.icc(np.column_stack([truth, truth + 2.0 + 1e-3 * rng.normal(size=25)]))
    assert shifted.icc3 == pytest.approx(1, abs=1e-3)  # consistency ignores the offset
    assert shifted.icc2 < 0.5  # absolute agreement does not


def test_fleiss_kappa_worked_example() -> None:
    # Fleiss (1971) style example as reproduced on Wikipedia: 10 subjects, 14 raters,
    # 5 categories; P-bar = 0.378, P_e = 0.213, kappa = 0.210
    counts = np.array([
        [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
    ])
    assert agreement.fleiss_kappa(counts) == pytest.approx(0.210, abs=0.0005)
    with pytest.raises(InputError, match="same number"):
        agreement.fleiss_kappa([[1, 2], [2, 2]])


def test_bland_altman_by_hand() -> None:
    a = np.array([10.0, 12.0, 9.0, 14.0, 11.0])
    b = np.array([9.0, 12.5, 8.0, 12.0, 10.5])
    d = a - b  # 1, -0.5, 1, 2, 0.5: mean 0.8, SD sqrt(0.825)
    r = agreement.bland_altman(a, b)
    sd = np.sqrt(np.sum((d - 0.8) ** 2) / 4)
    assert r.bias == pytest.approx(0.8) and r.sd == pytest.approx(sd)
    assert (r.lower_limit, r.upper_limit) == pytest.approx((0.8 - 1.959964 * sd,
                                                            0.8 + 1.959964 * sd))
    t = 2.7764451051977987  # t(0.975, 4)
    assert r.bias_high - r.bias == pytest.approx(t * sd / np.sqrt(5))
    assert r.limit_ci_half_width == pytest.approx(t * sd * np.sqrt(1 / 5 + 1.959964**2 / 8),
                                                  rel=1e-6)
    with pytest.raises(InputError, match="equal length"):
        agreement.bland_altman(a, b[:3])


def test_icc_interval_coverage_by_simulation() -> None:
    # x_ij = target_i + rater_j + error_ij with variances 1, 0.25, 0.49 (20 targets, 3 raters)
    rng = np.random.default_rng(7)
    true2 = 1 / (1 + 0.25 + 0.49)
    true3 = 1 / (1 + 0.49)
    hits2 = hits3 = 0
    reps = 400
    for _ in range(reps):
        x = (rng.normal(size=(20, 1)) + rng.normal(0, 0.5, (1, 3))
             + rng.normal(0, 0.7, (20, 3)))
        r = agreement.icc(x)
        hits2 += r.icc2_low <= true2 <= r.icc2_high
        hits3 += r.icc3_low <= true3 <= r.icc3_high
    assert 0.91 <= hits2 / reps <= 0.99
    assert 0.92 <= hits3 / reps <= 0.98
