"""Synthetic multicenter glioma cohort on the MNI152 template, with known truth."""

from imagination.cohort.synthetic.config import (
    DEFAULT_PREVALENCE,
    GENERATOR_VERSION,
    SynthConfig,
    parse_prevalence,
)
from imagination.cohort.synthetic.generator import CohortSummary, generate_cohort, plan_cohort

__all__ = [
    "DEFAULT_PREVALENCE",
    "GENERATOR_VERSION",
    "CohortSummary",
    "SynthConfig",
    "generate_cohort",
    "parse_prevalence",
    "plan_cohort",
]
