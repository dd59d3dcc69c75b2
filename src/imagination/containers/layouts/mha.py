"""MetaImage (``.mha``) input and output for Grand-Challenge-style packages (SimpleITK)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk

from imagination.cohort.case import Grid

#: RAS <-> LPS: negate the first two world axes.
_FLIP = np.diag([-1.0, -1.0, 1.0])


def write_mha(path: Path, array: np.ndarray, grid: Grid) -> None:
    """Write a RAS+-ordered array on ``grid`` as MetaImage with the matching LPS geometry."""
    affine = np.asarray(grid.affine, dtype=np.float64)
    spacing = np.array(grid.spacing)
    image = sitk.GetImageFromArray(np.ascontiguousarray(array.transpose(2, 1, 0)))
    image.SetSpacing(tuple(float(s) for s in spacing))
    image.SetDirection(tuple(float(x) for x in (_FLIP @ (affine[:3, :3] / spacing)).ravel()))
    image.SetOrigin(tuple(float(x) for x in _FLIP @ affine[:3, 3]))
    sitk.WriteImage(image, str(path), useCompression=True)


def read_mha(path: Path) -> nib.Nifti1Image:
    """A MetaImage as an in-memory NIfTI image (voxel index order, RAS affine)."""
    image = sitk.ReadImage(str(path))
    array = sitk.GetArrayFromImage(image)
    if array.ndim != 3:
        raise ValueError(f"expected a 3-D image, got {array.ndim}-D")
    spacing = np.array(image.GetSpacing())
    direction = np.array(image.GetDirection()).reshape(3, 3)
    affine = np.eye(4)
    affine[:3, :3] = _FLIP @ direction * spacing
    affine[:3, 3] = _FLIP @ np.array(image.GetOrigin())
    return nib.Nifti1Image(array.transpose(2, 1, 0), affine)
