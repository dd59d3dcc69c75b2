"""The Fisher–Kolmogorov solver against analytic references and its invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from imagination.errors import InputError
from imagination.growth.fisher_kolmogorov import (
    gaussian_seed,
    simulate_growth,
    stable_time_step,
    tissue_diffusivity,
)


def _front_position(u: np.ndarray, h: float) -> float:
    """Position (mm) where the 1-D profile crosses 0.5, by linear interpolation."""
    idx = int(np.flatnonzero(u >= 0.5)[-1])
    u0, u1 = float(u[idx]), float(u[idx + 1])
    return (idx + (u0 - 0.5) / (u0 - u1)) * h


def test_front_speed_matches_fisher_speed_2_sqrt_d_rho():
    d, rho, h = 1.0, 0.1, 0.5  # mm²/day, 1/day, mm: infiltration length sqrt(D/rho) = 3.2 mm
    n = 640
    initial = np.zeros((n, 1, 1), dtype=np.float32)
    initial[:10] = 1.0
    diffusivity = np.full((n, 1, 1), d, dtype=np.float32)
    t1, t2 = 200.0, 400.0
    x1 = _front_position(simulate_growth(initial, diffusivity, rho, t1, (h, h, h))[:, 0, 0], h)
    x2 = _front_position(simulate_growth(initial, diffusivity, rho, t2, (h, h, h))[:, 0, 0], h)
    measured = (x2 - x1) / (t2 - t1)
    fisher = 2.0 * math.sqrt(d * rho)
    # Bramson: x(t) = 2 sqrt(D rho) t - (3/2) sqrt(D/rho) ln t, so the mean speed is lower by
    bramson = fisher - 1.5 * math.sqrt(d / rho) * math.log(t2 / t1) / (t2 - t1)
    assert measured == pytest.approx(bramson, rel=0.02)
    assert measured == pytest.approx(fisher, rel=0.05)


def test_pure_diffusion_of_a_gaussian_matches_the_heat_kernel():
    d, h, sigma0, days = 0.8, 1.0, 3.0, 20.0
    shape = (41, 41, 41)
    centre = (20, 20, 20)
    initial = 0.5 * gaussian_seed(shape, centre, sigma0, (h, h, h))
    diffusivity = np.full(shape, d, dtype=np.float32)
    u = simulate_growth(initial, diffusivity, 0.0, days, (h, h, h))
    sigma_t = math.sqrt(sigma0**2 + 2 * d * days)
    expected = 0.5 * (sigma0 / sigma_t) ** 3 * gaussian_seed(shape, centre, sigma_t, (h, h, h))
    assert np.max(np.abs(u - expected)) < 0.02 * expected.max()


def test_anisotropic_spacing_gives_the_same_front_in_mm():
    d, rho = 0.5, 0.05
    iso = simulate_growth(gaussian_seed((60, 60, 30), (30, 30, 15), 4.0, (1, 1, 2)),
                          np.full((60, 60, 30), d, np.float32), rho, 60, (1.0, 1.0, 2.0))
    # radius of the u >= 0.5 region along x (1 mm voxels) and along z (2 mm voxels)
    rx = np.count_nonzero(iso[:, 30, 15] >= 0.5) * 1.0
    rz = np.count_nonzero(iso[30, 30, :] >= 0.5) * 2.0
    assert rx == pytest.approx(rz, abs=2.0)


def test_no_flux_into_zero_diffusivity_and_mass_conserved_without_growth():
    shape = (30, 30, 30)
    diffusivity = np.full(shape, 1.0, dtype=np.float32)
    diffusivity[:, 15:, :] = 0.0  # a wall: half of the box is outside the domain
    initial = gaussian_seed(shape, (15, 10, 15), 3.0, (1, 1, 1)) * (diffusivity > 0)
    u = simulate_growth(initial, diffusivity, 0.0, 50.0, (1.0, 1.0, 1.0))
    assert np.all(u[:, 15:, :] == 0)
    assert u.sum() == pytest.approx(initial.sum(), rel=1e-4)


def test_grey_matter_slows_growth_tenfold_diffusion():
    shape = (80, 1, 1)
    initial = np.zeros(shape, np.float32)
    initial[38:42] = 1.0
    wm = np.zeros(shape, np.float32)
    gm = np.zeros(shape, np.float32)
    wm[40:] = 1.0
    gm[:40] = 1.0
    d = tissue_diffusivity(wm, gm, d_white=1.0)
    assert d[0, 0, 0] == pytest.approx(0.1) and d[-1, 0, 0] == pytest.approx(1.0)
    u = simulate_growth(initial, d, 0.05, 60.0, (1.0, 1.0, 1.0))[:, 0, 0]
    assert np.count_nonzero(u[40:] > 0.5) > 2 * np.count_nonzero(u[:40] > 0.5)


def test_tissue_diffusivity_excludes_non_tissue_voxels():
    wm = np.array([0.0, 0.05, 0.5, 1.0], np.float32).reshape(4, 1, 1)
    gm = np.array([0.0, 0.04, 0.5, 0.0], np.float32).reshape(4, 1, 1)
    d = tissue_diffusivity(wm, gm, 2.0, ratio=10.0)[:, 0, 0]
    np.testing.assert_allclose(d, [0.0, 0.0, 2.0 * 0.5 + 0.2 * 0.5, 2.0], rtol=1e-6)


def test_stable_time_step_is_the_explicit_bound():
    d = np.full((5, 5, 5), 2.0, np.float32)
    # interior voxel: 6 faces, each D / h² = 2 / 4 -> rate 3 per day; step = 0.9 / 3
    assert stable_time_step(d, (2.0, 2.0, 2.0)) == pytest.approx(0.3)


def test_bad_inputs_are_input_errors():
    good = np.zeros((3, 3, 3), np.float32)
    with pytest.raises(InputError, match="differ in shape"):
        simulate_growth(good, np.zeros((3, 3, 4)), 0.1, 1.0, (1, 1, 1))
    with pytest.raises(InputError, match="non-negative"):
        simulate_growth(good, -np.ones((3, 3, 3)), 0.1, 1.0, (1, 1, 1))
    with pytest.raises(InputError, match="spacing"):
        simulate_growth(good, np.ones((3, 3, 3)), 0.1, 1.0, (1, 1))
    with pytest.raises(InputError, match="rho"):
        simulate_growth(good, np.ones((3, 3, 3)), float("nan"), 1.0, (1, 1, 1))


@settings(max_examples=25, deadline=None)
@given(
    initial=arrays(np.float32, (6, 5, 4), elements=st.floats(0, 1, width=32)),
    diffusivity=arrays(np.float32, (6, 5, 4),
                       elements=st.one_of(st.just(0.0), st.floats(0.125, 3.0, width=32))),
    rho=st.floats(0.0, 0.3),
    days=st.floats(0.0, 30.0),
)
def test_density_stays_in_unit_interval_and_zero_outside_domain(initial, diffusivity, rho, days):
    u = simulate_growth(initial, diffusivity, rho, days, (1.0, 1.5, 2.0))
    assert u.dtype == np.float32 and u.shape == initial.shape
    assert np.all(u >= 0) and np.all(u <= 1)
    assert np.all(u[diffusivity == 0] == 0)


@settings(max_examples=20, deadline=None)
@given(
    initial=arrays(np.float32, (5, 5, 5), elements=st.floats(0, 1, width=32)),
    diffusivity=arrays(np.float32, (5, 5, 5),
                       elements=st.one_of(st.just(0.0), st.floats(0.125, 2.0, width=32))),
    days=st.floats(0.5, 20.0),
)
def test_growth_never_lowers_total_mass_and_diffusion_alone_conserves_it(
        initial, diffusivity, days):
    start = float((initial * (diffusivity > 0)).sum())
    diffused = simulate_growth(initial, diffusivity, 0.0, days, (1.0, 1.0, 1.0))
    grown = simulate_growth(initial, diffusivity, 0.1, days, (1.0, 1.0, 1.0))
    assert float(diffused.sum()) == pytest.approx(start, rel=1e-4, abs=1e-4)
    assert float(grown.sum()) >= start - 1e-4


def test_growth_solver_advance_equals_simulate_growth():
    from imagination.growth.fisher_kolmogorov import GrowthSolver

    shape = (12, 10, 8)
    rng = np.random.default_rng(0)
    diffusivity = rng.uniform(0.0, 1.0, shape).astype(np.float32)
    diffusivity[diffusivity < 0.2] = 0.0
    initial = gaussian_seed(shape, (6, 5, 4), 2.0, (1.0, 1.0, 2.0))
    solver = GrowthSolver(diffusivity, (1.0, 1.0, 2.0))
    np.testing.assert_array_equal(solver.advance(initial, 0.05, 17.0),
                                  simulate_growth(initial, diffusivity, 0.05, 17.0,
                                                  (1.0, 1.0, 2.0)))
    # two half intervals land close to one whole interval
    half = solver.advance(solver.advance(initial, 0.05, 8.5), 0.05, 8.5)
    np.testing.assert_allclose(half, solver.advance(initial, 0.05, 17.0), atol=2e-3)
