"""The metric registry: every metric with its family, level, direction, range, worst value and a
declared, versioned edge-case policy, recorded with every result (``policy_versions``).

``compute`` call shapes by family:

* classification (level ``cohort``): ``compute(y_true, proba, classes, *, positive, threshold)``
* segmentation (level ``case``): ``compute(reference, prediction, spacing, *, tolerance_mm)``
  on one region's binary masks (BraTS 2025 definition, ``metrics.brats``)
* recurrence (level ``case``): ``compute(score_map, recurrence, tumour_core, brain, spacing, *,
  margin_mm, enhancing_mask)``. To score a case once, call
  :func:`imagination.metrics.recurrence.recurrence_case_metrics`; its keys are the metric names.

``direction`` is ``higher`` or ``lower`` (better), or ``target`` for metrics whose ideal is a
value (calibration slope 1, intercept 0): rank those by ``abs(value - target)``. ``worst`` is the
value the ``worst`` failure policy substitutes for a failed case; NaN means none is defined
(the failed case is left out and counted).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import numpy as np

from imagination.errors import InputError
from imagination.metrics import (
    brats,
    calibration,
    classification,
    decision,
    recurrence,
    segmentation,
)

Family = Literal["classification", "segmentation", "recurrence"]
Level = Literal["cohort", "case"]
Direction = Literal["higher", "lower", "target"]
AppliesTo = Literal["binary", "multiclass", "any"]

REGISTRY_VERSION = "1"
INF = float("inf")
NAN = float("nan")


@dataclass(frozen=True)
class Metric:
    name: str
    family: Family
    level: Level
    direction: Direction
    range: tuple[float, float]
    worst: float
    edge_case_policy: str
    version: str
    compute: Callable[..., float]
    #: which classification tasks it applies to (segmentation/recurrence: ``any``)
    applies_to: AppliesTo = "any"
    #: ideal value when ``direction == "target"``
    target: float | None = None
    definition: str = ""

    def better(self, a: float, b: float) -> bool:
        """True when value ``a`` is strictly better than ``b``."""
        if self.direction == "higher":
            return a > b
        if self.direction == "lower":
            return a < b
        assert self.target is not None
        return abs(a - self.target) < abs(b - self.target)

    def describe(self) -> dict[str, Any]:
        """Serialisable description (everything but ``compute``)."""
        return {
            "name": self.name, "family": self.family, "level": self.level,
            "direction": self.direction, "range": list(self.range), "worst": self.worst,
            "edge_case_policy": self.edge_case_policy, "version": self.version,
            "applies_to": self.applies_to, "target": self.target, "definition": self.definition,
        }


_UNDEFINED = "zero denominator: NaN"
_THRESHOLD = "case positive when p(positive) >= threshold (default 0.5); "


def _classification() -> list[Metric]:
    def m(name: str, fn: Callable[..., float], direction: Direction, rng: tuple[float, float],
          worst: float, policy: str, applies_to: AppliesTo = "any", target: float | None = None,
          definition: str = "") -> Metric:
        return Metric(name, "classification", "cohort", direction, rng, worst, policy, "1", fn,
                      applies_to, target, definition or (fn.__doc__ or "").split("\n")[0])

    single_class = "fewer than two classes present in y_true: NaN"
    return [
        m("auroc", classification.auroc, "higher", (0, 1), 0.0,
          single_class + "; multiclass: macro one-vs-rest over classes present; ties count 1/2"),
        m("auprc", classification.auprc, "higher", (0, 1), 0.0,
          "no positive case: NaN; step-wise average precision (no interpolation)"),
        m("balanced_accuracy", classification.balanced_accuracy, "higher", (0, 1), 0.0,
          _THRESHOLD + "multiclass arg-max; mean recall over classes present in y_true"),
        m("accuracy", classification.accuracy, "higher", (0, 1), 0.0,
          _THRESHOLD + "multiclass arg-max, ties to the first class"),
        m("sensitivity", classification.sensitivity, "higher", (0, 1), 0.0,
          _THRESHOLD + _UNDEFINED, "binary"),
        m("specificity", classification.specificity, "higher", (0, 1), 0.0,
          _THRESHOLD + _UNDEFINED, "binary"),
        m("ppv", classification.ppv, "higher", (0, 1), 0.0, _THRESHOLD + _UNDEFINED, "binary"),
        m("npv", classification.npv, "higher", (0, 1), 0.0, _THRESHOLD + _UNDEFINED, "binary"),
        m("f1", classification.f1, "higher", (0, 1), 0.0,
          _THRESHOLD + "multiclass macro mean over classes in truth or predictions; "
          + _UNDEFINED),
        m("mcc", classification.mcc, "higher", (-1, 1), -1.0,
          _THRESHOLD + "undefined (a constant truth or prediction): 0, as scikit-learn"),
        m("cohen_kappa", classification.cohen_kappa, "higher", (-1, 1), -1.0,
          _THRESHOLD + "chance agreement 1: NaN"),
        m("brier", calibration.brier, "lower", (0, 2), 1.0,
          "binary: mean squared error of p(positive), range [0, 1]; multiclass: sum over "
          "classes, range [0, 2]"),
        m("log_loss", calibration.log_loss, "lower", (0, INF), INF,
          "probabilities clipped to [eps, 1 - eps], eps = float64 machine epsilon"),
        m("ece", calibration.expected_calibration_error, "lower", (0, 1), 1.0,
          "10 equal-width bins, [i/10, (i+1)/10), 1 in the last bin; binary: p(positive); "
          "multiclass: top-label"),
        m("calibration_slope", calibration.calibration_slope, "target", (-INF, INF), NAN,
          "logit clipped at 1e-15; one class or non-converging fit (separation): NaN",
          "binary", 1.0),
        m("calibration_intercept", calibration.calibration_intercept, "target", (-INF, INF),
          NAN, "slope fixed at 1 (logit offset); logit clipped at 1e-15; one class: NaN",
          "binary", 0.0),
        m("net_benefit", decision.net_benefit, "higher", (-INF, 1), -INF,
          "treat when p(positive) >= threshold; threshold strictly in (0, 1)", "binary"),
    ]


def _segmentation() -> list[Metric]:
    """One region's binary masks scored by the declared BraTS 2025 definition
    (``metrics.brats``); to score a region once, call ``brats.region_scores``."""
    def m(name: str, direction: Direction, rng: tuple[float, float], worst: float,
          target: float | None = None) -> Metric:
        def compute(reference: np.ndarray, prediction: np.ndarray, spacing: Any,
                    *, tolerance_mm: float = brats.NSD_TOLERANCE_MM) -> float:
            return brats.region_scores(reference, prediction, spacing,
                                       tolerance_mm=tolerance_mm)[name]

        edge = brats.EDGE_CASES[name].describe()
        policy = "; ".join(f"{case.replace('_', ' ')}: {value}" for case, value in edge.items())
        return Metric(name, "segmentation", "case", direction, rng, worst, policy, "2", compute,
                      target=target,
                      definition=f"{brats.DEFINITIONS[name]}. {segmentation.SURFACE_DEFINITION}"
                      if name in ("hd95", "assd", "nsd", "lesion_hd95")
                      else brats.DEFINITIONS[name])

    penalty = brats.HD95_PENALTY_MM
    return [
        m("dice", "higher", (0, 1), 0.0),
        m("hd95", "lower", (0, INF), penalty),
        m("assd", "lower", (0, INF), penalty),
        m("nsd", "higher", (0, 1), 0.0),
        m("volume_diff_ml", "target", (-INF, INF), NAN, target=0.0),
        m("abs_volume_diff_ml", "lower", (0, INF), NAN),
        m("sensitivity", "higher", (0, 1), 0.0),
        m("precision", "higher", (0, 1), 0.0),
        m("lesion_dice", "higher", (0, 1), 0.0),
        m("lesion_hd95", "lower", (0, INF), penalty),
        m("lesion_f1", "higher", (0, 1), 0.0),
        m("lesion_tp", "higher", (0, INF), NAN),
        m("lesion_fp", "lower", (0, INF), NAN),
        m("lesion_fn", "lower", (0, INF), NAN),
    ]


def _recurrence_compute(key: str, score_map: np.ndarray, recurrence_mask: np.ndarray,
                        tumour_core: np.ndarray, brain: np.ndarray, spacing: Any, *,
                        margin_mm: float = 15.0, enhancing_mask: np.ndarray | None = None,
                        ) -> float:
    values = recurrence.recurrence_case_metrics(
        score_map, recurrence_mask, tumour_core, brain, spacing, margin_mm=margin_mm,
        enhancing_mask=enhancing_mask,
    )
    if key not in values:
        raise InputError(f"metric {key} needs the enhancing-recurrence mask")
    return values[key]


def _recurrence() -> list[Metric]:
    specs: list[tuple[str, Direction, tuple[float, float], float]] = [
        ("coverage_all_model", "higher", (0, 1), 0.0),
        ("coverage_all_standard", "higher", (0, 1), 0.0),
        ("coverage_gain_all", "higher", (-1, 1), -1.0),
        ("coverage_enhancing_model", "higher", (0, 1), 0.0),
        ("coverage_enhancing_standard", "higher", (0, 1), 0.0),
        ("coverage_gain_enhancing", "higher", (-1, 1), -1.0),
        ("missed_ml_model", "lower", (0, INF), INF),
        ("missed_ml_standard", "lower", (0, INF), INF),
        ("voxel_auroc", "higher", (0, 1), 0.0),
        ("fraction_in_standard", "higher", (0, 1), NAN),
        ("pattern_local", "higher", (0, 1), NAN),
        ("pattern_marginal", "lower", (0, 1), NAN),
        ("pattern_distant", "lower", (0, 1), NAN),
    ]
    return [
        Metric(name, "recurrence", "case", direction, rng, worst, recurrence.EDGE_CASE_POLICY,
               "1", partial(_recurrence_compute, name),
               definition=(recurrence.__doc__ or "").split("\n")[0])
        for name, direction, rng, worst in specs
    ]


_ALL: tuple[Metric, ...] = (*_classification(), *_segmentation(), *_recurrence())
#: by (family, name): a name may exist in two families (``sensitivity``: cases, voxels)
_BY_FAMILY: dict[tuple[str, str], Metric] = {(m.family, m.name): m for m in _ALL}
#: by name: the first family's metric (classification before segmentation)
_METRICS: dict[str, Metric] = {}
for _m in _ALL:
    _METRICS.setdefault(_m.name, _m)
FAMILIES: tuple[str, ...] = ("classification", "segmentation", "recurrence")


def get(name: str, family: str | None = None) -> Metric:
    """The metric called ``name`` (of ``family`` when given: names shared by two families
    have the same direction); an input error listing the known names otherwise."""
    found = _METRICS.get(name) if family is None else _BY_FAMILY.get((family, name))
    if found is None:
        known = sorted(_METRICS if family is None else (n for f, n in _BY_FAMILY if f == family))
        raise InputError(f"unknown metric {name!r}; known: {', '.join(known)}")
    return found


def available(family: str | None = None) -> list[Metric]:
    """All metrics, or those of one family, in registry order."""
    if family is not None and family not in FAMILIES:
        raise InputError(f"unknown metric family {family!r}; known: {', '.join(FAMILIES)}")
    return [m for m in _ALL if family is None or m.family == family]


def policy_versions() -> dict[str, Any]:
    """Provenance: the registry version and each metric's version and edge-case policy
    (a name shared by two families: the later one as ``family.name``)."""
    return {
        "registry": REGISTRY_VERSION,
        "metrics": {
            (m.name if _METRICS[m.name] is m else f"{m.family}.{m.name}"): {
                "version": m.version, "edge_case_policy": m.edge_case_policy,
                "definition": m.definition}
            for m in _ALL
        },
    }
