"""``precomputed`` adapter: predictions exported by software that cannot run in the harness.

Tasks whose output is class probabilities: a CSV with columns ``case_id``, ``task`` and one
probability column per class (a class column is left empty on rows of tasks it does not belong
to), or a long CSV with ``case_id, task, class, probability`` such as a run's own
``predictions.csv`` (only its ``clean`` rows; ``adapter`` picks one adapter of several;
``truth`` is never read). The format with an example: ``examples/precomputed/README.md``.
Tasks whose output is a voxel score map (``recurrence``): a folder of NIfTI score maps named by
case (``map_pattern``, default ``{case_id}.nii.gz``) on the case grid. ``segmentation``:
label maps from a path template (``segmentation: "segs/{case_id}.nii.gz"``) in the codes
of ``label_map`` (a preset such as ``brats2023``, or ``{code: region}``). The CSV is read and
checked once, when the adapter is built; a case without a row or a map is that case's failure.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from imagination.adapters.command import check_tasks, model_card, output_label_map
from imagination.adapters.maps import read_label_map, read_score_map
from imagination.adapters.protocol import ModelCard, Predictions, Segmentation
from imagination.adapters.validation import AdapterOutputError
from imagination.cohort.case import LoadedCase
from imagination.errors import InputError
from imagination.tasks.outputs import CLASS_PROBABILITIES, LABEL_MAP, SCORE_MAP
from imagination.tasks.registry import TASK_NAMES, is_task, kind_of

ID_COLUMNS = ("case_id", "task")
#: The long form: one row per class (a run's ``predictions.csv``).
LONG_COLUMNS = ("class", "probability")


def _number(cell: str, where: str) -> float:
    try:
        value = float(cell)
    except ValueError as exc:
        raise InputError(f"{where}: {cell!r} is not a number") from exc
    return value if math.isfinite(value) else float("nan")


def _check_key(path: Path, line: int, case_id: str, task: str) -> None:
    if not case_id:
        raise InputError(f"{path}, line {line}: empty case_id")
    if not is_task(task) or kind_of(task).output.storage != "json":
        tabular = [t for t in TASK_NAMES if kind_of(t).output.storage == "json"]
        raise InputError(f"{path}, line {line}: unknown task {task!r}; tasks: "
                         f"{', '.join(tabular)}")


def _read_long(path: Path, table: pd.DataFrame, adapter: str | None,
               ) -> dict[tuple[str, str], dict[str, float]]:
    """The long form: clean rows of one adapter, one row per (case, task, class)."""
    keep = pd.Series(True, index=table.index)
    if "perturbation" in table.columns:
        keep &= table["perturbation"].str.strip() == "clean"
    if "adapter" in table.columns:
        found = sorted(set(table.loc[keep, "adapter"].str.strip()))
        if adapter is None and len(found) > 1:
            raise InputError(f"{path}: holds the predictions of {len(found)} adapters "
                             f"({', '.join(found)}); choose one with the parameter 'adapter'")
        if adapter is not None:
            if adapter not in found:
                raise InputError(f"{path}: no rows of adapter {adapter!r}; adapters: "
                                 f"{', '.join(found) or '(none)'}")
            keep &= table["adapter"].str.strip() == adapter
    elif adapter is not None:
        raise InputError(f"{path}: parameter 'adapter' given but the file has no adapter column")
    out: dict[tuple[str, str], dict[str, float]] = {}
    for index, row in table[keep].iterrows():
        line = int(str(index)) + 2
        case_id, task, label = (row[c].strip() for c in ("case_id", "task", "class"))
        _check_key(path, line, case_id, task)
        probabilities = out.setdefault((case_id, task), {})
        if label in probabilities:
            raise InputError(f"{path}, line {line}: second row for case {case_id}, task "
                             f"{task}, class {label}")
        probabilities[label] = _number(row["probability"].strip(),
                                       f"{path}, line {line}, column probability")
    return out


def read_prediction_table(path: Path, adapter: str | None = None,
                          ) -> dict[tuple[str, str], dict[str, float]]:
    """``{(case_id, task): {class: probability}}`` from an export CSV (wide or long, see the
    module docstring); bad input names the row."""
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
    if all(c in table.columns for c in LONG_COLUMNS):
        return _read_long(path, table, adapter)
    if adapter is not None:
        raise InputError(f"{path}: parameter 'adapter' needs the long form (columns "
                         "case_id, task, adapter, class, probability)")
    class_columns = [c for c in table.columns if c not in ID_COLUMNS]
    out: dict[tuple[str, str], dict[str, float]] = {}
    for index, row in table.iterrows():
        line = int(str(index)) + 2  # the header is line 1
        case_id, task = row["case_id"].strip(), row["task"].strip()
        _check_key(path, line, case_id, task)
        if (case_id, task) in out:
            raise InputError(f"{path}, line {line}: second row for case {case_id}, task {task}")
        probabilities: dict[str, float] = {}
        for column in class_columns:
            cell = row[column].strip()
            if not cell:
                continue
            probabilities[column] = _number(cell, f"{path}, line {line}, column {column}")
        out[(case_id, task)] = probabilities
    return out


class PrecomputedAdapter:
    """Reads exported class probabilities and score maps."""

    def __init__(self, name: str, *, predictions_csv: str | Path | None = None,
                 maps_dir: str | Path | None = None, tasks: Sequence[str] | None = None,
                 map_pattern: str = "{case_id}.nii.gz", version: str = "exported",
                 base_dir: str | Path | None = None, adapter: str | None = None,
                 segmentation: str | None = None,
                 label_map: str | Mapping[int | str, str] | None = None,
                 card: Mapping[str, Any] | ModelCard | None = None) -> None:
        if predictions_csv is None and maps_dir is None and segmentation is None:
            raise InputError(f"adapter {name}: give predictions_csv, maps_dir or both (or "
                             "segmentation)")
        if segmentation is not None and "{case_id}" not in str(segmentation):
            raise InputError(f"adapter {name}: segmentation must be a path template with "
                             f"{{case_id}}, e.g. segs/{{case_id}}.nii.gz; got {segmentation!r}")
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
        self.segmentation = (str((base / str(segmentation)).resolve()) if segmentation
                             else None)
        if self.segmentation is not None:
            folder = Path(self.segmentation.split("{case_id}")[0]).parent
            if not folder.is_dir():
                raise InputError(f"adapter {name}: segmentation folder {folder} does not exist")
        self.source_adapter = adapter
        self.table = (read_prediction_table(self.predictions_csv, adapter)
                      if self.predictions_csv is not None else {})
        self.csv_sha256 = (hashlib.sha256(self.predictions_csv.read_bytes()).hexdigest()
                           if self.predictions_csv is not None else "")
        found = sorted({task for _, task in self.table})
        if tasks is None:
            mapped = [t for t in TASK_NAMES if kind_of(t).output is SCORE_MAP]
            labelled = [t for t in TASK_NAMES if kind_of(t).output is LABEL_MAP]
            tasks = [*found, *(mapped if self.maps_dir is not None else []),
                     *(labelled if self.segmentation is not None else [])]
        self.tasks = check_tasks(name, tasks)
        for task in self.tasks:
            if kind_of(task).output not in (CLASS_PROBABILITIES, SCORE_MAP, LABEL_MAP):
                raise InputError(f"adapter {name}: task {task}: precomputed cannot read its "
                                 f"output type {kind_of(task).output.name!r}")
            if kind_of(task).output is SCORE_MAP and self.maps_dir is None:
                raise InputError(f"adapter {name}: task {task} needs maps_dir")
            if kind_of(task).output is LABEL_MAP and self.segmentation is None:
                raise InputError(f"adapter {name}: task {task} needs segmentation (a path "
                                 "template such as segs/{case_id}.nii.gz)")
        self.label_map = output_label_map(name, self.tasks, label_map)
        self.required_modalities: tuple[str, ...] = ()
        self.optional_modalities: tuple[str, ...] = ()
        self.card = model_card(card, "predictions exported from software run outside the "
                                     "harness")

    #: the predictions were made outside the harness: nothing here can enforce blinding
    blinding = "by convention (precomputed outside the harness)"

    def params(self) -> Mapping[str, Any]:
        # paths relative to the config folder: a moved project keeps its keys, and no absolute
        # path reaches run.json or the report
        out = {"predictions_csv": self._relative(self.predictions_csv),
               "predictions_sha256": self.csv_sha256, "maps_dir": self._relative(self.maps_dir),
               "map_pattern": self.map_pattern, "tasks": list(self.tasks),
               "version": self.version,
               **({"adapter": self.source_adapter} if self.source_adapter else {})}
        if self.label_map is not None:  # absent otherwise: existing job keys are unchanged
            out.update(segmentation=self._relative(Path(self.segmentation or "")),
                       label_map=self.label_map.to_spec())
        return out

    def _relative(self, path: Path | None) -> str:
        return "" if path is None else os.path.relpath(path, self.base_dir)

    def predict(self, case: LoadedCase) -> Predictions:
        outputs: dict[str, object] = {}
        for task in self.tasks:
            if kind_of(task).output is SCORE_MAP:
                path = Path(str(self.maps_dir)) / self.map_pattern.format(case_id=case.case_id)
                outputs[task] = read_score_map(path, case)
                continue
            if kind_of(task).output is LABEL_MAP and self.label_map is not None:
                path = Path(str(self.segmentation).replace("{case_id}", case.case_id))
                outputs[task] = Segmentation(read_label_map(path, case), self.label_map)
                continue
            row = self.table.get((case.case_id, task))
            if row is None:
                raise AdapterOutputError(f"{self._relative(self.predictions_csv)}: no row for case "
                                         f"{case.case_id}, task {task}")
            outputs[task] = dict(row)
        return Predictions(case_id=case.case_id, outputs=outputs)
