"""`imagination validate`: acceptance run with ten kinds of problem, output forms, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest

from imagination.cli.app import run_app
from imagination.cohort.nifti import write_nifti

from .builders import case_row, image_array, make_affine, tumour_array, write_cohort

TEN_KINDS = {
    "missing_file", "not_nifti", "truncated_gzip", "not_3d", "grid_mismatch",
    "nonfinite_voxels", "empty_mask", "unknown_mask_codes", "label_not_in_vocabulary",
    "duplicate_case_id", "subject_multiple_sites", "path_outside_root",
    "identifying_header_text", "invalid_covariate",
}


def _bad_cohort(root: Path) -> Path:
    """One manifest holding fourteen kinds of problem (13 errors, 1 warning) in nine cases."""
    folder = root / "cohort"
    rows: list[dict[str, Any]] = [case_row(folder, f"c{i}", site="site_a") for i in range(9)]
    rows[0]["t2"] = "c0/absent.nii.gz"                                         # missing_file
    (folder / "c1/flair.nii.gz").write_bytes(b"DICOMDIR, not an image")        # not_nifti
    gz = folder / "c2/t1c.nii.gz"
    gz.write_bytes(gz.read_bytes()[:-300])                                     # truncated_gzip
    write_nifti(folder / "c3/flair.nii.gz", np.zeros((10, 9, 7, 2)), make_affine())  # not_3d
    write_nifti(folder / "c4/flair.nii.gz", image_array(),                      # grid_mismatch
                make_affine((1.0, 1.0, 1.5)))
    nan = image_array()
    nan[0, 0, 0] = np.nan
    write_nifti(folder / "c5/t1c.nii.gz", nan, make_affine())                  # nonfinite
    write_nifti(folder / "c6/mask_tumor.nii.gz", np.zeros((10, 9, 7)),         # empty_mask
                make_affine(), dtype=np.uint8)
    write_nifti(folder / "c7/mask_tumor.nii.gz", tumour_array(et=3),           # unknown codes
                make_affine(), dtype=np.uint8)
    rows[8]["idh"] = "IDH1-R132H"                                             # vocabulary
    rows[8]["age"] = "unknown"                                                # covariate
    rows[7]["case_id"] = "c6"                                                  # duplicate
    rows[5]["subject_id"], rows[5]["site"] = "sub-c4", "site_b"                # two sites
    write_nifti(root / "outside.nii.gz", image_array(), make_affine())
    rows[3]["t2"] = "../outside.nii.gz"                                        # outside root
    header = nib.Nifti1Image(image_array(), make_affine())
    header.header["descrip"] = b"Mustermann^Erika"                             # privacy
    nib.save(header, folder / "c0/t1c.nii.gz")
    return write_cohort(folder, rows)


def test_ten_kinds_of_problem_are_all_reported_in_one_run(tmp_path, capsys):
    manifest = _bad_cohort(tmp_path)
    assert run_app(["validate", "--json", str(manifest)]) == 2
    captured = capsys.readouterr()
    problems = json.loads(captured.out)
    assert {p["code"] for p in problems} == TEN_KINDS
    for problem in problems:
        assert set(problem) == {"case_id", "column", "file", "code", "severity", "message"}
        assert problem["case_id"] and problem["column"] and problem["file"]
    assert "Traceback" not in captured.err and "validation failed" in captured.err
    # files read in two processes: the same problems, in the same order
    assert run_app(["validate", "--json", "--workers", "2", str(manifest)]) == 2
    assert json.loads(capsys.readouterr().out) == problems


def test_human_output_is_a_table_grouped_by_case_and_a_summary(tmp_path, capsys):
    manifest = _bad_cohort(tmp_path)
    assert run_app(["validate", str(manifest)]) == 2
    out = capsys.readouterr().out
    for code in TEN_KINDS:
        assert code in out
    # a case is named once in the case column, on the first row of its group
    assert sum(line.startswith("│ c4 ") for line in out.splitlines()) == 1
    assert "9 cases in 1 manifest: 13 errors, 1 warning" in " ".join(out.split())


def test_piped_output_is_not_squeezed_into_80_columns(tmp_path):
    manifest = _bad_cohort(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    result = subprocess.run([sys.executable, "-m", "imagination", "validate", str(manifest)],
                            capture_output=True, text=True, timeout=120, env=env)
    widths = {len(line) for line in result.stdout.splitlines() if line.startswith("┏")}
    assert widths == {160}  # PIPE_WIDTH; rich's default for a pipe is 80


def test_the_real_command_prints_no_traceback(tmp_path):
    manifest = _bad_cohort(tmp_path)
    result = subprocess.run([sys.executable, "-m", "imagination", "validate", str(manifest)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    assert "validation failed: 13 errors" in result.stderr


def test_clean_cohort_exits_0(tmp_path, capsys):
    rows = [case_row(tmp_path, "c1"), case_row(tmp_path, "c2")]
    assert run_app(["validate", str(write_cohort(tmp_path, rows))]) == 0
    assert "2 cases in 1 manifest: 0 errors, 0 warnings" in capsys.readouterr().out


@pytest.mark.parametrize(("strict", "code"), [(False, 0), (True, 2)])
def test_warnings_fail_only_with_strict(tmp_path, capsys, strict, code):
    rows = [case_row(tmp_path, "c1", notes="left eye")]
    args = ["validate", str(write_cohort(tmp_path, rows))] + (["--strict"] * strict)
    assert run_app(args) == code
    assert "unknown_column" in capsys.readouterr().out


def test_allow_outside_root_flag(tmp_path, capsys):
    row = case_row(tmp_path / "cohort", "c1")
    write_nifti(tmp_path / "t2.nii.gz", image_array(), make_affine())
    row["t2"] = "../t2.nii.gz"
    manifest = str(write_cohort(tmp_path / "cohort", [row]))
    assert run_app(["validate", manifest]) == 2
    assert run_app(["validate", "--allow-outside-root", manifest]) == 0


def test_unparseable_manifest_is_one_clear_message_and_exit_2(tmp_path, capsys):
    manifest = tmp_path / "cohort.yaml"
    manifest.write_text("cases: [unclosed\n")
    assert run_app(["validate", str(manifest)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("error:") == 1 and "cannot parse" in captured.err


def test_two_manifests_validated_together_reveal_leakage(tmp_path, capsys):
    train = write_cohort(tmp_path, [case_row(tmp_path, "c1")], name="train.csv")
    test = write_cohort(tmp_path, [case_row(tmp_path, "c2", subject_id="sub-c1")],
                        name="test.yaml")
    assert run_app(["validate", "--json", str(train), str(test)]) == 2
    (problem,) = json.loads(capsys.readouterr().out)
    assert problem["code"] == "subject_in_several_manifests" and problem["case_id"] == "c2"


def test_a_folder_in_place_of_a_manifest_names_the_manifests_in_it(tmp_path, capsys):
    (tmp_path / "cohort.csv").write_text("case_id,subject_id,site\n")
    assert run_app(["validate", str(tmp_path)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "is a folder; name the manifest file in it (cohort.csv)" in err
