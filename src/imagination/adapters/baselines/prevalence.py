"""``prevalence``: the no-skill classification reference.

Predicts, for every case of a task, the same probabilities: the class frequencies of the
cohort's labelled cases (``same_for_every_case``: fitted once, not cross-fitted). One prediction
for all cases carries no information about any case, so AUROC is exactly 0.5 and binary
balanced accuracy 0.5; its Brier score is the no-skill Brier. (Per-fold frequencies would not
be no-skill: out-of-fold prevalence anti-correlates with the held-out labels.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from imagination.adapters.protocol import ModelCard
from imagination.cohort.case import LoadedCase
from imagination.cohort.vocabulary import CLASSIFICATION_TASKS


class PrevalenceAdapter:
    """Cohort class frequencies, the same for every case."""

    name = "prevalence"
    version = "2.0"
    same_for_every_case = True
    tasks = CLASSIFICATION_TASKS
    required_modalities: tuple[str, ...] = ()
    optional_modalities: tuple[str, ...] = ()
    card = ModelCard(
        intended_use="no-skill reference: the cohort prevalence of each class, one prediction "
                     "for every case (AUROC 0.5)",
        training_data="the labels of the benchmark cohort (no image or feature is used)",
    )

    def params(self) -> Mapping[str, Any]:
        return {}

    def extract(self, case: LoadedCase) -> dict[str, float]:
        return {}

    def fit_predict(self, task: str, classes: Sequence[str], train_features: np.ndarray,
                    train_labels: Sequence[str], test_features: np.ndarray) -> np.ndarray:
        counts = np.array([sum(1 for y in train_labels if y == c) for c in classes], dtype=float)
        frequencies = counts / counts.sum()
        return np.tile(frequencies, (len(test_features), 1))
