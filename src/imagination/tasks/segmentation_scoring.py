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

import io
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from imagination.atomic import atomic_write_bytes
from imagination.cohort.labelmap import LabelMap
from imagination.cohort.loading import load_case
from imagination.cohort.vocabulary import SCORED_REGIONS
from imagination.engine.case_scoring import STABILITY_SUFFIX, CaseScore, case_task_tables
from imagination.engine.plan import CLEAN, JobSpec
from imagination.metrics.brats import NSD_TOLERANCE_MM, region_scores
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
    """(region, score) of every job, one case and one label map in memory at a time."""
    by_case: dict[str, list[JobSpec]] = {}
    for job in jobs:
        by_case.setdefault(job.case.case_id, []).append(job)
    examples: dict[str, tuple[int, str, dict[str, Any]]] = {}  # adapter -> largest WT case
    for case in ctx.cohort.cases:
        case_jobs = by_case.get(case.case_id, [])
        truth_map = case.label_map
        if not case_jobs or truth_map is None or "tumor" not in case.masks:
            continue
        loaded = load_case(case)
        truth = loaded.masks["tumor"]
        spacing = loaded.grid.spacing
        clean: dict[str, dict[str, np.ndarray]] = {}
        for job in sorted(case_jobs, key=lambda j: j.variant.kind is not None):
            pred_map = declared_label_map(ctx.adapters.get(job.adapter_label))
            regions = [r for r in truth_map.scored_regions()
                       if pred_map is not None and pred_map.defines(r)]
            record = ctx.store.get(job.key)
            labels = None if record is None else record.outputs.get(task)
            if record is None or record.failure is not None or labels is None:
                reason = ("missing: no stored result" if record is None else
                          f"{(record.failure or {}).get('kind', 'error')}: "
                          f"{(record.failure or {}).get('reason', 'no label map')}")
                for region in regions:
                    yield region, CaseScore(job, None, reason)
                continue
            assert pred_map is not None
            box = union_box(truth, labels) or tuple(slice(0, 1) for _ in truth.shape)
            t = truth_map.region_masks(truth[box], regions)
            p = pred_map.region_masks(labels[box], regions)
            if job.variant.kind is None:
                clean[job.adapter_label] = {r: _placed(p[r], box, truth.shape) for r in regions}
            for region in regions:
                values = region_scores(t[region], p[region], spacing,
                                       tolerance_mm=NSD_TOLERANCE_MM)
                reference = clean.get(job.adapter_label, {}).get(region)
                if job.variant.kind is not None and reference is not None:
                    values[STABILITY + STABILITY_SUFFIX] = dice(
                        reference, _placed(p[region], box, truth.shape), spacing)
                yield region, CaseScore(job, values, "")
            size = int(np.count_nonzero(t["WT"])) if "WT" in t else 0
            if (examples_dir is not None and job.variant.kind is None and size
                    and size > examples.get(job.adapter_label, (0, "", {}))[0]):
                examples[job.adapter_label] = (size, case.case_id, example_arrays(
                    loaded.images, truth_map, truth, pred_map, labels, spacing))
    if examples_dir is not None:
        for adapter, (_, case_id, arrays) in sorted(examples.items()):
            write_example(examples_dir / f"segmentation_{adapter}_{case_id}.npz", arrays)


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
