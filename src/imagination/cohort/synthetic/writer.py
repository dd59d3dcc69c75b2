"""Files of a synthetic cohort: per-case NIfTI, ``manifest.csv`` + side file, ``truth.json``.

Layout: ``cases/<case_id>/<case_id>_{t1,t1c,t2,flair,adc,pet,seg,brain,gm,wm,csf,recurrence,
cavity}.nii.gz`` (``gm``/``wm``/``csf``: tissue probability maps, columns ``tissue_*``)
and ``truth/<case_id>_density.nii.gz`` (true pre-operative cell density, not in the manifest).
``truth.json``: ``generator`` (version, arguments, label and recurrence codes), ``sites`` (every
scanner parameter and case mix) and ``cases`` (per case: ``parameters`` as drawn, ``seeds``,
``occult_foci``, ``growth_days``, ``volumes_ml``, ``density`` path and ``followup``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from imagination.cohort.case import Grid
from imagination.cohort.manifest import ManifestMeta, atomic_write_text, write_manifest
from imagination.cohort.nifti import write_nifti

MANIFEST_NAME = "manifest.csv"
TRUTH_NAME = "truth.json"
INT16_MAX = np.iinfo(np.int16).max


def case_folder(case_id: str) -> str:
    return f"cases/{case_id}"


def write_image(out_dir: Path, relative: str, image: np.ndarray, grid: Grid,
                dtype: type = np.int16) -> str:
    """Write an image; integer types are rounded and clipped to their range."""
    data = image
    if np.issubdtype(np.dtype(dtype), np.integer):
        data = np.clip(np.rint(image), 0, INT16_MAX if dtype is np.int16 else None)
    write_nifti(out_dir / relative, data, np.asarray(grid.affine), dtype=dtype)
    return relative


def write_mask(out_dir: Path, relative: str, mask: np.ndarray, grid: Grid) -> str:
    write_nifti(out_dir / relative, mask.astype(np.uint8), np.asarray(grid.affine),
                dtype=np.uint8)
    return relative


def manifest_meta() -> ManifestMeta:
    """Label map BraTS 2024 post-treatment, PET resampled, T1c the reference grid."""
    return ManifestMeta(name="imagination synthetic glioma cohort", label_map="brats2024_post",
                        resample=["pet"], reference="t1c")


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, Mapping):
        return {str(k): _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    if isinstance(value, np.generic):
        return _rounded(value.item())
    return value


def write_cohort_index(out_dir: Path, rows: list[dict[str, Any]], truth: dict[str, Any]) -> Path:
    """Write ``manifest.csv`` (+ ``manifest.meta.yaml``) and ``truth.json``; return the manifest."""
    manifest = write_manifest(out_dir / MANIFEST_NAME, rows, manifest_meta())
    atomic_write_text(out_dir / TRUTH_NAME,
                      json.dumps(_rounded(truth), indent=1, sort_keys=True) + "\n")
    return manifest
