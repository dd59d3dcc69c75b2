"""Tumour-mask dilation and erosion: radii in mm against sphere geometry, label handling."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import cKDTree

from imagination.cohort.case import Case, Grid, LoadedCase
from imagination.cohort.labelmap import LabelMap
from imagination.perturb import apply_perturbation, available
from imagination.perturb.masks import dilate_labels, erode_labels

from .cases import affine, radius_mm


def _sphere_case(spacing: tuple[float, float, float], radius: float = 6.0,
                 label_map: str = "brats2021") -> LoadedCase:
    shape = tuple(round(34 / s) for s in spacing)
    r = radius_mm(shape, spacing)
    seg = np.where(r <= radius, 2, 0).astype(np.int16)
    record = Case("sphere", "sphere", "s", images={"t1c": None},  # type: ignore[dict-item]
                  masks={"tumor": None}, label_map=LabelMap.from_spec(label_map))  # type: ignore[dict-item]
    image = np.full(shape, 50, dtype=np.float32)
    return LoadedCase(record, Grid(shape, affine(spacing)), {"t1c": image}, {"tumor": seg})


def _equivalent_radius(mask: np.ndarray, spacing: tuple[float, float, float]) -> float:
    volume = np.count_nonzero(mask) * float(np.prod(spacing))
    return float((3 * volume / (4 * np.pi)) ** (1 / 3))


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (1.0, 1.0, 2.0)])
def test_dilation_and_erosion_move_a_sphere_surface_by_the_radius(spacing) -> None:
    case = _sphere_case(spacing)
    base = _equivalent_radius(case.masks["tumor"] > 0, spacing)
    assert base == pytest.approx(6.0, abs=0.3)
    levels = available()["mask_dilate"].levels
    for severity, level in enumerate(levels, start=1):
        grown = apply_perturbation(case, "mask_dilate", severity, 0).masks["tumor"]
        shrunk = apply_perturbation(case, "mask_erode", severity, 0).masks["tumor"]
        # lattice effect: the nearest sphere voxel lies up to half a voxel off the surface
        tolerance = 0.5 if spacing[2] == 1.0 else 0.6
        assert _equivalent_radius(grown > 0, spacing) - base == pytest.approx(level, abs=tolerance)
        assert base - _equivalent_radius(shrunk > 0, spacing) == pytest.approx(level,
                                                                               abs=tolerance)
        assert grown.dtype == np.int16 and set(np.unique(grown)) <= {0, 2}
    # exact definition, against a brute-force nearest-neighbour search in mm
    tree = cKDTree(np.argwhere(case.masks["tumor"] > 0) * spacing)
    points = np.argwhere(np.ones(case.grid.shape, bool)) * spacing
    distance = tree.query(points)[0].reshape(case.grid.shape)
    grown = apply_perturbation(case, "mask_dilate", 3, 0).masks["tumor"] > 0
    assert np.array_equal(grown, distance <= 2.0)
    shrunk = apply_perturbation(case, "mask_erode", 3, 0).masks["tumor"] > 0
    outside = cKDTree(np.argwhere(case.masks["tumor"] == 0) * spacing)
    depth = outside.query(points)[0].reshape(case.grid.shape)
    assert np.array_equal(shrunk, (case.masks["tumor"] > 0) & (depth > 2.0))


def test_dilation_is_the_euclidean_neighbourhood_in_mm() -> None:
    seg = np.zeros((15, 15, 9), dtype=np.uint8)
    seg[7, 7, 4] = 4
    whole = seg > 0
    grown = dilate_labels(seg, whole, 2.0, (1.0, 1.0, 2.0))
    # points with x² + y² + (2z)² <= 4: 13 in the middle plane and one above and below
    assert np.count_nonzero(grown) == 15 and set(np.unique(grown)) == {0, 4}
    shrunk = erode_labels(np.where(radius_mm(seg.shape, (1, 1, 1)) <= 3, 2, 0).astype(np.uint8),
                          radius_mm(seg.shape, (1, 1, 1)) <= 3, 1.0, (1.0, 1.0, 1.0))
    # a voxel survives when its 6-neighbours (distance 1) are all inside: |p| <= 3 after a step
    r = radius_mm(seg.shape, (1, 1, 1))
    inside = r <= 3
    survivors = inside.copy()
    for axis in range(3):
        for step in (-1, 1):
            survivors &= np.roll(inside, step, axis=axis)
    assert np.array_equal(shrunk > 0, survivors)


def test_labels_are_preserved_and_cavity_and_brain_respected() -> None:
    shape, spacing = (30, 30, 20), (1.0, 1.0, 1.0)
    r = radius_mm(shape, spacing)
    seg = np.zeros(shape, dtype=np.uint8)
    seg[r <= 7] = 2            # SNFH
    seg[r <= 4] = 1            # NETC
    seg[r <= 2] = 3            # ET
    seg[(r > 7) & (r <= 10) & (np.arange(30)[:, None, None] < 10)] = 4  # cavity beside it
    brain = (np.arange(30)[None, :, None] < 20) & np.ones(shape, bool)
    record = Case("lab", "lab", "s", masks={"tumor": None, "brain": None},  # type: ignore[dict-item]
                  label_map=LabelMap.from_spec("brats2024_post"))
    case = LoadedCase(record, Grid(shape, affine(spacing)), {},
                      {"tumor": seg, "brain": brain.astype(np.uint8)})
    grown = apply_perturbation(case, "mask_dilate", 5, 0).masks["tumor"]
    new = (grown != seg)
    assert set(np.unique(grown[new])) == {2}          # the margin is oedema
    assert np.array_equal(grown == 4, seg == 4)        # the cavity is never overwritten
    assert not new[~brain].any()                       # nor is tissue outside the brain added
    shrunk = apply_perturbation(case, "mask_erode", 1, 0).masks["tumor"]
    assert np.array_equal(shrunk == 3, seg == 3) and np.array_equal(shrunk == 1, seg == 1)
    eroded = (shrunk != seg)
    assert set(np.unique(seg[eroded])) == {2}
    # eroded voxels take the nearest outside label: background, or the cavity next to them
    assert set(np.unique(shrunk[eroded])) == {0, 4}


blobs = st.lists(st.tuples(st.integers(2, 13), st.integers(2, 13), st.integers(1, 7),
                           st.integers(1, 3)), min_size=1, max_size=3)


@settings(max_examples=25, deadline=None)
@given(blobs, st.floats(0.5, 3.0), st.floats(0.5, 3.0),
       st.sampled_from([(1.0, 1.0, 1.0), (0.8, 0.8, 2.0)]))
def test_dilation_grows_and_erosion_shrinks_monotonically(blob_list, r1, r2, spacing) -> None:
    shape = (16, 16, 9)
    seg = np.zeros(shape, dtype=np.uint8)
    for x, y, z, code in blob_list:
        seg[max(x - 2, 0):x + 2, max(y - 2, 0):y + 2, max(z - 1, 0):z + 1] = code
    whole = seg > 0
    small, large = sorted((r1, r2))
    grown_small = dilate_labels(seg, whole, small, spacing) > 0
    grown_large = dilate_labels(seg, whole, large, spacing) > 0
    assert np.all(grown_small[whole]) and np.all(grown_large[grown_small])
    shrunk_small = erode_labels(seg, whole, small, spacing) > 0
    shrunk_large = erode_labels(seg, whole, large, spacing) > 0
    assert not np.any(shrunk_small & ~whole) and not np.any(shrunk_large & ~shrunk_small)
    kept = erode_labels(seg, whole, large, spacing)
    assert np.array_equal(kept[shrunk_large], seg[shrunk_large])
