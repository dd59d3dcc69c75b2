"""``precomputed`` adapter: predictions exported by software that cannot run in the harness.

Classification: a CSV with columns ``case_id``, ``task`` and one probability column per class
(a class column is left empty on rows of tasks it does not belong to). Recurrence: a folder of
NIfTI score maps named by case (``map_pattern``, default ``{case_id}.nii.gz``) on the case
grid. The CSV is read and checked once, when the adapter is built; a case without a row or a
map is that case's failure.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from imagination.adapters.command import check_tasks, model_card
from imagination.adapters.maps import read_score_map
from imagination.adapters.protocol import ModelCard, Predictions
from imagination.adapters.validation import AdapterOutputError
from imagination.cohort.case import LoadedCase
from imagination.cohort.vocabulary import CLASSIFICATION_TASKS
from imagination.errors import InputError

ID_COLUMNS = ("case_id", "task")


def read_prediction_table(path: Path) -> dict[tuple[str, str], dict[str, float]]:
    """``{(case_id, task): {class: probability}}`` from an export CSV; bad input names the row."""
    if not path.is_file():
        raise InputError(f"precomputed predictions file {path} does not exist")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV: {exc}") from exc
    missing = [c for c in ID_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"{path}: missing columns {missing}; expected case_id, task and one "
                         "column per class")
    class_columns = [c for c in table.columns if c not in ID_COLUMNS]
    out: dict[tuple[str, str], dict[str, float]] = {}
    for index, row in table.iterrows():
        line = int(str(index)) + 2  # the header is line 1
        case_id, task = row["case_id"].strip(), row["task"].strip()
        if not case_id:
            raise InputError(f"{path}, line {line}: empty case_id")
        if task not in CLASSIFICATION_TASKS:
            raise InputError(f"{path}, line {line}: unknown task {task!r}; tasks: "
                             f"{', '.join(CLASSIFICATION_TASKS)}")
        if (case_id, task) in out:
            raise InputError(f"{path}, line {line}: second row for case {case_id}, task {task}")
        probabilities: dict[str, float] = {}
        for column in class_columns:
            cell = row[column].strip()
            if not cell:
                continue
            try:
                value = float(cell)
            except ValueError as exc:
                raise InputError(f"{path}, line {line}, column {column}: {cell!r} is not a "
                                 "number") from exc
            probabilities[column] = value if math.isfinite(value) else float("nan")
        out[(case_id, task)] = probabilities
    return out


class PrecomputedAdapter:
    """Reads exported class probabilities and score maps."""

    def __init__(self, name: str, *, predictions_csv: str | Path | None = None,
                 maps_dir: str | Path | None = None, tasks: Sequence[str] | None = None,
                 map_pattern: str = "{case_id}.nii.gz", version: str = "exported",
                 base_dir: str | Path | None = None,
                 card: Mapping[str, Any] | ModelCard | None = None) -> None:
        if predictions_csv is None and maps_dir is None:
            raise InputError(f"adapter {name}: give predictions_csv, maps_dir or both")
        if "{case_id}" not in map_pattern:
            raise InputError(f"adapter {name}: map_pattern must contain {{case_id}}")
        base = (Path(base_dir) if base_dir is not None else Path.cwd()).resolve()
        self.base_dir = base
        self.name = name
        self.version = str(version)
        self.predictions_csv = (base / predictions_csv).resolve() if predictions_csv else None
        self.maps_dir = (base / maps_dir).resolve() if maps_dir else None
        if self.maps_dir is not None and not self.maps_dir.is_dir():
            raise InputError(f"adapter {name}: maps folder {self.maps_dir} does not exist")
        self.map_pattern = map_pattern
        self.table = (read_prediction_table(self.predictions_csv)
                      if self.predictions_csv is not None else {})
        self.csv_sha256 = (hashlib.sha256(self.predictions_csv.read_bytes()).hexdigest()
                           if self.predictions_csv is not None else "")
        found = sorted({task for _, task in self.table})
        if tasks is None:
            tasks = [*found, *(["recurrence"] if self.maps_dir is not None else [])]
        self.tasks = check_tasks(name, tasks)
        if "recurrence" in self.tasks and self.maps_dir is None:
            raise InputError(f"adapter {name}: task recurrence needs maps_dir")
        self.required_modalities: tuple[str, ...] = ()
        self.optional_modalities: tuple[str, ...] = ()
        self.card = model_card(card, "predictions exported from software run outside the "
                                     "harness")

    def params(self) -> Mapping[str, Any]:
        # paths relative to the config folder: a moved project keeps its keys, and no absolute
        # path reaches run.json or the report
        return {"predictions_csv": self._relative(self.predictions_csv),
                "predictions_sha256": self.csv_sha256, "maps_dir": self._relative(self.maps_dir),
                "map_pattern": self.map_pattern,
                "tasks": list(self.tasks), "version": self.version}

    def _relative(self, path: Path | None) -> str:
        return "" if path is None else os.path.relpath(path, self.base_dir)

    def predict(self, case: LoadedCase) -> Predictions:
        classification: dict[str, dict[str, float]] = {}
        for task in self.tasks:
            if task == "recurrence":
                continue
            row = self.table.get((case.case_id, task))
            if row is None:
                raise AdapterOutputError(f"{self._relative(self.predictions_csv)}: no row for case "
                                         f"{case.case_id}, task {task}")
            classification[task] = dict(row)
        recurrence = None
        if "recurrence" in self.tasks:
            path = Path(str(self.maps_dir)) / self.map_pattern.format(case_id=case.case_id)
            recurrence = read_score_map(path, case)
        return Predictions(case_id=case.case_id, classification=classification,
                           recurrence=recurrence)
