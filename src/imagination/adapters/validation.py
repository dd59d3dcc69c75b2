"""Checks of adapter outputs and the per-case failure record.

A bad output is that case's failure, never the run's: adapters and the checks below raise an
:class:`AdapterCaseError` subclass, and the engine turns any exception raised for one case into
an :class:`AdapterFailure` with :meth:`AdapterFailure.from_exception`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

import numpy as np

from imagination.adapters.protocol import Adapter, LearningAdapter, Predictions
from imagination.cohort.case import LoadedCase
from imagination.cohort.labelmap import LabelMap
from imagination.cohort.vocabulary import CLASSIFICATION_TASKS, DEFAULT_VOCABULARIES

FailureKind = Literal["error", "timeout", "invalid_output", "missing_modality"]

#: Allowed deviation of a probability vector's sum from 1.
SUM_TOLERANCE: Final[float] = 1e-3
#: Longest text kept from a program's logs inside a failure reason.
REASON_LOG_TAIL: Final[int] = 800


class AdapterCaseError(Exception):
    """A failure of one adapter on one case; ``kind`` says which sort."""

    kind: FailureKind = "error"

    def __init__(self, reason: str, *, logs: Mapping[str, str] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.logs = dict(logs or {})

    def __reduce__(self) -> tuple[Any, ...]:
        # keyword-only ``logs`` would be lost by Exception's default pickling
        return (self.__class__, (self.reason,), {"logs": self.logs})


class AdapterOutputError(AdapterCaseError):
    """The adapter returned something invalid (NaN, wrong grid, unknown class, missing file)."""

    kind = "invalid_output"


class AdapterCrashError(AdapterCaseError):
    """The model raised or its program exited with a non-zero status."""

    kind = "error"


class AdapterTimeoutError(AdapterCaseError):
    """The model's program did not finish within its timeout."""

    kind = "timeout"


class MissingModalityError(AdapterCaseError):
    """The case lacks an image the adapter requires."""

    kind = "missing_modality"


@dataclass(frozen=True)
class AdapterFailure:
    """A picklable record of one adapter failing on one case."""

    case_id: str
    adapter: str
    reason: str
    kind: FailureKind

    @classmethod
    def from_exception(cls, exc: BaseException, *, case_id: str, adapter: str) -> AdapterFailure:
        """Record any exception raised while running ``adapter`` on ``case_id``."""
        if isinstance(exc, AdapterCaseError):
            return cls(case_id, adapter, exc.reason, exc.kind)
        message = str(exc) or "(no message)"
        return cls(case_id, adapter, f"{type(exc).__name__}: {message}", "error")

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def log_tail(text: str, limit: int = REASON_LOG_TAIL) -> str:
    """The end of a log, for a failure reason."""
    text = text.strip()
    return text if len(text) <= limit else "…" + text[-limit:]


def missing_modalities(adapter: Adapter | LearningAdapter, case: LoadedCase) -> tuple[str, ...]:
    """Required modalities of ``adapter`` that ``case`` does not have."""
    return tuple(m for m in adapter.required_modalities if m not in case.images)


def check_inputs(adapter: Adapter | LearningAdapter, case: LoadedCase) -> None:
    """Raise :class:`MissingModalityError` when the case lacks a required modality."""
    missing = missing_modalities(adapter, case)
    if missing:
        raise MissingModalityError(
            f"adapter {adapter.name} needs {', '.join(missing)}; case {case.case_id} has "
            f"{', '.join(case.images) or 'no images'}"
        )


def check_probabilities(task: str, probabilities: Mapping[str, float],
                        classes: Sequence[str]) -> None:
    """Raise :class:`AdapterOutputError` unless ``probabilities`` is a distribution on ``classes``.

    Every class of the vocabulary must be present, no other class, each value finite and in
    [0, 1], and the sum within :data:`SUM_TOLERANCE` of 1.
    """
    if not isinstance(probabilities, Mapping):
        raise AdapterOutputError(f"task {task}: expected a mapping class -> probability, "
                                 f"got {type(probabilities).__name__}")
    unknown = sorted(str(c) for c in probabilities if c not in classes)
    if unknown:
        raise AdapterOutputError(f"task {task}: unknown classes {unknown}; known: {list(classes)}")
    missing = [c for c in classes if c not in probabilities]
    if missing:
        raise AdapterOutputError(f"task {task}: no probability for classes {missing}")
    total = 0.0
    for label, value in probabilities.items():
        if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
            raise AdapterOutputError(f"task {task}: probability of {label!r} is not a number: "
                                     f"{value!r}")
        number = float(value)
        if not math.isfinite(number):
            raise AdapterOutputError(f"task {task}: probability of {label!r} is {number}")
        if not 0.0 <= number <= 1.0:
            raise AdapterOutputError(f"task {task}: probability of {label!r} is {number}, "
                                     "outside [0, 1]")
        total += number
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise AdapterOutputError(f"task {task}: probabilities sum to {total:.6g}, not 1 "
                                 f"(tolerance {SUM_TOLERANCE})")


def check_score_map(score_map: object, case: LoadedCase) -> None:
    """Raise :class:`AdapterOutputError` unless ``score_map`` is a finite map on the case grid."""
    if not isinstance(score_map, np.ndarray):
        raise AdapterOutputError(f"recurrence: expected a voxel array, got "
                                 f"{type(score_map).__name__}")
    shape = tuple(case.grid.shape)
    if score_map.shape != shape:
        raise AdapterOutputError(f"recurrence: map shape {score_map.shape} is not the case grid "
                                 f"{shape}")
    if not (np.issubdtype(score_map.dtype, np.floating) or np.issubdtype(score_map.dtype,
                                                                         np.integer)
            or score_map.dtype == np.bool_):
        raise AdapterOutputError(f"recurrence: map dtype {score_map.dtype} is not numeric")
    bad = int(np.count_nonzero(~np.isfinite(score_map))) if np.issubdtype(
        score_map.dtype, np.floating) else 0
    if bad:
        raise AdapterOutputError(f"recurrence: map has {bad} non-finite voxels (NaN or inf)")


def check_label_map(labels: object, label_map: LabelMap, case: LoadedCase,
                    task: str = "segmentation") -> np.ndarray:
    """The adapter's integer label map as an array, or :class:`AdapterOutputError` naming the
    problem: not an array, not on the case grid, not integer-valued (NaN, inf, fractions), or
    a code its declared ``label_map`` does not list (0 is background)."""
    if not isinstance(labels, np.ndarray):
        raise AdapterOutputError(f"{task}: expected a label array, got {type(labels).__name__}")
    shape = tuple(case.grid.shape)
    if labels.shape != shape:
        raise AdapterOutputError(f"{task}: label map shape {labels.shape} is not the case grid "
                                 f"{shape}")
    if labels.dtype == np.bool_:
        labels = labels.astype(np.uint8)
    if np.issubdtype(labels.dtype, np.floating):
        bad = int(np.count_nonzero(~np.isfinite(labels)))
        if bad:
            raise AdapterOutputError(f"{task}: label map has {bad} non-finite voxels (NaN or "
                                     "inf)")
        fractional = int(np.count_nonzero(labels != np.round(labels)))
        if fractional:
            raise AdapterOutputError(f"{task}: label map has {fractional} non-integer voxels")
        if labels.size and (labels.min() < 0 or labels.max() > np.iinfo(np.int32).max):
            raise AdapterOutputError(f"{task}: label map values outside 0..2^31")
        labels = labels.astype(np.int32)
    elif not np.issubdtype(labels.dtype, np.integer):
        raise AdapterOutputError(f"{task}: label map dtype {labels.dtype} is not integer")
    unknown = label_map.unknown_codes(labels)
    if unknown:
        declared = label_map.name or dict(sorted(label_map.codes.items()))
        raise AdapterOutputError(f"{task}: label map has codes {unknown} outside its declared "
                                 f"label map {declared}")
    return labels


def check_predictions(
    predictions: Predictions,
    adapter: Adapter | LearningAdapter,
    case: LoadedCase,
    tasks: Iterable[str],
    *,
    vocabularies: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Validate ``predictions`` of ``adapter`` for ``case`` on the asked ``tasks``.

    ``vocabularies`` (task -> classes) defaults to the manifest defaults. Tasks the adapter
    returned but nobody asked for are ignored; a returned task name that is no known
    classification task is an error.
    """
    vocab = {**DEFAULT_VOCABULARIES, **(vocabularies or {})}
    if not isinstance(predictions, Predictions):
        raise AdapterOutputError(f"adapter {adapter.name} returned {type(predictions).__name__}, "
                                 "not Predictions")
    if predictions.case_id != case.case_id:
        raise AdapterOutputError(f"predictions are for case {predictions.case_id!r}, "
                                 f"not {case.case_id!r}")
    for task in predictions.classification:
        if task not in CLASSIFICATION_TASKS and task not in vocab:
            raise AdapterOutputError(f"unknown classification task {task!r}")
    for task in tasks:
        if task == "recurrence":
            if predictions.recurrence is None:
                raise AdapterOutputError("recurrence: no score map returned")
            check_score_map(predictions.recurrence, case)
            continue
        if task not in vocab:
            raise AdapterOutputError(f"task {task!r} has no class vocabulary")
        if task not in predictions.classification:
            raise AdapterOutputError(f"task {task}: no probabilities returned")
        check_probabilities(task, predictions.classification[task], vocab[task])


def safe_predict(
    adapter: Adapter,
    case: LoadedCase,
    tasks: Iterable[str],
    *,
    vocabularies: Mapping[str, Sequence[str]] | None = None,
) -> Predictions | AdapterFailure:
    """Run ``adapter`` on ``case`` and validate; any failure becomes an :class:`AdapterFailure`."""
    try:
        check_inputs(adapter, case)
        predictions = adapter.predict(case)
        check_predictions(predictions, adapter, case, tasks, vocabularies=vocabularies)
    except Exception as exc:  # one case's failure, whatever it is, must not stop the others
        return AdapterFailure.from_exception(exc, case_id=case.case_id, adapter=adapter.name)
    return predictions
