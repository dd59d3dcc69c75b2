"""Fixtures of the container tests: test image archives (built once) and tiny cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.adapters.builders import build_case
from tests.containers.images import build_archive, runtime_problem

IMAGES = {"brats": "brats.sh", "nnunet": "nnunet.sh", "predict-gbm": "predict_gbm.sh",
          "mhub": "mhub.sh", "grand-challenge": "grand_challenge.sh",
          "imagination": "imagination.sh", "custom": "custom.sh", "probe": "probe.sh",
          "sleep": "sleep.sh", "nothing": "nothing.sh", "wrong-grid": "wrong_grid.sh"}


@pytest.fixture(scope="session")
def podman() -> str:
    problem = runtime_problem()
    if problem is not None:
        pytest.skip(f"container tests need podman: {problem}")
    return "podman"


@pytest.fixture(scope="session")
def archives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """Test image archives by name: (path, image id)."""
    folder = tmp_path_factory.mktemp("images")
    return {name: build_archive(folder, script, name) for name, script in IMAGES.items()}


def tissues(case) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    """Tissue probability maps for a builders case: wm inside, gm outside, csf in ventricles."""
    brain = case.masks["brain"] > 0
    inner = case.images["t1"] > 0.8
    csf = (brain & (case.images["t1"] < 0.4)).astype(np.float32)
    wm = (inner & ~(csf > 0)).astype(np.float32) * 0.9
    gm = (brain & ~inner & ~(csf > 0)).astype(np.float32) * 0.8
    return {"gm": gm, "wm": wm, "csf": csf}


@pytest.fixture(scope="session")
def glioma_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four synthetic gliomas at 6 mm (with tissue maps and recurrence truth): the manifest."""
    from imagination.cohort.synthetic import SynthConfig, generate_cohort

    out = tmp_path_factory.mktemp("glioma-cohort")
    return generate_cohort(out, SynthConfig(n_cases=4, n_sites=2, seed=5, resolution_mm=6.0,
                                            prevalence={"glioblastoma": 1.0})).manifest


@pytest.fixture
def case():  # type: ignore[no-untyped-def]
    loaded = build_case("case-1", shape=(24, 24, 20), centre_mm=(34.0, 24.0, 20.0),
                        core_radius_mm=5.0, edema_radius_mm=8.0)
    loaded.tissues.update(tissues(loaded))
    return loaded
