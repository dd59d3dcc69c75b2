"""Manifest v1: write -> read round trips in CSV, TSV, YAML and JSON form (hypothesis)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagination.cohort.labelmap import PRESETS
from imagination.cohort.manifest import ManifestMeta, read_manifest, write_manifest
from imagination.cohort.vocabulary import BASE_REGIONS, DEFAULT_VOCABULARIES

FORMS = ("cohort.csv", "cohort.tsv", "cohort.yaml", "cohort.json")

# printable text without line breaks; cells are stripped on reading, so generate stripped text
text = st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs")),
               min_size=1, max_size=10).map(str.strip).filter(bool)
#: case and subject ids are names (imagination.names)
name_text = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,11}", fullmatch=True)
path_text = st.from_regex(r"[a-z0-9_]{1,6}(/[a-z0-9_.-]{1,8}){0,2}\.nii(\.gz)?", fullmatch=True)

metas = st.builds(
    ManifestMeta,
    name=st.none() | text,
    label_map=st.none() | st.sampled_from(sorted(PRESETS)) | st.dictionaries(
        st.integers(1, 20), st.sampled_from(BASE_REGIONS), min_size=1, max_size=4),
    vocabularies=st.dictionaries(st.sampled_from(sorted(DEFAULT_VOCABULARIES)),
                                 st.lists(text, min_size=1, max_size=3, unique=True),
                                 max_size=2),
    extra_modalities=st.sampled_from([[], ["swi"], ["swi", "asl"]]),
    resample=st.sampled_from([[], ["pet"]]),
    reference=st.sampled_from(["t1c", "t1"]),
    longitudinal_registration=st.sampled_from([None, "same_grid", "registered"]),
)


@st.composite
def manifests(draw: st.DrawFn) -> tuple[ManifestMeta, list[dict[str, Any]]]:
    meta = draw(metas)
    ids = draw(st.lists(name_text, min_size=1, max_size=5, unique=True))
    rows = []
    for case_id in ids:
        row: dict[str, Any] = {"case_id": case_id, "subject_id": draw(name_text),
                               "site": draw(text)}
        optional = {
            "timepoint": st.none() | text,
            "t1c": st.none() | path_text,
            "pet": st.none() | path_text,
            "mask_tumor": st.none() | path_text,
            "idh": st.none() | st.sampled_from(DEFAULT_VOCABULARIES["idh"]),
            "grade": st.none() | st.sampled_from(DEFAULT_VOCABULARIES["grade"]),
            "age": st.none() | st.floats(0, 120, allow_nan=False).map(lambda x: round(x, 2)),
            "sex": st.none() | st.sampled_from(["F", "M"]),
            "subject_aliases": st.none() | st.just("brats2021:BraTS2021_00001;egd:EGD-0001"),
            "baseline_case_id": st.none() | name_text,
            "days_from_baseline": st.none() | st.integers(-400, 4000),
            "days_since_radiotherapy_end": st.none() | st.integers(-400, 4000),
            "response": st.none() | st.sampled_from(("CR", "PR", "SD", "PD")),
            "progression_type": st.none() | st.sampled_from(
                ("true_progression", "pseudoprogression")),
        }
        for modality in meta.extra_modalities:
            optional[modality] = st.none() | path_text
        for column, strategy in optional.items():
            row[column] = draw(strategy)
        rows.append(row)
    return meta, rows


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    return str(value)


@pytest.mark.parametrize("form", FORMS)
@settings(max_examples=15, deadline=None)
@given(manifest=manifests())
def test_write_then_read_gives_back_metadata_and_rows(form, manifest):
    meta, rows = manifest
    with tempfile.TemporaryDirectory() as folder:
        path = write_manifest(Path(folder) / form, rows, meta)
        back = read_manifest(path)
        assert back.meta == meta
        got = [{k: v for k, v in row.items() if v is not None} for row in back.rows]
        want = [{k: t for k, v in row.items() if (t := _as_text(v)) is not None}
                for row in rows]
        assert got == want
        # the typed cases resolve paths against the manifest's folder
        for case, row in zip(back.cases(), rows, strict=True):
            assert case.case_id == row["case_id"]
            if row["t1c"]:
                assert case.images["t1c"] == (Path(folder) / row["t1c"]).resolve()
            if row["age"] is not None:
                assert case.covariates["age"] == pytest.approx(row["age"])
            assert case.baseline_case_id == row["baseline_case_id"]
            assert case.days_from_baseline == row["days_from_baseline"]
            assert case.days_since_radiotherapy_end == row["days_since_radiotherapy_end"]
            assert case.labels["response"] == row["response"]
            assert case.labels["progression_type"] == row["progression_type"]


@pytest.mark.parametrize("form", FORMS)
def test_rewriting_a_read_manifest_is_byte_identical(tmp_path, form):
    rows = [{"case_id": "001", "subject_id": "P1", "site": "Jülich, FZJ", "t1c": "a/t1c.nii.gz",
             "idh": "mutant", "age": 54.5, "notes": 'said "hi"'}]
    meta = ManifestMeta(label_map={1: "NETC", 2: "SNFH", 3: "ET"}, name="demo")
    first = write_manifest(tmp_path / form, rows, meta)
    payload = first.read_bytes()
    back = read_manifest(first)
    assert back.rows[0]["case_id"] == "001"  # leading zeros survive
    write_manifest(first, back.rows, back.meta)
    assert first.read_bytes() == payload
