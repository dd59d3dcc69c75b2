"""Per-case segmentation scoring: each case's truth loaded once, every stored label map of it
scored per region, and the region-tagged rows of every table.

Regions: those both the manifest's label map and the adapter's declared label map define
(``LabelMap.scored_regions``). Both label maps are cropped to the union of their non-zero
voxels before the region masks are drawn (exact: nothing outside is tumour on either side).
The per-case frame (``engine.case_scoring``) runs once per region; each of its rows gets the
``region`` column. Also written: one example slice per adapter, of the case with the largest
whole tumour (``examples/segmentation_<adapter>_<case>.npz``), and the test–retest agreement
of predicted volumes (``reproducibility.csv``)."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from imagination.atomic import atomic_write_bytes
from imagination.cohort.case import Case
from imagination.cohort.labelmap import LabelMap
from imagination.cohort.loading import open_case
from imagination.cohort.vocabulary import SCORED_REGIONS
from imagination.engine.case_pool import local_processes, map_cases
from imagination.engine.case_scoring import (
    STABILITY_SUFFIX,
    CaseScore,
    case_task_tables,
    stored_output,
)
from imagination.engine.hashing import canonical_json, file_digest
from imagination.engine.plan import CLEAN, JobSpec
from imagination.engine.store import PredictionStore
from imagination.metrics.brats import NSD_TOLERANCE_MM, region_scores
from imagination.metrics.registry import policy_versions
from imagination.metrics.segmentation import dice, union_box
from imagination.stats.robustness import retest_agreement
from imagination.tasks.base import ScoringContext, TaskKind, TaskTables

#: stability metric: Dice of an adapter's perturbed and clean predictions of one region
STABILITY = "seg_dice"
#: the volume whose test-retest agreement ``reproducibility.csv`` reports, per region
RETEST_VALUE = "volume_ml_pred"


def declared_label_map(adapter: object) -> LabelMap | None:
    """The label map a segmentation adapter declares (``label_map`` attribute)."""
    found = getattr(adapter, "label_map", None)
    return found if isinstance(found, LabelMap) else None


def segmentation_tables(kind: TaskKind, ctx: ScoringContext, task: str) -> TaskTables:
    """Every table's rows of one segmentation task, with a ``region`` column."""
    jobs = [j for j in ctx.plan if task in j.tasks]
    by_region: dict[str, list[CaseScore]] = {}
    for region, score in score_segmentation(ctx, jobs, task,
                                            examples_dir=ctx.run_dir / "examples"):
        by_region.setdefault(region, []).append(score)
    out = TaskTables()
    for region in (r for r in SCORED_REGIONS if r in by_region):
        tables = case_task_tables(kind, ctx, task, by_region[region])
        for name in tables.__dataclass_fields__:
            for row in getattr(tables, name):
                row["region"] = region
        out.extend(tables)
        out.reproducibility.extend(_test_retest(ctx, task, region, by_region[region]))
    return out


def score_segmentation(ctx: ScoringContext, jobs: Sequence[JobSpec], task: str, *,
                       examples_dir: Path | None = None) -> Iterator[tuple[str, CaseScore]]:
    """(region, score) of every job, in case order.

    Cases whose scores the store does not remember yet are scored first, one case and one
    label map in memory at a time per process, in the run's scoring processes, and
    remembered (``PredictionStore.remember_scores``); then every case comes from the memo."""
    by_case: dict[str, list[JobSpec]] = {}
    for job in jobs:
        by_case.setdefault(job.case.case_id, []).append(job)
    todo = [(case, by_case[case.case_id]) for case in ctx.cohort.cases
            if case.case_id in by_case and case.label_map is not None
            and "tumor" in case.masks]
    label_maps = {label: declared_label_map(adapter) for label, adapter in ctx.adapters.items()}
    keys = {case.case_id: _scores_key(task, case, case_jobs, ctx.store, label_maps)
            for case, case_jobs in todo}
    found = {case.case_id: ctx.store.lookup_scores(keys[case.case_id]) for case, _ in todo}
    missing = [item for item in todo if found[item[0].case_id] is None]
    shared = (ctx.store, label_maps, task)
    for (case, _), scored in zip(missing, map_cases(_score_case, shared, missing,
                                                    local_processes(ctx.config)), strict=True):
        ctx.store.remember_scores(keys[case.case_id], scored)
        found[case.case_id] = scored
    examples: dict[str, tuple[int, Any, str]] = {}  # adapter -> (WT voxels, case, job key)
    for case, case_jobs in todo:
        scored = found[case.case_id]
        by_key = {job.key: job for job in case_jobs}
        for key, region, values, reason in scored["rows"]:
            yield region, CaseScore(by_key[key], values, reason)
        for adapter, (size, key) in scored["examples"].items():
            if size > examples.get(adapter, (0, None, ""))[0]:
                examples[adapter] = (size, case, key)
    if examples_dir is not None:
        for adapter, (_, case, key) in sorted(examples.items()):
            _write_owed_example(examples_dir, ctx, task, case, key, label_maps[adapter])


#: Bump when the scoring of a case changes in a way the metric versions do not record.
SCORES_VERSION = 1


def _scores_key(task: str, case: Case, jobs: Sequence[JobSpec], store: PredictionStore,
                label_maps: Mapping[str, LabelMap | None]) -> str:
    """Content key of a case's scores for ``task``: its jobs' keys, the digest of its truth
    mask, both label maps, the surface tolerance and the metric versions."""
    root = None if case.manifest is None else case.manifest.parent
    document = {
        "version": SCORES_VERSION, "kind": "segmentation", "task": task,
        "jobs": sorted(job.key for job in jobs),
        "truth": file_digest(case.masks["tumor"], store, root=root),
        "label_map": _codes(case.label_map),
        "adapter_label_maps": {job.adapter_label: _codes(label_maps.get(job.adapter_label))
                               for job in sorted(jobs, key=lambda j: j.adapter_label)},
        "tolerance_mm": NSD_TOLERANCE_MM, "metrics": policy_versions(),
    }
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()


def _codes(label_map: LabelMap | None) -> dict[str, str] | None:
    return None if label_map is None else {
        str(code): region for code, region in sorted(label_map.codes.items())}


def _score_case(shared: tuple[PredictionStore, Mapping[str, LabelMap | None], str],
                item: tuple[Case, list[JobSpec]]) -> dict[str, Any]:
    """One case's ``rows`` (``[job key, region, values or None, reason]``) and, per adapter,
    its clean job's example size (whole-tumour voxels) and key: a scoring process's unit."""
    store, label_maps, task = shared
    case, case_jobs = item
    truth_map = case.label_map
    assert truth_map is not None
    loaded = open_case(case)
    truth = loaded.masks["tumor"]
    spacing = loaded.grid.spacing
    rows: list[list[Any]] = []
    examples: dict[str, tuple[int, str]] = {}
    clean: dict[str, dict[str, np.ndarray]] = {}
    for job in sorted(case_jobs, key=lambda j: j.variant.kind is not None):
        pred_map = label_maps.get(job.adapter_label)
        regions = [r for r in truth_map.scored_regions()
                   if pred_map is not None and pred_map.defines(r)]
        labels, reason = stored_output(store, job, task, "no label map")
        if labels is None:
            rows.extend([job.key, region, None, reason] for region in regions)
            continue
        assert pred_map is not None
        box = union_box(truth, labels) or tuple(slice(0, 1) for _ in truth.shape)
        t = truth_map.region_masks(truth[box], regions)
        p = pred_map.region_masks(labels[box], regions)
        if job.variant.kind is None:
            clean[job.adapter_label] = {r: _placed(p[r], box, truth.shape) for r in regions}
        for region in regions:
            values = region_scores(t[region], p[region], spacing, tolerance_mm=NSD_TOLERANCE_MM)
            reference = clean.get(job.adapter_label, {}).get(region)
            if job.variant.kind is not None and reference is not None:
                values[STABILITY + STABILITY_SUFFIX] = dice(
                    reference, _placed(p[region], box, truth.shape), spacing)
            rows.append([job.key, region, values, ""])
        size = int(np.count_nonzero(t["WT"])) if "WT" in t else 0
        if job.variant.kind is None and size:
            examples[job.adapter_label] = (size, job.key)
    return {"rows": rows, "examples": examples}


def _write_owed_example(folder: Path, ctx: ScoringContext, task: str, case: Case, key: str,
                        pred_map: LabelMap | None) -> None:
    """The example slice of the job ``key`` (an adapter's clean job on its case with the
    largest whole tumour, the first such case in cohort order), unless already on disk."""
    record = ctx.store.get(key)
    if record is None:
        return
    path = folder / f"segmentation_{record.adapter}_{case.case_id}.npz"
    labels = record.outputs.get(task)
    if labels is None or pred_map is None or case.label_map is None:
        return
    loaded = open_case(case)
    write_example(path, example_arrays(loaded.images, case.label_map, loaded.masks["tumor"],
                                       pred_map, labels, loaded.grid.spacing))


def _placed(mask: np.ndarray, box: tuple[slice, ...], shape: Sequence[int]) -> np.ndarray:
    out = np.zeros(tuple(shape), dtype=bool)
    out[box] = mask
    return out


def example_arrays(images: Mapping[str, np.ndarray], truth_map: LabelMap, truth: np.ndarray,
                   pred_map: LabelMap, labels: np.ndarray,
                   spacing: Sequence[float]) -> dict[str, Any]:
    """The axial slice with the most whole tumour: the image (FLAIR, else T1c, else any) and
    the truth and predicted masks of each region both maps define."""
    regions = [r for r in truth_map.scored_regions() if pred_map.defines(r)]
    t = truth_map.region_masks(truth, regions)
    p = pred_map.region_masks(labels, regions)
    z = int(np.argmax(t["WT"].sum(axis=(0, 1))))
    name = next((m for m in ("flair", "t1c") if m in images), next(iter(images), None))
    image = images[name][:, :, z] if name is not None else np.zeros(truth.shape[:2])
    arrays: dict[str, Any] = {"image": image, "image_modality": np.asarray(name or "none"),
                              "spacing": np.asarray(spacing), "slice_index": np.asarray(z)}
    for region in regions:
        arrays[f"truth_{region}"] = t[region][:, :, z]
        arrays[f"pred_{region}"] = p[region][:, :, z]
    return arrays


def write_example(path: Path, arrays: Mapping[str, Any]) -> Path:
    """``examples/segmentation_<adapter>_<case_id>.npz`` (2-D arrays ``image``,
    ``truth_<region>``, ``pred_<region>``; ``spacing``, ``image_modality``, ``slice_index``)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _test_retest(ctx: ScoringContext, task: str, region: str,
                 scores: Sequence[CaseScore]) -> list[dict[str, Any]]:
    """ICC and Bland–Altman of each adapter's predicted volume between the ``test`` and
    ``retest`` scans of a subject (clean jobs; at least 3 pairs)."""
    first_tp, second_tp = ctx.config.reproducibility.retest_timepoints
    volume: dict[str, dict[str, float]] = {}
    for s in scores:
        if s.job.variant.id == CLEAN and s.values is not None:
            volume.setdefault(s.job.adapter_label, {})[s.job.case.case_id] = s.values[RETEST_VALUE]
    by_subject: dict[str, dict[str, str]] = {}
    for case in ctx.cohort.cases:
        if case.timepoint in (first_tp, second_tp):
            by_subject.setdefault(case.subject_id, {})[str(case.timepoint)] = case.case_id
    pairs = [(v[first_tp], v[second_tp]) for v in by_subject.values()
             if first_tp in v and second_tp in v]
    rows: list[dict[str, Any]] = []
    for adapter, values in sorted(volume.items()):
        a = np.array([values.get(i, np.nan) for i, _ in pairs])
        b = np.array([values.get(j, np.nan) for _, j in pairs])
        if (np.isfinite(a) & np.isfinite(b)).sum() < 3:
            continue
        res = retest_agreement(a, b)
        for metric, value, low, high in (
                ("icc2_1", res["icc2"], res["icc2_low"], res["icc2_high"]),
                ("icc3_1", res["icc3"], res["icc3_low"], res["icc3_high"]),
                ("bland_altman_bias", res["bias"], res["bias_low"], res["bias_high"]),
                ("bland_altman_loa", np.nan, res["loa_low"], res["loa_high"])):
            rows.append({"analysis": "test_retest", "task": task, "adapter": adapter,
                         "metric": metric, "value": value, "ci_low": low, "ci_high": high,
                         "n": res["n"], "region": region,
                         "detail": f"{region} predicted volume (mL), {first_tp} vs "
                                   f"{second_tp}"})
    return rows
