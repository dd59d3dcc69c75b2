"""Scoring: stored predictions + cohort truth -> the run's tidy tables (docs/run_directory.md).

Each task kind of the registry (``imagination.tasks``) scores its configured tasks into rows;
this module adds the task-independent tables (robustness summary, site shift, determinism,
failures, cost, cohort) and writes them all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from imagination.adapters.protocol import Adapter, LearningAdapter
from imagination.atomic import atomic_write_text
from imagination.cohort.cohort import Cohort
from imagination.cohort.vocabulary import COVARIATES, LABEL_COLUMNS
from imagination.config import BenchConfig
from imagination.engine import robustness_scoring as rob
from imagination.engine.materialize import records_by_job
from imagination.engine.plan import JobSpec
from imagination.engine.store import PredictionStore
from imagination.metrics.registry import policy_versions
from imagination.runfolder import inside
from imagination.tasks.base import ScoringContext, TaskTables
from imagination.tasks.registry import kinds_for

TABLE_COLUMNS: dict[str, list[str]] = {
    "predictions": ["task", "adapter", "perturbation", "case_id", "subject_id", "site", "truth",
                    "class", "probability"],
    "per_case": ["task", "region", "adapter", "perturbation", "case_id", "subject_id", "site",
                 "metric", "value"],
    "leaderboard": ["task", "region", "metric", "adapter", "value", "ci_low", "ci_high", "n",
                    "n_failed", "rank", "rank_ci_low", "rank_ci_high", "direction"],
    "comparisons": ["task", "region", "metric", "adapter_a", "adapter_b", "test", "estimate",
                    "ci_low", "ci_high", "statistic", "p_value", "p_holm", "n"],
    "sites": ["task", "region", "metric", "adapter", "site", "value", "ci_low", "ci_high", "n"],
    "failures": ["adapter", "perturbation", "case_id", "kind", "reason"],
    "cost": ["adapter", "perturbation", "case_id", "wall_s", "cpu_s", "peak_rss_mb"],
    "robustness": rob.ROBUSTNESS_COLUMNS,
    "robustness_summary": rob.SUMMARY_COLUMNS,
    "ablation": rob.ABLATION_COLUMNS,
    "site_shift": rob.SITE_SHIFT_COLUMNS,
    "reproducibility": rob.REPRODUCIBILITY_COLUMNS,
}

ProgressHook = Callable[[str, int, int], None]


@dataclass
class ScoredRun:
    tables: dict[str, Path] = field(default_factory=dict)
    policies: dict[str, Any] = field(default_factory=dict)
    n_failed: int = 0


def write_table(path: Path, rows: Sequence[Mapping[str, Any]], columns: list[str],
                sort: list[str]) -> Path:
    """Write a tidy CSV atomically with a stable row order and fixed float formatting."""
    frame = pd.DataFrame(list(rows), columns=columns)
    if len(frame):
        frame = frame.sort_values(sort, kind="stable").reset_index(drop=True)
    atomic_write_text(path, frame.to_csv(index=False, float_format="%.10g",
                                         lineterminator="\n"))
    return path


def score_run(config: BenchConfig, cohort: Cohort, plan: Sequence[JobSpec],
              store: PredictionStore, run_dir: Path, *,
              adapters: Mapping[str, Adapter | LearningAdapter],
              vocabularies: Mapping[str, tuple[str, ...]],
              progress: ProgressHook | None = None) -> ScoredRun:
    """Compute and write every scoring table of the run."""
    run_dir = Path(run_dir)
    all_jobs = plan
    records = records_by_job(all_jobs, store)
    context = ScoringContext(config=config, cohort=cohort,
                             plan=[job for job in plan if not job.variant.repeat],
                             all_jobs=all_jobs, store=store, records=records,
                             adapters=adapters, vocabularies=vocabularies, run_dir=run_dir,
                             progress=progress)
    rows = TaskTables()
    for kind, tasks in kinds_for(config.tasks):
        rows.extend(kind.score(context, tasks))
    summary = rob.robustness_summary(rows.robustness, config.robustness.reference_adapter)
    site_shift = rob.site_shift_rows(rows.sites)
    reproducibility = [*rob.determinism_rows(all_jobs, store), *rows.reproducibility]

    # failures, cost, cohort ----------------------------------------------------------
    failures, cost = [], []
    for job in all_jobs:
        record = records.get(job.key)
        if record is None or record.failure is not None:
            failures.append({"adapter": job.adapter_label, "perturbation": job.variant.id,
                             "case_id": job.case.case_id,
                             "kind": "missing" if record is None else record.failure.get(
                                 "kind", "error"),
                             "reason": "no stored result" if record is None else
                             str(record.failure.get("reason", ""))[:2000]})
        if record is not None:
            cost.append({"adapter": job.adapter_label, "perturbation": job.variant.id,
                         "case_id": job.case.case_id, "wall_s": record.cost.wall_s,
                         "cpu_s": record.cost.cpu_s, "peak_rss_mb": record.cost.peak_rss_mb})

    out = ScoredRun(policies=policy_versions(), n_failed=len(failures))
    specs = {
        "predictions": (rows.predictions, ["task", "adapter", "perturbation", "case_id",
                                           "class"]),
        "per_case": (rows.per_case, ["task", "region", "adapter", "perturbation", "case_id",
                                     "metric"]),
        "leaderboard": (rows.leaderboard, ["task", "region", "metric", "rank", "adapter"]),
        "comparisons": (rows.comparisons, ["task", "region", "metric", "adapter_a",
                                           "adapter_b"]),
        "sites": (rows.sites, ["task", "region", "metric", "adapter", "site"]),
        "failures": (failures, ["adapter", "perturbation", "case_id"]),
        "cost": (cost, ["adapter", "perturbation", "case_id"]),
        "robustness": (rows.robustness, ["task", "region", "metric", "adapter", "kind",
                                         "severity"]),
        "robustness_summary": (summary, ["task", "region", "metric", "adapter", "kind"]),
        "ablation": (rows.ablation, ["ablation", "adapter"]),
        "site_shift": (site_shift, ["task", "region", "metric", "adapter"]),
        "reproducibility": (reproducibility, ["analysis", "task", "region", "adapter",
                                              "metric"]),
    }
    for name, (table_rows, sort) in specs.items():
        out.tables[name] = write_table(inside(run_dir, f"{name}.csv"), table_rows,
                                       TABLE_COLUMNS[name], sort)
    out.tables["cohort"] = write_cohort_table(inside(run_dir, "cohort.csv"), cohort)
    if progress:
        progress("scoring", 1, 1)
    return out


def write_cohort_table(path: Path, cohort: Cohort) -> Path:
    rows = []
    for case in cohort.cases:
        row: dict[str, Any] = {"case_id": case.case_id, "subject_id": case.subject_id,
                               "site": case.site, "timepoint": case.timepoint or "",
                               "modalities": ";".join(case.images)}
        row.update({t: case.labels.get(t) or "" for t in LABEL_COLUMNS})
        row.update({k: case.covariates.get(k) for k in COVARIATES})
        rows.append(row)
    columns = ["case_id", "subject_id", "site", "timepoint", "modalities", *LABEL_COLUMNS,
               *COVARIATES]
    return write_table(path, rows, columns, ["case_id"])
