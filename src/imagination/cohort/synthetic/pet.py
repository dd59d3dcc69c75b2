"""Amino-acid (FET-like) PET: uptake follows tumour cell density, on its own coarser grid.

Uptake relative to healthy background is TBR = 1 + a u / (u + k): it saturates in the bulk
tumour and stays above the biological-tumour-volume cut-off (TBR 1.6) well below the MRI
visibility thresholds, as amino-acid PET does in infiltrated brain. Necrosis takes up little.
The map is blurred to the scanner's resolution, resampled onto the PET grid and made noisy.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from imagination.cohort.case import Grid
from imagination.cohort.synthetic.anatomy import Anatomy
from imagination.cohort.synthetic.tumor import Tumour
from imagination.cohort.synthetic.tumor_types import CaseParameters

PET_FWHM_MM = 5.0
BACKGROUND = {"wm": 0.92, "gm": 1.08, "csf": 0.35}  # relative to healthy-brain mean


def pet_grid(grid: Grid, spacing_mm: float) -> Grid:
    """A coarser grid over the same field of view as ``grid`` (aligned corners)."""
    factors = np.array([spacing_mm / h for h in grid.spacing])
    shape = tuple(int(np.ceil(n / f)) for n, f in zip(grid.shape, factors, strict=True))
    to_index = np.diag([*factors, 1.0])
    to_index[:3, 3] = (factors - 1.0) / 2.0
    return Grid(shape=shape, affine=np.asarray(grid.affine) @ to_index)  # type: ignore[arg-type]


def uptake_ratio(density: np.ndarray, gain: float, half_saturation: float) -> np.ndarray:
    """Tumour-to-background ratio of cell density ``density``."""
    u = np.clip(density, 0.0, 1.0)
    return 1.0 + gain * u / (u + half_saturation)


def _resample_to(image: np.ndarray, source: Grid, target: Grid) -> np.ndarray:
    """Linear resampling between two grids through their world coordinates (SimpleITK)."""
    index = np.linalg.solve(np.asarray(source.affine), np.asarray(target.affine))
    sitk_image = sitk.GetImageFromArray(np.ascontiguousarray(image.transpose(2, 1, 0)))
    transform = sitk.AffineTransform(3)
    transform.SetMatrix(index[:3, :3].ravel().tolist())
    transform.SetTranslation(index[:3, 3].tolist())
    reference = sitk.Image([int(n) for n in target.shape], sitk.sitkFloat32)
    out = sitk.Resample(sitk_image, reference, transform, sitk.sitkLinear, 0.0)
    return sitk.GetArrayFromImage(out).transpose(2, 1, 0)


def synthesize_pet(anatomy: Anatomy, tumour: Tumour, params: CaseParameters, target: Grid,
                   noise_fraction: float, rng: np.random.Generator) -> np.ndarray:
    """FET-like SUV map on ``target`` (the PET grid)."""
    a = anatomy.atlas
    background = (BACKGROUND["wm"] * a.wm + BACKGROUND["gm"] * a.gm
                  + BACKGROUND["csf"] * a.csf).astype(np.float32)
    if params.tumor_type == "meningioma":
        background = np.where(tumour.brain & ~a.brain, 1.0, background).astype(np.float32)
    ratio = uptake_ratio(tumour.density, params.pet_uptake, params.pet_half_saturation)
    ratio = np.where(tumour.necrotic, 1.0 + 0.3 * (ratio - 1.0), ratio)
    suv_scale = float(rng.uniform(0.9, 1.3))
    activity = background * ratio * suv_scale
    sigma = [PET_FWHM_MM / 2.355 / h for h in anatomy.spacing]
    activity = ndimage.gaussian_filter(activity.astype(np.float32), sigma, mode="constant")
    on_grid = _resample_to(activity, a.grid, target)
    noise = rng.normal(0.0, noise_fraction * suv_scale, on_grid.shape).astype(np.float32)
    return np.clip(on_grid + noise, 0.0, None).astype(np.float32)
