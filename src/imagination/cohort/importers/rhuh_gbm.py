"""RHUH-GBM: ``RHUH-NNNN/{0,1,2}/RHUH-NNNN_{t}_{t1,t1ce,t2,flair,adc,segmentations}``.

Timepoints: ``0`` pre-operative, ``1`` early post-operative (<= 72 h), ``2`` recurrence
follow-up. Segmentations carry necrosis, oedema and enhancing tumour as 1, 2, 3 (the codes
PREDICT-GBM feeds unchanged into its 1 NETC / 2 SNFH / 3 ET pipeline), i.e. preset
``brats2023``. The images are z-scored with a *negative* background: a brain mask derived from
``image != 0`` or ``> 0`` covers the whole volume or cuts the brain. No brain mask ships with the
dataset; the importer warns. ``clinical_data_TCIA_RHUH-GBM.csv`` gives age, sex, IDH and grade.
"""

from __future__ import annotations

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
    column_starting,
    find_table,
    nifti,
    read_table,
    subfolders,
    warn,
)
from imagination.cohort.manifest import ManifestMeta
from imagination.errors import InputError

PATIENT_PATTERN = r"RHUH-\d{4}"
TIMEPOINTS = {"0": "preop", "1": "postop", "2": "followup"}
MODALITY_FILES = {"t1": "t1", "t1c": "t1ce", "t2": "t2", "flair": "flair", "adc": "adc"}
TABLE_PATTERNS = ("clinical_data_TCIA_RHUH-GBM*.csv",)
COL_ID, COL_AGE, COL_SEX, COL_GRADE = "Patient ID", "Age", "Sex", "WHO grade"
COL_IDH_PREFIX, COL_HISTOLOGY = "IDH status", "Histopathological subtype"
IDH = {"wt": "wildtype", "wild type": "wildtype", "mut": "mutant", "mutant": "mutant"}
IDH_MISSING = ("NOS", "NOS/NEC")
HISTOLOGY = {"glioblastoma": "glioblastoma", "astrocytoma": "astrocytoma"}


class RhuhGbmImporter(Importer):
    name = "rhuh-gbm"
    title = "RHUH-GBM pre-op / post-op / follow-up NIfTI (z-scored, negative background)"
    options: ClassVar[Mapping[str, str]] = {
        "clinical": "path of clinical_data_TCIA_RHUH-GBM.csv (default: found under ROOT)",
    }

    def expected_layout(self) -> str:
        return "RHUH-NNNN/{0,1,2}/RHUH-NNNN_{0,1,2}_{t1,t1ce,t2,flair,adc,segmentations}.nii.gz"

    def scan(self, root: Path, options: Mapping[str, str]) -> ImportResult:
        clinical = self._clinical(root, options.get("clinical"))
        rows: list[Row] = []
        for patient in case_folders(root, PATIENT_PATTERN):
            for folder in subfolders(patient):
                if folder.name not in TIMEPOINTS:
                    continue
                stem = f"{patient.name}_{folder.name}"
                images = {m: nifti(folder, f"{stem}_{f}") for m, f in MODALITY_FILES.items()}
                if not any(images.values()):
                    raise InputError(
                        f"{self.name}: folder {folder} holds none of "
                        f"{', '.join(f'{stem}_{f}.nii.gz' for f in MODALITY_FILES.values())}")
                row: Row = {"case_id": stem, "subject_id": patient.name, "site": "RHUH",
                            "timepoint": TIMEPOINTS[folder.name]}
                row.update({m: as_text(p) for m, p in images.items()})
                row["mask_tumor"] = as_text(nifti(folder, f"{stem}_segmentations"))
                row.update(clinical.get(patient.name, {}))
                rows.append(row)
        if rows:
            warn(self.name, "images are z-scored with a negative background and no brain mask "
                            "ships: do not derive brain masks from non-zero voxels")
        meta = ManifestMeta(name=self.name, label_map="brats2023",
                            vocabularies=values.vocabularies_for(rows))
        return rows, meta

    def _clinical(self, root: Path, explicit: str | None) -> dict[str, Row]:
        path = find_table(self.name, root, TABLE_PATTERNS, explicit)
        if path is None:
            warn(self.name, f"no clinical_data_TCIA_RHUH-GBM.csv under {root}; imported "
                            f"without labels")
            return {}
        table = read_table(self.name, path, (COL_ID, COL_AGE, COL_SEX))
        idh_column = column_starting(self.name, path, table, COL_IDH_PREFIX)
        out: dict[str, Row] = {}
        for record in table:
            where = {"case_id": record[COL_ID], "file": path}
            row: Row = {"age": values.number(record[COL_AGE], column=COL_AGE, **where),
                        "sex": values.sex(record[COL_SEX], column=COL_SEX, **where)}
            if idh_column:
                row["idh"] = values.mapped(record[idh_column], IDH, column=idh_column,
                                           missing=IDH_MISSING, **where)
            if COL_GRADE in record:
                row["grade"] = values.grade(record[COL_GRADE], column=COL_GRADE, **where)
            if record.get(COL_HISTOLOGY):
                head = record[COL_HISTOLOGY].split(",")[0]
                row["tumor_type"] = values.mapped(head, HISTOLOGY, column=COL_HISTOLOGY,
                                                  **where)
            out[record[COL_ID]] = row
        return out
