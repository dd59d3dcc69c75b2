"""Cohort: built from validated manifests; errors raise, warnings are logged."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from imagination.cohort.cohort import Cohort
from imagination.errors import InputError

from .builders import case_row, write_cohort


def test_cohort_of_two_manifests(tmp_path):
    first = write_cohort(tmp_path, [case_row(tmp_path, "c1", site="Aachen"),
                                    case_row(tmp_path, "c2", subject_id="sub-c1",
                                             site="Aachen")], name="a.csv")
    second = write_cohort(tmp_path, [case_row(tmp_path, "c3", site="Jülich")], name="b.yaml")
    cohort = Cohort.from_manifests([first, second])
    assert len(cohort) == 3
    assert [c.case_id for c in cohort] == ["c1", "c2", "c3"]
    assert cohort.sites == ("Aachen", "Jülich")
    assert cohort.subjects == ("sub-c1", "sub-c3")
    assert cohort.manifests == (first.resolve(), second.resolve())
    assert cohort.case("c3").images["t1c"] == (tmp_path / "c3/t1c.nii.gz").resolve()
    loaded = list(cohort.loaded())
    assert [x.case_id for x in loaded] == ["c1", "c2", "c3"]
    assert loaded[0].images["t1c"].dtype == np.float32


def test_errors_raise_an_input_error_listing_them(tmp_path):
    rows = [case_row(tmp_path, "c1"), case_row(tmp_path, "c2", idh="yes")]
    rows[0]["t1c"] = "c1/absent.nii.gz"
    with pytest.raises(InputError) as info:
        Cohort.from_manifests([write_cohort(tmp_path, rows)])
    message = str(info.value)
    assert "2 errors" in message
    assert "[missing_file] case c1, column t1c" in message
    assert "[label_not_in_vocabulary] case c2, column idh" in message
    assert info.value.exit_code == 2


def test_warnings_are_logged_not_fatal(tmp_path, caplog):
    path = write_cohort(tmp_path, [case_row(tmp_path, "c1", remarks="x")])
    with caplog.at_level(logging.WARNING, logger="imagination.cohort.cohort"):
        cohort = Cohort.from_manifests([path])
    assert len(cohort) == 1 and [w.code for w in cohort.warnings] == ["unknown_column"]
    assert "remarks" in caplog.text


def test_check_files_false_skips_reading_images(tmp_path):
    row = case_row(tmp_path, "c1")
    (tmp_path / "c1/flair.nii.gz").write_bytes(b"broken")
    path = write_cohort(tmp_path, [row])
    assert len(Cohort.from_manifests([path], check_files=False)) == 1
    with pytest.raises(InputError, match="not_nifti"):
        Cohort.from_manifests([path])


def test_unknown_case_id(tmp_path):
    cohort = Cohort.from_manifests([write_cohort(tmp_path, [case_row(tmp_path, "c1")])])
    with pytest.raises(InputError, match="no case 'zz'"):
        cohort.case("zz")
