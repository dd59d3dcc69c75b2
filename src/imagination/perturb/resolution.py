"""Anisotropic resolution loss: thick slices along one axis, then back to the case grid.

Each image is (1) blurred along the axis so that its slice profile becomes a Gaussian of FWHM
= the thick-slice spacing (factor × voxel size), (2) sampled with SimpleITK on a grid whose
spacing along the axis is factor × the original, starting at a random sub-slice offset, and
(3) resampled back onto the case grid with linear interpolation. The axis is
``params["axis"]`` (0, 1 or 2, array axes in RAS+ order), by default the case's slice axis:
the one with the largest voxel size, axis 2 (axial slices) when isotropic. So the strength
depends on the severity alone; the seed sets the sub-slice offset.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import SimpleITK as sitk
from scipy.ndimage import gaussian_filter1d

from imagination.cohort.case import Grid, LoadedCase
from imagination.errors import InputError
from imagination.perturb.base import (
    Perturbation,
    PerturbationInfo,
    check_params,
    rng_for,
    target_modalities,
    with_arrays,
)
from imagination.perturb.intensity import FWHM_PER_SIGMA
from imagination.perturb.sitk_grid import from_sitk, resample, to_sitk


def _thick_slice_grid(reference: sitk.Image, axis: int, factor: float,
                      offset_voxels: float) -> sitk.Image:
    size = list(reference.GetSize())
    spacing = list(reference.GetSpacing())
    direction = np.asarray(reference.GetDirection()).reshape(3, 3)
    origin = np.asarray(reference.GetOrigin()) + direction[:, axis] * offset_voxels * spacing[axis]
    size[axis] = math.ceil((size[axis] - offset_voxels) / factor)
    spacing[axis] *= factor
    coarse = sitk.Image([int(s) for s in size], reference.GetPixelID())
    coarse.SetSpacing(spacing)
    coarse.SetOrigin(tuple(float(o) for o in origin))
    coarse.SetDirection(reference.GetDirection())
    return coarse


def thick_slices(image: np.ndarray, grid: Grid, axis: int, factor: float,
                 offset_voxels: float) -> np.ndarray:
    """``image`` acquired with slices ``factor`` times thicker along ``axis``, on ``grid``."""
    extra_sigma = math.sqrt(max(factor**2 - 1.0, 0.0)) / FWHM_PER_SIGMA
    blurred = gaussian_filter1d(image.astype(np.float32), extra_sigma, axis=axis, mode="nearest")
    fine = to_sitk(blurred, grid)
    coarse = resample(fine, _thick_slice_grid(fine, axis, factor, offset_voxels))
    return from_sitk(resample(coarse, fine)).astype(np.float32)


def _axis(params: Mapping[str, Any], spacing: tuple[float, float, float]) -> int:
    largest = max(spacing)
    default = max(a for a in range(3) if spacing[a] >= largest - 1e-6)
    axis = params.get("axis", default)
    if isinstance(axis, bool) or axis not in (0, 1, 2):
        raise InputError(f"perturbation anisotropy: axis must be 0, 1 or 2, got {axis!r}")
    return int(axis)


def _anisotropy(case: LoadedCase, value: float, seed: int,
                params: Mapping[str, Any]) -> LoadedCase:
    check_params("anisotropy", params, ("modalities", "axis"))
    axis = _axis(params, case.grid.spacing)
    offset = float(rng_for(seed, "anisotropy").uniform(0.0, value))
    changed = {m: thick_slices(case.images[m], case.grid, axis, value, offset)
               for m in target_modalities(case, "anisotropy", params)}
    return with_arrays(case, images=changed)


PERTURBATIONS: tuple[Perturbation, ...] = (
    Perturbation(PerturbationInfo(
        "anisotropy", "thick slices along one axis (Gaussian slice profile, random sub-slice "
        "offset), linearly resampled back to the case grid",
        "MRI images (PET when listed in modalities), along the slice axis (largest voxel "
        "size, else axial) or params.axis", "slice spacing / original voxel size along the axis",
        (1.5, 2.0, 3.0, 4.0, 5.0), seeded=True, params=("modalities", "axis")), _anisotropy),
)
