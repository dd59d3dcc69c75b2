"""Centres: scanners with their own intensity scale, offset, noise, bias field and slices."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from imagination.cohort.synthetic.config import SynthConfig

SCANNERS: tuple[tuple[str, float], ...] = (
    ("Siemens Prisma", 3.0),
    ("GE Signa HDxt", 1.5),
    ("Philips Ingenia", 3.0),
    ("Siemens Avanto", 1.5),
    ("GE Discovery MR750", 3.0),
    ("Philips Achieva", 1.5),
)
MR_MODALITIES = ("t1", "t1c", "t2", "flair", "adc")


@dataclass(frozen=True)
class SiteProfile:
    """A centre's scanner and case mix."""

    name: str
    scanner: str
    field_strength: float
    intensity_scale: dict[str, float]
    intensity_offset: dict[str, float]
    noise_fraction: float  # noise sd as a fraction of white-matter signal
    bias_amplitude: float  # peak log-amplitude of the smooth bias field
    slice_thickness_mm: float  # through-plane (axial) resolution of the 2-D acquisitions
    pet_noise_fraction: float
    type_mix: dict[str, float]
    age_shift: float


def make_sites(config: SynthConfig, rng: np.random.Generator) -> list[SiteProfile]:
    """Draw ``config.n_sites`` centres with different scanners and case mixes."""
    prevalence = config.normalised_prevalence()
    names = sorted(prevalence)
    base = np.array([prevalence[n] for n in names])
    sites = []
    for index in range(config.n_sites):
        scanner, field = SCANNERS[index % len(SCANNERS)]
        present = base > 0
        mix = np.zeros_like(base)
        mix[present] = rng.dirichlet(base[present] * 12.0)
        weak = 1.5 if field < 2 else 1.0
        sites.append(SiteProfile(
            name=f"site-{chr(ord('A') + index)}",
            scanner=scanner,
            field_strength=field,
            intensity_scale={m: float(np.exp(rng.uniform(np.log(0.6), np.log(1.6))))
                             for m in MR_MODALITIES if m != "adc"} | {"adc": 1.0},
            intensity_offset={m: float(rng.uniform(0.0, 60.0))
                              for m in MR_MODALITIES if m != "adc"} | {"adc": 0.0},
            noise_fraction=float(rng.uniform(0.01, 0.025) * weak),
            bias_amplitude=float(rng.uniform(0.05, 0.25)),
            slice_thickness_mm=float(rng.choice([1.0, 3.0, 5.0])),
            pet_noise_fraction=float(rng.uniform(0.03, 0.08)),
            type_mix={n: float(p) for n, p in zip(names, mix, strict=True)},
            age_shift=float(rng.uniform(-4.0, 4.0)),
        ))
    return sites


def assign_sites(n_cases: int, n_sites: int, rng: np.random.Generator) -> list[int]:
    """Site index per case: unequal site sizes, every site has at least one case."""
    weights = rng.dirichlet(np.full(n_sites, 4.0))
    sizes = np.ones(n_sites, dtype=int)
    extra = n_cases - n_sites
    if extra:
        sizes += rng.multinomial(extra, weights)
    order = np.repeat(np.arange(n_sites), sizes)
    return [int(s) for s in rng.permutation(order)]


def bias_field(shape: tuple[int, ...], amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth multiplicative field exp(sum of low-order polynomial terms), mean near 1."""
    axes = [np.linspace(-1.0, 1.0, n, dtype=np.float32) for n in shape]
    x, y, z = np.meshgrid(*axes, indexing="ij", sparse=True)
    terms = (x, y, z, x * y, x * z, y * z, x**2 - 0.33, y**2 - 0.33, z**2 - 0.33)
    coefficients = rng.normal(0.0, 1.0, len(terms))
    coefficients *= amplitude / np.abs(coefficients).sum()
    log_field = np.zeros(shape, dtype=np.float32)
    for c, term in zip(coefficients, terms, strict=True):
        log_field = log_field + np.float32(c) * term
    return np.exp(log_field).astype(np.float32)


def apply_scanner(image: np.ndarray, modality: str, site: SiteProfile, reference_level: float,
                  bias: np.ndarray, brain: np.ndarray, spacing_mm: tuple[float, ...],
                  rng: np.random.Generator) -> np.ndarray:
    """Scanner effects on a clean image: slice blur, bias, scale, offset, Rician noise."""
    out = image.astype(np.float32)
    thickness = site.slice_thickness_mm
    if modality != "adc" and thickness > spacing_mm[2]:
        sigma = np.sqrt(thickness**2 - spacing_mm[2] ** 2) / 2.355 / spacing_mm[2]
        out = ndimage.gaussian_filter1d(out, sigma, axis=2, mode="nearest")
    if modality != "adc":
        out = out * bias
    out = out * site.intensity_scale[modality] + site.intensity_offset[modality]
    sd = site.noise_fraction * reference_level * site.intensity_scale[modality]
    real = rng.standard_normal(out.shape, dtype=np.float32)
    real *= np.float32(sd)
    real += out
    imaginary = rng.standard_normal(out.shape, dtype=np.float32)
    imaginary *= np.float32(sd)
    noisy = np.sqrt(real * real + imaginary * imaginary)
    noisy[~brain] = 0.0
    return noisy
