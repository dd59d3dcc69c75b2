"""What every perturbation shares: its record (:class:`PerturbationInfo`), the function type,
per-modality random streams, target selection and copying a case without touching its arrays.

A perturbation is a pure function ``apply(case, value, seed, params) -> LoadedCase``: ``value``
is the strength at the requested severity (looked up in the kind's table), ``seed`` drives every
random choice, and the input case is never modified.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from imagination.cohort.case import LoadedCase
from imagination.cohort.lazy import copies
from imagination.errors import CaseError, InputError

#: Number of severity levels; level 1 is the mildest.
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)
#: Modality treated as PET (not acquired in k-space, no bias field).
PET = "pet"
#: Error code of a perturbation that does not apply to a case (e.g. ``drop_pet`` without PET).
NOT_APPLICABLE = "perturbation_not_applicable"

Apply = Callable[[LoadedCase, float, int, Mapping[str, Any]], LoadedCase]


@dataclass(frozen=True)
class PerturbationInfo:
    """The documented record of one perturbation kind."""

    name: str
    description: str
    #: what it changes, e.g. "MRI images (PET when listed in modalities)" or "tumour mask"
    touches: str
    #: the quantity the severity sets, with its unit
    parameter: str
    #: parameter value at severity 1..5 (non-decreasing strength)
    levels: tuple[float, ...]
    #: whether the seed changes the result (blur, mask and drop kinds are deterministic)
    seeded: bool
    #: keys accepted in ``params``
    params: tuple[str, ...] = ()
    #: bumped when the algorithm changes, so stored predictions are not reused by mistake
    version: int = 1

    def value(self, severity: int) -> float:
        return self.levels[severity - 1]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "touches": self.touches,
                "parameter": self.parameter, "levels": list(self.levels), "seeded": self.seeded,
                "params": list(self.params), "version": self.version}


@dataclass(frozen=True)
class Perturbation:
    info: PerturbationInfo
    apply: Apply


def rng_for(seed: int, key: str) -> np.random.Generator:
    """An independent random stream per (seed, key), stable across processes and platforms."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(key.encode())]))


def with_arrays(case: LoadedCase, *, images: Mapping[str, np.ndarray] | None = None,
                masks: Mapping[str, np.ndarray] | None = None,
                drop: Iterable[str] = ()) -> LoadedCase:
    """A new case whose listed arrays are replaced; every other array is copied, so the result
    shares no memory with the input (an array not yet read from a lazily opened case is read
    and copied when first used). ``drop`` removes images (from the arrays and from the case
    record's file list)."""
    gone = set(drop)
    record = case.case if not gone else replace(
        case.case, images={m: p for m, p in case.case.images.items() if m not in gone})
    return LoadedCase(case=record, grid=case.grid, images=copies(case.images, images, gone),
                      masks=copies(case.masks, masks), tissues=copies(case.tissues))


def not_applicable(case: LoadedCase, kind: str, why: str) -> CaseError:
    return CaseError(f"perturbation {kind} does not apply: {why}", case_id=case.case_id,
                     code=NOT_APPLICABLE)


def check_params(kind: str, params: Mapping[str, Any], allowed: Iterable[str]) -> None:
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        accepted = ", ".join(sorted(allowed)) or "none"
        raise InputError(f"perturbation {kind}: unknown parameter(s) {', '.join(unknown)} "
                         f"(accepted: {accepted})")


def target_modalities(case: LoadedCase, kind: str, params: Mapping[str, Any], *,
                      allow_pet: bool = True) -> list[str]:
    """Images a kind changes: ``params["modalities"]`` (those the case has), else every MRI
    image (all but PET). Raises when PET is requested from an MRI-only kind or when nothing is
    left to change."""
    requested = params.get("modalities")
    if requested is None:
        chosen = [m for m in case.images if m != PET]
    else:
        if isinstance(requested, str) or not all(isinstance(m, str) for m in requested):
            raise InputError(f"perturbation {kind}: modalities must be a list of names, "
                             f"got {requested!r}")
        if PET in requested and not allow_pet:
            raise InputError(f"perturbation {kind} is an MRI artefact and cannot apply to pet")
        chosen = [m for m in case.images if m in set(requested)]
    if not chosen:
        raise not_applicable(case, kind, f"no target image among {sorted(case.images)}")
    return chosen


def brain_support(case: LoadedCase) -> np.ndarray:
    """The brain mask, else non-zero voxels of any image (as :meth:`LoadedCase.brain`)."""
    brain = case.brain()
    return brain if brain.any() else np.ones(case.grid.shape, dtype=bool)


def robust_range(image: np.ndarray, brain: np.ndarray) -> float:
    """Spread of intensities inside the brain: 99th minus 1st percentile (positive)."""
    values = image[brain] if brain.any() else image.ravel()
    low, high = np.percentile(values, [1.0, 99.0])
    spread = float(high - low)
    if spread > 0:
        return spread
    return float(np.max(np.abs(values))) or 1.0


def magnitude_or_real(volume: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Back from k-space: magnitude for magnitude images (no negative voxel), else the real
    part, as float32."""
    out = np.abs(volume) if float(original.min()) >= 0 else np.real(volume)
    return out.astype(np.float32)
