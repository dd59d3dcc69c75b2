"""The response family: RANO 2.0 response of a (baseline, follow-up) pair of one subject.

A job is a follow-up exam with a ``baseline_case_id``; the adapter gets the follow-up and, as
``LoadedCase.companions["baseline"]``, the baseline exam (its tumour mask included), never the
follow-up's tumour mask nor any label. ``response`` is scored over CR/PR/SD/PD (BraTPRO's
``[p_CR, p_PR, p_SD, p_PD]``), ``progression_type`` (optional) as true progression vs
pseudoprogression on the pairs whose reference says which.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from imagination.cohort.vocabulary import LONGITUDINAL_VOCABULARIES
from imagination.tasks.base import Blinding, ScoringContext, TaskKind, TaskTables
from imagination.tasks.outputs import CLASS_PROBABILITIES

#: Class vocabularies of the manifest's longitudinal labels, in ordinal order (CR < PR < SD <
#: PD: weighted kappa uses it); each task is scored against the label of its name.
VOCABULARIES: Final = LONGITUDINAL_VOCABULARIES
#: The job's other exam: the subject's earlier exam named by ``baseline_case_id``.
BASELINE: Final = "baseline"

RESPONSE_METRICS = ("balanced_accuracy", "weighted_kappa", "auroc", "f1", "accuracy",
                    "cohen_kappa", "brier", "log_loss")
PROGRESSION_METRICS = ("auroc", "sensitivity_at_90_specificity", "auprc", "balanced_accuracy",
                       "sensitivity", "specificity", "brier")
#: One-vs-rest metrics of every response class (``response_classes.csv``).
PER_CLASS_METRICS = ("sensitivity", "specificity", "f1", "auroc", "auprc")


class ResponseKind(TaskKind):
    family = "response"
    tasks = ("response", "progression_type")
    output = CLASS_PROBABILITIES
    truth = ("the follow-up's labels response (CR/PR/SD/PD) and progression_type "
             "(true_progression/pseudoprogression, empty = not scored); a job is a follow-up "
             "with baseline_case_id")
    blinding = Blinding(labels=tuple(VOCABULARIES), masks=("tumor",), scope="performers",
                        companion_masks=("tumor",))
    stored = "class probabilities (JSON in the record's metadata)"
    headline_metrics = ("balanced_accuracy", "weighted_kappa", "auroc",
                        "sensitivity_at_90_specificity", "f1")
    site_metrics = ("balanced_accuracy", "auroc")
    robustness_metrics = ("balanced_accuracy", "auroc")
    stability_metrics = ("flip_rate",)
    report_section = "imagination.report.response_section:response_figures"

    def default_metrics(self, task: str, n_classes: int) -> tuple[str, ...]:
        return PROGRESSION_METRICS if task == "progression_type" else RESPONSE_METRICS

    def classes(self, task: str, vocabularies: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
        return VOCABULARIES[task]

    def job_cases(self, case: Any, cases: Mapping[str, Any]) -> dict[str, Any] | None:
        baseline_id = getattr(case, "baseline_case_id", None)
        baseline = cases.get(baseline_id) if baseline_id else None
        if baseline is None or baseline.subject_id != case.subject_id:
            return None  # a baseline exam, or a pair the manifest checks refuse
        return {BASELINE: baseline}

    def describe(self, task: str) -> dict[str, object]:
        out = super().describe(task)
        out["classes"] = list(VOCABULARIES[task])
        out["job"] = "a (baseline, follow-up) pair: the follow-up row and its baseline_case_id"
        return out

    def score(self, context: ScoringContext, tasks: Sequence[str]) -> TaskTables:
        from imagination.tasks.response_scoring import score_response

        return score_response(self, context, tasks)
