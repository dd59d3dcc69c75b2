"""Every task the harness knows, by name, with the :class:`TaskKind` of its family.

To add a task family, write its kind (``tasks/<family>.py``), its per-case scoring and its
report section, and add one line to :data:`KINDS` (see ``docs/architecture.md``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from imagination.errors import InputError
from imagination.tasks.base import TaskKind
from imagination.tasks.classification import ClassificationKind
from imagination.tasks.recurrence import RecurrenceKind
from imagination.tasks.response import ResponseKind
from imagination.tasks.segmentation import SegmentationKind

#: One instance per family, in display order.
KINDS: tuple[TaskKind, ...] = (
    ClassificationKind(),
    SegmentationKind(),
    RecurrenceKind(),
    ResponseKind(),
)

_BY_TASK: dict[str, TaskKind] = {task: kind for kind in KINDS for task in kind.tasks}
#: Every task name, in display order.
TASK_NAMES: tuple[str, ...] = tuple(_BY_TASK)


def kind_of(task: str) -> TaskKind:
    """The kind of ``task``; an input error listing the known tasks otherwise."""
    try:
        return _BY_TASK[task]
    except KeyError:
        raise InputError(f"unknown task {task!r}; known: {', '.join(TASK_NAMES)}") from None


def is_task(task: object) -> bool:
    return isinstance(task, str) and task in _BY_TASK


def kinds_for(tasks: Iterable[str]) -> list[tuple[TaskKind, list[str]]]:
    """The kinds of ``tasks`` in registry order, each with its tasks (in the given order)."""
    tasks = list(tasks)
    return [(kind, [t for t in tasks if t in kind.tasks]) for kind in KINDS
            if any(t in kind.tasks for t in tasks)]


def hidden_masks(adapter_tasks: Iterable[str]) -> frozenset[str]:
    """Mask keys an adapter doing ``adapter_tasks`` may not see."""
    doing = set(adapter_tasks)
    return frozenset(mask for kind in KINDS for mask in kind.blinding.masks
                     if kind.blinding.scope == "everyone" or doing & set(kind.tasks))


def companion_masks(adapter_tasks: Iterable[str]) -> frozenset[str]:
    """Masks an adapter doing ``adapter_tasks`` may read on a job's other exams (the
    baseline of a pair) although they are hidden on the job's own case."""
    doing = set(adapter_tasks)
    return frozenset(mask for kind in KINDS if doing & set(kind.tasks)
                     for mask in kind.blinding.companion_masks)


def job_cases(adapter_tasks: Iterable[str], case: Any,
              cases: Mapping[str, Any]) -> dict[str, Any] | None:
    """The other exams (by role) a job of an adapter doing ``adapter_tasks`` on ``case``
    reads, merged over the tasks' kinds; ``None`` when some kind has no job on ``case``."""
    out: dict[str, Any] = {}
    for kind, _ in kinds_for(adapter_tasks):
        extra = kind.job_cases(case, cases)
        if extra is None:
            return None
        out.update(extra)
    return out


def hidden_labels() -> frozenset[str]:
    """Label columns no adapter may see."""
    return frozenset(label for kind in KINDS for label in kind.blinding.labels)


def stability_metrics() -> frozenset[str]:
    """Clean-vs-perturbed agreement metrics of every kind (not corruption errors)."""
    return frozenset(m for kind in KINDS for m in kind.stability_metrics)


def describe_all(adapters: Iterable[object] = ()) -> list[dict[str, object]]:
    """Every task's description (``TaskKind.describe``) with the adapters that do it.

    ``adapters`` are ``imagination.adapters.registry.AdapterInfo`` objects: built-ins and
    plug-ins list their tasks; configured kinds (``command``, ``precomputed``) do any task the
    config gives them."""
    infos = list(adapters)
    out = []
    for task in TASK_NAMES:
        row = kind_of(task).describe(task)
        row["adapters"] = [info.name for info in infos  # type: ignore[attr-defined]
                           if task in info.tasks]  # type: ignore[attr-defined]
        row["configured_adapters"] = [info.name for info in infos  # type: ignore[attr-defined]
                                      if info.kind == "configured"]  # type: ignore[attr-defined]
        out.append(row)
    return out
