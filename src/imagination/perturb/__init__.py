"""Seeded, replayable perturbations with severity levels (see ``registry``)."""

from imagination.perturb.registry import (
    apply_perturbation,
    available,
    is_applicable,
    perturbation_id,
    perturbation_record,
    perturbation_seed,
    validate_request,
)

__all__ = ["apply_perturbation", "available", "is_applicable", "perturbation_id",
           "perturbation_record", "perturbation_seed", "validate_request"]
