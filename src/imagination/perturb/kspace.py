"""k-space artefacts of MRI (never PET): motion, ghosting and spike, via the FFT (scipy.fft).

The image's 3-D Fourier transform stands in for its k-space; the phase-encoding axis is an
array axis (0 or 1, the in-plane axes of an axial acquisition), drawn from the seed unless
``params["axis"]`` fixes it. Back in image space a magnitude image (no negative voxel) keeps
the magnitude, an already normalised image the real part (see ``magnitude_or_real``).

* ``motion``: k-space is acquired in five equal blocks along the phase-encoding axis; the
  patient lies in the reference pose during the central block, in one moved pose during the
  two blocks before it and in another during the two after it. Each pose is a rigid motion of
  the level's size (translation in mm and rotation in degrees, random directions); its blocks
  are taken from the transform of the accordingly moved image (SimpleITK).
* ``ghosting``: every ``ghosts``-th plane from the k-space centre along the phase-encoding
  axis (the centre itself kept) is multiplied by 1 ∓ level (sign from the seed): a periodic
  line error of fixed size, giving faint replicas shifted by 1/``ghosts`` of the field of
  view.
* ``spike``: one bright k-space point (and its mirror, so the image stays real) at a random
  position between 10 % and 40 % of the half-extent from the centre along each axis, with a
  random phase; its amplitude is the level × |k-space at the centre| (the image's sum).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import fft

from imagination.cohort.case import LoadedCase
from imagination.errors import InputError
from imagination.perturb.base import (
    Perturbation,
    PerturbationInfo,
    brain_support,
    check_params,
    magnitude_or_real,
    rng_for,
    target_modalities,
    with_arrays,
)
from imagination.perturb.geometry import move_image, rigid_motion
from imagination.perturb.sitk_grid import world_centroid

#: Number of k-space blocks of a motion-corrupted acquisition (the central one is still).
MOTION_BLOCKS = 5
#: Default number of ghosts.
DEFAULT_GHOSTS = 4
#: Share of the k-space centre (per side, along the axis) that ghosting leaves untouched.
GHOST_KEEP_CENTRE = 0.02


def _kspace(image: np.ndarray) -> np.ndarray:
    return fft.fftshift(fft.fftn(image.astype(np.float32)))


def _image(kspace: np.ndarray, original: np.ndarray) -> np.ndarray:
    return magnitude_or_real(fft.ifftn(fft.ifftshift(kspace)), original)


def _phase_axis(kind: str, params: Mapping[str, Any], rng: np.random.Generator) -> int:
    drawn = int(rng.integers(0, 2))
    axis = params.get("axis", drawn)
    if isinstance(axis, bool) or axis not in (0, 1, 2):
        raise InputError(f"perturbation {kind}: axis must be 0, 1 or 2, got {axis!r}")
    return int(axis)


def _block(axis: int, start: int, stop: int) -> tuple[slice, ...]:
    return tuple(slice(start, stop) if a == axis else slice(None) for a in range(3))


def motion_artefact(image: np.ndarray, case: LoadedCase, amplitude: float, axis: int,
                    rng: np.random.Generator, centre: np.ndarray) -> np.ndarray:
    kspace = _kspace(image)
    bounds = np.linspace(0, image.shape[axis], MOTION_BLOCKS + 1).round().astype(int)
    still = MOTION_BLOCKS // 2
    for blocks in (range(still), range(still + 1, MOTION_BLOCKS)):
        moved = _kspace(move_image(image, case, rigid_motion(rng, amplitude, amplitude, centre)))
        for block in blocks:
            where = _block(axis, bounds[block], bounds[block + 1])
            kspace[where] = moved[where]
    return _image(kspace, image)


def _motion(case: LoadedCase, value: float, seed: int, params: Mapping[str, Any]) -> LoadedCase:
    check_params("motion", params, ("modalities", "axis"))
    centre = world_centroid(brain_support(case), case.grid)
    changed = {}
    for m in target_modalities(case, "motion", params, allow_pet=False):
        rng = rng_for(seed, m)
        axis = _phase_axis("motion", params, rng)
        changed[m] = motion_artefact(case.images[m], case, value, axis, rng, centre)
    return with_arrays(case, images=changed)


def ghosting_artefact(image: np.ndarray, intensity: float, ghosts: int, axis: int,
                      sign: float) -> np.ndarray:
    """Planes at k = ±ghosts, ±2·ghosts, … from the k-space centre along ``axis`` are
    multiplied by 1 − sign·intensity (sign ±1): ghosts of one polarity or the other, of the
    same size."""
    kspace = _kspace(image)
    n = image.shape[axis]
    offset = np.arange(n) - n // 2
    keep = max(1, round(GHOST_KEEP_CENTRE * n))
    modulated = (offset % ghosts == 0) & (np.abs(offset) > keep)
    shape = [1, 1, 1]
    shape[axis] = n
    factor = np.where(modulated, 1.0 - sign * intensity, 1.0)
    kspace *= factor.reshape(shape).astype(np.float32)
    return _image(kspace, image)


def _ghosting(case: LoadedCase, value: float, seed: int,
              params: Mapping[str, Any]) -> LoadedCase:
    check_params("ghosting", params, ("modalities", "axis", "ghosts"))
    ghosts = params.get("ghosts", DEFAULT_GHOSTS)
    if isinstance(ghosts, bool) or not isinstance(ghosts, int) or ghosts < 2:
        raise InputError(f"perturbation ghosting: ghosts must be an integer >= 2, got {ghosts!r}")
    changed = {}
    for m in target_modalities(case, "ghosting", params, allow_pet=False):
        rng = rng_for(seed, m)
        axis = _phase_axis("ghosting", params, rng)
        sign = 1.0 if rng.random() < 0.5 else -1.0
        changed[m] = ghosting_artefact(case.images[m], value, ghosts, axis, sign)
    return with_arrays(case, images=changed)


def spike_artefact(image: np.ndarray, amplitude: float, rng: np.random.Generator) -> np.ndarray:
    kspace = _kspace(image)
    shape = np.array(image.shape)
    centre = shape // 2
    offset = np.round(rng.uniform(0.1, 0.4, 3) * (shape / 2) * rng.choice([-1, 1], 3)).astype(int)
    offset = np.clip(offset, -(centre - 1), shape - centre - 1)
    spike = amplitude * abs(float(image.astype(np.float64).sum())) * np.exp(
        2j * np.pi * rng.random())
    kspace[tuple(centre + offset)] += spike
    kspace[tuple(centre - offset)] += np.conj(spike)
    return _image(kspace, image)


def _spike(case: LoadedCase, value: float, seed: int, params: Mapping[str, Any]) -> LoadedCase:
    check_params("spike", params, ("modalities",))
    changed = {m: spike_artefact(case.images[m], value, rng_for(seed, m))
               for m in target_modalities(case, "spike", params, allow_pet=False)}
    return with_arrays(case, images=changed)


PERTURBATIONS: tuple[Perturbation, ...] = (
    Perturbation(PerturbationInfo(
        "motion", "two rigid patient motions, each during 2 of 5 k-space blocks along the "
        "phase-encoding axis (blurring and ghosts)", "MRI images (never PET)",
        "translation (mm) and rotation (degrees) of each motion, both equal to the value",
        (0.5, 1.0, 2.0, 3.0, 4.0), seeded=True, params=("modalities", "axis")), _motion),
    Perturbation(PerturbationInfo(
        "ghosting", "every n-th k-space plane from the centre along the phase-encoding axis "
        "scaled by 1 ∓ level (n = params.ghosts, default 4)",
        "MRI images (never PET)", "size of the change of the affected planes, |1 − factor|",
        (0.15, 0.3, 0.45, 0.6, 0.8), seeded=True, params=("modalities", "axis", "ghosts")),
        _ghosting),
    Perturbation(PerturbationInfo(
        "spike", "one k-space spike (herringbone stripes across the image)",
        "MRI images (never PET)", "spike amplitude / |k-space centre| (image sum)",
        (0.05, 0.1, 0.2, 0.35, 0.5), seeded=True, params=("modalities",)), _spike),
)
