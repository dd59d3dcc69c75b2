"""Settings of a synthetic cohort (what the ``synth`` command exposes)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from imagination.cohort.vocabulary import DEFAULT_VOCABULARIES
from imagination.errors import InputError

#: Bumped whenever the same arguments would give different files (keys caches of cohorts).
GENERATOR_VERSION = 2

#: Default tumour-type mix: mostly gliomas (which carry the recurrence task), a few others.
DEFAULT_PREVALENCE: Mapping[str, float] = MappingProxyType({
    "glioblastoma": 0.45,
    "astrocytoma": 0.25,
    "oligodendroglioma": 0.15,
    "meningioma": 0.10,
    "metastasis": 0.05,
})


@dataclass(frozen=True)
class SynthConfig:
    """Size, seed, resolution and case mix of a synthetic cohort."""

    n_cases: int = 40
    n_sites: int = 3
    seed: int = 1
    resolution_mm: float = 2.0
    #: PET grid spacing; ``None`` = max(4 mm, 2 x resolution), always coarser than the MRI grid.
    pet_resolution_mm: float | None = None
    prevalence: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_PREVALENCE))
    #: worker processes (the output does not depend on it)
    workers: int = 1
    #: follow-up exams per glioblastoma subject after its post-radiotherapy exam (0: one
    #: pre-operative exam per subject, as before)
    followups: int = 0
    #: at most this many glioblastoma subjects get a series (``None``: all of them)
    series: int | None = None

    def __post_init__(self) -> None:
        if self.n_cases < 1:
            raise InputError(f"--cases must be at least 1, got {self.n_cases}")
        if not 1 <= self.n_sites <= 26:
            raise InputError(f"--sites must be between 1 and 26, got {self.n_sites}")
        if self.n_sites > self.n_cases:
            raise InputError(f"--sites ({self.n_sites}) cannot exceed --cases ({self.n_cases})")
        if self.seed < 0:
            raise InputError(f"--seed must be non-negative, got {self.seed}")
        if not 1.0 <= self.resolution_mm <= 8.0:
            raise InputError(f"--resolution must be between 1 and 8 mm, got {self.resolution_mm}")
        if self.pet_resolution_mm is not None and self.pet_resolution_mm <= self.resolution_mm:
            raise InputError("the PET grid must be coarser than the MRI grid")
        if not 0 <= self.followups <= 12:
            raise InputError(f"--followups must be between 0 and 12, got {self.followups}")
        if self.series is not None and self.series < 0:
            raise InputError(f"--series must be non-negative, got {self.series}")
        if self.workers < 1:
            raise InputError(f"--workers must be at least 1, got {self.workers}")
        known = DEFAULT_VOCABULARIES["tumor_type"]
        unknown = [t for t in self.prevalence if t not in known]
        if unknown:
            raise InputError(
                f"unknown tumour type(s) {', '.join(unknown)}; known: {', '.join(known)}"
            )
        if any(p < 0 for p in self.prevalence.values()) or sum(self.prevalence.values()) <= 0:
            raise InputError("prevalences must be non-negative and not all zero")

    @property
    def pet_spacing_mm(self) -> float:
        if self.pet_resolution_mm is not None:
            return float(self.pet_resolution_mm)
        return max(4.0, 2.0 * self.resolution_mm)

    def normalised_prevalence(self) -> dict[str, float]:
        total = sum(self.prevalence.values())
        known = DEFAULT_VOCABULARIES["tumor_type"]
        return {t: self.prevalence.get(t, 0.0) / total for t in known}


def parse_prevalence(text: str) -> dict[str, float]:
    """Parse ``glioblastoma=0.5,astrocytoma=0.3`` into a mapping (types not named get 0)."""
    out: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep:
            raise InputError(f"--prevalence: {item!r} is not TYPE=WEIGHT")
        try:
            out[name.strip()] = float(value)
        except ValueError as exc:
            raise InputError(f"--prevalence: weight {value!r} of {name} is not a number") from exc
    if not out:
        raise InputError("--prevalence is empty")
    return out
