"""Reproducibility tables from gathered predictions: test–retest pairs and adapter agreement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imagination.cohort.case import Case
from imagination.cohort.cohort import Cohort
from imagination.config import parse_config
from imagination.engine.materialize import ClassPredictions
from imagination.engine.robustness_scoring import site_shift_rows
from imagination.tasks.classification_scoring import agreement_rows, retest_rows

CONFIG = parse_config({"cohort": {"manifests": ["x.csv"]}, "adapters": [{"name": "prevalence"}]},
                      base_dir=Path("/"))


def _cohort(n_subjects: int) -> Cohort:
    cases = []
    for s in range(n_subjects):
        for timepoint in ("test", "retest"):
            cases.append(Case(case_id=f"s{s}-{timepoint}", subject_id=f"s{s}", site="A",
                              timepoint=timepoint, labels={"idh": "mutant" if s % 2 else
                                                           "wildtype"}))
    return Cohort(cases=tuple(cases))


def _prediction(adapter: str, p_mutant: np.ndarray, cohort: Cohort) -> ClassPredictions:
    proba = np.column_stack([1 - p_mutant, p_mutant])
    return ClassPredictions("idh", adapter, "clean", ("wildtype", "mutant"),
                            tuple(c.case_id for c in cohort.cases), proba)


def test_test_retest_icc_and_bland_altman_use_the_paired_scans(tmp_path: Path) -> None:
    cohort = _cohort(8)
    rng = np.random.default_rng(0)
    first = rng.uniform(0.1, 0.9, 8)
    second = np.clip(first + rng.normal(0, 0.05, 8), 0, 1)
    p = np.empty(16)
    p[0::2], p[1::2] = first, second
    rows = retest_rows(CONFIG, cohort, [_prediction("m", p, cohort)])
    by_metric = {r["metric"]: r for r in rows if r["analysis"] == "test_retest"}
    # ICC(3,1) by hand: two-way mixed, consistency, single rater (Shrout & Fleiss 1979)
    table = np.column_stack([first, second])
    n, k = table.shape
    grand = table.mean()
    ss_rows = k * ((table.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((table.mean(axis=0) - grand) ** 2).sum()
    ss_err = ((table - grand) ** 2).sum() - ss_rows - ss_cols
    ms_rows, ms_err = ss_rows / (n - 1), ss_err / ((n - 1) * (k - 1))
    assert by_metric["icc3_1"]["value"] == pytest.approx((ms_rows - ms_err)
                                                         / (ms_rows + (k - 1) * ms_err))
    assert by_metric["bland_altman_bias"]["value"] == pytest.approx(np.mean(first - second))
    assert by_metric["icc3_1"]["n"] == 8


def test_no_retest_pairs_no_rows_and_agreement_is_fleiss_kappa() -> None:
    cohort = Cohort(cases=tuple(Case(case_id=f"c{i}", subject_id=f"c{i}", site="A",
                                     labels={"idh": "mutant"}) for i in range(6)))
    a = np.array([0.9, 0.8, 0.2, 0.1, 0.7, 0.3])
    b = np.array([0.8, 0.3, 0.1, 0.2, 0.9, 0.6])
    preds = [_prediction("a", a, cohort), _prediction("b", b, cohort)]
    rows = retest_rows(CONFIG, cohort, preds) + agreement_rows(cohort, preds)
    assert not [r for r in rows if r["analysis"] == "test_retest"]
    kappa = next(r for r in rows if r["analysis"] == "agreement")["value"]
    # two raters: Fleiss' kappa from the category proportions, by hand
    labels = np.array([[x >= 0.5 for x in a], [x >= 0.5 for x in b]])
    agree = (labels[0] == labels[1]).mean()
    share = labels.mean()
    expected = share**2 + (1 - share) ** 2
    assert kappa == pytest.approx((agree - expected) / (1 - expected))


def test_site_shift_names_the_worst_site_by_metric_direction() -> None:
    rows = [{"task": "recurrence", "metric": "missed_ml_model", "adapter": "m", "site": s,
             "value": v} for s, v in (("A", 3.0), ("B", 9.0), ("C", 1.0))]
    rows.append({"task": "recurrence", "metric": "missed_ml_model", "adapter": "m",
                 "site": "(heterogeneity)", "value": 0.5})
    (out,) = site_shift_rows(rows)
    assert out["worst_site"] == "B" and out["best_site"] == "C" and out["spread"] == 8.0
