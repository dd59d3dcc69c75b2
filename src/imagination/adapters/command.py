"""``command`` adapter: any program or container that reads a folder and writes a folder.

For each case the harness makes a fresh working folder with ``input/`` and ``output/``, writes
the case's images as ``input/<modality>.nii.gz`` (RAS+, the case grid), the requested masks as
``input/mask_<name>.nii.gz`` and ``input/request.json`` (case id, tasks, classes per task,
label map), then runs the argv template with ``{input}``, ``{output}`` and ``{case_id}``
replaced — a list, never a shell string. ``{python}`` is the interpreter running imagination.
Relative paths in ``argv`` resolve against ``base_dir`` (from a bench config: the config's
folder): the program when it contains a ``/``, any other item when it names an existing file or
folder there (options starting with ``-`` and items with placeholders are left as written).
The program writes each task's output as its output
type says (``imagination.tasks.outputs``): class probabilities in ``output/predictions.json``
(``{task: {class: probability}}``), voxel maps as ``output/<task>.nii.gz`` on the input grid
(e.g. ``output/recurrence.nii.gz``; ``output/segmentation.nii.gz``, an integer label map in the
codes of the adapter's ``label_map`` parameter, also passed as ``output_label_map`` in
``request.json``). stdout and stderr are kept per case (``Predictions.logs`` or the failure's
``logs``), capped while read. The program runs under
:mod:`imagination.adapters.process`: on a timeout or an interrupt of the bench its whole process
tree is killed and the case folder deleted. With ``sandbox: true`` it runs in a bubblewrap
sandbox (:mod:`imagination.adapters.sandbox`). A non-zero exit, a timeout or missing or
malformed output fails that case with its reason.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from imagination.adapters import sandbox as bwrap
from imagination.adapters.process import (
    case_folder,
    run_supervised,
    sweep_stale_folders,
)
from imagination.adapters.protocol import ModelCard, Predictions, Segmentation
from imagination.adapters.validation import (
    AdapterCrashError,
    AdapterOutputError,
    AdapterTimeoutError,
    check_inputs,
    log_tail,
)
from imagination.cohort.case import LoadedCase
from imagination.cohort.labelmap import PRESETS, LabelMap
from imagination.cohort.nifti import write_nifti
from imagination.cohort.vocabulary import DEFAULT_VOCABULARIES
from imagination.errors import InputError, RunIncomplete
from imagination.runfolder import inside

PLACEHOLDERS: Final[tuple[str, ...]] = ("{input}", "{output}", "{case_id}")
#: Replaced by the interpreter running imagination (``sys.executable``).
PYTHON: Final[str] = "{python}"


def resolve_argv(argv: Sequence[str], base_dir: Path) -> tuple[str, ...]:
    """``argv`` with ``{python}`` replaced and relative paths made absolute against
    ``base_dir`` (see the module docstring for the rule)."""
    out = []
    for index, arg in enumerate(argv):
        arg = arg.replace(PYTHON, sys.executable)
        plain = "{" not in arg and not arg.startswith("-") and arg and not Path(arg).is_absolute()
        if plain and ((index == 0 and "/" in arg) or (base_dir / arg).exists()):
            arg = str((base_dir / arg).resolve())
        out.append(arg)
    return tuple(out)


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
    from imagination.tasks.registry import TASK_NAMES

    if isinstance(tasks, str):
        tasks = [tasks]
    unknown = [t for t in tasks if t not in TASK_NAMES]
    if unknown or not tasks:
        raise InputError(f"adapter {name}: tasks {list(tasks)} must be a non-empty list of "
                         f"{', '.join(TASK_NAMES)}")
    return tuple(tasks)


def read_program_outputs(output_dir: Path, tasks: Sequence[str],
                         case: LoadedCase) -> dict[str, object]:
    """Each task's output from a program's output folder, read by its output type."""
    from imagination.tasks.registry import kind_of

    by_type: dict[str, list[str]] = {}
    types = {}
    for task in tasks:
        output = kind_of(task).output
        by_type.setdefault(output.name, []).append(task)
        types[output.name] = output
    outputs: dict[str, object] = {}
    for name, names in by_type.items():
        outputs.update(types[name].read_program_output(output_dir, names, case))
    return outputs


def output_label_map(name: str, tasks: Sequence[str],
                     spec: str | Mapping[int | str, str] | None) -> LabelMap | None:
    """The declared label map of an adapter's label-map outputs: required when one of its
    tasks returns a label map (``segmentation``), refused otherwise."""
    from imagination.tasks.outputs import LABEL_MAP
    from imagination.tasks.registry import kind_of

    needs = [t for t in tasks if kind_of(t).output is LABEL_MAP]
    if needs and spec is None:
        raise InputError(f"adapter {name}: task {needs[0]} needs label_map (a preset: "
                         f"{', '.join(PRESETS)}; or {{code: region}})")
    if spec is None:
        return None
    if not needs:
        raise InputError(f"adapter {name}: label_map is only for label-map tasks "
                         "(segmentation)")
    return LabelMap.from_spec(spec)


def with_label_map(outputs: Mapping[str, object], label_map: LabelMap | None
                   ) -> dict[str, object]:
    """Raw label arrays of label-map tasks paired with the declared map (``Segmentation``)."""
    from imagination.tasks.outputs import LABEL_MAP
    from imagination.tasks.registry import kind_of

    out = dict(outputs)
    for task, value in outputs.items():
        if kind_of(task).output is LABEL_MAP and label_map is not None:
            out[task] = Segmentation(value, label_map)  # type: ignore[arg-type]
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
                 label_map: str | Mapping[int | str, str] | None = None,
                 card: Mapping[str, Any] | ModelCard | None = None,
                 sandbox: bool = False,
                 sandbox_paths: Sequence[str] = (),
                 base_dir: str | Path | None = None) -> None:
        if isinstance(argv, str) or not argv or not all(isinstance(a, str) for a in argv):
            raise InputError(f"adapter {name}: argv must be a list of strings (no shell "
                             f"string), got {argv!r}")
        if not any("{output}" in a for a in argv):
            raise InputError(f"adapter {name}: argv must pass the output folder as {{output}}")
        base = Path(base_dir) if base_dir is not None else Path.cwd()
        resolved = resolve_argv(argv, base)
        if shutil.which(resolved[0]) is None:
            raise InputError(f"adapter {name}: program {argv[0]!r} is not found (not on PATH "
                             f"and not an executable file; relative paths resolve against "
                             f"{base})")
        if not timeout_s > 0:
            raise InputError(f"adapter {name}: timeout_s must be positive, got {timeout_s}")
        self.name = name
        self.version = str(version)
        self.argv = tuple(argv)  # as written: the job key does not depend on the folder
        self.resolved_argv = resolved
        self.tasks = check_tasks(name, tasks)
        self.required_modalities = tuple(required_modalities)
        self.optional_modalities = tuple(optional_modalities)
        self.masks = tuple(masks)
        self.timeout_s = float(timeout_s)
        self.env = dict(env or {})
        self.vocabularies = {t: tuple(v) for t, v in {**DEFAULT_VOCABULARIES,
                                                       **(vocabularies or {})}.items()}
        self.card = model_card(card, f"external program {self.argv[0]}")
        self.sandbox = bool(sandbox)
        self.sandbox_paths = tuple(str(p) for p in sandbox_paths)
        bad = [p for p in self.sandbox_paths if not Path(p).is_absolute() or not Path(p).exists()]
        if bad:
            raise InputError(f"adapter {name}: sandbox_paths {bad} must be existing absolute "
                             "paths")
        if self.sandbox_paths and not self.sandbox:
            raise InputError(f"adapter {name}: sandbox_paths needs sandbox: true")
        if self.sandbox and (reason := bwrap.unavailable_reason()) is not None:
            raise InputError(f"adapter {name}: sandbox: true, but {reason}")
        self.label_map = output_label_map(name, self.tasks, label_map)

    @property
    def blinding(self) -> str:
        """How the program is kept from the truth (stated in the report)."""
        return (bwrap.BLINDING_ENFORCED if self.sandbox
                else "by convention (command without a sandbox)")


    def params(self) -> Mapping[str, Any]:
        out = {"argv": list(self.argv), "version": self.version, "tasks": list(self.tasks),
               "required_modalities": list(self.required_modalities),
               "optional_modalities": list(self.optional_modalities),
               "masks": list(self.masks), "env": dict(sorted(self.env.items())),
               **({"sandbox": True, "sandbox_paths": list(self.sandbox_paths)}
                  if self.sandbox else {})}
        if self.label_map is not None:  # absent otherwise: existing job keys are unchanged
            out["label_map"] = self.label_map.to_spec()
        return out

    def command_line(self, input_dir: Path, output_dir: Path, case_id: str) -> list[str]:
        """The argv with placeholders replaced (plain text replacement, no shell)."""
        values = {"{input}": str(input_dir), "{output}": str(output_dir), "{case_id}": case_id}
        out = []
        for arg in self.resolved_argv:
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
            write_nifti(inside(input_dir, f"{modality}.nii.gz"), case.images[modality],
                        affine, dtype="float32")
        for mask in self.masks:
            if mask in case.masks:
                write_nifti(inside(input_dir, f"mask_{mask}.nii.gz"), case.masks[mask], affine)
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
        if self.label_map is not None:
            codes = self.label_map.codes
            request["output_label_map"] = {str(k): v for k, v in sorted(codes.items())}
        inside(input_dir, "request.json").write_text(json.dumps(request, indent=2))

    def _run(self, argv: list[str], work: Path) -> tuple[int | None, dict[str, str]]:
        """Exit status (``None`` on timeout) and capped logs; nothing of the program is left
        running when this returns or raises."""
        if self.sandbox:
            folders = [*bwrap.program_folders(self.argv), *map(Path, self.sandbox_paths)]
            argv = bwrap.sandboxed_argv(argv, work=work, output=work / "output",
                                        read_only=folders, env=self.env)
            # bubblewrap's own process stays visible inside (PID 1): it gets no more of the
            # harness's environment than the program does
            env = bwrap.sandbox_env(self.env)
        else:
            env = {**os.environ, **self.env} if self.env else None
        result = run_supervised(argv, cwd=work, timeout_s=self.timeout_s, env=env, cleanup=work)
        if result.outcome == "stopped":
            raise RunIncomplete(f"adapter {self.name}: its program was stopped by a signal "
                                "before it finished; run the same command again to resume")
        return result.status, result.logs

    def predict(self, case: LoadedCase) -> Predictions:
        check_inputs(self, case)
        sweep_stale_folders()
        work = case_folder(self.name)
        try:
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
                outputs = read_program_outputs(output_dir, self.tasks, case)
            except AdapterOutputError as exc:
                raise AdapterOutputError(exc.reason, logs=logs) from exc
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return Predictions(case_id=case.case_id,
                           outputs=with_label_map(outputs, self.label_map), logs=logs)
