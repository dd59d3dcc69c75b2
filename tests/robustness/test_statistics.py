"""Robustness and reproducibility statistics against hand-computed values, SciPy and
scikit-learn."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.metrics import roc_auc_score

from imagination.errors import InputError
from imagination.metrics.registry import get
from imagination.stats import robustness as rb


def test_paired_delta_is_the_mean_change_with_a_subject_bootstrap_interval() -> None:
    rng = np.random.default_rng(1)
    clean = rng.uniform(0.5, 0.9, 60)
    perturbed = clean - rng.normal(0.05, 0.04, 60)
    subjects = [f"s{i}" for i in range(60)]
    delta, low, high = rb.paired_delta(clean, perturbed, subjects, n_resamples=4000, seed=3)
    assert delta == pytest.approx(float(np.mean(perturbed - clean)), abs=1e-12)
    reference = stats.bootstrap((perturbed - clean,), np.mean, n_resamples=4000,
                                method="percentile", random_state=0).confidence_interval
    # independent cases: the subject bootstrap equals SciPy's up to Monte-Carlo error
    assert low == pytest.approx(reference.low, abs=0.003)
    assert high == pytest.approx(reference.high, abs=0.003)
    assert rb.paired_delta(clean, perturbed, subjects, n_resamples=4000, seed=3) == (
        delta, low, high)


def test_paired_delta_resamples_subjects_and_drops_missing_pairs() -> None:
    # two cases per subject with identical differences: the interval equals the one of the
    # subject means; NaN pairs are left out
    clean = np.array([0.5, 0.5, 0.6, 0.6, 0.7, 0.7, 0.8, np.nan])
    perturbed = np.array([0.4, 0.4, 0.6, 0.6, 0.5, 0.5, 0.8, 0.3])
    subjects = ["a", "a", "b", "b", "c", "c", "d", "e"]
    delta, low, high = rb.paired_delta(clean, perturbed, subjects, n_resamples=500)
    assert delta == pytest.approx(np.mean([-0.1, -0.1, 0, 0, -0.2, -0.2, 0]))
    assert low >= -0.2 - 1e-12 and high <= 0.0 + 1e-12 and low < delta < high
    assert np.isnan(rb.paired_delta([np.nan], [0.1], ["a"])[0])
    with pytest.raises(InputError, match="equal length"):
        rb.paired_delta([0.1, 0.2], [0.1], ["a", "b"])


def test_constant_shift_gives_a_degenerate_interval() -> None:
    clean = np.linspace(0.2, 0.8, 9)
    assert rb.paired_delta(clean, clean - 0.25, list("abcdefghi"), n_resamples=200) == (
        pytest.approx(-0.25), pytest.approx(-0.25), pytest.approx(-0.25))


def test_paired_auc_delta_matches_scikit_learn() -> None:
    rng = np.random.default_rng(4)
    y = np.repeat([0, 1], 30)
    clean = y + rng.normal(0, 0.7, 60)
    perturbed = clean + rng.normal(0, 1.2, 60)
    subjects = np.arange(60)
    delta, low, high = rb.paired_auc_delta(y, clean, perturbed, subjects, n_resamples=1000)
    expected = roc_auc_score(y, perturbed) - roc_auc_score(y, clean)
    assert delta == pytest.approx(expected, abs=1e-12)
    assert low < delta < high and expected < 0
    # the pairing removes the shared noise: the paired interval is narrower than the sum of
    # the two unpaired standard errors would give
    same = rb.paired_auc_delta(y, clean, clean, subjects, n_resamples=200)
    assert same == (0.0, 0.0, 0.0)
    assert np.isnan(rb.paired_auc_delta([1, 1], [0.2, 0.3], [0.1, 0.2], [1, 2])[0])


def test_paired_metric_delta_takes_any_cohort_metric() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, 40)
    clean = rng.dirichlet(np.ones(3), 40)
    perturbed = rng.dirichlet(np.ones(3), 40)

    def accuracy(truth: np.ndarray, proba: np.ndarray) -> float:
        return float(np.mean(proba.argmax(axis=1) == truth))

    delta, low, high = rb.paired_metric_delta(accuracy, y, clean, perturbed, np.arange(40),
                                              n_resamples=300)
    assert delta == pytest.approx(accuracy(y, perturbed) - accuracy(y, clean))
    assert low <= delta <= high


def test_corruption_errors_by_hand() -> None:
    assert rb.corruption_error([0.1, 0.2, 0.3], [0.2, 0.2, 0.2]) == pytest.approx(1.0)
    assert rb.corruption_error({1: 0.1, 3: 0.2}, {3: 0.4, 1: 0.2}) == pytest.approx(0.5)
    assert np.isnan(rb.corruption_error([0.1], [0.0]))
    # relative: (0.1 + 0.2) / (0.05 + 0.25) = 1
    assert rb.relative_corruption_error(0.1, [0.2, 0.3], 0.05, [0.1, 0.3]) == pytest.approx(1.0)
    with pytest.raises(InputError, match="different severities"):
        rb.corruption_error({1: 0.1}, {2: 0.1})
    # the error of a value is its metric's distance from the ideal
    assert get("auroc").error(0.8) == pytest.approx(0.2)
    assert get("hd95").error(0.13) == 0.13
    assert get("calibration_slope").error(0.9) == pytest.approx(0.1)
    assert get("calibration_slope").error(1.5) == pytest.approx(0.5)


def test_flip_rate_and_plan_dice_by_hand() -> None:
    assert rb.flip_rate(["gbm", "astro", "oligo"], ["gbm", "oligo", "oligo"]) == pytest.approx(
        1 / 3)
    assert np.isnan(rb.flip_rate([], []))
    a = np.zeros((4, 4, 4), bool)
    b = np.zeros((4, 4, 4), bool)
    a[:2] = True   # 32 voxels
    b[1:3] = True  # 32 voxels, 16 shared
    assert rb.plan_dice(a, b) == pytest.approx(2 * 16 / 64)
    assert rb.plan_dice(np.zeros(3), np.zeros(3)) == 1.0


def test_compare_repeats_verdicts() -> None:
    x = np.linspace(0, 1, 10, dtype=np.float32)
    assert rb.compare_repeats([x, x.copy(), x.copy()]) == (True, 0.0)
    y = x.copy()
    y[3] += np.float32(1e-6)
    equal, diff = rb.compare_repeats([x, x.copy(), y])
    assert not equal and diff == pytest.approx(abs(float(y[3]) - float(x[3])))
    nan = np.array([np.nan, 1.0])
    assert rb.compare_repeats([nan, nan.copy()]) == (True, 0.0)
    assert rb.compare_repeats([nan, np.array([0.0, 1.0])]) == (False, float("inf"))
    assert rb.compare_repeats([np.zeros(2), np.zeros(3)]) == (False, float("inf"))
    assert rb.compare_repeats([np.zeros(2), np.zeros(2, np.float32)]) == (False, 0.0)
    assert rb.compare_repeats([np.array(["a"]), np.array(["b"])]) == (False, float("inf"))


def test_ablation_test_matches_scipy_on_subject_means() -> None:
    rng = np.random.default_rng(8)
    subjects = np.repeat([f"s{i}" for i in range(9)], 2)  # two timepoints each
    without = rng.uniform(0.3, 0.7, 18)
    with_pet = without + rng.normal(0.04, 0.05, 18)
    result = rb.ablation_test(with_pet, without, subjects, n_resamples=1000)
    per_subject = (with_pet - without).reshape(9, 2).mean(axis=1)
    assert result["estimate"] == pytest.approx(np.mean(with_pet - without))
    assert result["ci_low"] < result["estimate"] < result["ci_high"]
    assert result["n"] == 18 and result["n_subjects"] == 9
    assert result["p_wilcoxon"] == pytest.approx(stats.wilcoxon(per_subject).pvalue)
    exact = stats.permutation_test((per_subject,), np.mean, permutation_type="samples",
                                   n_resamples=np.inf)
    assert result["test"] == "permutation-exact"
    assert result["p_value"] == pytest.approx(exact.pvalue)
    # by hand for three subjects: sign patterns with |mean| >= observed
    d = np.array([0.1, 0.2, 0.3])
    small = rb.ablation_test(d, np.zeros(3), ["a", "b", "c"])
    means = [abs(np.dot(s, d)) / 3 for s in itertools.product((1, -1), repeat=3)]
    assert small["p_value"] == pytest.approx(np.mean(np.array(means) >= 0.2 - 1e-12))


def test_site_spread_by_hand() -> None:
    values = {"b": 0.7, "a": 0.9, "c": 0.6, "d": float("nan")}
    assert rb.site_spread(values) == {"worst_site": "c", "worst_value": 0.6, "best_site": "a",
                                      "best_value": 0.9, "spread": pytest.approx(0.3),
                                      "n_sites": 3}
    lower = rb.site_spread({"x": 0.1, "y": 0.3}, badness=get("hd95").badness)
    assert lower["worst_site"] == "y" and lower["best_site"] == "x"
    # target metric: slope 1.5 is farther from 1 than 0.9
    slope = rb.site_spread({"x": 1.5, "y": 0.9, "z": 1.02},
                           badness=get("calibration_slope").badness)
    assert (slope["worst_site"], slope["best_site"]) == ("x", "z")
    assert rb.site_spread({"x": float("nan")})["worst_site"] is None


def test_retest_agreement_by_hand() -> None:
    first = np.array([10.0, 20.0, 30.0, 40.0])
    result = rb.retest_agreement(first, first + 2.0)
    # a constant offset: consistency is perfect, absolute agreement is not
    assert result["icc3"] == pytest.approx(1.0)
    assert 0.9 < result["icc2"] < 1.0
    assert result["bias"] == pytest.approx(-2.0)
    assert result["loa_low"] == pytest.approx(-2.0) and result["loa_high"] == pytest.approx(-2.0)
    assert result["n"] == 4


def test_label_agreement_is_fleiss_kappa() -> None:
    assert rb.label_agreement([["a", "b", "a"], ["a", "b", "a"]]) == pytest.approx(1.0)
    # 2 raters, 4 cases: agree on 2 (a, b), disagree on 2; p_a = p_b = 1/2
    # P_i = 1, 1, 0, 0 -> P̄ = 0.5; P_e = 0.5 -> kappa 0
    assert rb.label_agreement([["a", "b", "a", "b"], ["a", "b", "b", "a"]]) == pytest.approx(0.0)
    with pytest.raises(InputError):
        rb.label_agreement([["a"]])


finite = st.floats(-1, 1, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(finite, finite), min_size=2, max_size=25), st.integers(0, 10))
def test_delta_interval_brackets_and_flips_sign(pairs, seed) -> None:
    clean = np.array([p[0] for p in pairs])
    perturbed = np.array([p[1] for p in pairs])
    subjects = np.arange(len(pairs)) % 7
    delta, low, high = rb.paired_delta(clean, perturbed, subjects, n_resamples=200, seed=seed)
    d = perturbed - clean
    assert d.min() - 1e-12 <= low <= high <= d.max() + 1e-12
    back = rb.paired_delta(perturbed, clean, subjects, n_resamples=200, seed=seed)
    assert back[0] == pytest.approx(-delta, abs=1e-12)
    assert back[1] == pytest.approx(-high, abs=1e-9) and back[2] == pytest.approx(-low, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from("abc"), min_size=1, max_size=30), st.integers(0, 2**31))
def test_flip_rate_is_a_symmetric_share(labels, seed) -> None:
    rng = np.random.default_rng(seed)
    other = [str(v) for v in rng.choice(list("abc"), len(labels))]
    rate = rb.flip_rate(labels, other)
    assert 0.0 <= rate <= 1.0 and rate == rb.flip_rate(other, labels)
    assert rb.flip_rate(labels, labels) == 0.0


def test_bca_intervals_are_available() -> None:
    rng = np.random.default_rng(2)
    clean = rng.uniform(0.4, 0.9, 30)
    perturbed = clean - rng.exponential(0.05, 30)  # skewed losses
    subjects = np.arange(30)
    percentile = rb.paired_delta(clean, perturbed, subjects, n_resamples=2000)
    bca = rb.paired_delta(clean, perturbed, subjects, n_resamples=2000, method="bca")
    assert bca.delta == percentile.delta and bca.ci_low < bca.delta < bca.ci_high
    reference = stats.bootstrap((perturbed - clean,), np.mean, n_resamples=2000, method="BCa",
                                random_state=0).confidence_interval
    assert bca.ci_low == pytest.approx(reference.low, abs=0.004)
    assert bca.ci_high == pytest.approx(reference.high, abs=0.004)
