"""Validation that protects the truth: mask codes, files in two roles, orientation, privacy.

One test per kind of problem, each checking the problem names the case, the column and the file.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest

from imagination.cohort.manifest import ManifestMeta
from imagination.cohort.nifti import write_nifti
from imagination.cohort.validation import Problem, validate_manifests

from .builders import SHAPE, case_row, image_array, make_affine, write_cohort
from .test_validation import only


@pytest.fixture
def rows(tmp_path) -> list[dict[str, Any]]:
    return [case_row(tmp_path, "c1"), case_row(tmp_path, "c2", site="site_b")]


def check(tmp_path: Path, rows: list[dict[str, Any]], **kwargs: Any) -> list[Problem]:
    return validate_manifests([write_cohort(tmp_path, rows, **kwargs)])


def add_mask(tmp_path: Path, row: dict[str, Any], name: str, array: np.ndarray) -> Path:
    path = tmp_path / row["case_id"] / f"{name}.nii.gz"
    write_nifti(path, array, make_affine(), dtype=np.uint8)
    row[f"mask_{name}"] = f"{row['case_id']}/{name}.nii.gz"
    return path


def recurrence_array(codes: tuple[int, ...]) -> np.ndarray:
    mask = np.zeros(SHAPE, np.uint8)
    for i, code in enumerate(codes):
        mask[1 + i, 1:3, 1:3] = code
    return mask


def test_recurrence_codes_outside_the_label_map_are_an_error(tmp_path, rows):
    path = add_mask(tmp_path, rows[0], "recurrence", recurrence_array((1, 2, 7)))
    problem = only(check(tmp_path, rows), "unknown_mask_codes")
    assert (problem.case_id, problem.column, problem.file) == ("c1", "mask_recurrence", str(path))
    assert "[7]" in problem.message and "dropped silently" in problem.message


def test_a_multi_code_recurrence_mask_needs_a_label_map(tmp_path, rows):
    for row in rows:
        row.pop("mask_tumor")
    path = add_mask(tmp_path, rows[1], "recurrence", recurrence_array((1, 2)))
    add_mask(tmp_path, rows[0], "recurrence", recurrence_array((1,)))  # binary: fine
    problem = only(check(tmp_path, rows, meta=ManifestMeta()), "missing_label_map")
    assert (problem.case_id, problem.column, problem.file) == ("c2", "mask_recurrence", str(path))


def test_cavity_codes_must_be_one_or_the_label_maps_rc(tmp_path, rows):
    path = add_mask(tmp_path, rows[0], "cavity", recurrence_array((1, 5)))
    problem = only(check(tmp_path, rows), "unknown_mask_codes")
    assert (problem.case_id, problem.column, problem.file) == ("c1", "mask_cavity", str(path))
    assert "[5]" in problem.message
    add_mask(tmp_path, rows[0], "cavity", recurrence_array((1, 4)))  # 4 = RC in brats2024_post
    assert check(tmp_path, rows, meta=ManifestMeta(label_map="brats2024_post")) == []


def test_one_file_in_two_roles_is_an_error(tmp_path, rows):
    rows[0]["mask_recurrence"] = rows[0]["mask_tumor"]  # the truth is the input
    problems = check(tmp_path, rows)
    problem = only([p for p in problems if p.code == "duplicate_file"], "duplicate_file")
    assert (problem.case_id, problem.column) == ("c1", "mask_recurrence")
    assert problem.file == str(tmp_path / rows[0]["mask_tumor"])
    assert "mask_tumor of the same case" in problem.message
    assert "truth" in problem.message
    assert {p.code for p in problems} <= {"duplicate_file", "truth_as_input"}


def test_one_file_in_two_cases_is_an_error_through_links_too(tmp_path, rows):
    os.link(tmp_path / rows[0]["flair"], tmp_path / "c2" / "linked.nii.gz")
    rows[1]["flair"] = "c2/linked.nii.gz"
    problem = only(check(tmp_path, rows), "duplicate_file")
    assert (problem.case_id, problem.column) == ("c2", "flair")
    assert "flair of case c1" in problem.message


def test_a_copy_of_the_tumour_mask_as_recurrence_truth_is_an_error(tmp_path, rows):
    shutil.copy(tmp_path / rows[0]["mask_tumor"], tmp_path / "c1" / "rec.nii.gz")
    rows[0]["mask_recurrence"] = "c1/rec.nii.gz"
    problem = only(check(tmp_path, rows), "truth_as_input")
    assert (problem.case_id, problem.column, problem.file) == (
        "c1", "mask_recurrence", str(tmp_path / "c1" / "rec.nii.gz"))
    assert "mask_tumor" in problem.message


def _rewrite(path: Path, edit) -> None:
    image = nib.load(path)
    new = nib.Nifti1Image(np.asarray(image.dataobj), image.affine, image.header.copy())
    edit(new)
    nib.save(new, path)


@pytest.mark.parametrize("code, edit", [
    ("no_orientation", lambda im: (im.set_qform(None, code=0), im.set_sform(None, code=0))),
    ("qform_sform_mismatch", lambda im: im.set_qform(
        im.affine @ np.array([[1, 0, 0, 2.0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]),
        code=1)),
])
def test_orientation_ambiguities_are_warnings_naming_the_file(tmp_path, rows, code, edit):
    path = tmp_path / rows[1]["flair"]
    _rewrite(path, edit)
    problems = check(tmp_path, rows)
    problem = only([p for p in problems if p.code == code], code)
    assert (problem.case_id, problem.column, problem.file, problem.severity) == (
        "c2", "flair", str(path), "warning")


def test_a_sheared_affine_is_a_warning(tmp_path, rows):
    sheared = make_affine()
    sheared[0, 1] = 0.2
    for column in ("t1c", "flair", "mask_tumor", "mask_brain"):  # one grid, all sheared
        path = tmp_path / rows[0][column]
        data = np.asarray(nib.load(path).dataobj)
        write_nifti(path, data, sheared)
    problems = [p for p in check(tmp_path, rows) if p.case_id == "c1"]
    # a qform cannot hold a shear, so the writer's qform also disagrees with the sform
    assert {p.code for p in problems} == {"sheared_affine", "qform_sform_mismatch"}
    sheared = [p for p in problems if p.code == "sheared_affine"]
    assert {p.column for p in sheared} == {"t1c", "flair", "mask_tumor", "mask_brain"}
    assert all(p.severity == "warning" and "degrees" in p.message for p in sheared)


@pytest.mark.parametrize("column, value, reason", [
    ("case_id", "Doe^John", "person name"),
    ("subject_id", "MRN-12345678", "record number"),
    ("t1c", "c1/t1c_2021-03-04.nii.gz", "a date"),
])
def test_names_dates_and_record_numbers_in_ids_and_file_names_are_warnings(
        tmp_path, rows, column, value, reason):
    if column == "t1c":
        shutil.copy(tmp_path / rows[0]["t1c"], tmp_path / value)
    rows[0][column] = value
    problems = check(tmp_path, rows)
    if column == "case_id":
        problems = [p for p in problems if p.code != "invalid_id"]
    problem = only(problems, "identifying_name")
    assert problem.column == column and problem.severity == "warning"
    assert reason in problem.message and value not in problem.message  # not echoed


def test_public_pseudonyms_are_not_flagged(tmp_path, rows):
    rows[0]["case_id"] = "Patient-001"
    rows[1]["case_id"] = "BraTS2021_00495"
    assert check(tmp_path, rows) == []


def test_images_with_identical_voxels_but_different_roles_are_fine(tmp_path, rows):
    """Only the truth is compared: two inputs may legitimately share voxels."""
    same = image_array(seed=3)
    for column in ("t1c", "flair"):
        write_nifti(tmp_path / rows[0][column], same, make_affine())
    assert check(tmp_path, rows) == []


def test_an_atlas_brain_mask_may_serve_every_case_but_no_other_role(tmp_path, rows):
    rows[1]["mask_brain"] = rows[0]["mask_brain"]  # EGD: one METADATA/Brain_mask for all
    assert check(tmp_path, rows) == []
    rows[1]["mask_tumor"] = rows[0]["mask_brain"]
    problems = [p for p in check(tmp_path, rows) if p.code == "duplicate_file"]
    assert [(p.case_id, p.column) for p in problems] == [("c2", "mask_tumor")]
