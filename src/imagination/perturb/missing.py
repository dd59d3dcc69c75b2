"""Missing modality: ``drop_<modality>`` removes that image from the case (the BraSyn protocol).

An adapter that requires the modality then fails the case, and the engine records the failure.
The severity has no effect (every level drops the image) and neither has the seed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from imagination.cohort.case import LoadedCase
from imagination.perturb.base import (
    Perturbation,
    PerturbationInfo,
    check_params,
    not_applicable,
    with_arrays,
)

PREFIX = "drop_"


def drop_info(modality: str) -> PerturbationInfo:
    return PerturbationInfo(
        f"{PREFIX}{modality}", f"the {modality} image is removed from the case",
        f"{modality} image", "image removed (every level)", (1.0, 1.0, 1.0, 1.0, 1.0),
        seeded=False)


def drop_perturbation(modality: str) -> Perturbation:
    kind = f"{PREFIX}{modality}"

    def apply(case: LoadedCase, value: float, seed: int,
              params: Mapping[str, Any]) -> LoadedCase:
        check_params(kind, params, ())
        if modality not in case.images:
            raise not_applicable(case, kind, f"the case has no {modality} image")
        return with_arrays(case, drop=(modality,))

    return Perturbation(drop_info(modality), apply)
