"""Rigid misregistration: between MRI sequences, and of PET to MRI.

Each moved image gets its own rigid motion: a rotation of exactly the level's angle (degrees)
about a random axis through the brain's centre of mass, then a translation of exactly the
level's length (mm) in a random direction. The image content moves by that motion; it is
resampled onto the unchanged case grid with SimpleITK (linear interpolation, edge values
outside). Masks stay where they are (they belong to the reference sequence).

``misregister_mri`` moves every MRI image except the case's reference modality (the manifest's
``reference``, else the first MRI image); ``misregister_pet`` moves the PET image.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import SimpleITK as sitk

from imagination.cohort.case import Grid, LoadedCase
from imagination.perturb.base import (
    PET,
    Perturbation,
    PerturbationInfo,
    brain_support,
    check_params,
    not_applicable,
    rng_for,
    with_arrays,
)
from imagination.perturb.sitk_grid import from_sitk, resample, to_sitk, world_centroid


def unit_vector(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=3)
    while np.linalg.norm(v) < 1e-8:
        v = rng.normal(size=3)
    return v / np.linalg.norm(v)


def rigid_motion(rng: np.random.Generator, translation_mm: float, rotation_deg: float,
                 centre: np.ndarray) -> sitk.VersorRigid3DTransform:
    """Rigid map x → R(x − c) + c + t with |t| = translation_mm and R a rotation of
    rotation_deg about a random axis (both directions drawn from ``rng``)."""
    motion = sitk.VersorRigid3DTransform()
    motion.SetCenter(tuple(float(c) for c in centre))
    motion.SetRotation(tuple(float(a) for a in unit_vector(rng)), float(np.deg2rad(rotation_deg)))
    motion.SetTranslation(tuple(float(t) for t in unit_vector(rng) * translation_mm))
    return motion


def _box(low: np.ndarray, high: np.ndarray, shape: tuple[int, ...]) -> tuple[slice, ...]:
    low = np.clip(np.floor(low).astype(int), 0, np.array(shape))
    high = np.clip(np.ceil(high).astype(int) + 1, 0, np.array(shape))
    return tuple(slice(int(a), int(b)) for a, b in zip(low, high, strict=True))


def _sub_grid(grid: Grid, box: tuple[slice, ...]) -> Grid:
    affine = np.array(grid.affine, dtype=np.float64)
    affine[:3, 3] = affine[:3, :3] @ np.array([b.start for b in box]) + affine[:3, 3]
    return Grid(tuple(b.stop - b.start for b in box), affine)  # type: ignore[arg-type]


def move_image(image: np.ndarray, case: LoadedCase, motion: sitk.Transform) -> np.ndarray:
    """The image content moved by ``motion`` (world mm), on the case grid. When the non-zero
    voxels stay clear of the array's faces, only their box and its moved copy are resampled
    (the result equals resampling the whole grid, for a fraction of the time)."""
    support = np.argwhere(image != 0)
    out = np.zeros(image.shape, dtype=np.float32)
    if support.size == 0:
        return out
    shape = image.shape
    if np.any(support.min(axis=0) == 0) or np.any(support.max(axis=0) == np.array(shape) - 1):
        whole = to_sitk(image.astype(np.float32), case.grid)
        return from_sitk(resample(whole, whole, motion.GetInverse())).astype(np.float32)
    source_box = _box(support.min(axis=0) - 1, support.max(axis=0) + 1, shape)
    affine = np.asarray(case.grid.affine, dtype=np.float64)
    corners = np.array([[b.start if pick == 0 else b.stop - 1 for b, pick in zip(source_box, c,
                                                                              strict=True)]
                        for c in np.ndindex(2, 2, 2)], dtype=np.float64)
    world = corners @ affine[:3, :3].T + affine[:3, 3]
    moved = np.array([motion.TransformPoint(tuple(float(v) for v in p)) for p in world])
    moved_index = np.linalg.solve(affine[:3, :3], (moved - affine[:3, 3]).T).T
    target_box = _box(moved_index.min(axis=0) - 1, moved_index.max(axis=0) + 1, shape)
    if any(b.stop <= b.start for b in target_box):
        return out
    source = to_sitk(image[source_box].astype(np.float32), _sub_grid(case.grid, source_box))
    target = to_sitk(np.zeros([b.stop - b.start for b in target_box], np.float32),
                     _sub_grid(case.grid, target_box))
    out[target_box] = from_sitk(resample(source, target, motion.GetInverse()))
    return out


def _move(case: LoadedCase, modalities: list[str], value: float, seed: int) -> LoadedCase:
    centre = world_centroid(brain_support(case), case.grid)
    changed = {m: move_image(case.images[m], case,
                             rigid_motion(rng_for(seed, m), value, value, centre))
               for m in modalities}
    return with_arrays(case, images=changed)


def mri_reference(case: LoadedCase) -> str | None:
    """The sequence the others are registered to: the declared reference, else the first MRI."""
    declared = case.case.reference_modality()
    if declared in case.images and declared != PET:
        return declared
    return next((m for m in case.images if m != PET), None)


def _misregister_mri(case: LoadedCase, value: float, seed: int,
                     params: Mapping[str, Any]) -> LoadedCase:
    check_params("misregister_mri", params, ())
    reference = mri_reference(case)
    moving = [m for m in case.images if m not in (PET, reference)]
    if not moving:
        raise not_applicable(case, "misregister_mri", "fewer than two MRI sequences")
    return _move(case, moving, value, seed)


def _misregister_pet(case: LoadedCase, value: float, seed: int,
                     params: Mapping[str, Any]) -> LoadedCase:
    check_params("misregister_pet", params, ())
    if PET not in case.images:
        raise not_applicable(case, "misregister_pet", "the case has no pet image")
    return _move(case, [PET], value, seed)


_LEVELS = (1.0, 1.5, 2.0, 2.5, 3.0)
_PARAMETER = "translation (mm) and rotation (degrees), both equal to the value"
PERTURBATIONS: tuple[Perturbation, ...] = (
    Perturbation(PerturbationInfo(
        "misregister_mri", "each non-reference MRI sequence moved by its own rigid motion "
        "(random axis and direction, fixed size)",
        "MRI images except the reference sequence", _PARAMETER, _LEVELS, seeded=True),
        _misregister_mri),
    Perturbation(PerturbationInfo(
        "misregister_pet", "PET moved rigidly against the MRI (random axis and direction, "
        "fixed size)", "pet image", _PARAMETER, _LEVELS, seeded=True), _misregister_pet),
)
