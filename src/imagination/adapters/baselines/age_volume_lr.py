"""``age-volume-lr``: logistic regression on age and tumour compartment volumes.

Age is strongly predictive of IDH status (Chang et al. 2018; UCSF-PDGM notes), so every
molecular model should be compared to this. Features: age (years, covariate ``age``) and
log(1 + volume in ml) of ET, NETC, SNFH and the resection cavity. Missing age is imputed with
the training median. Cross-fitted by the engine (``imagination.adapters.crossfit``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np

from imagination.adapters.baselines.logistic import logistic_fit_predict
from imagination.adapters.protocol import ModelCard
from imagination.cohort.case import LoadedCase
from imagination.errors import CaseError

COMPARTMENTS: Final[tuple[str, ...]] = ("ET", "NETC", "SNFH", "RC")


def compartment_volumes_ml(case: LoadedCase) -> dict[str, float]:
    """Volume (ml) of each compartment the label map declares; 0 when absent from the mask."""
    if "tumor" not in case.masks or case.case.label_map is None:
        raise CaseError("needs a tumour mask with a label map", case_id=case.case_id,
                        column="mask_tumor", code="missing_mask")
    label_map = case.case.label_map
    volume = case.grid.voxel_volume_ml
    return {region: float(np.count_nonzero(case.region(region))) * volume
            for region in COMPARTMENTS if label_map.codes_of(region)}


def age_of(case: LoadedCase) -> float:
    """The ``age`` covariate as a float, NaN when missing."""
    value = case.case.covariates.get("age")
    try:
        return float(value) if value is not None else float("nan")
    except (TypeError, ValueError) as exc:
        raise CaseError(f"age {value!r} is not a number", case_id=case.case_id,
                        column="age") from exc


class AgeVolumeLRAdapter:
    """L2 logistic regression on age and log compartment volumes."""

    name = "age-volume-lr"
    version = "1.0"
    tasks = ("idh", "codeletion_1p19q", "mgmt", "grade")
    required_modalities: tuple[str, ...] = ()
    optional_modalities: tuple[str, ...] = ()
    card = ModelCard(
        intended_use="tabular reference for molecular markers and grade: age + volumes",
        training_data="the benchmark cohort itself, cross-fitted (never the predicted case)",
        reference="Chang et al. 2018, Clin Cancer Res (age adds to IDH prediction)",
    )

    def __init__(self, c: float = 1.0) -> None:
        self.c = float(c)

    def params(self) -> Mapping[str, Any]:
        return {"c": self.c, "compartments": list(COMPARTMENTS)}

    def extract(self, case: LoadedCase) -> dict[str, float]:
        features = {"age": age_of(case)}
        for region, ml in compartment_volumes_ml(case).items():
            features[f"log_volume_{region}"] = float(np.log1p(ml))
        return features

    def fit_predict(self, task: str, classes: Sequence[str], train_features: np.ndarray,
                    train_labels: Sequence[str], test_features: np.ndarray) -> np.ndarray:
        return logistic_fit_predict(classes, train_features, train_labels, test_features,
                                    c=self.c)
