"""Scoring of the classification family: probabilities (cross-fitted for learning baselines)
-> predictions, per-case ``p_true``/``correct``, leaderboard, comparisons, sites, robustness
(metric deltas and flip rates), modality ablations (``p_true``), test-retest and agreement."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from imagination.adapters.registry import is_learning
from imagination.cohort.cohort import Cohort
from imagination.cohort.vocabulary import POSITIVE_CLASS
from imagination.engine import aggregate as agg
from imagination.engine.materialize import ClassPredictions, classification_predictions
from imagination.engine.plan import CLEAN, ablation_variant
from imagination.engine.robustness_scoring import (
    ablation_only_variants,
    ablation_row,
    kind_severity,
    robustness_row,
)
from imagination.metrics.registry import get
from imagination.stats.bootstrap import interval, resample_weights
from imagination.stats.robustness import flip_rate, label_agreement, retest_agreement
from imagination.tasks.base import ScoringContext, TaskKind, TaskTables

Prepared = tuple[agg.ClassData, tuple[str, ...], str | None]


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


def prepare(pred: ClassPredictions, cohort: Cohort, policy: str,
            also_failed: np.ndarray | None = None) -> Prepared | None:
    """Scorable data of one prediction set (classes present in the truth), or ``None``."""
    data, all_classes = _class_data(pred, cohort, policy, also_failed)
    classes = _present_classes(all_classes, data.y_true)
    if data.y_true.size == 0 or len(classes) < 2:
        return None
    positive = POSITIVE_CLASS.get(pred.task) if len(classes) == 2 else None
    if len(classes) == 2 and positive not in classes:
        positive = classes[1]
    return _restrict(data, all_classes, classes), classes, positive


def score_classification(kind: TaskKind, ctx: ScoringContext,
                         tasks: Sequence[str]) -> TaskTables:
    config, cohort = ctx.config, ctx.cohort
    learners = {k: a for k, a in ctx.adapters.items() if is_learning(a)}
    jobs = [job for job in ctx.plan if set(job.tasks) & set(tasks)]
    preds = classification_predictions(config, list(cohort.cases), jobs, ctx.records, learners,
                                       ctx.vocabularies, tasks)
    out = TaskTables()
    _prediction_rows(preds, cohort, out)
    scored = sorted({p.task for p in preds})
    for n_task, task in enumerate(scored):
        clean = [p for p in preds if p.task == task and p.variant == CLEAN]
        prepared = [prepare(p, cohort, config.failure_policy) for p in clean]
        if not clean or any(x is None for x in prepared):
            continue
        datas = [x[0] for x in prepared]  # type: ignore[index]
        classes, positive = prepared[0][1], prepared[0][2]  # type: ignore[index]
        for metric in (get(n) for n in kind.metric_names(task, config, len(classes))):
            if metric.applies_to == "binary" and len(classes) != 2:
                continue
            aggregate = agg.aggregate_classification(metric, datas, classes, positive,
                                                     config.statistics)
            out.leaderboard.extend(agg.leaderboard_rows(task, metric, aggregate,
                                                        config.statistics))
            out.comparisons.extend(agg.comparison_rows(
                task, metric, aggregate, config.statistics,
                agg.classification_pair_test(metric, datas, classes, positive)))
            if metric.name in kind.site_metrics:
                out.sites.extend(agg.classification_site_rows(task, metric, datas, classes,
                                                              positive, config.statistics))
        if ctx.progress:
            ctx.progress("scoring", n_task + 1, len(scored) + 1)
    out.robustness.extend(_robustness(kind, ctx, preds))
    out.ablation.extend(_ablations(ctx, preds, tasks))
    out.reproducibility.extend(retest_rows(config, cohort, preds))
    out.reproducibility.extend(agreement_rows(cohort, preds))
    return out


def _prediction_rows(preds: Sequence[ClassPredictions], cohort: Cohort, out: TaskTables) -> None:
    case_index = {c.case_id: c for c in cohort.cases}
    for pred in preds:
        for i, case_id in enumerate(pred.case_ids):
            case = case_index[case_id]
            truth = case.labels.get(pred.task)
            if pred.failed[i]:
                continue
            for j, cls in enumerate(pred.classes):
                out.predictions.append({"task": pred.task, "adapter": pred.adapter,
                                        "perturbation": pred.variant, "case_id": case_id,
                                        "subject_id": case.subject_id, "site": case.site,
                                        "truth": truth or "", "class": cls,
                                        "probability": float(pred.proba[i, j])})
            if truth:
                k = pred.classes.index(truth)
                argmax = pred.classes[int(np.argmax(pred.proba[i]))]
                for metric, value in (("p_true", float(pred.proba[i, k])),
                                      ("correct", float(argmax == truth))):
                    out.per_case.append({"task": pred.task, "adapter": pred.adapter,
                                         "perturbation": pred.variant, "case_id": case_id,
                                         "subject_id": case.subject_id, "site": case.site,
                                         "metric": metric, "value": value})


def _robustness(kind: TaskKind, ctx: ScoringContext,
                preds: Sequence[ClassPredictions]) -> list[dict[str, Any]]:
    """Per (task, adapter, variant): metric under the variant vs clean, paired delta, flips."""
    config, cohort = ctx.config, ctx.cohort
    stats = config.statistics
    ablation_only = ablation_only_variants(config)
    clean = {(p.task, p.adapter): p for p in preds if p.variant == CLEAN}
    rows: list[dict[str, Any]] = []
    for pred in preds:
        if pred.variant == CLEAN or (pred.adapter, pred.variant) in ablation_only:
            continue
        base = clean.get((pred.task, pred.adapter))
        if base is None:
            continue
        prepared_clean = prepare(base, cohort, config.failure_policy)
        prepared = prepare(pred, cohort, config.failure_policy)
        if prepared_clean is None or prepared is None:
            continue
        (c_data, classes, positive), (p_data, _, _) = prepared_clean, prepared
        kind_name, severity = kind_severity(pred.variant)
        weights = resample_weights(c_data.subjects, strata=c_data.y_true,
                                   n_resamples=stats.n_resamples, seed=stats.seed)
        names = config.robustness.metrics.get(pred.task, list(kind.robustness_metrics))
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
            rows.append(robustness_row(pred.task, metric.name, pred.adapter, pred.variant,
                                       kind_name, severity, value, clean_value,
                                       value - clean_value, low, high, c_data.y_true.size))
        both = ~(base.failed | pred.failed)
        flips = flip_rate(np.asarray(base.classes)[np.argmax(np.nan_to_num(base.proba[both]), 1)],
                          np.asarray(pred.classes)[np.argmax(np.nan_to_num(pred.proba[both]), 1)])
        rows.append(robustness_row(pred.task, "flip_rate", pred.adapter, pred.variant,
                                   kind_name, severity, flips, 0.0, flips, np.nan, np.nan,
                                   int(both.sum())))
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


def _ablations(ctx: ScoringContext, preds: Sequence[ClassPredictions],
               tasks: Sequence[str]) -> list[dict[str, Any]]:
    """Modality ablations of classification tasks: per-case probability of the true class."""
    rows = []
    for ablation in ctx.config.ablations:
        if ablation.task not in tasks:
            continue
        without_id = ablation_variant(ablation.modality).id
        with_v = _p_true(preds, ablation.task, ablation.adapter, CLEAN, ctx.cohort)
        without_v = _p_true(preds, ablation.task, ablation.adapter, without_id, ctx.cohort)
        rows.append(ablation_row(ctx.config, ctx.cohort, ablation, "p_true", with_v, without_v))
    return rows


def retest_rows(config: Any, cohort: Cohort,
                     preds: Sequence[ClassPredictions]) -> list[dict[str, Any]]:
    """ICC(2,1), ICC(3,1) and Bland–Altman of p(positive) between a subject's test and retest
    scans (none with fewer than three pairs)."""
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


def agreement_rows(cohort: Cohort, preds: Sequence[ClassPredictions]) -> list[dict[str, Any]]:
    """Fleiss' kappa of the predicted classes of all clean adapters, per task."""
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
