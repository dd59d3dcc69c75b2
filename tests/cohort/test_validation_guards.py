"""Validation guards of issue 13: ids are names, repeated columns/keys, hostile documents.

Each test builds its cohort in a temporary folder and checks the problem names the row or case,
the column and the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from imagination.cohort.validation import Problem, validate_manifests

from .builders import case_row, write_cohort
from .test_validation import only


@pytest.fixture
def rows(tmp_path) -> list[dict[str, Any]]:
    return [case_row(tmp_path, "c1"), case_row(tmp_path, "c2", site="site_b")]


def check(tmp_path: Path, rows: list[dict[str, Any]], **kwargs: Any) -> list[Problem]:
    return validate_manifests([write_cohort(tmp_path, rows)], **kwargs)


@pytest.mark.parametrize("bad, why", [
    ("../../etc/evil", "path separator"),
    ("/abs/case", "path separator"),
    (".hidden", "starts with a dot"),
    ("c\u2215x", "not ASCII"),       # DIVISION SLASH, looks like '/'
    ("c\uff0e\uff0e", "not ASCII"),  # FULLWIDTH FULL STOPs, look like '..'
    ("c 1", "white space"),
])
def test_a_case_id_that_is_not_a_name_is_an_error(tmp_path, rows, bad, why):
    rows[0]["case_id"] = bad
    problem = only(check(tmp_path, rows), "invalid_id")
    assert (problem.case_id, problem.column) == (None, "case_id")  # never echoed as a case
    assert problem.file == str(tmp_path / "cohort.csv")
    assert "row 1" in problem.message and why in problem.message and repr(bad) in problem.message


def test_a_subject_id_that_is_not_a_name_is_an_error(tmp_path, rows):
    rows[1]["subject_id"] = "sub/../x"
    problem = only(check(tmp_path, rows), "invalid_id")
    assert (problem.case_id, problem.column) == ("c2", "subject_id")
    assert "case c2" in problem.message and "path separator" in problem.message


def test_a_column_given_twice_is_an_error_not_an_unknown_column(tmp_path, rows):
    manifest = write_cohort(tmp_path, rows)
    lines = manifest.read_text().splitlines()
    header = lines[0].split(",")
    t1c = header.index("t1c")
    lines = [line + "," + line.split(",")[t1c] for line in lines]  # a second t1c column
    manifest.write_text("\n".join(lines) + "\n")
    problem = only(validate_manifests([manifest]), "duplicate_column")
    assert (problem.case_id, problem.column, problem.file) == (None, "t1c", str(manifest))
    assert f"positions {t1c + 1}, {len(header) + 1}" in problem.message
    assert "t1c.1" not in str(problem)


def test_a_key_given_twice_in_a_yaml_manifest_is_an_error(tmp_path, rows):
    manifest = write_cohort(tmp_path, rows, name="cohort.yaml")
    text = manifest.read_text().replace("  t1c: c1/t1c.nii.gz\n",
                                        "  t1c: c1/t1c.nii.gz\n  t1c: c2/t1c.nii.gz\n", 1)
    assert text != manifest.read_text()
    manifest.write_text(text)
    problem = only(validate_manifests([manifest]), "unreadable_manifest")
    assert problem.file == str(manifest) and "duplicate key 't1c' at line" in problem.message


def test_a_key_given_twice_in_a_json_manifest_is_an_error(tmp_path, rows):
    manifest = write_cohort(tmp_path, rows, name="cohort.json")
    text = manifest.read_text().replace('"case_id": "c1",', '"case_id": "c1", "case_id": "c9",')
    manifest.write_text(text)
    problem = only(validate_manifests([manifest]), "unreadable_manifest")
    assert "duplicate key 'case_id'" in problem.message


def test_an_alias_bomb_in_the_side_file_is_refused(tmp_path, rows):
    manifest = write_cohort(tmp_path, rows)
    side = tmp_path / "cohort.meta.yaml"
    bomb = ["x0: &x0 [a, a, a, a, a, a, a, a, a, a]"]
    bomb += [f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 10)}]" for i in range(1, 9)]
    side.write_text(side.read_text() + "\n".join(bomb) + "\n")
    problem = only(validate_manifests([manifest]), "unreadable_manifest")
    assert "alias bomb" in problem.message and str(side) in problem.message


def test_a_fifo_as_manifest_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "cohort.csv"
    os.mkfifo(fifo)
    problem = only(validate_manifests([fifo]), "unreadable_manifest")
    assert "not a regular file" in problem.message
