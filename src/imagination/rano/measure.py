"""RANO 2.0 measurements of enhancing lesions in one exam (pure functions on arrays).

A lesion is a 26-connected component of the enhancing-tumour mask. On every axial slice
(arrays are RAS+, so axial slices are ``mask[:, :, k]``) the lesion's **longest diameter** is
the largest extent of its pixels along any in-plane direction, and its **perpendicular
diameter** the largest extent along the direction at right angles, measured chord by chord
(pixels binned one pixel wide along the longest diameter; a rim-enhancing lesion is measured
across its necrotic centre, as RANO measures the outer margins). Extents are edge to edge:
the spread of pixel centres plus one pixel's width along the direction (the diameter of the
ellipse inscribed in a pixel), so a digital disc of diameter d measures about d. The lesion's
bidimensional product is taken on the slice where it is largest.

A lesion is **measurable** (RANO 2.0, Wen et al., J Clin Oncol 2023) when both diameters are at
least 10 mm (two slice thicknesses when slices are thicker than 5 mm) and it is visible on at
least two axial slices. Up to :data:`MAX_TARGET_LESIONS` measurable lesions, the largest by
product, are the target lesions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

#: RANO 2.0 measurable-disease threshold for each of the two perpendicular diameters (mm).
MIN_DIAMETER_MM = 10.0
#: RANO 2.0: a measurable lesion is visible on at least this many axial slices.
MIN_SLICES = 2
#: RANO 2.0: at most three enhancing target lesions (RANO 1.0 allowed five).
MAX_TARGET_LESIONS = 3
#: Slices thicker than this need diameters of at least twice the slice thickness.
THICK_SLICE_MM = 5.0

_STRUCTURE_26 = np.ones((3, 3, 3), dtype=bool)


@dataclass(frozen=True)
class Lesion:
    """One enhancing lesion: its size, its largest axial cross-section, whether it counts."""

    index: int  #: 1-based component label in :func:`label_lesions`
    volume_ml: float
    longest_mm: float
    perpendicular_mm: float
    slice_index: int  #: axial slice of the largest bidimensional product
    n_slices: int
    measurable: bool

    @property
    def product_mm2(self) -> float:
        return self.longest_mm * self.perpendicular_mm


def label_lesions(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """26-connected components of a boolean mask: ``(labels, count)``."""
    labels, count = ndimage.label(np.asarray(mask, dtype=bool), structure=_STRUCTURE_26)
    return labels, int(count)


def min_diameter_mm(spacing: Sequence[float]) -> float:
    """The measurable-lesion diameter threshold for this slice thickness."""
    thickness = float(spacing[2])
    return max(MIN_DIAMETER_MM, 2.0 * thickness) if thickness > THICK_SLICE_MM \
        else MIN_DIAMETER_MM


def measure_lesions(mask: np.ndarray, spacing: Sequence[float]) -> list[Lesion]:
    """Every enhancing lesion of ``mask`` (3-D boolean, RAS+), in label order."""
    if mask.ndim != 3:
        raise ValueError(f"expected a 3-D mask, got shape {mask.shape}")
    labels, count = label_lesions(mask)
    if count == 0:
        return []
    voxel_ml = float(np.prod(spacing)) / 1000.0
    threshold = min_diameter_mm(spacing)
    lesions = []
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        component = labels[box] == index
        best: tuple[float, float, int] | None = None
        slices_with_lesion = 0
        for k in range(component.shape[2]):
            pixels = np.argwhere(component[:, :, k])
            if len(pixels) == 0:
                continue
            slices_with_lesion += 1
            longest, perpendicular = axial_diameters(pixels, spacing[:2])
            if best is None or longest * perpendicular > best[0] * best[1]:
                best = (longest, perpendicular, k + box[2].start)
        assert best is not None  # a component has at least one voxel
        longest, perpendicular, k_best = best
        lesions.append(Lesion(
            index=index,
            volume_ml=float(component.sum()) * voxel_ml,
            longest_mm=longest,
            perpendicular_mm=perpendicular,
            slice_index=k_best,
            n_slices=slices_with_lesion,
            measurable=(longest >= threshold and perpendicular >= threshold
                        and slices_with_lesion >= MIN_SLICES),
        ))
    return lesions


def axial_diameters(pixels: np.ndarray, spacing: Sequence[float]) -> tuple[float, float]:
    """Longest diameter and longest perpendicular chord (mm) of one slice's pixels.

    ``pixels`` are integer ``(n, 2)`` in-plane indices; ``spacing`` the in-plane mm per axis.
    """
    step = np.asarray(spacing[:2], dtype=float)
    centres = pixels.astype(float) * step
    first, second = _farthest_pair(centres)
    axis = centres[second] - centres[first]
    length = float(np.hypot(*axis))
    if length == 0.0:
        return float(step[0]), float(step[1])  # one pixel
    u = axis / length
    v = np.array([-u[1], u[0]])
    longest = length + _pixel_extent(u, step)
    along = centres @ u
    across = centres @ v
    bin_width = _pixel_extent(u, step)
    bins = np.floor((along - along.min()) / bin_width + 1e-9).astype(int)
    order = np.argsort(bins, kind="stable")
    bins, across = bins[order], across[order]
    starts = np.flatnonzero(np.r_[True, bins[1:] != bins[:-1]])
    spread = np.maximum.reduceat(across, starts) - np.minimum.reduceat(across, starts)
    perpendicular = float(spread.max()) + _pixel_extent(v, step)
    return longest, perpendicular


def _pixel_extent(direction: np.ndarray, step: np.ndarray) -> float:
    """Width of one pixel along a unit direction: the diameter of the ellipse inscribed in it.

    ``step`` along each axis, independent of the angle for square pixels (the union of pixel
    squares would add up to a diagonal, which overstates round lesions).
    """
    return float(1.0 / np.hypot(direction[0] / step[0], direction[1] / step[1]))


def _farthest_pair(points: np.ndarray) -> tuple[int, int]:
    """Indices of the two points farthest apart (over the convex hull when there is one)."""
    candidates = np.arange(len(points))
    if len(points) > 3:
        with contextlib.suppress(QhullError):  # collinear: every point is a candidate
            candidates = ConvexHull(points).vertices
    hull = points[candidates]
    squared = ((hull[:, None, :] - hull[None, :, :]) ** 2).sum(axis=-1)
    i, j = np.unravel_index(int(np.argmax(squared)), squared.shape)
    return int(candidates[i]), int(candidates[j])


def target_lesions(lesions: Sequence[Lesion]) -> list[Lesion]:
    """The RANO 2.0 target lesions: the largest measurable ones by product, at most three."""
    measurable = [lesion for lesion in lesions if lesion.measurable]
    measurable.sort(key=lambda lesion: (-lesion.product_mm2, lesion.index))
    return measurable[:MAX_TARGET_LESIONS]
