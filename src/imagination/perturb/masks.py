"""Segmentation uncertainty: the whole tumour (WT) of the tumour mask dilated or eroded by a
radius in mm (Euclidean, honouring the voxel spacing). Images are untouched.

* ``mask_dilate``: every background voxel (code 0) within the radius of WT, and inside the
  brain mask when the case has one, takes the code of its nearest WT voxel (so the margin is
  mostly oedema, SNFH). Other labels, such as a resection cavity, are never overwritten.
* ``mask_erode``: every WT voxel within the radius of a non-WT voxel takes the code of its
  nearest non-WT voxel (background, or the cavity next to it). Inner labels survive wherever
  they lie deeper than the radius.

Both keep the mask's integer dtype. Distances are between voxel centres (<= radius).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.ndimage import distance_transform_edt

from imagination.cohort.case import LoadedCase
from imagination.perturb.base import (
    Perturbation,
    PerturbationInfo,
    check_params,
    not_applicable,
    with_arrays,
)

TUMOUR = "tumor"


def _crop(shape: tuple[int, ...], core: np.ndarray, margin: np.ndarray) -> tuple[slice, ...]:
    index = np.argwhere(core)
    low = np.maximum(index.min(axis=0) - margin, 0)
    high = np.minimum(index.max(axis=0) + margin + 1, shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(low, high, strict=True))


def _nearest(source: np.ndarray, spacing: tuple[float, float, float],
             ) -> tuple[np.ndarray, np.ndarray]:
    """Distance (mm) of every voxel to the nearest ``source`` voxel, and that voxel's index."""
    distance, index = distance_transform_edt(~source, sampling=spacing, return_indices=True)
    return distance, index


def dilate_labels(segmentation: np.ndarray, whole: np.ndarray, radius_mm: float,
                  spacing: tuple[float, float, float],
                  allowed: np.ndarray | None = None) -> np.ndarray:
    """Grow ``whole`` by ``radius_mm`` into background (and ``allowed``) voxels, each new voxel
    taking the code of its nearest ``whole`` voxel."""
    out = segmentation.copy()
    if not whole.any():
        return out
    margin = np.ceil(radius_mm / np.asarray(spacing)).astype(int) + 1
    box = _crop(segmentation.shape, whole, margin)
    distance, index = _nearest(whole[box], spacing)
    grow = (distance <= radius_mm + 1e-6) & ~whole[box] & (segmentation[box] == 0)
    if allowed is not None:
        grow &= allowed[box]
    region = out[box]
    region[grow] = segmentation[box][tuple(i[grow] for i in index)]
    return out


def erode_labels(segmentation: np.ndarray, whole: np.ndarray, radius_mm: float,
                 spacing: tuple[float, float, float]) -> np.ndarray:
    """Shrink ``whole`` by ``radius_mm``: voxels that close to its outside take the code of the
    nearest outside voxel (voxels beyond the array edge count as outside, code 0)."""
    out = segmentation.copy()
    if not whole.any():
        return out
    margin = np.ceil(radius_mm / np.asarray(spacing)).astype(int) + 1
    box = _crop(segmentation.shape, whole, margin)
    padded = np.pad(segmentation[box], 1)
    inside = np.pad(whole[box], 1)
    distance, index = _nearest(~inside, spacing)
    shrink = (distance <= radius_mm + 1e-6) & inside
    filled = padded.copy()
    filled[shrink] = padded[tuple(i[shrink] for i in index)]
    out[box] = filled[1:-1, 1:-1, 1:-1]
    return out


def _tumour(case: LoadedCase, kind: str) -> tuple[np.ndarray, np.ndarray]:
    if TUMOUR not in case.masks:
        raise not_applicable(case, kind, "the case has no tumour mask")
    return case.masks[TUMOUR], case.region("WT")


def _mask_dilate(case: LoadedCase, value: float, seed: int,
                 params: Mapping[str, Any]) -> LoadedCase:
    check_params("mask_dilate", params, ())
    segmentation, whole = _tumour(case, "mask_dilate")
    allowed = case.masks["brain"] > 0 if "brain" in case.masks else None
    grown = dilate_labels(segmentation, whole, value, case.grid.spacing, allowed)
    return with_arrays(case, masks={TUMOUR: grown})


def _mask_erode(case: LoadedCase, value: float, seed: int,
                params: Mapping[str, Any]) -> LoadedCase:
    check_params("mask_erode", params, ())
    segmentation, whole = _tumour(case, "mask_erode")
    shrunk = erode_labels(segmentation, whole, value, case.grid.spacing)
    return with_arrays(case, masks={TUMOUR: shrunk})


_LEVELS = (1.0, 1.5, 2.0, 3.0, 4.0)
PERTURBATIONS: tuple[Perturbation, ...] = (
    Perturbation(PerturbationInfo(
        "mask_dilate", "whole tumour grown into background by a radius, nearest-label fill, "
        "clipped to the brain mask", "tumour mask", "radius (mm)", _LEVELS, seeded=False),
        _mask_dilate),
    Perturbation(PerturbationInfo(
        "mask_erode", "whole tumour shrunk by a radius, eroded voxels take the nearest "
        "outside label", "tumour mask", "radius (mm)", _LEVELS, seeded=False), _mask_erode),
)
