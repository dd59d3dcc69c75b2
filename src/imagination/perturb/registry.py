"""The perturbation registry: kinds by name, their severity tables, seeds and replay records.

``apply_perturbation(case, kind, severity, seed, params)`` is the single entry point; the same
arguments always give the same arrays. Seeds per job come from :func:`perturbation_seed`, a
hash of (base seed, case, kind, severity), so a run is replayable from its recorded base seed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from imagination.cohort.case import Case, LoadedCase
from imagination.cohort.vocabulary import MODALITIES
from imagination.errors import InputError
from imagination.perturb import geometry, intensity, kspace, masks, resolution
from imagination.perturb.base import (
    PET,
    SEVERITIES,
    Perturbation,
    PerturbationInfo,
    check_params,
)
from imagination.perturb.missing import PREFIX as DROP_PREFIX
from imagination.perturb.missing import drop_perturbation

_FIXED: dict[str, Perturbation] = {
    p.info.name: p
    for module in (intensity, resolution, kspace, geometry, masks)
    for p in module.PERTURBATIONS
}
_MRI_KINDS = ("noise", "bias_field", "gamma", "blur", "anisotropy", "motion", "ghosting",
              "spike")
#: Kinds that never apply to PET (a coil artefact and the k-space artefacts).
_MRI_ONLY = ("bias_field", "motion", "ghosting", "spike")


def available() -> dict[str, PerturbationInfo]:
    """Every documented kind (``drop_<modality>`` for each canonical modality), by name."""
    infos = {name: p.info for name, p in _FIXED.items()}
    infos.update({f"{DROP_PREFIX}{m}": drop_perturbation(m).info for m in MODALITIES})
    return infos


def get(kind: str) -> Perturbation:
    """The perturbation called ``kind``; ``drop_<name>`` works for any declared modality."""
    if kind in _FIXED:
        return _FIXED[kind]
    if isinstance(kind, str) and kind.startswith(DROP_PREFIX) and len(kind) > len(DROP_PREFIX):
        return drop_perturbation(kind[len(DROP_PREFIX):])
    raise InputError(f"unknown perturbation {kind!r}; available: {', '.join(available())}")


def _check_severity(kind: str, severity: int) -> None:
    if isinstance(severity, bool) or not isinstance(severity, int) or severity not in SEVERITIES:
        raise InputError(f"perturbation {kind}: severity must be an integer 1..5, "
                         f"got {severity!r}")


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"perturbation seed must be a non-negative integer, got {seed!r}")


def validate_request(kind: str, severity: int, params: Mapping[str, Any] | None = None,
                     ) -> Perturbation:
    """Check a configured variant before anything runs: known kind, severity 1..5, accepted
    parameter names, ``modalities`` a list of names and no PET for MRI-only kinds. Raises
    :class:`InputError`; returns the perturbation."""
    perturbation = get(kind)
    _check_severity(kind, severity)
    if params is None:
        return perturbation
    if not isinstance(params, Mapping):
        raise InputError(f"perturbation {kind}: params must be a mapping, got {params!r}")
    check_params(kind, params, perturbation.info.params)
    modalities = params.get("modalities")
    if modalities is not None:
        if isinstance(modalities, str) or not all(isinstance(m, str) for m in modalities):
            raise InputError(f"perturbation {kind}: modalities must be a list of names, "
                             f"got {modalities!r}")
        if PET in modalities and kind in _MRI_ONLY:
            raise InputError(f"perturbation {kind} is an MRI artefact and cannot apply to pet")
    return perturbation


def apply_perturbation(case: LoadedCase, kind: str, severity: int, seed: int,
                       params: Mapping[str, Any] | None = None) -> LoadedCase:
    """A new case with ``kind`` applied at ``severity`` (1..5) using ``seed``. The input case
    and its arrays are never changed. Raises :class:`InputError` for an unknown kind, severity
    or parameter, and a ``CaseError`` with code ``perturbation_not_applicable`` when the case
    lacks what the kind changes (see :func:`is_applicable`)."""
    perturbation = validate_request(kind, severity, params)
    _check_seed(seed)
    return perturbation.apply(case, perturbation.info.value(severity), seed, dict(params or {}))


def perturbation_seed(base_seed: int, case_id: str, kind: str, severity: int) -> int:
    """Seed of one (case, kind, severity): the first 8 bytes of a SHA-256 of the four values
    (63 bits), identical across processes, platforms and Python versions."""
    text = json.dumps([int(base_seed), str(case_id), str(kind), int(severity)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def perturbation_id(kind: str, severity: int) -> str:
    """The run directory's name of a variant, e.g. ``noise@3``."""
    return f"{kind}@{severity}"


def perturbation_record(kind: str, severity: int, seed: int,
                        params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Everything needed to replay a variant, for provenance and job keys."""
    info = get(kind).info
    _check_severity(kind, severity)
    return {"id": perturbation_id(kind, severity), "kind": kind, "severity": severity,
            "seed": seed, "params": dict(params or {}), "parameter": info.parameter,
            "value": info.value(severity), "version": info.version}


def is_applicable(case: Case | LoadedCase, kind: str,
                  params: Mapping[str, Any] | None = None) -> bool:
    """Whether ``kind`` changes anything in this case (checked on the manifest record, so a
    planner can skip jobs without loading images)."""
    record = case.case if isinstance(case, LoadedCase) else case
    get(kind)
    modalities = list(case.images)
    mri = [m for m in modalities if m != PET]
    if kind.startswith(DROP_PREFIX):
        return kind[len(DROP_PREFIX):] in modalities
    if kind == "misregister_pet":
        return PET in modalities
    if kind == "misregister_mri":
        return len(mri) >= 2
    if kind in ("mask_dilate", "mask_erode"):
        return "tumor" in case.masks and record.label_map is not None
    if kind in _MRI_KINDS:
        wanted = (params or {}).get("modalities")
        return bool(mri) if wanted is None else any(m in modalities for m in wanted)
    return True
