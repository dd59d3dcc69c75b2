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
        assert m.family in ("classification", "segmentation", "recurrence")
        assert m.level == ("cohort" if m.family == "classification" else "case")
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
