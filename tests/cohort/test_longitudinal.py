"""Longitudinal manifests: the new columns as typed fields, and every link problem in one run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from imagination.cohort.manifest import ManifestMeta, read_manifest
from imagination.cohort.validation import CODES, Problem, validate_manifests
from imagination.cohort.vocabulary import CLASSIFICATION_TASKS, LABEL_COLUMNS
from imagination.errors import InputError
from imagination.tasks.registry import KINDS

from .builders import case_row, make_affine, write_case, write_cohort


def exam(folder: Path, case_id: str, subject: str, day: int | None, **columns: Any
         ) -> dict[str, Any]:
    """A valid exam of ``subject`` on day ``day`` (files under ``folder``)."""
    row = case_row(folder, case_id, subject_id=subject, **columns)
    if day is not None:
        row["days_from_baseline"] = day
    return row


def series(folder: Path) -> list[dict[str, Any]]:
    """P1: pre-op day 0, post-RT day 90 (baseline of the follow-ups), follow-ups 150 and 240."""
    return [
        exam(folder, "p1-preop", "P1", 0, timepoint="preop", days_since_radiotherapy_end=-80),
        exam(folder, "p1-postrt", "P1", 90, timepoint="postrt", baseline_case_id="p1-preop",
             days_since_radiotherapy_end=10),
        exam(folder, "p1-fu1", "P1", 150, timepoint="fu1", baseline_case_id="p1-postrt",
             days_since_radiotherapy_end=70, response="PD",
             progression_type="pseudoprogression"),
        exam(folder, "p1-fu2", "P1", 240, timepoint="fu2", baseline_case_id="p1-postrt",
             days_since_radiotherapy_end=160, response="SD"),
    ]


def errors(tmp_path: Path, rows: list[dict[str, Any]], meta: ManifestMeta | None = None
           ) -> list[Problem]:
    return [p for p in validate_manifests([write_cohort(tmp_path, rows, meta=meta)])
            if p.is_error]


def test_a_valid_series_reads_into_typed_fields(tmp_path):
    path = write_cohort(tmp_path, series(tmp_path))
    assert errors(tmp_path, series(tmp_path)) == []
    cases = {c.case_id: c for c in read_manifest(path).cases()}
    fu1 = cases["p1-fu1"]
    assert (fu1.baseline_case_id, fu1.days_from_baseline, fu1.days_since_radiotherapy_end) == (
        "p1-postrt", 150, 70)
    assert fu1.labels["response"] == "PD"
    assert fu1.labels["progression_type"] == "pseudoprogression"
    assert cases["p1-preop"].baseline_case_id is None
    assert cases["p1-preop"].days_since_radiotherapy_end == -80
    assert cases["p1-fu2"].labels["progression_type"] is None


def test_response_is_a_label_but_not_a_classification_task():
    assert {"response", "progression_type"} <= set(LABEL_COLUMNS)
    assert not {"response", "progression_type"} & set(CLASSIFICATION_TASKS)
    classification = next(k for k in KINDS if k.family == "classification")
    assert "response" not in classification.tasks
    assert "response" in classification.blinding.labels  # hidden from adapters all the same


def by_code(problems: list[Problem]) -> dict[str, list[Problem]]:
    out: dict[str, list[Problem]] = {}
    for p in problems:
        out.setdefault(p.code, []).append(p)
    return out


def test_every_link_problem_is_reported_in_one_run(tmp_path):
    rows = series(tmp_path)
    rows[2]["baseline_case_id"] = "nobody"                        # missing baseline
    rows[3]["days_from_baseline"] = 60                            # before its baseline (90)
    rows.append(exam(tmp_path, "p2-a", "P2", 0))
    rows.append(exam(tmp_path, "p2-b", "P2", 30, baseline_case_id="p1-preop",
                     response="SD"))                              # another subject's exam
    rows.append(exam(tmp_path, "p3-a", "P3", 10, baseline_case_id="p3-b"))   # a loop
    rows.append(exam(tmp_path, "p3-b", "P3", 20, baseline_case_id="p3-a"))
    rows.append(exam(tmp_path, "p4-a", "P4", None, response="CR"))  # label, no link
    rows.append(exam(tmp_path, "p4-b", "P4", None, baseline_case_id="p4-a",
                     days_since_radiotherapy_end="3.5"))          # no days; fractional days
    found = by_code(errors(tmp_path, rows))
    expected = {
        "baseline_not_found": [("p1-fu1", "baseline_case_id")],
        "baseline_not_earlier": [("p1-fu2", "days_from_baseline")],
        "baseline_other_subject": [("p2-b", "baseline_case_id")],
        "baseline_cycle": [("p3-a", "baseline_case_id"), ("p3-b", "baseline_case_id")],
        "label_without_baseline": [("p4-a", "response")],
        "missing_days": [("p4-b", "days_from_baseline")],
        "invalid_days": [("p4-b", "days_since_radiotherapy_end")],
    }
    assert {code: [(p.case_id, p.column) for p in ps] for code, ps in found.items()} == expected
    manifest = str(tmp_path / "cohort.csv")
    for problems in found.values():
        for p in problems:
            assert p.code in CODES and p.file == manifest
            assert f"case {p.case_id}" in str(p) and p.column in str(p)


def test_a_subject_split_across_sites_is_an_error(tmp_path):
    rows = series(tmp_path)
    rows[3]["site"] = "site_b"
    found = by_code(errors(tmp_path, rows))
    assert [(p.case_id, p.column) for p in found["subject_multiple_sites"]] == [("p1-fu2", "site")]


def test_a_follow_up_on_another_grid_must_be_declared_registered(tmp_path):
    rows = series(tmp_path)
    shifted = write_case(tmp_path / "moved", "p1-fu2",
                         affine=make_affine(origin=(5.0, 0.0, 0.0)))
    rows[3].update({k: f"moved/{v}" for k, v in shifted.items()})
    found = by_code(errors(tmp_path, rows))
    assert list(found) == ["longitudinal_grid_mismatch"]
    (problem,) = found["longitudinal_grid_mismatch"]
    assert (problem.case_id, problem.column) == ("p1-fu2", "t1c")
    assert problem.file == str((tmp_path / "moved/p1-fu2/t1c.nii.gz").resolve())
    assert "origin" in problem.message
    registered = ManifestMeta(label_map="brats2021", longitudinal_registration="registered")
    assert errors(tmp_path, rows, registered) == []


def test_unknown_response_and_registration_values_are_refused(tmp_path):
    rows = series(tmp_path)
    rows[3]["response"] = "progression"
    found = by_code(errors(tmp_path, rows))
    assert [(p.case_id, p.column) for p in found["label_not_in_vocabulary"]] == [
        ("p1-fu2", "response")]
    (tmp_path / "m.yaml").write_text("longitudinal_registration: aligned\ncases:\n"
                                     "  - {case_id: a, subject_id: s, site: x}\n")
    with pytest.raises(InputError, match="longitudinal_registration"):
        read_manifest(tmp_path / "m.yaml")


def test_case_refuses_fractional_days_naming_case_column_and_file(tmp_path):
    rows = series(tmp_path)
    rows[1]["days_from_baseline"] = "ninety"
    path = write_cohort(tmp_path, rows)
    with pytest.raises(InputError) as info:
        read_manifest(path).cases()
    text = str(info.value)
    assert "p1-postrt" in text and "days_from_baseline" in text and str(path) in text
