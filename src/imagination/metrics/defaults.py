"""The metrics scored for a task when the config's ``metrics`` does not list them."""

from __future__ import annotations

from typing import Final

BINARY_METRICS: Final[tuple[str, ...]] = (
    "auroc", "auprc", "balanced_accuracy", "sensitivity", "specificity", "ppv", "npv", "f1",
    "mcc", "brier", "log_loss", "ece", "calibration_slope", "calibration_intercept")
MULTICLASS_METRICS: Final[tuple[str, ...]] = (
    "auroc", "balanced_accuracy", "accuracy", "f1", "mcc", "cohen_kappa", "brier", "log_loss",
    "ece")
RECURRENCE_METRICS: Final[tuple[str, ...]] = (
    "coverage_all_model", "coverage_enhancing_model", "coverage_gain_all",
    "coverage_gain_enhancing", "missed_ml_model", "voxel_auroc")
