"""The classification family: tumour type, IDH, 1p/19q, MGMT and grade from the manifest's
label columns; adapters return class probabilities; scored at cohort level (AUROC, ...)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from imagination.cohort.vocabulary import (
    CLASSIFICATION_TASKS,
    DEFAULT_VOCABULARIES,
    LABEL_COLUMNS,
)
from imagination.tasks.base import Blinding, ScoringContext, TaskKind, TaskTables
from imagination.tasks.outputs import CLASS_PROBABILITIES

BINARY_METRICS = ("auroc", "auprc", "balanced_accuracy", "sensitivity", "specificity", "ppv",
                  "npv", "f1", "mcc", "brier", "log_loss", "ece", "calibration_slope",
                  "calibration_intercept")
MULTICLASS_METRICS = ("auroc", "balanced_accuracy", "accuracy", "f1", "mcc", "cohen_kappa",
                      "brier", "log_loss", "ece")


class ClassificationKind(TaskKind):
    family = "classification"
    tasks = CLASSIFICATION_TASKS
    output = CLASS_PROBABILITIES
    truth = "the manifest's label column of the task (empty = unknown, not scored)"
    blinding = Blinding(labels=LABEL_COLUMNS)
    stored = "class probabilities (JSON in the record's metadata); learning baselines: features"
    headline_metrics = ("auroc", "balanced_accuracy", "auprc", "sensitivity", "specificity",
                        "brier", "ece", "calibration_slope")
    site_metrics = ("auroc", "balanced_accuracy")
    robustness_metrics = ("auroc", "balanced_accuracy")
    stability_metrics = ("flip_rate",)
    follow_ups = False
    report_section = "imagination.report.task_section:classification_figures"

    def default_metrics(self, task: str, n_classes: int) -> tuple[str, ...]:
        return BINARY_METRICS if n_classes == 2 else MULTICLASS_METRICS

    def classes(self, task: str, vocabularies: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
        return tuple(vocabularies.get(task, DEFAULT_VOCABULARIES.get(task, ())))

    def describe(self, task: str) -> dict[str, object]:
        out = super().describe(task)
        out["default_metrics"] = list(self.default_metrics(
            task, len(DEFAULT_VOCABULARIES.get(task, ()))))
        out["classes"] = list(DEFAULT_VOCABULARIES.get(task, ()))
        return out

    def score(self, context: ScoringContext, tasks: Sequence[str]) -> TaskTables:
        from imagination.tasks.classification_scoring import score_classification

        return score_classification(self, context, tasks)
