"""UPENN-GBM: ``images_structural/<ID>/<ID>_{T1,T1GD,T2,FLAIR}`` + clinical CSV.

``<ID>`` is ``UPENN-GBM-NNNNN_11`` (baseline) or ``_21`` (follow-up): one subject
``UPENN-GBM-NNNNN``, two cases. Segmentations exist in two kinds: manual
(``images_segm/<ID>_segm``, about 147 cases) and automated approximations
(``automated_segm/<ID>_automated_approx_segm``); the option ``segmentation`` chooses (default
``manual``, so that automated masks never silently become ground truth). Codes follow BraTS 2021
(1 NCR, 2 ED, 4 ET). ``UPENN-GBM_clinical_info_v*.csv`` holds one row per scan ID.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from imagination.cohort.importers import values
from imagination.cohort.importers.base import (
    Importer,
    ImportResult,
    Row,
    as_text,
    case_folders,
    find_table,
    nifti,
    option_choice,
    read_table,
    warn,
)
from imagination.cohort.manifest import ManifestMeta
from imagination.errors import InputError

CASE_PATTERN = r"UPENN-GBM-(\d{5})_(\d{2})"
TIMEPOINTS = {"11": "baseline", "21": "followup"}
MODALITY_FILES = {"t1": "T1", "t1c": "T1GD", "t2": "T2", "flair": "FLAIR"}
TABLE_PATTERNS = ("UPENN-GBM_clinical_info_v*.csv", "UPENN-GBM_clinical_info*.csv")
COL_ID, COL_SEX, COL_AGE, COL_IDH, COL_MGMT = "ID", "Gender", "Age_at_scan_years", "IDH1", "MGMT"
IDH = {"wildtype": "wildtype", "mutated": "mutant"}
MGMT = {"methylated": "methylated", "unmethylated": "unmethylated"}
IDH_MISSING = ("NOS/NEC", "NOS")
MGMT_MISSING = ("Indeterminate",)
SEGMENTATIONS = ("manual", "automated", "manual-first")


class UpennGbmImporter(Importer):
    name = "upenn-gbm"
    title = "UPENN-GBM NIfTI-files (images_structural, images_segm/automated_segm)"
    options: ClassVar[Mapping[str, str]] = {
        "clinical": "path of UPENN-GBM_clinical_info_v*.csv (default: found under ROOT)",
        "segmentation": "manual (default), automated, or manual-first (automated where no "
                        "manual mask exists)",
    }

    def expected_layout(self) -> str:
        return ("images_structural/UPENN-GBM-NNNNN_11/UPENN-GBM-NNNNN_11_{T1,T1GD,T2,FLAIR}"
                ".nii.gz, images_segm/<ID>_segm.nii.gz, automated_segm/"
                "<ID>_automated_approx_segm.nii.gz")

    def scan(self, root: Path, options: Mapping[str, str]) -> ImportResult:
        choice = option_choice(self.name, options, "segmentation", SEGMENTATIONS, "manual")
        structural = self._folder(root, "images_structural")
        if structural is None:
            raise InputError(f"{self.name}: no images_structural folder under {root}; "
                             f"expected {self.expected_layout()}")
        base = structural.parent
        manual_dir, automated_dir = base / "images_segm", base / "automated_segm"
        table_path = find_table(self.name, root, TABLE_PATTERNS, options.get("clinical"))
        clinical = self._clinical(table_path) if table_path else {}
        if table_path is None:
            warn(self.name, f"no UPENN-GBM_clinical_info_v*.csv under {root}; imported "
                            f"without labels (pass -O clinical=PATH)")
        rows: list[Row] = []
        for folder in case_folders(structural, CASE_PATTERN, depth=0):
            case_id = folder.name
            match = re.fullmatch(CASE_PATTERN, case_id)
            assert match is not None  # case_folders matched the same pattern
            number, code = match.groups()
            images = {m: nifti(folder, f"{case_id}_{f}") for m, f in MODALITY_FILES.items()}
            if not any(images.values()):
                raise InputError(
                    f"{self.name}: folder {folder} holds none of "
                    f"{', '.join(f'{case_id}_{f}.nii.gz' for f in MODALITY_FILES.values())}")
            row: Row = {"case_id": case_id, "subject_id": f"UPENN-GBM-{number}",
                        "site": "UPenn", "timepoint": TIMEPOINTS.get(code, code), "grade": "4"}
            row.update({m: as_text(p) for m, p in images.items()})
            manual = nifti(manual_dir, f"{case_id}_segm")
            automated = nifti(automated_dir, f"{case_id}_automated_approx_segm")
            mask = {"manual": manual, "automated": automated,
                    "manual-first": manual or automated}[choice]
            row["mask_tumor"] = as_text(mask)
            row.update(clinical.get(case_id) or self._patient_level(clinical, number))
            rows.append(row)
        meta = ManifestMeta(name=self.name, label_map="brats2021",
                            vocabularies=values.vocabularies_for(rows))
        return rows, meta

    @staticmethod
    def _folder(root: Path, name: str) -> Path | None:
        for candidate in (root / name, root / "NIfTI-files" / name, *root.glob(f"*/{name}"),
                          *root.glob(f"*/*/{name}")):
            if candidate.is_dir():
                return candidate
        return None

    @staticmethod
    def _patient_level(clinical: dict[str, Row], number: str) -> Row:
        """IDH and MGMT of the subject's baseline row for a follow-up scan without its own."""
        baseline = clinical.get(f"UPENN-GBM-{number}_11") or {}
        return {k: baseline.get(k) for k in ("idh", "mgmt")}

    def _clinical(self, path: Path) -> dict[str, Row]:
        out: dict[str, Row] = {}
        for record in read_table(self.name, path, (COL_ID, COL_SEX, COL_AGE, COL_IDH, COL_MGMT)):
            case_id = record[COL_ID]
            where = {"case_id": case_id, "file": path}
            out[case_id] = {
                "idh": values.mapped(record[COL_IDH], IDH, column=COL_IDH, missing=IDH_MISSING,
                                     **where),
                "mgmt": values.mapped(record[COL_MGMT], MGMT, column=COL_MGMT,
                                      missing=MGMT_MISSING, **where),
                "age": values.number(record[COL_AGE], column=COL_AGE, **where),
                "sex": values.sex(record[COL_SEX], column=COL_SEX, **where),
            }
        return out
