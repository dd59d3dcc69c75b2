"""Tissue probability map columns: validated like images, loaded onto the case grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from imagination.cohort.loading import load_case
from imagination.cohort.manifest import read_manifest
from imagination.cohort.nifti import write_nifti
from imagination.cohort.validation.run import validate
from tests.cohort.builders import SHAPE, case_row, make_affine, write_cohort


def _tissue(folder: Path, name: str, value: float, shape=SHAPE, affine=None) -> str:  # type: ignore[no-untyped-def]
    write_nifti(folder / name, np.full(shape, value, dtype=np.float32),
                make_affine() if affine is None else affine)
    return name


def test_valid_tissue_maps_load_onto_the_case(tmp_path: Path) -> None:
    row = case_row(tmp_path, "c1", tissue_gm=_tissue(tmp_path, "gm.nii.gz", 0.25),
                   tissue_wm=_tissue(tmp_path, "wm.nii.gz", 0.5))
    manifest = write_cohort(tmp_path, [row])
    assert not validate([manifest]).errors
    loaded = load_case(read_manifest(manifest).cases()[0])
    assert set(loaded.tissues) == {"gm", "wm"}
    assert loaded.tissues["wm"].dtype == np.float32 and float(loaded.tissues["wm"].max()) == 0.5


def test_tissue_map_out_of_range_and_off_grid_are_errors(tmp_path: Path) -> None:
    row = case_row(tmp_path, "c1", tissue_gm=_tissue(tmp_path, "gm.nii.gz", 1.5),
                   tissue_csf=_tissue(tmp_path, "csf.nii.gz", 0.1,
                                      affine=make_affine((2.0, 2.0, 2.0))))
    report = validate([write_cohort(tmp_path, [row])])
    codes = {(p.column, p.code) for p in report.errors}
    assert ("tissue_gm", "tissue_out_of_range") in codes
    assert ("tissue_csf", "grid_mismatch") in codes
