"""``t2flair-mismatch``: the T2-FLAIR mismatch sign as an automatic, high-specificity rule.

Patel et al. 2017 (Clin Cancer Res): a homogeneous T2-hyperintense lesion that is relatively
hypointense on FLAIR (apart from a rim) and does not enhance indicates an IDH-mutant,
1p/19q-intact astrocytoma. Meta-analysis: sensitivity 42%, specificity 100% (Park et al. 2021).

Automatic version (domain notes §3.3): intensities are z-scored against the normal-appearing
brain (brain minus lesion and cavity). The lesion is the tumour core (ET + NETC): in a
non-enhancing glioma that is the T2-homogeneous tumour, SNFH being the surrounding FLAIR
hyperintensity; without a core, the whole tumour. Inside the lesion minus a ``rim_mm`` rim, a
voxel shows mismatch when ``z(FLAIR) < z(T2) - delta``. The sign is positive when the median
``z(T2)`` there is at least ``min_t2_z`` (hyperintense), the mismatch fraction is at least
``min_fraction`` (the majority of the lesion) and enhancement is minimal: ET at most
``max_enhancing_fraction`` of the lesion. A positive sign gives P(IDH mutant) = 1, a negative
one 0: a rule, one operating point.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from imagination.adapters.baselines.regions import brain_mask, cavity, depth_mm
from imagination.adapters.protocol import ModelCard, Predictions
from imagination.adapters.validation import check_inputs
from imagination.cohort.case import LoadedCase
from imagination.errors import CaseError


def zscore(image: np.ndarray, reference: np.ndarray, *, case_id: str, modality: str
           ) -> np.ndarray:
    """``(image - mean) / std`` with mean and std taken over ``reference`` voxels."""
    values = image[reference]
    if values.size < 2 or float(values.std()) == 0.0:
        raise CaseError("no intensity variation in the normal-appearing brain to z-score",
                        case_id=case_id, column=modality)
    return (image - float(values.mean())) / float(values.std())


def mismatch_measures(case: LoadedCase, rim_mm: float, delta: float) -> dict[str, float]:
    """Median T2 z-score and mismatch fraction in the lesion interior; ET share of the lesion."""
    whole = case.region("WT")
    if not whole.any():
        raise CaseError("tumour mask has no lesion (WT is empty)", case_id=case.case_id,
                        column="mask_tumor", code="empty_lesion")
    core = case.region("TC")
    lesion = core if core.any() else whole
    normal = brain_mask(case) & ~whole & ~cavity(case)
    z_t2 = zscore(case.images["t2"], normal, case_id=case.case_id, modality="t2")
    z_flair = zscore(case.images["flair"], normal, case_id=case.case_id, modality="flair")
    interior = depth_mm(lesion, case.grid.spacing) > rim_mm
    if not interior.any():
        interior = lesion
    mismatch = z_flair[interior] < z_t2[interior] - delta
    enhancing = int(np.count_nonzero(case.region("ET") & lesion))
    return {
        "median_t2_z": float(np.median(z_t2[interior])),
        "mismatch_fraction": float(mismatch.mean()),
        "enhancing_fraction": enhancing / int(np.count_nonzero(lesion)),
    }


class T2FlairMismatchAdapter:
    """Automatic T2-FLAIR mismatch sign -> IDH mutant (binary rule)."""

    name = "t2flair-mismatch"
    version = "1.0"
    tasks = ("idh",)
    required_modalities = ("t2", "flair")
    optional_modalities: tuple[str, ...] = ()
    card = ModelCard(
        intended_use="high-specificity imaging rule for IDH-mutant, 1p/19q-intact astrocytoma",
        reference="Patel et al. 2017, Clin Cancer Res 23:6078; Park et al. 2021, Eur Radiol",
    )

    def __init__(self, rim_mm: float = 2.5, delta: float = 1.0, min_fraction: float = 0.5,
                 min_t2_z: float = 1.0, max_enhancing_fraction: float = 0.1) -> None:
        self.rim_mm = float(rim_mm)
        self.delta = float(delta)
        self.min_fraction = float(min_fraction)
        self.min_t2_z = float(min_t2_z)
        self.max_enhancing_fraction = float(max_enhancing_fraction)

    def params(self) -> Mapping[str, Any]:
        return {"rim_mm": self.rim_mm, "delta": self.delta, "min_fraction": self.min_fraction,
                "min_t2_z": self.min_t2_z, "max_enhancing_fraction": self.max_enhancing_fraction}

    def is_positive(self, case: LoadedCase) -> bool:
        m = mismatch_measures(case, self.rim_mm, self.delta)
        return (m["median_t2_z"] >= self.min_t2_z and m["mismatch_fraction"] >= self.min_fraction
                and m["enhancing_fraction"] <= self.max_enhancing_fraction)

    def predict(self, case: LoadedCase) -> Predictions:
        check_inputs(self, case)
        p_mutant = 1.0 if self.is_positive(case) else 0.0
        return Predictions(case_id=case.case_id,
                           outputs={"idh": {"wildtype": 1.0 - p_mutant, "mutant": p_mutant}})
