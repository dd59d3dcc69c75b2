"""Block-averaged coarse grids for fast model fitting, and linear upsampling back (SimpleITK).

Arrays are in nibabel axis order (x, y, z); SimpleITK wants (z, y, x), hence the transposes.
Both grids live in the case's voxel-index frame (origin 0, identity direction), which is all
that matters to carry a map from one to the other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk


def _image(array: np.ndarray, spacing: tuple[float, ...]) -> sitk.Image:
    image = sitk.GetImageFromArray(np.ascontiguousarray(np.asarray(array, np.float32).T))
    image.SetSpacing(tuple(float(s) for s in spacing))
    return image


def _array(image: sitk.Image) -> np.ndarray:
    return np.ascontiguousarray(sitk.GetArrayFromImage(image).T)


@dataclass(frozen=True)
class CoarseGrid:
    """A grid ``factors`` times coarser than a fine grid of ``fine_shape`` and ``fine_spacing``."""

    fine_shape: tuple[int, int, int]
    fine_spacing: tuple[float, float, float]
    factors: tuple[int, int, int]

    @classmethod
    def for_target(cls, shape: tuple[int, int, int], spacing: tuple[float, float, float],
                   target_mm: float) -> CoarseGrid:
        """Integer factors bringing each axis's spacing closest to ``target_mm`` (at least 1)."""
        factors = tuple(max(1, round(target_mm / s)) for s in spacing)
        return cls(tuple(int(n) for n in shape), tuple(float(s) for s in spacing),
                   factors)  # type: ignore[arg-type]

    @property
    def spacing(self) -> tuple[float, float, float]:
        return tuple(s * f for s, f in zip(self.fine_spacing, self.factors,
                                            strict=True))  # type: ignore[return-value]

    def shrink(self, array: np.ndarray) -> np.ndarray:
        """Block means (a mask becomes a fraction map)."""
        image = sitk.BinShrink(_image(array, self.fine_spacing), [int(f) for f in self.factors])
        return _array(image)

    def upsample(self, coarse: np.ndarray) -> np.ndarray:
        """Linear interpolation of a coarse map onto the fine grid (edges extrapolate flat)."""
        reference = sitk.BinShrink(_image(np.zeros(self.fine_shape, np.float32),
                                          self.fine_spacing), [int(f) for f in self.factors])
        source = _image(coarse, self.spacing)
        source.SetOrigin(reference.GetOrigin())
        fine = sitk.Image([int(n) for n in self.fine_shape], sitk.sitkFloat32)
        fine.SetSpacing(self.fine_spacing)
        resampler = sitk.ResampleImageFilter()
        resampler.SetReferenceImage(fine)
        resampler.SetInterpolator(sitk.sitkLinear)
        resampler.SetUseNearestNeighborExtrapolator(True)
        return _array(resampler.Execute(source))
