"""Longitudinal synthetic cohort (``synth --followups``): series, links, truth and RANO 2.0."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from imagination.cli.app import run_app
from imagination.cohort.loading import load_case, read_volume
from imagination.cohort.manifest import read_manifest
from imagination.cohort.synthetic import SynthConfig, generate_cohort
from imagination.cohort.synthetic.course import allot_fates
from imagination.cohort.synthetic.longitudinal import volumetric_response
from imagination.cohort.validation import validate_manifests
from imagination.config import SyntheticCohort
from imagination.errors import InputError
from imagination.rano.criteria import PSEUDOPROGRESSION_WINDOW_DAYS, assess

ET = 3  # BraTS 2024 post-treatment enhancing tissue


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def _table(cohort: Path) -> pd.DataFrame:
    return pd.read_csv(cohort / "manifest.csv", dtype=str, keep_default_na=False
                       ).set_index("case_id")


def _pairs(cohort: Path) -> list[dict[str, Any]]:
    return json.loads((cohort / "truth.json").read_text())["pairs"]


def _volume(cohort: Path, cell: str):  # type: ignore[no-untyped-def]
    return read_volume(cohort / cell, kind="mask" if "seg" in cell else "image")


def test_the_rano_2_volumetric_rule_by_hand():
    assert volumetric_response(10.0, 3.4) == "PR"   # -66 %
    assert volumetric_response(10.0, 3.6) == "SD"   # -64 %
    assert volumetric_response(10.0, 13.9) == "SD"  # +39 %
    assert volumetric_response(10.0, 14.0) == "PD"  # +40 %
    assert volumetric_response(10.0, 0.0) == "CR"
    assert volumetric_response(0.0, 0.6) == "PD"    # a new lesion larger than a 10 mm ball
    assert volumetric_response(0.0, 0.5) == "SD"


def test_fates_follow_the_documented_proportions():
    fates = allot_fates(8, np.random.default_rng(0))
    assert sorted(fates) == sorted(["true_progression"] * 4 + ["pseudoprogression",
                                    "partial_response", "stable", "complete_response"])
    many = allot_fates(100, np.random.default_rng(0))
    assert (many.count("true_progression"), many.count("pseudoprogression")) == (42, 14)
    assert many.count("pseudoprogression") / (many.count("pseudoprogression")
                                              + many.count("true_progression")) == 0.25


def test_series_validates_and_links_follow_ups_to_the_post_radiotherapy_exam(
        longitudinal_cohort):
    problems = validate_manifests([longitudinal_cohort / "manifest.csv"])
    assert [str(p) for p in problems if p.is_error] == []
    assert run_app(["validate", str(longitudinal_cohort / "manifest.csv")]) == 0
    cases = read_manifest(longitudinal_cohort / "manifest.csv").cases()
    assert len(cases) == 8 * 4
    by_subject: dict[str, list] = {}
    for case in cases:
        by_subject.setdefault(case.subject_id, []).append(case)
    for exams in by_subject.values():
        assert [c.timepoint for c in exams] == ["preop", "postrt", "fu1", "fu2"]
        preop, post, fu1, fu2 = exams
        assert preop.days_from_baseline == 0 and preop.days_since_radiotherapy_end < 0
        assert 21 <= post.days_since_radiotherapy_end <= 35
        assert fu1.days_since_radiotherapy_end < PSEUDOPROGRESSION_WINDOW_DAYS
        assert fu1.days_from_baseline < fu2.days_from_baseline
        assert {fu1.baseline_case_id, fu2.baseline_case_id} == {post.case_id}
        assert preop.baseline_case_id is None and post.baseline_case_id is None
        assert preop.labels["tumor_type"] == "glioblastoma" and fu1.labels["idh"] is None
        for exam in exams:
            assert {"t1", "t1c", "t2", "flair", "rcbv", "pet"} <= set(exam.images)
            assert {"tumor", "brain"} <= set(exam.masks)


def test_truth_agrees_with_the_rano_engine_on_the_written_masks(longitudinal_cohort):
    table, agree, checked, early = _table(longitudinal_cohort), 0, 0, []
    for pair in _pairs(longitudinal_cohort):
        base = _volume(longitudinal_cohort, table.loc[pair["baseline_case_id"], "mask_tumor"])
        follow = _volume(longitudinal_cohort, table.loc[pair["case_id"], "mask_tumor"])
        call = assess(base.array == ET, follow.array == ET, base.grid.spacing, "volumetric",
                      pair["days_since_radiotherapy_end"])
        assert table.loc[pair["case_id"], "response"] == pair["response"]
        if call.response == "PD" and call.preliminary:
            early.append(pair["progression_type"])
        if pair["progression_type"] == "pseudoprogression":
            assert pair["response"] in ("SD", "PR")
            if pair["days_since_radiotherapy_end"] < PSEUDOPROGRESSION_WINDOW_DAYS:
                assert call.response == "PD" and call.preliminary  # the masks alone: PD
            continue
        checked += 1
        agree += call.response == pair["response"]
    assert checked >= 12 and agree / checked >= 0.9
    assert {p["response"] for p in _pairs(longitudinal_cohort)} == {"CR", "PR", "SD", "PD"}
    # early enlargements: true progression and pseudoprogression, the latter 20-30 %
    assert set(early) == {"true_progression", "pseudoprogression"}
    assert 0.15 <= early.count("pseudoprogression") / len(early) <= 0.35


def _tbr(exam, region: np.ndarray) -> float:  # type: ignore[no-untyped-def]
    """PET tumour-to-background ratio of ``region`` (background: brain outside the lesion)."""
    pet = exam.images["pet"]
    background = (exam.masks["brain"] > 0) & (exam.masks["tumor"] == 0)
    return float(np.mean(pet[region]) / np.median(pet[background]))


def test_pseudoprogression_has_low_rcbv_and_pet_and_shrinks(longitudinal_cohort):
    """In the new enhancement (enhancing at follow-up, not at the reference) rCBV is high in
    true progression and low (< 1.75) in pseudoprogression, and PET uptake rises from the
    reference only in true progression; pseudoprogression shrinks later."""
    cases = {c.case_id: c for c in read_manifest(longitudinal_cohort / "manifest.csv").cases()}
    perfusion: dict[str, list[float]] = {"true_progression": [], "pseudoprogression": []}
    uptake: dict[str, list[float]] = {"true_progression": [], "pseudoprogression": []}
    enhancing: dict[str, list[int]] = {}
    for pair in _pairs(longitudinal_cohort):
        follow = load_case(cases[pair["case_id"]])
        et = follow.masks["tumor"] == ET
        enhancing.setdefault(follow.case.subject_id, []).append(int(et.sum()))
        kind = pair["progression_type"]
        if kind not in perfusion or not pair["case_id"].endswith("fu1"):
            continue
        base = load_case(cases[pair["baseline_case_id"]])
        new = et & (base.masks["tumor"] != ET)
        perfusion[kind].append(float(np.mean(follow.images["rcbv"][new])))
        uptake[kind].append(_tbr(follow, new) - _tbr(base, new))
    assert perfusion["pseudoprogression"] and perfusion["true_progression"]
    assert max(perfusion["pseudoprogression"]) < 1.75 < min(perfusion["true_progression"])
    assert max(uptake["pseudoprogression"]) < 0.0 < min(uptake["true_progression"])
    for pair in _pairs(longitudinal_cohort):
        if pair["progression_type"] == "pseudoprogression" and pair["case_id"].endswith("fu1"):
            first, later = enhancing[cases[pair["case_id"]].subject_id]
            assert later < first  # transient: the treatment-related enhancement shrinks


def test_same_arguments_give_identical_files_fast_and_workers_do_not_matter(tmp_path):
    def config(workers: int) -> SynthConfig:
        return SynthConfig(n_cases=3, n_sites=2, seed=4, resolution_mm=6.0, workers=workers,
                           prevalence={"glioblastoma": 1.0}, followups=1)

    started = time.perf_counter()
    generate_cohort(tmp_path / "a", config(1))
    assert time.perf_counter() - started < 30
    generate_cohort(tmp_path / "b", config(2))
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert len(_table(tmp_path / "a")) == 3 * 3


def test_cohorts_without_followups_are_byte_identical_to_the_previous_generator(tmp_path):
    # digest of the cohort the generator wrote before longitudinal series existed (2cff450)
    generate_cohort(tmp_path, SynthConfig(n_cases=5, n_sites=2, seed=3, resolution_mm=6.0))
    assert _digest(tmp_path) == (
        "1ae6e1c7776df0e91d644759523cc17ad386cc7601d47d4a96b9deafc533c62b")


def test_cli_and_bench_config_reach_the_series(tmp_path, capsys):
    assert run_app(["synth", str(tmp_path / "c"), "--cases", "2", "--sites", "1",
                    "--resolution", "6", "--prevalence", "glioblastoma=1", "--followups", "1",
                    "--series", "1", "--workers", "1"]) == 0
    assert "longitudinal: 2 later exams" in capsys.readouterr().out
    assert list(_table(tmp_path / "c")["timepoint"]) == ["preop", "postrt", "fu1", ""]
    spec = SyntheticCohort.model_validate({"cases": 8, "followups": 2, "series": 4})
    assert (spec.followups, spec.series) == (2, 4)
    with pytest.raises(InputError, match="--followups"):
        SynthConfig(followups=-1)
