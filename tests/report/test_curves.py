"""Curve data behind the plots, checked against scikit-learn and hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import confusion_matrix, roc_auc_score

from imagination.report import curves

CLASSES = ("wildtype", "mutant")


def predictions(truth: list[str], p_mutant: list[float], task: str = "idh") -> pd.DataFrame:
    rows = []
    for i, (t, p) in enumerate(zip(truth, p_mutant, strict=True)):
        for cls, prob in (("wildtype", 1 - p), ("mutant", p)):
            rows.append((task, "m", "clean", f"c{i}", f"s{i}", "A", t, cls, prob))
    return pd.DataFrame(rows, columns=["task", "adapter", "perturbation", "case_id",
                                       "subject_id", "site", "truth", "class", "probability"])


def test_pivot_keeps_class_order_and_positive_class():
    data = curves.classification_data(predictions(["mutant", "wildtype"], [0.9, 0.2]), "idh", "m")
    assert data.classes == CLASSES and data.positive == "mutant"
    np.testing.assert_allclose(data.proba, [[0.1, 0.9], [0.8, 0.2]])
    assert data.truth == ["mutant", "wildtype"]


def test_other_adapters_and_perturbations_are_not_mixed_in():
    table = predictions(["mutant", "wildtype"], [0.9, 0.2])
    other = table.assign(perturbation="noise@2", probability=0.5)
    data = curves.classification_data(pd.concat([table, other]), "idh", "m")
    np.testing.assert_allclose(data.proba[:, 1], [0.9, 0.2])
    assert curves.classification_data(table, "idh", "absent") is None


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.floats(0, 1)), min_size=4, max_size=40).filter(
    lambda xs: 0 < sum(x[0] for x in xs) < len(xs)))
def test_binary_roc_area_matches_scikit_learn(cases):
    truth = ["mutant" if y else "wildtype" for y, _ in cases]
    scores = [s for _, s in cases]
    roc = curves.roc(curves.classification_data(predictions(truth, scores), "idh", "m"))
    expected = roc_auc_score([y for y, _ in cases], scores)
    assert roc.auc == pytest.approx(expected)
    assert np.trapezoid(roc.tpr, roc.fpr) == pytest.approx(expected)


def test_single_class_has_no_roc():
    data = curves.classification_data(predictions(["mutant"] * 3, [0.2, 0.5, 0.9]), "idh", "m")
    assert curves.roc(data) is None


def test_confusion_matrix_matches_scikit_learn_at_threshold_half():
    truth = ["mutant", "mutant", "wildtype", "wildtype", "wildtype"]
    p = [0.7, 0.4, 0.5, 0.1, 0.2]
    data = curves.classification_data(predictions(truth, p), "idh", "m")
    expected = confusion_matrix(truth, ["mutant" if x >= 0.5 else "wildtype" for x in p],
                                labels=list(CLASSES))
    np.testing.assert_array_equal(curves.confusion(data), expected)


def test_calibration_bins_by_hand():
    # bins [0.1, 0.2): 0.15, 0.15 (one positive); [0.8, 0.9): 0.85 x 3 (two positives)
    truth = ["mutant", "wildtype", "mutant", "mutant", "wildtype"]
    data = curves.classification_data(predictions(truth, [0.15, 0.15, 0.85, 0.85, 0.85]),
                                      "idh", "m")
    cal = curves.calibration(data)
    np.testing.assert_allclose(cal.predicted, [0.15, 0.85])
    np.testing.assert_allclose(cal.observed, [0.5, 2 / 3])
    np.testing.assert_array_equal(cal.counts, [2, 3])


def test_decision_curve_by_hand():
    # 4 cases, 2 positive; at p_t = 0.5 treated: 0.9 (TP), 0.6 (FP) -> NB = 1/4 - 1/4 * 1
    data = curves.classification_data(
        predictions(["mutant", "wildtype", "mutant", "wildtype"], [0.9, 0.6, 0.3, 0.1]), "idh",
        "m")
    dc = curves.decision(data)
    at = np.argmin(np.abs(dc.thresholds - 0.5))
    assert dc.model[at] == pytest.approx(0.0)
    assert dc.treat_all[at] == pytest.approx(0.5 - 0.5 * 1.0)
    at = np.argmin(np.abs(dc.thresholds - 0.2))  # treated: 0.9, 0.6, 0.3 -> 2/4 - 1/4 * 0.25
    assert dc.model[at] == pytest.approx(0.5 - 0.25 * 0.25)


def test_multiclass_macro_roc_is_the_mean_one_vs_rest_auc():
    rng = np.random.default_rng(3)
    classes = ("glioblastoma", "astrocytoma", "oligodendroglioma")
    truth = rng.choice(classes, 30)
    proba = rng.dirichlet([1, 1, 1], 30)
    rows = [("tumor_type", "m", "clean", f"c{i}", f"s{i}", "A", truth[i], c, proba[i, k])
            for i in range(30) for k, c in enumerate(classes)]
    table = pd.DataFrame(rows, columns=["task", "adapter", "perturbation", "case_id",
                                        "subject_id", "site", "truth", "class", "probability"])
    data = curves.classification_data(table, "tumor_type", "m")
    assert data.classes == classes and data.positive is None and curves.decision(data) is None
    index = np.array([classes.index(t) for t in truth])
    expected = roc_auc_score(index, proba, multi_class="ovr", average="macro")
    assert curves.roc(data).auc == pytest.approx(expected)


def test_paired_case_values_match_by_case():
    table = pd.DataFrame([
        ("recurrence", "m", "clean", "c1", "A", "coverage_all_standard", 0.9),
        ("recurrence", "m", "clean", "c2", "A", "coverage_all_model", 0.5),
        ("recurrence", "m", "clean", "c1", "A", "coverage_all_model", 0.95),
        ("recurrence", "m", "clean", "c2", "A", "coverage_all_standard", 0.7),
        ("recurrence", "m", "noise@1", "c2", "A", "coverage_all_standard", 0.1),
    ], columns=["task", "adapter", "perturbation", "case_id", "site", "metric", "value"])
    standard, model = curves.paired_case_values(table, "recurrence", "m",
                                                "coverage_all_standard", "coverage_all_model")
    np.testing.assert_allclose(standard, [0.9, 0.7])
    np.testing.assert_allclose(model, [0.95, 0.5])
