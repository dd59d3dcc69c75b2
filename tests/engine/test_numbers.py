"""Issue 12 numbers: signs a − b, direction from the metric (target metrics), intervals inside
the metric's range, NaN unranked; checked against SciPy / scikit-learn or by hand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from imagination.config import StatisticsConfig
from imagination.engine import aggregate as agg
from imagination.engine.robustness_scoring import robustness_summary, site_shift_rows
from imagination.metrics.registry import get

STATS = StatisticsConfig(n_resamples=200, seed=0)


def _case_data(name: str, values: np.ndarray, sites: np.ndarray | None = None) -> agg.CaseData:
    n = values.size
    return agg.CaseData(name, values, np.array([f"s{i}" for i in range(n)]),
                        np.array(["A"] * n) if sites is None else sites, 0)


def test_comparison_estimate_is_a_minus_b_with_rs_v() -> None:
    rng = np.random.default_rng(1)
    b = rng.uniform(0.3, 0.6, 25)
    a = b + rng.uniform(0.01, 0.2, 25)  # a is better on every case
    datas = [_case_data("a", a), _case_data("b", b)]
    aggregate = agg.aggregate_cases(datas, STATS)
    (row,) = agg.comparison_rows("recurrence", get("coverage_all_model"), aggregate, STATS,
                                 agg.case_pair_test(datas))
    assert (row["adapter_a"], row["adapter_b"]) == ("a", "b")
    assert row["estimate"] == pytest.approx(a.mean() - b.mean())
    assert row["estimate"] > 0 and row["ci_low"] > 0
    d = a - b
    assert row["statistic"] == np.sum(stats.rankdata(np.abs(d))[d > 0])  # R's V of a − b
    assert row["p_value"] == pytest.approx(stats.wilcoxon(a, b, method="exact").pvalue)
    assert row["test"] == "wilcoxon-exact"


def test_delong_statistic_has_the_sign_of_a_minus_b() -> None:
    rng = np.random.default_rng(2)
    y = np.array(["wt"] * 20 + ["mut"] * 20)
    good = np.r_[rng.uniform(0, 0.6, 20), rng.uniform(0.4, 1, 20)]
    poor = rng.uniform(0, 1, 40)
    datas = [agg.ClassData(name, y, np.column_stack([1 - p, p]),
                           np.array([f"s{i}" for i in range(40)]), np.array(["A"] * 40), 0)
             for name, p in (("good", good), ("poor", poor))]
    classes = ["wt", "mut"]
    metric = get("auroc")
    aggregate = agg.aggregate_classification(metric, datas, classes, "mut", STATS)
    test = agg.classification_pair_test(metric, datas, classes, "mut")
    (row,) = agg.comparison_rows("idh", metric, aggregate, STATS, test)
    expected = roc_auc_score(y == "mut", good) - roc_auc_score(y == "mut", poor)
    assert row["estimate"] == pytest.approx(expected) and expected > 0
    assert row["statistic"] > 0


def test_robustness_worst_case_of_a_target_metric_is_the_farthest_from_its_target() -> None:
    rows = [{"task": "idh", "metric": "calibration_slope", "adapter": "m", "kind": "noise",
             "severity": s, "value": v, "clean_value": 1.0, "delta": v - 1.0}
            for s, v in ((1, 1.5), (2, 0.9), (3, 1.05))]
    (summary,) = robustness_summary(rows, None)
    assert summary["worst_severity"] == 1 and summary["worst_value"] == 1.5
    # corruption error of a target metric: mean |slope − 1| over severities
    assert summary["mean_error"] == pytest.approx((0.5 + 0.1 + 0.05) / 3)


def test_site_shift_worst_site_of_a_target_metric() -> None:
    site_rows = [{"task": "idh", "metric": "calibration_slope", "adapter": "m", "site": s,
                  "value": v} for s, v in (("A", 0.9), ("B", 1.5), ("C", 1.0))]
    (row,) = site_shift_rows(site_rows)
    assert (row["worst_site"], row["best_site"]) == ("B", "C")


def test_intervals_stay_in_the_metric_range_and_nan_gets_no_rank() -> None:
    near_one = np.array([1.0, 1.0, 0.97, 1.0, 0.99, 1.0])
    datas = [_case_data("full", near_one), _case_data("none", np.full(6, np.nan)),
             _case_data("half", np.full(6, 0.5))]
    metric = get("coverage_all_model")
    rows = agg.leaderboard_rows("recurrence", metric, agg.aggregate_cases(datas, STATS), STATS)
    by = {r["adapter"]: r for r in rows}
    assert np.isnan(by["none"]["rank"]) and np.isnan(by["none"]["rank_ci_low"])
    assert (by["full"]["rank"], by["half"]["rank"]) == (1, 2)
    sites = agg.site_rows("recurrence", metric, datas[:1], STATS)
    t_high = near_one.mean() + stats.t.ppf(0.975, 5) * near_one.std(ddof=1) / np.sqrt(6)
    assert t_high > 1  # the unclipped t interval leaves the metric's range ...
    assert sites[0]["ci_high"] == 1.0  # ... the reported one does not
    assert sites[0]["ci_low"] == pytest.approx(
        near_one.mean() - stats.t.ppf(0.975, 5) * near_one.std(ddof=1) / np.sqrt(6))
