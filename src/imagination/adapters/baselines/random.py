"""``random``: the no-skill recurrence reference.

Independent uniform scores inside the brain, seeded by the run seed and the case id, so the
top-k voxels are a random iso-volumetric plan inside the brain (domain notes §3.5). Expected
coverage equals the plan's share of the brain.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from imagination.adapters.baselines.regions import brain_mask, case_seed, outside_below
from imagination.adapters.protocol import ModelCard, Predictions
from imagination.cohort.case import LoadedCase


class RandomPlanAdapter:
    """Uniform random voxel scores inside the brain (deterministic per seed and case)."""

    name = "random"
    version = "1.0"
    tasks = ("recurrence",)
    required_modalities: tuple[str, ...] = ()
    optional_modalities: tuple[str, ...] = ()
    card = ModelCard(
        intended_use="no-skill reference: a random plan of any volume inside the brain",
        reference="iso-volumetric plan protocol of PREDICT-GBM (arXiv 2509.13360)",
    )

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)

    def params(self) -> Mapping[str, Any]:
        return {"seed": self.seed}

    def predict(self, case: LoadedCase) -> Predictions:
        rng = np.random.default_rng(case_seed(self.seed, case.case_id, "random-plan"))
        score = rng.random(case.grid.shape, dtype=np.float32)
        return Predictions(case_id=case.case_id,
                           outputs={"recurrence": outside_below(score, brain_mask(case))})
