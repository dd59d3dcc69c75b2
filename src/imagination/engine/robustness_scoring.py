"""Shared pieces of the robustness, ablation, site-shift and reproducibility tables.

Task kinds build their own robustness and ablation rows with :func:`robustness_row` and
:func:`ablation_row`; this module adds what is task-independent: the per-kind summary
(worst severity, corruption errors), site shift from the per-site rows and the determinism
of repeat runs (every stored output compared through its task's output type).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from imagination.cohort.cohort import Cohort
from imagination.config import AblationConfig, BenchConfig
from imagination.engine.materialize import LOSO
from imagination.engine.plan import JobSpec, ablation_variant, variants
from imagination.engine.store import JobRecord, PredictionStore
from imagination.errors import InputError
from imagination.metrics.registry import Metric, get
from imagination.stats.robustness import (
    ablation_test,
    compare_repeats,
    corruption_error,
    relative_corruption_error,
    site_spread,
)
from imagination.tasks.registry import is_task, kind_of, stability_metrics

ROBUSTNESS_COLUMNS = ["task", "region", "metric", "adapter", "perturbation", "kind", "severity",
                      "value", "clean_value", "delta", "delta_ci_low", "delta_ci_high", "n"]
SUMMARY_COLUMNS = ["task", "region", "metric", "adapter", "kind", "worst_value",
                   "worst_severity", "worst_delta", "mean_error", "corruption_error",
                   "relative_corruption_error"]
ABLATION_COLUMNS = ["ablation", "adapter", "modality", "task", "metric", "with_value",
                    "without_value", "estimate", "ci_low", "ci_high", "p_value", "test",
                    "p_wilcoxon", "n", "n_subjects"]
SITE_SHIFT_COLUMNS = ["task", "region", "metric", "adapter", "worst_site", "worst_value",
                      "best_site", "best_value", "spread", "n_sites"]
REPRODUCIBILITY_COLUMNS = ["analysis", "task", "region", "adapter", "metric", "value", "ci_low",
                           "ci_high", "n", "detail"]


def kind_severity(variant: str) -> tuple[str, int]:
    if variant == LOSO:
        return "site_shift", 0
    kind, _, severity = variant.partition("@")
    return kind, int(severity or 0)


def ablation_only_variants(config: BenchConfig) -> set[tuple[str, str]]:
    """(adapter, variant id) pairs that exist only for an ablation."""
    return {(a.adapter, ablation_variant(a.modality).id) for a in config.ablations
            if ablation_variant(a.modality) not in variants(config, a.adapter)}


def robustness_row(task: str, metric: str, adapter: str, variant: str, kind: str,
                   severity: int, value: float, clean_value: float, delta: float, low: float,
                   high: float, n: int) -> dict[str, Any]:
    return {"task": task, "metric": metric, "adapter": adapter, "perturbation": variant,
            "kind": kind, "severity": severity, "value": value, "clean_value": clean_value,
            "delta": delta, "delta_ci_low": low, "delta_ci_high": high, "n": n}


def case_values(metric: str, case_ids: Sequence[str],
                values: Mapping[str, Mapping[str, float]], failed: set[str],
                worst: float, policy: str) -> np.ndarray:
    fill = worst if (policy == "worst" and np.isfinite(worst)) else np.nan
    return np.array([fill if cid in failed else float(values.get(cid, {}).get(metric, np.nan))
                     for cid in case_ids], dtype=np.float64)


def _family(task: str) -> str | None:
    """The metric family of ``task`` (metric names may be shared by two families)."""
    return kind_of(task).family if is_task(task) else None


def robustness_summary(rows: Sequence[Mapping[str, Any]],
                       reference: str | None) -> list[dict[str, Any]]:
    """Worst case over severities and ImageNet-C style corruption errors per kind."""
    stability = stability_metrics()
    groups: dict[tuple[str, str, str, str, str], list[Mapping[str, Any]]] = {}
    for row in rows:
        if row["kind"] == "site_shift" or row["metric"] in stability:
            continue
        groups.setdefault((row["task"], row.get("region") or "", row["metric"], row["adapter"],
                           row["kind"]), []).append(row)
    out = []
    for (task, region, metric_name, adapter, kind), items in sorted(groups.items()):
        metric = get(metric_name, _family(task))
        finite = [r for r in items if np.isfinite(r["value"])]
        if not finite:
            continue
        worst = max(finite, key=lambda r: metric.badness(r["value"]))
        errors = _errors(finite, metric)
        ce = rce = float("nan")
        ref_items = groups.get((task, region, metric_name, reference or "", kind), [])
        ref_errors = _errors([r for r in ref_items if np.isfinite(r["value"])], metric)
        if reference and errors and ref_errors and set(errors) == set(ref_errors):
            ce = corruption_error(errors, ref_errors)
            rce = relative_corruption_error(
                metric.error(finite[0]["clean_value"]), errors,
                metric.error(ref_items[0]["clean_value"]), ref_errors)
        out.append({"task": task, "region": region or None, "metric": metric_name,
                    "adapter": adapter, "kind": kind, "worst_value": worst["value"],
                    "worst_severity": worst["severity"],
                    "worst_delta": worst["delta"],
                    "mean_error": float(np.mean(list(errors.values()))) if errors else np.nan,
                    "corruption_error": ce, "relative_corruption_error": rce})
    return out


def _errors(items: Sequence[Mapping[str, Any]], metric: Metric) -> dict[int, float]:
    """Error (distance from the metric's ideal) per severity, finite ones only."""
    out = {int(r["severity"]): metric.error(float(r["value"])) for r in items}
    return {k: v for k, v in out.items() if np.isfinite(v)}


def ablation_row(config: BenchConfig, cohort: Cohort, ablation: AblationConfig, metric_name: str,
                 with_v: np.ndarray, without_v: np.ndarray) -> dict[str, Any]:
    """One ablation's row: paired per-case effect (with − without) and its tests."""
    stats = config.statistics
    subjects = np.array([c.subject_id for c in cohort.cases], dtype=object)
    row: dict[str, Any] = {"ablation": ablation.label, "adapter": ablation.adapter,
                           "modality": ablation.modality, "task": ablation.task,
                           "metric": metric_name,
                           "with_value": float(np.nanmean(with_v)) if np.isfinite(
                               with_v).any() else np.nan,
                           "without_value": float(np.nanmean(without_v)) if np.isfinite(
                               without_v).any() else np.nan}
    try:
        result = ablation_test(with_v, without_v, subjects, n_resamples=stats.n_resamples,
                               alpha=stats.alpha, seed=stats.seed)
    except InputError as exc:
        row.update({"test": f"not tested: {exc}", "n": 0})
    else:
        row.update({k: result[k] for k in ("estimate", "ci_low", "ci_high", "p_value",
                                           "test", "p_wilcoxon", "n", "n_subjects")})
    return row


def site_shift_rows(site_rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Worst and best site and the spread per (task, region, metric, adapter)."""
    groups: dict[tuple[str, str, str, str], dict[str, float]] = {}
    for row in site_rows:
        if row["site"] == "(heterogeneity)":
            continue
        groups.setdefault((row["task"], row.get("region") or "", row["metric"],
                           row["adapter"]), {})[str(row["site"])] = float(row["value"])
    out = []
    for (task, region, metric_name, adapter), by_site in sorted(groups.items()):
        metric: Metric = get(metric_name, _family(task))
        spread = site_spread(by_site, badness=metric.badness)
        out.append({"task": task, "region": region or None, "metric": metric_name,
                    "adapter": adapter, **spread})
    return out


def _flat(record: JobRecord | None) -> list[np.ndarray]:
    """A record's outputs as arrays in a fixed order (for repeat comparisons)."""
    if record is None or record.failure is not None:
        return []
    kinds = {task: kind_of(task).output for task in record.outputs}
    small = [kinds[t].flatten(v) for t, v in sorted(record.outputs.items())
             if kinds[t].storage == "json"]
    parts = [np.concatenate(small) if small else np.array([], dtype=np.float64)]
    if record.features is not None:
        parts.append(np.array([v for _, v in sorted(record.features.items())]))
    parts.extend(kinds[t].flatten(v) for t, v in sorted(record.outputs.items())
                 if kinds[t].storage == "array")
    return parts


def determinism_rows(plan: Sequence[JobSpec], store: PredictionStore) -> list[dict[str, Any]]:
    repeats: dict[tuple[str, str], list[JobSpec]] = {}
    clean: dict[tuple[str, str], JobSpec] = {}
    for job in plan:
        key = (job.adapter_label, job.case.case_id)
        if job.variant.repeat:
            repeats.setdefault(key, []).append(job)
        elif job.variant.kind is None:
            clean[key] = job
    by_adapter: dict[str, list[tuple[bool, float]]] = {}
    for key, jobs in sorted(repeats.items()):
        runs = [_flat(store.get(j.key)) for j in [clean[key], *jobs]]
        if any(not r for r in runs) or len({len(r) for r in runs}) != 1:
            by_adapter.setdefault(key[0], []).append((False, float("nan")))
            continue
        verdicts = [compare_repeats([r[i] for r in runs]) for i in range(len(runs[0]))]
        by_adapter.setdefault(key[0], []).append(
            (all(v[0] for v in verdicts), max(v[1] for v in verdicts)))
    rows = []
    for adapter, results in sorted(by_adapter.items()):
        equal = all(r[0] for r in results)
        diffs = [r[1] for r in results if np.isfinite(r[1])]
        largest = max(diffs) if diffs else float("nan")
        rows.append({"analysis": "determinism", "task": "(all)", "adapter": adapter,
                     "metric": "bitwise_equal", "value": float(equal), "ci_low": np.nan,
                     "ci_high": np.nan, "n": len(results),
                     "detail": "bitwise identical" if equal else
                     f"largest absolute difference {largest:.3g}"})
        rows.append({"analysis": "determinism", "task": "(all)", "adapter": adapter,
                     "metric": "max_abs_diff", "value": largest, "ci_low": np.nan,
                     "ci_high": np.nan, "n": len(results), "detail": ""})
    return rows
