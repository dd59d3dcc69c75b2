"""Erasmus Glioma Database: ``SUBJECTS/EGD-NNNN/{T1,T1GD,T2,FLAIR,MASK}`` + ``metadata.json``.

All images are registered to MNI ICBM152 2009a (1 mm, 197x233x189); the shared
``METADATA/Brain_mask.nii.gz`` is every case's brain mask. ``metadata.json`` keys read:
``Genetic_and_Histological_labels.{IDH,1p19q,Grade}`` (1/0, -1 = unknown),
``Clinical_data.{Age,Sex}`` and ``Scan_characteristics.{Manufacturer,System,Field}``.

``MASK`` is a binary whole-tumour segmentation. Label maps name base regions (ET, NETC, SNFH,
RC) and WT is derived from them, so a single whole-tumour code cannot be declared without
making every sub-region metric silently wrong: ``MASK`` is not imported (a warning says so).
There is no site field; site is ``EGD`` and the scanner fields become covariates.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from imagination.cohort.importers import values
from imagination.cohort.importers.base import (
    Importer,
    ImportResult,
    Row,
    as_text,
    case_folders,
    nifti,
    warn,
)
from imagination.cohort.manifest import ManifestMeta
from imagination.errors import CaseError, InputError

CASE_PATTERN = r"EGD-\d{4}"
MODALITY_FILES = {"t1": "T1", "t1c": "T1GD", "t2": "T2", "flair": "FLAIR"}
IDH = {"1": "mutant", "0": "wildtype", "mutant": "mutant", "mutated": "mutant",
       "wildtype": "wildtype", "wild type": "wildtype"}
CODELETION = {"1": "codeleted", "0": "intact", "codeleted": "codeleted", "intact": "intact"}
UNKNOWN = ("-1",)


class EgdImporter(Importer):
    name = "egd"
    title = "Erasmus Glioma Database (SUBJECTS/EGD-NNNN, metadata.json; MNI space)"
    options: ClassVar[Mapping[str, str]] = {}

    def expected_layout(self) -> str:
        return "SUBJECTS/EGD-NNNN/{T1,T1GD,T2,FLAIR,MASK}.nii.gz and metadata.json"

    def scan(self, root: Path, options: Mapping[str, str]) -> ImportResult:
        subjects = root / "SUBJECTS" if (root / "SUBJECTS").is_dir() else root
        brain = nifti(subjects.parent / "METADATA", "Brain_mask")
        if brain is None:
            warn(self.name, f"no METADATA/Brain_mask.nii.gz next to {subjects}; no brain mask")
        rows: list[Row] = []
        masks_seen = 0
        for folder in case_folders(subjects, CASE_PATTERN, depth=0):
            case_id = folder.name
            images = {m: nifti(folder, f) for m, f in MODALITY_FILES.items()}
            if not any(images.values()):
                raise InputError(f"{self.name}: folder {folder} holds none of "
                                 f"{', '.join(f + '.nii.gz' for f in MODALITY_FILES.values())}")
            masks_seen += nifti(folder, "MASK") is not None
            row: Row = {"case_id": case_id, "subject_id": case_id, "site": "EGD"}
            row.update({m: as_text(p) for m, p in images.items()})
            row["mask_brain"] = as_text(brain)
            row.update(self._metadata(folder))
            rows.append(row)
        if masks_seen:
            warn(self.name, f"{masks_seen} binary whole-tumour MASK file(s) not imported: a "
                            f"label map cannot declare a whole-tumour-only code (see "
                            f"data_manifests/egd/README.md)")
        meta = ManifestMeta(name=self.name, vocabularies=values.vocabularies_for(rows))
        return rows, meta

    def _metadata(self, folder: Path) -> Row:
        path = folder / "metadata.json"
        if not path.is_file():
            warn(self.name, f"case {folder.name}: no metadata.json; imported without labels")
            return {}
        try:
            doc = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CaseError(f"cannot parse: {exc}", case_id=folder.name, file=str(path),
                            code="bad_metadata") from exc
        if not isinstance(doc, dict):
            raise CaseError("expected a JSON object", case_id=folder.name, file=str(path),
                            code="bad_metadata")
        where = {"case_id": folder.name, "file": path}

        def get(section: str, key: str) -> Any:
            part = doc.get(section)
            value = part.get(key) if isinstance(part, dict) else None
            return "" if value is None else value

        labels = "Genetic_and_Histological_labels"
        manufacturer, system = (str(get("Scan_characteristics", k)).strip()
                                for k in ("Manufacturer", "System"))
        return {
            "idh": values.mapped(get(labels, "IDH"), IDH, column=f"{labels}.IDH",
                                 missing=UNKNOWN, **where),
            "codeletion_1p19q": values.mapped(get(labels, "1p19q"), CODELETION,
                                              column=f"{labels}.1p19q", missing=UNKNOWN, **where),
            "grade": values.grade(get(labels, "Grade"), column=f"{labels}.Grade",
                                  missing=UNKNOWN, **where),
            "age": values.number(get("Clinical_data", "Age"), column="Clinical_data.Age",
                                 **where),
            "sex": values.sex(get("Clinical_data", "Sex"), column="Clinical_data.Sex", **where),
            "scanner": " ".join(p for p in (manufacturer, system) if p) or None,
            "field_strength": values.number(get("Scan_characteristics", "Field"),
                                            column="Scan_characteristics.Field", **where),
        }
