"""Validation of manifests and their files: every problem in one run (codes in ``problems``)."""

from imagination.cohort.validation.problems import CODES, Problem, Severity
from imagination.cohort.validation.run import ValidationReport, validate, validate_manifests

__all__ = ["CODES", "Problem", "Severity", "ValidationReport", "validate", "validate_manifests"]
