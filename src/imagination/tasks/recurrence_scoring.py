"""Per-case recurrence scoring: load each case's truth once, score every stored map of it.

Also writes one example slice per adapter (``examples/recurrence_<adapter>_<case>.npz``)."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imagination.atomic import atomic_write_bytes
from imagination.cohort.case import Case, LoadedCase
from imagination.cohort.loading import open_case
from imagination.engine.case_pool import map_cases
from imagination.engine.case_scoring import CaseScore, stored_output
from imagination.engine.hashing import canonical_json, file_digest
from imagination.engine.plan import JobSpec
from imagination.engine.store import PredictionStore
from imagination.metrics.recurrence import (
    isovolumetric_plan,
    recurrence_case_metrics,
    standard_plan,
)
from imagination.metrics.registry import available, policy_versions
from imagination.runfolder import inside
from imagination.stats.robustness import plan_dice

TASK = "recurrence"


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


def score_recurrence(cases: Sequence[Case], jobs: Sequence[JobSpec], store: PredictionStore,
                     *, margin_mm: float, examples_dir: Path | None = None, workers: int = 1,
                     ) -> Iterator[CaseScore]:
    """Score every recurrence job, one case (and one map) in memory at a time per process.

    Cases whose scores the store does not remember yet are scored first, in ``workers``
    processes, and remembered; then every case's scores come from the memo, in case order.
    Perturbed jobs also get ``plan_dice_vs_clean``: the Dice of their plan with the clean one."""
    by_case: dict[str, list[JobSpec]] = {}
    for job in jobs:
        by_case.setdefault(job.case.case_id, []).append(job)
    todo = [(case, by_case[case.case_id]) for case in cases if case.case_id in by_case]
    keys = {case.case_id: _scores_key(case, case_jobs, store, margin_mm)
            for case, case_jobs in todo}
    found = {case.case_id: store.lookup_scores(keys[case.case_id]) for case, _ in todo}
    missing = [item for item in todo if found[item[0].case_id] is None]
    for (case, _), rows in zip(missing, map_cases(_score_case, (store, margin_mm), missing,
                                                  workers), strict=True):
        store.remember_scores(keys[case.case_id], rows)
        found[case.case_id] = rows
    example_written: set[str] = set()
    for case, case_jobs in todo:
        by_key = {job.key: job for job in case_jobs}
        scores = [CaseScore(by_key[key], values, reason)
                  for key, values, reason in found[case.case_id]]
        if examples_dir is not None:
            _restore_examples(examples_dir, case, scores, store, example_written, margin_mm)
        yield from scores


def _score_case(shared: tuple[PredictionStore, float], item: tuple[Case, list[JobSpec]]
                ) -> list[list[Any]]:
    """``[job key, values or None, reason]`` of every job of one case (a worker's unit)."""
    store, margin_mm = shared
    case, case_jobs = item
    truth = recurrence_truth(open_case(case))
    if truth is None:
        return []
    rows: list[list[Any]] = []
    std = standard_plan(truth.core, truth.brain, truth.spacing, margin_mm)
    k = int(np.count_nonzero(std))
    perturbed = {j.adapter_label for j in case_jobs if j.variant.kind is not None}
    clean_plans: dict[str, np.ndarray] = {}
    for job in sorted(case_jobs, key=lambda j: j.variant.kind is not None):
        score_map, reason = stored_output(store, job, TASK, "no map")
        if score_map is None:
            rows.append([job.key, None, reason])
            continue
        values = declared_edge_cases(recurrence_case_metrics(
            score_map, truth.recurrence, truth.core, truth.brain, truth.spacing,
            margin_mm=margin_mm, enhancing_mask=truth.enhancing, standard=std), truth, k)
        if job.adapter_label in perturbed:  # plans are compared with the clean one
            plan = isovolumetric_plan(score_map, truth.brain, k, truth.spacing)
            if job.variant.kind is None:
                clean_plans[job.adapter_label] = plan
            elif job.adapter_label in clean_plans:
                values["plan_dice_vs_clean"] = plan_dice(clean_plans[job.adapter_label], plan)
        rows.append([job.key, values, ""])
    return rows


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
    """``examples/recurrence_<adapter>_<case>.npz``, refused if the ids would leave the folder."""
    return inside(folder, f"recurrence_{job.adapter_label}_{job.case.case_id}.npz")


def _restore_examples(folder: Path, case: Case, scores: Sequence[CaseScore],
                      store: PredictionStore, written: set[str], margin_mm: float) -> None:
    """Write the example slices this case owes (the first candidate per adapter, in case
    order) that are missing on disk (idempotent: an existing file is kept)."""
    owed = [s.job for s in scores if s.job.adapter_label not in written
            and _example_candidate(s.job, s.values, case)]
    written.update(job.adapter_label for job in owed)
    missing = [job for job in owed if not example_path(folder, job).is_file()]
    if not missing:
        return
    truth = recurrence_truth(open_case(case))
    if truth is None or truth.t1c is None:
        return
    std = standard_plan(truth.core, truth.brain, truth.spacing, margin_mm)
    for job in missing:
        record = store.get(job.key)
        score_map = None if record is None else record.outputs.get(TASK)
        if score_map is not None:
            write_example(folder, job, truth, score_map, std)


#: Bump when the scoring of a case changes in a way the metric versions do not record.
SCORES_VERSION = 1


def _scores_key(case: Case, jobs: Sequence[JobSpec], store: PredictionStore,
                margin_mm: float) -> str:
    """Content key of a case's recurrence scores: its jobs' keys, the digests of its truth
    files (masks, T1c for the example), the label map, the margin and the metric versions."""
    files = {f"mask_{name}": path for name, path in case.masks.items()}
    root = None if case.manifest is None else case.manifest.parent
    if "t1c" in case.images:
        files["t1c"] = case.images["t1c"]
    document = {
        "version": SCORES_VERSION, "jobs": sorted(job.key for job in jobs),
        "truth": {name: file_digest(path, store, root=root)
                  for name, path in sorted(files.items())},
        "label_map": None if case.label_map is None else {
            str(code): region for code, region in sorted(case.label_map.codes.items())},
        "margin_mm": margin_mm, "metrics": policy_versions(),
    }
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()


def write_example(folder: Path, job: JobSpec, truth: RecurrenceTruth, score_map: np.ndarray,
                  std: np.ndarray) -> Path:
    """An axial slice (the one with most recurrence) of T1c, recurrence and both plans."""
    model = isovolumetric_plan(score_map, truth.brain, int(np.count_nonzero(std)),
                               truth.spacing)
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

