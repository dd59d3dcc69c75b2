"""Tiny in-memory cases: a spherical 'brain' with tissue shells and a tumour, on a 2 mm grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from imagination.cohort.case import Case, Grid, LoadedCase
from imagination.cohort.labelmap import LabelMap

SHAPE = (36, 36, 30)
SPACING = (2.0, 2.0, 2.0)


def build_case(case_id: str = "c1", *, subject_id: str | None = None, site: str = "A",
               shape: tuple[int, int, int] = SHAPE,
               spacing: tuple[float, float, float] = SPACING,
               centre_mm: tuple[float, float, float] = (40.0, 36.0, 30.0),
               core_radius_mm: float = 6.0, edema_radius_mm: float = 12.0,
               cavity: bool = False, enhancing: bool = True, pet: bool = True,
               age: float | None = 55.0,
               labels: dict[str, str | None] | None = None,
               seed: int = 0) -> LoadedCase:
    """A loaded case with t1, t1c, t2, flair (and pet), brain and tumour masks."""
    rng = np.random.default_rng(seed)
    affine = np.diag([*spacing, 1.0])
    grid = Grid(shape, affine)
    coords = np.stack(np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing, strict=True)],
                                  indexing="ij"), axis=-1)
    brain_centre = np.array([(n - 1) * s / 2 for n, s in zip(shape, spacing, strict=True)])
    r_brain = np.linalg.norm(coords - brain_centre, axis=-1)
    brain = r_brain <= 0.45 * min(n * s for n, s in zip(shape, spacing, strict=True))
    outer = r_brain > 0.35 * min(n * s for n, s in zip(shape, spacing, strict=True))
    ventricle = r_brain < 6.0
    r_tumour = np.linalg.norm(coords - np.asarray(centre_mm), axis=-1)
    tumour = np.zeros(shape, dtype=np.int16)
    tumour[(r_tumour <= edema_radius_mm) & brain] = 2  # SNFH
    tumour[(r_tumour <= core_radius_mm) & brain] = 3 if enhancing else 1  # ET or NETC
    tumour[(r_tumour <= core_radius_mm / 2) & brain] = 4 if cavity else 1  # RC or NETC
    t1 = np.where(brain, np.where(outer, 0.6, 1.0), 0.0).astype(np.float32)
    t1[ventricle] = 0.2
    t1 += rng.normal(0, 0.02, shape).astype(np.float32) * brain
    t2 = np.where(brain, 1.0, 0.0).astype(np.float32) + rng.normal(0, 0.05, shape) * brain
    t2[tumour > 0] += 2.0
    flair = np.where(brain, 1.0, 0.0).astype(np.float32) + rng.normal(0, 0.05, shape) * brain
    flair[tumour > 0] += 2.0
    t1c = t1.copy()
    t1c[tumour == 3] += 1.0
    images = {"t1": t1, "t1c": t1c, "t2": t2.astype(np.float32),
              "flair": flair.astype(np.float32)}
    if pet:
        uptake = np.exp(-np.maximum(r_tumour - core_radius_mm, 0) / 8.0)
        images["pet"] = (brain * (1.0 + 2.0 * uptake)).astype(np.float32)
    case = Case(case_id=case_id, subject_id=subject_id or case_id, site=site,
                images={m: Path(f"/nonexistent/{m}.nii.gz")
                        for m in images},
                labels=dict(labels or {}), covariates={"age": age},
                label_map=LabelMap.from_spec("brats2024_post"))
    return LoadedCase(case=case, grid=grid, images=images,
                      masks={"tumor": tumour, "brain": brain.astype(np.uint8)})





