"""Offline access to the MNI ICBM152 2009a template bundled in nilearn's wheel.

nilearn ships a skull-stripped T1 and grey/white-matter probability maps (uint8, x255) at 1 mm
(197×233×189, RAS). There is no CSF map: CSF is the remainder of the brain mask,
``clip(brain - gm - wm, 0, 1)``, and the brain mask is ``T1 > 0`` (identical to the template's
own mask). Maps are resampled with SimpleITK after a Gaussian anti-aliasing filter.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk

from imagination.cohort.case import Grid
from imagination.errors import InputError

TEMPLATE_FILES = {
    "t1": "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    "gm": "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
    "wm": "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
}


@dataclass(frozen=True, eq=False)
class Atlas:
    """Template anatomy on one grid (RAS canonical axis order); arrays are read-only."""

    grid: Grid
    t1: np.ndarray
    gm: np.ndarray
    wm: np.ndarray
    csf: np.ndarray
    brain: np.ndarray

    @property
    def resolution_mm(self) -> float:
        return float(self.grid.spacing[0])


def template_folder() -> Path:
    """nilearn's bundled data folder, found without importing nilearn."""
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("nilearn is not installed; it provides the MNI152 template files")
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    missing = [name for name in TEMPLATE_FILES.values() if not (folder / name).is_file()]
    if missing:
        raise InputError(f"nilearn's data folder {folder} lacks {', '.join(missing)}")
    return folder


def _read(path: Path) -> tuple[np.ndarray, np.ndarray]:
    image = nib.as_closest_canonical(nib.load(path))
    return np.asarray(image.dataobj, dtype=np.float32) / 255.0, image.affine


def _resample(array: np.ndarray, factor: float, shape: tuple[int, ...]) -> np.ndarray:
    """Resample a 1 mm array onto a grid ``factor`` times coarser (voxel-index space)."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(array.transpose(2, 1, 0)))
    if factor > 1:
        sigma = 0.5 * np.sqrt(factor**2 - 1.0)
        image = sitk.SmoothingRecursiveGaussian(image, float(sigma))
    resampler = sitk.ResampleImageFilter()
    resampler.SetSize([int(n) for n in shape])
    resampler.SetOutputSpacing([float(factor)] * 3)
    resampler.SetOutputOrigin([(float(factor) - 1.0) / 2.0] * 3)
    resampler.SetInterpolator(sitk.sitkLinear)
    resampler.SetDefaultPixelValue(0.0)
    out = sitk.GetArrayFromImage(resampler.Execute(image)).transpose(2, 1, 0)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _frozen(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@functools.lru_cache(maxsize=4)
def _load(resolution_mm: float) -> Atlas:
    folder = template_folder()
    t1, affine = _read(folder / TEMPLATE_FILES["t1"])
    gm, _ = _read(folder / TEMPLATE_FILES["gm"])
    wm, _ = _read(folder / TEMPLATE_FILES["wm"])
    brain = (t1 > 0).astype(np.float32)
    factor = float(resolution_mm)
    shape = tuple(int(np.ceil(n / factor)) for n in t1.shape)
    to_index = np.diag([factor, factor, factor, 1.0])
    to_index[:3, 3] = (factor - 1.0) / 2.0
    grid = Grid(shape=shape, affine=affine @ to_index)  # type: ignore[arg-type]
    t1_r, gm_r, wm_r, brain_r = (_resample(a, factor, shape) for a in (t1, gm, wm, brain))
    inside = brain_r >= 0.5
    gm_r *= inside
    wm_r *= inside
    csf = np.clip(inside - gm_r - wm_r, 0.0, 1.0).astype(np.float32)
    t1_r *= inside
    return Atlas(grid=grid, t1=_frozen(t1_r), gm=_frozen(gm_r), wm=_frozen(wm_r),
                 csf=_frozen(csf), brain=_frozen(inside))


def load_mni152(resolution_mm: float) -> Atlas:
    """The MNI152 2009a template at ``resolution_mm`` (isotropic), cached per resolution.

    Arrays: ``t1`` (0-1), ``gm``, ``wm``, ``csf`` (probabilities), ``brain`` (bool).
    """
    resolution = float(resolution_mm)
    if not (1.0 <= resolution <= 12.0):
        raise InputError(f"atlas resolution must be between 1 and 12 mm, got {resolution_mm}")
    return _load(round(resolution, 6))
