"""Explicit segmentation label maps: dataset integer codes -> canonical regions. Never guessed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from imagination.cohort.vocabulary import BASE_REGIONS, DERIVED_REGIONS
from imagination.errors import InputError

#: Named, documented conventions a manifest may cite instead of listing codes.
PRESETS: Final[dict[str, dict[int, str]]] = {
    # BraTS <= 2021, UPENN-GBM, UCSF-PDGM: 1 NCR/NET, 2 ED, 4 ET
    "brats2021": {1: "NETC", 2: "SNFH", 4: "ET"},
    # BraTS 2023+ pre-operative (GLI, MEN, MET): 1 NETC, 2 SNFH, 3 ET
    "brats2023": {1: "NETC", 2: "SNFH", 3: "ET"},
    # BraTS 2024 post-treatment, PREDICT-GBM: 1 NETC, 2 SNFH, 3 ET, 4 RC
    "brats2024_post": {1: "NETC", 2: "SNFH", 3: "ET", 4: "RC"},
}


@dataclass(frozen=True)
class LabelMap:
    """Mapping of a dataset's positive integer codes to base regions (ET, NETC, SNFH, RC).

    Code 0 is always background. WT and TC are derived (see ``DERIVED_REGIONS``).
    """

    codes: Mapping[int, str] = field(default_factory=dict)
    name: str | None = None

    def __post_init__(self) -> None:
        for code, region in self.codes.items():
            if not isinstance(code, int | np.integer) or isinstance(code, bool) or code <= 0:
                raise InputError(f"label map: code {code!r} must be a positive integer")
            if region not in BASE_REGIONS:
                raise InputError(
                    f"label map: code {code} maps to {region!r}; allowed regions: "
                    f"{', '.join(BASE_REGIONS)}"
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
        """Dataset codes that make up ``region`` (base or derived)."""
        members: Iterable[str] = DERIVED_REGIONS.get(region, (region,))
        if region not in DERIVED_REGIONS and region not in BASE_REGIONS:
            raise InputError(f"unknown region {region!r}")
        wanted = set(members)
        return tuple(sorted(c for c, r in self.codes.items() if r in wanted))

    def region_mask(self, segmentation: np.ndarray, region: str) -> np.ndarray:
        """Boolean mask of ``region`` in an integer segmentation."""
        return np.isin(segmentation, self.codes_of(region))

    def unknown_codes(self, segmentation: np.ndarray) -> list[int]:
        """Codes present in ``segmentation`` that the map does not declare (0 is background)."""
        present = np.unique(segmentation)
        return [int(c) for c in present if c != 0 and int(c) not in self.codes]
