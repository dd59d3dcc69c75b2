"""UCSF-PDGM: ``UCSF-PDGM-NNNN_nifti/UCSF-PDGM-NNNN_{T1,T1c,T2,FLAIR,...}`` + metadata CSV.

Traps handled here:

* the metadata table writes 3-digit IDs (``UCSF-PDGM-004``), the folders 4 digits
  (``UCSF-PDGM-0004_nifti``); IDs are normalised to 4 digits;
* ``_FU`` rows/folders (``UCSF-PDGM-0391_FU016d``) are follow-up exams of the base patient: one
  subject, another case and timepoint; the six pre-v3 names of those exams (e.g.
  ``UCSF-PDGM-0315`` = ``0433_FU007d``) are mapped onto their base patient as well;
* ``Final pathologic diagnosis (WHO 2021)`` spells out the IDH status; only the tumour type is
  derived from it, as a label, and the text itself is never exported;
* ``BraTS21 ID`` marks the subjects that are also in BraTS 2021; it becomes the alias
  ``brats2021:BraTS2021_NNNNN`` so that merges and leakage checks see the overlap.

Segmentations use the BraTS 2021 codes (1 NCR, 2 ED, 4 ET).
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
    nifti_ending,
    option_flag,
    read_table,
    warn,
)
from imagination.cohort.manifest import ManifestMeta
from imagination.errors import CaseError, InputError

FOLDER_PATTERN = r"UCSF-PDGM-(\d{3,4})(_FU\d+d)?(_nifti)?"
ID_PATTERN = re.compile(r"UCSF-PDGM-(\d{1,4})(_FU\d+d)?")
BRATS21_PATTERN = re.compile(r"BraTS2021_\d{5}")
TABLE_PATTERNS = ("UCSF-PDGM-metadata_v*.csv", "UCSF-PDGM-metadata*.csv")

#: canonical modality -> file ending; the structural four have N4-corrected ``_bias`` twins
STRUCTURAL = {"t1": "T1", "t1c": "T1c", "t2": "T2", "flair": "FLAIR"}
DIFFUSION = {"adc": "ADC", "dwi": "DWI"}
EXTRA = {"swi": "SWI", "asl": "ASL"}

#: exams renamed in v3 to ``<base>_FUxxxd``: old number -> (base patient number, timepoint)
LEGACY_FOLLOW_UPS = {
    315: (433, "FU007d"), 278: (431, "FU001d"), 175: (396, "FU175d"),
    138: (429, "FU003d"), 181: (409, "FU001d"), 289: (391, "FU016d"),
}

COL_ID, COL_SEX, COL_AGE, COL_GRADE = "ID", "Sex", "Age at MRI", "WHO CNS Grade"
COL_DIAGNOSIS = "Final pathologic diagnosis (WHO 2021)"
COL_MGMT, COL_CODEL, COL_IDH, COL_BRATS = "MGMT status", "1p/19q", "IDH", "BraTS21 ID"
REQUIRED = (COL_ID, COL_SEX, COL_AGE, COL_GRADE, COL_DIAGNOSIS, COL_MGMT, COL_CODEL, COL_IDH,
            COL_BRATS)

MGMT = {"positive": "methylated", "negative": "unmethylated"}
#: "relative co-deletion" is neither a whole-arm co-deletion nor intact: left missing
CODELETION = {"intact": "intact", "co-deletion": "codeleted", "codeleted": "codeleted",
              "relative co-deletion": None}
TUMOR_TYPES = ("glioblastoma", "astrocytoma", "oligodendroglioma")


def normalise_id(raw: str) -> tuple[str, str, str | None]:
    """``(case_id, subject_id, timepoint)`` of a table or folder ID, 4-digit form."""
    match = ID_PATTERN.fullmatch(raw.strip())
    if match is None:
        raise ValueError(raw)
    number, follow_up = int(match.group(1)), match.group(2)
    case_id = f"UCSF-PDGM-{number:04d}{follow_up or ''}"
    if follow_up:
        return case_id, f"UCSF-PDGM-{number:04d}", follow_up.removeprefix("_")
    if number in LEGACY_FOLLOW_UPS:
        base, timepoint = LEGACY_FOLLOW_UPS[number]
        return case_id, f"UCSF-PDGM-{base:04d}", timepoint
    return case_id, case_id, "baseline"


class UcsfPdgmImporter(Importer):
    name = "ucsf-pdgm"
    title = "UCSF-PDGM NIfTI folders + UCSF-PDGM-metadata_v*.csv (labels 1 NCR, 2 ED, 4 ET)"
    options: ClassVar[Mapping[str, str]] = {
        "clinical": "path of UCSF-PDGM-metadata_v*.csv (default: found under ROOT)",
        "bias_corrected": "true: use the N4-corrected *_bias images for T1, T1c, T2, FLAIR",
    }

    def expected_layout(self) -> str:
        return ("folders UCSF-PDGM-NNNN_nifti holding UCSF-PDGM-NNNN_{T1,T1c,T2,FLAIR,ADC,DWI,"
                "SWI,ASL,tumor_segmentation,brain_segmentation}.nii.gz")

    def scan(self, root: Path, options: Mapping[str, str]) -> ImportResult:
        table_path = find_table(self.name, root, TABLE_PATTERNS, options.get("clinical"))
        if table_path is None:
            raise InputError(f"{self.name}: metadata table UCSF-PDGM-metadata_v*.csv not found "
                             f"under {root}; it holds the labels and the BraTS21 overlap "
                             f"columns (pass -O clinical=PATH)")
        labels = self._labels(table_path)
        bias = option_flag(self.name, options, "bias_corrected")
        rows: list[Row] = []
        for folder in case_folders(root, FOLDER_PATTERN):
            case_id, subject, timepoint = normalise_id(folder.name.removesuffix("_nifti"))
            row: Row = {"case_id": case_id, "subject_id": subject, "site": "UCSF",
                        "timepoint": timepoint}
            row.update(self._images(folder, bias))
            if not any(row.get(m) for m in STRUCTURAL):
                raise InputError(f"{self.name}: folder {folder} holds no structural image "
                                 f"(*_T1, *_T1c, *_T2, *_FLAIR .nii.gz)")
            row["mask_tumor"] = as_text(nifti_ending(folder, "_tumor_segmentation"))
            row["mask_brain"] = as_text(nifti_ending(folder, "_brain_segmentation"))
            row["scanner"], row["field_strength"] = "GE Discovery 750", "3"
            if case_id in labels:
                row.update(labels.pop(case_id))
            else:
                warn(self.name, f"case {case_id} (folder {folder.name}) has no row in "
                                f"{table_path.name}; imported without labels")
            rows.append(row)
        if rows and labels:
            warn(self.name, f"{len(labels)} row(s) of {table_path.name} have no image folder "
                            f"under {root} (e.g. {sorted(labels)[0]}); not imported")
        meta = ManifestMeta(name=self.name, label_map="brats2021",
                            extra_modalities=[m for m in EXTRA if any(r.get(m) for r in rows)],
                            vocabularies=values.vocabularies_for(rows))
        return rows, meta

    @staticmethod
    def _images(folder: Path, bias: bool) -> Row:
        images: Row = {}
        for modality, ending in STRUCTURAL.items():
            images[modality] = as_text(nifti_ending(folder, f"_{ending}_bias" if bias
                                                    else f"_{ending}"))
        for modality, ending in {**DIFFUSION, **EXTRA}.items():
            images[modality] = as_text(nifti_ending(folder, f"_{ending}"))
        return images

    def _labels(self, path: Path) -> dict[str, Row]:
        out: dict[str, Row] = {}
        for record in read_table(self.name, path, REQUIRED):
            try:
                case_id, _, _ = normalise_id(record[COL_ID])
            except ValueError as exc:
                raise InputError(f"{self.name}: table {path}: ID {record[COL_ID]!r} is not a "
                                 f"UCSF-PDGM identifier") from exc
            where = {"case_id": case_id, "file": path}
            brats = record[COL_BRATS]
            if brats and not BRATS21_PATTERN.fullmatch(brats):
                raise CaseError(f"{brats!r} is not a BraTS 2021 ID (BraTS2021_NNNNN)",
                                column=COL_BRATS, case_id=case_id, file=str(path))
            marker = idh(record[COL_IDH], column=COL_IDH, **where)
            stated = stated_idh(record[COL_DIAGNOSIS])
            if marker and stated and marker != stated:
                warn(self.name, f"case {case_id}: IDH column says {marker} but the diagnosis "
                                f"says IDH-{stated} ({path.name}); the IDH column is used")
            out[case_id] = {
                "idh": marker,
                "codeletion_1p19q": values.mapped(record[COL_CODEL], CODELETION,
                                                  column=COL_CODEL, **where),
                "mgmt": values.mapped(record[COL_MGMT], MGMT, column=COL_MGMT,
                                      missing=("indeterminate",), **where),
                "grade": values.grade(record[COL_GRADE], column=COL_GRADE, **where),
                "tumor_type": tumor_type(record[COL_DIAGNOSIS], column=COL_DIAGNOSIS, **where),
                "age": values.number(record[COL_AGE], column=COL_AGE, **where),
                "sex": values.sex(record[COL_SEX], column=COL_SEX, **where),
                "subject_aliases": f"brats2021:{brats}" if brats else None,
            }
        return out


def idh(raw: str, *, case_id: str, column: str, file: Path) -> str | None:
    """``wildtype``; any named mutation (``mutated (NOS)``, ``IDH1 p.R132H``...) is mutant."""
    key = raw.strip().lower()
    if key == "wildtype":
        return "wildtype"
    if key.startswith(("mutated", "idh1", "idh2")):
        return "mutant"
    return values.mapped(raw, {}, case_id=case_id, column=column, file=file)


def stated_idh(diagnosis: str) -> str | None:
    """The IDH status a WHO 2021 diagnosis text spells out, for a consistency check only."""
    text = diagnosis.lower()
    if "idh-wildtype" in text:
        return "wildtype"
    if "idh-mutant" in text:
        return "mutant"
    return None


def tumor_type(raw: str, *, case_id: str, column: str, file: Path) -> str | None:
    """The tumour family named first in the WHO 2021 diagnosis (the text is not exported)."""
    head = raw.split(",")[0].strip().lower()
    if head in TUMOR_TYPES:
        return head
    return values.mapped(raw, {}, case_id=case_id, column=column, file=file)
