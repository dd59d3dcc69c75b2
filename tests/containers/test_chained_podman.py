"""Chained models: a segmenter's label map fed to a growth model, next to its reference twin."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from imagination.cli.app import run_app
from imagination.config import parse_config
from imagination.engine.bench import build_adapters, cohort_vocabularies, load_cohort
from imagination.engine.chaining import with_reference_twins
from imagination.engine.plan import build_plan
from tests.containers import expected

#: one worker runs every container test (one podman store, images loaded once)
pytestmark = pytest.mark.xdist_group("containers")


def chained_config(folder: Path, manifest: Path, archives,  # type: ignore[no-untyped-def]
                   *, seg_tasks: tuple[str, ...] = ("recurrence",),
                   seg_options: dict | None = None, timeout_s: int = 60,
                   **extra: object) -> Path:
    """A ``brats``-layout segmenter (``seg``) whose mask feeds a ``predict-gbm`` growth image
    (``growth``); ``extra`` adds or replaces top-level config keys."""
    seg_archive, seg_id = archives["brats"]
    growth_archive, growth_id = archives["predict-gbm"]
    seg_params = {"image_archive": str(seg_archive), "digest": seg_id, "layout": "brats",
                  "tasks": list(seg_tasks), "runtime": "podman", "timeout_s": timeout_s}
    if seg_options is not None:
        seg_params["layout_options"] = seg_options
    doc = {"name": "chained", "cohort": {"manifests": [str(manifest)]},
           "tasks": ["recurrence"], "statistics": {"n_resamples": 100},
           "executor": {"workers": 1},
           "adapters": [
               {"name": "container", "id": "seg", "params": seg_params},
               {"name": "container", "id": "growth", "inputs": {"mask_tumor": {"from": "seg"}},
                "params": {"image_archive": str(growth_archive), "digest": growth_id,
                           "layout": "predict-gbm", "tasks": ["recurrence"],
                           "runtime": "podman", "timeout_s": timeout_s}}],
           **extra}
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_chained_run_scores_recurrence_next_to_reference(podman, archives, glioma_cohort,  # type: ignore[no-untyped-def]
                                                        tmp_path: Path) -> None:
    # the segmenter's label map doubles as its own score map, so the growth model (which
    # returns its tumorseg input) must score exactly as the segmenter
    path = chained_config(tmp_path, glioma_cohort, archives,
                          seg_options={"outputs": {"score_map": "BraTS-*.nii.gz"}})
    assert run_app(["bench", str(path), "--out", str(tmp_path / "run")]) == 0
    run = tmp_path / "run"
    assert pd.read_csv(run / "failures.csv").empty
    per_case = pd.read_csv(run / "per_case.csv")
    clean = per_case[per_case.perturbation == "clean"].set_index(["case_id", "metric"])
    seg = clean[clean.adapter == "seg"].value
    growth = clean[clean.adapter == "growth"].value
    pd.testing.assert_series_equal(seg.sort_index(), growth.sort_index(), check_names=False)
    chained = pd.read_csv(run / "chained.csv")
    row = chained[chained.metric == "coverage_all_model"].iloc[0]
    assert (row.adapter, row.reference_adapter, row.upstream) == ("growth", "growth@reference",
                                                                  "seg")
    reference = clean[clean.adapter == "growth@reference"].value
    mean = lambda s: s.xs("coverage_all_model", level="metric").mean()  # noqa: E731
    assert row.n == 4
    assert row.chained_value == pytest.approx(mean(growth))
    assert row.reference_value == pytest.approx(mean(reference))
    assert row.estimate == pytest.approx(mean(growth) - mean(reference))


def test_segmenter_feeds_growth_model_and_both_tasks_are_scored(podman, archives,  # type: ignore[no-untyped-def]
                                                               glioma_cohort, tmp_path: Path,
                                                               ) -> None:
    """A BraTS-layout segmenter doing ``segmentation`` feeds a PREDICT-GBM growth image (which
    returns its tumorseg input as the density map): the growth model's recurrence AUROC is that
    of the segmenter's label map (BraTS 2024 codes), its twin's that of the reference mask."""
    config = chained_config(
        tmp_path, glioma_cohort, archives, seg_tasks=("segmentation",), timeout_s=120,
        name="chained-seg", tasks=["segmentation", "recurrence"],
        metrics={"segmentation": ["dice"], "recurrence": ["voxel_auroc"]},
        statistics={"n_resamples": 200})
    run = tmp_path / "run"
    assert run_app(["bench", str(config), "--out", str(run)]) == 0
    assert pd.read_csv(run / "failures.csv").empty

    chained, reference, dice = {}, {}, {}
    for case_id, case in expected.cases(glioma_cohort).items():
        labels = expected.rule_labels(case)  # ET 3, SNFH 2: the same codes in BraTS 2024
        truth = expected.truth_codes(case)
        chained[case_id] = expected.voxel_auroc(case, labels.astype(np.float64))
        reference[case_id] = expected.voxel_auroc(case, truth.astype(np.float64))
        dice[case_id] = expected.region_scores(labels > 0, np.isin(truth, (1, 2, 3)),
                                               expected.spacing(case.masks["tumor"]))["dice"]
    assert len(chained) == 4 and chained != reference

    per_case = pd.read_csv(run / "per_case.csv")
    clean = per_case[per_case.perturbation == "clean"]
    def values(adapter: str, metric: str, **where: str) -> dict[str, float]:
        rows = clean[(clean.adapter == adapter) & (clean.metric == metric)]
        for column, value in where.items():
            rows = rows[rows[column] == value]
        return dict(zip(rows.case_id, rows.value, strict=True))

    assert values("seg", "dice", region="WT") == pytest.approx(dice, rel=1e-9)
    assert values("growth", "voxel_auroc") == pytest.approx(chained, rel=1e-9)
    assert values("growth@reference", "voxel_auroc") == pytest.approx(reference, rel=1e-9)
    assert set(clean[clean.adapter.str.startswith("growth")].task) == {"recurrence"}

    table = pd.read_csv(run / "chained.csv")
    assert set(table.adapter) == {"growth"} and table.region.isna().all()
    row = table[table.metric == "voxel_auroc"].iloc[0]
    assert (row.reference_adapter, row.upstream, row.task) == (
        "growth@reference", "seg", "recurrence")
    assert row.n == 4
    assert row.chained_value == pytest.approx(np.mean(list(chained.values())))
    assert row.reference_value == pytest.approx(np.mean(list(reference.values())))
    assert row.estimate == pytest.approx(row.chained_value - row.reference_value)
    assert row.ci_low <= row.estimate <= row.ci_high


def test_chained_job_key_includes_the_upstream_key(glioma_cohort, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    def plan(upstream: str) -> dict[str, set[str]]:
        doc = {"cohort": {"manifests": [str(glioma_cohort)]}, "tasks": ["recurrence"],
               "adapters": [{"name": upstream, "id": "up"},
                            {"name": "margin-15mm", "id": "down",
                             "inputs": {"mask_tumor": {"from": "up"}}}]}
        config = with_reference_twins(parse_config(doc, base_dir=tmp_path))
        cohort = load_cohort([glioma_cohort], tmp_path / "run", allow_outside_root=False)
        jobs = build_plan(config, list(cohort.cases), build_adapters(config),
                          cohort_vocabularies(cohort.manifests))
        keys: dict[str, set[str]] = {}
        for job in jobs:
            keys.setdefault(job.adapter_label, set()).add(job.key)
        return keys

    with_random, with_margin = plan("random"), plan("fk-growth")
    assert with_random["down"].isdisjoint(with_margin["down"])  # upstream changed -> new keys
    assert with_random["down@reference"] == with_margin["down@reference"]
    assert with_random["down"].isdisjoint(with_random["down@reference"])
