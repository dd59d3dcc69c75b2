"""Robustness and reproducibility statistics (pure functions on per-case arrays).

* Change against the clean run: :func:`paired_delta` (per-case metrics) and
  :func:`paired_auc_delta` / :func:`paired_metric_delta` (cohort metrics), with intervals from
  the subject-level paired bootstrap of :mod:`imagination.stats.bootstrap` (clean and perturbed
  values of a drawn subject enter the same resample).
* ImageNet-C style corruption errors (Hendrycks & Dietterich 2019): :func:`corruption_error`,
  :func:`relative_corruption_error`; the error of a value is the metric's own
  (:meth:`imagination.metrics.metric.Metric.error`: 1 − AUROC, HD95, |slope − 1|).
* Prediction stability: :func:`flip_rate` (classes), :func:`plan_dice` (recurrence plans).
* Modality ablation: :func:`ablation_test`. Sites: :func:`site_spread`.
* Reproducibility: :func:`compare_repeats` (determinism), :func:`retest_agreement` (ICC and
  Bland–Altman from :mod:`imagination.stats.agreement`), :func:`label_agreement` (Fleiss' kappa).

Pairs with a non-finite value on either side are left out of deltas and tests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from imagination.errors import InputError
from imagination.metrics.segmentation import dice
from imagination.stats.agreement import bland_altman, fleiss_kappa, icc
from imagination.stats.bootstrap import Method, bootstrap_ci, weighted_auc, weighted_mean
from imagination.stats.paired import permutation_paired, wilcoxon_paired

ArrayLike = Sequence[float] | np.ndarray


class Delta(NamedTuple):
    """Perturbed minus clean, with its bootstrap interval."""

    delta: float
    ci_low: float
    ci_high: float


_NAN_DELTA = Delta(float("nan"), float("nan"), float("nan"))


def _paired(a: ArrayLike, b: ArrayLike, subjects: Sequence[object] | np.ndarray,
            names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    s = np.asarray([str(v) for v in subjects])
    if x.ndim != 1 or x.shape != y.shape or s.shape != x.shape:
        raise InputError(f"{names[0]}, {names[1]} and subjects must be 1-D arrays of equal "
                         f"length (got {x.shape}, {y.shape}, {s.shape})")
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep], s[keep]


def paired_delta(clean_values: ArrayLike, perturbed_values: ArrayLike,
                 subjects: Sequence[object] | np.ndarray, *, n_resamples: int = 2000,
                 alpha: float = 0.05, seed: int = 0, method: Method = "percentile") -> Delta:
    """Mean of (perturbed − clean) per-case values with a subject-level bootstrap interval
    (percentile or BCa). NaN triple when no finite pair is left."""
    clean, perturbed, subj = _paired(clean_values, perturbed_values, subjects,
                                     ("clean_values", "perturbed_values"))
    if clean.size == 0:
        return _NAN_DELTA
    result = bootstrap_ci(weighted_mean, perturbed - clean, subjects=subj,
                          n_resamples=n_resamples, alpha=alpha, seed=seed, weighted=True,
                          method=method)
    return Delta(result.estimate, result.low, result.high)


def _auc_difference(y: np.ndarray, clean: np.ndarray, perturbed: np.ndarray, *,
                    weights: np.ndarray) -> np.ndarray:
    return weighted_auc(y, perturbed, weights=weights) - weighted_auc(y, clean, weights=weights)


def paired_auc_delta(y_true: Sequence[bool] | np.ndarray, clean_scores: ArrayLike,
                     perturbed_scores: ArrayLike, subjects: Sequence[object] | np.ndarray, *,
                     n_resamples: int = 2000, alpha: float = 0.05, seed: int = 0,
                     strata: Sequence[object] | np.ndarray | None = None,
                     method: Method = "percentile") -> Delta:
    """AUC(perturbed) − AUC(clean) of a binary task, each resample drawing the same subjects
    for both (stratified by outcome unless ``strata`` is given). Cases whose score is not
    finite in either run are left out."""
    y = np.asarray(y_true).astype(bool)
    if y.shape != np.shape(clean_scores):
        raise InputError("y_true must have one entry per case")
    clean, perturbed, subj = _paired(clean_scores, perturbed_scores, subjects,
                                     ("clean_scores", "perturbed_scores"))
    keep = np.isfinite(np.asarray(clean_scores, float)) & np.isfinite(
        np.asarray(perturbed_scores, float))
    y = y[keep]
    if y.all() or not y.any():
        return _NAN_DELTA
    stratum = y if strata is None else np.asarray([str(s) for s in strata])[keep]
    result = bootstrap_ci(_auc_difference, y, clean, perturbed, subjects=subj, strata=stratum,
                          n_resamples=n_resamples, alpha=alpha, seed=seed, weighted=True,
                          method=method)
    return Delta(result.estimate, result.low, result.high)


def paired_metric_delta(metric: Callable[[np.ndarray, np.ndarray], float],
                        y_true: Sequence[Any] | np.ndarray, clean_scores: np.ndarray,
                        perturbed_scores: np.ndarray, subjects: Sequence[object] | np.ndarray,
                        *, n_resamples: int = 2000, alpha: float = 0.05, seed: int = 0,
                        strata: Sequence[object] | np.ndarray | None = None,
                        method: Method = "percentile") -> Delta:
    """metric(y, perturbed) − metric(y, clean) for any cohort metric (e.g. multiclass AUROC on
    (cases × classes) probabilities), same subjects drawn for both runs; the metric is called
    on each resample (slower than :func:`paired_auc_delta`)."""
    y = np.asarray(y_true)
    clean, perturbed = np.asarray(clean_scores), np.asarray(perturbed_scores)
    if not (len(y) == len(clean) == len(perturbed) == len(subjects)):
        raise InputError("y_true, both score arrays and subjects need one entry per case")
    result = bootstrap_ci(lambda t, c, p: metric(t, p) - metric(t, c), y, clean, perturbed,
                          subjects=subjects, strata=strata, n_resamples=n_resamples,
                          alpha=alpha, seed=seed, method=method)
    return Delta(result.estimate, result.low, result.high)


def _by_severity(errors: Mapping[int, float] | ArrayLike, name: str) -> dict[int, float]:
    if isinstance(errors, Mapping):
        table = {int(k): float(v) for k, v in errors.items()}
    else:
        table = {i + 1: float(v) for i, v in enumerate(np.asarray(errors, dtype=np.float64))}
    if not table:
        raise InputError(f"{name} is empty")
    return table


def _matched(model: Mapping[int, float] | ArrayLike, reference: Mapping[int, float] | ArrayLike,
             ) -> tuple[np.ndarray, np.ndarray]:
    m = _by_severity(model, "model_errors_by_severity")
    r = _by_severity(reference, "reference_errors_by_severity")
    if set(m) != set(r):
        raise InputError(f"model and reference errors cover different severities "
                         f"({sorted(m)} vs {sorted(r)})")
    levels = sorted(m)
    return np.array([m[s] for s in levels]), np.array([r[s] for s in levels])


def corruption_error(model_errors_by_severity: Mapping[int, float] | ArrayLike,
                     reference_errors_by_severity: Mapping[int, float] | ArrayLike) -> float:
    """CE = Σ_s E_model(s) / Σ_s E_reference(s) over the same severities (a mapping severity →
    error, or a sequence for severities 1..n). 1 = as fragile as the reference; NaN when the
    reference never errs."""
    model, reference = _matched(model_errors_by_severity, reference_errors_by_severity)
    total = float(reference.sum())
    return float(model.sum() / total) if total > 0 else float("nan")


def relative_corruption_error(model_clean_error: float,
                              model_errors_by_severity: Mapping[int, float] | ArrayLike,
                              reference_clean_error: float,
                              reference_errors_by_severity: Mapping[int, float] | ArrayLike,
                              ) -> float:
    """Relative CE = Σ_s (E_model(s) − E_model(clean)) / Σ_s (E_ref(s) − E_ref(clean)): the
    degradation alone, normalised to the reference's; NaN when the reference does not degrade."""
    model, reference = _matched(model_errors_by_severity, reference_errors_by_severity)
    total = float((reference - reference_clean_error).sum())
    if total <= 0:
        return float("nan")
    return float((model - model_clean_error).sum() / total)


def flip_rate(clean_labels: Sequence[Any] | np.ndarray,
              perturbed_labels: Sequence[Any] | np.ndarray) -> float:
    """Share of cases whose predicted class changes under the perturbation (NaN for none)."""
    a = np.asarray([str(v) for v in clean_labels])
    b = np.asarray([str(v) for v in perturbed_labels])
    if a.shape != b.shape:
        raise InputError(f"flip rate needs as many perturbed as clean labels "
                         f"({b.size} vs {a.size})")
    return float(np.mean(a != b)) if a.size else float("nan")


def plan_dice(plan_a: np.ndarray, plan_b: np.ndarray) -> float:
    """Dice between two boolean plans of one case (1 when both are empty)."""
    a, b = np.asarray(plan_a), np.asarray(plan_b)
    if a.shape != b.shape:
        raise InputError(f"plans have different shapes {a.shape} and {b.shape}")
    return dice(a != 0, b != 0, (1.0,) * a.ndim)


def compare_repeats(arrays: Sequence[np.ndarray]) -> tuple[bool, float]:
    """Determinism verdict over repeated outputs: (all bitwise identical to the first, largest
    absolute difference to the first). NaN at the same place counts as equal, NaN against a
    number or a different shape as an infinite difference."""
    items = [np.asarray(a) for a in arrays]
    if len(items) < 2:
        raise InputError("compare_repeats needs at least two repeats")
    first = items[0]
    bitwise, largest = True, 0.0
    for other in items[1:]:
        if other.shape != first.shape:
            return False, float("inf")
        bitwise &= other.dtype == first.dtype and other.tobytes() == first.tobytes()
        if not np.issubdtype(first.dtype, np.number) or not np.issubdtype(other.dtype, np.number):
            largest = max(largest, 0.0 if np.array_equal(first, other) else float("inf"))
            continue
        x, y = first.astype(np.float64), other.astype(np.float64)
        both_nan = np.isnan(x) & np.isnan(y)
        with np.errstate(invalid="ignore"):
            diff = np.where(both_nan, 0.0, np.abs(x - y))
        diff = np.where(np.isnan(diff), np.inf, diff)
        if diff.size:
            largest = max(largest, float(diff.max()))
    return bool(bitwise), largest


def ablation_test(with_values: ArrayLike, without_values: ArrayLike,
                  subjects: Sequence[object] | np.ndarray, *, n_resamples: int = 2000,
                  n_permutations: int = 10000, alpha: float = 0.05, seed: int = 0,
                  method: Method = "percentile") -> dict[str, Any]:
    """Effect of a modality: mean of (with − without) per-case values, its subject-level
    bootstrap interval, and two-sided paired tests on per-subject mean differences (cases of a
    subject are averaged first, so repeat scans do not count as independent): the sign-flip
    permutation test of the mean (``p_value``, exact for up to 13 subjects at the default
    10000 permutations) and the Wilcoxon signed-rank test (``p_wilcoxon``)."""
    with_, without, subj = _paired(with_values, without_values, subjects,
                                   ("with_values", "without_values"))
    if with_.size == 0:
        raise InputError("ablation test: no case has finite values with and without")
    delta = paired_delta(without, with_, subj, n_resamples=n_resamples, alpha=alpha, seed=seed,
                         method=method)
    names, index = np.unique(subj, return_inverse=True)
    per_subject = np.bincount(index, weights=with_ - without) / np.bincount(index)
    zeros = np.zeros_like(per_subject)
    permutation = permutation_paired(per_subject, zeros, n_resamples=n_permutations, seed=seed)
    wilcoxon = wilcoxon_paired(per_subject, zeros)
    return {"estimate": delta.delta, "ci_low": delta.ci_low, "ci_high": delta.ci_high,
            "p_value": permutation.p_value, "test": permutation.method,
            "p_wilcoxon": wilcoxon.p_value, "median_subject_difference": wilcoxon.effect,
            "n": int(with_.size), "n_subjects": int(names.size)}


def site_spread(values_by_site: Mapping[str, float], *,
                badness: Callable[[float], float] | None = None) -> dict[str, Any]:
    """Worst site (largest ``badness``, a metric's :meth:`Metric.badness`; default: lowest
    value; ties: first in sorted order), best site, and the spread max − min over sites with a
    finite value."""
    finite = {str(k): float(v) for k, v in sorted(values_by_site.items()) if np.isfinite(v)}
    if not finite:
        return {"worst_site": None, "worst_value": float("nan"), "best_site": None,
                "best_value": float("nan"), "spread": float("nan"), "n_sites": 0}
    bad = badness or (lambda v: -v)
    worst = max(finite, key=lambda s: bad(finite[s]))  # first of equals in sorted order
    best = min(finite, key=lambda s: bad(finite[s]))
    return {"worst_site": worst, "worst_value": finite[worst], "best_site": best,
            "best_value": finite[best], "spread": max(finite.values()) - min(finite.values()),
            "n_sites": len(finite)}


def retest_agreement(first: ArrayLike, second: ArrayLike, *, alpha: float = 0.05) -> dict[str, Any]:
    """Agreement of a predicted quantity (a probability, a volume) between paired repeat scans:
    ICC(2,1) and ICC(3,1) with intervals, and Bland–Altman bias and limits (first − second)."""
    a, b = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise InputError("test–retest needs two 1-D arrays of equal length")
    keep = np.isfinite(a) & np.isfinite(b)
    table = np.column_stack([a[keep], b[keep]])
    coefficients = icc(table, alpha=alpha)
    limits = bland_altman(table[:, 0], table[:, 1], alpha=alpha)
    return {"icc2": coefficients.icc2, "icc2_low": coefficients.icc2_low,
            "icc2_high": coefficients.icc2_high, "icc3": coefficients.icc3,
            "icc3_low": coefficients.icc3_low, "icc3_high": coefficients.icc3_high,
            "bias": limits.bias, "bias_low": limits.bias_low, "bias_high": limits.bias_high,
            "loa_low": limits.lower_limit, "loa_high": limits.upper_limit,
            "n": int(keep.sum())}


def label_agreement(labels_by_rater: Sequence[Sequence[Any]]) -> float:
    """Fleiss' kappa of predicted classes: one sequence per rater (adapter or repeat), each
    with one label per case in the same case order."""
    table = np.asarray([[str(v) for v in rater] for rater in labels_by_rater])
    if table.ndim != 2 or table.shape[0] < 2:
        raise InputError("label agreement needs at least two raters with one label per case")
    categories, codes = np.unique(table, return_inverse=True)
    codes = codes.reshape(table.shape)
    counts = np.stack([np.count_nonzero(codes == c, axis=0) for c in range(categories.size)],
                      axis=1)
    return fleiss_kappa(counts)
