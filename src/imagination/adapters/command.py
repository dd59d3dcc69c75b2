"""``command`` adapter: any program or container that reads a folder and writes a folder.

For each case the harness makes a fresh working folder with ``input/`` and ``output/``, writes
the case's images as ``input/<modality>.nii.gz`` (RAS+, the case grid), the requested masks as
``input/mask_<name>.nii.gz`` and ``input/request.json`` (case id, tasks, classes per task,
label map), then runs the argv template with ``{input}``, ``{output}`` and ``{case_id}``
replaced — a list, never a shell string. The program writes ``output/predictions.json``
(``{task: {class: probability}}``) and, when ``recurrence`` is a task, ``output/recurrence.nii.gz``
on the input grid. stdout and stderr are kept per case (``Predictions.logs`` or the failure's
``logs``). A non-zero exit, a timeout (the whole process group is killed) or missing or
malformed output fails that case with its reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from imagination.adapters.maps import read_score_map
from imagination.adapters.protocol import ModelCard, Predictions
from imagination.adapters.validation import (
    AdapterCrashError,
    AdapterOutputError,
    AdapterTimeoutError,
    check_inputs,
    log_tail,
)
from imagination.cohort.case import LoadedCase
from imagination.cohort.nifti import write_nifti
from imagination.cohort.vocabulary import DEFAULT_VOCABULARIES, TASKS
from imagination.errors import InputError
from imagination.safe_yaml import YamlError, load_json_text, read_text_file

PLACEHOLDERS: Final[tuple[str, ...]] = ("{input}", "{output}", "{case_id}")
#: Largest predictions.json read (bytes).
PREDICTIONS_LIMIT: Final[int] = 16 * 2**20
#: Most characters of each log kept with the predictions.
LOG_LIMIT: Final[int] = 200_000


def model_card(spec: Mapping[str, Any] | ModelCard | None, default_use: str) -> ModelCard:
    """A :class:`ModelCard` from a config mapping (unknown keys are an input error)."""
    if isinstance(spec, ModelCard):
        return spec
    fields = dict(spec or {})
    fields.setdefault("intended_use", default_use)
    fields.setdefault("training_data", "not declared")
    fields.setdefault("licence", "not declared")
    fields.setdefault("regulatory_status", "not declared")
    try:
        return ModelCard(**fields)
    except TypeError as exc:
        raise InputError(f"model card: {exc}; allowed keys: intended_use, training_data, "
                         "licence, regulatory_status, reference, deterministic") from exc


def check_tasks(name: str, tasks: Sequence[str]) -> tuple[str, ...]:
    """Tasks as a tuple; unknown or no tasks are an input error."""
    if isinstance(tasks, str):
        tasks = [tasks]
    unknown = [t for t in tasks if t not in TASKS]
    if unknown or not tasks:
        raise InputError(f"adapter {name}: tasks {list(tasks)} must be a non-empty list of "
                         f"{', '.join(TASKS)}")
    return tuple(tasks)


def _read_log(path: Path) -> str:
    if not path.is_file():
        return ""
    text = path.read_text(errors="replace")
    return text if len(text) <= LOG_LIMIT else text[-LOG_LIMIT:]


def parse_predictions_json(path: Path, tasks: Sequence[str]) -> dict[str, dict[str, float]]:
    """``{task: {class: probability}}`` for the classification ``tasks`` from a program's file."""
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


class CommandAdapter:
    """Runs an external program (or container) once per case."""

    def __init__(self, name: str, argv: Sequence[str], tasks: Sequence[str], *,
                 version: str = "unversioned",
                 required_modalities: Sequence[str] = (),
                 optional_modalities: Sequence[str] = (),
                 masks: Sequence[str] = (),
                 timeout_s: float = 3600.0,
                 env: Mapping[str, str] | None = None,
                 vocabularies: Mapping[str, Sequence[str]] | None = None,
                 card: Mapping[str, Any] | ModelCard | None = None) -> None:
        if isinstance(argv, str) or not argv or not all(isinstance(a, str) for a in argv):
            raise InputError(f"adapter {name}: argv must be a list of strings (no shell "
                             f"string), got {argv!r}")
        if not any("{output}" in a for a in argv):
            raise InputError(f"adapter {name}: argv must pass the output folder as {{output}}")
        if shutil.which(argv[0]) is None:
            raise InputError(f"adapter {name}: program {argv[0]!r} is not found (not on PATH "
                             "and not an executable file)")
        if not timeout_s > 0:
            raise InputError(f"adapter {name}: timeout_s must be positive, got {timeout_s}")
        self.name = name
        self.version = str(version)
        self.argv = tuple(argv)
        self.tasks = check_tasks(name, tasks)
        self.required_modalities = tuple(required_modalities)
        self.optional_modalities = tuple(optional_modalities)
        self.masks = tuple(masks)
        self.timeout_s = float(timeout_s)
        self.env = dict(env or {})
        self.vocabularies = {t: tuple(v) for t, v in {**DEFAULT_VOCABULARIES,
                                                       **(vocabularies or {})}.items()}
        self.card = model_card(card, f"external program {self.argv[0]}")

    def params(self) -> Mapping[str, Any]:
        return {"argv": list(self.argv), "version": self.version, "tasks": list(self.tasks),
                "required_modalities": list(self.required_modalities),
                "optional_modalities": list(self.optional_modalities),
                "masks": list(self.masks), "env": dict(sorted(self.env.items()))}

    def command_line(self, input_dir: Path, output_dir: Path, case_id: str) -> list[str]:
        """The argv with placeholders replaced (plain text replacement, no shell)."""
        values = {"{input}": str(input_dir), "{output}": str(output_dir), "{case_id}": case_id}
        out = []
        for arg in self.argv:
            for placeholder in PLACEHOLDERS:
                arg = arg.replace(placeholder, values[placeholder])
            out.append(arg)
        return out

    def write_inputs(self, case: LoadedCase, input_dir: Path) -> None:
        """Images, requested masks and ``request.json`` for one case."""
        affine = case.grid.affine
        modalities = [m for m in (*self.required_modalities, *self.optional_modalities)
                      if m in case.images]
        if not self.required_modalities and not self.optional_modalities:
            modalities = list(case.images)
        for modality in modalities:
            write_nifti(input_dir / f"{modality}.nii.gz", case.images[modality], affine,
                        dtype="float32")
        for mask in self.masks:
            if mask in case.masks:
                write_nifti(input_dir / f"mask_{mask}.nii.gz", case.masks[mask], affine)
        label_map = case.case.label_map
        request = {
            "case_id": case.case_id,
            "tasks": list(self.tasks),
            "classes": {t: list(self.vocabularies[t]) for t in self.tasks
                        if t in self.vocabularies},
            "modalities": modalities,
            "masks": [m for m in self.masks if m in case.masks],
            "label_map": ({str(k): v for k, v in label_map.codes.items()}
                          if label_map is not None else None),
            "spacing_mm": list(case.grid.spacing),
        }
        (input_dir / "request.json").write_text(json.dumps(request, indent=2))

    def _run(self, argv: list[str], work: Path) -> tuple[int | None, dict[str, str]]:
        """Exit status (None on timeout) and logs; the process group dies on timeout."""
        stdout_path, stderr_path = work / "stdout.txt", work / "stderr.txt"
        env = {**os.environ, **self.env} if self.env else None
        with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
            try:
                process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                           stderr=err, cwd=work, env=env,
                                           start_new_session=True)
            except OSError as exc:
                raise AdapterCrashError(f"cannot start {argv[0]}: {exc}") from exc
            try:
                status: int | None = process.wait(timeout=self.timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                status = None
        logs = {"stdout": _read_log(stdout_path), "stderr": _read_log(stderr_path)}
        return status, logs

    def predict(self, case: LoadedCase) -> Predictions:
        check_inputs(self, case)
        with tempfile.TemporaryDirectory(prefix=f"imagination-{self.name}-") as tmp:
            work = Path(tmp)
            input_dir, output_dir = work / "input", work / "output"
            input_dir.mkdir()
            output_dir.mkdir()
            self.write_inputs(case, input_dir)
            status, logs = self._run(self.command_line(input_dir, output_dir, case.case_id),
                                     work)
            if status is None:
                raise AdapterTimeoutError(f"no result within {self.timeout_s:g} s; the program "
                                          "was killed", logs=logs)
            if status != 0:
                raise AdapterCrashError(f"exit status {status}; stderr: "
                                        f"{log_tail(logs['stderr']) or '(empty)'}", logs=logs)
            try:
                classification_tasks = [t for t in self.tasks if t != "recurrence"]
                classification = (parse_predictions_json(output_dir / "predictions.json",
                                                         classification_tasks)
                                  if classification_tasks else {})
                recurrence = (read_score_map(output_dir / "recurrence.nii.gz", case)
                              if "recurrence" in self.tasks else None)
            except AdapterOutputError as exc:
                raise AdapterOutputError(exc.reason, logs=logs) from exc
        return Predictions(case_id=case.case_id, classification=classification,
                           recurrence=recurrence, logs=logs)
