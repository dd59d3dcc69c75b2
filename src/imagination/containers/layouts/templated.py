"""The common machinery of layouts: input names and output patterns as templates.

A :class:`Naming` lists, for one case, the package's file name of each input (relative to the
input mount) and the patterns of its outputs (relative to the output mount). Templates may use
``{case_id}`` (the case id made file-safe) and ``{tp}`` (``000`` pre-op, ``100`` post-op).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from imagination.adapters.validation import AdapterOutputError
from imagination.containers.layouts.base import (
    LayoutOutputs,
    LayoutRequest,
    Staged,
    make_dir,
    single_file,
    write_named_input,
)
from imagination.containers.outputs import (
    read_classification,
    read_label_map,
    read_npz_probabilities,
    read_score_map,
)
from imagination.containers.runtime import Mount
from imagination.errors import InputError

#: Output kinds a layout can read.
OUTPUT_KINDS: Final[tuple[str, ...]] = ("label_map", "probabilities", "score_map",
                                        "classification")
#: The layout output kind that carries each task output type (``tasks.outputs``); a task is
#: served by the kind of its task kind's output type, so layouts name no task.
TYPE_OUTPUT: Final[dict[str, str]] = {"score_map": "score_map", "label_map": "label_map",
                                      "class_probabilities": "classification"}


def output_kind(task: str) -> str:
    """The layout output kind feeding ``task``; an input error for an output type no layout
    reads."""
    from imagination.tasks.registry import kind_of

    output = kind_of(task).output.name
    if output not in TYPE_OUTPUT:
        raise InputError(f"task {task}: container layouts cannot read its output type "
                         f"{output!r} (they read {', '.join(TYPE_OUTPUT)})")
    return TYPE_OUTPUT[output]


@dataclass(frozen=True)
class Naming:
    """A package's names for one case."""

    input_mount: str
    output_mount: str
    #: input key (``t1c``, ``mask_tumor``, ``tissue_gm``) -> path under the input mount
    inputs: Mapping[str, str]
    #: inputs written only when the case has them
    optional: frozenset[str] = frozenset()
    #: output kind -> glob patterns under the output mount, first match wins
    outputs: Mapping[str, Sequence[str]] = field(default_factory=dict)
    args: Sequence[str] = ()
    #: extra read-only mounts: host path -> container path
    extra_mounts: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    #: write ``request.json`` (imagination's own layout)
    request_json: bool = False


def fill(template: str, request: LayoutRequest) -> str:
    """A name template with ``{case_id}`` and ``{tp}`` replaced."""
    tp = "100" if request.timepoint == "post-op" else "000"
    return template.replace("{case_id}", request.safe_id).replace("{tp}", tp)


def _has(request: LayoutRequest, key: str) -> bool:
    case = request.case
    if key.startswith("mask_"):
        return key.removeprefix("mask_") in case.masks
    if key.startswith("tissue_"):
        return key.removeprefix("tissue_") in getattr(case, "tissues", {})
    return key in case.images


def _safe_relative(path: str, what: str) -> str:
    parts = Path(path).parts
    if Path(path).is_absolute() or ".." in parts or not parts:
        raise InputError(f"layout: {what} {path!r} must be a relative path inside its mount")
    return path


def stage_named(naming: Naming, request: LayoutRequest, work: Path) -> Staged:
    """Write the case's inputs under ``naming`` into ``work/input``; output goes to
    ``work/output`` (writable by the container's user)."""
    input_dir = make_dir(work / "input")
    output_dir = make_dir(work / "output", writable=True)
    written: list[str] = []
    for key, template in naming.inputs.items():
        if key in naming.optional and not _has(request, key):
            continue
        relative = _safe_relative(fill(template, request), f"input name for {key}")
        target = input_dir / relative
        for parent in reversed(target.relative_to(input_dir).parents):
            make_dir(input_dir / parent)
        write_named_input(request, key, target)
        written.append(key)
    if naming.request_json:
        case = request.case
        document = {
            "case_id": case.case_id, "tasks": list(request.tasks),
            "inputs": written, "timepoint": request.timepoint,
            "label_map": ({str(k): v for k, v in request.label_map.codes.items()}
                          if request.label_map is not None else None),
            "spacing_mm": list(case.grid.spacing),
        }
        (input_dir / "request.json").write_text(json.dumps(document, indent=2))
        (input_dir / "request.json").chmod(0o644)
    mounts = [Mount(input_dir, naming.input_mount), Mount(output_dir, naming.output_mount, True)]
    mounts += [Mount(Path(host), target) for host, target in naming.extra_mounts.items()]
    args = [a.replace("{input}", naming.input_mount).replace("{output}", naming.output_mount)
            .replace("{case_id}", request.safe_id) for a in naming.args]
    return Staged(mounts=mounts, output=output_dir, args=args, env=dict(naming.env))


def read_named(naming: Naming, request: LayoutRequest, staged: Staged) -> LayoutOutputs:
    """Read the outputs the request's tasks need (probabilities too when declared and present)."""
    out = LayoutOutputs()
    needed = {output_kind(t) for t in request.tasks}
    for kind in needed:
        if kind not in naming.outputs:
            raise AdapterOutputError(f"this layout has no {kind} output for tasks "
                                     f"{list(request.tasks)}")
    patterns = {k: [fill(p, request) for p in v] for k, v in naming.outputs.items()}
    case = request.case
    if "label_map" in needed:
        path = single_file(staged.output, patterns["label_map"], "label map")
        out.label_map = read_label_map(path, case, request.label_map)
    elif "label_map" in naming.outputs:  # kept for chained models even when not scored
        found = first_match(staged.output, patterns["label_map"])
        if len(found) == 1:
            out.label_map = read_label_map(found[0], case, request.label_map)
    if "score_map" in needed:
        path = single_file(staged.output, patterns["score_map"], "score map")
        out.score_map = read_score_map(path, case)
    if "classification" in needed:
        path = single_file(staged.output, patterns["classification"], "classification")
        tasks = [t for t in request.tasks if output_kind(t) == "classification"]
        out.classification = read_classification(path, tasks, case.case_id)
    if "probabilities" in naming.outputs:
        found = first_match(staged.output, patterns["probabilities"])
        if found:
            out.probabilities = read_npz_probabilities(found[0], case)
        elif request.options.get("save_probabilities"):
            raise AdapterOutputError(f"probabilities: the package wrote no "
                                     f"{' or '.join(patterns['probabilities'])}")
    return out


def first_match(folder: Path, patterns: Sequence[str]) -> list[Path]:
    """The files of the first pattern that matches anything (sorted)."""
    for pattern in patterns:
        found = sorted(p for p in folder.glob(pattern) if p.is_file())
        if found:
            return found
    return []


def option_list(options: Mapping[str, object], key: str,
                default: Sequence[str]) -> tuple[str, ...]:
    value = options.get(key, default)
    if isinstance(value, str) or not isinstance(value, Sequence) \
            or not all(isinstance(v, str) for v in value):
        raise InputError(f"layout option {key} must be a list of strings, got {value!r}")
    return tuple(value)


def option_map(options: Mapping[str, object], key: str) -> dict[str, str]:
    value = options.get(key) or {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                  for k, v in value.items()):
        raise InputError(f"layout option {key} must map names to strings, got {value!r}")
    return dict(value)


def patterns_option(options: Mapping[str, object],
                    defaults: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """Output patterns: the layout's defaults, overridden per kind by option ``outputs``."""
    given = options.get("outputs") or {}
    if not isinstance(given, Mapping):
        raise InputError(f"layout option outputs must map output kinds to patterns, got "
                         f"{given!r}")
    out = {k: tuple(v) for k, v in defaults.items()}
    for kind, value in given.items():
        if kind not in OUTPUT_KINDS:
            raise InputError(f"layout option outputs: unknown kind {kind!r}; kinds: "
                             f"{', '.join(OUTPUT_KINDS)}")
        out[str(kind)] = (value,) if isinstance(value, str) else tuple(value)
    return out
