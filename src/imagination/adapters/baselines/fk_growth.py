"""``fk-growth`` and ``fk-growth-pet``: a Fisher–Kolmogorov model fitted to each case.

Model (domain notes §3.2): du/dt = div(D grad u) + rho u (1 - u), D = D_w p_WM + (D_w/10) p_GM,
no flux into CSF or out of the brain; solved by :func:`imagination.growth.simulate_growth` on a
coarse grid (``coarse_mm``, block means of the case grid) over the lesion's bounding box grown
by ``pad_mm``.

1. Tissue comes from the case itself: the T1 (else T1c) intensities of the normal-appearing
   brain are split into three classes with k-means (CSF < grey < white matter on T1), and a
   voxel between two class means is their linear mixture (partial volume; pure CSF is the 1st
   percentile, the CSF cluster's mean being mostly sulcal partial volume); the visible lesion
   counts as white matter (tumour infiltrates it; its T1 signal is not tissue).
   Without T1 or T1c the brain is homogeneous white matter.
2. Fit. Time is measured in units of 1/rho, so the solution depends only on the infiltration
   length ``lambda = sqrt(D_w / rho)`` (mm) and ``rho T``: one simulation per ``lambda`` in
   ``lambdas_mm`` yields every ``rho T`` as it runs (the notes' grid over (sqrt(D T),
   sqrt(rho T)), with sqrt(D T) = lambda sqrt(rho T)). It starts from the visible core
   (``seed="core"``: its block fractions) or a Gaussian at the core's centre
   (``seed="centre"``) and maximises Dice(u >= ``u_core``, T1c core) + Dice(u >= ``u_flair``,
   FLAIR extent), thresholds of GliODIL's initialisation (0.65, 0.3). ``fk-growth-pet`` adds
   Dice(u >= u_pet, PET uptake region): TBR >= ``tbr_threshold`` (1.6, Pauleit et al. 2005),
   background = mean PET in the brain outside the lesion, regions under 0.2 ml dropped as
   noise, u_pet the best of
   ``pet_u_thresholds`` (the map from cell density to uptake is not known).
3. Infiltration estimate. From the observed tumour as initial density (``u_core`` on the core,
   ``u_flair`` on the FLAIR extent and, with PET, the fitted u_pet on the uptake region, as
   block fractions), the fitted model grows for the time its front needs to advance
   ``extrapolate_mm`` (front speed 2 sqrt(D_w rho)). Starting from the data keeps the estimate
   on the observed lesion's boundary, as GliODIL's data-driven fits do, while the fitted
   diffusion carries it along white matter and keeps it out of CSF.

Score map: that density, linearly upsampled to the case grid; voxels it leaves empty
(u < ``EMPTY_U``) rank by minus their distance to the lesion, voxels outside the brain below
all brain voxels.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
from scipy import ndimage
from sklearn.cluster import KMeans

from imagination.adapters.baselines.coarse import CoarseGrid
from imagination.adapters.baselines.regions import (
    brain_mask,
    case_seed,
    distance_mm,
    outside_below,
    visible_core,
    visible_extent,
)
from imagination.adapters.protocol import ModelCard, Predictions
from imagination.adapters.validation import check_inputs
from imagination.cohort.case import LoadedCase
from imagination.errors import CaseError, InputError
from imagination.growth.fisher_kolmogorov import (
    GrowthSolver,
    gaussian_seed,
    simulate_growth,
    tissue_diffusivity,
)

#: Density below which a voxel counts as empty (ranked by distance instead).
EMPTY_U: Final[float] = 1e-6
#: Most voxels used to fit the tissue classes.
KMEANS_SAMPLE: Final[int] = 20000
#: Percentile of normal-brain T1 taken as pure CSF (the CSF cluster mean is partial volume).
CSF_PERCENTILE: Final[float] = 1.0
#: Connected uptake regions smaller than this (ml) are noise, below PET resolution.
MIN_UPTAKE_ML: Final[float] = 0.2
#: Stop a simulation once its FLAIR-visible volume exceeds the target's by this factor.
OVERSHOOT: Final[float] = 1.5
#: Most snapshots per simulation (a guard; the overshoot stops it first).
MAX_SNAPSHOTS: Final[int] = 400


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice coefficient; 1 when both are empty."""
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total


#: Tissue fractions of the last cases seen in this process, by a digest of their inputs: the
#: MRI-only and PET fits, the ablation and the repeats of one case share their k-means.
_TISSUE: OrderedDict[bytes, tuple[np.ndarray, np.ndarray]] = OrderedDict()
_TISSUE_MAX = 2


def _remembered_tissue(case: LoadedCase, brain: np.ndarray, lesion: np.ndarray,
                       ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`tissue_fractions`, computed once per distinct input (case id, T1/T1c, masks)."""
    digest = hashlib.blake2b(case.case_id.encode(), digest_size=20)
    modality = next((m for m in ("t1", "t1c") if m in case.images), None)
    for array in (brain, lesion, None if modality is None else case.images[modality]):
        if array is not None:
            digest.update(str((modality, array.dtype.str, array.shape)).encode())
            digest.update(np.ascontiguousarray(array).data)
    key = digest.digest()
    found = _TISSUE.get(key)
    if found is None:
        wm, gm = tissue_fractions(case, brain, lesion)
        wm.setflags(write=False)
        gm.setflags(write=False)
        found = _TISSUE[key] = (wm, gm)
        while len(_TISSUE) > _TISSUE_MAX:
            _TISSUE.popitem(last=False)
    else:
        _TISSUE.move_to_end(key)
    return found


def tissue_fractions(case: LoadedCase, brain: np.ndarray, lesion: np.ndarray,
                     ) -> tuple[np.ndarray, np.ndarray]:
    """White- and grey-matter fractions (float32) from 3-class k-means of T1 (or T1c).

    Voxels between two class means are partial volumes: linear mixtures of the two classes.
    """
    modality = next((m for m in ("t1", "t1c") if m in case.images), None)
    wm = (brain & lesion).astype(np.float32)
    gm = np.zeros(brain.shape, dtype=np.float32)
    normal = brain & ~lesion
    if modality is None or int(normal.sum()) < 3:
        wm[brain] = 1.0
        return wm, gm
    values = case.images[modality][normal].astype(np.float64)
    rng = np.random.default_rng(case_seed(0, case.case_id, "kmeans"))
    sample = values if values.size <= KMEANS_SAMPLE else rng.choice(values, KMEANS_SAMPLE,
                                                                     replace=False)
    if np.unique(sample).size < 3:
        wm[brain] = 1.0
        return wm, gm
    km = KMeans(n_clusters=3, n_init=3, random_state=0).fit(sample.reshape(-1, 1))
    csf, grey, white = np.sort(km.cluster_centers_.ravel())
    # most voxels of the CSF cluster are partial volumes (sulci): pure CSF is its low end
    csf = min(csf, float(np.percentile(values, CSF_PERCENTILE)))
    # partial-volume model: a voxel between two class means is a linear mix of the two
    gm[normal] = np.interp(values, [csf, grey, white], [0.0, 1.0, 0.0]).astype(np.float32)
    wm[normal] = np.interp(values, [grey, white], [0.0, 1.0]).astype(np.float32)
    return wm, gm


def pet_uptake(case: LoadedCase, brain: np.ndarray, lesion: np.ndarray,
               tbr_threshold: float) -> np.ndarray:
    """PET uptake region: TBR >= threshold inside the brain, specks < MIN_UPTAKE_ML dropped."""
    pet = case.images["pet"]
    background = brain & ~lesion
    if not background.any():
        background = brain
    mean = float(pet[background].mean())
    if not mean > 0:
        raise CaseError(f"PET background uptake is {mean:.4g}; a tumour-to-background ratio "
                        "needs a positive background", case_id=case.case_id, column="pet")
    uptake = brain & (pet / mean >= tbr_threshold)
    labels, n = ndimage.label(uptake)
    if n == 0:
        return uptake
    sizes = np.bincount(labels.ravel())[1:] * case.grid.voxel_volume_ml
    return np.isin(labels, 1 + np.flatnonzero(sizes >= MIN_UPTAKE_ML))


def lesion_box(lesion: np.ndarray, spacing: Sequence[float], pad_mm: float
               ) -> tuple[slice, ...]:
    """Bounding box of ``lesion`` grown by ``pad_mm`` on every side (clipped to the volume)."""
    index = np.argwhere(lesion)
    lo, hi = index.min(axis=0), index.max(axis=0) + 1
    pad = np.ceil(pad_mm / np.asarray(spacing, dtype=float)).astype(int)
    return tuple(slice(int(max(a - p, 0)), int(min(b + p, n)))
                 for a, b, p, n in zip(lo, hi, pad, lesion.shape, strict=True))


def seed_centre(core: np.ndarray) -> tuple[float, float, float]:
    """Centre of mass of ``core`` in voxels, or the nearest core voxel when it lies outside."""
    points = np.argwhere(core)
    centre = points.mean(axis=0)
    nearest = np.round(centre).astype(int)
    if not core[tuple(nearest)]:
        centre = points[np.argmin(((points - centre) ** 2).sum(axis=1))].astype(float)
    return (float(centre[0]), float(centre[1]), float(centre[2]))


@dataclass(frozen=True)
class FitTargets:
    """Coarse-grid masks the simulated density is compared with."""

    core: np.ndarray
    extent: np.ndarray
    pet: np.ndarray | None


@dataclass(frozen=True)
class GrowthFit:
    """The best snapshot: its density and parameters."""

    u: np.ndarray
    lambda_mm: float
    rho_t: float
    score: float
    pet_u: float | None = None


@dataclass(frozen=True)
class FitContext:
    """What the infiltration estimate reuses from the fit: grid, box, tissue and targets."""

    grid: CoarseGrid
    box: tuple[slice, ...]
    wm: np.ndarray
    gm: np.ndarray
    core_fraction: np.ndarray
    extent_fraction: np.ndarray
    pet_fraction: np.ndarray | None
    targets: FitTargets


class FKGrowthAdapter:
    """Per-case Fisher–Kolmogorov fit; the score map is the estimated infiltration."""

    version = "1.0"
    tasks = ("recurrence",)

    def __init__(self, use_pet: bool = False, coarse_mm: float = 4.0,
                 lambdas_mm: Sequence[float] = (1.5, 2.5, 4.0, 6.0, 9.0, 13.0),
                 u_core: float = 0.65, u_flair: float = 0.3, tbr_threshold: float = 1.6,
                 pet_u_thresholds: Sequence[float] = (0.05, 0.1, 0.2, 0.3),
                 ratio_white_grey: float = 10.0, pad_mm: float = 30.0,
                 extrapolate_mm: float = 15.0,
                 seed: Literal["core", "centre"] = "core") -> None:
        if not lambdas_mm or any(not float(v) > 0 for v in lambdas_mm):
            raise InputError(f"fk-growth: lambdas_mm must be positive lengths, got {lambdas_mm}")
        if not coarse_mm > 0:
            raise InputError(f"fk-growth: coarse_mm must be positive, got {coarse_mm}")
        if seed not in ("core", "centre"):
            raise InputError(f"fk-growth: seed must be 'core' or 'centre', got {seed!r}")
        self.use_pet = bool(use_pet)
        self.pad_mm = float(pad_mm)
        self.extrapolate_mm = float(extrapolate_mm)
        self.seed = seed
        self.coarse_mm = float(coarse_mm)
        self.lambdas_mm = tuple(float(v) for v in lambdas_mm)
        self.u_core = float(u_core)
        self.u_flair = float(u_flair)
        self.tbr_threshold = float(tbr_threshold)
        self.pet_u_thresholds = tuple(float(v) for v in pet_u_thresholds)
        self.ratio_white_grey = float(ratio_white_grey)
        self.name = "fk-growth-pet" if self.use_pet else "fk-growth"
        # PET is used when present: without it (a drop_pet ablation, a site without PET) the
        # -pet variant falls back to the MRI-only fit, so "with vs without PET" is one model
        self.required_modalities: tuple[str, ...] = ()
        self.optional_modalities: tuple[str, ...] = (
            ("t1", "t1c", "pet") if self.use_pet else ("t1", "t1c"))
        self.card = ModelCard(
            intended_use=("reference growth model: Fisher–Kolmogorov infiltration fitted to the "
                          "visible tumour" + (" and the FET-PET uptake region"
                                              if self.use_pet else "")),
            reference=("Ezhov et al. 2023, MedIA (LMI); Balcerak et al. 2025, Nat Commun "
                       "(GliODIL); Lipkova et al. 2019, IEEE TMI (FET-PET)"),
        )

    def params(self) -> Mapping[str, Any]:
        return {
            "use_pet": self.use_pet, "coarse_mm": self.coarse_mm,
            "lambdas_mm": list(self.lambdas_mm), "u_core": self.u_core,
            "u_flair": self.u_flair, "tbr_threshold": self.tbr_threshold,
            "pet_u_thresholds": list(self.pet_u_thresholds),
            "ratio_white_grey": self.ratio_white_grey, "pad_mm": self.pad_mm,
            "extrapolate_mm": self.extrapolate_mm, "seed": self.seed,
        }

    def _objective(self, u: np.ndarray, targets: FitTargets) -> tuple[float, float | None]:
        """Sum of Dice terms, and the PET threshold that matched best (None without PET)."""
        score = dice(u >= self.u_core, targets.core) + dice(u >= self.u_flair, targets.extent)
        if targets.pet is None:
            return score, None
        pet_scores = [dice(u >= t, targets.pet) for t in self.pet_u_thresholds]
        best = int(np.argmax(pet_scores))
        return score + pet_scores[best], self.pet_u_thresholds[best]

    def _simulate(self, initial: np.ndarray, diffusivity: np.ndarray, spacing: Sequence[float],
                  targets: FitTargets, lambda_mm: float) -> GrowthFit:
        """Grow from ``initial`` until the FLAIR extent overshoots; keep the best snapshot."""
        chunk = min(spacing) / (4.0 * lambda_mm)  # the front (speed 2 lambda) moves h/2
        limit = OVERSHOOT * max(int(targets.extent.sum()), 1)
        if targets.pet is not None:
            limit = max(limit, OVERSHOOT * int(targets.pet.sum()))
        u = initial
        best = GrowthFit(u, lambda_mm, 0.0, *self._objective(u, targets))
        solver = GrowthSolver(diffusivity, spacing)  # one operator for every snapshot
        for step in range(1, MAX_SNAPSHOTS + 1):
            u = solver.advance(u, 1.0, chunk)
            score, pet_u = self._objective(u, targets)
            if score > best.score:
                best = GrowthFit(u, lambda_mm, step * chunk, score, pet_u)
            if int((u >= self.u_flair).sum()) > limit:
                break
        return best

    def fit(self, case: LoadedCase) -> tuple[GrowthFit, FitContext]:
        """The best (lambda, rho T) snapshot on the coarse grid, and the fit's context."""
        check_inputs(self, case)
        brain = brain_mask(case)
        core, extent = visible_core(case), visible_extent(case)
        if not core.any():
            raise CaseError("tumour mask has no core (ET, NETC) or cavity to fit a growth "
                            "model to", case_id=case.case_id, column="mask_tumor",
                            code="empty_core")
        wm, gm = _remembered_tissue(case, brain, extent)
        uptake = (pet_uptake(case, brain, extent, self.tbr_threshold)
                  if self.use_pet and "pet" in case.images else None)
        box = lesion_box(extent if uptake is None else extent | uptake, case.grid.spacing,
                         self.pad_mm)
        grid = CoarseGrid.for_target(wm[box].shape, case.grid.spacing, self.coarse_mm)
        core_fraction = grid.shrink(core[box].astype(np.float32))
        extent_fraction = grid.shrink(extent[box].astype(np.float32))
        pet_fraction = None if uptake is None else grid.shrink(uptake[box].astype(np.float32))
        core_c = core_fraction >= min(0.5, float(core_fraction.max()))
        targets = FitTargets(core_c, (extent_fraction >= 0.5) | core_c,
                             None if pet_fraction is None else pet_fraction >= 0.5)
        context = FitContext(grid, box, grid.shrink(wm[box]), grid.shrink(gm[box]),
                             core_fraction, extent_fraction, pet_fraction, targets)
        spacing = grid.spacing
        if self.seed == "core":
            initial = core_fraction.astype(np.float32)
        else:
            initial = gaussian_seed(core_c.shape, seed_centre(core_c), min(spacing), spacing)
        fits = [self._simulate(initial, self._diffusivity(context, lambda_mm), spacing, targets,
                               lambda_mm)
                for lambda_mm in self.lambdas_mm]
        best = max(fits, key=lambda fit: fit.score)  # first of equals: the smallest lambda
        return best, context

    def _diffusivity(self, context: FitContext, lambda_mm: float) -> np.ndarray:
        return tissue_diffusivity(context.wm, context.gm, lambda_mm**2, self.ratio_white_grey)

    def infiltration(self, fit: GrowthFit, context: FitContext) -> np.ndarray:
        """Coarse-grid density grown by the fitted model from the observed tumour."""
        levels = [self.u_core * context.core_fraction, self.u_flair * context.extent_fraction]
        if context.pet_fraction is not None and fit.pet_u is not None:
            levels.append(fit.pet_u * context.pet_fraction)
        initial = np.maximum.reduce(levels).astype(np.float32)
        days = self.extrapolate_mm / (2.0 * fit.lambda_mm)  # in units of 1/rho
        return simulate_growth(initial, self._diffusivity(context, fit.lambda_mm), 1.0, days,
                               context.grid.spacing)

    def predict(self, case: LoadedCase) -> Predictions:
        fit, context = self.fit(case)
        brain = brain_mask(case)
        u = np.zeros(case.grid.shape, dtype=np.float32)
        u[context.box] = np.clip(context.grid.upsample(self.infiltration(fit, context)), 0.0,
                                 1.0)
        empty = u < EMPTY_U
        score = u.astype(np.float64)
        if empty.any():
            score[empty] = -distance_mm(visible_extent(case), case.grid.spacing)[empty]
        return Predictions(case_id=case.case_id,
                           outputs={"recurrence": outside_below(score, brain)})
