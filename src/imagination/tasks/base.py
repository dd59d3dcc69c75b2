"""What a task family owns: :class:`TaskKind`, and what its scoring receives and returns.

A task kind declares its output type, where its truth lives, which masks and labels adapters
may not see, its default, headline, per-site and robustness metrics, what the store keeps and
its report section, and it scores the run's stored outputs into rows of the tidy tables
(``docs/run_directory.md``). The engine calls :meth:`TaskKind.score` once per kind with the
configured tasks of that kind and concatenates the rows; it knows no task by name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from imagination.tasks.outputs import OutputType

Row = dict[str, Any]


@dataclass(frozen=True)
class Blinding:
    """Truth an adapter must not see.

    ``labels``: manifest label columns removed from every adapter's case. ``masks``: mask keys
    that are this task's truth; ``scope`` says from whom they are hidden: ``everyone`` (e.g. the
    follow-up recurrence mask: nobody may see the future) or ``performers`` (only adapters doing
    this task, e.g. the tumour mask for a segmentation model, while other models read it)."""

    labels: tuple[str, ...] = ()
    masks: tuple[str, ...] = ()
    scope: Literal["everyone", "performers"] = "everyone"
    #: masks of the job's other exams (:meth:`TaskKind.job_cases`, e.g. the baseline) that
    #: performers may read although ``masks`` hides them on the job's own case
    companion_masks: tuple[str, ...] = ()


@dataclass
class ScoringContext:
    """Everything a kind's scoring may read (built by ``engine.scoring``).

    ``plan`` holds the scored jobs (no determinism repeats), ``all_jobs`` every job;
    ``records`` maps job keys to stored records read without their voxel maps (``None`` when
    missing); voxel maps are read from ``store`` one at a time."""

    config: Any  # imagination.config.BenchConfig
    cohort: Any  # imagination.cohort.cohort.Cohort
    plan: Sequence[Any]  # JobSpec
    all_jobs: Sequence[Any]
    store: Any  # imagination.engine.store.PredictionStore
    records: Mapping[str, Any]
    adapters: Mapping[str, Any]
    vocabularies: Mapping[str, tuple[str, ...]]
    run_dir: Path
    progress: Callable[[str, int, int], None] | None = None


@dataclass
class TaskTables:
    """Rows a kind contributes to the run's tables (columns: ``docs/run_directory.md``)."""

    per_case: list[Row] = field(default_factory=list)
    predictions: list[Row] = field(default_factory=list)
    leaderboard: list[Row] = field(default_factory=list)
    comparisons: list[Row] = field(default_factory=list)
    sites: list[Row] = field(default_factory=list)
    robustness: list[Row] = field(default_factory=list)
    ablation: list[Row] = field(default_factory=list)
    reproducibility: list[Row] = field(default_factory=list)

    def extend(self, other: TaskTables) -> None:
        for name in self.__dataclass_fields__:
            getattr(self, name).extend(getattr(other, name))


def post_treatment(case: Any) -> bool:
    """Whether an exam is from after treatment began: a follow-up (it has a
    ``baseline_case_id``) or an exam dated on or after the end of radiotherapy."""
    days = getattr(case, "days_since_radiotherapy_end", None)
    return bool(getattr(case, "baseline_case_id", None)) or (days is not None and days >= 0)


class TaskKind(ABC):
    """One task family. Subclasses set the class attributes and implement :meth:`score`."""

    #: family name (``classification``, ``recurrence``, ...)
    family: str
    #: task names of this family (as written in configs, adapters and tables)
    tasks: tuple[str, ...]
    #: what an adapter returns for each task
    output: OutputType
    #: where the truth comes from (shown by ``imagination tasks list``)
    truth: str
    blinding: Blinding
    #: what the store keeps of an output
    stored: str
    #: metrics of the leaderboard headline, in order (the first present is the primary one)
    headline_metrics: tuple[str, ...]
    #: metrics with per-site rows (forest plots, site shift)
    site_metrics: tuple[str, ...]
    #: metrics tracked under perturbation unless ``robustness.metrics`` says otherwise
    robustness_metrics: tuple[str, ...]
    #: clean-vs-perturbed agreement metrics of ``robustness.csv`` (1 = unchanged output)
    stability_metrics: tuple[str, ...] = ()
    #: ``module:function`` building the task's report figures from the run's tables
    report_section: str
    #: whether its adapters run on post-treatment exams (:func:`post_treatment`); kinds whose
    #: truth belongs to the exam at diagnosis (labels, the pre-treatment exam's future
    #: recurrence) say no, so a longitudinal series costs them nothing
    follow_ups: bool = True

    @abstractmethod
    def default_metrics(self, task: str, n_classes: int) -> tuple[str, ...]:
        """Metric names scored when the config's ``metrics`` does not list the task."""

    def job_cases(self, case: Any, cases: Mapping[str, Any]) -> dict[str, Any] | None:
        """The other exams a job on ``case`` reads, by role (``{}``: the case alone), or
        ``None`` when ``case`` is no job of this kind (``cases``: the cohort by case id).

        A pair task returns e.g. ``{"baseline": <earlier Case>}``; the engine blinds each
        exam as :attr:`blinding` says and hands them to the adapter as
        ``LoadedCase.companions``. Default: the case alone, follow-ups only if
        :attr:`follow_ups`."""
        if not self.follow_ups and post_treatment(case):
            return None
        return {}

    def classes(self, task: str, vocabularies: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
        """The task's class vocabulary (empty for tasks without classes)."""
        return ()

    @abstractmethod
    def score(self, context: ScoringContext, tasks: Sequence[str]) -> TaskTables:
        """Rows of every table for the configured ``tasks`` of this kind."""

    def metric_names(self, task: str, config: Any, n_classes: int = 0) -> tuple[str, ...]:
        """The configured metrics of ``task``, else its defaults."""
        if task in config.metrics:
            return tuple(config.metrics[task])
        return self.default_metrics(task, n_classes)

    def describe(self, task: str) -> dict[str, Any]:
        """What ``imagination tasks list`` shows about one task of this kind."""
        return {
            "task": task, "family": self.family, "output": self.output.name,
            "output_description": self.output.description, "truth": self.truth,
            "hidden_labels": list(self.blinding.labels),
            "hidden_masks": list(self.blinding.masks), "hidden_from": self.blinding.scope,
            "default_metrics": list(self.default_metrics(task, 2)),
            "headline_metrics": list(self.headline_metrics), "stored": self.stored,
            "report_section": self.report_section,
        }
