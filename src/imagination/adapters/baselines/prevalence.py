"""``prevalence``: the no-skill classification reference.

Predicts, for every case, the class frequencies of the cross-fitting training rows (so the
prediction for a case never uses its own label). It carries no information about the case;
read its Brier score and calibration. Its AUROC is near 0.5 but biased below it in small
cohorts: a fold that holds out a positive case trains on one positive fewer, so out-of-fold
prevalence is slightly anti-correlated with the label (a known property of cross-validated
null models).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from imagination.adapters.protocol import ModelCard
from imagination.cohort.case import LoadedCase
from imagination.cohort.vocabulary import CLASSIFICATION_TASKS


class PrevalenceAdapter:
    """Training-fold class frequencies for every case."""

    name = "prevalence"
    version = "1.0"
    tasks = CLASSIFICATION_TASKS
    required_modalities: tuple[str, ...] = ()
    optional_modalities: tuple[str, ...] = ()
    card = ModelCard(
        intended_use="no-skill reference: the training prevalence of each class",
        training_data="the benchmark cohort itself, cross-fitted (never the predicted case)",
        no_skill=True,
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
