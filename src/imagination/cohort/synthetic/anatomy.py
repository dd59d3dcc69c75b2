"""Anatomy of the synthetic cohort: atlas, depth, world coordinates, seed sites, random fields."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from imagination.growth.atlas import Atlas, load_mni152


@dataclass(frozen=True, eq=False)
class Anatomy:
    """The template plus derived maps used to place and grow tumours."""

    atlas: Atlas
    depth_mm: np.ndarray  # distance to the outside of the brain
    world: np.ndarray  # (3, X, Y, Z) RAS world coordinates in mm
    surface: np.ndarray  # brain voxels touching the outside

    @property
    def spacing(self) -> tuple[float, float, float]:
        return self.atlas.grid.spacing

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.atlas.grid.shape


@functools.lru_cache(maxsize=2)
def load_anatomy(resolution_mm: float) -> Anatomy:
    """Template anatomy at ``resolution_mm`` with its derived maps (cached per process)."""
    atlas = load_mni152(resolution_mm)
    brain = atlas.brain
    depth = ndimage.distance_transform_edt(brain, sampling=atlas.grid.spacing).astype(np.float32)
    index = np.indices(atlas.grid.shape, dtype=np.float32).reshape(3, -1)
    affine = np.asarray(atlas.grid.affine, dtype=np.float32)
    world = (affine[:3, :3] @ index + affine[:3, 3:4]).reshape((3, *atlas.grid.shape))
    surface = brain & ~ndimage.binary_erosion(brain)
    return Anatomy(atlas=atlas, depth_mm=depth, world=world, surface=surface)


def seed_candidates(anatomy: Anatomy, location: str) -> np.ndarray:
    """Boolean map of plausible tumour origins for a location rule."""
    a = anatomy.atlas
    x, y, z = anatomy.world
    supratentorial = (z > -20.0) & (y > -85.0) & (np.abs(x) > 10.0)
    if location == "deep_white_matter":
        mask = supratentorial & (a.wm > 0.6) & (anatomy.depth_mm > 22.0)
    elif location == "frontal_white_matter":
        mask = supratentorial & (a.wm > 0.5) & (y > -25.0) & (anatomy.depth_mm > 15.0)
    elif location == "cortical":
        mask = (supratentorial & (y > -15.0) & (a.gm > 0.35) & (a.wm > 0.25)
                & (anatomy.depth_mm > 6.0) & (anatomy.depth_mm < 18.0))
    elif location == "grey_white_junction":
        mask = (a.gm > 0.3) & (a.wm > 0.3) & (anatomy.depth_mm > 6.0)
    elif location == "convexity":
        mask = anatomy.surface & (z > 5.0) & (np.abs(x) > 15.0)
    else:
        raise ValueError(f"unknown location rule {location!r}")
    return mask


def pick_voxel(mask: np.ndarray, rng: np.random.Generator) -> tuple[int, int, int]:
    """A uniformly drawn voxel of ``mask``."""
    candidates = np.argwhere(mask)
    i, j, k = candidates[int(rng.integers(len(candidates)))]
    return int(i), int(j), int(k)


def random_field(shape: tuple[int, ...], sigma_mm: float, spacing: tuple[float, ...],
                 rng: np.random.Generator) -> np.ndarray:
    """Smooth Gaussian random field with zero mean and unit standard deviation."""
    noise = rng.standard_normal(shape, dtype=np.float32)
    sigma = [sigma_mm / h for h in spacing]
    field = ndimage.gaussian_filter(noise, sigma, mode="wrap")
    field -= field.mean()
    sd = float(field.std())
    return field / sd if sd > 0 else field
