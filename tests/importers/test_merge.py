"""`manifest merge`: overlap (leakage) between datasets, label maps, re-rooted paths."""

from __future__ import annotations

import csv
import os
import string
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imagination.cli.app import run_app
from imagination.cohort.importers import DatasetWarning
from imagination.cohort.importers.registry import import_to_manifest
from imagination.cohort.manifest import ManifestMeta, read_manifest, write_manifest
from imagination.cohort.merge import merge_manifests, reroot_path
from imagination.cohort.validation import validate_manifests
from imagination.errors import InputError

from . import fake_trees


def imported(fmt: str, root: Path, out: Path, **options: str) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatasetWarning)
        import_to_manifest(fmt, root, out, options)
    return out


@pytest.fixture
def ucsf_and_brats(tmp_path):
    ucsf = imported("ucsf-pdgm", fake_trees.ucsf_pdgm(tmp_path / "ucsf"), tmp_path / "ucsf.csv")
    brats = imported("brats2021", fake_trees.brats2021(tmp_path / "brats"),
                     tmp_path / "brats.csv")
    return ucsf, brats


def test_validation_flags_the_overlap_before_merging(ucsf_and_brats):
    problems = validate_manifests(list(ucsf_and_brats))
    leaks = [p for p in problems if p.code == "subject_in_several_manifests"]
    assert [p.case_id for p in leaks] == ["BraTS2021_00097"]


def test_merge_reports_overlap_keeps_first_and_validates(ucsf_and_brats, tmp_path, capsys):
    ucsf, brats = ucsf_and_brats
    out = tmp_path / "cohort.yaml"
    report = tmp_path / "overlap.csv"
    code = run_app(["manifest", "merge", str(ucsf), str(brats), "-o", str(out),
                    "--overlap-report", str(report)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "1 subject(s) appear in several datasets" in printed
    assert "ucsf-pdgm:UCSF-PDGM-0004" in printed and "BraTS2021_00097" in printed
    merged = read_manifest(out)
    cases = {r["case_id"]: r for r in merged.rows}
    assert "BraTS2021_00097" not in cases  # the later manifest's copy is dropped
    assert set(cases) == {"UCSF-PDGM-0004", "UCSF-PDGM-0005", "UCSF-PDGM-0391",
                          "UCSF-PDGM-0391_FU016d", "BraTS2021_00000", "BraTS2021_00123"}
    assert cases["UCSF-PDGM-0004"]["subject_aliases"] == (
        "brats2021:BraTS2021_00097;ucsf-pdgm:UCSF-PDGM-0004")
    assert cases["BraTS2021_00000"]["subject_aliases"] == "brats2021:BraTS2021_00000"
    assert merged.meta.label_map == "brats2021" and merged.meta.name == "merged"
    assert merged.meta.extra_modalities == ["swi"]
    assert [p for p in validate_manifests([out]) if p.severity == "error"] == []
    # paths were re-rooted: they resolve to the same files as in the source manifests
    source = {c.case_id: c for m in (ucsf, brats) for c in read_manifest(m).cases()}
    for case in merged.cases():
        assert case.images == source[case.case_id].images
        assert case.masks == source[case.case_id].masks
    with report.open() as handle:
        table = list(csv.DictReader(handle))
    assert {(r["dataset"], r["case_id"], r["kept"]) for r in table} == {
        ("ucsf-pdgm", "UCSF-PDGM-0004", "true"), ("brats2021", "BraTS2021_00097", "false")}


def test_merge_order_decides_which_copy_is_kept(ucsf_and_brats, tmp_path, capsys):
    ucsf, brats = ucsf_and_brats
    out = tmp_path / "deep" / "er" / "m.csv"
    assert run_app(["manifest", "merge", str(brats), str(ucsf), "-o", str(out)]) == 0
    assert "outside" in capsys.readouterr().err  # the data are not below deep/er/
    merged = read_manifest(out)
    assert all(c.images["t1c"].is_file() for c in merged.cases())
    result = merge_manifests([brats, ucsf], out)
    assert result.dropped_case_ids == ["UCSF-PDGM-0004"]
    kept = {r["case_id"]: r for r in result.rows}["BraTS2021_00097"]
    assert kept["subject_aliases"] == "brats2021:BraTS2021_00097;ucsf-pdgm:UCSF-PDGM-0004"


def test_merge_refuses_different_label_maps(tmp_path, capsys):
    brats21 = imported("brats2021", fake_trees.brats2021(tmp_path / "a"), tmp_path / "a.csv")
    brats23 = imported("brats2023", fake_trees.brats2023(tmp_path / "b"), tmp_path / "b.csv")
    assert run_app(["manifest", "merge", str(brats21), str(brats23), "-o",
                    str(tmp_path / "m.csv")]) == 2
    err = capsys.readouterr().err
    assert "brats2021 (1 NETC, 2 SNFH, 4 ET)" in err and "brats2023 (1 NETC, 2 SNFH, 3 ET)" in err
    assert not (tmp_path / "m.csv").exists()


def test_merge_accepts_equal_codes_under_different_names(tmp_path):
    rhuh = imported("rhuh-gbm", fake_trees.rhuh_gbm(tmp_path / "r"), tmp_path / "r.csv")
    bids = imported("bids", fake_trees.bids(tmp_path / "b"), tmp_path / "b.csv")
    result = merge_manifests([rhuh, bids], tmp_path / "m.csv")
    assert result.meta.label_map == {1: "NETC", 2: "SNFH", 3: "ET"}
    assert result.overlaps == []


def test_merge_needs_two_distinct_manifests(ucsf_and_brats, tmp_path):
    ucsf, _ = ucsf_and_brats
    with pytest.raises(InputError, match="at least two"):
        merge_manifests([ucsf], tmp_path / "m.csv")
    with pytest.raises(InputError, match="listed twice"):
        merge_manifests([ucsf, ucsf], tmp_path / "m.csv")


def _yaml_manifest(path: Path, name: str, rows: list[dict[str, str]]) -> Path:
    return write_manifest(path, rows, ManifestMeta(name=name))


def test_merge_refuses_clashing_case_ids_and_vocabularies(tmp_path):
    a = _yaml_manifest(tmp_path / "a.yaml", "a", [
        {"case_id": "c1", "subject_id": "s1", "site": "x", "t1c": "img.nii.gz"}])
    b = _yaml_manifest(tmp_path / "b.yaml", "b", [
        {"case_id": "c1", "subject_id": "s2", "site": "y"}])
    with pytest.raises(InputError, match="case_id 'c1'"):
        merge_manifests([a, b], tmp_path / "m.yaml")
    c = write_manifest(tmp_path / "c.yaml", [
        {"case_id": "c2", "subject_id": "s3", "site": "y", "grade": "high"}],
        ManifestMeta(name="c", vocabularies={"grade": ["low", "high"]}))
    d = _yaml_manifest(tmp_path / "d.yaml", "d", [
        {"case_id": "c3", "subject_id": "s4", "site": "y", "grade": "4"}])
    with pytest.raises(InputError, match="different vocabularies"):
        merge_manifests([c, d], tmp_path / "m.yaml")


segment = st.text(alphabet=string.ascii_lowercase + string.digits + "_-", min_size=1, max_size=6)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(source=st.lists(segment, min_size=0, max_size=3),
       target=st.lists(segment, min_size=0, max_size=3),
       relative=st.lists(segment, min_size=1, max_size=4), up=st.integers(0, 2))
def test_rerooted_path_points_at_the_same_file(tmp_path, source, target, relative, up):
    source_root = tmp_path.joinpath(*source)
    target_root = tmp_path.joinpath(*target)
    value = "/".join([".."] * min(up, len(source)) + relative)
    rerooted = reroot_path(value, source_root, target_root)
    assert not Path(rerooted).is_absolute()
    assert (target_root / rerooted).resolve() == (source_root / value).resolve()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(links=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), max_size=6),
       in_b=st.sets(st.integers(0, 5), min_size=1))
def test_merge_keeps_each_subject_in_one_dataset_and_loses_no_other_case(tmp_path, links,
                                                                         in_b):
    """Dataset a has subjects a0..a5, dataset b some b<j>; links alias b<j> to a<i>."""
    folder = tmp_path / f"run{abs(hash((tuple(links), tuple(sorted(in_b)))))}"
    aliases: dict[int, set[str]] = {}
    for i, j in links:
        if j in in_b:
            aliases.setdefault(j, set()).add(f"a:a{i}")
    a_rows = [{"case_id": f"a{i}", "subject_id": f"a{i}", "site": "A"} for i in range(6)]
    b_rows = [{"case_id": f"b{j}", "subject_id": f"b{j}", "site": "B",
               "subject_aliases": ";".join(sorted(aliases.get(j, ()))) or None}
              for j in sorted(in_b)]
    a = _yaml_manifest(folder / "a.yaml", "a", a_rows)
    b = _yaml_manifest(folder / "b.yaml", "b", b_rows)
    result = merge_manifests([a, b], folder / "m.yaml")
    kept = {r["case_id"] for r in result.rows}
    linked = {f"b{j}" for j in aliases}
    assert kept == {r["case_id"] for r in a_rows} | ({r["case_id"] for r in b_rows} - linked)
    assert sorted(result.dropped_case_ids) == sorted(linked)
    assert len(result.rows) + len(result.dropped_case_ids) == len(a_rows) + len(b_rows)
    out = write_manifest(folder / "m.yaml", result.rows, result.meta)
    assert not [p for p in validate_manifests([out]) if p.code == "subject_in_several_manifests"]
    assert os.path.isfile(out)


@pytest.mark.parametrize("name", ["UCSF PDGM", "ucsf:pdgm; v2", "  tabs\tand  spaces ", "ü-ñ"])
def test_merge_output_validates_whatever_the_manifest_names(ucsf_and_brats, tmp_path, name):
    """Issue 12 #17: a name with spaces (or ':' ';') became an alias prefix the validator
    rejected; aliases now use the name as a dataset token, and leakage is still found."""
    ucsf, brats = ucsf_and_brats
    source = read_manifest(ucsf)
    renamed = ucsf.parent / "renamed.csv"  # beside the source: its relative paths still hold
    write_manifest(renamed, source.rows, source.meta.model_copy(update={"name": name}))
    out = tmp_path / "merged.csv"
    assert run_app(["manifest", "merge", str(renamed), str(brats), "-o", str(out),
                    "--name", f"merged {name}"]) == 0
    errors = [p for p in validate_manifests([out]) if p.severity == "error"]
    assert errors == []
    aliases = {r["case_id"]: r["subject_aliases"] for r in read_manifest(out).rows}
    assert all(" " not in a for a in aliases.values() if a)
    # the merged manifest still links to the renamed source: validating both finds leakage
    leaks = [p for p in validate_manifests([out, renamed])
             if p.code == "subject_in_several_manifests"]
    assert leaks
