"""BraTS- and nnU-Net-layout images run unchanged in a whole bench; their segmentations are
scored per region, checked against MedPy on the label maps the images' rule gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from imagination.cli.app import run_app
from tests.containers import expected

#: one worker runs every container test (one podman store, images loaded once)
pytestmark = pytest.mark.xdist_group("containers")

#: nnU-Net's BraTS datasets (Dataset137_BraTS2021): 1 edema, 2 necrosis, 3 enhancing
NNUNET_BRATS = {1: "SNFH", 2: "NETC", 3: "ET"}
#: each adapter: (label codes its image writes for ET and SNFH, codes of each scored region)
ADAPTERS = {
    "brats-seg": ({"et": 3, "snfh": 2}, {"WT": (1, 2, 3), "TC": (1, 3), "ET": (3,)}),
    "nnunet-seg": ({"et": 3, "snfh": 1}, {"WT": (1, 2, 3), "TC": (2, 3), "ET": (3,)}),
}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four synthetic glioblastomas at 4 mm, two sites (``imagination synth``)."""
    out = tmp_path_factory.mktemp("seg-cohort") / "cohort"
    assert run_app(["synth", str(out), "--cases", "4", "--sites", "2", "--seed", "3",
                    "--resolution", "4", "--prevalence", "glioblastoma=1", "--workers",
                    "1"]) == 0
    return out / "manifest.csv"


def container(archives, adapter_id: str, image: str, layout: str,  # type: ignore[no-untyped-def]
              **params) -> dict:
    path, digest = archives[image]
    return {"name": "container", "id": adapter_id,
            "params": {"image_archive": str(path), "digest": digest, "layout": layout,
                       "tasks": ["segmentation"], "runtime": "podman", "timeout_s": 120,
                       **params}}


def test_brats_and_nnunet_images_scored_per_region(podman, archives, cohort: Path,  # type: ignore[no-untyped-def]
                                                   tmp_path: Path) -> None:
    doc = {"name": "segmenters", "cohort": {"manifests": [str(cohort)]},
           "tasks": ["segmentation"], "metrics": {"segmentation": ["dice", "hd95"]},
           "statistics": {"n_resamples": 200}, "executor": {"workers": 1},
           "adapters": [container(archives, "brats-seg", "brats", "brats"),
                        container(archives, "nnunet-seg", "nnunet", "nnunet",
                                  label_map={str(k): v for k, v in NNUNET_BRATS.items()})]}
    config = tmp_path / "bench.yaml"
    config.write_text(yaml.safe_dump(doc))
    run = tmp_path / "run"
    assert run_app(["bench", str(config), "--out", str(run)]) == 0
    assert pd.read_csv(run / "failures.csv").empty

    want: list[dict[str, object]] = []
    for case_id, case in expected.cases(cohort).items():
        truth = expected.truth_codes(case)
        voxel_mm = expected.spacing(case.masks["tumor"])
        for adapter, (codes, pred_regions) in ADAPTERS.items():
            labels = expected.rule_labels(case, **codes)
            for region, truth_region in expected.TRUTH_REGIONS.items():
                scores = expected.region_scores(np.isin(labels, pred_regions[region]),
                                                np.isin(truth, truth_region), voxel_mm)
                want += [{"adapter": adapter, "case_id": case_id, "region": region,
                          "metric": metric, "want": value} for metric, value in scores.items()]
    want_frame = pd.DataFrame(want)
    wt_dice = want_frame[(want_frame.region == "WT") & (want_frame.metric == "dice")]
    assert wt_dice.want.mean() > 0.1  # the rule finds tumour: a test that can fail

    per_case = pd.read_csv(run / "per_case.csv")
    per_case = per_case[(per_case.task == "segmentation") & (per_case.perturbation == "clean")]
    got = want_frame.merge(per_case, on=["adapter", "case_id", "region", "metric"],
                           how="left", validate="one_to_one")
    assert len(got) == 2 * 4 * 3 * 2
    np.testing.assert_allclose(got.value, got.want, rtol=1e-9, atol=1e-9, equal_nan=True)

    board = pd.read_csv(run / "leaderboard.csv")
    board = board[board.task == "segmentation"]
    # both label maps define NETC and SNFH too; neither defines RC
    for adapter in ADAPTERS:
        assert set(board[board.adapter == adapter].region) == {"WT", "TC", "ET", "NETC", "SNFH"}
    for (adapter, region, metric), group in want_frame.groupby(["adapter", "region", "metric"]):
        row = board[(board.adapter == adapter) & (board.region == region)
                    & (board.metric == metric)]
        assert len(row) == 1, (adapter, region, metric)
        row = row.iloc[0]
        assert row.value == pytest.approx(np.nanmean(group.want), rel=1e-9)
        assert row.ci_low <= row.value <= row.ci_high
        assert (row.n, row.n_failed) == (4, 0)
