"""Arrays on a :class:`Grid` to SimpleITK images and back, and resampling onto a grid.

SimpleITK's physical space is taken to be the grid's RAS+ world space (both the images and the
transforms use it, so the convention is consistent); SimpleITK index (i, j, k) is array index
[i, j, k].
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from imagination.cohort.case import Grid


def to_sitk(array: np.ndarray, grid: Grid) -> sitk.Image:
    image = sitk.GetImageFromArray(np.ascontiguousarray(np.asarray(array).transpose(2, 1, 0)))
    affine = np.asarray(grid.affine, dtype=np.float64)
    spacing = np.asarray(grid.spacing)
    image.SetSpacing(tuple(float(s) for s in spacing))
    image.SetOrigin(tuple(float(o) for o in affine[:3, 3]))
    image.SetDirection(tuple(float(d) for d in (affine[:3, :3] / spacing).ravel()))
    return image


def from_sitk(image: sitk.Image) -> np.ndarray:
    return sitk.GetArrayFromImage(image).transpose(2, 1, 0)


def resample(image: sitk.Image, reference: sitk.Image, transform: sitk.Transform | None = None,
             *, interpolator: int = sitk.sitkLinear) -> sitk.Image:
    """``image`` sampled on ``reference``'s grid through ``transform`` (output point → input
    point); points outside the input take the nearest edge value."""
    f = sitk.ResampleImageFilter()
    f.SetReferenceImage(reference)
    f.SetInterpolator(interpolator)
    f.SetTransform(transform if transform is not None else sitk.Transform(3, sitk.sitkIdentity))
    f.SetUseNearestNeighborExtrapolator(True)
    f.SetOutputPixelType(image.GetPixelID())
    return f.Execute(image)


def world_centroid(mask: np.ndarray, grid: Grid) -> np.ndarray:
    """World coordinates (mm) of a mask's centre of mass (the grid centre for an empty mask)."""
    index = np.argwhere(mask).mean(axis=0) if mask.any() else (np.array(mask.shape) - 1) / 2
    affine = np.asarray(grid.affine, dtype=np.float64)
    return affine[:3, :3] @ index + affine[:3, 3]
