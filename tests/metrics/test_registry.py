"""The metric registry: declared fields, look-ups and provenance."""

from __future__ import annotations

import json

import numpy as np
import pytest

from imagination.errors import InputError
from imagination.metrics import registry


def test_every_metric_declares_its_contract() -> None:
    metrics = registry.available()
    assert len({(m.family, m.name) for m in metrics}) == len(metrics)
    for m in metrics:
        assert m.family in ("classification", "response", "segmentation", "recurrence")
        assert m.level == ("cohort" if m.family in ("classification", "response") else "case")
        assert m.direction in ("higher", "lower", "target")
        assert m.range[0] < m.range[1]
        assert m.edge_case_policy and m.version
        assert np.isnan(m.worst) or m.range[0] <= m.worst <= m.range[1] or m.worst == 373.0
        assert (m.target is not None) == (m.direction == "target")
        json.dumps(m.describe())


def test_required_metrics_are_registered() -> None:
    names = {m.name for m in registry.available("classification")}
    assert {"auroc", "auprc", "balanced_accuracy", "sensitivity", "specificity", "ppv", "npv",
            "f1", "mcc", "cohen_kappa", "brier", "log_loss", "ece", "calibration_slope",
            "calibration_intercept", "net_benefit"} <= names
    assert {m.name for m in registry.available("segmentation")} == {
        "dice", "hd95", "assd", "nsd", "volume_diff_ml", "abs_volume_diff_ml", "sensitivity",
        "precision", "lesion_dice", "lesion_hd95", "lesion_f1", "lesion_tp", "lesion_fp",
        "lesion_fn"}
    # a name in two families: each family's own metric
    assert registry.get("sensitivity").family == "classification"
    assert registry.get("sensitivity", "segmentation").family == "segmentation"
    assert {"coverage_all_model", "coverage_gain_all", "coverage_enhancing_model",
            "missed_ml_model", "voxel_auroc"} <= {m.name for m in registry.available("recurrence")}


def test_get_compute_and_better() -> None:
    auroc = registry.get("auroc")
    assert auroc.compute(["n", "p", "p"], [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], ("n", "p")) == 1.0
    assert auroc.better(0.9, 0.8) and registry.get("hd95").better(1.0, 2.0)
    assert registry.get("calibration_slope").better(1.1, 0.8)
    ref = np.zeros((5, 5, 5), bool)
    ref[1:3, 1:3, 1:3] = True
    assert registry.get("dice").compute(ref, ref, (1, 1, 1)) == 1.0
    brain = np.ones((9, 9, 9), bool)
    core = np.zeros_like(brain)
    core[4, 4, 4] = True
    score = np.random.default_rng(0).random(brain.shape)
    cov = registry.get("coverage_all_standard").compute(score, core, core, brain, (1, 1, 1))
    assert cov == 1.0
    with pytest.raises(InputError, match="enhancing"):
        registry.get("coverage_enhancing_model").compute(score, core, core, brain, (1, 1, 1))


def test_unknown_names_are_input_errors_and_provenance_is_serialisable() -> None:
    with pytest.raises(InputError, match="unknown metric"):
        registry.get("nope")
    with pytest.raises(InputError, match="family"):
        registry.available("nope")
    prov = registry.policy_versions()
    assert prov["registry"] == registry.REGISTRY_VERSION
    assert "MedPy" in prov["metrics"]["hd95"]["definition"]
    json.dumps(prov)


# -- Metric semantics (issue 14 item 3) ----------------------------------------------------------

def test_badness_better_and_error_follow_direction_and_target() -> None:
    slope, auroc, hd95 = (registry.get(n) for n in ("calibration_slope", "auroc", "hd95"))
    assert slope.better(0.9, 1.5) and not slope.better(1.5, 0.9)  # |0.9 − 1| < |1.5 − 1|
    assert slope.better(1.05, 0.9) and slope.better(0.97, 1.05)
    assert auroc.better(0.9, np.nan) and hd95.better(3.0, np.nan)  # NaN is worst of all
    assert list(slope.badness(np.array([0.5, 1.0, 2.0]))) == [0.5, 0.0, 1.0]
    assert auroc.error(0.75) == pytest.approx(0.25) and hd95.error(4.0) == 4.0
    assert slope.worsening(1.0, 0.8) == pytest.approx(0.2)
    assert slope.allowed(0.9, 0.1) == pytest.approx(0.8)
    assert slope.allowed(1.2, 0.1) == pytest.approx(1.3)
    assert auroc.allowed(0.8, 0.02) == pytest.approx(0.78)
    assert registry.get("coverage_all_model").clip(1.009) == 1.0
    assert registry.semantics("flip_rate").direction == "lower"
    assert registry.semantics("not-a-metric").direction == "higher"
    with pytest.raises(InputError):
        registry.get("flip_rate")  # derived: described, not scoreable


def test_every_metric_serialises_its_semantics_into_run_json() -> None:
    described = json.loads(json.dumps(registry.policy_versions()))["metrics"]
    slope = described["calibration_slope"]
    assert (slope["direction"], slope["target"]) == ("target", 1.0)
    assert described["missed_ml_model"]["unit"] == "mL"
    assert described["hd95"]["edge_cases"]["both_empty"] == "NaN"  # BraTS 2025: left out
    assert described["hd95"]["edge_cases"]["empty_prediction"] == 373.0  # official penalty
    assert described["segmentation.sensitivity"]["edge_cases"]["empty_prediction"] == 0.0
    assert described["auroc"]["edge_cases"]["empty_reference"] == "NaN"
    for m in described.values():
        assert {"label", "unit", "range", "edge_cases", "direction"} <= set(m)


def _binary(y_pos: list[bool], p_pos: list[float]) -> tuple[list[str], np.ndarray]:
    p = np.asarray(p_pos, dtype=float)
    return ["p" if v else "n" for v in y_pos], np.column_stack([1 - p, p])


#: (reference empty, prediction empty) -> truth (positive?) and p(positive) of 4 cases
SITUATIONS = {
    (True, False): ([False] * 4, [0.9, 0.2, 0.1, 0.3]),
    (False, True): ([True, False, True, False], [0.1, 0.2, 0.3, 0.4]),
    (True, True): ([False] * 4, [0.1, 0.2, 0.3, 0.4]),
}


@pytest.mark.parametrize("metric", list(registry.available("classification")),
                         ids=lambda m: m.name)
def test_classification_edge_case_table_is_what_the_metric_computes(metric) -> None:
    for (ref_empty, pred_empty), (truth, p) in SITUATIONS.items():
        declared = metric.edge_value(ref_empty, pred_empty)
        if declared is None:
            continue
        y, proba = _binary(truth, p)
        got = metric.compute(y, proba, ("n", "p"), positive="p")
        assert (np.isnan(got) and np.isnan(declared)) or got == declared, (
            metric.name, ref_empty, pred_empty)


@pytest.mark.parametrize("metric", registry.available("segmentation"), ids=lambda m: m.name)
def test_segmentation_edge_case_table_is_what_the_metric_computes(metric) -> None:
    empty = np.zeros((8, 8, 8), bool)
    blob, other = empty.copy(), empty.copy()
    blob[1:3, 1:3, 1:3] = True
    other[5:7, 5:7, 5:7] = True
    cases = {(True, False, False): (empty, blob), (False, True, False): (blob, empty),
             (True, True, False): (empty, empty), (False, False, True): (blob, other)}
    for (ref_empty, pred_empty, apart), (truth, pred) in cases.items():
        declared = metric.edge_value(ref_empty, pred_empty, no_overlap=apart)
        if declared is None:
            continue
        got = metric.compute(truth, pred, (1.0, 1.0, 2.0))
        assert (np.isnan(got) and np.isnan(declared)) or got == pytest.approx(declared), (
            metric.name, ref_empty, pred_empty, apart)


def test_recurrence_edge_case_table_is_what_the_formula_gives() -> None:
    from imagination.metrics.recurrence import recurrence_case_metrics

    shape = (12, 12, 12)
    brain = np.ones(shape, bool)
    core = np.zeros(shape, bool)
    core[5:7, 5:7, 5:7] = True
    score = -np.abs(np.indices(shape) - 6).sum(axis=0).astype(np.float32)
    no_recurrence = np.zeros(shape, bool)
    values = recurrence_case_metrics(score, no_recurrence, core, brain, (1, 1, 1), margin_mm=2,
                                     enhancing_mask=no_recurrence)
    for metric in registry.available("recurrence"):
        declared = metric.edge_value(True, False)
        assert declared is not None, metric.name  # every one declares "no recurrence"
        got = values[metric.name]
        assert (np.isnan(got) and np.isnan(declared)) or got == declared, metric.name
