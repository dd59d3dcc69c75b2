"""Recurrence coverage of radiotherapy target plans (the PREDICT-GBM protocol).

* Standard plan: voxels within ``margin_mm`` (Euclidean, in mm, honouring the spacing; ``<=``)
  of the pre-operative tumour core, clipped to the brain.
* Model plan: the k highest-scoring brain voxels of the model's map, k = |standard plan|
  (iso-volumetric). Voxels tied at the cut are taken by distance from the model's region
  (the voxels scoring above the cut), nearest first, in mm; equal distances go as
  PREDICT-GBM's ``topk_plan`` (stable ascending sort, last k: the larger C-order flat index).
  So a sparse or binary map with fewer positive voxels than k keeps its region and grows it
  contiguously by distance (PREDICT-GBM's distance fade, 1 − d/d_max, orders the same voxels;
  here d is in mm, honouring the spacing). A constant map has no region: last k by index.
* Coverage of a plan: |recurrence ∩ plan| / |recurrence|.

Inputs: ``recurrence`` is the all-recurrence mask (nonzero = recurrence: NETC + SNFH + ET at
follow-up, resection cavity excluded, as PREDICT-GBM); ``enhancing`` the optional
enhancing-recurrence mask. Recurrence is not clipped to the brain (out-of-brain voxels count as
missed by both plans). The declared edge cases are in ``EDGE_CASE_POLICY``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.ndimage import distance_transform_edt

from imagination.errors import InputError
from imagination.metrics.ranking import binary_auroc

EDGE_CASE_POLICY = (
    "no recurrence: coverage 1 for every plan (PREDICT-GBM), gain 0, missed 0 ml, voxel AUROC "
    "and pattern NaN; empty tumour core: empty standard plan, k = 0, empty model plan; "
    "k larger than the brain: the model plan is the whole brain; NaN scores: input error"
)
#: Pattern classes by the share of recurrence inside the standard plan (geometric analogue of
#: the dose-based rule: >= 80 % local, 20–80 % marginal, < 20 % distant).
LOCAL_MIN, MARGINAL_MIN = 0.8, 0.2


def _as_mask(array: np.ndarray, name: str, shape: tuple[int, ...] | None) -> np.ndarray:
    mask = np.asarray(array)
    if shape is not None and mask.shape != shape:
        raise InputError(f"{name} has shape {mask.shape}, expected {shape} (the score map grid)")
    return mask.astype(bool, copy=False) if mask.dtype == bool else mask != 0


def _spacing(spacing: Sequence[float], ndim: int) -> np.ndarray:
    sp = np.asarray(spacing, dtype=np.float64)
    if sp.shape != (ndim,) or np.any(~np.isfinite(sp)) or np.any(sp <= 0):
        raise InputError(f"spacing must be {ndim} positive numbers (mm), got {list(spacing)}")
    return sp


def standard_plan(core: np.ndarray, brain: np.ndarray, spacing: Sequence[float],
                  margin_mm: float = 15.0) -> np.ndarray:
    """Boolean plan: brain voxels within ``margin_mm`` of the tumour core (empty without core)."""
    core_mask = _as_mask(core, "tumour core", None)
    brain_mask = _as_mask(brain, "brain mask", core_mask.shape)
    sp = _spacing(spacing, core_mask.ndim)
    if margin_mm < 0:
        raise InputError(f"margin must be >= 0 mm, got {margin_mm}")
    plan = np.zeros(core_mask.shape, dtype=bool)
    if not core_mask.any():
        return plan
    # Crop to the core's bounding box grown by the margin: exact, and far cheaper than a
    # distance transform of the whole volume.
    slices = []
    for axis in range(core_mask.ndim):
        others = tuple(a for a in range(core_mask.ndim) if a != axis)
        hit = np.flatnonzero(core_mask.any(axis=others))
        grow = int(np.ceil(margin_mm / sp[axis])) + 1
        slices.append(slice(max(int(hit[0]) - grow, 0), int(hit[-1]) + grow + 1))
    box = tuple(slices)
    distance = distance_transform_edt(~core_mask[box], sampling=sp)
    plan[box] = distance <= margin_mm
    plan &= brain_mask
    return plan


def isovolumetric_plan(score_map: np.ndarray, brain: np.ndarray, k: int,
                       spacing: Sequence[float] | None = None) -> np.ndarray:
    """Boolean plan of the ``k`` highest-scoring brain voxels; ties at the cut filled by
    distance (mm, ``spacing``; default 1 mm) from the voxels above it (see the module)."""
    scores = np.asarray(score_map)
    brain_mask = _as_mask(brain, "brain mask", scores.shape)
    if k < 0:
        raise InputError(f"plan size k must be >= 0, got {k}")
    plan = np.zeros(scores.shape, dtype=bool)
    candidates = np.flatnonzero(brain_mask)
    values = scores.ravel()[candidates]
    if not np.all(np.isfinite(values)):
        raise InputError("the score map has NaN or infinite values inside the brain")
    if k == 0 or candidates.size == 0:
        return plan
    if k >= candidates.size:
        plan.ravel()[candidates] = True
        return plan
    cut = np.partition(values, candidates.size - k)[candidates.size - k]
    above = values > cut
    tied = np.flatnonzero(values == cut)
    needed = k - int(np.count_nonzero(above))
    plan.ravel()[candidates[above]] = True
    if needed < tied.size and above.any():  # a plateau at the cut: nearest to the region
        sp = (1.0,) * scores.ndim if spacing is None else _spacing(spacing, scores.ndim)
        distance = distance_transform_edt(~plan, sampling=sp).ravel()[candidates[tied]]
        # nearest first; among equal distances the larger flat index (stable sort, last k)
        order = np.lexsort((-candidates[tied], distance))
        tied = np.sort(tied[order[:needed]])
    else:
        tied = tied[tied.size - needed:]
    plan.ravel()[candidates[tied]] = True
    return plan


def coverage(recurrence: np.ndarray, plan: np.ndarray) -> float:
    """|recurrence ∩ plan| / |recurrence|; 1 when there is no recurrence (PREDICT-GBM)."""
    total = np.count_nonzero(recurrence)
    return 1.0 if total == 0 else float(np.count_nonzero(recurrence & plan) / total)


def pattern_class(fraction_in_standard: float) -> str:
    """``local`` (>= 80 %), ``marginal`` (20–80 %), ``distant`` (< 20 %) or ``none`` (NaN)."""
    if np.isnan(fraction_in_standard):
        return "none"
    if fraction_in_standard >= LOCAL_MIN:
        return "local"
    return "marginal" if fraction_in_standard >= MARGINAL_MIN else "distant"


def recurrence_case_metrics(
    score_map: np.ndarray, recurrence: np.ndarray, tumour_core: np.ndarray, brain: np.ndarray,
    spacing: Sequence[float], *, margin_mm: float = 15.0, enhancing_mask: np.ndarray | None = None,
    standard: np.ndarray | None = None,
) -> dict[str, float]:
    """All per-case recurrence metrics (keys = registry metric names). The pattern is given
    as 0/1 indicators ``pattern_local|marginal|distant`` (their mean over cases is the share of
    each class) plus ``fraction_in_standard``; all NaN without recurrence. ``standard`` passes a
    precomputed standard plan of the case (scoring many maps of one case)."""
    scores = np.asarray(score_map)
    if scores.ndim != 3:
        raise InputError(f"the score map must be a 3-D volume, got shape {scores.shape}")
    rec = _as_mask(recurrence, "recurrence mask", scores.shape)
    core = _as_mask(tumour_core, "tumour core mask", scores.shape)
    brain_mask = _as_mask(brain, "brain mask", scores.shape)
    sp = _spacing(spacing, 3)
    voxel_ml = float(np.prod(sp)) / 1000.0

    # ``standard``: the case's standard plan if the caller already has it (it depends on the
    # case only, not on the model); it must equal standard_plan(core, brain, spacing, margin)
    std = (standard_plan(core, brain_mask, sp, margin_mm) if standard is None
           else _as_mask(standard, "standard plan", scores.shape))
    model = isovolumetric_plan(scores, brain_mask, int(np.count_nonzero(std)), sp)
    n_rec = int(np.count_nonzero(rec))
    out: dict[str, float] = {
        "coverage_all_model": coverage(rec, model),
        "coverage_all_standard": coverage(rec, std),
    }
    out["coverage_gain_all"] = out["coverage_all_model"] - out["coverage_all_standard"]
    if enhancing_mask is not None:
        enh = _as_mask(enhancing_mask, "enhancing recurrence mask", scores.shape)
        out["coverage_enhancing_model"] = coverage(enh, model)
        out["coverage_enhancing_standard"] = coverage(enh, std)
        out["coverage_gain_enhancing"] = (
            out["coverage_enhancing_model"] - out["coverage_enhancing_standard"]
        )
    out["missed_ml_model"] = float(np.count_nonzero(rec & ~model) * voxel_ml)
    out["missed_ml_standard"] = float(np.count_nonzero(rec & ~std) * voxel_ml)
    out["recurrence_ml"] = n_rec * voxel_ml
    out["plan_ml"] = float(np.count_nonzero(std)) * voxel_ml
    out["voxel_auroc"] = binary_auroc(rec[brain_mask], scores[brain_mask])
    fraction = np.count_nonzero(rec & std) / n_rec if n_rec else float("nan")
    out["fraction_in_standard"] = float(fraction)
    kind = pattern_class(fraction)
    for name in ("local", "marginal", "distant"):
        out[f"pattern_{name}"] = float("nan") if kind == "none" else float(kind == name)
    return out
