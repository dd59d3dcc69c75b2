"""``pet-btv``: a PET-guided clinical reference plan (amino-acid PET biological tumour volume).

As in FET-PET-guided radiotherapy planning (Pauleit et al. 2005, Brain 128:678; the GLIAA
trial's BTV): the biological tumour volume is the PET uptake region with a tumour-to-brain
ratio >= ``tbr_threshold`` (1.6) against normal brain (mean PET in the brain outside the MRI
tumour), specks below 0.2 ml dropped (:func:`~imagination.adapters.baselines.fk_growth.pet_uptake`).
The gross tumour volume is the BTV joined with the MRI tumour core (cavity included: the core
the standard plan expands), and the plan is that volume plus ``margin_mm``, clipped to the
brain. The score map is minus the distance to that volume inside the brain, so recurrence
scoring (iso-volumetric: the top |standard plan| voxels) compares it with ``margin-15mm`` at the
same treated volume. Without PET the case gets the MRI-only volume (the ``margin-15mm`` plan),
so both references are scored on every case.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from imagination.adapters.baselines.fk_growth import pet_uptake
from imagination.adapters.baselines.regions import (
    brain_mask,
    distance_mm,
    outside_below,
    treated_core,
    visible_extent,
)
from imagination.adapters.protocol import ModelCard, Predictions
from imagination.cohort.case import LoadedCase
from imagination.errors import InputError


class PetBtvAdapter:
    """MRI tumour core ∪ PET BTV (TBR >= 1.6), plus a margin, in the brain."""

    name = "pet-btv"
    version = "1.0"
    tasks = ("recurrence",)
    required_modalities: tuple[str, ...] = ()
    optional_modalities: tuple[str, ...] = ("pet",)

    def __init__(self, tbr_threshold: float = 1.6, margin_mm: float = 15.0) -> None:
        if not tbr_threshold > 1:
            raise InputError(f"pet-btv: tbr_threshold must be above 1, got {tbr_threshold}")
        if not margin_mm > 0:
            raise InputError(f"pet-btv: margin_mm must be positive, got {margin_mm}")
        self.tbr_threshold = float(tbr_threshold)
        self.margin_mm = float(margin_mm)
        self.card = ModelCard(
            intended_use=(f"PET-guided clinical reference: MRI tumour core joined with the "
                          f"amino-acid PET BTV (TBR >= {self.tbr_threshold:g} against normal "
                          f"brain) + {self.margin_mm:g} mm, clipped to the brain; score = minus "
                          "the distance; MRI-only volume when PET is missing"),
            reference="Pauleit et al. 2005, Brain 128:678 (FET-PET BTV, TBR 1.6); "
                      "Niyazi et al. 2023 (ESTRO-EANO margin)",
        )

    def params(self) -> Mapping[str, Any]:
        return {"tbr_threshold": self.tbr_threshold, "margin_mm": self.margin_mm}

    def target_volume(self, case: LoadedCase) -> np.ndarray:
        """GTV: the MRI tumour core (and cavity) joined with the PET BTV when PET is there."""
        core = treated_core(case)
        if "pet" not in case.images:
            return core
        btv = pet_uptake(case, brain_mask(case), visible_extent(case), self.tbr_threshold)
        return core | btv

    def plan(self, case: LoadedCase) -> np.ndarray:
        """The binary plan: distance to the target volume <= margin, inside the brain."""
        distance = distance_mm(self.target_volume(case), case.grid.spacing)
        return (distance <= self.margin_mm) & brain_mask(case)

    def predict(self, case: LoadedCase) -> Predictions:
        distance = distance_mm(self.target_volume(case), case.grid.spacing)
        score = outside_below(-distance, brain_mask(case))
        return Predictions(case_id=case.case_id, outputs={"recurrence": score})
