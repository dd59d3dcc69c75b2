"""A tiny synthetic cohort and bench configs shared by the engine's end-to-end tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from imagination.cohort.synthetic import SynthConfig, generate_cohort

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def bench_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten cases, two sites, 6 mm: the manifest path."""
    out = tmp_path_factory.mktemp("bench-cohort")
    summary = generate_cohort(out, SynthConfig(
        n_cases=10, n_sites=2, seed=7, resolution_mm=6.0,
        prevalence={"glioblastoma": 0.5, "astrocytoma": 0.3, "oligodendroglioma": 0.2}))
    return summary.manifest


def model_adapter(label: str, mode: str) -> dict:
    """A `command` adapter running tests/engine/model_program.py in the given mode."""
    return {"name": "command", "id": label,
            "params": {"name": label,
                       "argv": [sys.executable, str(HERE / "model_program.py"), mode,
                                "{input}", "{output}"],
                       "tasks": ["idh", "recurrence"], "required_modalities": ["flair"],
                       "timeout_s": 20}}


def write_config(folder: Path, manifest: Path, adapters: list[dict], **extra: object) -> Path:
    doc = {"name": "t", "cohort": {"manifests": [str(manifest)]},
           "tasks": ["idh", "codeletion_1p19q", "tumor_type", "recurrence"],
           "adapters": adapters, "statistics": {"n_resamples": 200, "seed": 3},
           "crossfit": {"n_folds": 3}, "executor": {"kind": "local", "workers": 1}}
    doc.update(extra)
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


CHEAP_ADAPTERS = [{"name": "margin-15mm"}, {"name": "random"}, {"name": "prevalence"},
                  {"name": "age-volume-lr"}, {"name": "radiomics-lr"}]
