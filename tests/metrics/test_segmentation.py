"""Surface metrics on hand-computed geometries and against a brute-force reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imagination.errors import InputError
from imagination.metrics import segmentation as seg


def _brute_surface(mask: np.ndarray) -> np.ndarray:
    """Voxels with at least one of their 6 face neighbours outside the mask (or the array)."""
    padded = np.pad(mask, 1, constant_values=False)
    inner = np.ones_like(mask)
    for axis in range(3):
        for step in (-1, 1):
            inner &= np.roll(padded, step, axis=axis)[1:-1, 1:-1, 1:-1]
    return mask & ~inner


def _brute_distances(ref: np.ndarray, pred: np.ndarray, sp: tuple[float, ...]) -> np.ndarray:
    a = np.argwhere(_brute_surface(ref)) * np.asarray(sp)
    b = np.argwhere(_brute_surface(pred)) * np.asarray(sp)
    d = np.sqrt(((b[:, None, :] - a[None, :, :]) ** 2).sum(-1))
    return np.concatenate([d.min(axis=1), d.min(axis=0)])


def test_cube_grown_by_one_voxel_by_hand(nearest_method: str) -> None:
    ref = np.zeros((30, 30, 30), bool)
    ref[10:20, 10:20, 10:20] = True
    pred = np.zeros_like(ref)
    pred[9:21, 9:21, 9:21] = True
    # reference surface: 10^3 - 8^3 = 488 voxels, each 1 mm from the grown cube's surface;
    # grown surface: 600 face voxels at 1, 120 edge voxels at sqrt 2, 8 corners at sqrt 3.
    pooled = np.array([1.0] * 1088 + [math.sqrt(2)] * 120 + [math.sqrt(3)] * 8)
    s = seg.segmentation_scores(ref, pred, (1, 1, 1), tolerance_mm=1.0)
    assert s.hd95 == pytest.approx(math.sqrt(2))  # rank 1154.25 of 1216 falls in the sqrt 2 run
    assert s.assd == pytest.approx(pooled.mean())
    # NSD (panoptica): mean of the directed shares within 1 mm: (488/488 + 600/728) / 2
    assert s.nsd == pytest.approx((1 + 600 / 728) / 2)
    assert s.dice == pytest.approx(2 * 1000 / (1000 + 1728))


def test_parallel_sheets_with_anisotropic_spacing(nearest_method: str) -> None:
    # two one-voxel-thick sheets 3 slices apart at 5 mm slices: every distance is 15 mm
    ref = np.zeros((12, 10, 9), bool)
    pred = np.zeros_like(ref)
    ref[:, :, 2] = True
    pred[:, :, 5] = True
    s = seg.segmentation_scores(ref, pred, (0.9, 0.9, 5.0), tolerance_mm=14.9)
    assert (s.hd95, s.assd, s.nsd, s.dice) == (pytest.approx(15.0), pytest.approx(15.0), 0.0, 0.0)
    assert seg.normalised_surface_dice(ref, pred, (0.9, 0.9, 5.0), tolerance_mm=15.0) == 1.0
    # the same shift in-plane is 3 * 0.9 mm
    ref2, pred2 = np.moveaxis(ref, 2, 0), np.moveaxis(pred, 2, 0)
    assert seg.hd95(ref2, pred2, (0.9, 0.9, 5.0)) == pytest.approx(2.7)


def test_single_voxels_apart() -> None:
    ref = np.zeros((9, 9, 9), bool)
    pred = np.zeros_like(ref)
    ref[4, 4, 1] = True
    pred[4, 7, 5] = True
    # offset (0, 3, 4) voxels at spacing (1, 2, 1.5) mm: sqrt(6^2 + 6^2)
    assert seg.hd95(ref, pred, (1, 2, 1.5)) == pytest.approx(math.sqrt(72))
    assert seg.assd(ref, pred, (1, 2, 1.5)) == pytest.approx(math.sqrt(72))


def _ball(shape: tuple[int, int, int], centre: tuple[float, ...], radius_mm: float,
          sp: tuple[float, ...]) -> np.ndarray:
    grid = np.ogrid[tuple(slice(0, n) for n in shape)]
    d2 = sum(((g - c) * s) ** 2 for g, c, s in zip(grid, centre, sp, strict=True))
    return d2 <= radius_mm**2


@pytest.mark.parametrize("sp", [(1.0, 1.0, 1.0), (0.9, 0.9, 3.0)])
def test_concentric_spheres(sp: tuple[float, float, float], nearest_method: str) -> None:
    shape = (40, 40, 20)
    centre = (20, 20, 10)
    ref = _ball(shape, centre, 8.0, sp)
    pred = _ball(shape, centre, 11.0, sp)
    s = seg.segmentation_scores(ref, pred, sp)
    pooled = _brute_distances(ref, pred, sp)
    assert s.hd95 == pytest.approx(np.percentile(pooled, 95), abs=1e-9)
    assert s.assd == pytest.approx(pooled.mean(), abs=1e-9)
    # voxelised spheres 3 mm apart in radius: distances within a voxel diagonal of 3 mm
    assert abs(s.assd - 3.0) < max(sp)
    assert s.hd95 >= s.assd


masks = st.integers(0, 2**32 - 1)


@pytest.fixture(params=["kdtree", "distance-transform"])
def nearest_method(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Force one of the two exact nearest-surface paths."""
    threshold = 0 if request.param == "kdtree" else 10**9
    monkeypatch.setattr(seg, "_EDT_MAX_VOXELS_PER_SURFACE_POINT", threshold)
    return str(request.param)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=masks, density=st.floats(0.05, 0.6),
       sp=st.sampled_from([(1.0, 1.0, 1.0), (0.5, 1.25, 3.0), (2.0, 0.7, 0.7)]))
def test_random_masks_equal_brute_force_and_are_symmetric(nearest_method: str, seed: int,
                                                         density: float,
                                                         sp: tuple[float, ...]) -> None:
    rng = np.random.default_rng(seed)
    shape = tuple(int(x) for x in rng.integers(3, 12, 3))
    ref = rng.random(shape) < density
    pred = rng.random(shape) < density
    ref.flat[0] = pred.flat[-1] = True
    pooled = _brute_distances(ref, pred, sp)
    s = seg.segmentation_scores(ref, pred, sp, tolerance_mm=1.5)
    assert s.hd95 == pytest.approx(np.percentile(pooled, 95), abs=1e-9)
    assert s.assd == pytest.approx(pooled.mean(), abs=1e-9)
    n_pred = int(np.count_nonzero(_brute_surface(pred)))
    shares = (np.mean(pooled[:n_pred] <= 1.5), np.mean(pooled[n_pred:] <= 1.5))
    assert s.nsd == pytest.approx(np.mean(shares), abs=1e-12)
    swapped = seg.segmentation_scores(pred, ref, sp, tolerance_mm=1.5)
    assert swapped.hd95 == pytest.approx(s.hd95) and swapped.assd == pytest.approx(s.assd)
    # padding the volume (so the crop differs) changes nothing
    padded = seg.segmentation_scores(np.pad(ref, 3), np.pad(pred, 3), sp, tolerance_mm=1.5)
    assert padded.hd95 == pytest.approx(s.hd95) and padded.assd == pytest.approx(s.assd)


def test_empty_masks_are_left_to_the_declared_edge_cases() -> None:
    empty = np.zeros((20, 20, 20), bool)
    one = empty.copy()
    one[5:10, 5:10, 5:10] = True
    for ref, pred in ((empty, one), (one, empty), (empty, empty)):
        with pytest.raises(InputError, match="non-empty"):
            seg.segmentation_scores(ref, pred, (1, 1, 1))


def test_bad_inputs() -> None:
    a = np.zeros((4, 4, 4), bool)
    with pytest.raises(InputError, match="shape"):
        seg.dice(a, np.zeros((4, 4, 5), bool))
    with pytest.raises(InputError, match="spacing"):
        seg.hd95(a, a, (1, 0, 1))
    with pytest.raises(InputError, match="non-empty"):
        seg.surface_distances(a, a, (1, 1, 1))
