"""Every segmentation metric of one region, as the declared BraTS 2025 definition.

The definition is that of the BraTS-evaluation package (0.0.8, built on panoptica, used for the
2025 challenges; config ``gli``), re-implemented with SciPy: global binary Dice, HD95 and NSD
per region, lesion-wise Dice and HD95 (means over matched lesions, ``lesions``), detection
counts and F1. Surfaces and distances: ``segmentation.SURFACE_DEFINITION``. Additions the
official scorer does not report are declared here too: ASSD (MedPy 0.5's pooled mean),
volumes, voxel sensitivity and precision.

Edge cases follow panoptica's zero-true-positive table (``EDGE_CASES``), decided once per
region from voxel counts: both masks empty (``both_empty``), one empty
(``empty_reference``/``empty_prediction``), both non-empty without a common voxel
(``no_overlap``, also "no matched lesion"). Where panoptica gives infinity the official parser
writes 373 mm (``HD95_PENALTY_MM``); both-empty regions are NaN (left out of means, counted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np

from imagination.errors import InputError
from imagination.metrics.lesions import components, match_lesions, pair_hd95s
from imagination.metrics.segmentation import _check_pair, _crop_to_union, surface_distances

#: The official penalty (mm) for an undefined HD95 (BraTS-evaluation's parser: inf -> 373).
HD95_PENALTY_MM: Final[float] = 373.0
#: Default NSD tolerance (mm): panoptica's default, the minimum voxel spacing of BraTS (1 mm).
NSD_TOLERANCE_MM: Final[float] = 1.0
NAN: Final[float] = float("nan")

Scenario = Literal["both_empty", "empty_reference", "empty_prediction", "no_overlap"]
SCENARIOS: Final[tuple[Scenario, ...]] = (
    "both_empty", "empty_reference", "empty_prediction", "no_overlap",
)


@dataclass(frozen=True)
class EdgeCases:
    """The declared value of a metric in each edge case; ``None``: computed as usual."""

    both_empty: float | None
    empty_reference: float | None
    empty_prediction: float | None
    no_overlap: float | None

    def value(self, scenario: Scenario) -> float | None:
        return getattr(self, scenario)

    def describe(self) -> dict[str, str]:
        return {s: "computed" if (v := self.value(s)) is None else repr(v) for s in SCENARIOS}


_P = HD95_PENALTY_MM
_ZERO_TP = EdgeCases(NAN, 0.0, 0.0, 0.0)  # panoptica DSC / NSD: NaN, else 0
_DISTANCE = EdgeCases(NAN, _P, _P, _P)  # panoptica HD95 / ASSD: NaN, else inf -> 373
_COUNT = EdgeCases(None, None, None, None)

#: Metric name -> edge-case values; the order is the output order.
EDGE_CASES: Final[dict[str, EdgeCases]] = {
    "dice": _ZERO_TP,
    "hd95": _DISTANCE,
    "assd": _DISTANCE,
    "nsd": _ZERO_TP,
    "volume_ml_pred": _COUNT,
    "volume_ml_true": _COUNT,
    "volume_diff_ml": _COUNT,
    "abs_volume_diff_ml": _COUNT,
    "sensitivity": EdgeCases(NAN, NAN, 0.0, 0.0),  # TP / |reference|: no reference -> NaN
    "precision": EdgeCases(NAN, 0.0, NAN, 0.0),  # TP / |prediction|: no prediction -> NaN
    "lesion_dice": _ZERO_TP,
    "lesion_hd95": _DISTANCE,
    "lesion_f1": _ZERO_TP,
    "lesion_tp": _COUNT,
    "lesion_fp": _COUNT,
    "lesion_fn": _COUNT,
}
METRIC_NAMES: Final[tuple[str, ...]] = tuple(EDGE_CASES)

DEFINITIONS: Final[dict[str, str]] = {
    "dice": "2|A∩B| / (|A| + |B|) of the region's binary masks",
    "hd95": "95th percentile of both directed surface-distance sets pooled (mm)",
    "assd": "mean of both directed surface-distance sets pooled (mm; MedPy 0.5)",
    "nsd": "mean of the two directed shares of surface voxels within the tolerance "
           "of the other surface (panoptica)",
    "volume_ml_pred": "predicted volume (mL)",
    "volume_ml_true": "reference volume (mL)",
    "volume_diff_ml": "predicted − reference volume (mL)",
    "abs_volume_diff_ml": "|predicted − reference| volume (mL)",
    "sensitivity": "|A∩B| / |A|, A the reference (voxel-wise)",
    "precision": "|A∩B| / |B|, B the prediction (voxel-wise)",
    "lesion_dice": "mean Dice over matched lesion pairs (panoptica sq_dsc)",
    "lesion_hd95": "mean HD95 over matched lesion pairs (mm; panoptica sq_hd95)",
    "lesion_f1": "detection F1 = 2TP / (2TP + FP + FN) (panoptica rq)",
    "lesion_tp": "matched lesions",
    "lesion_fp": "predicted lesions without a match",
    "lesion_fn": "reference lesions without a match",
}


def scenario(n_reference: int, n_prediction: int, n_common: int) -> Scenario | None:
    """The edge case of a region from its voxel counts; ``None`` for the normal case."""
    if n_reference == 0 and n_prediction == 0:
        return "both_empty"
    if n_reference == 0:
        return "empty_reference"
    if n_prediction == 0:
        return "empty_prediction"
    return "no_overlap" if n_common == 0 else None


def region_scores(reference: np.ndarray, prediction: np.ndarray, spacing: Sequence[float], *,
                  tolerance_mm: float = NSD_TOLERANCE_MM) -> dict[str, float]:
    """All ``METRIC_NAMES`` of one region's binary masks (see the module docstring)."""
    ref, pred, sp = _check_pair(reference, prediction, spacing)
    if not np.isfinite(tolerance_mm) or tolerance_mm < 0:
        raise InputError(f"NSD tolerance must be a finite number >= 0 mm, got {tolerance_mm}")
    n_ref, n_pred = int(np.count_nonzero(ref)), int(np.count_nonzero(pred))
    if n_ref or n_pred:
        ref, pred = _crop_to_union(ref, pred)
    n_common = int(np.count_nonzero(ref & pred))
    voxel_ml = float(np.prod(sp)) / 1000.0
    out: dict[str, float] = {
        "volume_ml_pred": n_pred * voxel_ml,
        "volume_ml_true": n_ref * voxel_ml,
        "volume_diff_ml": (n_pred - n_ref) * voxel_ml,
        "abs_volume_diff_ml": abs(n_pred - n_ref) * voxel_ml,
    }
    ref_labels, n_ref_lesions = components(ref)
    pred_labels, n_pred_lesions = components(pred)
    match = match_lesions(ref_labels, n_ref_lesions, pred_labels, n_pred_lesions)
    out.update(lesion_tp=float(match.tp), lesion_fp=float(match.fp), lesion_fn=float(match.fn))
    case = scenario(n_ref, n_pred, n_common)
    if case is not None:
        for name, edge in EDGE_CASES.items():
            value = edge.value(case)
            if value is not None:
                out[name] = value
        for name, computed in (("sensitivity", n_common / n_ref if n_ref else NAN),
                               ("precision", n_common / n_pred if n_pred else NAN)):
            out.setdefault(name, computed)
        return {name: out[name] for name in METRIC_NAMES}
    single = match.tp == 1 and n_ref_lesions == 1 and n_pred_lesions == 1
    d = surface_distances(ref, pred, sp, locate=not single)
    pooled = d.pooled
    hd95 = float(np.percentile(pooled, 95))
    out.update(
        dice=2 * n_common / (n_ref + n_pred),
        hd95=hd95,
        assd=float(pooled.mean()),
        nsd=d.nsd(tolerance_mm),
        sensitivity=n_common / n_ref,
        precision=n_common / n_pred,
        lesion_f1=match.f1,
    )
    if single:  # one lesion each side, matched: the lesion pair is the whole region
        out.update(lesion_dice=out["dice"], lesion_hd95=hd95)
    else:
        out.update(lesion_dice=float(np.mean(match.dice)),
                   lesion_hd95=float(np.mean(pair_hd95s(ref_labels, pred_labels, match, sp, d))))
    return {name: out[name] for name in METRIC_NAMES}


def policy_table() -> dict[str, dict[str, str]]:
    """The edge-case table, serialisable (``run.json``, ``docs/metrics.md``)."""
    return {name: edge.describe() for name, edge in EDGE_CASES.items()}
