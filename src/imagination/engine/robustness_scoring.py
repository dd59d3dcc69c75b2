"""Robustness, modality ablation, site shift and reproducibility tables of a run.

Works on what scoring already gathered (per-variant class probabilities, per-case recurrence
values, per-site rows) plus, for determinism, the stored records of repeat runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from imagination.cohort.cohort import Cohort
from imagination.config import BenchConfig
from imagination.engine import aggregate as agg
from imagination.engine.materialize import LOSO, ClassPredictions
from imagination.engine.plan import CLEAN, JobSpec, ablation_variant, variants
from imagination.engine.store import JobRecord, PredictionStore
from imagination.errors import InputError
from imagination.metrics.registry import Metric, get
from imagination.stats.bootstrap import interval, resample_weights
from imagination.stats.robustness import (
    ablation_test,
    compare_repeats,
    corruption_error,
    flip_rate,
    label_agreement,
    paired_delta,
    relative_corruption_error,
    retest_agreement,
    site_spread,
)

ROBUSTNESS_COLUMNS = ["task", "metric", "adapter", "perturbation", "kind", "severity", "value",
                      "clean_value", "delta", "delta_ci_low", "delta_ci_high", "n"]
SUMMARY_COLUMNS = ["task", "metric", "adapter", "kind", "worst_value", "worst_severity",
                   "worst_delta", "mean_error", "corruption_error", "relative_corruption_error"]
ABLATION_COLUMNS = ["ablation", "adapter", "modality", "task", "metric", "with_value",
                    "without_value", "estimate", "ci_low", "ci_high", "p_value", "test",
                    "p_wilcoxon", "n", "n_subjects"]
SITE_SHIFT_COLUMNS = ["task", "metric", "adapter", "worst_site", "worst_value", "best_site",
                      "best_value", "spread", "n_sites"]
REPRODUCIBILITY_COLUMNS = ["analysis", "task", "adapter", "metric", "value", "ci_low",
                           "ci_high", "n", "detail"]

DEFAULT_CLASS_METRICS = ("auroc", "balanced_accuracy")
DEFAULT_RECURRENCE_METRICS = ("coverage_all_model", "voxel_auroc")

ClassData = agg.ClassData
PrepareFn = Any  # (ClassPredictions) -> (ClassData, classes, positive) | None


def _kind_severity(variant: str) -> tuple[str, int]:
    if variant == LOSO:
        return "site_shift", 0
    kind, _, severity = variant.partition("@")
    return kind, int(severity or 0)


def _ablation_ids(config: BenchConfig) -> set[tuple[str, str]]:
    """(adapter, variant id) pairs that exist only for an ablation."""
    return {(a.adapter, ablation_variant(a.modality).id) for a in config.ablations
            if ablation_variant(a.modality) not in variants(config, a.adapter)}


def classification_robustness(config: BenchConfig, preds: Sequence[ClassPredictions],
                              prepare: PrepareFn) -> list[dict[str, Any]]:
    """Per (task, adapter, variant): metric under the variant vs clean, paired delta, flips."""
    stats = config.statistics
    ablation_only = _ablation_ids(config)
    clean = {(p.task, p.adapter): p for p in preds if p.variant == CLEAN}
    rows: list[dict[str, Any]] = []
    for pred in preds:
        if pred.variant == CLEAN or (pred.adapter, pred.variant) in ablation_only:
            continue
        base = clean.get((pred.task, pred.adapter))
        if base is None:
            continue
        prepared_clean, prepared = prepare(base), prepare(pred)
        if prepared_clean is None or prepared is None:
            continue
        (c_data, classes, positive), (p_data, _, _) = prepared_clean, prepared
        kind, severity = _kind_severity(pred.variant)
        weights = resample_weights(c_data.subjects, strata=c_data.y_true,
                                   n_resamples=stats.n_resamples, seed=stats.seed)
        names = config.robustness.metrics.get(pred.task, list(DEFAULT_CLASS_METRICS))
        for metric in (get(n) for n in names):
            if metric.applies_to == "binary" and len(classes) != 2:
                continue
            clean_value = agg.metric_value(metric, c_data, classes, positive)
            value = agg.metric_value(metric, p_data, classes, positive)
            diff = (agg.classification_distribution(metric, p_data.y_true, p_data.proba,
                                                    classes, positive, weights)
                    - agg.classification_distribution(metric, c_data.y_true, c_data.proba,
                                                      classes, positive, weights))
            low, high = interval(diff, value - clean_value, alpha=stats.alpha)
            rows.append(_row(pred.task, metric.name, pred.adapter, pred.variant, kind, severity,
                             value, clean_value, value - clean_value, low, high,
                             c_data.y_true.size))
        both = ~(base.failed | pred.failed)
        flips = flip_rate(np.asarray(base.classes)[np.argmax(np.nan_to_num(base.proba[both]), 1)],
                          np.asarray(pred.classes)[np.argmax(np.nan_to_num(pred.proba[both]), 1)])
        rows.append(_row(pred.task, "flip_rate", pred.adapter, pred.variant, kind, severity,
                         flips, 0.0, flips, np.nan, np.nan, int(both.sum())))
    return rows


def _row(task: str, metric: str, adapter: str, variant: str, kind: str, severity: int,
         value: float, clean_value: float, delta: float, low: float, high: float,
         n: int) -> dict[str, Any]:
    return {"task": task, "metric": metric, "adapter": adapter, "perturbation": variant,
            "kind": kind, "severity": severity, "value": value, "clean_value": clean_value,
            "delta": delta, "delta_ci_low": low, "delta_ci_high": high, "n": n}


def case_values(metric: str, case_ids: Sequence[str],
                values: Mapping[str, Mapping[str, float]], failed: set[str],
                worst: float, policy: str) -> np.ndarray:
    fill = worst if (policy == "worst" and np.isfinite(worst)) else np.nan
    return np.array([fill if cid in failed else float(values.get(cid, {}).get(metric, np.nan))
                     for cid in case_ids], dtype=np.float64)


def recurrence_robustness(config: BenchConfig, cohort: Cohort,
                          rec_values: Mapping[tuple[str, str], Mapping[str, Mapping[str, float]]],
                          rec_failed: Mapping[tuple[str, str], set[str]],
                          ) -> list[dict[str, Any]]:
    stats = config.statistics
    ablation_only = _ablation_ids(config)
    case_ids = [c.case_id for c in cohort.cases]
    subjects = [c.subject_id for c in cohort.cases]
    rows: list[dict[str, Any]] = []
    keys = sorted(set(rec_values) | set(rec_failed))
    for adapter, variant in keys:
        if variant == CLEAN or (adapter, variant) in ablation_only:
            continue
        if (adapter, CLEAN) not in rec_values:
            continue
        kind, severity = _kind_severity(variant)
        names = config.robustness.metrics.get("recurrence", list(DEFAULT_RECURRENCE_METRICS))
        for metric in (get(n) for n in names):
            clean = case_values(metric.name, case_ids, rec_values[(adapter, CLEAN)],
                                rec_failed.get((adapter, CLEAN), set()), metric.worst,
                                config.failure_policy)
            pert = case_values(metric.name, case_ids, rec_values.get((adapter, variant), {}),
                               rec_failed.get((adapter, variant), set()), metric.worst,
                               config.failure_policy)
            both = np.isfinite(clean) & np.isfinite(pert)
            if not both.any():
                continue
            delta = paired_delta(clean, pert, subjects, n_resamples=stats.n_resamples,
                                 alpha=stats.alpha, seed=stats.seed)
            rows.append(_row("recurrence", metric.name, adapter, variant, kind, severity,
                             float(pert[both].mean()), float(clean[both].mean()), delta.delta,
                             delta.ci_low, delta.ci_high, int(both.sum())))
        dice = case_values("plan_dice_vs_clean", case_ids, rec_values.get((adapter, variant), {}),
                           set(), np.nan, "exclude")
        if np.isfinite(dice).any():
            rows.append(_row("recurrence", "plan_dice", adapter, variant, kind, severity,
                             float(np.nanmean(dice)), 1.0, float(np.nanmean(dice)) - 1.0,
                             np.nan, np.nan, int(np.isfinite(dice).sum())))
    return rows


def robustness_summary(rows: Sequence[Mapping[str, Any]],
                       reference: str | None) -> list[dict[str, Any]]:
    """Worst case over severities and ImageNet-C style corruption errors per kind."""
    groups: dict[tuple[str, str, str, str], list[Mapping[str, Any]]] = {}
    for row in rows:
        if row["kind"] == "site_shift" or row["metric"] in ("flip_rate", "plan_dice"):
            continue
        groups.setdefault((row["task"], row["metric"], row["adapter"], row["kind"]),
                          []).append(row)
    out = []
    for (task, metric_name, adapter, kind), items in sorted(groups.items()):
        metric = get(metric_name)
        finite = [r for r in items if np.isfinite(r["value"])]
        if not finite:
            continue
        worst = max(finite, key=lambda r: metric.badness(r["value"]))
        errors = _errors(finite, metric)
        ce = rce = float("nan")
        ref_items = groups.get((task, metric_name, reference or "", kind), [])
        ref_errors = _errors([r for r in ref_items if np.isfinite(r["value"])], metric)
        if reference and errors and ref_errors and set(errors) == set(ref_errors):
            ce = corruption_error(errors, ref_errors)
            rce = relative_corruption_error(
                metric.error(finite[0]["clean_value"]), errors,
                metric.error(ref_items[0]["clean_value"]), ref_errors)
        out.append({"task": task, "metric": metric_name, "adapter": adapter, "kind": kind,
                    "worst_value": worst["value"], "worst_severity": worst["severity"],
                    "worst_delta": worst["delta"],
                    "mean_error": float(np.mean(list(errors.values()))) if errors else np.nan,
                    "corruption_error": ce, "relative_corruption_error": rce})
    return out


def _errors(items: Sequence[Mapping[str, Any]], metric: Metric) -> dict[int, float]:
    """Error (distance from the metric's ideal) per severity, finite ones only."""
    out = {int(r["severity"]): metric.error(float(r["value"])) for r in items}
    return {k: v for k, v in out.items() if np.isfinite(v)}


def ablation_rows(config: BenchConfig, cohort: Cohort, preds: Sequence[ClassPredictions],
                  rec_values: Mapping[tuple[str, str], Mapping[str, Mapping[str, float]]],
                  rec_failed: Mapping[tuple[str, str], set[str]]) -> list[dict[str, Any]]:
    """Paired per-case effect of each declared modality (with − without) and its tests.

    Recurrence uses the per-case metric; classification the per-case probability of the
    true class (``p_true``)."""
    stats = config.statistics
    case_ids = [c.case_id for c in cohort.cases]
    subjects = np.array([c.subject_id for c in cohort.cases], dtype=object)
    rows = []
    for ablation in config.ablations:
        without_id = ablation_variant(ablation.modality).id
        if ablation.task == "recurrence":
            metric = get(ablation.metric)
            with_v = case_values(metric.name, case_ids,
                                 rec_values.get((ablation.adapter, CLEAN), {}),
                                 rec_failed.get((ablation.adapter, CLEAN), set()),
                                 metric.worst, config.failure_policy)
            without_v = case_values(metric.name, case_ids,
                                    rec_values.get((ablation.adapter, without_id), {}),
                                    rec_failed.get((ablation.adapter, without_id), set()),
                                    metric.worst, config.failure_policy)
            metric_name = metric.name
        else:
            with_v = _p_true(preds, ablation.task, ablation.adapter, CLEAN, cohort)
            without_v = _p_true(preds, ablation.task, ablation.adapter, without_id, cohort)
            metric_name = "p_true"
        row: dict[str, Any] = {"ablation": ablation.label, "adapter": ablation.adapter,
                               "modality": ablation.modality, "task": ablation.task,
                               "metric": metric_name,
                               "with_value": float(np.nanmean(with_v)) if np.isfinite(
                                   with_v).any() else np.nan,
                               "without_value": float(np.nanmean(without_v)) if np.isfinite(
                                   without_v).any() else np.nan}
        try:
            result = ablation_test(with_v, without_v, subjects,
                                   n_resamples=stats.n_resamples, alpha=stats.alpha,
                                   seed=stats.seed)
        except InputError as exc:
            row.update({"test": f"not tested: {exc}", "n": 0})
        else:
            row.update({k: result[k] for k in ("estimate", "ci_low", "ci_high", "p_value",
                                               "test", "p_wilcoxon", "n", "n_subjects")})
        rows.append(row)
    return rows


def _p_true(preds: Sequence[ClassPredictions], task: str, adapter: str, variant: str,
            cohort: Cohort) -> np.ndarray:
    pred = next((p for p in preds if (p.task, p.adapter, p.variant) == (task, adapter, variant)),
                None)
    out = np.full(len(cohort.cases), np.nan)
    if pred is None:
        return out
    for i, case in enumerate(cohort.cases):
        truth = case.labels.get(task)
        if truth and truth in pred.classes:
            out[i] = pred.proba[i, pred.classes.index(truth)]
    return out


def site_shift_rows(site_rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Worst and best site and the spread per (task, metric, adapter)."""
    groups: dict[tuple[str, str, str], dict[str, float]] = {}
    for row in site_rows:
        if row["site"] == "(heterogeneity)":
            continue
        groups.setdefault((row["task"], row["metric"], row["adapter"]), {})[
            str(row["site"])] = float(row["value"])
    out = []
    for (task, metric_name, adapter), by_site in sorted(groups.items()):
        metric: Metric = get(metric_name)
        spread = site_spread(by_site, badness=metric.badness)
        out.append({"task": task, "metric": metric_name, "adapter": adapter, **spread})
    return out


def _flat(record: JobRecord | None) -> list[np.ndarray]:
    """A record's outputs as arrays in a fixed order (for repeat comparisons)."""
    if record is None or record.failure is not None:
        return []
    parts = [np.array([p for _, probs in sorted(record.classification.items())
                       for _, p in sorted(probs.items())], dtype=np.float64)]
    if record.features is not None:
        parts.append(np.array([v for _, v in sorted(record.features.items())]))
    if record.recurrence is not None:
        parts.append(np.asarray(record.recurrence))
    return parts


def reproducibility_rows(config: BenchConfig, cohort: Cohort, plan: Sequence[JobSpec],
                         store: PredictionStore, preds: Sequence[ClassPredictions],
                         ) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    rows.extend(_determinism(plan, store))
    rows.extend(_test_retest(config, cohort, preds))
    rows.extend(_agreement(cohort, preds))
    return rows


def _determinism(plan: Sequence[JobSpec], store: PredictionStore) -> list[dict[str, Any]]:
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


def _test_retest(config: BenchConfig, cohort: Cohort,
                 preds: Sequence[ClassPredictions]) -> list[dict[str, Any]]:
    first_tp, second_tp = config.reproducibility.retest_timepoints
    index = {c.case_id: i for i, c in enumerate(cohort.cases)}
    by_subject: dict[str, dict[str, str]] = {}
    for case in cohort.cases:
        if case.timepoint in (first_tp, second_tp):
            by_subject.setdefault(case.subject_id, {})[case.timepoint] = case.case_id
    pairs = [(index[v[first_tp]], index[v[second_tp]]) for v in by_subject.values()
             if first_tp in v and second_tp in v]
    if len(pairs) < 3:
        return []
    rows = []
    for pred in preds:
        if pred.variant != CLEAN:
            continue
        column = len(pred.classes) - 1 if len(pred.classes) == 2 else None
        if column is None:
            continue
        a = np.array([pred.proba[i, column] for i, _ in pairs])
        b = np.array([pred.proba[j, column] for _, j in pairs])
        if (np.isfinite(a) & np.isfinite(b)).sum() < 3:
            continue
        res = retest_agreement(a, b)
        for metric, value, low, high in (
                ("icc2_1", res["icc2"], res["icc2_low"], res["icc2_high"]),
                ("icc3_1", res["icc3"], res["icc3_low"], res["icc3_high"]),
                ("bland_altman_bias", res["bias"], res["bias_low"], res["bias_high"]),
                ("bland_altman_loa", np.nan, res["loa_low"], res["loa_high"])):
            rows.append({"analysis": "test_retest", "task": pred.task, "adapter": pred.adapter,
                         "metric": metric, "value": value, "ci_low": low, "ci_high": high,
                         "n": res["n"], "detail": f"p({pred.classes[column]}), "
                                                  f"{first_tp} vs {second_tp}"})
    return rows


def _agreement(cohort: Cohort, preds: Sequence[ClassPredictions]) -> list[dict[str, Any]]:
    rows = []
    tasks = sorted({p.task for p in preds if p.variant == CLEAN})
    for task in tasks:
        clean = [p for p in preds if p.task == task and p.variant == CLEAN]
        if len(clean) < 2:
            continue
        ok = ~np.any([p.failed for p in clean], axis=0)
        if ok.sum() < 2:
            continue
        labels = [np.asarray(p.classes)[np.argmax(p.proba[ok], axis=1)] for p in clean]
        kappa = label_agreement(labels)
        rows.append({"analysis": "agreement", "task": task, "adapter": "(all)",
                     "metric": "fleiss_kappa", "value": kappa, "ci_low": np.nan,
                     "ci_high": np.nan, "n": int(ok.sum()),
                     "detail": ", ".join(p.adapter for p in clean)})
    return rows
