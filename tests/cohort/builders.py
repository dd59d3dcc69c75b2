"""Small builders of NIfTI files and manifests for tests (tiny arrays, written in a tmp folder).

Reuse from other test packages with ``from cohort.builders import write_cohort`` (``tests/`` is
on ``sys.path`` under pytest's default import mode).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from imagination.cohort.manifest import ManifestMeta, write_manifest
from imagination.cohort.nifti import write_nifti

SHAPE: tuple[int, int, int] = (10, 9, 7)


def make_affine(spacing: Sequence[float] = (1.0, 1.0, 1.0),
                origin: Sequence[float] = (0.0, 0.0, 0.0)) -> np.ndarray:
    """A RAS+ affine with the given voxel size and origin."""
    affine = np.diag([*map(float, spacing), 1.0])
    affine[:3, 3] = origin
    return affine


def image_array(shape: Sequence[int] = SHAPE, seed: int = 0) -> np.ndarray:
    """A smooth positive float32 volume (distinct per seed)."""
    rng = np.random.default_rng(seed)
    return (rng.random(tuple(shape)) * 100 + 10).astype(np.float32)


def tumour_array(shape: Sequence[int] = SHAPE, *, netc: int = 1, snfh: int = 2,
                 et: int = 4) -> np.ndarray:
    """A segmentation of nested cubes around the centre: SNFH (half-width 3), NETC (2), ET (1).

    Default codes are BraTS 2021's; the cubes hold 7³, 5³ and 3³ voxels (WT 343, TC 125, ET 27).
    """
    seg = np.zeros(tuple(shape), dtype=np.uint8)
    centre = [s // 2 for s in shape]
    for code, half in ((snfh, 3), (netc, 2), (et, 1)):
        seg[tuple(slice(c - half, c + half + 1) for c in centre)] = code
    return seg


def brain_array(shape: Sequence[int] = SHAPE) -> np.ndarray:
    mask = np.zeros(tuple(shape), dtype=np.uint8)
    mask[1:-1, 1:-1, 1:-1] = 1
    return mask


def write_image(path: Path, array: np.ndarray | None = None, *,
                affine: np.ndarray | None = None, seed: int = 0,
                dtype: Any = None) -> Path:
    data = image_array(seed=seed) if array is None else array
    return write_nifti(path, data, make_affine() if affine is None else affine, dtype=dtype)


def write_case(folder: Path, case_id: str, *, modalities: Iterable[str] = ("t1c", "flair"),
               masks: Iterable[str] = ("tumor", "brain"), shape: Sequence[int] = SHAPE,
               affine: np.ndarray | None = None) -> dict[str, str]:
    """Write one consistent case under ``folder/case_id``; return its path cells (relative)."""
    affine = make_affine() if affine is None else affine
    cells: dict[str, str] = {}
    for seed, modality in enumerate(modalities):
        rel = f"{case_id}/{modality}.nii.gz"
        write_nifti(folder / rel, image_array(shape, seed), affine)
        cells[modality] = rel
    for mask in masks:
        rel = f"{case_id}/mask_{mask}.nii.gz"
        array = tumour_array(shape) if mask == "tumor" else brain_array(shape)
        write_nifti(folder / rel, array, affine, dtype=np.uint8)
        cells[f"mask_{mask}"] = rel
    return cells


def case_row(folder: Path, case_id: str, *, subject_id: str | None = None, site: str = "site_a",
             **columns: Any) -> dict[str, Any]:
    """A valid manifest row whose files are written under ``folder``; ``columns`` override."""
    row: dict[str, Any] = {"case_id": case_id, "subject_id": subject_id or f"sub-{case_id}",
                           "site": site, "idh": "wildtype", "age": 61, "sex": "F"}
    row.update(write_case(folder, case_id))
    row.update(columns)
    return row


def write_cohort(folder: Path, rows: Iterable[Mapping[str, Any]], *, name: str = "cohort.csv",
                 meta: ManifestMeta | None = None) -> Path:
    """Write a manifest (form by suffix) in ``folder``; default metadata: BraTS 2021 labels."""
    meta = meta or ManifestMeta(label_map="brats2021")
    return write_manifest(folder / name, list(rows), meta)
