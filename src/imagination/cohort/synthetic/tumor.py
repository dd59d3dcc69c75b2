"""Pre-operative tumours: Fisher–Kolmogorov gliomas and simple extra-axial or metastatic lesions.

Segmentation codes follow BraTS 2024 post-treatment: 1 NETC (necrosis / non-enhancing core),
2 SNFH (FLAIR hyperintensity), 3 ET (enhancing tumour).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage, special

from imagination.cohort.synthetic.anatomy import Anatomy, pick_voxel, random_field, seed_candidates
from imagination.cohort.synthetic.tumor_types import PROFILES, CaseParameters
from imagination.growth.fisher_kolmogorov import GrowthSolver, gaussian_seed, tissue_diffusivity

NETC, SNFH, ET = 1, 2, 3
MAX_DAYS = 1500.0
SEED_SIGMA_MM = 2.5


@dataclass
class Thresholds:
    """Per-voxel visibility thresholds: the case's values modulated by smooth fields."""

    t1c: np.ndarray
    flair: np.ndarray
    rim_mm: np.ndarray  # enhancing-rim thickness: necrosis lies deeper inside the core
    enhancing_pattern: np.ndarray  # True where the core may enhance


@dataclass
class Tumour:
    """A grown tumour: true cell density, segmentation and what imaging needs to know."""

    density: np.ndarray  # float32 in [0, 1]
    labels: np.ndarray  # uint8 codes 0-3
    brain: np.ndarray  # brain mask (includes extra-axial tumour)
    texture: np.ndarray  # unit-sd smooth field for intratumoural heterogeneity
    necrotic: np.ndarray
    mismatch: np.ndarray  # lesion interior with suppressed FLAIR (T2-FLAIR mismatch)
    calcified: np.ndarray
    diffusivity: np.ndarray | None
    thresholds: Thresholds | None
    days: float
    seeds: list[dict[str, object]] = field(default_factory=list)
    occult_foci: list[dict[str, object]] = field(default_factory=list)


def _exceeded_fraction_cut(fraction: float) -> float:
    """Level a unit-normal field exceeds on ``fraction`` of voxels (±inf at 0 and 1)."""
    if fraction >= 1.0:
        return -math.inf
    if fraction <= 0.0:
        return math.inf
    return float(special.ndtri(1.0 - fraction))


def _thresholds(anatomy: Anatomy, params: CaseParameters,
                rng: np.random.Generator) -> Thresholds:
    sp, shape = anatomy.spacing, anatomy.shape
    f1, f2, f3 = (random_field(shape, 6.0, sp, rng) for _ in range(3))
    return Thresholds(
        t1c=np.clip(params.u_t1c + 0.12 * f1, 0.45, 0.95),
        flair=np.clip(params.u_flair + 0.03 * f2, 0.03, 0.55),
        rim_mm=np.clip(params.necrosis_rim_mm * (1.0 + 0.5 * f2), 1.5, None),
        enhancing_pattern=f3 > _exceeded_fraction_cut(params.enhancing_fraction),
    )


def visible_labels(density: np.ndarray, thresholds: Thresholds, necrosis: bool,
                   spacing: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """BraTS codes from cell density and the necrotic mask.

    Core (NETC, or ET where the core enhances) where u >= u_T1c, SNFH where u >= u_FLAIR;
    with necrosis, the core deeper than the rim thickness is necrotic (NETC).
    """
    labels = np.zeros(density.shape, dtype=np.uint8)
    labels[density >= thresholds.flair] = SNFH
    core = density >= thresholds.t1c
    labels[core] = NETC
    labels[core & thresholds.enhancing_pattern] = ET
    necrotic = np.zeros(density.shape, dtype=bool)
    if necrosis and core.any():
        depth = local_distance(core, spacing, 0.0, inside=True)
        necrotic = core & (depth > thresholds.rim_mm)
        labels[necrotic] = NETC
    return labels, necrotic


def _vasogenic_edema(anatomy: Anatomy, core: np.ndarray, reach_mm: float) -> np.ndarray:
    """Oedema spreading from the core mostly along white matter."""
    if reach_mm <= 0 or not core.any():
        return np.zeros(core.shape, dtype=bool)
    a = anatomy.atlas
    distance = local_distance(core, anatomy.spacing, reach_mm, inside=False)
    return (distance <= reach_mm * (0.25 + 0.75 * a.wm)) & ((a.wm + a.gm) > 0.3)


def _initial_density(anatomy: Anatomy, candidates: np.ndarray,
                     rng: np.random.Generator) -> tuple[np.ndarray, list[dict[str, object]]]:
    """A main Gaussian seed plus up to two satellites nearby (lobulated tumours)."""
    sp = anatomy.spacing
    main = pick_voxel(candidates, rng)
    centres = [(main, 1.0)]
    for _ in range(int(rng.integers(1, 4))):
        offset = rng.normal(0.0, 1.0, 3)
        offset *= rng.uniform(7.0, 16.0) / np.linalg.norm(offset)
        vox = tuple(round(c + o / h) for c, o, h in zip(main, offset, sp, strict=True))
        inside = all(0 <= v < n for v, n in zip(vox, anatomy.shape, strict=True))
        if inside and anatomy.atlas.wm[vox] + anatomy.atlas.gm[vox] > 0.5:
            centres.append((vox, float(rng.uniform(0.2, 0.8))))
    density = np.zeros(anatomy.shape, dtype=np.float32)
    seeds = []
    for vox, amplitude in centres:
        density = np.maximum(density, amplitude * gaussian_seed(anatomy.shape, vox,
                                                                SEED_SIGMA_MM, sp))
        world = anatomy.atlas.grid.affine @ np.r_[vox, 1.0]
        seeds.append({"voxel": list(vox), "world_mm": [round(float(w), 2) for w in world[:3]],
                      "amplitude": round(amplitude, 4), "sigma_mm": SEED_SIGMA_MM})
    return density, seeds


def grow_until(density: np.ndarray, solver: GrowthSolver, rho: float,
               volume_of: Callable[[np.ndarray], float], target_ml: float, first_days: float,
               step_days: float, max_days: float) -> tuple[np.ndarray, float]:
    """Grow in chunks until ``volume_of(u)`` reaches ``target_ml`` or ``max_days`` pass."""
    days = min(first_days, max_days)
    u = solver.advance(density, rho, days)
    while volume_of(u) < target_ml and days < max_days:
        chunk = min(step_days, max_days - days)
        u = solver.advance(u, rho, chunk)
        days += chunk
    return u, days


def local_distance(mask: np.ndarray, spacing: tuple[float, ...], margin_mm: float,
                   inside: bool) -> np.ndarray:
    """Euclidean distance (mm) to the mask's outside (``inside``) or to the mask, computed in
    the mask's bounding box grown by ``margin_mm``; voxels beyond the box get ``inf``."""
    out = np.full(mask.shape, np.inf, dtype=np.float32)
    if not mask.any():
        return out
    box = []
    for axis, h in enumerate(spacing):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        present = np.flatnonzero(mask.any(axis=other))
        pad = int(np.ceil(margin_mm / h)) + 1
        box.append(slice(max(0, int(present[0]) - pad),
                         min(mask.shape[axis], int(present[-1]) + pad + 1)))
    local = mask[tuple(box)]
    target = local if inside else ~local
    out[tuple(box)] = ndimage.distance_transform_edt(target, sampling=spacing)
    return out


def _add_occult_foci(anatomy: Anatomy, density: np.ndarray, diffusivity: np.ndarray,
                     params: CaseParameters,
                     rng: np.random.Generator) -> tuple[np.ndarray, list[dict[str, object]]]:
    """Tumour cells that migrated along white matter 12-35 mm beyond the lesion, at a density
    below FLAIR visibility (30-70 % of u_FLAIR): invisible on MRI, seen by amino-acid PET."""
    foci: list[dict[str, object]] = []
    if params.n_occult_foci == 0:
        return density, foci
    lesion = density >= params.u_flair
    distance = local_distance(lesion, anatomy.spacing, 35.0, inside=False)
    candidates = ((distance >= 12.0) & (distance <= 35.0) & (anatomy.atlas.wm > 0.6)
                  & (diffusivity > 0))
    if not candidates.any():
        return density, foci
    out = density.copy()
    for _ in range(params.n_occult_foci):
        vox = pick_voxel(candidates, rng)
        amplitude = float(rng.uniform(0.3, 0.7)) * params.u_flair
        sigma = float(rng.uniform(3.0, 5.0))
        focus = amplitude * gaussian_seed(anatomy.shape, vox, sigma, anatomy.spacing)
        out = np.maximum(out, focus * (diffusivity > 0))
        world = anatomy.atlas.grid.affine @ np.r_[vox, 1.0]
        foci.append({"voxel": list(vox),
                     "world_mm": [round(float(w), 2) for w in world[:3]],
                     "amplitude": round(amplitude, 4), "sigma_mm": round(sigma, 3)})
    return out, foci


def grow_glioma(anatomy: Anatomy, params: CaseParameters, rng: np.random.Generator) -> Tumour:
    """Fisher–Kolmogorov growth from a seed until u >= u_T1c fills the target volume."""
    a = anatomy.atlas
    profile = PROFILES[params.tumor_type]
    diffusivity = tissue_diffusivity(a.wm, a.gm, params.d_white, params.diffusivity_ratio)
    candidates = seed_candidates(anatomy, profile.location) & (diffusivity > 0)
    initial, seeds = _initial_density(anatomy, candidates, rng)
    voxel_ml = a.grid.voxel_volume_ml
    speed = 2.0 * math.sqrt(params.d_white * params.rho)
    radius = (3.0 * params.target_volume_ml * 1000.0 / (4.0 * math.pi)) ** (1.0 / 3.0)
    expected = radius / speed + 2.0 / params.rho
    u, days = grow_until(initial, GrowthSolver(diffusivity, anatomy.spacing), params.rho,
                         lambda v: float(np.count_nonzero(v >= params.u_t1c)) * voxel_ml,
                         params.target_volume_ml, 0.6 * expected, 0.08 * expected, MAX_DAYS)
    thresholds = _thresholds(anatomy, params, rng)
    u, foci = _add_occult_foci(anatomy, u, diffusivity, params, rng)
    labels, necrotic = visible_labels(u, thresholds, params.necrosis, anatomy.spacing)
    core = (labels == NETC) | (labels == ET)
    edema = _vasogenic_edema(anatomy, core, params.vasogenic_edema_mm) & (labels == 0)
    labels[edema] = SNFH
    texture = random_field(anatomy.shape, 3.0, anatomy.spacing, rng)
    mismatch = (ndimage.binary_erosion(core, iterations=1) if params.mismatch
                else np.zeros(core.shape, dtype=bool))
    calcified = np.zeros(core.shape, dtype=bool)
    if params.calcification > 0:
        spots = random_field(anatomy.shape, 1.5, anatomy.spacing, rng)
        calcified = core & (spots > _exceeded_fraction_cut(params.calcification))
    return Tumour(density=u, labels=labels, brain=a.brain.copy(), texture=texture,
                  necrotic=necrotic, mismatch=mismatch, calcified=calcified,
                  diffusivity=diffusivity, thresholds=thresholds, days=days, seeds=seeds,
                  occult_foci=foci)


def _lumpy_ball(anatomy: Anatomy, centre: tuple[int, int, int], radius_mm: float,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A ball with a smoothly perturbed surface; returns (mask, normalised radius r/R)."""
    offsets = anatomy.world - (anatomy.atlas.grid.affine[:3, :3] @ np.asarray(centre)
                               + anatomy.atlas.grid.affine[:3, 3]).reshape(3, 1, 1, 1)
    r = np.sqrt((offsets**2).sum(axis=0)) / radius_mm
    bumps = random_field(anatomy.shape, max(radius_mm / 2.0, 3.0), anatomy.spacing, rng)
    r = r / (1.0 + 0.12 * bumps)
    return r <= 1.0, r


def grow_lesions(anatomy: Anatomy, params: CaseParameters, rng: np.random.Generator) -> Tumour:
    """Meningioma (extra-axial, homogeneous enhancement) or metastases (several ring lesions)."""
    a = anatomy.atlas
    profile = PROFILES[params.tumor_type]
    candidates = seed_candidates(anatomy, profile.location)
    labels = np.zeros(anatomy.shape, dtype=np.uint8)
    necrotic = np.zeros(anatomy.shape, dtype=bool)
    occupancy = np.zeros(anatomy.shape, dtype=bool)
    brain = a.brain.copy()
    seeds: list[dict[str, object]] = []
    volumes = rng.dirichlet(np.ones(params.n_lesions)) * params.target_volume_ml
    for volume in volumes:
        centre = pick_voxel(candidates, rng)
        radius = max((3.0 * volume * 1000.0 / (4.0 * math.pi)) ** (1.0 / 3.0),
                     1.2 * anatomy.spacing[0])
        ball, r = _lumpy_ball(anatomy, centre, radius, rng)
        occupancy |= ball
        if params.tumor_type == "meningioma":
            brain |= ball  # extra-axial: the skull strip keeps the tumour
            labels[ball] = ET
        else:
            ball &= brain
            labels[ball] = ET
            if radius >= 5.0:
                necrotic |= ball & (r < 0.55)  # necrotic centre: ring enhancement
                labels[necrotic] = NETC
        world = a.grid.affine @ np.r_[centre, 1.0]
        seeds.append({"voxel": list(centre), "world_mm": [round(float(w), 2) for w in world[:3]],
                      "radius_mm": round(radius, 3)})
    edema = _vasogenic_edema(anatomy, occupancy, params.vasogenic_edema_mm)
    labels[edema & (labels == 0) & a.brain] = SNFH
    density = ndimage.gaussian_filter(occupancy.astype(np.float32), 0.6)
    return Tumour(density=np.clip(density, 0, 1), labels=labels, brain=brain,
                  texture=random_field(anatomy.shape, 3.0, anatomy.spacing, rng),
                  necrotic=necrotic, mismatch=np.zeros(anatomy.shape, dtype=bool),
                  calcified=np.zeros(anatomy.shape, dtype=bool), diffusivity=None,
                  thresholds=None, days=0.0, seeds=seeds)


def grow_tumour(anatomy: Anatomy, params: CaseParameters, rng: np.random.Generator) -> Tumour:
    """The pre-operative tumour of a case."""
    if params.is_glioma:
        return grow_glioma(anatomy, params, rng)
    return grow_lesions(anatomy, params, rng)
