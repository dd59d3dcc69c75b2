"""BraTS 2023+ (GLI, MEN, MET): ``BraTS-XXX-NNNNN-TTT/BraTS-XXX-NNNNN-TTT-{t1n,t1c,t2w,t2f,seg}``.

Segmentation codes follow the 2023 convention: 1 NETC, 2 SNFH, 3 ET (preset ``brats2023``); the
GLI training cases are the BraTS 2021 cases relabelled (ET 4 -> 3). ``TTT`` is a timepoint index,
so the subject is ``BraTS-XXX-NNNNN``. The paediatric (PED) collection uses other codes and is
not imported. BraTS 2024 post-treatment GLI (code 4 = resection cavity) has the same layout: use
``--label-map brats2024_post``; its ``-1TT`` suffixes (``-100``, ``-101``) are post-treatment
timepoints of the subject ``BraTS-GLI-NNNNN`` (the same subject as its pre-treatment ``-000``
exam, so leakage checks and merges keep them together). BraTS gives no dates and no response
ratings, so these exams carry no ``days_from_baseline`` or ``baseline_case_id``.
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
    nifti,
    option_choice,
    option_flag,
    warn,
)
from imagination.cohort.manifest import ManifestMeta
from imagination.errors import InputError

CASE_PATTERN = r"BraTS-([A-Z]+)-(\d{5})-(\d{3})"
COLLECTIONS = ("gli", "men", "met")
MODALITY_FILES = {"t1": "t1n", "t1c": "t1c", "t2": "t2w", "flair": "t2f"}
#: the collection is the tumour type for meningioma and metastasis; gliomas are of several types
TUMOR_TYPE = {"MEN": "meningioma", "MET": "metastasis"}


class BraTS2023Importer(Importer):
    name = "brats2023"
    title = "BraTS 2023+ GLI/MEN/MET folders (labels 1 NETC, 2 SNFH, 3 ET)"
    options: ClassVar[Mapping[str, str]] = {
        "collection": "gli, men or met; needed when the tree holds several collections",
        "brats2021_aliases": "true: record subject BraTS-GLI-NNNNN as alias "
                             "brats2021:BraTS2021_NNNNN (GLI 2023 training = 2021 relabelled)",
    }

    def expected_layout(self) -> str:
        return ("folders BraTS-{GLI|MEN|MET}-NNNNN-TTT holding "
                "BraTS-XXX-NNNNN-TTT-{t1n,t1c,t2w,t2f,seg}.nii.gz")

    def scan(self, root: Path, options: Mapping[str, str]) -> ImportResult:
        folders = case_folders(root, CASE_PATTERN)
        collection = self._collection(root, folders, options)
        aliases = option_flag(self.name, options, "brats2021_aliases")
        if aliases and collection != "GLI":
            raise InputError(f"{self.name}: brats2021_aliases only applies to the GLI collection")
        rows: list[Row] = []
        for folder in folders:
            match = re.fullmatch(CASE_PATTERN, folder.name)
            assert match is not None  # case_folders matched the same pattern
            kind, number, timepoint = match.groups()
            if kind != collection:
                continue
            case_id = folder.name
            images = {m: nifti(folder, f"{case_id}-{f}") for m, f in MODALITY_FILES.items()}
            if not any(images.values()):
                raise InputError(
                    f"{self.name}: folder {folder} holds none of "
                    f"{', '.join(f'{case_id}-{f}.nii.gz' for f in MODALITY_FILES.values())}")
            subject = f"BraTS-{kind}-{number}"
            row: Row = {"case_id": case_id, "subject_id": subject, "site": f"BraTS-{kind}",
                        "timepoint": timepoint}
            row.update({m: as_text(p) for m, p in images.items()})
            row["mask_tumor"] = as_text(nifti(folder, f"{case_id}-seg"))
            row["tumor_type"] = TUMOR_TYPE.get(kind)
            if aliases:
                row["subject_aliases"] = f"brats2021:BraTS2021_{number}"
            rows.append(row)
        if collection == "GLI" and not aliases:
            warn(self.name, "GLI training cases are BraTS 2021 cases relabelled; pass "
                            "-O brats2021_aliases=true so that merges and leakage checks see it")
        meta = ManifestMeta(name=self.name, label_map="brats2023",
                            vocabularies=values.vocabularies_for(rows))
        return rows, meta

    def _collection(self, root: Path, folders: list[Path], options: Mapping[str, str]) -> str:
        present = sorted({m.group(1) for f in folders
                          if (m := re.fullmatch(CASE_PATTERN, f.name))})
        if "collection" in options:
            wanted = option_choice(self.name, options, "collection", COLLECTIONS, "gli").upper()
            if wanted not in present:
                raise InputError(f"{self.name}: no BraTS-{wanted}-* folder under {root}"
                                 f" (found: {', '.join(present) or 'none'})")
            return wanted
        supported = [c for c in present if c.lower() in COLLECTIONS]
        if not supported:
            others = f" (found {', '.join(present)}: not supported)" if present else ""
            raise InputError(f"{self.name}: no GLI, MEN or MET case folder under {root}{others};"
                             f" expected {self.expected_layout()}")
        if len(supported) > 1:
            raise InputError(f"{self.name}: {root} holds several collections "
                             f"({', '.join(supported)}); choose one with -O collection=...")
        return supported[0]
