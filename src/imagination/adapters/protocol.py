"""The adapter contract: what a model declares and what it returns for one case.

Two shapes of adapter exist:

* :class:`Adapter` — ``predict(case)`` turns one loaded case into :class:`Predictions`. Used for
  in-process models, ``command`` programs, ``precomputed`` exports and fixed rules.
* :class:`LearningAdapter` — a baseline that learns from the cohort. The engine calls
  ``extract(case)`` per case (parallel, cached like any job), then ``fit_predict`` per
  cross-fitting fold so that a case's prediction always comes from a model that never saw it
  (see ``imagination.adapters.crossfit``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from imagination.cohort.case import LoadedCase
from imagination.cohort.labelmap import LabelMap


@dataclass(frozen=True)
class ModelCard:
    """What reports show about a model (TRIPOD+AI / CLAIM style essentials)."""

    intended_use: str
    training_data: str = "none (weight-free)"
    licence: str = "Apache-2.0"
    regulatory_status: str = "research use only"
    reference: str = ""
    deterministic: bool = True
    #: a no-skill reference (same output whatever the case): left out of baseline gates
    no_skill: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Predictions:
    """An adapter's output for one case (under one perturbation).

    ``outputs`` maps task -> the output of the task's type (``imagination tasks list``): class
    probabilities ``{class: probability}`` for classification tasks, a float voxel score map
    on the case grid for ``recurrence`` (higher = more likely to recur), a
    :class:`Segmentation` for ``segmentation``, ...
    """

    case_id: str
    outputs: dict[str, Any] = field(default_factory=dict)
    #: captured program output by stream name (``stdout``, ``stderr``), for ``command`` adapters
    logs: dict[str, str] = field(default_factory=dict)


#: Blinding of an adapter that runs inside the harness's process (no attribute ``blinding``):
#: it gets a sealed case (no paths, manifest or truth) but could look elsewhere in memory.
IN_PROCESS_BLINDING = "by convention (in-process)"


def blinding_of(adapter: object) -> str:
    """How an adapter is kept from the truth: ``enforced (sandbox)``/``enforced (container)``
    where the harness enforces it, else ``by convention (...)`` (an optional attribute
    ``blinding``; in-process by default)."""
    return str(getattr(adapter, "blinding", IN_PROCESS_BLINDING))


def reads_reference_masks(adapter: object) -> bool:
    """Whether the adapter is a declared reference pathway that reads the cases' reference
    masks (optional attribute ``reads_reference_masks``, e.g. RANO 2.0 on the reference
    segmentations): the one exception to the mask blinding of its task, never to labels."""
    return bool(getattr(adapter, "reads_reference_masks", False))


@dataclass(frozen=True)
class Segmentation:
    """A segmentation output: an integer label map on the case grid in the codes of the
    adapter's declared ``label_map`` (the adapter's ``label_map`` attribute: a preset such
    as ``brats2023`` or ``{code: region}``), optionally with per-region probability maps
    (region -> float map in [0, 1] on the grid; checked, not scored)."""

    labels: np.ndarray
    label_map: LabelMap
    probabilities: Mapping[str, np.ndarray] | None = None


@runtime_checkable
class Adapter(Protocol):
    """A model as the harness sees it."""

    name: str
    version: str
    tasks: tuple[str, ...]
    required_modalities: tuple[str, ...]
    optional_modalities: tuple[str, ...]
    card: ModelCard

    def params(self) -> Mapping[str, Any]:
        """Parameters that change its output (part of every job's content hash)."""
        ...

    def predict(self, case: LoadedCase) -> Predictions:
        """Predictions for the adapter's tasks on one case."""
        ...


@runtime_checkable
class LearningAdapter(Protocol):
    """A baseline fitted on the cohort itself, always cross-fitted."""

    name: str
    version: str
    tasks: tuple[str, ...]
    required_modalities: tuple[str, ...]
    optional_modalities: tuple[str, ...]
    card: ModelCard

    def params(self) -> Mapping[str, Any]:
        ...

    def extract(self, case: LoadedCase) -> dict[str, float]:
        """Per-case features (numbers only; NaN allowed for a missing input)."""
        ...

    def fit_predict(
        self,
        task: str,
        classes: Sequence[str],
        train_features: np.ndarray,
        train_labels: Sequence[str],
        test_features: np.ndarray,
    ) -> np.ndarray:
        """Fit on the training rows and return ``(n_test, n_classes)`` probabilities."""
        ...
