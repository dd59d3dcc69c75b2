"""The imaging phenotypes are really in the images, and PET sees the future recurrence."""

from __future__ import annotations

import json
import statistics

import nibabel as nib
import numpy as np
from nibabel.processing import resample_from_to
from scipy import ndimage

from imagination.cohort.manifest import read_manifest


def _array(path) -> np.ndarray:
    return np.asarray(nib.load(path).dataobj, dtype=np.float64)


def _normal_brain(case, seg):
    brain = _array(case.masks["brain"]) > 0
    return brain & ~ndimage.binary_dilation(seg > 0, iterations=2)


def _flair_to_t2_ratio(case) -> float:
    """(FLAIR lesion / FLAIR normal) / (T2 lesion / T2 normal) inside the lesion core."""
    seg = _array(case.masks["tumor"])
    core = ndimage.binary_erosion((seg == 1) | (seg == 3))
    if core.sum() < 5:  # small cores at coarse resolution: use the whole core
        core = (seg == 1) | (seg == 3)
    normal = _normal_brain(case, seg)
    t2, flair = _array(case.images["t2"]), _array(case.images["flair"])
    return float((np.median(flair[core]) / np.median(flair[normal]))
                 / (np.median(t2[core]) / np.median(t2[normal])))


def _enhancement(case) -> float:
    """Relative T1c gain over T1 at the brightest lesion voxels (95th percentile)."""
    seg = _array(case.masks["tumor"])
    lesion, normal = seg > 0, _normal_brain(case, seg)
    t1, t1c = _array(case.images["t1"]), _array(case.images["t1c"])
    return float((np.percentile(t1c[lesion], 95) / np.median(t1c[normal]))
                 / (np.percentile(t1[lesion], 95) / np.median(t1[normal])))


def test_t2_flair_mismatch_is_visible_and_more_frequent_in_astrocytomas(phenotype_cohort):
    truth = json.loads((phenotype_cohort / "truth.json").read_text())["cases"]
    by_type: dict[str, list[bool]] = {}
    ratio_with, ratio_without = [], []
    for case in read_manifest(phenotype_cohort / "manifest.csv").cases():
        ratio = _flair_to_t2_ratio(case)
        has_sign = truth[case.case_id]["parameters"]["mismatch"]
        (ratio_with if has_sign else ratio_without).append(ratio)
        seg = _array(case.masks["tumor"])
        barely_enhancing = (seg == 3).sum() < 0.1 * ((seg == 1) | (seg == 3)).sum()
        by_type.setdefault(case.labels["tumor_type"], []).append(ratio < 0.75
                                                                  and barely_enhancing)
    # the sign is in the pixels: FLAIR is suppressed relative to T2 where it was drawn
    assert max(ratio_with) < statistics.median(ratio_without)
    astro = statistics.fmean(by_type["astrocytoma"])
    others = [v for t, flags in by_type.items() if t != "astrocytoma" for v in flags]
    assert astro >= 0.3
    assert astro > statistics.fmean(others)


def test_glioblastomas_enhance_more_than_idh_mutant_gliomas(phenotype_cohort):
    gains: dict[bool, list[float]] = {True: [], False: []}
    for case in read_manifest(phenotype_cohort / "manifest.csv").cases():
        gains[case.labels["tumor_type"] == "glioblastoma"].append(_enhancement(case))
    assert len(gains[True]) >= 3 and len(gains[False]) >= 3
    assert min(gains[True]) > 1.3
    assert statistics.median(gains[False]) < 1.1
    assert min(gains[True]) > statistics.median(gains[False])


def test_pet_uptake_covers_more_of_the_later_recurrence_than_the_visible_lesion(
        phenotype_cohort):
    pet_cover, lesion_cover = [], []
    for case in read_manifest(phenotype_cohort / "manifest.csv").cases():
        reference = nib.load(case.images["t1c"])
        pet = np.asarray(resample_from_to(nib.load(case.images["pet"]), reference,
                                          order=1).dataobj)
        seg = _array(case.masks["tumor"])
        recurrence = _array(case.masks["recurrence"]) > 0
        if not recurrence.any():
            continue
        tbr = pet / np.median(pet[_normal_brain(case, seg)])
        brain = _array(case.masks["brain"]) > 0
        pet_cover.append((recurrence & (tbr >= 1.6) & brain).sum() / recurrence.sum())
        lesion_cover.append((recurrence & ((seg == 1) | (seg == 3))).sum() / recurrence.sum())
    assert len(pet_cover) >= 10
    assert statistics.fmean(pet_cover) > statistics.fmean(lesion_cover) + 0.3


def test_glioblastoma_patients_are_older_than_idh_mutant_patients(phenotype_cohort):
    ages: dict[str, list[float]] = {}
    for case in read_manifest(phenotype_cohort / "manifest.csv").cases():
        ages.setdefault(case.labels["idh"], []).append(float(case.covariates["age"]))
    assert statistics.fmean(ages["wildtype"]) > statistics.fmean(ages["mutant"]) + 10


def test_sites_differ_in_scanner_and_intensity(mixed_cohort):
    truth = json.loads((mixed_cohort / "truth.json").read_text())
    scales = [site["intensity_scale"]["t2"] for site in truth["sites"].values()]
    assert len(scales) == 3 and max(scales) / min(scales) > 1.05
    levels: dict[str, list[float]] = {}
    for case in read_manifest(mixed_cohort / "manifest.csv").cases():
        seg = _array(case.masks["tumor"])
        t2 = _array(case.images["t2"])
        levels.setdefault(case.site, []).append(float(np.median(t2[_normal_brain(case, seg)])))
        assert case.covariates["scanner"] and case.covariates["field_strength"] in (1.5, 3.0)
    site_medians = [statistics.median(v) for v in levels.values()]
    assert max(site_medians) / min(site_medians) > 1.05


def test_occult_foci_are_invisible_on_mri_but_raise_pet_uptake(phenotype_cohort):
    truth = json.loads((phenotype_cohort / "truth.json").read_text())["cases"]
    checked = 0
    for case in read_manifest(phenotype_cohort / "manifest.csv").cases():
        record = truth[case.case_id]
        if not record["occult_foci"]:
            continue
        seg = _array(case.masks["tumor"])
        density = _array(phenotype_cohort / record["density"])
        reference = nib.load(case.images["t1c"])
        pet = np.asarray(resample_from_to(nib.load(case.images["pet"]), reference,
                                          order=1).dataobj)
        background = np.median(pet[_normal_brain(case, seg)])
        for focus in record["occult_foci"]:
            voxel = tuple(focus["voxel"])
            assert density[voxel] < record["parameters"]["u_flair"]
            assert seg[voxel] in (0, 2)  # never core; FLAIR only where vasogenic oedema reaches
            assert pet[voxel] > 1.1 * background
            checked += 1
    assert checked >= 3


def test_iso_volumetric_pet_plan_beats_the_15_mm_margin_which_stays_fair(phenotype_cohort):
    """PREDICT-GBM protocol: core + 15 mm vs the same number of top PET voxels."""
    standard, pet_plan = [], []
    for case in read_manifest(phenotype_cohort / "manifest.csv").cases():
        recurrence = _array(case.masks["recurrence"]) > 0
        if not recurrence.any():
            continue
        reference = nib.load(case.images["t1c"])
        spacing = reference.header.get_zooms()[:3]
        seg = _array(case.masks["tumor"])
        brain = _array(case.masks["brain"]) > 0
        core = (seg == 1) | (seg == 3)
        margin = brain & (ndimage.distance_transform_edt(~core, sampling=spacing) <= 15.0)
        pet = np.asarray(resample_from_to(nib.load(case.images["pet"]), reference,
                                          order=1).dataobj)
        order = np.argsort(-np.where(brain, pet, -np.inf).ravel(), kind="stable")
        top = np.zeros(pet.size, dtype=bool)
        top[order[: int(margin.sum())]] = True
        top = top.reshape(pet.shape)
        standard.append((recurrence & margin).sum() / recurrence.sum())
        pet_plan.append((recurrence & top).sum() / recurrence.sum())
    assert len(standard) >= 10
    assert statistics.fmean(standard) > 0.4  # the margin is a fair standard of care
    assert statistics.fmean(pet_plan) > statistics.fmean(standard) + 0.05
    assert sum(p >= s for p, s in zip(pet_plan, standard, strict=True)) > len(standard) / 2
