"""RANO 2.0 engine against hand-computed ellipsoids of known diameters and volumes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from imagination.rano.criteria import assess
from imagination.rano.measure import axial_diameters, measure_lesions, target_lesions

SHAPE = (96, 96, 48)


def ellipsoid(semi_mm: tuple[float, float, float], centre_mm: tuple[float, float, float],
              spacing: tuple[float, float, float] = (1.0, 1.0, 1.0),
              shape: tuple[int, int, int] = SHAPE) -> np.ndarray:
    """Voxels whose centres lie in the ellipsoid; centres sit half a voxel off the lattice so
    that no voxel centre falls exactly on an axis end (a symmetric digital object)."""
    grids = np.meshgrid(*((np.arange(n) + 0.5) * s for n, s in zip(shape, spacing, strict=True)),
                        indexing="ij")
    return sum(((g - c) / a) ** 2 for g, c, a in zip(grids, centre_mm, semi_mm,
                                                        strict=True)) <= 1.0


def test_disc_diameters_are_edge_to_edge():
    # A 21 x 11 pixel rectangle at 1 mm: longest diameter is its diagonal, measured as the
    # centre diagonal sqrt(20^2 + 10^2) = 22.36 plus one pixel width (1 mm) = 23.36 (the true
    # edge-to-edge diagonal is sqrt(21^2 + 11^2) = 23.71 mm); the longest chord perpendicular to
    # it crosses the 11 mm height at angle atan(10/20): 11 / (20/22.36) = 12.30 mm (digital
    # measurement: within one pixel).
    pixels = np.argwhere(np.ones((21, 11), dtype=bool))
    longest, perpendicular = axial_diameters(pixels, (1.0, 1.0))
    assert longest == pytest.approx(math.hypot(20, 10) + 1.0, abs=1e-9)
    assert perpendicular == pytest.approx(11 / (20 / math.hypot(20, 10)), abs=1.0)


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.5, 0.5, 2.0)])
def test_ellipsoid_diameters_and_volume(spacing):
    # semi-axes 15, 10, 8 mm: largest axial cross-section is the 30 x 20 mm ellipse,
    # product 600 mm^2, volume 4/3 pi 15 10 8 = 5026.5 mm^3 = 5.03 mL
    shape = tuple(round(n / s) for n, s in zip(SHAPE, spacing, strict=True))
    mask = ellipsoid((15, 10, 8), (48, 48, 24), spacing, shape)
    (lesion,) = measure_lesions(mask, spacing)
    assert lesion.longest_mm == pytest.approx(30.0, abs=1.0)
    assert lesion.perpendicular_mm == pytest.approx(20.0, abs=1.0)
    assert lesion.product_mm2 == pytest.approx(600.0, rel=0.06)
    assert lesion.volume_ml == pytest.approx(4 / 3 * math.pi * 15 * 10 * 8 / 1000, rel=0.03)
    assert lesion.slice_index == pytest.approx(24 / spacing[2], abs=2)
    assert lesion.measurable


def test_measurability_rules():
    small = ellipsoid((4, 4, 4), (20, 20, 20))              # 8 mm across: too small
    flat = np.zeros(SHAPE, dtype=bool)
    flat[60:80, 60:80, 30] = True                            # 20 x 20 mm on one slice only
    big = ellipsoid((8, 8, 6), (40, 70, 20))                 # 16 x 16 mm
    lesions = measure_lesions(small | flat | big, (1.0, 1.0, 1.0))
    by_size = sorted(lesions, key=lambda lesion: lesion.volume_ml)
    assert [lesion.measurable for lesion in by_size] == [False, False, True]
    assert {lesion.n_slices for lesion in lesions if lesion.volume_ml < 0.5} == {1, 8}
    # thick slices (6 mm) need 12 mm diameters: an 11 mm lesion is then not measurable
    thick = ellipsoid((5.5, 5.5, 12), (48, 48, 144), (1.0, 1.0, 6.0), (96, 96, 48))
    (lesion,) = measure_lesions(thick, (1.0, 1.0, 6.0))
    assert 10.0 <= lesion.longest_mm < 12.0 and not lesion.measurable


def test_at_most_three_target_lesions_largest_first():
    mask = np.zeros(SHAPE, dtype=bool)
    for i, r in enumerate((6, 7, 8, 9)):
        mask |= ellipsoid((r, r, 6), (12 + 22 * i, 48, 24))
    targets = target_lesions(measure_lesions(mask, (1.0, 1.0, 1.0)))
    assert len(targets) == 3
    assert [t.longest_mm for t in targets] == pytest.approx([18, 16, 14], abs=1.0)


@pytest.mark.parametrize(("scale", "expected"), [
    # linear scale s: product x s^2, volume x s^3
    (1.20, ("PD", "PD")),    # +44 % product, +72.8 % volume
    (1.05, ("SD", "SD")),    # +10.3 %, +15.8 %
    (1.15, ("PD", "PD")),    # +32.3 %, +52.1 %
    (0.85, ("SD", "SD")),    # -27.8 %, -38.6 %
    (0.75, ("SD", "SD")),    # -43.8 %, -57.8 %
    (0.60, ("PR", "PR")),    # -64.0 %, -78.4 %
])
def test_response_categories_follow_rano2_thresholds(scale, expected):
    base = ellipsoid((15, 12, 10), (48, 48, 24))
    follow = ellipsoid((15 * scale, 12 * scale, 10 * scale), (48, 48, 24))
    bi = assess(base, follow, (1.0, 1.0, 1.0), "bidimensional")
    vol = assess(base, follow, (1.0, 1.0, 1.0), "volumetric")
    assert (bi.response, vol.response) == expected
    assert bi.relative_change == pytest.approx(scale**2 - 1, abs=0.06)
    assert vol.relative_change == pytest.approx(scale**3 - 1, abs=0.05)
    assert bi.unit == "mm2" and vol.unit == "ml"


def test_growth_along_the_slice_axis_is_seen_only_by_volume():
    # the axial cross-section is unchanged (30 x 24 mm) while the volume grows by 50 %
    base = ellipsoid((15, 12, 8), (48, 48, 24))
    taller = ellipsoid((15, 12, 12), (48, 48, 24))
    assert assess(base, taller, (1.0, 1.0, 1.0), "bidimensional").response == "SD"
    assert assess(base, taller, (1.0, 1.0, 1.0), "volumetric").response == "PD"


def test_complete_response_new_lesion_and_window():
    base = ellipsoid((12, 10, 8), (30, 30, 24))
    empty = np.zeros(SHAPE, dtype=bool)
    assert assess(base, empty, (1.0, 1.0, 1.0)).response == "CR"
    new = base | ellipsoid((7, 7, 6), (75, 75, 24))          # 14 mm, far from baseline
    call = assess(base, new, (1.0, 1.0, 1.0), "volumetric")
    assert call.response == "PD" and call.new_measurable_lesion
    grown = ellipsoid((16, 13, 11), (30, 30, 24))
    early = assess(base, grown, (1.0, 1.0, 1.0), days_since_radiotherapy_end=50)
    late = assess(base, grown, (1.0, 1.0, 1.0), days_since_radiotherapy_end=120)
    assert early.response == late.response == "PD"
    assert early.preliminary and not late.preliminary
    # no measurable baseline disease: a small lesion that stays small is SD
    tiny = ellipsoid((3, 3, 3), (30, 30, 24))
    assert assess(tiny, tiny, (1.0, 1.0, 1.0)).response == "SD"
    assert math.isnan(assess(tiny, tiny, (1.0, 1.0, 1.0)).relative_change)
