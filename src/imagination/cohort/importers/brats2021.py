"""BraTS 2021 (RSNA-ASNR-MICCAI): ``BraTS2021_NNNNN/BraTS2021_NNNNN_{t1,t1ce,t2,flair,seg}``.

Segmentation codes are the pre-2023 convention: 1 NCR/NET, 2 ED, 4 ET (preset ``brats2021``).
Optional side tables: the TCIA mapping sheet (``BraTS2021_MappingToTCIA*.csv``; its
``Data Collection (as on TCIA+additional)`` column is the only site proxy) and the RSNA-MICCAI
Kaggle ``train_labels.csv`` (``BraTS21ID``, ``MGMT_value``; 1 = methylated).
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
    find_table,
    nifti,
    read_table,
    warn,
)
from imagination.cohort.manifest import ManifestMeta
from imagination.errors import InputError

CASE_PATTERN = r"BraTS2021_\d{5}"
MODALITY_FILES = {"t1": "t1", "t1c": "t1ce", "t2": "t2", "flair": "flair"}
MAPPING_ID = "BraTS2021 ID"
MAPPING_SITE = "Data Collection (as on TCIA+additional)"
MGMT_ID, MGMT_VALUE = "BraTS21ID", "MGMT_value"
MGMT_CODES = {"1": "methylated", "0": "unmethylated"}


class BraTS2021Importer(Importer):
    name = "brats2021"
    title = "BraTS 2021 training/validation folders (labels 1 NCR, 2 ED, 4 ET)"
    options: ClassVar[Mapping[str, str]] = {
        "mapping": "path of the TCIA mapping sheet saved as CSV (site = data collection)",
        "mgmt": "path of the RSNA-MICCAI train_labels.csv (BraTS21ID, MGMT_value)",
    }

    def expected_layout(self) -> str:
        return "folders BraTS2021_NNNNN holding BraTS2021_NNNNN_{t1,t1ce,t2,flair,seg}.nii.gz"

    def scan(self, root: Path, options: Mapping[str, str]) -> ImportResult:
        sites = self._sites(root, options.get("mapping"))
        mgmt = self._mgmt(root, options.get("mgmt"))
        rows: list[Row] = []
        for folder in case_folders(root, CASE_PATTERN):
            case_id = folder.name
            images = {m: nifti(folder, f"{case_id}_{f}") for m, f in MODALITY_FILES.items()}
            if not any(images.values()):
                raise InputError(
                    f"{self.name}: folder {folder} holds none of "
                    f"{', '.join(f'{case_id}_{f}.nii.gz' for f in MODALITY_FILES.values())}")
            row: Row = {"case_id": case_id, "subject_id": case_id,
                        "site": sites.get(case_id, "BraTS2021")}
            row.update({m: as_text(p) for m, p in images.items()})
            row["mask_tumor"] = as_text(nifti(folder, f"{case_id}_seg"))
            row["mgmt"] = mgmt.get(case_id)
            rows.append(row)
        if sites and rows and not any(r["case_id"] in sites for r in rows):
            warn(self.name, "no case of the mapping sheet is in the tree; site = BraTS2021")
        meta = ManifestMeta(name=self.name, label_map="brats2021",
                            vocabularies=values.vocabularies_for(rows))
        return rows, meta

    def _sites(self, root: Path, explicit: str | None) -> dict[str, str]:
        path = find_table(self.name, root, ["BraTS2021_MappingToTCIA*.csv"], explicit)
        if path is None:
            warn(self.name, "no TCIA mapping sheet (BraTS2021_MappingToTCIA*.csv) found; "
                            "every case gets site 'BraTS2021' (no per-collection stratification)")
            return {}
        table = read_table(self.name, path, [MAPPING_ID, MAPPING_SITE])
        return {r[MAPPING_ID]: r[MAPPING_SITE] for r in table
                if r[MAPPING_ID] and r[MAPPING_SITE]}

    def _mgmt(self, root: Path, explicit: str | None) -> dict[str, str | None]:
        path = find_table(self.name, root, ["train_labels.csv"], explicit)
        if path is None:
            return {}
        out: dict[str, str | None] = {}
        for record in read_table(self.name, path, [MGMT_ID, MGMT_VALUE]):
            try:
                case_id = f"BraTS2021_{int(record[MGMT_ID]):05d}"
            except ValueError as exc:
                raise InputError(f"{self.name}: table {path}: {MGMT_ID} "
                                 f"{record[MGMT_ID]!r} is not a number") from exc
            out[case_id] = values.mapped(record[MGMT_VALUE], MGMT_CODES, case_id=case_id,
                                         column=MGMT_VALUE, file=path)
        return out
