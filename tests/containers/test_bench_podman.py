"""A container adapter in a whole bench run on a synthetic cohort (podman)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml

from imagination.cli.app import run_app
from imagination.cohort.manifest import read_manifest

#: one worker runs every container test (one podman store, images loaded once)
pytestmark = pytest.mark.xdist_group("containers")


@pytest.fixture
def cohort(glioma_cohort: Path) -> Path:
    return glioma_cohort


def config(folder: Path, manifest: Path, archive: Path, digest: str) -> Path:
    doc = {"name": "containers", "cohort": {"manifests": [str(manifest)]},
           "tasks": ["recurrence"], "statistics": {"n_resamples": 100},
           "executor": {"workers": 1},
           "adapters": [{"name": "container", "id": "growth",
                         "params": {"image_archive": archive.name, "digest": digest,
                                    "layout": "predict-gbm", "tasks": ["recurrence"],
                                    "runtime": "podman", "timeout_s": 60}}]}
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_synthetic_cohort_has_tissue_maps(cohort: Path) -> None:
    for case in read_manifest(cohort).cases():
        assert set(case.tissues) == {"gm", "wm", "csf"}
        maps = [np.asarray(nib.load(case.tissues[t]).dataobj) for t in ("gm", "wm", "csf")]
        brain = np.asarray(nib.load(case.masks["brain"]).dataobj) > 0
        total = sum(maps)
        assert all(m.min() >= 0 and m.max() <= 1 for m in maps)
        assert total.max() <= 1 + 1e-5 and not total[~brain].any()
        assert total[brain].mean() > 0.5  # mostly tissue inside the brain


def test_every_case_scored(podman, archives, cohort: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    archive, digest = archives["predict-gbm"]
    (tmp_path / archive.name).symlink_to(archive)  # the config names it relative to itself
    code = run_app(["bench", str(config(tmp_path, cohort, archive, digest)),
                    "--out", str(tmp_path / "run")])
    assert code == 0
    failures = pd.read_csv(tmp_path / "run" / "failures.csv")
    assert failures.empty
    per_case = pd.read_csv(tmp_path / "run" / "per_case.csv")
    scored = per_case[(per_case.adapter == "growth") & (per_case.metric == "coverage_all_model")]
    assert len(scored) == 4 and scored.value.between(0, 1).all()


def test_digest_mismatch_exits_2_before_any_run(podman, archives, cohort: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    archive, _ = archives["predict-gbm"]
    (tmp_path / archive.name).symlink_to(archive)
    path = config(tmp_path, cohort, archive, "sha256:" + "0" * 64)
    assert run_app(["bench", str(path), "--out", str(tmp_path / "run")]) == 2
    assert "digest mismatch" in capsys.readouterr().err
    assert not (tmp_path / "run" / "plan.json").exists()  # no job was planned or run
    assert not (tmp_path / "run" / "store").exists()
