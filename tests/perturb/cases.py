"""Tiny in-memory cases for perturbation tests (24 × 24 × 16 voxels unless told)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from imagination.cohort.case import Case, Grid, LoadedCase
from imagination.cohort.labelmap import LabelMap

SHAPE: tuple[int, int, int] = (24, 24, 16)
SPACING: tuple[float, float, float] = (1.0, 1.0, 1.5)


def affine(spacing: Sequence[float] = SPACING, origin: Sequence[float] = (-12, -12, -12),
           ) -> np.ndarray:
    a = np.diag([*map(float, spacing), 1.0])
    a[:3, 3] = origin
    return a


def radius_mm(shape: Sequence[int], spacing: Sequence[float],
              centre: Sequence[float] | None = None) -> np.ndarray:
    """Distance (mm) of every voxel centre from ``centre`` (voxel units; default the middle)."""
    c = [(s - 1) / 2 for s in shape] if centre is None else centre
    axes = np.meshgrid(*[(np.arange(n) - ci) * sp for n, ci, sp in zip(shape, c, spacing,
                                                                       strict=True)],
                       indexing="ij")
    return np.sqrt(sum(a**2 for a in axes))


def make_case(modalities: Sequence[str] = ("t1", "t1c", "flair", "pet"), *,
              shape: Sequence[int] = SHAPE, spacing: Sequence[float] = SPACING,
              seed: int = 0, reference: str | None = "t1c", with_brain: bool = True,
              case_id: str = "case-1") -> LoadedCase:
    """An ellipsoidal 'brain' with textured, positive images, a bright lesion and a nested
    tumour segmentation (BraTS 2021 codes: SNFH 2 outside, NETC 1, ET 4 at the centre)."""
    shape = tuple(shape)
    rng = np.random.default_rng(seed)
    r = radius_mm(shape, spacing)
    brain = r < 0.45 * min(n * s for n, s in zip(shape, spacing, strict=True))
    lesion = radius_mm(shape, spacing, [s / 2 for s in shape])
    images = {}
    for i, m in enumerate(modalities):
        texture = 100 + 30 * rng.random(shape) + 40 * np.exp(-(lesion / 3.0) ** 2) * (1 + i)
        images[m] = np.where(brain, texture, 0).astype(np.float32)
    seg = np.zeros(shape, dtype=np.uint8)
    seg[lesion < 5] = 2
    seg[lesion < 3] = 1
    seg[lesion < 1.6] = 4
    masks = {"tumor": seg}
    if with_brain:
        masks["brain"] = brain.astype(np.uint8)
    record = Case(case_id, "subject-1", "site-a", images=dict.fromkeys(images),  # type: ignore[arg-type]
                  masks=dict.fromkeys(masks),  # type: ignore[arg-type]
                  label_map=LabelMap.from_spec("brats2021"), reference=reference)
    return LoadedCase(record, Grid(shape, affine(spacing)), images, masks)
