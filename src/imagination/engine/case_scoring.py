"""The frame of tasks scored case by case (recurrence, and any kind whose metrics are per-case
values): per-case rows, leaderboard, paired comparisons, per-site rows, robustness and
modality ablations from one stream of :class:`CaseScore`.

A kind supplies the stream (one score per planned job, values keyed by metric name); every
value lands in ``per_case.csv``; the leaderboard aggregates the task's metrics over the clean
jobs with the failure policy (``worst`` substitutes the metric's worst value). A per-case value
named ``<m>_vs_clean`` feeds the stability metric ``m`` of ``robustness.csv`` (1 = the
perturbed output equals the clean one).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from imagination.engine import aggregate as agg
from imagination.engine.plan import CLEAN, JobSpec, ablation_variant
from imagination.engine.robustness_scoring import (
    ablation_only_variants,
    ablation_row,
    case_values,
    kind_severity,
    robustness_row,
)
from imagination.metrics.registry import Metric, get
from imagination.stats.robustness import paired_delta
from imagination.tasks.base import ScoringContext, TaskKind, TaskTables

STABILITY_SUFFIX = "_vs_clean"

Values = dict[tuple[str, str], dict[str, dict[str, float]]]
Failed = dict[tuple[str, str], set[str]]


@dataclass
class CaseScore:
    """One job's per-case values (``None`` = failed or missing, ``reason`` says why)."""

    job: JobSpec
    values: dict[str, float] | None
    reason: str


def stored_output(store: Any, job: JobSpec, name: str, what: str) -> tuple[Any | None, str]:
    """``(output, "")`` of a job's stored output ``name``, or ``(None, reason)``: no stored
    result, the job's failure (``kind: reason``), or ``what`` missing from its record."""
    record = store.get(job.key)
    output = None if record is None else record.outputs.get(name)
    if record is None:
        return None, "missing: no stored result"
    if record.failure is not None or output is None:
        failure = record.failure or {}
        return None, f"{failure.get('kind', 'error')}: {failure.get('reason', what)}"
    return output, ""


def case_task_tables(kind: TaskKind, ctx: ScoringContext, task: str,
                     scores: Iterable[CaseScore]) -> TaskTables:
    """Every table's rows of one per-case task."""
    config = ctx.config
    case_index = {c.case_id: c for c in ctx.cohort.cases}
    out = TaskTables()
    values: Values = {}
    failed: Failed = {}
    for scored in scores:
        key = (scored.job.adapter_label, scored.job.variant.id)
        case = case_index[scored.job.case.case_id]
        if scored.values is None:
            failed.setdefault(key, set()).add(case.case_id)
            continue
        values.setdefault(key, {})[case.case_id] = scored.values
        for metric, value in scored.values.items():
            out.per_case.append({"task": task, "adapter": key[0], "perturbation": key[1],
                                 "case_id": case.case_id, "subject_id": case.subject_id,
                                 "site": case.site, "metric": metric, "value": float(value)})
    clean_keys = sorted(k for k in set(values) | set(failed) if k[1] == CLEAN)
    if clean_keys:
        scored_cases = sorted({cid for k in clean_keys for cid in
                               set(values.get(k, {})) | failed.get(k, set())},
                              key=list(case_index).index)
        for metric in (get(n, kind.family) for n in kind.metric_names(task, config)):
            datas = [_case_data(k[0], metric, scored_cases, values.get(k, {}),
                                failed.get(k, set()), case_index, config.failure_policy)
                     for k in clean_keys]
            if all(not np.isfinite(d.values).any() for d in datas):
                continue
            aggregate = agg.aggregate_cases(datas, config.statistics)
            out.leaderboard.extend(agg.leaderboard_rows(task, metric, aggregate,
                                                        config.statistics))
            out.comparisons.extend(agg.comparison_rows(task, metric, aggregate,
                                                       config.statistics,
                                                       agg.case_pair_test(datas)))
            if metric.name in kind.site_metrics:
                out.sites.extend(agg.site_rows(task, metric, datas, config.statistics))
    out.robustness.extend(_robustness(kind, ctx, task, values, failed))
    out.ablation.extend(_ablations(kind, ctx, task, values, failed))
    return out


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


def _robustness(kind: TaskKind, ctx: ScoringContext, task: str, values: Values,
                failed: Failed) -> list[dict[str, Any]]:
    """Per (adapter, variant): mean metric under the variant vs clean with a paired subject
    bootstrap of the delta, plus the kind's stability metrics."""
    config, cohort = ctx.config, ctx.cohort
    stats = config.statistics
    ablation_only = ablation_only_variants(config)
    case_ids = [c.case_id for c in cohort.cases]
    subjects = [c.subject_id for c in cohort.cases]
    rows: list[dict[str, Any]] = []
    for adapter, variant in sorted(set(values) | set(failed)):
        if variant == CLEAN or (adapter, variant) in ablation_only:
            continue
        if (adapter, CLEAN) not in values:
            continue
        kind_name, severity = kind_severity(variant)
        names = config.robustness.metrics.get(task, list(kind.robustness_metrics))
        for metric in (get(n, kind.family) for n in names):
            clean = case_values(metric.name, case_ids, values[(adapter, CLEAN)],
                                failed.get((adapter, CLEAN), set()), metric.worst,
                                config.failure_policy)
            pert = case_values(metric.name, case_ids, values.get((adapter, variant), {}),
                               failed.get((adapter, variant), set()), metric.worst,
                               config.failure_policy)
            both = np.isfinite(clean) & np.isfinite(pert)
            if not both.any():
                continue
            delta = paired_delta(clean, pert, subjects, n_resamples=stats.n_resamples,
                                 alpha=stats.alpha, seed=stats.seed)
            rows.append(robustness_row(task, metric.name, adapter, variant, kind_name,
                                       severity, float(pert[both].mean()),
                                       float(clean[both].mean()), delta.delta, delta.ci_low,
                                       delta.ci_high, int(both.sum())))
        for name in kind.stability_metrics:
            agreement = case_values(name + STABILITY_SUFFIX, case_ids,
                                    values.get((adapter, variant), {}), set(), np.nan,
                                    "exclude")
            if np.isfinite(agreement).any():
                mean = float(np.nanmean(agreement))
                rows.append(robustness_row(task, name, adapter, variant, kind_name, severity,
                                           mean, 1.0, mean - 1.0, np.nan, np.nan,
                                           int(np.isfinite(agreement).sum())))
    return rows


def _ablations(kind: TaskKind, ctx: ScoringContext, task: str, values: Values,
               failed: Failed) -> list[dict[str, Any]]:
    """Configured modality ablations of this task: the per-case metric with − without."""
    config = ctx.config
    case_ids = [c.case_id for c in ctx.cohort.cases]
    rows = []
    for ablation in config.ablations:
        if ablation.task != task:
            continue
        metric = get(ablation.metric, kind.family)
        without_id = ablation_variant(ablation.modality).id
        with_v = case_values(metric.name, case_ids, values.get((ablation.adapter, CLEAN), {}),
                             failed.get((ablation.adapter, CLEAN), set()), metric.worst,
                             config.failure_policy)
        without_v = case_values(metric.name, case_ids,
                                values.get((ablation.adapter, without_id), {}),
                                failed.get((ablation.adapter, without_id), set()),
                                metric.worst, config.failure_policy)
        rows.append(ablation_row(config, ctx.cohort, ablation, metric.name, with_v, without_v))
    return rows
