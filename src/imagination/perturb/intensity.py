"""Intensity perturbations: Rician noise, bias field, gamma (contrast), Gaussian blur.

All act on MRI images by default; ``params["modalities"]`` chooses others (PET is accepted by
noise, gamma and blur, never by the bias field, a coil artefact). Voxels outside the brain are
left unchanged by noise and bias field, as in skull-stripped data.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter

from imagination.cohort.case import LoadedCase
from imagination.perturb.base import (
    Perturbation,
    PerturbationInfo,
    brain_support,
    check_params,
    rng_for,
    robust_range,
    target_modalities,
    with_arrays,
)

#: FWHM = this × sigma for a Gaussian.
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))
_MODALITIES = ("modalities",)


def add_rician_noise(image: np.ndarray, brain: np.ndarray, sigma: float,
                     rng: np.random.Generator) -> np.ndarray:
    """Magnitude of the image plus complex Gaussian noise of std ``sigma`` in each channel
    (Rician); images with negative values (already normalised) get Gaussian noise instead."""
    out = image.astype(np.float64)
    values = out[brain]
    real = rng.normal(0.0, sigma, values.size)
    imaginary = rng.normal(0.0, sigma, values.size)
    if float(image.min()) >= 0:
        out[brain] = np.hypot(values + real, imaginary)
    else:
        out[brain] = values + real
    return out.astype(np.float32)


def _noise(case: LoadedCase, value: float, seed: int, params: Mapping[str, Any]) -> LoadedCase:
    check_params("noise", params, _MODALITIES)
    brain = brain_support(case)
    changed = {}
    for m in target_modalities(case, "noise", params):
        sigma = value * robust_range(case.images[m], brain)
        changed[m] = add_rician_noise(case.images[m], brain, sigma, rng_for(seed, m))
    return with_arrays(case, images=changed)


def _normalised_coordinates(brain: np.ndarray, spacing: tuple[float, float, float],
                            ) -> list[np.ndarray]:
    """Per axis, world position in mm relative to the brain centre, divided by the largest
    brain half-extent (so the brain spans about [-1, 1] isotropically)."""
    index = np.argwhere(brain)
    low, high = index.min(axis=0), index.max(axis=0)
    centre = (low + high) / 2.0
    half = max(float(np.max((high - low) * np.asarray(spacing) / 2.0)), 1e-6)
    return [(np.arange(brain.shape[a]) - centre[a]) * spacing[a] / half for a in range(3)]


def bias_field(brain: np.ndarray, spacing: tuple[float, float, float], strength: float,
               rng: np.random.Generator, order: int = 3) -> np.ndarray:
    """Multiplicative field exp(P), P = Σ c_ijk x^i y^j z^k over 0 < i + j + k <= ``order``
    with standard normal c_ijk, in normalised coordinates; P is centred on its brain mean and
    scaled so that max |P| in the brain = strength."""
    coefficients = np.zeros((order + 1,) * 3)
    for i, j, k in itertools.product(range(order + 1), repeat=3):
        if 0 < i + j + k <= order:
            coefficients[i, j, k] = rng.normal()
    powers = [np.power.outer(c, np.arange(order + 1)) for c in
              _normalised_coordinates(brain, spacing)]
    log_field = np.einsum("ijk,ai,bj,ck->abc", coefficients, *powers, optimize=True)
    log_field -= log_field[brain].mean()
    peak = float(np.max(np.abs(log_field[brain])))
    if peak > 0:
        log_field *= strength / peak
    return np.exp(log_field)


def _bias_field(case: LoadedCase, value: float, seed: int,
                params: Mapping[str, Any]) -> LoadedCase:
    check_params("bias_field", params, _MODALITIES)
    brain = brain_support(case)
    changed = {}
    for m in target_modalities(case, "bias_field", params, allow_pet=False):
        field = bias_field(brain, case.grid.spacing, value, rng_for(seed, m))
        image = case.images[m].astype(np.float64)
        changed[m] = np.where(brain, image * field, image).astype(np.float32)
    return with_arrays(case, images=changed)


def gamma_transform(image: np.ndarray, gamma: float) -> np.ndarray:
    """lo + (hi − lo)·((x − lo)/(hi − lo))^gamma with lo, hi the image's minimum and maximum
    (both kept fixed)."""
    x = image.astype(np.float64)
    lo, hi = float(x.min()), float(x.max())
    if hi <= lo:
        return image.astype(np.float32, copy=True)
    return (lo + (hi - lo) * ((x - lo) / (hi - lo)) ** gamma).astype(np.float32)


def _gamma(case: LoadedCase, value: float, seed: int, params: Mapping[str, Any]) -> LoadedCase:
    check_params("gamma", params, _MODALITIES)
    changed = {}
    for m in target_modalities(case, "gamma", params):
        sign = 1.0 if rng_for(seed, m).random() < 0.5 else -1.0
        changed[m] = gamma_transform(case.images[m], float(np.exp(sign * value)))
    return with_arrays(case, images=changed)


def gaussian_blur(image: np.ndarray, spacing: tuple[float, float, float],
                  fwhm_mm: float) -> np.ndarray:
    sigma = [fwhm_mm / FWHM_PER_SIGMA / s for s in spacing]
    return gaussian_filter(image.astype(np.float32), sigma=sigma, mode="nearest")


def _blur(case: LoadedCase, value: float, seed: int, params: Mapping[str, Any]) -> LoadedCase:
    check_params("blur", params, _MODALITIES)
    changed = {m: gaussian_blur(case.images[m], case.grid.spacing, value)
               for m in target_modalities(case, "blur", params)}
    return with_arrays(case, images=changed)


PERTURBATIONS: tuple[Perturbation, ...] = (
    Perturbation(PerturbationInfo(
        "noise", "Rician noise: magnitude of image + complex Gaussian noise, inside the brain",
        "MRI images (PET when listed in modalities)",
        "noise sigma per channel / (99th − 1st percentile of the image inside the brain)",
        (0.02, 0.04, 0.06, 0.09, 0.12), seeded=True, params=_MODALITIES), _noise),
    Perturbation(PerturbationInfo(
        "bias_field", "smooth multiplicative field exp(P), P a random polynomial of degree 3",
        "MRI images inside the brain (never PET)",
        "max |log field| inside the brain (0.6 = factors 0.55..1.82)",
        (0.1, 0.2, 0.3, 0.45, 0.6), seeded=True, params=_MODALITIES), _bias_field),
    Perturbation(PerturbationInfo(
        "gamma", "contrast change: gamma curve on the image's [min, max], gamma = exp(±g), "
        "sign drawn from the seed", "MRI images (PET when listed in modalities)",
        "|log gamma| g", (0.1, 0.2, 0.3, 0.45, 0.6), seeded=True, params=_MODALITIES), _gamma),
    Perturbation(PerturbationInfo(
        "blur", "isotropic Gaussian blur in mm (honours the voxel spacing)",
        "MRI images (PET when listed in modalities)", "FWHM (mm)",
        (1.0, 2.0, 3.0, 4.5, 6.0), seeded=False, params=_MODALITIES), _blur),
)
