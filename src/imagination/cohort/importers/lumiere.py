"""LUMIERE: ``Imaging/Patient-NNN/week-WWW[-K]/`` longitudinal GBM, one case per week folder.

The raw ``CT1/T1/T2/FLAIR.nii.gz`` of a week folder sit on one grid per sequence (native
scanner space), so cases are built from the co-registered DeepBraTumIA atlas outputs:
``DeepBraTumIA-segmentation/atlas/skull_strip/{ct1,t1,t2,flair}_skull_strip.nii.gz``,
``.../skull_strip/brain_mask.nii.gz`` and ``.../atlas/segmentation/seg_mask.nii.gz``. Week
folders without them are skipped with a warning.

DeepBraTumIA codes are 1 enhancing, 2 necrosis/non-enhancing, 3 oedema (checked against the
shipped ``measured_volumes_in_mm3.json``; the pyradiomics table's "Label name" column swaps 1
and 2). The timepoint is the week folder name (``week-000-1`` = pre-op, ``week-000-2`` =
post-op). Expert RANO ratings (``LUMIERE-ExpertRating-*.csv``) become ``response`` labels
with ``baseline_case_id`` links, paired as BraTPRO pairs them (``lumiere_ratings``); every case
gets ``days_from_baseline`` from its week. All cases share the atlas grid (``same_grid``).
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
    subfolders,
    warn,
)
from imagination.cohort.importers.lumiere_ratings import link_ratings
from imagination.cohort.manifest import ManifestMeta
from imagination.errors import InputError

PATIENT_PATTERN = r"Patient-\d{3}"
WEEK_GLOB = "week-*"
ATLAS = Path("DeepBraTumIA-segmentation") / "atlas"
MODALITY_FILES = {"t1": "t1", "t1c": "ct1", "t2": "t2", "flair": "flair"}
#: DeepBraTumIA atlas-space seg_mask codes
LABEL_MAP = {1: "ET", 2: "NETC", 3: "SNFH"}
COL_PATIENT, COL_SEX, COL_AGE = "Patient", "Sex", "Age at surgery (years)"
COL_IDH_PREFIX, COL_MGMT = "IDH (", "MGMT qualitative"
IDH = {"wt": "wildtype", "wild type": "wildtype", "wildtype": "wildtype", "mut": "mutant",
       "mutated": "mutant", "mutant": "mutant"}
MGMT = {"methylated": "methylated", "not methylated": "unmethylated",
        "unmethylated": "unmethylated"}


class LumiereImporter(Importer):
    name = "lumiere"
    title = "LUMIERE longitudinal GBM (Imaging/Patient-NNN/week-*; DeepBraTumIA atlas space)"
    options: ClassVar[Mapping[str, str]] = {
        "clinical": "path of LUMIERE-Demographics_Pathology.csv (default: found under ROOT)",
        "ratings": "path of LUMIERE-ExpertRating-*.csv (default: found under ROOT)",
    }

    def expected_layout(self) -> str:
        return ("Imaging/Patient-NNN/week-WWW[-K]/DeepBraTumIA-segmentation/atlas/"
                "{skull_strip/{ct1,t1,t2,flair}_skull_strip,segmentation/seg_mask}.nii.gz")

    def scan(self, root: Path, options: Mapping[str, str]) -> ImportResult:
        patients = case_folders(root, PATIENT_PATTERN, depth=3)
        clinical = self._clinical(root, options.get("clinical"))
        scanners = self._scanners(root)
        ratings = find_table(self.name, root, ["LUMIERE-ExpertRating*.csv"],
                             options.get("ratings"))
        rows: list[Row] = []
        skipped: list[str] = []
        for patient in patients:
            for week in subfolders(patient, WEEK_GLOB):
                row = self._case(patient.name, week)
                if row is None:
                    skipped.append(f"{patient.name}/{week.name}")
                    continue
                row.update(clinical.get(patient.name, {}))
                row.update(scanners.get((patient.name, week.name), {}))
                rows.append(row)
        if skipped:
            warn(self.name, f"{len(skipped)} week folder(s) have no DeepBraTumIA atlas-space "
                            f"images and were skipped (e.g. {skipped[0]})")
        if patients and not rows:
            raise InputError(f"{self.name}: no week folder under {root} holds the DeepBraTumIA "
                             f"atlas outputs; expected {self.expected_layout()}")
        if ratings is not None:
            link_ratings(self.name, ratings, rows)
        else:
            warn(self.name, f"no LUMIERE-ExpertRating-*.csv under {root}; imported without "
                            "RANO response labels")
        meta = ManifestMeta(name=self.name, label_map=dict(LABEL_MAP),
                            vocabularies=values.vocabularies_for(rows))
        return rows, meta

    def _case(self, patient: str, week: Path) -> Row | None:
        skull = week / ATLAS / "skull_strip"
        images = {m: nifti(skull, f"{f}_skull_strip") for m, f in MODALITY_FILES.items()}
        if not any(images.values()):
            return None
        row: Row = {"case_id": f"LUMIERE-{patient}_{week.name}",
                    "subject_id": f"LUMIERE-{patient}", "site": "LUMIERE",
                    "timepoint": week.name}
        row.update({m: as_text(p) for m, p in images.items()})
        row["mask_tumor"] = as_text(nifti(week / ATLAS / "segmentation", "seg_mask"))
        row["mask_brain"] = as_text(nifti(skull, "brain_mask"))
        return row

    def _clinical(self, root: Path, explicit: str | None) -> dict[str, Row]:
        path = find_table(self.name, root, ["LUMIERE-Demographics_Pathology*.csv"], explicit)
        if path is None:
            warn(self.name, f"no LUMIERE-Demographics_Pathology.csv under {root}; imported "
                            f"without labels")
            return {}
        table = read_table(self.name, path, (COL_PATIENT, COL_SEX, COL_AGE, COL_MGMT))
        idh_column = next((c for c in (table[0] if table else {})
                           if c.startswith(COL_IDH_PREFIX)), None)
        out: dict[str, Row] = {}
        for record in table:
            patient = record[COL_PATIENT]
            where = {"case_id": f"LUMIERE-{patient}", "file": path}
            out[patient] = {
                "idh": values.mapped(record[idh_column], IDH, column=idh_column, **where)
                if idh_column else None,
                "mgmt": values.mapped(record[COL_MGMT], MGMT, column=COL_MGMT, **where),
                "age": values.number(record[COL_AGE], column=COL_AGE, **where),
                "sex": values.sex(record[COL_SEX], column=COL_SEX, **where),
            }
        return out

    def _scanners(self, root: Path) -> dict[tuple[str, str], Row]:
        """Scanner and field strength of each week's CT1 acquisition (``LUMIERE-MRinfo.csv``)."""
        path = find_table(self.name, root, ["LUMIERE-MRinfo*.csv"])
        if path is None:
            return {}
        columns = ("Patient", "Timepoint", "Sequence", "Field strength", "Manufacturer", "Model")
        out: dict[tuple[str, str], Row] = {}
        for record in read_table(self.name, path, columns):
            if record["Sequence"].upper() != "CT1":
                continue
            where = {"case_id": f"LUMIERE-{record['Patient']}", "file": path}
            scanner = " ".join(p for p in (record["Manufacturer"], record["Model"]) if p)
            out[(record["Patient"], record["Timepoint"])] = {
                "scanner": scanner or None,
                "field_strength": values.number(record["Field strength"],
                                                column="Field strength", **where),
            }
        return out
