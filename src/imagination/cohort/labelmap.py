"""Explicit segmentation label maps: dataset integer codes -> canonical regions. Never guessed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from imagination.cohort.vocabulary import (
    BASE_REGIONS,
    COMPOSITE_REGIONS,
    DERIVED_REGIONS,
    SCORED_REGIONS,
)
from imagination.errors import InputError

#: Named, documented conventions a manifest may cite instead of listing codes.
PRESETS: Final[dict[str, dict[int, str]]] = {
    # BraTS <= 2021, UPENN-GBM, UCSF-PDGM: 1 NCR/NET, 2 ED, 4 ET
    "brats2021": {1: "NETC", 2: "SNFH", 4: "ET"},
    # BraTS 2023+ pre-operative (GLI, MEN, MET): 1 NETC, 2 SNFH, 3 ET
    "brats2023": {1: "NETC", 2: "SNFH", 3: "ET"},
    # BraTS 2024 post-treatment, PREDICT-GBM: 1 NETC, 2 SNFH, 3 ET, 4 RC
    "brats2024_post": {1: "NETC", 2: "SNFH", 3: "ET", 4: "RC"},
    # HD-GLIO (Kickingereder et al. 2019): 1 non-enhancing T2/FLAIR abnormality, 2 enhancing
    "hdglio": {1: "NEA", 2: "ET"},
}


def region_atoms(region: str) -> frozenset[str]:
    """Base regions making up ``region`` (base, composite or derived)."""
    if region in BASE_REGIONS:
        return frozenset((region,))
    if region in COMPOSITE_REGIONS:
        return frozenset(COMPOSITE_REGIONS[region])
    if region in DERIVED_REGIONS:
        return frozenset(DERIVED_REGIONS[region])
    raise InputError(f"unknown region {region!r}")


@dataclass(frozen=True)
class LabelMap:
    """Mapping of a dataset's positive integer codes to base regions (ET, NETC, SNFH, RC) or a
    composite one (``NEA`` = NETC + SNFH, for models that do not separate them).

    Code 0 is always background. WT and TC are derived (see ``DERIVED_REGIONS``). A map
    *defines* a region when its codes cover every base region of it and no code straddles its
    border (HD-GLIO's map defines WT and ET, not TC: its code 1 mixes NETC and SNFH).
    """

    codes: Mapping[int, str] = field(default_factory=dict)
    name: str | None = None

    def __post_init__(self) -> None:
        for code, region in self.codes.items():
            if not isinstance(code, int | np.integer) or isinstance(code, bool) or code <= 0:
                raise InputError(f"label map: code {code!r} must be a positive integer")
            if region not in BASE_REGIONS and region not in COMPOSITE_REGIONS:
                raise InputError(
                    f"label map: code {code} maps to {region!r}; allowed regions: "
                    f"{', '.join((*BASE_REGIONS, *COMPOSITE_REGIONS))}"
                )

    @classmethod
    def from_spec(cls, spec: str | Mapping[int | str, str]) -> LabelMap:
        """Build from a preset name or a ``{code: region}`` mapping (codes may be strings)."""
        if isinstance(spec, str):
            if spec not in PRESETS:
                raise InputError(
                    f"label map: unknown preset {spec!r}; presets: {', '.join(PRESETS)}"
                )
            return cls(dict(PRESETS[spec]), name=spec)
        codes: dict[int, str] = {}
        for key, region in spec.items():
            try:
                code = int(key)
            except (TypeError, ValueError) as exc:
                raise InputError(f"label map: code {key!r} is not an integer") from exc
            codes[code] = str(region)
        return cls(codes)

    def to_spec(self) -> str | dict[int, str]:
        """Inverse of :meth:`from_spec`."""
        return self.name if self.name else dict(sorted(self.codes.items()))

    def codes_of(self, region: str) -> tuple[int, ...]:
        """Dataset codes lying inside ``region`` (base, composite or derived)."""
        wanted = region_atoms(region)
        return tuple(sorted(c for c, r in self.codes.items() if region_atoms(r) <= wanted))

    def defines(self, region: str) -> bool:
        """True when the map can draw ``region`` exactly (see the class docstring)."""
        wanted = region_atoms(region)
        covered: set[str] = set()
        for r in self.codes.values():
            atoms = region_atoms(r)
            if atoms & wanted and not atoms <= wanted:
                return False  # a code straddles the region's border
            covered |= atoms
        return wanted <= covered

    def scored_regions(self) -> tuple[str, ...]:
        """The segmentation task's regions this map defines, in display order."""
        return tuple(r for r in SCORED_REGIONS if self.defines(r))

    def region_masks(self, segmentation: np.ndarray,
                     regions: Iterable[str]) -> dict[str, np.ndarray]:
        """Boolean masks of ``regions`` in an integer segmentation: the translation of this
        map's codes to canonical regions (one lookup table, one pass per region)."""
        seg = np.asarray(segmentation)
        top = max([0, *self.codes, int(seg.max()) if seg.size else 0]) + 1  # unknown -> False
        out: dict[str, np.ndarray] = {}
        for region in regions:
            if not self.defines(region):
                raise InputError(f"label map {self.name or dict(self.codes)} does not define "
                                 f"region {region}")
            table = np.zeros(top, dtype=bool)
            table[list(self.codes_of(region))] = True
            out[region] = table[seg if seg.dtype.kind in "ub" else np.maximum(seg, 0)]
        return out

    def translate(self, segmentation: np.ndarray, target: LabelMap) -> np.ndarray:
        """Recode a segmentation into ``target``'s codes (each code to the target code of the
        same region); an input error when the target lacks one of this map's regions."""
        by_region = {r: c for c, r in target.codes.items()}
        seg = np.asarray(segmentation)
        table = np.zeros(max([0, *self.codes, int(seg.max()) if seg.size else 0]) + 1,
                         dtype=np.int16)
        for code, region in self.codes.items():
            if region not in by_region:
                raise InputError(f"label map: region {region} (code {code}) has no code in "
                                 f"{target.name or dict(target.codes)}")
            table[code] = by_region[region]
        return table[seg if seg.dtype.kind in "ub" else np.maximum(seg, 0)]

    def region_mask(self, segmentation: np.ndarray, region: str) -> np.ndarray:
        """Boolean mask of ``region`` in an integer segmentation."""
        return np.isin(segmentation, self.codes_of(region))

    def unknown_codes(self, segmentation: np.ndarray) -> list[int]:
        """Codes present in ``segmentation`` that the map does not declare (0 is background)."""
        seg = np.asarray(segmentation)
        if seg.size == 0:
            return []
        if seg.dtype.kind in "ui" and int(seg.min()) >= 0 and int(seg.max()) < 1 << 16:
            present = np.flatnonzero(np.bincount(seg.ravel()))  # no sort of the whole volume
        else:
            present = np.unique(seg)
        return [int(c) for c in present if c != 0 and int(c) not in self.codes]
