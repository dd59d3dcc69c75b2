"""Synthetic multicenter cohort: plan the cases, synthesise each one, write the files.

Every case has its own random stream derived from (seed, case index), so the output is the same
whatever the number of worker processes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imagination.cohort.synthetic.anatomy import load_anatomy
from imagination.cohort.synthetic.config import GENERATOR_VERSION, SynthConfig
from imagination.cohort.synthetic.course import allot_fates
from imagination.cohort.synthetic.followup import simulate_followup
from imagination.cohort.synthetic.images import REFERENCE_LEVEL, synthesize_images
from imagination.cohort.synthetic.longitudinal import Subject, synthesize_series
from imagination.cohort.synthetic.pet import pet_grid, synthesize_pet
from imagination.cohort.synthetic.sites import (
    MR_MODALITIES,
    SiteProfile,
    apply_scanner,
    assign_sites,
    bias_field,
    make_sites,
)
from imagination.cohort.synthetic.tumor import ET, NETC, SNFH, grow_tumour
from imagination.cohort.synthetic.tumor_types import sample_case_parameters
from imagination.cohort.synthetic.writer import (
    case_folder,
    write_cohort_index,
    write_image,
    write_mask,
)
from imagination.cohort.vocabulary import TISSUES, tissue_column
from imagination.errors import InputError
from imagination.signals import map_in_processes


@dataclass(frozen=True)
class CasePlan:
    index: int
    case_id: str
    site: SiteProfile
    tumor_type: str
    #: treatment course of a subject with a longitudinal series (``course.FATE_WEIGHTS``)
    fate: str | None = None


@dataclass(frozen=True)
class CohortSummary:
    manifest: Path
    truth: Path
    n_cases: int
    type_counts: dict[str, int]


def plan_cohort(config: SynthConfig) -> list[CasePlan]:
    """Sites, their case counts and each case's tumour type (from the site's case mix)."""
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 0]))
    sites = make_sites(config, rng)
    site_of = assign_sites(config.n_cases, config.n_sites, rng)
    plans = []
    for index, site_index in enumerate(site_of):
        site = sites[site_index]
        names = sorted(site.type_mix)
        p = np.array([site.type_mix[n] for n in names])
        tumor_type = names[int(rng.choice(len(names), p=p / p.sum()))]
        plans.append(CasePlan(index=index, case_id=f"synth-{index + 1:03d}", site=site,
                              tumor_type=tumor_type))
    if config.followups == 0:
        return plans
    series = [p.index for p in plans if p.tumor_type == "glioblastoma"][:config.series]
    fates = allot_fates(len(series), np.random.default_rng(
        np.random.SeedSequence([config.seed, 3])))
    for index, fate in zip(series, fates, strict=True):
        plans[index] = dataclasses.replace(plans[index], fate=fate)
    return plans


def _volumes(labels: np.ndarray, voxel_ml: float) -> dict[str, float]:
    codes = {"NETC": NETC, "SNFH": SNFH, "ET": ET}
    return {name: float(np.count_nonzero(labels == code)) * voxel_ml
            for name, code in codes.items()}


def synthesize_case(plan: CasePlan, config: SynthConfig,
                    out_dir: Path) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Generate and write one subject's cases (one, or a series when ``plan.fate`` is set);
    return each case's manifest row and truth record."""
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 1, plan.index]))
    anatomy = load_anatomy(config.resolution_mm)
    grid = anatomy.atlas.grid
    voxel_ml = grid.voxel_volume_ml
    params = sample_case_parameters(rng, plan.tumor_type, plan.site.age_shift)
    tumour = grow_tumour(anatomy, params, rng)
    clean = synthesize_images(anatomy, tumour, params)
    bias = bias_field(grid.shape, plan.site.bias_amplitude, rng)
    folder = case_folder(plan.case_id)
    prefix = f"{folder}/{plan.case_id}"
    row: dict[str, Any] = {"case_id": plan.case_id, "subject_id": f"subject-{plan.index + 1:03d}",
                           "site": plan.site.name}
    for modality in MR_MODALITIES:
        image = apply_scanner(clean[modality], modality, plan.site, REFERENCE_LEVEL[modality],
                              bias, tumour.brain, grid.spacing, rng)
        row[modality] = write_image(out_dir, f"{prefix}_{modality}.nii.gz", image, grid)
    grid_pet = pet_grid(grid, config.pet_spacing_mm)
    pet = synthesize_pet(anatomy, tumour, params, grid_pet, plan.site.pet_noise_fraction, rng)
    row["pet"] = write_image(out_dir, f"{prefix}_pet.nii.gz", pet, grid_pet, dtype=np.float32)
    row["mask_tumor"] = write_mask(out_dir, f"{prefix}_seg.nii.gz", tumour.labels, grid)
    row["mask_brain"] = write_mask(out_dir, f"{prefix}_brain.nii.gz", tumour.brain, grid)
    for tissue in TISSUES:  # the template's tissue probabilities the tumour grew in
        probability = np.clip(getattr(anatomy.atlas, tissue), 0.0, 1.0) * tumour.brain
        row[tissue_column(tissue)] = write_image(out_dir, f"{prefix}_{tissue}.nii.gz",
                                                 probability, grid, dtype=np.float32)
    truth: dict[str, Any] = {
        "site": plan.site.name,
        "parameters": dataclasses.asdict(params),
        "seeds": tumour.seeds,
        "occult_foci": tumour.occult_foci,
        "growth_days": tumour.days,
        "volumes_ml": _volumes(tumour.labels, voxel_ml),
        "density": write_image(out_dir, f"truth/{plan.case_id}_density.nii.gz",
                               tumour.density, grid, dtype=np.float32),
    }
    if params.is_glioma and plan.fate is None:
        follow = simulate_followup(tumour, params, grid.spacing, voxel_ml)
        row["mask_recurrence"] = write_mask(out_dir, f"{prefix}_recurrence.nii.gz",
                                            follow.recurrence, grid)
        row["mask_cavity"] = write_mask(out_dir, f"{prefix}_cavity.nii.gz", follow.cavity, grid)
        truth["followup"] = {
            "days": follow.days,
            "cavity_ml": float(np.count_nonzero(follow.cavity)) * voxel_ml,
            "recurrence_ml": _volumes(follow.recurrence, voxel_ml),
        }
    row.update({
        "tumor_type": params.tumor_type, "idh": params.idh,
        "codeletion_1p19q": params.codeletion_1p19q, "mgmt": params.mgmt,
        "grade": params.grade, "age": params.age, "sex": params.sex,
        "scanner": plan.site.scanner, "field_strength": plan.site.field_strength,
    })
    if plan.fate is None:
        return [(row, truth)]
    subject = Subject(case_id=plan.case_id, subject_id=row["subject_id"], index=plan.index,
                      site=plan.site, anatomy=anatomy, params=params, tumour=tumour,
                      fate=plan.fate)
    preop, later = synthesize_series(subject, config.followups, out_dir, grid,
                                     config.pet_spacing_mm, config.seed)
    row.update(preop)
    truth.update({"timepoint": "preop", "day": 0, "fate": plan.fate})
    covariates = {k: row[k] for k in ("age", "sex", "scanner", "field_strength")}
    return [(row, truth)] + [({**exam, **covariates}, exam_truth) for exam, exam_truth in later]


def _synthesize_job(job: tuple[CasePlan, SynthConfig, Path]) -> list[tuple[dict, dict]]:
    return synthesize_case(*job)


def generate_cohort(out_dir: str | Path, config: SynthConfig) -> CohortSummary:
    """Write the whole cohort into ``out_dir`` (created if needed)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"output {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    plans = plan_cohort(config)
    jobs = [(plan, config, out) for plan in plans]
    # forked workers ignore Ctrl-C; the parent stops them at once
    results = map_in_processes(_synthesize_job, jobs, config.workers)
    results = [case for subject in results for case in subject]
    rows = [row for row, _ in results]
    truth = {
        "generator": {"version": GENERATOR_VERSION, "seed": config.seed,
                      "n_cases": config.n_cases, "n_sites": config.n_sites,
                      "resolution_mm": config.resolution_mm,
                      "pet_resolution_mm": config.pet_spacing_mm,
                      "prevalence": config.normalised_prevalence(),
                      "label_map": {"1": "NETC", "2": "SNFH", "3": "ET", "4": "RC"},
                      "recurrence_codes": {"1": "necrotic/non-enhancing core recurrence",
                                           "2": "non-enhancing FLAIR recurrence",
                                           "3": "enhancing recurrence"}},
        "sites": {p.site.name: dataclasses.asdict(p.site) for p in plans},
        "cases": {row["case_id"]: case_truth for row, case_truth in results},
    }
    if config.followups:
        truth["generator"].update({"followups": config.followups, "series": config.series,
                                   "response_rule": "RANO 2.0 volumetric on the tumour's "
                                   "enhancing volume vs baseline_case_id: CR none left, "
                                   "PR <= -65 %, PD >= +40 %, else SD"})
        truth["pairs"] = [{"case_id": row["case_id"], "baseline_case_id": row["baseline_case_id"],
                           "days_since_radiotherapy_end": row["days_since_radiotherapy_end"],
                           "response": row["response"],
                           "progression_type": row.get("progression_type")}
                          for row in rows if row.get("baseline_case_id")]
    manifest = write_cohort_index(out, rows, truth)
    counts: dict[str, int] = {}
    for row in rows:
        if row.get("tumor_type"):
            counts[row["tumor_type"]] = counts.get(row["tumor_type"], 0) + 1
    return CohortSummary(manifest=manifest, truth=out / "truth.json", n_cases=len(rows),
                         type_counts=dict(sorted(counts.items())))
