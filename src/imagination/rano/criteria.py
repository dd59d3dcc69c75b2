"""RANO 2.0 response categories from a baseline and a follow-up enhancing-tumour mask.

Thresholds (Wen et al., "RANO 2.0: Update to the Response Assessment in Neuro-Oncology
Criteria for High- and Low-Grade Gliomas in Adults", J Clin Oncol 2023;41:5187-5199):

=============  ===================  ===================
method         partial response     progression
=============  ===================  ===================
bidimensional  sum of products      sum of products
               decreases >= 50 %    increases >= 25 %
volumetric     volume decreases     volume increases
               >= 65 %              >= 40 %
=============  ===================  ===================

Complete response: no enhancing disease left at follow-up (measurable or not). A new
measurable enhancing lesion (one that touches no baseline lesion) is progression. Within 12
weeks after the end of radiotherapy, progression is only *preliminary* (it needs a confirming
scan: the pseudoprogression window). The burden is measured on the baseline's target lesions
(:func:`imagination.rano.measure.target_lesions`) and, at follow-up, on the enhancing lesions
that overlap them (same grid: exams of one subject are registered). Images alone: steroid dose
and clinical status, which RANO 2.0 also weighs, are not derivable and are not used.
A baseline without measurable disease can only be CR (enhancement gone), PD (a new measurable
lesion) or SD.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

import numpy as np

from imagination.rano.measure import Lesion, label_lesions, measure_lesions, target_lesions

Method = Literal["volumetric", "bidimensional"]
RESPONSES: Final = ("CR", "PR", "SD", "PD")
#: (partial-response decrease, progression increase) as fractions of the baseline burden
THRESHOLDS: Final[dict[str, tuple[float, float]]] = {
    "bidimensional": (0.50, 0.25),
    "volumetric": (0.65, 0.40),
}
#: RANO 2.0: progression within this many days after radiotherapy needs confirmation.
PSEUDOPROGRESSION_WINDOW_DAYS: Final = 84


@dataclass(frozen=True)
class Assessment:
    """One baseline -> follow-up RANO 2.0 call, with the numbers behind it."""

    response: str
    method: str
    unit: str  #: of the burdens: ``mm2`` (sum of products) or ``ml``
    baseline_burden: float
    followup_burden: float
    relative_change: float  #: follow-up / baseline - 1 (NaN without measurable baseline)
    n_target_lesions: int
    new_measurable_lesion: bool
    preliminary: bool  #: progression inside the post-radiotherapy window
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def assess(
    baseline: np.ndarray,
    followup: np.ndarray,
    spacing: Sequence[float],
    method: Method = "volumetric",
    days_since_radiotherapy_end: float | None = None,
) -> Assessment:
    """RANO 2.0 category of ``followup`` against ``baseline`` (boolean enhancing masks)."""
    if method not in THRESHOLDS:
        raise ValueError(f"RANO method must be one of {sorted(THRESHOLDS)}, got {method!r}")
    if baseline.shape != followup.shape:
        raise ValueError(f"baseline {baseline.shape} and follow-up {followup.shape} differ")
    baseline = np.asarray(baseline, dtype=bool)
    followup = np.asarray(followup, dtype=bool)
    base_labels, _ = label_lesions(baseline)
    fu_labels, _ = label_lesions(followup)
    targets = target_lesions(measure_lesions(baseline, spacing))
    fu_lesions = measure_lesions(followup, spacing)
    new = _new_measurable(fu_lesions, fu_labels, baseline)
    unit = "mm2" if method == "bidimensional" else "ml"

    target_voxels = np.isin(base_labels, [lesion.index for lesion in targets])
    matched = set(np.unique(fu_labels[target_voxels & followup]).tolist()) - {0}
    base_burden = sum(_burden(lesion, method) for lesion in targets)
    fu_burden = sum(_burden(lesion, method) for lesion in fu_lesions if lesion.index in matched)
    change = fu_burden / base_burden - 1.0 if base_burden > 0 else math.nan

    def result(response: str, reason: str) -> Assessment:
        preliminary = (response == "PD" and days_since_radiotherapy_end is not None
                       and days_since_radiotherapy_end < PSEUDOPROGRESSION_WINDOW_DAYS)
        if preliminary:
            reason += (f"; {days_since_radiotherapy_end:g} days after radiotherapy (< "
                       f"{PSEUDOPROGRESSION_WINDOW_DAYS}): preliminary, needs confirmation")
        return Assessment(response, method, unit, float(base_burden), float(fu_burden),
                          float(change), len(targets), new, preliminary, reason)

    if baseline.any() and not followup.any():
        return result("CR", "no enhancing disease at follow-up")
    if new:
        return result("PD", "new measurable enhancing lesion")
    if not targets:
        return result("SD", "no measurable disease at baseline and no new measurable lesion")
    decrease, increase = THRESHOLDS[method]
    if change >= increase:
        return result("PD", f"{unit} burden {change:+.0%} (progression at >= +{increase:.0%})")
    if change <= -decrease:
        return result("PR", f"{unit} burden {change:+.0%} (response at <= -{decrease:.0%})")
    return result("SD", f"{unit} burden {change:+.0%} (between -{decrease:.0%} and "
                        f"+{increase:.0%})")


def _burden(lesion: Lesion, method: str) -> float:
    return lesion.product_mm2 if method == "bidimensional" else lesion.volume_ml


def _new_measurable(lesions: Sequence[Lesion], labels: np.ndarray, baseline: np.ndarray) -> bool:
    """Whether a measurable follow-up lesion touches no baseline enhancing voxel."""
    touching = set(np.unique(labels[baseline]).tolist())
    return any(lesion.measurable and lesion.index not in touching for lesion in lesions)
