"""Benchmark of the cohort layer on one BraTS-size case (not a test; prints a table).

Writes a 240×240×155 case at 1 mm (t1, t1c, t2, flair as int16, a tumour mask) plus a PET on a
2 mm grid (120×120×78, float32) into a temporary folder, then times ``load_case`` (with and
without the PET resampling) and ``validate_manifests`` on its manifest. Medians of 3 calls after
one warm-up; compare with the nibabel read figures of shared/research/perf.md.

Run: .venv/bin/python scripts/bench_cohort_loading.py
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from imagination.cohort.loading import load_case
from imagination.cohort.manifest import ManifestMeta, read_manifest, write_manifest
from imagination.cohort.nifti import write_nifti
from imagination.cohort.validation import validate_manifests

SHAPE = (240, 240, 155)


def bench(fn: Callable[[], Any], n: int = 3) -> float:
    fn()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def write_case(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    affine = np.diag([-1.0, -1.0, 1.0, 1.0])  # LPS-stored, as BraTS files are
    affine[:3, 3] = (239.0, 239.0, 0.0)
    row: dict[str, Any] = {"case_id": "c1", "subject_id": "s1", "site": "a"}
    for seed, modality in enumerate(("t1", "t1c", "t2", "flair")):
        data = (rng.normal(500 + 100 * seed, 50, SHAPE)).astype(np.int16)
        row[modality] = write_nifti(folder / f"{modality}.nii.gz", data, affine).name
    seg = np.zeros(SHAPE, np.uint8)
    seg[100:140, 100:140, 60:90] = 2
    seg[110:130, 110:130, 70:80] = 4
    row["mask_tumor"] = write_nifti(folder / "seg.nii.gz", seg, affine).name
    pet_affine = np.diag([2.0, 2.0, 2.0, 1.0])
    pet_affine[:3, 3] = (0.5, 0.5, -0.5)
    pet = rng.random((120, 120, 78)).astype(np.float32)
    row["pet"] = write_nifti(folder / "pet.nii.gz", pet, pet_affine).name
    meta = ManifestMeta(label_map="brats2021", resample=["pet"])
    return write_manifest(folder / "cohort.csv", [row], meta)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        manifest = write_case(Path(tmp))
        case = read_manifest(manifest).cases()[0]
        mri_only = type(case)(**{**case.__dict__,
                                 "images": {k: v for k, v in case.images.items() if k != "pet"}})
        rows = [
            ("load_case, 4 MRI + mask", bench(lambda: load_case(mri_only))),
            ("load_case, 4 MRI + mask + PET resampled", bench(lambda: load_case(case))),
            ("validate_manifests (reads every voxel)",
             bench(lambda: validate_manifests([manifest]))),
        ]
    print(f"{'what':45} {'s (median of 3)':>16}")
    for name, seconds in rows:
        print(f"{name:45} {seconds:16.3f}")


if __name__ == "__main__":
    main()
