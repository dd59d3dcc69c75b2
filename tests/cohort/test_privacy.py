"""Heuristics for identifying NIfTI header text."""

from __future__ import annotations

import pytest

from imagination.cohort.validation.privacy import identifying_reasons


@pytest.mark.parametrize(("text", "reason"), [
    ("Mustermann^Erika", "DICOM person name"),
    ("acquired 2021-03-14", "a date"),
    ("14.03.2021 post-op", "a date"),
    ("19700101", "a date"),
    ("Smith, John", "'Surname, Given'"),
    ("MRN 12345678", "long record number"),
    ("PatientName=X", "patient field"),
    ("geb. 1.1.70", "a date"),
    ("dr.who@hospital.org", "e-mail"),
])
def test_identifying_text_is_flagged(text, reason):
    assert any(reason in r for r in identifying_reasons(text))


@pytest.mark.parametrize("text", [
    "TE=13;Time=143212.000;phase=1", "FSL5.0", "5.0.10", "mni_icbm152_t1_tal_nlin_sym_09a.mnc",
    "T1 post-contrast", "spm - realigned", "brain mask",
])
def test_technical_text_is_not_flagged(text):
    assert identifying_reasons(text) == []
