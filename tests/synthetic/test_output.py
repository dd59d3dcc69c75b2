"""The written cohort: valid manifest, consistent files, complete truth, determinism."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from imagination.cli.app import run_app
from imagination.cohort.case import Grid
from imagination.cohort.manifest import read_manifest
from imagination.cohort.synthetic import SynthConfig, generate_cohort, parse_prevalence
from imagination.cohort.vocabulary import DEFAULT_VOCABULARIES
from imagination.errors import InputError


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _grid(path: Path) -> Grid:
    image = nib.load(path)
    return Grid(shape=tuple(image.shape), affine=image.affine)


def test_output_validates_with_zero_errors(mixed_cohort):
    from imagination.cohort.validation import validate_manifests

    problems = validate_manifests([mixed_cohort / "manifest.csv"])
    assert [p for p in problems if p.severity == "error"] == []


def test_manifest_declares_label_map_pet_resampling_and_reference(mixed_cohort):
    manifest = read_manifest(mixed_cohort / "manifest.csv")
    assert manifest.meta.label_map == "brats2024_post"
    assert manifest.meta.resample == ["pet"]
    assert manifest.meta.reference == "t1c"
    for column in ("case_id", "subject_id", "site", "t1", "t1c", "t2", "flair", "adc", "pet",
                   "mask_tumor", "mask_brain", "mask_recurrence", "mask_cavity", "tumor_type",
                   "idh", "codeletion_1p19q", "mgmt", "grade", "age", "sex", "scanner",
                   "field_strength"):
        assert column in manifest.columns


def test_labels_are_in_the_default_vocabularies_and_fit_the_type(mixed_cohort):
    cases = read_manifest(mixed_cohort / "manifest.csv").cases()
    assert len({c.labels["tumor_type"] for c in cases}) >= 3
    for case in cases:
        for task, value in case.labels.items():
            assert value is None or value in DEFAULT_VOCABULARIES[task], (task, value)
        kind = case.labels["tumor_type"]
        if kind == "glioblastoma":
            assert (case.labels["idh"], case.labels["grade"]) == ("wildtype", "4")
        if kind == "oligodendroglioma":
            assert case.labels["codeletion_1p19q"] == "codeleted"
            assert case.labels["idh"] == "mutant"
        if kind in ("meningioma", "metastasis"):
            assert case.labels["idh"] is None and "recurrence" not in case.masks


def test_files_share_the_reference_grid_and_pet_has_its_own(mixed_cohort):
    for case in read_manifest(mixed_cohort / "manifest.csv").cases():
        reference = _grid(case.images["t1c"])
        for path in [*case.images.values(), *case.masks.values()]:
            grid = _grid(path)
            if path == case.images["pet"]:
                assert grid.spacing[0] > reference.spacing[0]
                assert grid.differences(reference)
            else:
                assert grid.differences(reference) == []
        seg = np.asarray(nib.load(case.masks["tumor"]).dataobj)
        assert set(np.unique(seg)) <= {0, 1, 2, 3} and seg.max() > 0
        brain = np.asarray(nib.load(case.masks["brain"]).dataobj) > 0
        assert np.all(brain[seg > 0])
        t1 = np.asarray(nib.load(case.images["t1"]).dataobj)
        assert t1.dtype == np.int16 and np.all(t1[~brain] == 0) and t1[brain].mean() > 100


def test_recurrence_lies_outside_the_cavity_with_documented_codes(phenotype_cohort):
    truth = json.loads((phenotype_cohort / "truth.json").read_text())
    assert truth["generator"]["recurrence_codes"]["3"] == "enhancing recurrence"
    n_with_recurrence = 0
    for case in read_manifest(phenotype_cohort / "manifest.csv").cases():
        recurrence = np.asarray(nib.load(case.masks["recurrence"]).dataobj)
        cavity = np.asarray(nib.load(case.masks["cavity"]).dataobj) > 0
        seg = np.asarray(nib.load(case.masks["tumor"]).dataobj)
        assert set(np.unique(recurrence)) <= {0, 1, 2, 3}
        assert not np.any((recurrence > 0) & cavity)
        assert np.all(cavity[(seg == 1) | (seg == 3)])  # the visible core was resected
        n_with_recurrence += bool(recurrence.any())
    assert n_with_recurrence >= 14


def test_truth_holds_generating_parameters_inside_published_ranges(phenotype_cohort):
    truth = json.loads((phenotype_cohort / "truth.json").read_text())
    cases = read_manifest(phenotype_cohort / "manifest.csv").cases()
    assert set(truth["cases"]) == {c.case_id for c in cases}
    for case in cases:
        record = truth["cases"][case.case_id]
        params = record["parameters"]
        assert params["tumor_type"] == case.labels["tumor_type"]
        assert record["site"] == case.site
        assert 0.02 <= params["d_white"] <= 1.5 and 0.002 <= params["rho"] <= 0.2
        assert 0.5 <= params["u_t1c"] <= 0.85 and 0.05 <= params["u_flair"] <= 0.5
        assert 0 < record["growth_days"] <= 1500
        density = np.asarray(nib.load(phenotype_cohort / record["density"]).dataobj)
        seg = np.asarray(nib.load(case.masks["tumor"]).dataobj)
        # the visible core is where the true cell density is high
        assert density[(seg == 1) | (seg == 3)].min() >= 0.45
        assert density.max() <= 1.0
        # infiltration below MRI visibility exists outside the visible lesion
        assert np.count_nonzero((density > 0.01) & (seg == 0)) > 0


def test_same_seed_gives_byte_identical_files_and_workers_do_not_matter(tmp_path):
    config = SynthConfig(n_cases=3, n_sites=2, seed=7, resolution_mm=6.0)
    generate_cohort(tmp_path / "a", config)
    generate_cohort(tmp_path / "b", SynthConfig(**{**config.__dict__, "workers": 2}))
    generate_cohort(tmp_path / "c", SynthConfig(**{**config.__dict__, "seed": 8}))
    first, second, other = (_hashes(tmp_path / x) for x in "abc")
    assert len(first) > 3 * 10
    assert first == second
    assert first["truth.json"] != other["truth.json"]


def test_cli_writes_a_cohort_and_rejects_bad_arguments(tmp_path, capsys):
    out = tmp_path / "cohort"
    assert run_app(["synth", str(out), "--cases", "2", "--sites", "1", "--seed", "3",
                    "--resolution", "6", "--workers", "1",
                    "--prevalence", "meningioma=1,metastasis=1"]) == 0
    assert "wrote 2 cases" in capsys.readouterr().out
    assert len(read_manifest(out / "manifest.csv").rows) == 2
    assert run_app(["synth", str(tmp_path / "x"), "--sites", "0"]) == 2
    assert run_app(["synth", str(tmp_path / "x"), "--prevalence", "lymphoma=1"]) == 2
    assert "lymphoma" in capsys.readouterr().err


def test_config_errors_name_the_problem():
    with pytest.raises(InputError, match="--sites"):
        SynthConfig(n_cases=2, n_sites=3)
    with pytest.raises(InputError, match="resolution"):
        SynthConfig(resolution_mm=0.5)
    with pytest.raises(InputError, match="TYPE=WEIGHT"):
        parse_prevalence("glioblastoma")
    with pytest.raises(InputError, match="coarser"):
        SynthConfig(resolution_mm=4.0, pet_resolution_mm=3.0)
