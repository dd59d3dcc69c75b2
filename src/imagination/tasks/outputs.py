"""Typed adapter outputs: what a task asks an adapter to return for one case.

An adapter returns ``Predictions.outputs``, a mapping task -> value; the task's output type
checks the value (a bad one is that case's ``invalid_output`` failure), normalises it, keeps it
in the store and reads it from the files of ``command`` programs and ``precomputed`` exports:

* :data:`CLASS_PROBABILITIES` -- ``{class: probability}`` over the task's vocabulary; stored as
  JSON; a program writes it under the task's key in ``output/predictions.json``.
* :data:`SCORE_MAP` -- a finite float voxel map on the case grid (higher = more likely);
  stored as float32 (bit-exact); a program writes ``output/<task>.nii.gz``.
* :data:`LABEL_MAP` -- an integer label map on the case grid with the adapter's declared label
  map (``adapters.protocol.Segmentation``); stored as the adapter's codes (exact); a program
  writes ``output/<task>.nii.gz`` (``output/segmentation.nii.gz``).

An output type is *json* (small, kept in the record's metadata) or *array* (a voxel map kept as
its own store member named by the task).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from imagination.adapters.validation import AdapterOutputError
from imagination.cohort.case import LoadedCase

Storage = Literal["json", "array"]
#: Allowed deviation of a probability vector's sum from 1.
SUM_TOLERANCE = 1e-3


class OutputType(Protocol):
    """How one kind of output is checked, stored and read from files."""

    name: str
    storage: Storage
    description: str

    def check(self, task: str, value: object, case: LoadedCase,
              classes: Sequence[str]) -> None:
        """Raise ``AdapterOutputError`` (naming the task and the problem) unless valid."""
        ...

    def normalise(self, value: Any) -> Any:
        """The stored form (plain floats, float32 arrays)."""
        ...

    def flatten(self, value: Any) -> np.ndarray:
        """All numbers of the value in a fixed order (repeat-run comparisons)."""
        ...

    def read_program_output(self, output_dir: Path, tasks: Sequence[str],
                            case: LoadedCase) -> dict[str, Any]:
        """The values a ``command`` program wrote into ``output_dir`` for ``tasks``."""
        ...


@dataclass(frozen=True)
class ClassProbabilities:
    """``{class label: probability}``: a distribution over the task's class vocabulary."""

    name: str = "class_probabilities"
    storage: Storage = "json"
    description: str = "{class: probability} over the task's classes, summing to 1"
    program_file: str = "predictions.json"

    def check(self, task: str, value: object, case: LoadedCase,
              classes: Sequence[str]) -> None:
        """Every class of the vocabulary, no other, each finite in [0, 1], sum 1 ± 1e-3."""
        if not isinstance(value, Mapping):
            raise AdapterOutputError(f"task {task}: expected a mapping class -> probability, "
                                f"got {type(value).__name__}")
        unknown = sorted(str(c) for c in value if c not in classes)
        if unknown:
            raise AdapterOutputError(f"task {task}: unknown classes {unknown}; known: "
                                f"{list(classes)}")
        missing = [c for c in classes if c not in value]
        if missing:
            raise AdapterOutputError(f"task {task}: no probability for classes {missing}")
        total = 0.0
        for label, p in value.items():
            if isinstance(p, bool) or not isinstance(p, int | float | np.floating | np.integer):
                raise AdapterOutputError(f"task {task}: probability of {label!r} is not a number: "
                                    f"{p!r}")
            number = float(p)
            if not math.isfinite(number):
                raise AdapterOutputError(f"task {task}: probability of {label!r} is {number}")
            if not 0.0 <= number <= 1.0:
                raise AdapterOutputError(f"task {task}: probability of {label!r} is {number}, "
                                    "outside [0, 1]")
            total += number
        if abs(total - 1.0) > SUM_TOLERANCE:
            raise AdapterOutputError(f"task {task}: probabilities sum to {total:.6g}, not 1 "
                                f"(tolerance {SUM_TOLERANCE})")

    def normalise(self, value: Any) -> dict[str, float]:
        return {str(c): float(p) for c, p in value.items()}

    def flatten(self, value: Any) -> np.ndarray:
        return np.array([p for _, p in sorted(value.items())], dtype=np.float64)

    def read_program_output(self, output_dir: Path, tasks: Sequence[str],
                            case: LoadedCase) -> dict[str, Any]:
        return parse_predictions_json(output_dir / self.program_file, tasks) if tasks else {}


#: Largest ``predictions.json`` a program may write (bytes).
PREDICTIONS_LIMIT = 16 * 2**20


def parse_predictions_json(path: Path, tasks: Sequence[str]) -> dict[str, dict[str, float]]:
    """``{task: {class: probability}}`` for ``tasks`` from a program's JSON file."""
    from imagination.safe_yaml import YamlError, load_json_text, read_text_file

    if not path.exists():
        raise AdapterOutputError(f"the program wrote no {path.name}")
    try:  # a regular file of bounded size, duplicate keys refused (safe_yaml)
        document = load_json_text(read_text_file(path, max_bytes=PREDICTIONS_LIMIT))
    except YamlError as exc:
        raise AdapterOutputError(f"{path.name}: {exc}") from exc
    if not isinstance(document, dict):
        raise AdapterOutputError(f"{path.name} must hold an object {{task: {{class: "
                            f"probability}}}}, got {type(document).__name__}")
    out: dict[str, dict[str, float]] = {}
    for task in tasks:
        if task not in document:
            raise AdapterOutputError(f"{path.name} has no entry for task {task}")
        entry = document[task]
        if not isinstance(entry, dict):
            raise AdapterOutputError(f"{path.name}: task {task} must map class -> probability")
        probabilities: dict[str, float] = {}
        for label, value in entry.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise AdapterOutputError(f"{path.name}: task {task}, class {label!r}: "
                                    f"{value!r} is not a number")
            probabilities[str(label)] = float(value)
        out[task] = probabilities
    return out


@dataclass(frozen=True)
class ScoreMap:
    """A finite float voxel map on the case grid (higher = more likely)."""

    name: str = "score_map"
    storage: Storage = "array"
    description: str = "float32 voxel map on the case grid, finite, higher = more likely"

    def check(self, task: str, value: object, case: LoadedCase,
              classes: Sequence[str]) -> None:
        if not isinstance(value, np.ndarray):
            raise AdapterOutputError(f"{task}: expected a voxel array, got {type(value).__name__}")
        shape = tuple(case.grid.shape)
        if value.shape != shape:
            raise AdapterOutputError(f"{task}: map shape {value.shape} is not the case "
                                     f"grid {shape}")
        numeric = (np.issubdtype(value.dtype, np.floating)
                   or np.issubdtype(value.dtype, np.integer) or value.dtype == np.bool_)
        if not numeric:
            raise AdapterOutputError(f"{task}: map dtype {value.dtype} is not numeric")
        bad = int(np.count_nonzero(~np.isfinite(value))) if np.issubdtype(
            value.dtype, np.floating) else 0
        if bad:
            raise AdapterOutputError(f"{task}: map has {bad} non-finite voxels (NaN or inf)")

    def normalise(self, value: Any) -> np.ndarray:
        return np.ascontiguousarray(value, dtype=np.float32)

    def flatten(self, value: Any) -> np.ndarray:
        return np.asarray(value)

    def read_program_output(self, output_dir: Path, tasks: Sequence[str],
                            case: LoadedCase) -> dict[str, Any]:
        from imagination.adapters.maps import read_score_map

        return {task: read_score_map(output_dir / f"{task}.nii.gz", case) for task in tasks}




@dataclass(frozen=True)
class LabelMapOutput:
    """An integer label map on the case grid with the adapter's declared label map
    (``Segmentation``); stored as the adapter's own codes (int16, exact). Optional per-region
    probability maps are checked (on the grid, finite, in [0, 1]) but neither stored nor
    scored."""

    name: str = "label_map"
    storage: Storage = "array"
    description: str = ("integer label map on the case grid with its declared label map "
                        "(preset or {code: region}); optional per-region probability maps")
    program_file: str = "{task}.nii.gz"

    def check(self, task: str, value: object, case: LoadedCase,
              classes: Sequence[str]) -> None:
        from imagination.adapters.protocol import Segmentation
        from imagination.adapters.validation import check_label_map

        if not isinstance(value, Segmentation):
            raise AdapterOutputError(f"{task}: expected a Segmentation (labels with their "
                                     f"label map), got {type(value).__name__}")
        check_label_map(value.labels, value.label_map, case, task)
        for region, proba in (value.probabilities or {}).items():
            if not value.label_map.defines(region):
                raise AdapterOutputError(f"{task}: probability map for region {region}, which "
                                         "its label map does not define")
            if not isinstance(proba, np.ndarray) or proba.shape != tuple(case.grid.shape):
                raise AdapterOutputError(f"{task}: {region} probability map is not an array "
                                         f"on the case grid {tuple(case.grid.shape)}")
            p = np.asarray(proba, dtype=np.float64)
            if not np.all(np.isfinite(p)) or p.min(initial=0) < 0 or p.max(initial=0) > 1:
                raise AdapterOutputError(f"{task}: {region} probability map has values that "
                                         "are not finite numbers in [0, 1]")

    def normalise(self, value: Any) -> np.ndarray:
        from imagination.adapters.protocol import Segmentation

        labels = value.labels if isinstance(value, Segmentation) else value
        labels = np.asarray(labels)
        if labels.dtype.kind == "f":
            labels = np.rint(labels)
        small = labels.size == 0 or (labels.min() >= 0 and labels.max() < 256)
        return np.ascontiguousarray(labels, dtype=np.uint8 if small else np.int32)

    def flatten(self, value: Any) -> np.ndarray:
        return np.asarray(self.normalise(value))

    def read_program_output(self, output_dir: Path, tasks: Sequence[str],
                            case: LoadedCase) -> dict[str, Any]:
        """The raw label arrays of ``output/<task>.nii.gz``; the ``command`` adapter pairs
        them with its declared label map (``Segmentation``)."""
        from imagination.adapters.maps import read_label_map

        return {task: read_label_map(output_dir / f"{task}.nii.gz", case) for task in tasks}


CLASS_PROBABILITIES = ClassProbabilities()
SCORE_MAP = ScoreMap()
LABEL_MAP = LabelMapOutput()
