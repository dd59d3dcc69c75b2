"""Small synthetic cohorts shared by the tests of this folder (4-6 mm, generated once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagination.cohort.synthetic import SynthConfig, generate_cohort

#: A glioma-rich cohort for the phenotype checks.
PHENOTYPE_CONFIG = SynthConfig(
    n_cases=16, n_sites=2, seed=11, resolution_mm=4.0,
    prevalence={"glioblastoma": 0.35, "astrocytoma": 0.4, "oligodendroglioma": 0.15,
                "meningioma": 0.05, "metastasis": 0.05},
)


@pytest.fixture(scope="session")
def phenotype_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth-phenotypes")
    generate_cohort(out, PHENOTYPE_CONFIG)
    return out


@pytest.fixture(scope="session")
def mixed_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All five tumour types, three sites, coarse grid."""
    out = tmp_path_factory.mktemp("synth-mixed")
    generate_cohort(out, SynthConfig(
        n_cases=6, n_sites=3, seed=5, resolution_mm=6.0,
        prevalence={"glioblastoma": 1, "astrocytoma": 1, "oligodendroglioma": 1,
                    "meningioma": 1.5, "metastasis": 1.5}))
    return out


#: A small longitudinal cohort: 8 glioblastoma subjects × (pre-op, post-RT, 2 follow-ups).
LONGITUDINAL_CONFIG = SynthConfig(n_cases=8, n_sites=2, seed=1, resolution_mm=4.0,
                                  prevalence={"glioblastoma": 1.0}, followups=2)


@pytest.fixture(scope="session")
def longitudinal_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth-longitudinal")
    generate_cohort(out, LONGITUDINAL_CONFIG)
    return out
