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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

import numpy as np
from scipy import ndimage
from sklearn.cluster import KMeans

from imagination.adapters.baselines.coarse import CoarseGrid
from imagination.adapters.baselines.memo import InputMemo, input_digest
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


#: Per worker process, by a digest of exactly the inputs each reads (:mod:`.memo`): tissue
#: fractions (shared by the MRI-only and PET fits of a case and its variants that keep T1),
#: distances to the lesion (every variant of a case that keeps its masks) and the coarse
#: infiltration estimate (a variant that changes no input the fit reads, e.g. ``drop_flair``,
#: the ``drop_pet`` ablation, which is the MRI-only fit; determinism repeats clear the memos).
_TISSUE: InputMemo[tuple[np.ndarray, np.ndarray]] = InputMemo(2)
_DISTANCE: InputMemo[np.ndarray] = InputMemo(1)
_ESTIMATE: InputMemo[tuple[np.ndarray, CoarseGrid, tuple[slice, ...]]] = InputMemo(32)


def _tissue_modality(case: LoadedCase) -> str | None:
    return next((m for m in ("t1", "t1c") if m in case.images), None)


def _remembered_tissue(case: LoadedCase, brain: np.ndarray, lesion: np.ndarray,
                       ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`tissue_fractions`, computed once per distinct input (case id, T1/T1c, masks)."""
    modality = _tissue_modality(case)
    key = input_digest([case.case_id, modality, brain, lesion,
                        None if modality is None else case.images[modality]])
    return _TISSUE.get(key, lambda: tissue_fractions(case, brain, lesion))


def _remembered_distance(extent: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    """:func:`distance_mm` to ``extent`` as float32 (what the score map keeps of it)."""
    return _DISTANCE.get(input_digest([extent, tuple(spacing)]),
                         lambda: distance_mm(extent, spacing).astype(np.float32))


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
    #: the fit's solver per lambda, reused by the infiltration estimate
    solvers: dict[float, GrowthSolver] = field(default_factory=dict)


class _FlatTargets:
    """Fit targets on a solver's flat domain state: Dice of ``u >= t`` with a target, counted
    only over domain voxels. A snapshot is 0 outside the domain, so for ``t > 0`` the counts
    equal those of the full maps; for ``t <= 0`` the outside voxels are added back."""

    def __init__(self, solver: GrowthSolver, targets: FitTargets) -> None:
        index = solver.domain.reshape(-1)
        self._outside = int(index.size - solver.size)
        self._masks: dict[str, tuple[np.ndarray, int, int]] = {}
        for name in ("core", "extent", "pet"):
            full = getattr(targets, name)
            if full is not None:
                full = full.reshape(-1)
                inside = full[index]
                total = int(np.count_nonzero(full))
                self._masks[name] = (inside, total, total - int(np.count_nonzero(inside)))

    def count_at_least(self, u: np.ndarray, threshold: float) -> int:
        """Voxels of the full map with u >= threshold."""
        return int(np.count_nonzero(u >= threshold)) + (self._outside if threshold <= 0 else 0)

    def dice(self, u: np.ndarray, threshold: float, name: str) -> float:
        """:func:`dice` of the full maps ``u >= threshold`` and target ``name``."""
        inside, total, outside = self._masks[name]
        above = u >= threshold
        size = int(np.count_nonzero(above))
        overlap = int(np.count_nonzero(above & inside))
        if threshold <= 0:
            size, overlap = size + self._outside, overlap + outside
        return 1.0 if size + total == 0 else 2.0 * overlap / (size + total)

    def objective(self, u: np.ndarray, u_core: float, u_flair: float,
                  pet_thresholds: Sequence[float]) -> tuple[float, float | None]:
        """:meth:`FKGrowthAdapter._objective` of the full map."""
        score = self.dice(u, u_core, "core") + self.dice(u, u_flair, "extent")
        if "pet" not in self._masks:
            return score, None
        pet_scores = [self.dice(u, t, "pet") for t in pet_thresholds]
        best = int(np.argmax(pet_scores))
        return score + pet_scores[best], pet_thresholds[best]


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

    def _simulate(self, initial: np.ndarray, solver: GrowthSolver, targets: FitTargets,
                  lambda_mm: float) -> GrowthFit:
        """Grow from ``initial`` until the FLAIR extent overshoots; keep the best snapshot.

        Snapshots stay flat vectors of the solver's domain (:class:`_FlatTargets` scores them
        as the full maps would be scored); only the best one is expanded."""
        chunk = min(solver.spacing) / (4.0 * lambda_mm)  # the front (speed 2 lambda) moves h/2
        limit = OVERSHOOT * max(int(targets.extent.sum()), 1)
        if targets.pet is not None:
            limit = max(limit, OVERSHOOT * int(targets.pet.sum()))
        best = GrowthFit(initial, lambda_mm, 0.0, *self._objective(initial, targets))
        flat = _FlatTargets(solver, targets)
        u = solver.restrict(initial)
        best_u, best_step = None, 0
        for step in range(1, MAX_SNAPSHOTS + 1):
            u = solver.step_flat(u, 1.0, chunk)
            score, pet_u = flat.objective(u, self.u_core, self.u_flair, self.pet_u_thresholds)
            if score > best.score:
                best = GrowthFit(initial, lambda_mm, step * chunk, score, pet_u)
                best_u, best_step = u, step
            if flat.count_at_least(u, self.u_flair) > limit:
                break
        if best_step:
            best = replace(best, u=solver.expand(best_u))
        return best

    def fit(self, case: LoadedCase) -> tuple[GrowthFit, FitContext]:
        """The best (lambda, rho T) snapshot on the coarse grid, and the fit's context."""
        check_inputs(self, case)
        brain = brain_mask(case)
        core, extent = visible_core(case), visible_extent(case)
        return self._fit(case, brain, core, extent)

    def _fit(self, case: LoadedCase, brain: np.ndarray, core: np.ndarray, extent: np.ndarray,
             ) -> tuple[GrowthFit, FitContext]:
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
        fits = []
        for lambda_mm in self.lambdas_mm:
            solver = GrowthSolver(self._diffusivity(context, lambda_mm), spacing)
            context.solvers[lambda_mm] = solver
            fits.append(self._simulate(initial, solver, targets, lambda_mm))
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
        solver = context.solvers.get(fit.lambda_mm)
        if solver is None:
            return simulate_growth(initial, self._diffusivity(context, fit.lambda_mm), 1.0, days,
                                   context.grid.spacing)
        return solver.advance(initial, 1.0, days)  # simulate_growth with the fit's solver

    def _estimate_key(self, case: LoadedCase, brain: np.ndarray, core: np.ndarray,
                      extent: np.ndarray) -> bytes:
        """Digest of everything :meth:`_fit` and :meth:`infiltration` read. Without PET the
        PET variant is the MRI-only model, so both share the key."""
        params = dict(self.params())
        params["use_pet"] = with_pet = self.use_pet and "pet" in case.images
        modality = _tissue_modality(case)
        grid = case.grid
        return input_digest([
            sorted(params.items()), case.case_id, tuple(grid.shape), tuple(grid.spacing),
            np.asarray(grid.affine, dtype=np.float64), brain, core, extent, modality,
            None if modality is None else case.images[modality],
            case.images["pet"] if with_pet else None])

    def _estimate(self, case: LoadedCase, brain: np.ndarray, core: np.ndarray,
                  extent: np.ndarray) -> tuple[np.ndarray, CoarseGrid, tuple[slice, ...]]:
        fit, context = self._fit(case, brain, core, extent)
        return self.infiltration(fit, context), context.grid, context.box

    def predict(self, case: LoadedCase) -> Predictions:
        check_inputs(self, case)
        brain = brain_mask(case)
        core, extent = visible_core(case), visible_extent(case)
        coarse, grid, box = _ESTIMATE.get(self._estimate_key(case, brain, core, extent),
                                          lambda: self._estimate(case, brain, core, extent))
        u = np.zeros(case.grid.shape, dtype=np.float32)
        u[box] = np.clip(grid.upsample(coarse), 0.0, 1.0)
        empty = u < EMPTY_U
        score = u.astype(np.float64)
        if empty.any():
            score[empty] = -_remembered_distance(extent, case.grid.spacing)[empty]
        return Predictions(case_id=case.case_id,
                           outputs={"recurrence": outside_below(score, brain)})
