"""Canonical words of the harness: modalities, masks, regions, tasks and label vocabularies."""

from __future__ import annotations

from typing import Final

#: Canonical image keys, in display order.
MODALITIES: Final[tuple[str, ...]] = ("t1", "t1c", "t2", "flair", "adc", "dwi", "rcbv", "pet")

#: Mask keys (manifest column = ``mask_<key>``).
MASKS: Final[tuple[str, ...]] = ("tumor", "brain", "recurrence", "cavity")
MASK_PREFIX: Final[str] = "mask_"
#: Tissue probability maps on the case grid (manifest column = ``tissue_<key>``), as growth
#: models read them.
TISSUES: Final[tuple[str, ...]] = ("gm", "wm", "csf")
TISSUE_PREFIX: Final[str] = "tissue_"

#: Canonical segmentation regions a label map may name.
BASE_REGIONS: Final[tuple[str, ...]] = ("ET", "NETC", "SNFH", "RC")
#: Coarser regions a label map may name when its model does not separate base regions
#: (HD-GLIO's label 1 is the whole non-enhancing T2/FLAIR abnormality).
COMPOSITE_REGIONS: Final[dict[str, tuple[str, ...]]] = {"NEA": ("NETC", "SNFH")}
#: Regions derived from base regions: whole tumour and tumour core.
DERIVED_REGIONS: Final[dict[str, tuple[str, ...]]] = {
    "WT": ("ET", "NETC", "SNFH"),
    "TC": ("ET", "NETC"),
}
REGION_NAMES: Final[dict[str, str]] = {
    "ET": "enhancing tumour",
    "NETC": "non-enhancing tumour core / necrosis",
    "SNFH": "surrounding non-enhancing FLAIR hyperintensity (oedema, infiltration)",
    "RC": "resection cavity",
    "NEA": "non-enhancing T2/FLAIR abnormality (NETC + SNFH, not separated)",
    "WT": "whole tumour (ET + NETC + SNFH)",
    "TC": "tumour core (ET + NETC)",
}
#: Regions the segmentation task scores, in display order (where both label maps define them).
SCORED_REGIONS: Final[tuple[str, ...]] = ("WT", "TC", "ET", "NETC", "SNFH", "RC")

#: Classification tasks and their default label vocabularies (order = class order).
CLASSIFICATION_VOCABULARIES: Final[dict[str, tuple[str, ...]]] = {
    "tumor_type": (
        "glioblastoma",
        "astrocytoma",
        "oligodendroglioma",
        "meningioma",
        "metastasis",
    ),
    "idh": ("wildtype", "mutant"),
    "codeletion_1p19q": ("intact", "codeleted"),
    "mgmt": ("unmethylated", "methylated"),
    "grade": ("1", "2", "3", "4"),
}
#: Longitudinal label columns of a follow-up exam (compared with its ``baseline_case_id``):
#: the RANO 2.0 response class and, for an enlargement, what a later exam showed it to be.
#: They are labels, not classification tasks (the ``response`` family owns them).
LONGITUDINAL_VOCABULARIES: Final[dict[str, tuple[str, ...]]] = {
    "response": ("CR", "PR", "SD", "PD"),
    "progression_type": ("true_progression", "pseudoprogression"),
}
#: Every label column and its default vocabulary.
DEFAULT_VOCABULARIES: Final[dict[str, tuple[str, ...]]] = {
    **CLASSIFICATION_VOCABULARIES, **LONGITUDINAL_VOCABULARIES}
LABEL_COLUMNS: Final[tuple[str, ...]] = tuple(DEFAULT_VOCABULARIES)

#: Binary tasks: the class treated as "positive" for AUROC, sensitivity, etc.
POSITIVE_CLASS: Final[dict[str, str]] = {
    "idh": "mutant",
    "codeletion_1p19q": "codeleted",
    "mgmt": "methylated",
}

#: Label columns that are classification tasks (every task: ``imagination.tasks.registry``).
CLASSIFICATION_TASKS: Final[tuple[str, ...]] = tuple(CLASSIFICATION_VOCABULARIES)

#: Covariate columns with their types.
COVARIATES: Final[dict[str, type]] = {
    "age": float,
    "sex": str,
    "scanner": str,
    "field_strength": float,
}

#: Identity columns; the first three are required.
ID_COLUMNS: Final[tuple[str, ...]] = ("case_id", "subject_id", "site", "timepoint")
REQUIRED_COLUMNS: Final[tuple[str, ...]] = ("case_id", "subject_id", "site")
#: Optional column: ";"-separated identifiers of the same subject in other datasets, written as
#: ``dataset:id`` (e.g. ``brats2021:BraTS2021_00123``); used by leakage checks and merges.
ALIAS_COLUMN: Final[str] = "subject_aliases"
#: Optional longitudinal columns (integers are days; see ``cohort.validation.longitudinal``):
#: the exam a follow-up is compared with, days from the subject's first exam (day 0) and days
#: since the end of radiotherapy (negative before it).
BASELINE_COLUMN: Final[str] = "baseline_case_id"
DAY_COLUMNS: Final[tuple[str, ...]] = ("days_from_baseline", "days_since_radiotherapy_end")
LONGITUDINAL_COLUMNS: Final[tuple[str, ...]] = (BASELINE_COLUMN, *DAY_COLUMNS)


def mask_column(mask: str) -> str:
    """Manifest column name of a mask key (``tumor`` -> ``mask_tumor``)."""
    return f"{MASK_PREFIX}{mask}"


def tissue_column(tissue: str) -> str:
    """Manifest column name of a tissue map key (``gm`` -> ``tissue_gm``)."""
    return f"{TISSUE_PREFIX}{tissue}"
