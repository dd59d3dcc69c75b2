"""Per-case recurrence scoring: load each case's truth once, score every stored map of it."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imagination.atomic import atomic_write_bytes
from imagination.cohort.case import Case, LoadedCase
from imagination.cohort.loading import load_case
from imagination.engine.hashing import canonical_json, file_digest
from imagination.engine.plan import JobSpec
from imagination.engine.store import PredictionStore
from imagination.metrics.recurrence import (
    isovolumetric_plan,
    recurrence_case_metrics,
    standard_plan,
)
from imagination.metrics.registry import available, policy_versions
from imagination.stats.robustness import plan_dice


@dataclass
class RecurrenceTruth:
    """What scoring needs of a case: recurrence (all, enhancing), the core and the brain."""

    recurrence: np.ndarray
    enhancing: np.ndarray | None
    core: np.ndarray
    brain: np.ndarray
    spacing: tuple[float, float, float]
    t1c: np.ndarray | None


def recurrence_truth(loaded: LoadedCase) -> RecurrenceTruth | None:
    """Truth masks of a loaded case, or ``None`` when it has no follow-up recurrence mask.

    With a label map, all recurrence = ET + NETC + SNFH codes (cavity excluded, as
    PREDICT-GBM) and enhancing = ET codes; without one, every non-zero voxel is recurrence.
    The core for the standard plan is the pre-operative TC plus any resection cavity.
    """
    if "recurrence" not in loaded.masks:
        return None
    rec_codes = loaded.masks["recurrence"]
    label_map = loaded.case.label_map
    if label_map is not None:
        recurrence = label_map.region_mask(rec_codes, "WT")
        enhancing = label_map.region_mask(rec_codes, "ET")
    else:
        recurrence, enhancing = rec_codes > 0, None
    core = np.zeros(loaded.grid.shape, dtype=bool)
    if "tumor" in loaded.masks and label_map is not None:
        core |= loaded.region("TC") | label_map.region_mask(loaded.masks["tumor"], "RC")
    if "cavity" in loaded.masks:
        core |= loaded.masks["cavity"] > 0
    return RecurrenceTruth(recurrence, enhancing, core, loaded.brain(), loaded.grid.spacing,
                           loaded.images.get("t1c"))


@dataclass
class RecurrenceScore:
    job: JobSpec
    values: dict[str, float] | None  # None = failed or missing
    reason: str


def score_recurrence(cases: Sequence[Case], jobs: Sequence[JobSpec], store: PredictionStore,
                     *, margin_mm: float, examples_dir: Path | None = None,
                     ) -> Iterator[RecurrenceScore]:
    """Score every recurrence job, one case (and one map) in memory at a time."""
    by_case: dict[str, list[JobSpec]] = {}
    for job in jobs:
        by_case.setdefault(job.case.case_id, []).append(job)
    example_written: set[str] = set()
    for case in cases:
        case_jobs = by_case.get(case.case_id, [])
        if not case_jobs:
            continue
        memo_key = _scores_key(case, case_jobs, store, margin_mm)
        remembered = store.lookup_scores(memo_key)
        if remembered is not None:  # same predictions, same truth files, same metric versions
            by_key = {job.key: job for job in case_jobs}
            restored = [RecurrenceScore(by_key[key], values, reason)
                        for key, values, reason in remembered]
            if examples_dir is not None:
                _restore_examples(examples_dir, case, restored, store, example_written,
                                  margin_mm)
            yield from restored
            continue
        truth = recurrence_truth(load_case(case))
        if truth is None:
            store.remember_scores(memo_key, [])
            continue
        scored: list[RecurrenceScore] = []
        std = standard_plan(truth.core, truth.brain, truth.spacing, margin_mm)
        k = int(np.count_nonzero(std))
        perturbed = {j.adapter_label for j in case_jobs if j.variant.kind is not None}
        clean_plans: dict[str, np.ndarray] = {}
        for job in sorted(case_jobs, key=lambda j: j.variant.kind is not None):
            record = store.get(job.key)
            if record is None or record.failure is not None or record.recurrence is None:
                reason = ("missing: no stored result" if record is None else
                          f"{(record.failure or {}).get('kind', 'error')}: "
                          f"{(record.failure or {}).get('reason', 'no map')}")
                scored.append(RecurrenceScore(job, None, reason))
                continue
            values = declared_edge_cases(recurrence_case_metrics(
                record.recurrence, truth.recurrence, truth.core, truth.brain, truth.spacing,
                margin_mm=margin_mm, enhancing_mask=truth.enhancing, standard=std), truth, k)
            if job.adapter_label in perturbed:  # plans are compared with the clean one
                plan = isovolumetric_plan(record.recurrence, truth.brain, k)
                if job.variant.kind is None:
                    clean_plans[job.adapter_label] = plan
                elif job.adapter_label in clean_plans:
                    values["plan_dice_vs_clean"] = plan_dice(clean_plans[job.adapter_label],
                                                             plan)
            scored.append(RecurrenceScore(job, values, ""))
            if (examples_dir is not None and _example_candidate(job, values, case)
                    and job.adapter_label not in example_written and truth.t1c is not None):
                write_example(examples_dir, job, truth, record.recurrence, std)
                example_written.add(job.adapter_label)
        store.remember_scores(memo_key, [[s.job.key, s.values, s.reason] for s in scored])
        yield from scored


def declared_edge_cases(values: dict[str, float], truth: RecurrenceTruth,
                        plan_voxels: int) -> dict[str, float]:
    """Each recurrence metric's declared edge-case value (its registry table) where the
    recurrence (all or enhancing) or the plan is empty; the formula's value elsewhere."""
    empty_plan = plan_voxels == 0
    empty_all = not truth.recurrence.any()
    empty_enhancing = truth.enhancing is None or not truth.enhancing.any()
    for name in list(values):
        metric = _RECURRENCE_METRICS.get(name)
        if metric is None:
            continue
        empty = empty_enhancing if "enhancing" in name else empty_all
        declared = metric.edge_value(empty, empty_plan)
        if declared is not None:
            values[name] = declared
    return values


_RECURRENCE_METRICS = {m.name: m for m in available("recurrence")}


def _example_candidate(job: JobSpec, values: dict[str, float] | None, case: Case) -> bool:
    """A clean job of a case with recurrence and a T1c: the first per adapter is its example."""
    return (job.variant.kind is None and values is not None and "t1c" in case.images
            and float(values.get("recurrence_ml", 0.0)) > 0)


def example_path(folder: Path, job: JobSpec) -> Path:
    return folder / f"recurrence_{job.adapter_label}_{job.case.case_id}.npz"


def _restore_examples(folder: Path, case: Case, scores: Sequence[RecurrenceScore],
                      store: PredictionStore, written: set[str], margin_mm: float) -> None:
    """Scores came from the memo: write the example slices this case owes that are missing
    on disk (idempotent: an existing file is kept)."""
    owed = [s.job for s in scores if s.job.adapter_label not in written
            and _example_candidate(s.job, s.values, case)]
    written.update(job.adapter_label for job in owed)
    missing = [job for job in owed if not example_path(folder, job).is_file()]
    if not missing:
        return
    truth = recurrence_truth(load_case(case))
    if truth is None or truth.t1c is None:
        return
    std = standard_plan(truth.core, truth.brain, truth.spacing, margin_mm)
    for job in missing:
        record = store.get(job.key)
        if record is not None and record.recurrence is not None:
            write_example(folder, job, truth, record.recurrence, std)


#: Bump when the scoring of a case changes in a way the metric versions do not record.
SCORES_VERSION = 1


def _scores_key(case: Case, jobs: Sequence[JobSpec], store: PredictionStore,
                margin_mm: float) -> str:
    """Content key of a case's recurrence scores: its jobs' keys, the digests of its truth
    files (masks, T1c for the example), the label map, the margin and the metric versions."""
    files = {f"mask_{name}": path for name, path in case.masks.items()}
    if "t1c" in case.images:
        files["t1c"] = case.images["t1c"]
    document = {
        "version": SCORES_VERSION, "jobs": sorted(job.key for job in jobs),
        "truth": {name: file_digest(path, store) for name, path in sorted(files.items())},
        "label_map": None if case.label_map is None else {
            str(code): region for code, region in sorted(case.label_map.codes.items())},
        "margin_mm": margin_mm, "metrics": policy_versions(),
    }
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()


def write_example(folder: Path, job: JobSpec, truth: RecurrenceTruth, score_map: np.ndarray,
                  std: np.ndarray) -> Path:
    """An axial slice (the one with most recurrence) of T1c, recurrence and both plans."""
    model = isovolumetric_plan(score_map, truth.brain, int(np.count_nonzero(std)))
    z = int(np.argmax(truth.recurrence.sum(axis=(0, 1))))
    buffer = io.BytesIO()
    assert truth.t1c is not None
    np.savez_compressed(buffer, t1c=truth.t1c[:, :, z], recurrence=truth.recurrence[:, :, z],
                        standard_plan=std[:, :, z], model_plan=model[:, :, z],
                        spacing=np.asarray(truth.spacing), slice_index=np.asarray(z))
    path = example_path(folder, job)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())
    return path

