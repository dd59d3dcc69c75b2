"""A glioblastoma subject's series: pre-operative, post-radiotherapy and follow-up exams.

Every exam is a case (row) on the subject's one grid (the atlas grid): ``t1``, ``t1c``, ``t2``,
``flair``, ``adc``, ``rcbv``, ``pet``, ``mask_tumor`` (BraTS 2024 post-treatment codes: 1 NETC,
2 SNFH, 3 ET, 4 RC), ``mask_brain``. Follow-ups are linked to the post-radiotherapy exam
(``baseline_case_id``: the RANO 2.0 reference in newly diagnosed glioblastoma) and carry the
truth of the pair:

- ``response``: the RANO 2.0 volumetric rule on the *tumour's* enhancing volume (treatment-
  related enhancement excluded), reference → follow-up: CR when no enhancing tumour is left,
  PD at >= +40 %, PR at <= -65 %, else SD (:func:`volumetric_response`). For a
  pseudoprogression this is what a later confirming exam shows (SD or PR), not the
  "preliminary PD" the masks alone suggest within 12 weeks of radiotherapy;
- ``progression_type``: ``true_progression`` when the response is PD; ``pseudoprogression``
  when the enhancing mask (tumour + treatment effect) grew >= 40 % but the tumour did not;
  empty otherwise.

The pre-operative exam keeps the classification labels; the later exams carry none (their
images show a cavity, not the tumour the labels describe).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imagination.cohort.case import Grid
from imagination.cohort.synthetic.anatomy import Anatomy
from imagination.cohort.synthetic.course import (
    ExamState,
    Timeline,
    labeller,
    sample_timeline,
    simulate_course,
)
from imagination.cohort.synthetic.images import REFERENCE_LEVEL, synthesize_images
from imagination.cohort.synthetic.perfusion import synthesize_rcbv
from imagination.cohort.synthetic.pet import pet_grid, synthesize_pet
from imagination.cohort.synthetic.sites import MR_MODALITIES, SiteProfile, apply_scanner, bias_field
from imagination.cohort.synthetic.tumor import ET, Tumour
from imagination.cohort.synthetic.tumor_types import CaseParameters
from imagination.cohort.synthetic.writer import case_folder, write_image, write_mask
from imagination.rano.criteria import THRESHOLDS

#: RANO 2.0 volumetric thresholds (partial response decrease, progression increase).
PR_DECREASE, PD_INCREASE = THRESHOLDS["volumetric"]
EPSILON = 1e-9
#: Volume of a 10 mm sphere: the smallest measurable new enhancing lesion (RANO 2.0: 10 mm).
MEASURABLE_ML = 4.0 / 3.0 * np.pi * 5.0**3 / 1000.0
#: Fluid signal of a resection cavity relative to white matter (ADC absolute, 1e-6 mm²/s).
CAVITY_SIGNAL = {"t1": 0.3, "t1c": 0.3, "t2": 3.6, "flair": 0.25, "adc": 3000.0}


def volumetric_response(reference_ml: float, followup_ml: float) -> str:
    """RANO 2.0 volumetric category from two enhancing-tumour volumes."""
    if reference_ml <= 0.0:
        return "PD" if followup_ml >= MEASURABLE_ML else "SD"
    if followup_ml <= 0.0:
        return "CR"
    change = followup_ml / reference_ml - 1.0
    if change >= PD_INCREASE - EPSILON:  # "at least 40 %", whatever the float rounding
        return "PD"
    if change <= -PR_DECREASE + EPSILON:
        return "PR"
    return "SD"


def pair_truth(reference: ExamState, followup: ExamState, voxel_ml: float
               ) -> dict[str, Any]:
    """Response and progression type of one reference → follow-up pair, with its volumes."""
    ref_ml = float(np.count_nonzero(reference.tumour_enhancing)) * voxel_ml
    tumour_ml = float(np.count_nonzero(followup.tumour_enhancing)) * voxel_ml
    total_ml = float(np.count_nonzero(followup.labels == ET)) * voxel_ml
    response = volumetric_response(ref_ml, tumour_ml)
    kind = None
    if response == "PD":
        kind = "true_progression"
    elif followup.treatment_enhancement.any() and volumetric_response(ref_ml, total_ml) == "PD":
        kind = "pseudoprogression"
    return {"response": response, "progression_type": kind,
            "enhancing_ml": {"reference_tumour": ref_ml, "tumour": tumour_ml,
                             "treatment_effect": total_ml - tumour_ml, "total": total_ml}}


@dataclass(frozen=True)
class Subject:
    """What the series needs from the pre-operative case."""

    case_id: str
    subject_id: str
    index: int
    site: SiteProfile
    anatomy: Anatomy
    params: CaseParameters
    tumour: Tumour
    fate: str


def _with_cavity(images: dict[str, np.ndarray], cavity: np.ndarray) -> dict[str, np.ndarray]:
    from scipy import ndimage

    weight = np.clip(ndimage.gaussian_filter(cavity.astype(np.float32), 0.6), 0.0, 1.0)
    out = {}
    for modality, image in images.items():
        level = CAVITY_SIGNAL[modality] * (1.0 if modality == "adc" else REFERENCE_LEVEL[modality])
        out[modality] = (image * (1.0 - weight) + level * weight * (image > 0)).astype(np.float32)
    return out


def _exam_tumour(subject: Subject, state: ExamState) -> Tumour:
    base = subject.tumour
    none = np.zeros(state.labels.shape, dtype=bool)
    return Tumour(density=state.density, labels=state.labels, brain=base.brain,
                  texture=base.texture, necrotic=state.necrotic, mismatch=none, calcified=none,
                  diffusivity=None, thresholds=None, days=float(state.day))


def render_exam(subject: Subject, state: ExamState | None, case_id: str, out_dir: Path,
                grid: Grid, pet_spacing_mm: float, rcbv_gain: float,
                rng: np.random.Generator, *, rcbv_only: bool = False) -> dict[str, str]:
    """Write one exam's files; return its path cells. ``state`` None = the pre-operative
    tumour; ``rcbv_only`` writes just the rCBV map (the other pre-operative files exist)."""
    site, anatomy, tumour = subject.site, subject.anatomy, subject.tumour
    prefix = f"{case_folder(case_id)}/{case_id}"
    exam = tumour if state is None else _exam_tumour(subject, state)
    cavity = np.zeros(grid.shape, dtype=bool) if state is None else state.cavity
    treatment = cavity if state is None else state.treatment_enhancement
    cells: dict[str, str] = {}
    if not rcbv_only:
        clean = _with_cavity(synthesize_images(anatomy, exam, subject.params), cavity)
        bias = bias_field(grid.shape, site.bias_amplitude, rng)
        for modality in MR_MODALITIES:
            image = apply_scanner(clean[modality], modality, site, REFERENCE_LEVEL[modality],
                                  bias, exam.brain, grid.spacing, rng)
            cells[modality] = write_image(out_dir, f"{prefix}_{modality}.nii.gz", image, grid)
    rcbv = synthesize_rcbv(anatomy, exam.density, subject.params.u_t1c, rcbv_gain,
                           exam.necrotic, treatment, cavity, exam.brain,
                           4.0 * site.noise_fraction, rng)
    cells["rcbv"] = write_image(out_dir, f"{prefix}_rcbv.nii.gz", rcbv, grid, dtype=np.float32)
    if not rcbv_only and state is not None:
        grid_pet = pet_grid(grid, pet_spacing_mm)
        pet = synthesize_pet(anatomy, exam, subject.params, grid_pet, site.pet_noise_fraction,
                             rng)
        cells["pet"] = write_image(out_dir, f"{prefix}_pet.nii.gz", pet, grid_pet,
                                   dtype=np.float32)
        cells["mask_tumor"] = write_mask(out_dir, f"{prefix}_seg.nii.gz", state.labels, grid)
        cells["mask_brain"] = write_mask(out_dir, f"{prefix}_brain.nii.gz", exam.brain, grid)
    return cells


def synthesize_series(subject: Subject, n_followups: int, out_dir: Path, grid: Grid,
                      pet_spacing_mm: float, seed: int
                      ) -> tuple[dict[str, Any], list[tuple[dict[str, Any], dict[str, Any]]]]:
    """The pre-operative exam's extra cells and the later exams' (row, truth) records."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2, subject.index]))
    timeline: Timeline = sample_timeline(n_followups, rng)
    rcbv_gain = float(rng.uniform(2.0, 4.5))
    thresholds = subject.tumour.thresholds
    if thresholds is None:
        raise ValueError(f"{subject.case_id}: a series needs a glioma")
    label = labeller(thresholds, subject.params, grid.spacing)
    states = simulate_course(subject.tumour, subject.params, subject.fate, timeline,
                             grid.spacing, label, rng)
    preop = render_exam(subject, None, subject.case_id, out_dir, grid, pet_spacing_mm,
                        rcbv_gain, rng, rcbv_only=True)
    preop.update({"timepoint": "preop", "days_from_baseline": 0,
                  "days_since_radiotherapy_end": -timeline.radiotherapy_end})
    voxel_ml = grid.voxel_volume_ml
    reference_id = f"{subject.case_id}-postrt"
    exams: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for k, state in enumerate(states):
        timepoint = "postrt" if k == 0 else f"fu{k}"
        case_id = f"{subject.case_id}-{timepoint}"
        row: dict[str, Any] = {"case_id": case_id, "subject_id": subject.subject_id,
                               "site": subject.site.name, "timepoint": timepoint,
                               "days_from_baseline": state.day,
                               "days_since_radiotherapy_end":
                                   state.day - timeline.radiotherapy_end}
        row.update(render_exam(subject, state, case_id, out_dir, grid, pet_spacing_mm,
                               rcbv_gain, rng))
        truth: dict[str, Any] = {"subject_id": subject.subject_id, "timepoint": timepoint,
                                 "day": state.day, "fate": subject.fate,
                                 "cavity_ml": float(np.count_nonzero(state.cavity)) * voxel_ml}
        if k > 0:
            pair = pair_truth(states[0], state, voxel_ml)
            row.update({"baseline_case_id": reference_id, "response": pair["response"],
                        "progression_type": pair["progression_type"]})
            truth.update({"baseline_case_id": reference_id, **pair})
        exams.append((row, truth))
    return preop, exams
