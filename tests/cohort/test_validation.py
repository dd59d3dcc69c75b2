"""Validation: one test per kind of problem, each built in a temporary folder.

Every test checks that the problem names the case, the column and the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest

from imagination.cohort.manifest import ManifestMeta, write_manifest
from imagination.cohort.nifti import write_nifti
from imagination.cohort.validation import CODES, Problem, validate_manifests

from .builders import case_row, image_array, make_affine, tumour_array, write_cohort


@pytest.fixture
def rows(tmp_path) -> list[dict[str, Any]]:
    """Two valid cases, c1 at site_a and c2 at site_b, files under ``tmp_path``."""
    return [case_row(tmp_path, "c1"), case_row(tmp_path, "c2", site="site_b")]


def check(tmp_path: Path, rows: list[dict[str, Any]], *, meta: ManifestMeta | None = None,
          **kwargs: Any) -> list[Problem]:
    return validate_manifests([write_cohort(tmp_path, rows, meta=meta)], **kwargs)


def only(problems: list[Problem], code: str) -> Problem:
    """The single problem with ``code``; fails if there is another kind or none."""
    assert {p.code for p in problems} == {code}, [str(p) for p in problems]
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def assert_names(problem: Problem, case_id: str | None, column: str, file: Path | str) -> None:
    assert (problem.case_id, problem.column, problem.file) == (case_id, column, str(file))
    text = str(problem)
    assert column in text and str(file) in text
    if case_id:
        assert f"case {case_id}" in text
    assert problem.code in CODES


def test_a_clean_cohort_has_no_problem(tmp_path, rows):
    assert check(tmp_path, rows) == []


def test_missing_file(tmp_path, rows):
    rows[0]["t1c"] = "c1/absent.nii.gz"
    problem = only(check(tmp_path, rows), "missing_file")
    assert_names(problem, "c1", "t1c", tmp_path / "c1/absent.nii.gz")
    assert "not found" in problem.message


def test_unreadable_file_a_folder(tmp_path, rows):
    rows[0]["flair"] = "c1"
    assert_names(only(check(tmp_path, rows), "unreadable_file"), "c1", "flair", tmp_path / "c1")


def test_not_nifti(tmp_path, rows):
    (tmp_path / "c1/flair.nii.gz").write_text("patient list, not an image")
    problem = only(check(tmp_path, rows), "not_nifti")
    assert_names(problem, "c1", "flair", tmp_path / "c1/flair.nii.gz")


def test_truncated_gzip(tmp_path, rows):
    path = tmp_path / "c2/t1c.nii.gz"
    payload = path.read_bytes()
    path.write_bytes(payload[: len(payload) - 200])
    assert_names(only(check(tmp_path, rows), "truncated_gzip"), "c2", "t1c", path)


def test_truncated_plain_nifti(tmp_path, rows):
    path = write_nifti(tmp_path / "c2/t2.nii", image_array(), make_affine())
    path.write_bytes(path.read_bytes()[:1000])
    rows[1]["t2"] = "c2/t2.nii"
    assert_names(only(check(tmp_path, rows), "truncated_file"), "c2", "t2", path)


def test_not_3d(tmp_path, rows):
    path = write_nifti(tmp_path / "c1/flair.nii.gz", np.zeros((10, 9, 7, 3)), make_affine())
    problem = only(check(tmp_path, rows), "not_3d")
    assert_names(problem, "c1", "flair", path)
    assert "4-D" in problem.message


def test_grid_mismatch_names_the_property_and_amount(tmp_path, rows):
    path = write_nifti(tmp_path / "c1/flair.nii.gz", image_array(),
                       make_affine(origin=(0.0, 0.0, 3.0)))
    problem = only(check(tmp_path, rows), "grid_mismatch")
    assert_names(problem, "c1", "flair", path)
    assert "t1c" in problem.message and "origin" in problem.message and "3 mm" in problem.message


def test_declared_resample_is_not_a_grid_mismatch(tmp_path, rows):
    write_nifti(tmp_path / "c1/pet.nii.gz", image_array((5, 5, 4)), make_affine((2, 2, 2)))
    rows[0]["pet"] = "c1/pet.nii.gz"
    meta = ManifestMeta(label_map="brats2021", resample=["pet"])
    assert check(tmp_path, rows, meta=meta) == []
    assert only(check(tmp_path, rows), "grid_mismatch").column == "pet"


@pytest.mark.parametrize("value", [np.nan, -np.inf])
def test_nonfinite_voxels(tmp_path, rows, value):
    data = image_array()
    data[2, 2, 2] = value
    path = write_nifti(tmp_path / "c2/flair.nii.gz", data, make_affine())
    assert_names(only(check(tmp_path, rows), "nonfinite_voxels"), "c2", "flair", path)


def test_empty_tumour_mask_is_an_error(tmp_path, rows):
    path = write_nifti(tmp_path / "c1/mask_tumor.nii.gz", np.zeros((10, 9, 7)), make_affine(),
                       dtype=np.uint8)
    problem = only(check(tmp_path, rows), "empty_mask")
    assert_names(problem, "c1", "mask_tumor", path)
    assert problem.severity == "error"


def test_empty_recurrence_mask_is_only_a_warning(tmp_path, rows):
    write_nifti(tmp_path / "c1/rec.nii.gz", np.zeros((10, 9, 7)), make_affine(), dtype=np.uint8)
    rows[0]["mask_recurrence"] = "c1/rec.nii.gz"
    assert only(check(tmp_path, rows), "empty_mask").severity == "warning"


def test_mask_codes_missing_from_the_label_map(tmp_path, rows):
    path = write_nifti(tmp_path / "c2/mask_tumor.nii.gz", tumour_array(et=3), make_affine(),
                       dtype=np.uint8)
    problem = only(check(tmp_path, rows), "unknown_mask_codes")
    assert_names(problem, "c2", "mask_tumor", path)
    assert "[3]" in problem.message and "4=ET" in problem.message


def test_negative_and_fractional_mask_values(tmp_path, rows):
    seg = tumour_array().astype(np.int16)
    seg[0, 0, 0] = -1
    write_nifti(tmp_path / "c1/mask_tumor.nii.gz", seg, make_affine())
    frac = tumour_array().astype(np.float32) * 0.5
    write_nifti(tmp_path / "c2/mask_brain.nii.gz", frac, make_affine())
    codes = {(p.case_id, p.column, p.code) for p in check(tmp_path, rows)}
    assert codes == {("c1", "mask_tumor", "negative_mask_codes"),
                     ("c2", "mask_brain", "non_integer_mask")}


def test_tumour_mask_without_label_map(tmp_path, rows):
    problems = check(tmp_path, rows, meta=ManifestMeta())
    assert {p.code for p in problems} == {"missing_label_map"}
    assert_names(problems[0], "c1", "mask_tumor", tmp_path / "c1/mask_tumor.nii.gz")


def test_label_outside_the_vocabulary(tmp_path, rows):
    rows[1]["idh"] = "positive"
    problem = only(check(tmp_path, rows), "label_not_in_vocabulary")
    assert_names(problem, "c2", "idh", tmp_path / "cohort.csv")
    assert "'positive'" in problem.message and "mutant" in problem.message


def test_declared_vocabulary_replaces_the_default(tmp_path, rows):
    rows[0]["grade"] = "low"
    rows[1]["grade"] = "2"
    meta = ManifestMeta(label_map="brats2021", vocabularies={"grade": ["low", "high"]})
    problem = only(check(tmp_path, rows, meta=meta), "label_not_in_vocabulary")
    assert (problem.case_id, problem.column) == ("c2", "grade")


def test_duplicate_case_id(tmp_path, rows):
    rows[1]["case_id"] = "c1"
    problem = only(check(tmp_path, rows), "duplicate_case_id")
    assert_names(problem, "c1", "case_id", tmp_path / "cohort.csv")
    assert "row 2 of cohort.csv is already used by case c1 (row 1 of cohort.csv)" in (
        problem.message)


def test_one_subject_under_two_sites(tmp_path, rows):
    rows[1]["subject_id"] = "sub-c1"
    problem = only(check(tmp_path, rows), "subject_multiple_sites")
    assert_names(problem, "c2", "site", tmp_path / "cohort.csv")
    assert "site_b" in problem.message and "site_a" in problem.message


def test_two_timepoints_of_one_subject_at_one_site_are_fine(tmp_path, rows):
    rows[1].update(subject_id="sub-c1", site="site_a")
    assert check(tmp_path, rows) == []


def test_subject_in_two_manifests_validated_together(tmp_path, rows):
    first = write_cohort(tmp_path, rows[:1], name="train.csv")
    second = write_cohort(tmp_path, [{**rows[1], "subject_id": "sub-c1"}], name="test.csv")
    problem = only(validate_manifests([first, second]), "subject_in_several_manifests")
    assert_names(problem, "c2", "subject_id", second)
    assert "case c1 (row 1 of train.csv)" in problem.message


def test_subject_linked_through_an_alias(tmp_path, rows):
    first = write_cohort(tmp_path, rows[:1], name="brats.csv")
    other = {**rows[1], "subject_id": "UCSF-0004", "subject_aliases": "brats:sub-c1"}
    second = write_cohort(tmp_path, [other], name="ucsf.csv")
    problem = only(validate_manifests([first, second]), "subject_in_several_manifests")
    assert_names(problem, "c2", "subject_aliases", second)


def test_missing_required_column(tmp_path, rows):
    for row in rows:
        del row["site"]
    path = write_cohort(tmp_path, rows)
    problem = only(validate_manifests([path]), "missing_column")
    assert_names(problem, None, "site", path)


def test_empty_required_value(tmp_path, rows):
    rows[1]["subject_id"] = ""
    problem = only(check(tmp_path, rows), "missing_value")
    assert_names(problem, "c2", "subject_id", tmp_path / "cohort.csv")


def test_path_leaving_the_manifest_folder(tmp_path):
    root = tmp_path / "cohort"
    row = case_row(root, "c1")
    write_nifti(tmp_path / "elsewhere.nii.gz", image_array(), make_affine())
    row["t2"] = "../elsewhere.nii.gz"
    path = write_cohort(root, [row])
    problem = only(validate_manifests([path]), "path_outside_root")
    assert_names(problem, "c1", "t2", tmp_path / "elsewhere.nii.gz")
    assert "--allow-outside-root" in problem.message
    assert "allow_outside_root: true" in problem.message  # the bench config's way
    assert validate_manifests([path], allow_outside_root=True) == []


@pytest.mark.parametrize("field", ["descrip", "db_name", "aux_file", "intent_name"])
def test_identifying_text_in_a_nifti_header_is_a_warning(tmp_path, rows, field):
    image = nib.Nifti1Image(image_array(), make_affine())
    image.header[field] = b"Doe^John 1970-01-01"[: 16 if field == "intent_name" else None]
    path = tmp_path / "c1/flair.nii.gz"
    nib.save(image, path)
    problem = only(check(tmp_path, rows), "identifying_header_text")
    assert_names(problem, "c1", "flair", path)
    assert problem.severity == "warning" and repr(field) in problem.message
    assert "Doe" not in problem.message  # never echo the identifying text


def test_technical_header_text_is_not_flagged(tmp_path, rows):
    image = nib.Nifti1Image(image_array(), make_affine())
    image.header["descrip"] = b"TE=13;Time=143212.000;phase=1"
    nib.save(image, tmp_path / "c1/flair.nii.gz")
    assert check(tmp_path, rows) == []


def test_unknown_column_is_a_warning(tmp_path, rows):
    rows[0]["notes"] = "seen twice"
    problem = only(check(tmp_path, rows), "unknown_column")
    assert_names(problem, None, "notes", tmp_path / "cohort.csv")
    assert problem.severity == "warning"


@pytest.mark.parametrize(("column", "value", "fragment"), [
    ("age", "sixty", "not a number"), ("age", "250", "plausible range"),
    ("field_strength", "inf", "finite")])
def test_invalid_covariate(tmp_path, rows, column, value, fragment):
    rows[0][column] = value
    problem = only(check(tmp_path, rows), "invalid_covariate")
    assert_names(problem, "c1", column, tmp_path / "cohort.csv")
    assert fragment in problem.message


def test_invalid_alias(tmp_path, rows):
    rows[0]["subject_aliases"] = "brats2021:B_001; nodataset"
    problem = only(check(tmp_path, rows), "invalid_alias")
    assert_names(problem, "c1", "subject_aliases", tmp_path / "cohort.csv")
    assert "'nodataset'" in problem.message


def test_bad_label_map_in_the_side_file(tmp_path, rows):
    path = write_cohort(tmp_path, rows)
    (tmp_path / "cohort.meta.yaml").write_text("label_map: {1: NETC, 2: EDEMA}\n")
    problem = only(validate_manifests([path]), "bad_metadata")
    assert_names(problem, None, "label_map", tmp_path / "cohort.meta.yaml")
    assert "Input should be 'ET', 'NETC', 'SNFH' or 'RC'" in problem.message


def test_unknown_preset_and_resample_key(tmp_path, rows):
    meta = ManifestMeta(label_map="brats2099", resample=["spect"])
    problems = check(tmp_path, rows, meta=meta)
    bad = {p.column for p in problems if p.code == "bad_metadata"}
    assert bad == {"label_map", "resample"}


def test_unparseable_manifest_is_one_problem(tmp_path):
    path = tmp_path / "cohort.json"
    path.write_text("{not json")
    problem = only(validate_manifests([path]), "unreadable_manifest")
    assert problem.file == str(path) and "cannot parse" in problem.message


@pytest.mark.parametrize("name", ["cohort.yaml", "cohort.json"])
def test_yaml_and_json_manifests_are_validated_alike(tmp_path, rows, name):
    rows[0]["mgmt"] = "maybe"
    path = write_manifest(tmp_path / name, rows, ManifestMeta(label_map="brats2021"))
    problem = only(validate_manifests([path]), "label_not_in_vocabulary")
    assert_names(problem, "c1", "mgmt", path)


def test_problems_serialise_with_the_documented_keys(tmp_path, rows):
    rows[0]["t1c"] = "c1/absent.nii.gz"
    (problem,) = check(tmp_path, rows)
    record = json.loads(json.dumps(problem.to_dict()))
    assert set(record) == {"case_id", "column", "file", "code", "severity", "message"}


@pytest.mark.parametrize(("origin", "code", "severity"), [
    ((500.0, 0.0, 0.0), "no_overlap", "error"),      # nowhere near the MRI
    ((4.0, 4.0, 0.0), "partial_overlap", "warning"),  # covers 0.7 x 0.67 = 47 %
])
def test_resampled_pet_must_cover_the_reference_field(tmp_path, rows, origin, code, severity):
    path = write_nifti(tmp_path / "c1/pet.nii.gz", image_array((5, 5, 4)),
                       make_affine((2, 2, 2), origin))
    rows[0]["pet"] = "c1/pet.nii.gz"
    meta = ManifestMeta(label_map="brats2021", resample=["pet"])
    problem = only(check(tmp_path, rows, meta=meta), code)
    assert_names(problem, "c1", "pet", path)
    assert problem.severity == severity and "t1c" in problem.message


def test_label_in_the_wrong_case_gets_a_hint(tmp_path, rows):
    rows[0]["idh"] = "Mutant"
    problem = only(check(tmp_path, rows), "label_not_in_vocabulary")
    assert "did you mean 'mutant'?" in problem.message


def test_semicolon_separated_table_gets_a_hint(tmp_path):
    path = tmp_path / "cohort.csv"
    path.write_text("case_id;subject_id;site\nc1;s1;a\n")
    problems = [p for p in validate_manifests([path]) if p.code == "missing_column"]
    assert [p.column for p in problems] == ["case_id", "subject_id", "site"]
    assert "';'" in problems[0].message


def test_header_with_impossible_dimensions_is_unreadable_not_a_crash(tmp_path, rows):
    path = tmp_path / "c1/flair.nii"
    image = nib.Nifti1Image(image_array(), make_affine())
    payload = bytearray(image.to_bytes())
    payload[40:42] = (9).to_bytes(2, "little")  # dim[0] = 9 > 7: not a valid NIfTI header
    path.write_bytes(bytes(payload))
    rows[0]["flair"] = "c1/flair.nii"
    problem = only(check(tmp_path, rows), "unreadable_file")
    assert_names(problem, "c1", "flair", path)
    assert "NIfTI header" in problem.message


def test_the_same_manifest_given_twice_is_read_once(tmp_path, rows):
    path = write_cohort(tmp_path, rows)
    assert validate_manifests([path, tmp_path / "." / "cohort.csv"]) == []


def test_a_manifest_without_cases_is_an_error(tmp_path):
    path = tmp_path / "cohort.yaml"
    path.write_text("label_map: brats2021\ncases: []\n")
    problem = only(validate_manifests([path]), "no_cases")
    assert problem.file == str(path)


def test_an_unknown_preset_is_reported_once_not_per_tumour_mask(tmp_path, rows):
    problems = check(tmp_path, rows, meta=ManifestMeta(label_map="brats2099"))
    problem = only(problems, "bad_metadata")
    assert problem.column == "label_map" and "brats2021" in problem.message


def test_progress_callback_counts_the_cases(tmp_path, rows):
    from imagination.cohort.validation import validate

    seen: list[tuple[int, int]] = []
    validate([write_cohort(tmp_path, rows)], on_case=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 2), (2, 2)]


def test_files_checked_in_two_processes_give_the_same_problems_in_case_order(tmp_path,
                                                                             monkeypatch):
    from imagination import signals
    from imagination.cohort.validation import validate

    rows = [case_row(tmp_path, f"c{i}", site=f"site_{i % 2}") for i in range(1, 6)]
    rows[3]["t1c"] = "c4/absent.nii.gz"
    data = image_array()
    data[2, 2, 2] = np.nan
    write_nifti(tmp_path / "c2/flair.nii.gz", data, make_affine())
    truncated = tmp_path / "c5/t1c.nii.gz"
    truncated.write_bytes(truncated.read_bytes()[:-200])
    manifest = write_cohort(tmp_path, rows)
    forked = []
    real = signals._fork_pool
    monkeypatch.setattr(signals, "_fork_pool",
                        lambda processes: forked.append(processes) or real(processes))
    progress: list[tuple[int, int]] = []
    found = {workers: validate([manifest], workers=workers,
                               on_case=lambda *done: progress.append(done)).problems
             for workers in (1, 2)}
    assert forked == [2]
    expected = [("c2", "flair", "nonfinite_voxels"), ("c4", "t1c", "missing_file"),
                ("c5", "t1c", "truncated_gzip")]
    for problems in found.values():
        assert [(p.case_id, p.column, p.code) for p in problems] == expected
    assert [str(p) for p in found[1]] == [str(p) for p in found[2]]
    assert progress == [(n, 5) for n in range(1, 6)] * 2
