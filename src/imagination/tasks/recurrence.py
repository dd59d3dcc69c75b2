"""The recurrence family (PREDICT-GBM): adapters return a voxel score map on the
pre-treatment grid; truth is the follow-up recurrence mask; each case is scored by the
coverage of the recurrence by the model's iso-volumetric plan vs the standard margin plan."""

from __future__ import annotations

from collections.abc import Sequence

from imagination.runfolder import inside
from imagination.tasks.base import Blinding, ScoringContext, TaskKind, TaskTables
from imagination.tasks.outputs import SCORE_MAP

RECURRENCE_METRICS = ("coverage_all_model", "coverage_enhancing_model", "coverage_gain_all",
                      "coverage_gain_enhancing", "missed_ml_model", "voxel_auroc")


class RecurrenceKind(TaskKind):
    family = "recurrence"
    tasks = ("recurrence",)
    output = SCORE_MAP
    truth = ("mask_recurrence (follow-up; all = ET + NETC + SNFH codes, enhancing = ET) with "
             "the manifest's label map; standard plan = pre-operative TC + cavity + "
             "recurrence_margin_mm, in the brain")
    blinding = Blinding(masks=("recurrence",), scope="everyone")
    stored = "the float32 score map (bit-exact), a store member named by the task"
    headline_metrics = ("coverage_all_model", "coverage_gain_all", "coverage_enhancing_model",
                        "coverage_gain_enhancing", "missed_ml_model", "voxel_auroc")
    site_metrics = ("coverage_all_model", "coverage_gain_all")
    robustness_metrics = ("coverage_all_model", "voxel_auroc")
    stability_metrics = ("plan_dice",)
    follow_ups = False
    report_section = "imagination.report.task_section:recurrence_figures"

    def default_metrics(self, task: str, n_classes: int) -> tuple[str, ...]:
        return RECURRENCE_METRICS

    def score(self, context: ScoringContext, tasks: Sequence[str]) -> TaskTables:
        from imagination.engine.case_pool import local_processes
        from imagination.engine.case_scoring import case_task_tables
        from imagination.tasks.recurrence_scoring import score_recurrence

        out = TaskTables()
        for task in tasks:
            jobs = [j for j in context.plan if task in j.tasks]
            scores = score_recurrence(list(context.cohort.cases), jobs, context.store,
                                      margin_mm=context.config.recurrence_margin_mm,
                                      examples_dir=inside(context.run_dir, "examples"),
                                      workers=local_processes(context.config))
            out.extend(case_task_tables(self, context, task, scores))
        return out
