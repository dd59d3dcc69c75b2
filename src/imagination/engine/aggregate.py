"""From per-case data to leaderboard rows, paired comparisons and per-site estimates.

All models of one (task, metric) are resampled with the *same* subject-level bootstrap weights
(stratified by outcome for classification), so intervals, rank intervals and paired differences
come from one joint distribution.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from imagination.config import StatisticsConfig
from imagination.errors import InputError
from imagination.metrics.registry import Metric
from imagination.stats.bootstrap import interval, jackknife_weights, resample_weights
from imagination.stats.delong import delong_paired_test
from imagination.stats.multiple import holm
from imagination.stats.paired import WILCOXON_VARIANT, mcnemar, wilcoxon_paired
from imagination.stats.ranking import rank_stability
from imagination.stats.resampled import resampled_classification
from imagination.stats.sites import SiteEstimate, site_heterogeneity, site_means

#: The paired tests of ``comparisons.csv`` and ``ablation.csv`` (recorded in ``run.json``).
STATISTICAL_TESTS: dict[str, str] = {
    "sign": "every difference is a − b (adapter_a − adapter_b; robustness: perturbed − clean; "
            "ablation: with − without)",
    "delong": "binary AUROC: DeLong's paired test (two-sided)",
    "mcnemar": "accuracy: exact McNemar test (two-sided binomial on discordant pairs)",
    "wilcoxon": WILCOXON_VARIANT,
    "paired_bootstrap": "other cohort metrics: two-sided paired subject bootstrap, "
                        "p = 2 (k + 1) / (B + 1)",
    "ablation": "sign-flip permutation test of per-subject mean differences (p_value) and "
                "the Wilcoxon test above on the same differences (p_wilcoxon)",
    "multiplicity": "Holm within each (task, metric) family of comparisons",
}


@dataclass
class ClassData:
    """One adapter's scored classification inputs: truth and probabilities per case."""

    adapter: str
    y_true: np.ndarray  # class labels (str), cases with a truth label
    proba: np.ndarray  # n × k, failed rows already handled by the failure policy
    subjects: np.ndarray
    sites: np.ndarray
    n_failed: int


@dataclass
class CaseData:
    """One adapter's per-case metric values (NaN = undefined or failed-and-excluded)."""

    adapter: str
    values: np.ndarray
    subjects: np.ndarray
    sites: np.ndarray
    n_failed: int


def _pos(classes: Sequence[str], positive: str | None) -> int | None:
    return classes.index(positive) if (positive is not None and len(classes) == 2) else None


def classification_distribution(metric: Metric, y_true: np.ndarray, proba: np.ndarray,
                                classes: Sequence[str], positive: str | None,
                                weights: np.ndarray) -> np.ndarray:
    """The metric under each row of integer case weights (exact: weights = case repeats)."""
    try:
        fast = resampled_classification(metric.name, list(y_true), proba, list(classes),
                                        weights=weights, positive=positive)
    except (InputError, ValueError, ZeroDivisionError, FloatingPointError):
        fast = None
    if fast is not None:
        return np.asarray(fast, dtype=np.float64)
    cases = np.arange(y_true.size)
    out = np.empty(weights.shape[0])
    for b, row in enumerate(weights):
        idx = np.repeat(cases, row)
        out[b] = _safe(metric, y_true[idx], proba[idx], classes, positive)
    return out


def _safe(metric: Metric, y: np.ndarray, proba: np.ndarray, classes: Sequence[str],
          positive: str | None) -> float:
    kwargs = {"positive": positive} if len(classes) == 2 else {}
    try:
        return float(metric.compute(list(y), proba, list(classes), **kwargs))
    except (InputError, ValueError, ZeroDivisionError, FloatingPointError):
        return float("nan")


def metric_value(metric: Metric, data: ClassData, classes: Sequence[str],
                 positive: str | None) -> float:
    return _safe(metric, data.y_true, data.proba, classes, positive)


@dataclass
class Aggregate:
    """Per-model estimates and the joint bootstrap distribution (resamples × models)."""

    models: list[str]
    estimates: np.ndarray
    boot: np.ndarray
    jack: list[np.ndarray | None]
    n: list[int]
    n_failed: list[int]


def aggregate_classification(metric: Metric, datas: Sequence[ClassData],
                             classes: Sequence[str], positive: str | None,
                             stats: StatisticsConfig) -> Aggregate:
    y = datas[0].y_true
    weights = resample_weights(datas[0].subjects, strata=y, n_resamples=stats.n_resamples,
                               seed=stats.seed)
    est, boot, jack = [], [], []
    for data in datas:
        est.append(metric_value(metric, data, classes, positive))
        boot.append(classification_distribution(metric, data.y_true, data.proba, classes,
                                                positive, weights))
        jack.append(classification_distribution(metric, data.y_true, data.proba, classes,
                                                positive, jackknife_weights(data.subjects))
                    if stats.ci_method == "bca" else None)
    return Aggregate([d.adapter for d in datas], np.array(est), np.column_stack(boot), jack,
                     [int(d.y_true.size) for d in datas], [d.n_failed for d in datas])


def aggregate_cases(datas: Sequence[CaseData], stats: StatisticsConfig) -> Aggregate:
    """Means of per-case values with a paired subject bootstrap (NaN values left out)."""
    values = np.vstack([d.values for d in datas])
    finite = np.isfinite(values)
    filled = np.where(finite, values, 0.0)
    weights = resample_weights(datas[0].subjects, n_resamples=stats.n_resamples,
                               seed=stats.seed)
    with np.errstate(invalid="ignore", divide="ignore"):
        est = filled.sum(axis=1) / finite.sum(axis=1)
        boot = (weights @ filled.T) / (weights @ finite.T.astype(np.float64))
        jack: list[np.ndarray | None] = [None] * len(datas)
        if stats.ci_method == "bca":
            jw = jackknife_weights(datas[0].subjects).astype(np.float64)
            jack = list(((jw @ filled.T) / (jw @ finite.T)).T)
    return Aggregate([d.adapter for d in datas], est, boot, jack,
                     [int(f.sum()) for f in finite], [d.n_failed for d in datas])


def leaderboard_rows(task: str, metric: Metric, agg: Aggregate,
                     stats: StatisticsConfig) -> list[dict[str, object]]:
    """One row per model: estimate, interval (kept inside the metric's range), rank by the
    metric's direction and its bootstrap interval; a NaN estimate gets no rank."""
    ranks = rank_stability(agg.models, agg.estimates, agg.boot, badness=metric.badness,
                           alpha=stats.alpha)
    rows = []
    for j, model in enumerate(agg.models):
        value = float(agg.estimates[j])
        low, high = interval(agg.boot[:, j], value, alpha=stats.alpha,
                             method=stats.ci_method, jackknife=agg.jack[j])
        ranked = np.isfinite(value)
        rows.append({"task": task, "metric": metric.name, "adapter": model,
                     "value": value, "ci_low": metric.clip(low), "ci_high": metric.clip(high),
                     "n": agg.n[j], "n_failed": agg.n_failed[j],
                     "rank": ranks[j].rank if ranked else np.nan,
                     "rank_ci_low": ranks[j].rank_low if ranked else np.nan,
                     "rank_ci_high": ranks[j].rank_high if ranked else np.nan,
                     "direction": metric.direction})
    return rows


def _bootstrap_p(diff: np.ndarray) -> float:
    """Two-sided paired-bootstrap p-value of a zero difference, (k + 1) / (B + 1) on each
    side so that it is never reported as exactly 0."""
    finite = diff[np.isfinite(diff)]
    if finite.size == 0:
        return float("nan")
    if np.all(finite == 0):
        return 1.0
    tail = min(np.count_nonzero(finite <= 0), np.count_nonzero(finite >= 0))
    return float(min(1.0, 2 * (tail + 1) / (finite.size + 1)))


PairTest = Callable[[int, int], tuple[str, float, float]]


def comparison_rows(task: str, metric: Metric, agg: Aggregate, stats: StatisticsConfig,
                    pair_test: PairTest | None) -> list[dict[str, object]]:
    """Every pair (a, b): difference a − b with its paired-bootstrap interval and a test."""
    rows: list[dict[str, object]] = []
    for i, j in combinations(range(len(agg.models)), 2):
        diff = agg.boot[:, i] - agg.boot[:, j]
        estimate = float(agg.estimates[i] - agg.estimates[j])
        low, high = interval(diff, estimate, alpha=stats.alpha, method="percentile")
        test, statistic, p = ("paired_bootstrap", float("nan"), _bootstrap_p(diff))
        if pair_test is not None:
            test, statistic, p = pair_test(i, j)
        rows.append({"task": task, "metric": metric.name, "adapter_a": agg.models[i],
                     "adapter_b": agg.models[j], "test": test, "estimate": estimate,
                     "ci_low": low, "ci_high": high, "statistic": statistic, "p_value": p,
                     "n": min(agg.n[i], agg.n[j])})
    finite = [r for r in rows if np.isfinite(float(r["p_value"]))]  # type: ignore[arg-type]
    adjusted = holm([float(r["p_value"]) for r in finite]) if finite else []  # type: ignore[arg-type]
    for row in rows:
        row["p_holm"] = float("nan")
    for row, p_adj in zip(finite, adjusted, strict=True):
        row["p_holm"] = float(p_adj)
    return rows


def classification_pair_test(metric: Metric, datas: Sequence[ClassData],
                             classes: Sequence[str], positive: str | None) -> PairTest | None:
    """DeLong for binary AUROC, McNemar for accuracy, else the paired bootstrap."""
    pos = _pos(classes, positive)
    if metric.name == "auroc" and pos is not None:
        def delong(i: int, j: int) -> tuple[str, float, float]:
            y = datas[i].y_true == classes[pos]
            if y.all() or not y.any():
                return "delong", float("nan"), float("nan")
            # (b, a) order: DeLong's z is then the sign of AUC_a − AUC_b, as the estimate
            res = delong_paired_test(y, datas[j].proba[:, pos], datas[i].proba[:, pos])
            return "delong", res.z, res.p_value
        return delong
    if metric.name == "accuracy":
        def mcn(i: int, j: int) -> tuple[str, float, float]:
            ca = _correct(datas[i], classes, positive)
            cb = _correct(datas[j], classes, positive)
            res = mcnemar(ca, cb)
            return "mcnemar", res.statistic, res.p_value
        return mcn
    return None


def _correct(data: ClassData, classes: Sequence[str], positive: str | None) -> np.ndarray:
    from imagination.metrics.classification import predicted_index

    pred = predicted_index(data.proba, tuple(classes), positive=positive, threshold=0.5)
    return np.asarray(classes)[pred] == data.y_true


def case_pair_test(datas: Sequence[CaseData]) -> PairTest:
    def wilcoxon(i: int, j: int) -> tuple[str, float, float]:
        a, b = datas[i].values, datas[j].values
        both = np.isfinite(a) & np.isfinite(b)
        if both.sum() < 2:
            return "wilcoxon", float("nan"), float("nan")
        res = wilcoxon_paired(a[both], b[both])
        return res.method, res.statistic, res.p_value
    return wilcoxon


def site_rows(task: str, metric: Metric, datas: Sequence[CaseData],
              stats: StatisticsConfig) -> list[dict[str, object]]:
    """Per-site means with t intervals, and the heterogeneity row (I², Cochran's Q p)."""
    rows: list[dict[str, object]] = []
    for data in datas:
        estimates: list[SiteEstimate] = site_means(data.values, data.sites, alpha=stats.alpha)
        for est in estimates:
            rows.append({"task": task, "metric": metric.name, "adapter": data.adapter,
                         "site": est.site, "value": est.estimate, "ci_low": metric.clip(est.low),
                         "ci_high": metric.clip(est.high), "n": est.n})
        usable = [e for e in estimates if np.isfinite(e.se) and e.se > 0]
        if len(usable) >= 2:
            het = site_heterogeneity(usable, alpha=stats.alpha)
            rows.append({"task": task, "metric": metric.name, "adapter": data.adapter,
                         "site": "(heterogeneity)", "value": het.i2,
                         "ci_low": het.p_value, "ci_high": float("nan"), "n": len(usable)})
    return rows


def classification_site_rows(task: str, metric: Metric, datas: Sequence[ClassData],
                             classes: Sequence[str], positive: str | None,
                             stats: StatisticsConfig) -> list[dict[str, object]]:
    """Per-site metric values with a within-site bootstrap interval, and heterogeneity
    (inverse-variance, SE = bootstrap standard deviation)."""
    rows: list[dict[str, object]] = []
    for data in datas:
        estimates = []
        for site in sorted(set(data.sites.tolist())):
            sel = data.sites == site
            sub = ClassData(data.adapter, data.y_true[sel], data.proba[sel], data.subjects[sel],
                            data.sites[sel], 0)
            value = metric_value(metric, sub, classes, positive)
            weights = resample_weights(sub.subjects, strata=sub.y_true,
                                       n_resamples=stats.n_resamples, seed=stats.seed)
            dist = classification_distribution(metric, sub.y_true, sub.proba, classes,
                                               positive, weights)
            low, high = interval(dist, value, alpha=stats.alpha, method="percentile")
            finite = dist[np.isfinite(dist)]
            se = float(finite.std(ddof=1)) if finite.size > 1 else float("nan")
            estimates.append(SiteEstimate(str(site), value, se, low, high, int(sel.sum())))
            rows.append({"task": task, "metric": metric.name, "adapter": data.adapter,
                         "site": str(site), "value": value, "ci_low": metric.clip(low),
                         "ci_high": metric.clip(high), "n": int(sel.sum())})
        usable = [e for e in estimates if np.isfinite(e.se) and e.se > 0
                  and np.isfinite(e.estimate)]
        if len(usable) >= 2:
            het = site_heterogeneity(usable, alpha=stats.alpha)
            rows.append({"task": task, "metric": metric.name, "adapter": data.adapter,
                         "site": "(heterogeneity)", "value": het.i2, "ci_low": het.p_value,
                         "ci_high": float("nan"), "n": len(usable)})
    return rows
