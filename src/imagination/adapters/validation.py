"""Checks of adapter outputs and the per-case failure record.

A bad output is that case's failure, never the run's: adapters and the checks below raise an
:class:`AdapterCaseError` subclass, and the engine turns any exception raised for one case into
an :class:`AdapterFailure` with :meth:`AdapterFailure.from_exception`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

import numpy as np

from imagination.adapters.protocol import Adapter, LearningAdapter, Predictions
from imagination.cohort.case import LoadedCase
from imagination.cohort.labelmap import LabelMap
from imagination.cohort.vocabulary import DEFAULT_VOCABULARIES

FailureKind = Literal["error", "timeout", "invalid_output", "missing_modality"]

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
    """Raise :class:`AdapterOutputError` unless ``probabilities`` is a distribution on ``classes``
    (the class-probability output type's check)."""
    from imagination.tasks.outputs import CLASS_PROBABILITIES

    CLASS_PROBABILITIES.check(task, probabilities, None, classes)  # type: ignore[arg-type]


def check_label_map(labels: object, label_map: LabelMap, case: LoadedCase,
                    task: str | None = None) -> np.ndarray:
    """The adapter's integer label map as an array, or :class:`AdapterOutputError` naming the
    problem: not an array, not on the case grid, not integer-valued (NaN, inf, fractions), or
    a code its declared ``label_map`` does not list (0 is background). ``task`` names the
    task in messages."""
    where = f"{task}: label map" if task else "label map"
    if not isinstance(labels, np.ndarray):
        raise AdapterOutputError(f"{where}: expected a label array, got {type(labels).__name__}")
    shape = tuple(case.grid.shape)
    if labels.shape != shape:
        raise AdapterOutputError(f"{where} shape {labels.shape} is not the case grid "
                                 f"{shape}")
    if labels.dtype == np.bool_:
        labels = labels.astype(np.uint8)
    if np.issubdtype(labels.dtype, np.floating):
        bad = int(np.count_nonzero(~np.isfinite(labels)))
        if bad:
            raise AdapterOutputError(f"{where} has {bad} non-finite voxels (NaN or "
                                     "inf)")
        fractional = int(np.count_nonzero(labels != np.round(labels)))
        if fractional:
            raise AdapterOutputError(f"{where} has {fractional} non-integer voxels")
        if labels.size and (labels.min() < 0 or labels.max() > np.iinfo(np.int32).max):
            raise AdapterOutputError(f"{where} values outside 0..2^31")
        labels = labels.astype(np.int32)
    elif not np.issubdtype(labels.dtype, np.integer):
        raise AdapterOutputError(f"{where} dtype {labels.dtype} is not integer")
    unknown = label_map.unknown_codes(labels)
    if unknown:
        declared = label_map.name or dict(sorted(label_map.codes.items()))
        raise AdapterOutputError(f"{where} has codes {unknown} outside its declared "
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

    Each asked task's output is checked by its kind's output type (``vocabularies``, task ->
    classes, defaults to the manifest defaults). Outputs of tasks nobody asked for are
    ignored; an output under a name that is no known task is an error.
    """
    from imagination.tasks.registry import TASK_NAMES, kind_of

    vocab = {**DEFAULT_VOCABULARIES, **(vocabularies or {})}
    if not isinstance(predictions, Predictions):
        raise AdapterOutputError(f"adapter {adapter.name} returned {type(predictions).__name__}, "
                                 "not Predictions")
    if predictions.case_id != case.case_id:
        raise AdapterOutputError(f"predictions are for case {predictions.case_id!r}, "
                                 f"not {case.case_id!r}")
    if not isinstance(predictions.outputs, Mapping):
        raise AdapterOutputError(f"outputs must map task -> output, got "
                                 f"{type(predictions.outputs).__name__}")
    for task in predictions.outputs:
        if task not in TASK_NAMES:
            raise AdapterOutputError(f"output for unknown task {task!r}; tasks: "
                                     f"{', '.join(TASK_NAMES)}")
    for task in tasks:
        kind = kind_of(task)
        classes = kind.classes(task, vocab)
        if predictions.outputs.get(task) is None:
            raise AdapterOutputError(f"task {task}: no {kind.output.name} returned")
        kind.output.check(task, predictions.outputs[task], case, classes)


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
