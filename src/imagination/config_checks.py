"""Cross-reference checks of a bench config: every name it uses exists, before anything runs.

:func:`check_references` runs at load (names: tasks, metrics and their task family, adapter ids,
duplicates); :func:`check_against_run` once the cohort's vocabularies and the adapters are known
(binary-only metrics on a multiclass task, tasks no adapter does, gates on an adapter that does
not do their task). Each raises one :class:`InputError` listing every problem with its YAML path
(``gates[2].metric``), the wrong value and the closest valid names. Metric names are looked up in
the metric registry by the task's family, so new metrics and tasks need no change here.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from imagination.errors import InputError, did_you_mean

if TYPE_CHECKING:
    from imagination.config import BenchConfig


@dataclass(frozen=True)
class GateRef:
    """The names one gate uses, with where it was written (``gates[0]``, ``--require 'x'``)."""

    where: str
    task: str
    metric: str
    adapter: str | None = None


def task_family(task: str) -> str:
    """The metric family scoring a task (its task kind's family)."""
    from imagination.tasks.registry import kind_of

    return kind_of(task).family


def family_metrics(task: str) -> dict[str, Any]:
    """Registry metrics of the task's family, by name."""
    from imagination.metrics.registry import available

    return {m.name: m for m in available(task_family(task))}


def task_metrics(config: BenchConfig, task: str, n_classes: int | None = None) -> list[str]:
    """Metric names the leaderboard will hold for ``task`` (``n_classes`` unknown: any)."""
    from imagination.tasks.registry import kind_of

    kind = kind_of(task)
    if task in config.metrics:
        names = list(config.metrics[task])
    elif n_classes is None:
        names = list(dict.fromkeys(kind.default_metrics(task, 2)
                                   + kind.default_metrics(task, 3)))
    else:
        names = list(kind.default_metrics(task, n_classes))
    if n_classes is not None and n_classes != 2:
        known = family_metrics(task)
        names = [n for n in names if n not in known or known[n].applies_to != "binary"]
    return names


def _unknown(path: str, what: str, value: object, valid: Sequence[str]) -> str:
    hint = did_you_mean(value, valid)
    listing = "" if hint else f"; valid: {', '.join(valid) or '(none)'}"
    return f"{path}: {value!r} is not {what}{hint}{listing}"


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, text: str) -> None:
        if text not in self.items:
            self.items.append(text)

    def raise_if_any(self, source: str) -> None:
        if self.items:
            lines = "\n".join(f"  {p}" for p in self.items)
            raise InputError(f"config {source} is invalid:\n{lines}")


def _duplicates(problems: _Problems, path: str, values: Sequence[object], what: str) -> None:
    seen: dict[object, int] = {}
    for index, value in enumerate(values):
        if value in seen:
            problems.add(f"{path}[{index}]: {what} {value!r} repeats {path}[{seen[value]}]")
        else:
            seen[value] = index


def _metric(problems: _Problems, path: str, task: str, name: str) -> bool:
    """Check a metric name against the task's family; True when it is one."""
    from imagination.metrics.registry import available

    family = family_metrics(task)
    if name in family:
        return True
    other = next((m for m in available() if m.name == name), None)
    if other is not None:
        problems.add(f"{path}: {name!r} is a {other.family} metric; task {task} is scored by "
                     f"{task_family(task)} metrics{did_you_mean(name, family)}")
    else:
        problems.add(_unknown(path, f"a {task_family(task)} metric (task {task})", name,
                              list(family)))
    return False


def _task(problems: _Problems, path: str, task: str, configured: Sequence[str]) -> bool:
    if task in configured:
        return True
    from imagination.tasks.registry import is_task

    if is_task(task):
        problems.add(f"{path}: task {task!r} is not among the configured tasks "
                     f"({', '.join(configured)})")
    else:
        problems.add(_unknown(path, "a task", task, list(configured)))
    return False


def _adapter(problems: _Problems, path: str, label: str | None, labels: Sequence[str]) -> None:
    if label is not None and label not in labels:
        problems.add(_unknown(path, "a configured adapter id", label, list(labels)))


def _finite(problems: _Problems, path: str, value: object) -> None:
    """Free-form parameters (adapter and perturbation ``params``): every number finite."""
    if isinstance(value, float) and not math.isfinite(value):
        problems.add(f"{path}: {value!r} is not a finite number")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _finite(problems, f"{path}.{key}", item)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _finite(problems, f"{path}[{index}]", item)


def check_gates(config: BenchConfig, gates: Iterable[GateRef],
                problems: _Problems | None = None) -> None:
    """Tasks, metrics and adapters named by gates (config ``gates`` or ``--require``)."""
    own = problems is None
    problems = problems or _Problems()
    labels = [a.label for a in config.adapters]
    for gate in gates:
        if not _task(problems, f"{gate.where}.task", gate.task, config.tasks):
            continue
        if _metric(problems, f"{gate.where}.metric", gate.task, gate.metric):
            scored = task_metrics(config, gate.task)
            if gate.metric not in scored:
                problems.add(f"{gate.where}.metric: {gate.metric!r} is not scored for task "
                             f"{gate.task}; add it to metrics.{gate.task} (scored: "
                             f"{', '.join(scored)})")
        _adapter(problems, f"{gate.where}.adapter", gate.adapter, labels)
    if own:
        problems.raise_if_any("gates")


def config_gates(config: BenchConfig) -> list[GateRef]:
    return [GateRef(f"gates[{i}]", g.task, g.metric, g.adapter)
            for i, g in enumerate(config.gates)]


def check_references(config: BenchConfig, source: str = "<config>") -> None:
    """Every name the config uses refers to something that exists (see module docstring)."""
    problems = _Problems()
    labels = [a.label for a in config.adapters]
    _duplicates(problems, "adapters", labels, "adapter id")
    _duplicates(problems, "tasks", list(config.tasks), "task")
    for index, adapter in enumerate(config.adapters):
        _finite(problems, f"adapters[{index}].params", adapter.params)
    for index, pert in enumerate(config.perturbations):
        _finite(problems, f"perturbations[{index}].params", pert.params)
    for field, per_task in (("metrics", config.metrics),
                            ("robustness.metrics", config.robustness.metrics)):
        for task, names in per_task.items():
            if not _task(problems, f"{field}.{task}", task, config.tasks):
                continue
            if not names:
                problems.add(f"{field}.{task}: the list is empty")
            for index, name in enumerate(names):
                _metric(problems, f"{field}.{task}[{index}]", task, name)
            _duplicates(problems, f"{field}.{task}", list(names), "metric")
    check_gates(config, config_gates(config), problems)
    for index, pert in enumerate(config.perturbations):
        for j, label in enumerate(pert.adapters or ()):
            _adapter(problems, f"perturbations[{index}].adapters[{j}]", label, labels)
    _duplicates(problems, "perturbations",
                [(p.kind, repr(sorted(p.params.items()))) for p in config.perturbations],
                "perturbation (kind, params)")
    _adapter(problems, "robustness.reference_adapter", config.robustness.reference_adapter,
             labels)
    for index, ablation in enumerate(config.ablations):
        _adapter(problems, f"ablations[{index}].adapter", ablation.adapter, labels)
        if (_task(problems, f"ablations[{index}].task", ablation.task, config.tasks)
                and task_family(ablation.task) == "recurrence"):
            _metric(problems, f"ablations[{index}].metric", ablation.task, ablation.metric)
    _duplicates(problems, "ablations", [a.label for a in config.ablations], "ablation name")
    problems.raise_if_any(source)


def check_against_run(config: BenchConfig, adapter_tasks: Mapping[str, Collection[str]],
                      vocabularies: Mapping[str, Sequence[str]],
                      extra_gates: Iterable[GateRef] = (), source: str = "<config>") -> None:
    """Checks that need the cohort's class vocabularies and each adapter's tasks
    (``adapter_tasks``: adapter id -> the configured tasks it does)."""
    problems = _Problems()
    n_classes = {task: len(words) for task, words in vocabularies.items()}
    if not any(adapter_tasks.values()):
        problems.add(f"adapters: none of them does a configured task ({', '.join(config.tasks)})"
                     ": the plan would be empty")
    elif "tasks" in config.model_fields_set:
        done = {t for tasks in adapter_tasks.values() for t in tasks}
        for index, task in enumerate(config.tasks):
            if task not in done:
                problems.add(f"tasks[{index}]: no configured adapter does {task!r}; add one or "
                             "remove the task")
    for task, names in config.metrics.items():
        if task in n_classes and n_classes[task] != 2:
            binary_only = [n for n in names if n not in task_metrics(config, task,
                                                                     n_classes[task])]
            for name in binary_only:
                problems.add(f"metrics.{task}[{list(names).index(name)}]: {name!r} needs a "
                             f"binary task; {task} has {n_classes[task]} classes")
    for gate in [*config_gates(config), *extra_gates]:
        if gate.task not in config.tasks:
            continue
        scored = task_metrics(config, gate.task, n_classes.get(gate.task))
        if gate.task in n_classes and gate.metric in task_metrics(config, gate.task) \
                and gate.metric not in scored:
            problems.add(f"{gate.where}.metric: {gate.metric!r} needs a binary task; "
                         f"{gate.task} has {n_classes[gate.task]} classes")
        if gate.adapter is not None and gate.adapter in adapter_tasks \
                and gate.task not in adapter_tasks[gate.adapter]:
            doing = sorted(a for a, tasks in adapter_tasks.items() if gate.task in tasks)
            problems.add(f"{gate.where}.adapter: {gate.adapter!r} does not do task "
                         f"{gate.task} (adapters doing it: {', '.join(doing) or 'none'})")
    for index, ablation in enumerate(config.ablations):
        if ablation.adapter in adapter_tasks \
                and ablation.task not in adapter_tasks[ablation.adapter]:
            problems.add(f"ablations[{index}].adapter: {ablation.adapter!r} does not do task "
                         f"{ablation.task}")
    problems.raise_if_any(source)
