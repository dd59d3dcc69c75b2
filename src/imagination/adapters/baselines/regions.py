"""Tumour regions the reference baselines start from, with clear per-case errors."""

from __future__ import annotations

import hashlib

import numpy as np

from imagination.cohort.case import LoadedCase
from imagination.errors import CaseError


def _region_or_empty(case: LoadedCase, region: str) -> np.ndarray:
    if "tumor" not in case.masks:
        raise CaseError("no tumour mask (mask_tumor) to start from", case_id=case.case_id,
                        column="mask_tumor", code="missing_mask")
    if case.case.label_map is None or not case.case.label_map.codes_of(region):
        return np.zeros(case.grid.shape, dtype=bool)
    return case.region(region)


def cavity(case: LoadedCase) -> np.ndarray:
    """Resection cavity: label RC of the tumour mask, or the separate ``cavity`` mask."""
    out = _region_or_empty(case, "RC")
    if "cavity" in case.masks:
        out = out | (case.masks["cavity"] > 0)
    return out


def treated_core(case: LoadedCase) -> np.ndarray:
    """The region the standard plan expands (ESTRO-EANO 2023).

    Tumour core (ET + NETC) plus any resection cavity (label RC or the ``cavity`` mask): the
    pre-operative core, or after surgery the cavity plus residual core. This is the core the
    engine's standard plan uses (``engine/recurrence_scoring.py``), so the top-|plan| voxels
    of ``margin-15mm`` are exactly that plan.
    """
    core = _region_or_empty(case, "TC") | cavity(case)
    if not core.any():
        raise CaseError("tumour mask has no core (ET, NETC) and no cavity to expand",
                        case_id=case.case_id, column="mask_tumor", code="empty_core")
    return core


def visible_core(case: LoadedCase) -> np.ndarray:
    """T1c-visible core for growth fitting: ET + NETC; the cavity only when no core is left."""
    core = _region_or_empty(case, "TC")
    return core if core.any() else cavity(case)


def visible_extent(case: LoadedCase) -> np.ndarray:
    """FLAIR-visible extent for growth fitting: ET + NETC + SNFH and the fitted core."""
    return _region_or_empty(case, "WT") | visible_core(case)


def brain_mask(case: LoadedCase) -> np.ndarray:
    """The case's brain mask; an empty one fails the case."""
    brain = case.brain()
    if not brain.any():
        raise CaseError("brain mask is empty", case_id=case.case_id, column="mask_brain",
                        code="empty_brain")
    return brain


def case_seed(seed: int, case_id: str, salt: str = "") -> int:
    """A stable 64-bit seed from a run seed and a case id (independent of ``PYTHONHASHSEED``)."""
    digest = hashlib.sha256(f"{seed}:{salt}:{case_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def distance_mm(region: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    """Euclidean distance (mm, voxel spacing honoured) of every voxel to ``region`` (0 inside)."""
    from scipy.ndimage import distance_transform_edt

    return np.asarray(distance_transform_edt(~region, sampling=spacing), dtype=np.float64)


def depth_mm(mask: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    """Distance (mm) of every voxel of ``mask`` to the nearest voxel outside it (0 outside):
    ``distance_mm(~mask)``, computed in the mask's bounding box grown by one voxel (that ring
    lies outside the mask and is nearer to any voxel inside than anything beyond it)."""
    from scipy.ndimage import distance_transform_edt

    from imagination.metrics.segmentation import union_box

    out = np.zeros(mask.shape, dtype=np.float64)
    box = union_box(mask)
    if box is not None:
        out[box] = distance_transform_edt(mask[box], sampling=spacing)
    return out


def outside_below(score: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """float32 copy of ``score`` whose voxels outside ``brain`` rank below every brain voxel."""
    out = np.asarray(score, dtype=np.float32).copy()
    floor = float(out[brain].min()) if brain.any() else 0.0
    out[~brain] = floor - 1.0
    return out
