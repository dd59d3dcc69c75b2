"""Stored job records -> class probabilities per (task, adapter, variant), cross-fitting the
baselines that learn (``extract`` features per case, ``fit_predict`` per fold)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from imagination.adapters.crossfit import crossfit_predict, feature_matrix
from imagination.adapters.protocol import LearningAdapter
from imagination.cohort.case import Case
from imagination.config import BenchConfig
from imagination.engine.plan import CLEAN, JobSpec
from imagination.engine.store import JobRecord, PredictionStore

#: Variant id of the learning baselines refitted leaving one site out (site shift).
LOSO = "loso"


@dataclass
class ClassPredictions:
    """One adapter's probabilities for one task under one variant, over the cohort's cases.

    ``proba[i]`` is NaN where case ``i`` failed (``reasons[case_id]`` says why).
    """

    task: str
    adapter: str
    variant: str
    classes: tuple[str, ...]
    case_ids: tuple[str, ...]
    proba: np.ndarray
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> np.ndarray:
        return ~np.all(np.isfinite(self.proba), axis=1)


def records_by_job(plan: Sequence[JobSpec], store: PredictionStore,
                   *, with_maps: bool = False) -> dict[str, JobRecord | None]:
    """Each planned job's record (``None`` where the store lacks it).

    Without ``with_maps`` the voxel maps are not read, to keep memory at one map at a time.
    """
    return {job.key: store.get(job.key, maps=with_maps) for job in plan}


def _failure_reason(record: JobRecord | None) -> str:
    if record is None:
        return "missing: the job has no stored result"
    if record.failure is not None:
        return f"{record.failure.get('kind', 'error')}: {record.failure.get('reason', '')}"
    return ""


def classification_predictions(
    config: BenchConfig,
    cases: Sequence[Case],
    plan: Sequence[JobSpec],
    records: Mapping[str, JobRecord | None],
    learners: Mapping[str, LearningAdapter],
    vocabularies: Mapping[str, tuple[str, ...]],
    tasks: Sequence[str],
) -> list[ClassPredictions]:
    """Probabilities per (adapter, variant, task) for the class-probability ``tasks``, in
    cohort order."""
    index = {c.case_id: i for i, c in enumerate(cases)}
    case_ids = tuple(c.case_id for c in cases)
    grouped: dict[tuple[str, str], list[JobSpec]] = {}
    for job in plan:
        grouped.setdefault((job.adapter_label, job.variant.id), []).append(job)
    out: list[ClassPredictions] = []
    for (label, variant), jobs in grouped.items():
        asked = [t for t in jobs[0].tasks if t in tasks]
        if not asked:
            continue
        if jobs[0].kind == "features":
            clean_jobs = grouped.get((label, CLEAN), jobs)
            out.extend(_crossfitted(config, cases, index, clean_jobs, jobs, records,
                                    learners[label], asked, vocabularies))
            continue
        for task in asked:
            classes = vocabularies[task]
            proba = np.full((len(cases), len(classes)), np.nan)
            reasons: dict[str, str] = {}
            for job in jobs:
                record = records.get(job.key)
                row = index[job.case.case_id]
                if record is None or record.failure is not None:
                    reasons[job.case.case_id] = _failure_reason(record)
                    continue
                probs = record.outputs.get(task) or {}
                proba[row] = [probs.get(c, np.nan) for c in classes]
            out.append(ClassPredictions(task, label, variant, classes, case_ids, proba, reasons))
    return out


def _features(jobs: Sequence[JobSpec], records: Mapping[str, JobRecord | None],
              index: Mapping[str, int], n: int) -> tuple[list[dict[str, float]], dict[str, str]]:
    rows: list[dict[str, float]] = [{} for _ in range(n)]
    reasons: dict[str, str] = {}
    for job in jobs:
        record = records.get(job.key)
        if record is None or record.failure is not None or record.features is None:
            reasons[job.case.case_id] = _failure_reason(record)
            continue
        rows[index[job.case.case_id]] = dict(record.features)
    return rows, reasons


def _crossfitted(config: BenchConfig, cases: Sequence[Case], index: Mapping[str, int],
                 clean_jobs: Sequence[JobSpec], jobs: Sequence[JobSpec],
                 records: Mapping[str, JobRecord | None], adapter: LearningAdapter,
                 tasks: Sequence[str], vocabularies: Mapping[str, tuple[str, ...]],
                 ) -> list[ClassPredictions]:
    """Out-of-fold predictions: folds fitted on clean features, applied to this variant's."""
    n = len(cases)
    clean_rows, clean_reasons = _features(clean_jobs, records, index, n)
    test_rows, reasons = _features(jobs, records, index, n)
    names, clean_matrix = feature_matrix(clean_rows)
    test_matrix = np.array([[row.get(k, np.nan) for k in names] for row in test_rows],
                           dtype=np.float64).reshape(n, len(names))
    clean_ok = np.array([c.case_id not in clean_reasons for c in cases])
    test_ok = np.array([c.case_id not in reasons for c in cases])
    # failed rows get neutral (median) features so the fit can run; their output is discarded
    fill = np.nanmedian(np.where(clean_ok[:, None], clean_matrix, np.nan), axis=0) if (
        clean_ok.any() and names) else np.zeros(len(names))
    fill = np.nan_to_num(fill)
    clean_matrix = np.where(clean_ok[:, None], clean_matrix, fill)
    test_matrix = np.where(test_ok[:, None], test_matrix, fill)
    subjects = [c.subject_id for c in cases]
    sites = [c.site for c in cases]
    # site shift: the clean features refitted leaving one site out, as an extra variant
    schemes = [(jobs[0].variant.id, config.crossfit.leave_one_site_out)]
    if (jobs[0].variant.id == CLEAN and config.site_shift.leave_one_site_out
            and not config.crossfit.leave_one_site_out and len(set(sites)) >= 2):
        schemes.append((LOSO, True))
    out = []
    for task in tasks:
        classes = vocabularies[task]
        labels = [c.labels.get(task) if ok else None for c, ok in zip(cases, clean_ok,
                                                                        strict=True)]
        for variant, loso in schemes:
            proba = crossfit_predict(adapter, task, classes, clean_matrix, labels, subjects,
                                     sites, n_folds=config.crossfit.n_folds,
                                     seed=config.crossfit.seed, leave_one_site_out=loso,
                                     test_features=test_matrix)
            proba = np.where(test_ok[:, None], proba, np.nan)
            out.append(ClassPredictions(task, jobs[0].adapter_label, variant, classes,
                                        tuple(c.case_id for c in cases), proba, dict(reasons)))
    return out

