"""``empty``: the no-skill segmentation reference."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from imagination.adapters.protocol import ModelCard, Predictions, Segmentation
from imagination.cohort.case import LoadedCase
from imagination.cohort.labelmap import LabelMap


class EmptySegAdapter:
    """``empty``: the no-skill segmentation reference, an empty label map for every case
    (what a model that finds nothing scores: Dice 0 and the HD95 penalty wherever there is
    tumour, NaN where truth is empty too)."""

    name = "empty"
    version = "1.0"
    tasks = ("segmentation",)
    required_modalities: tuple[str, ...] = ()
    optional_modalities: tuple[str, ...] = ()
    label_map = LabelMap.from_spec("brats2023")
    card = ModelCard(intended_use="no-skill reference for segmentation (predicts no tumour)")

    def params(self) -> Mapping[str, Any]:
        return {}

    def predict(self, case: LoadedCase) -> Predictions:
        return Predictions(case_id=case.case_id, outputs={
            "segmentation": Segmentation(np.zeros(case.grid.shape, np.uint8), self.label_map)})
