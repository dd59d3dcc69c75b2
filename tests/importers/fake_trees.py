"""Tiny fake copies of public dataset trees, with the real folder, file and column names.

Every volume is 8x8x8 on one 1 mm grid; segmentations hold the dataset's own codes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from imagination.cohort.nifti import write_nifti

SHAPE = (8, 8, 8)
AFFINE = np.diag([1.0, 1.0, 1.0, 1.0])
AFFINE[:3, 3] = (-4.0, -4.0, -4.0)


def image(path: Path, *, seed: int = 0, zscored: bool = False) -> Path:
    rng = np.random.default_rng(seed)
    data = rng.uniform(100.0, 200.0, SHAPE).astype(np.float32)
    data[:1], data[-1:] = 0.0, 0.0
    if zscored:
        data = (data - data.mean()) / data.std()  # background becomes negative
    return write_nifti(path, data, AFFINE)


def segmentation(path: Path, codes: tuple[int, ...]) -> Path:
    data = np.zeros(SHAPE, dtype=np.uint8)
    for i, code in enumerate(codes):
        data[2 + i, 2:5, 2:5] = code
    return write_nifti(path, data, AFFINE)


def brain_mask(path: Path) -> Path:
    data = np.zeros(SHAPE, dtype=np.uint8)
    data[1:7, 1:7, 1:7] = 1
    return write_nifti(path, data, AFFINE)


def csv(path: Path, header: list[str], rows: list[list[str]], sep: str = ",") -> Path:
    def cell(value: str) -> str:
        return f'"{value}"' if sep in value else value

    lines = [sep.join(cell(c) for c in header)] + [sep.join(cell(c) for c in r) for r in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def brats2021(root: Path, ids: tuple[str, ...] = ("00000", "00097", "00123")) -> Path:
    base = root / "RSNA_ASNR_MICCAI_BraTS2021_TrainingData_16July2021"
    for n, number in enumerate(ids):
        case = f"BraTS2021_{number}"
        for k, suffix in enumerate(("t1", "t1ce", "t2", "flair")):
            image(base / case / f"{case}_{suffix}.nii.gz", seed=n * 10 + k)
        segmentation(base / case / f"{case}_seg.nii.gz", (1, 2, 4))
    csv(root / "BraTS2021_MappingToTCIA.csv",
        ["BraTS2021 ID", "Data Collection (as on TCIA+additional)", "Segmentation (Task 1) Cohort"],
        [[f"BraTS2021_{ids[0]}", "TCGA-GBM", "Training"],
         [f"BraTS2021_{ids[1]}", "UCSF-PDGM", "Training"]])
    csv(root / "train_labels.csv", ["BraTS21ID", "MGMT_value"],
        [[str(int(ids[0])), "1"], [str(int(ids[1])), "0"]])
    return root


def brats2023(root: Path, collections: tuple[str, ...] = ("GLI",)) -> Path:
    for kind in collections:
        for case in (f"BraTS-{kind}-00000-000", f"BraTS-{kind}-00000-001",
                     f"BraTS-{kind}-00002-000"):
            for k, suffix in enumerate(("t1n", "t1c", "t2w", "t2f")):
                image(root / case / f"{case}-{suffix}.nii.gz", seed=k)
            segmentation(root / case / f"{case}-seg.nii.gz", (1, 2, 3))
    return root


UCSF_HEADER = ["ID", "Sex", "Age at MRI", "WHO CNS Grade", "Final pathologic diagnosis (WHO 2021)",
               "MGMT status", "MGMT index", "1p/19q", "IDH", "1-dead 0-alive", "OS", "EOR",
               "Biopsy prior to imaging", "BraTS21 ID", "BraTS21 Segmentation Cohort",
               "BraTS21 MGMT Cohort"]


def ucsf_pdgm(root: Path) -> Path:
    base = root / "UCSF-PDGM-v5"
    for n, case in enumerate(("UCSF-PDGM-0004", "UCSF-PDGM-0005", "UCSF-PDGM-0391",
                              "UCSF-PDGM-0391_FU016d")):
        folder = base / f"{case}_nifti"
        for k, suffix in enumerate(("T1", "T1c", "T2", "FLAIR", "T1_bias", "T1c_bias", "T2_bias",
                                    "FLAIR_bias", "ADC", "DWI", "SWI")):
            image(folder / f"{case}_{suffix}.nii.gz", seed=n * 20 + k)
        segmentation(folder / f"{case}_tumor_segmentation.nii.gz", (1, 2, 4))
        brain_mask(folder / f"{case}_brain_segmentation.nii.gz")
    csv(root / "UCSF-PDGM-metadata_v5.csv", UCSF_HEADER, [
        ["UCSF-PDGM-004", "M", "66", "4", "Glioblastoma, IDH-wildtype", "negative", "0",
         "unknown", "wildtype", "1", "1303", "STR", "No", "BraTS2021_00097", "Training",
         "Training"],
        ["UCSF-PDGM-005", "F", "38", "2", "Astrocytoma, IDH-mutant", "positive", "9",
         "relative co-deletion", "IDH1 p.R132H", "0", "", "GTR", "No", "", "", ""],
        ["UCSF-PDGM-391", "F", "45", "3", "Oligodendroglioma, IDH-mutant, 1p/19q-codeleted",
         "indeterminate", "unknown", "co-deletion", "mutated (NOS)", "0", "900", "biopsy", "Yes",
         "", "", ""],
        ["UCSF-PDGM-0391_FU016d", "F", "45", "3",
         "Oligodendroglioma, IDH-mutant, 1p/19q-codeleted", "indeterminate", "unknown",
         "co-deletion", "mutated (NOS)", "0", "900", "biopsy", "Yes", "", "", ""],
        ["UCSF-PDGM-007", "M", "70", "4", "Glioblastoma, IDH-wildtype", "positive", "12",
         "unknown", "wildtype", "1", "300", "GTR", "No", "", "", ""],
    ])
    return root


def upenn_gbm(root: Path) -> Path:
    base = root / "NIfTI-files"
    for n, case in enumerate(("UPENN-GBM-00001_11", "UPENN-GBM-00001_21", "UPENN-GBM-00002_11")):
        for k, suffix in enumerate(("T1", "T1GD", "T2", "FLAIR")):
            image(base / "images_structural" / case / f"{case}_{suffix}.nii.gz", seed=n * 5 + k)
        segmentation(base / "automated_segm" / f"{case}_automated_approx_segm.nii.gz", (1, 2, 4))
    segmentation(base / "images_segm" / "UPENN-GBM-00001_11_segm.nii.gz", (1, 2, 4))
    csv(root / "UPENN-GBM_clinical_info_v2.1.csv",
        ["ID", "Gender", "Age_at_scan_years", "Survival_from_surgery_days_UPDATED",
         "Survival_Status", "Survival_Censor", "IDH1", "MGMT", "KPS", "GTR_over90percent",
         "PsP_TP_score"],
        [["UPENN-GBM-00001_11", "F", "52.16", "960", "Deceased", "1", "Wildtype", "Methylated",
          "90", "Y", "Not Available"],
         ["UPENN-GBM-00002_11", "M", "61.2", "Not Available", "Alive", "0", "NOS/NEC",
          "Not Available", "Not Available", "N", "Not Available"]])
    return root


def egd(root: Path) -> Path:
    brain_mask(root / "METADATA" / "Brain_mask.nii.gz")
    brain_mask(root / "METADATA" / "Deface_mask.nii.gz")
    labels = [{"IDH": 1, "1p19q": 0, "Grade": 3}, {"IDH": 0, "1p19q": -1, "Grade": 4}]
    for n, case in enumerate(("EGD-0001", "EGD-0002")):
        folder = root / "SUBJECTS" / case
        for k, name in enumerate(("T1", "T1GD", "T2", "FLAIR")):
            image(folder / f"{name}.nii.gz", seed=n * 5 + k)
        brain_mask(folder / "MASK.nii.gz")
        (folder / "metadata.json").write_text(json.dumps({
            "Genetic_and_Histological_labels": labels[n],
            "Clinical_data": {"Age": 41.5 + n, "Sex": "M" if n else "F"},
            "Segmentation_source": {"Observer": "AI", "Original scan": "T1GD"},
            "Scan_characteristics": {"Manufacturer": "Philips Medical Systems",
                                     "System": "Ingenia", "Field": 3.0 if n else 1.5},
        }))
    return root


LUMIERE_RATING = ("Rating (according to RANO, PD: Progressive disease, SD: Stable disease, "
                  "PR: Partial response, CR: Complete response, Pre-Op: Pre-Operative, "
                  "Post-Op: Post-Operative)")


def lumiere(root: Path) -> Path:
    imaging = root / "Imaging"
    for n, (patient, week) in enumerate((("Patient-001", "week-000-1"),
                                         ("Patient-001", "week-000-2"),
                                         ("Patient-001", "week-012"),
                                         ("Patient-001", "week-044"),
                                         ("Patient-001", "week-056"),
                                         ("Patient-002", "week-000"))):
        folder = imaging / patient / week
        for k, name in enumerate(("T1", "CT1", "T2", "FLAIR")):
            image(folder / f"{name}.nii.gz", seed=n * 5 + k)
        if patient == "Patient-002":
            continue  # no DeepBraTumIA outputs for this week
        atlas = folder / "DeepBraTumIA-segmentation" / "atlas"
        for k, name in enumerate(("t1", "ct1", "t2", "flair")):
            image(atlas / "skull_strip" / f"{name}_skull_strip.nii.gz", seed=n * 7 + k)
        brain_mask(atlas / "skull_strip" / "brain_mask.nii.gz")
        segmentation(atlas / "segmentation" / "seg_mask.nii.gz", (1, 2, 3))
    csv(root / "LUMIERE-Demographics_Pathology.csv",
        ["Patient", "Survival time (weeks)", "Sex", "Age at surgery (years)",
         "IDH (WT: wild type)", "IDH method", "MGMT qualitative", "MGMT quantitative"],
        [["Patient-001", "82", "male", "62", "WT", "NGS", "not methylated", "na"],
         ["Patient-002", "na", "female", "55", "na", "na", "methylated", "12%"]])
    csv(root / "LUMIERE-ExpertRating-v202211.csv",
        ["Patient", "Date", "LessThan3Months", "NonMeasurableLesions", LUMIERE_RATING,
         "Rating rationale (CRET: complete resection of the enhancing tumor, PRET: partial "
         "resection of the enhancing tumor, T2-Progr.: T2-Progression, L: Lesion)"],
        [["Patient-001", "week-000-1", "", "", "Pre-Op", ""],
         ["Patient-001", "week-000-2", "", "", "Post-Op", "PRET"],
         ["Patient-001", "week-012", "x", "", "SD", ""],
         ["Patient-001", "week-030", "", "", "SD", ""],  # no images for this week
         ["Patient-001", "week-044", "", "", "PR", ""],
         ["Patient-001", "week-056", "", "", "PD", "new L"],
         ["Patient-002", "week-000", "", "", "Pre-Op", ""]])
    csv(root / "LUMIERE-MRinfo.csv",
        ["Patient", "Timepoint", "Sequence", "Field strength", "Manufacturer", "Model"],
        [["Patient-001", "week-044", "CT1", "3", "SIEMENS", "Skyra"],
         ["Patient-001", "week-044", "T1", "1.5", "SIEMENS", "Aera"]])
    return root


RHUH_IDH = "IDH status = (mutant [mut], wild type [wt], NOS)"


def rhuh_gbm(root: Path) -> Path:
    for patient in ("RHUH-0001", "RHUH-0002"):
        for t in ("0", "1", "2"):
            stem = f"{patient}_{t}"
            for k, suffix in enumerate(("t1", "t1ce", "t2", "flair", "adc")):
                image(root / patient / t / f"{stem}_{suffix}.nii.gz", seed=k, zscored=True)
            segmentation(root / patient / t / f"{stem}_segmentations.nii.gz", (1, 2, 3))
    csv(root / "clinical_data_TCIA_RHUH-GBM.csv",
        ["Patient ID", "Days from earliest imaging to surgery ", "Age", "Sex",
         "Preoperative KPS", "Histopathological subtype", "WHO grade", RHUH_IDH],
        [["RHUH-0001", "3", "63", "male", "80", "Glioblastoma", "4", "wt"],
         ["RHUH-0002", "5", "70", "female", "70", "Glioblastoma", "4", "NOS"]])
    return root


def bids(root: Path) -> Path:
    (root / "dataset_description.json").parent.mkdir(parents=True, exist_ok=True)
    (root / "dataset_description.json").write_text(
        json.dumps({"Name": "Glioma Study", "BIDSVersion": "1.8.0"}))
    csv(root / "participants.tsv", ["participant_id", "age", "sex", "site", "idh"],
        [["sub-01", "54", "M", "Bonn", "wildtype"], ["sub-02", "n/a", "F", "Koeln", "n/a"]],
        sep="\t")
    for n, (subject, session) in enumerate((("sub-01", "ses-pre"), ("sub-01", "ses-post"),
                                            ("sub-02", None))):
        folder = root / subject / (session or "") / "anat"
        prefix = f"{subject}_{session}" if session else subject
        for k, suffix in enumerate(("T1w", "ce-gadolinium_T1w", "T2w", "FLAIR")):
            image(folder / f"{prefix}_{suffix}.nii.gz", seed=n * 5 + k)
        seg = root / "derivatives" / "tumorseg" / subject / (session or "") / "anat"
        segmentation(seg / f"{prefix}_desc-tumor_dseg.nii.gz", (1, 2, 3))
        brain_mask(seg / f"{prefix}_desc-brain_mask.nii.gz")
    csv(root / "derivatives" / "tumorseg" / "desc-tumor_dseg.tsv", ["index", "name"],
        [["1", "NETC"], ["2", "SNFH"], ["3", "ET"]], sep="\t")
    return root


BUILDERS = {
    "brats2021": brats2021, "brats2023": brats2023, "ucsf-pdgm": ucsf_pdgm,
    "upenn-gbm": upenn_gbm, "egd": egd, "lumiere": lumiere, "rhuh-gbm": rhuh_gbm, "bids": bids,
}
