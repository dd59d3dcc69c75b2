"""Typed case records (metadata and paths) and loaded cases (arrays on one grid)."""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from imagination.cohort.labelmap import LabelMap
from imagination.cohort.lazy import view
from imagination.errors import InputError


@dataclass(frozen=True, eq=False)
class Case:
    """One exam set as the manifest declares it. Paths are absolute."""

    case_id: str
    subject_id: str
    site: str
    timepoint: str | None = None
    images: dict[str, Path] = field(default_factory=dict)
    masks: dict[str, Path] = field(default_factory=dict)
    #: tissue probability maps (``gm``, ``wm``, ``csf``) on the case grid
    tissues: dict[str, Path] = field(default_factory=dict)
    labels: dict[str, str | None] = field(default_factory=dict)
    covariates: dict[str, float | str | None] = field(default_factory=dict)
    label_map: LabelMap | None = None
    #: modalities acquired on another grid, resampled onto the reference grid when loading
    resample: frozenset[str] = frozenset()
    #: modality whose grid every other image and mask must share
    reference: str | None = None
    manifest: Path | None = None
    #: longitudinal: the exam this one is compared with (RANO reference), days from the
    #: subject's first exam, days since the end of radiotherapy (negative before it)
    baseline_case_id: str | None = None
    days_from_baseline: int | None = None
    days_since_radiotherapy_end: int | None = None

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.images)

    def reference_modality(self) -> str | None:
        """The declared reference if present, else the first image not marked for resampling."""
        if self.reference and self.reference in self.images:
            return self.reference
        for modality in self.images:
            if modality not in self.resample:
                return modality
        return None


@dataclass(frozen=True)
class Grid:
    """A voxel grid in RAS+ world coordinates (nibabel axis order)."""

    shape: tuple[int, int, int]
    affine: np.ndarray

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size in mm along each array axis."""
        s = np.sqrt((np.asarray(self.affine)[:3, :3] ** 2).sum(axis=0))
        return (float(s[0]), float(s[1]), float(s[2]))

    @property
    def voxel_volume_ml(self) -> float:
        return float(abs(np.linalg.det(np.asarray(self.affine)[:3, :3]))) / 1000.0

    def differences(self, other: Grid, *, atol_mm: float = 1e-3,
                    atol_direction: float = 1e-4) -> list[str]:
        """Human-readable list of how ``other`` differs from this grid (empty when equal)."""
        out: list[str] = []
        if tuple(self.shape) != tuple(other.shape):
            out.append(f"shape {tuple(other.shape)} vs {tuple(self.shape)}")
        sp_a, sp_b = np.array(self.spacing), np.array(other.spacing)
        if np.max(np.abs(sp_a - sp_b)) > atol_mm:
            out.append(
                f"spacing {tuple(round(float(x), 4) for x in sp_b)} vs "
                f"{tuple(round(float(x), 4) for x in sp_a)}"
                f" mm (max diff {np.max(np.abs(sp_a - sp_b)):.4g} mm)"
            )
        dir_a = np.asarray(self.affine)[:3, :3] / sp_a
        dir_b = np.asarray(other.affine)[:3, :3] / sp_b
        if np.max(np.abs(dir_a - dir_b)) > atol_direction:
            out.append(f"orientation differs (max direction-cosine diff "
                       f"{np.max(np.abs(dir_a - dir_b)):.4g})")
        org_a, org_b = np.asarray(self.affine)[:3, 3], np.asarray(other.affine)[:3, 3]
        if np.max(np.abs(org_a - org_b)) > atol_mm:
            out.append(f"origin {tuple(round(float(x), 3) for x in org_b)} vs "
                       f"{tuple(round(float(x), 3) for x in org_a)} mm "
                       f"(max diff {np.max(np.abs(org_a - org_b)):.4g} mm)")
        return out


@dataclass
class LoadedCase:
    """A case's arrays, all on ``grid``: images float32, masks integer.

    Each mapping behaves as a ``dict``; in a benchmark job it is a
    :class:`~imagination.cohort.lazy.LazyArrays` that reads a file the first time its array is
    used (``"pet" in case.images`` reads nothing; :meth:`brain` without a brain mask reads
    every image)."""

    case: Case
    grid: Grid
    images: MutableMapping[str, np.ndarray] = field(default_factory=dict)
    masks: MutableMapping[str, np.ndarray] = field(default_factory=dict)
    #: tissue probability maps, float32 in [0, 1]
    tissues: MutableMapping[str, np.ndarray] = field(default_factory=dict)
    #: the job's other exams by role (``baseline`` of a follow-up pair), each blinded and
    #: loaded on its own grid (``TaskKind.job_cases``); empty for single-exam tasks
    companions: dict[str, LoadedCase] = field(default_factory=dict)

    @property
    def case_id(self) -> str:
        return self.case.case_id

    def views(self) -> LoadedCase:
        """The same arrays in mappings of its own (adding or removing a name changes only
        the copy; a lazy mapping stays lazy and shares its reads), without companions."""
        return LoadedCase(case=self.case, grid=self.grid, images=view(self.images),
                          masks=view(self.masks), tissues=view(self.tissues))

    def region(self, name: str) -> np.ndarray:
        """Boolean mask of a canonical tumour region (ET, NETC, SNFH, RC, WT, TC)."""
        if "tumor" not in self.masks:
            raise InputError(f"case {self.case_id}: no tumour mask to derive region {name}")
        if self.case.label_map is None:
            raise InputError(f"case {self.case_id}: the manifest declares no label map")
        return self.case.label_map.region_mask(self.masks["tumor"], name)

    def brain(self) -> np.ndarray:
        """Boolean brain mask: the declared one, else every voxel where any image is non-zero."""
        if "brain" in self.masks:
            return self.masks["brain"] > 0
        if not self.images:
            raise InputError(f"case {self.case_id}: no brain mask and no image to derive it")
        stack = np.stack([np.abs(v) > 0 for v in self.images.values()])
        return stack.any(axis=0)
