"""Scoring: stored predictions + cohort truth -> the run's tidy tables (docs/run_directory.md)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imagination.adapters.protocol import Adapter, LearningAdapter
from imagination.adapters.registry import is_learning
from imagination.atomic import atomic_write_text
from imagination.cohort.cohort import Cohort
from imagination.cohort.vocabulary import COVARIATES, LABEL_COLUMNS, POSITIVE_CLASS
from imagination.config import BenchConfig
from imagination.engine import aggregate as agg
from imagination.engine import robustness_scoring as rob
from imagination.engine.materialize import (
    ClassPredictions,
    classification_predictions,
    records_by_job,
)
from imagination.engine.plan import CLEAN, JobSpec
from imagination.engine.recurrence_scoring import score_recurrence
from imagination.engine.store import PredictionStore
from imagination.metrics.defaults import BINARY_METRICS, MULTICLASS_METRICS, RECURRENCE_METRICS
from imagination.metrics.registry import Metric, get, policy_versions

#: Metrics shown per site (forest plots) and used by the robustness tables.
SITE_METRICS = ("auroc", "balanced_accuracy", "coverage_all_model", "coverage_gain_all")

TABLE_COLUMNS: dict[str, list[str]] = {
    "predictions": ["task", "adapter", "perturbation", "case_id", "subject_id", "site", "truth",
                    "class", "probability"],
    "per_case": ["task", "adapter", "perturbation", "case_id", "subject_id", "site", "metric",
                 "value"],
    "leaderboard": ["task", "metric", "adapter", "value", "ci_low", "ci_high", "n", "n_failed",
                    "rank", "rank_ci_low", "rank_ci_high", "direction"],
    "comparisons": ["task", "metric", "adapter_a", "adapter_b", "test", "estimate", "ci_low",
                    "ci_high", "statistic", "p_value", "p_holm", "n"],
    "sites": ["task", "metric", "adapter", "site", "value", "ci_low", "ci_high", "n"],
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


def metrics_for(task: str, n_classes: int, config: BenchConfig) -> list[Metric]:
    if task in config.metrics:
        return [get(name) for name in config.metrics[task]]
    if task == "recurrence":
        names: Sequence[str] = RECURRENCE_METRICS
    else:
        names = BINARY_METRICS if n_classes == 2 else MULTICLASS_METRICS
    return [get(name) for name in names]


def write_table(path: Path, rows: Sequence[Mapping[str, Any]], columns: list[str],
                sort: list[str]) -> Path:
    """Write a tidy CSV atomically with a stable row order and fixed float formatting."""
    frame = pd.DataFrame(list(rows), columns=columns)
    if len(frame):
        frame = frame.sort_values(sort, kind="stable").reset_index(drop=True)
    atomic_write_text(path, frame.to_csv(index=False, float_format="%.10g",
                                         lineterminator="\n"))
    return path


def _present_classes(classes: Sequence[str], y: np.ndarray) -> tuple[str, ...]:
    present = set(y.tolist())
    return tuple(c for c in classes if c in present)


def _class_data(pred: ClassPredictions, cohort: Cohort, policy: str,
                also_failed: np.ndarray | None = None,
                ) -> tuple[agg.ClassData, tuple[str, ...]]:
    """Cases with a truth label; failed rows per policy (worst: all mass off the truth).

    ``also_failed`` marks cases to drop as well under ``exclude`` (to pair two runs)."""
    truth = np.array([c.labels.get(pred.task) or "" for c in cohort.cases], dtype=object)
    has = truth != ""
    failed = pred.failed & has
    if also_failed is not None and policy != "worst":
        failed = failed | (also_failed & has)
    proba = pred.proba.copy()
    classes = pred.classes
    if policy == "worst":
        for i in np.flatnonzero(failed):
            row = np.ones(len(classes)) / (len(classes) - 1)
            row[classes.index(truth[i])] = 0.0
            proba[i] = row
        keep = has
    else:
        keep = has & ~failed
    subjects = np.array([c.subject_id for c in cohort.cases], dtype=object)
    sites = np.array([c.site for c in cohort.cases], dtype=object)
    data = agg.ClassData(pred.adapter, truth[keep].astype(str), proba[keep], subjects[keep],
                         sites[keep], int(failed.sum()))
    return data, classes


def score_run(config: BenchConfig, cohort: Cohort, plan: Sequence[JobSpec],
              store: PredictionStore, run_dir: Path, *,
              adapters: Mapping[str, Adapter | LearningAdapter],
              vocabularies: Mapping[str, tuple[str, ...]],
              progress: ProgressHook | None = None) -> ScoredRun:
    """Compute and write every scoring table of the run."""
    run_dir = Path(run_dir)
    all_jobs = plan
    plan = [job for job in plan if not job.variant.repeat]
    records = records_by_job(all_jobs, store)
    learners = {k: a for k, a in adapters.items() if is_learning(a)}
    case_index = {c.case_id: c for c in cohort.cases}
    per_case: list[dict[str, Any]] = []
    predictions_rows: list[dict[str, Any]] = []
    leaderboard: list[dict[str, Any]] = []
    comparisons: list[dict[str, Any]] = []
    sites: list[dict[str, Any]] = []

    # classification ---------------------------------------------------------------
    class_preds = classification_predictions(config, list(cohort.cases), plan, records,
                                             learners, vocabularies)
    for pred in class_preds:
        for i, case_id in enumerate(pred.case_ids):
            case = case_index[case_id]
            truth = case.labels.get(pred.task)
            if pred.failed[i]:
                continue
            for j, cls in enumerate(pred.classes):
                predictions_rows.append({"task": pred.task, "adapter": pred.adapter,
                                         "perturbation": pred.variant, "case_id": case_id,
                                         "subject_id": case.subject_id, "site": case.site,
                                         "truth": truth or "", "class": cls,
                                         "probability": float(pred.proba[i, j])})
            if truth:
                k = pred.classes.index(truth)
                argmax = pred.classes[int(np.argmax(pred.proba[i]))]
                for metric, value in (("p_true", float(pred.proba[i, k])),
                                      ("correct", float(argmax == truth))):
                    per_case.append({"task": pred.task, "adapter": pred.adapter,
                                     "perturbation": pred.variant, "case_id": case_id,
                                     "subject_id": case.subject_id, "site": case.site,
                                     "metric": metric, "value": value})
    def prepare(pred: ClassPredictions, also_failed: np.ndarray | None = None,
                ) -> tuple[agg.ClassData, tuple[str, ...], str | None] | None:
        data, all_classes = _class_data(pred, cohort, config.failure_policy, also_failed)
        classes = _present_classes(all_classes, data.y_true)
        if data.y_true.size == 0 or len(classes) < 2:
            return None
        positive = POSITIVE_CLASS.get(pred.task) if len(classes) == 2 else None
        if len(classes) == 2 and positive not in classes:
            positive = classes[1]
        return _restrict(data, all_classes, classes), classes, positive

    tasks = sorted({p.task for p in class_preds})
    for n_task, task in enumerate(tasks):
        clean = [p for p in class_preds if p.task == task and p.variant == CLEAN]
        prepared = [prepare(p) for p in clean]
        if not clean or any(x is None for x in prepared):
            continue
        datas = [x[0] for x in prepared]  # type: ignore[index]
        classes, positive = prepared[0][1], prepared[0][2]  # type: ignore[index]
        for metric in metrics_for(task, len(classes), config):
            if metric.applies_to == "binary" and len(classes) != 2:
                continue
            aggregate = agg.aggregate_classification(metric, datas, classes, positive,
                                                     config.statistics)
            leaderboard.extend(agg.leaderboard_rows(task, metric, aggregate, config.statistics))
            comparisons.extend(agg.comparison_rows(
                task, metric, aggregate, config.statistics,
                agg.classification_pair_test(metric, datas, classes, positive)))
            if metric.name in SITE_METRICS:
                sites.extend(agg.classification_site_rows(task, metric, datas, classes,
                                                          positive, config.statistics))
        if progress:
            progress("scoring", n_task + 1, len(tasks) + 1)

    # recurrence --------------------------------------------------------------------
    rec_jobs = [j for j in plan if "recurrence" in j.tasks]
    rec_values: dict[tuple[str, str], dict[str, dict[str, float]]] = {}
    rec_failed: dict[tuple[str, str], set[str]] = {}
    for scored in score_recurrence(list(cohort.cases), rec_jobs, store,
                                   margin_mm=config.recurrence_margin_mm,
                                   examples_dir=run_dir / "examples"):
        key = (scored.job.adapter_label, scored.job.variant.id)
        case = case_index[scored.job.case.case_id]
        if scored.values is None:
            rec_failed.setdefault(key, set()).add(case.case_id)
            continue
        rec_values.setdefault(key, {})[case.case_id] = scored.values
        for metric, value in scored.values.items():
            per_case.append({"task": "recurrence", "adapter": key[0], "perturbation": key[1],
                             "case_id": case.case_id, "subject_id": case.subject_id,
                             "site": case.site, "metric": metric, "value": float(value)})
    clean_keys = sorted(k for k in set(rec_values) | set(rec_failed) if k[1] == CLEAN)
    if clean_keys:
        scored_cases = sorted({cid for k in clean_keys for cid in
                               set(rec_values.get(k, {})) | rec_failed.get(k, set())},
                              key=list(case_index).index)
        for metric in metrics_for("recurrence", 0, config):
            datas = [_case_data(k[0], metric, scored_cases, rec_values.get(k, {}),
                                rec_failed.get(k, set()), case_index, config.failure_policy)
                     for k in clean_keys]
            if all(not np.isfinite(d.values).any() for d in datas):
                continue
            aggregate = agg.aggregate_cases(datas, config.statistics)
            leaderboard.extend(agg.leaderboard_rows("recurrence", metric, aggregate,
                                                    config.statistics))
            comparisons.extend(agg.comparison_rows("recurrence", metric, aggregate,
                                                   config.statistics, agg.case_pair_test(datas)))
            if metric.name in SITE_METRICS:
                sites.extend(agg.site_rows("recurrence", metric, datas, config.statistics))

    # robustness, ablation, site shift, reproducibility --------------------------------
    robustness = rob.classification_robustness(config, class_preds, prepare)
    robustness.extend(rob.recurrence_robustness(config, cohort, rec_values, rec_failed))
    summary = rob.robustness_summary(robustness, config.robustness.reference_adapter)
    ablations = rob.ablation_rows(config, cohort, class_preds, rec_values, rec_failed)
    site_shift = rob.site_shift_rows(sites)
    reproducibility = rob.reproducibility_rows(config, cohort, all_jobs, store, class_preds)

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
        "predictions": (predictions_rows, ["task", "adapter", "perturbation", "case_id",
                                           "class"]),
        "per_case": (per_case, ["task", "adapter", "perturbation", "case_id", "metric"]),
        "leaderboard": (leaderboard, ["task", "metric", "rank", "adapter"]),
        "comparisons": (comparisons, ["task", "metric", "adapter_a", "adapter_b"]),
        "sites": (sites, ["task", "metric", "adapter", "site"]),
        "failures": (failures, ["adapter", "perturbation", "case_id"]),
        "cost": (cost, ["adapter", "perturbation", "case_id"]),
        "robustness": (robustness, ["task", "metric", "adapter", "kind", "severity"]),
        "robustness_summary": (summary, ["task", "metric", "adapter", "kind"]),
        "ablation": (ablations, ["ablation", "adapter"]),
        "site_shift": (site_shift, ["task", "metric", "adapter"]),
        "reproducibility": (reproducibility, ["analysis", "task", "adapter", "metric"]),
    }
    for name, (rows, sort) in specs.items():
        out.tables[name] = write_table(run_dir / f"{name}.csv", rows, TABLE_COLUMNS[name], sort)
    out.tables["cohort"] = write_cohort_table(run_dir / "cohort.csv", cohort)
    if progress:
        progress("scoring", len(tasks) + 1, len(tasks) + 1)
    return out


def _restrict(data: agg.ClassData, all_classes: Sequence[str],
              classes: tuple[str, ...]) -> agg.ClassData:
    """Keep the columns of the classes present in the truth, renormalised."""
    if tuple(all_classes) == classes:
        return data
    cols = [list(all_classes).index(c) for c in classes]
    sub = data.proba[:, cols]
    total = sub.sum(axis=1, keepdims=True)
    sub = np.where(total > 0, sub / np.where(total > 0, total, 1.0), 1.0 / len(classes))
    return agg.ClassData(data.adapter, data.y_true, sub, data.subjects, data.sites,
                         data.n_failed)


def _case_data(adapter: str, metric: Metric, case_ids: Sequence[str],
               values: Mapping[str, Mapping[str, float]], failed: set[str],
               case_index: Mapping[str, Any], policy: str) -> agg.CaseData:
    worst = metric.worst if np.isfinite(metric.worst) else np.nan
    arr = np.array([
        (worst if policy == "worst" else np.nan) if cid in failed
        else float(values.get(cid, {}).get(metric.name, np.nan))
        for cid in case_ids], dtype=np.float64)
    subjects = np.array([case_index[c].subject_id for c in case_ids], dtype=object)
    sites = np.array([case_index[c].site for c in case_ids], dtype=object)
    return agg.CaseData(adapter, arr, subjects, sites, len(failed & set(case_ids)))


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
