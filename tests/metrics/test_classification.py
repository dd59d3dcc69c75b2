"""Classification metrics against scikit-learn on random inputs (to 1e-12)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm
from sklearn.preprocessing import label_binarize

from imagination.errors import InputError
from imagination.metrics import calibration, classification, decision

CLASSES = ("a", "b", "c", "d")


def _data(seed: int, n: int, k: int, ties: bool) -> tuple[list[str], np.ndarray, tuple[str, ...]]:
    rng = np.random.default_rng(seed)
    classes = CLASSES[:k]
    truth = np.concatenate([np.arange(k), rng.integers(0, k, n - k)])  # every class present
    if ties:  # coarse probabilities: many tied scores, rows still sum to one
        raw = rng.integers(1, 5, (n, k)).astype(float)
    else:
        raw = rng.gamma(0.7, size=(n, k))
        raw[np.arange(n), truth] += rng.gamma(0.6, size=n)  # some signal
    proba = raw / raw.sum(axis=1, keepdims=True)
    return [classes[i] for i in truth], proba, classes


cases = given(seed=st.integers(0, 2**32 - 1), n=st.integers(8, 60), ties=st.booleans(),
              threshold=st.sampled_from([0.25, 0.5, 0.6]))


@settings(max_examples=40, deadline=None)
@cases
def test_binary_metrics_equal_sklearn(seed: int, n: int, ties: bool, threshold: float) -> None:
    y, p, classes = _data(seed, n, 2, ties)
    pos = "a"  # score the first column, so the default (second class) is not what is tested
    yb = np.array([v == pos for v in y])
    score = p[:, 0]
    pred = score >= threshold
    kw = {"positive": pos, "threshold": threshold}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = {
            classification.auroc: skm.roc_auc_score(yb, score),
            classification.auprc: skm.average_precision_score(yb, score),
            classification.balanced_accuracy: skm.balanced_accuracy_score(yb, pred),
            classification.accuracy: skm.accuracy_score(yb, pred),
            classification.sensitivity: skm.recall_score(yb, pred, zero_division=np.nan),
            classification.specificity: skm.recall_score(~yb, ~pred, zero_division=np.nan),
            classification.ppv: skm.precision_score(yb, pred, zero_division=np.nan),
            classification.npv: skm.precision_score(~yb, ~pred, zero_division=np.nan),
            classification.f1: skm.f1_score(yb, pred, zero_division=np.nan),
            classification.mcc: skm.matthews_corrcoef(yb, pred),
            classification.cohen_kappa: skm.cohen_kappa_score(yb, pred),
            calibration.brier: skm.brier_score_loss(yb, score),
            calibration.log_loss: skm.log_loss(yb, np.column_stack([1 - score, score])),
        }
    for fn, want in expected.items():
        got = fn(y, p, classes, **kw)
        if np.isnan(want):
            assert np.isnan(got), fn.__name__
        else:
            assert got == pytest.approx(want, abs=1e-12), fn.__name__
    cm = classification.confusion_matrix(y, p, classes, **kw)
    sk_cm = skm.confusion_matrix(yb, pred, labels=[False, True])  # rows/cols: b (neg), a (pos)
    assert np.array_equal(cm, sk_cm[::-1, ::-1])


@settings(max_examples=40, deadline=None)
@cases
def test_multiclass_metrics_equal_sklearn(seed: int, n: int, ties: bool, threshold: float) -> None:
    k = 3 + seed % 2
    y, p, classes = _data(seed, n, k, ties)
    labels = list(classes)
    pred = [classes[i] for i in np.argmax(p, axis=1)]
    expected = {
        classification.auroc: skm.roc_auc_score(y, p, multi_class="ovr", labels=labels),
        classification.auprc: skm.average_precision_score(
            label_binarize(y, classes=labels), p, average="macro"),
        classification.balanced_accuracy: skm.balanced_accuracy_score(y, pred),
        classification.accuracy: skm.accuracy_score(y, pred),
        classification.f1: skm.f1_score(y, pred, average="macro", labels=labels),
        classification.mcc: skm.matthews_corrcoef(y, pred),
        classification.cohen_kappa: skm.cohen_kappa_score(y, pred),
        calibration.brier: skm.brier_score_loss(y, p, labels=labels),
        calibration.log_loss: skm.log_loss(y, p, labels=labels),
    }
    for fn, want in expected.items():
        assert fn(y, p, classes, threshold=threshold) == pytest.approx(want, abs=1e-12), fn.__name__
    assert np.array_equal(classification.confusion_matrix(y, p, classes),
                          skm.confusion_matrix(y, pred, labels=labels))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(5, 80), k=st.sampled_from([2, 3]),
       bins=st.sampled_from([5, 10, 15]))
def test_ece_equals_a_plain_loop(seed: int, n: int, k: int, bins: int) -> None:
    y, p, classes = _data(seed, n, k, ties=False)
    truth = np.array([classes.index(v) for v in y])
    if k == 2:
        conf, hit = p[:, 1], truth == 1
    else:
        conf, hit = p.max(axis=1), np.argmax(p, axis=1) == truth
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [(c, h) for c, h in zip(conf, hit, strict=True)
                  if lo <= c < hi or (b == bins - 1 and c == 1.0)]
        if inside:
            cs, hs = zip(*inside, strict=True)
            total += len(inside) / n * abs(np.mean(hs) - np.mean(cs))
    got = calibration.expected_calibration_error(y, p, classes, n_bins=bins)
    assert got == pytest.approx(total, abs=1e-12)


def test_ece_of_a_hand_example() -> None:
    # two cases in bin [0.2, 0.3) with mean p 0.25 and one positive: gap 0.25, weight 2/3;
    # one case at p = 1.0 (last bin), positive: gap 0 -> ECE = 2/3 * 0.25
    y = ["neg", "pos", "pos"]
    p = np.array([[0.8, 0.2], [0.7, 0.3 - 1e-9], [0.0, 1.0]])
    got = calibration.expected_calibration_error(y, p, ("neg", "pos"), n_bins=10)
    assert got == pytest.approx(2 / 3 * abs(0.5 - (0.2 + 0.3 - 1e-9) / 2), abs=1e-12)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), slope=st.floats(0.3, 2.0), shift=st.floats(-1, 1))
def test_calibration_slope_and_intercept_solve_the_likelihood(seed: int, slope: float,
                                                              shift: float) -> None:
    from scipy.optimize import brentq, minimize
    from scipy.special import expit

    rng = np.random.default_rng(seed)
    n = 300
    lp = rng.normal(0, 1.5, n)
    yb = rng.random(n) < expit(shift + slope * lp)
    p_pos = expit(lp)
    y = ["pos" if v else "neg" for v in yb]
    proba = np.column_stack([1 - p_pos, p_pos])
    x = np.log(p_pos) - np.log1p(-p_pos)

    def nll(beta: np.ndarray) -> float:
        eta = beta[0] + beta[1] * x
        return float(np.sum(np.logaddexp(0, eta) - yb * eta))

    ref = minimize(nll, [0.0, 1.0], method="BFGS", options={"gtol": 1e-10}).x
    got = calibration.calibration_slope(y, proba, ("neg", "pos"), positive="pos")
    assert got == pytest.approx(ref[1], abs=1e-5)
    # the intercept with the slope fixed at 1 zeroes the score equation sum(y - expit(a + x))
    root = brentq(lambda a: float(np.sum(yb - expit(a + x))), -10, 10, xtol=1e-14)
    assert calibration.calibration_intercept(y, proba, ("neg", "pos"), positive="pos") == (
        pytest.approx(root, abs=1e-10))


def test_perfectly_calibrated_model_has_slope_one_on_a_large_sample() -> None:
    from scipy.special import expit

    rng = np.random.default_rng(3)
    lp = rng.normal(0, 2, 20000)
    yb = rng.random(lp.size) < expit(lp)
    proba = np.column_stack([1 - expit(lp), expit(lp)])
    y = ["pos" if v else "neg" for v in yb]
    assert calibration.calibration_slope(y, proba, ("neg", "pos")) == pytest.approx(1, abs=0.06)
    assert calibration.calibration_intercept(y, proba, ("neg", "pos")) == pytest.approx(0, abs=0.05)


def test_separable_data_gives_nan_slope() -> None:
    y = ["neg", "neg", "pos", "pos"]
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.1, 0.9]])
    assert np.isnan(calibration.calibration_slope(y, proba, ("neg", "pos")))


def test_decision_curve_by_hand() -> None:
    # 4 cases: p = 0.9 (pos), 0.6 (neg), 0.4 (pos), 0.1 (neg); at p_t = 0.5 the model treats
    # the first two: TP = 1, FP = 1 -> NB = 1/4 - 1/4 * 1 = 0; treat-all = 1/2 - 1/2 * 1 = 0.
    # At p_t = 0.2: treats three, TP 2, FP 1 -> 2/4 - 1/4 * 0.25 = 0.4375; all: 0.5 - 0.5*0.25.
    y = ["pos", "neg", "pos", "neg"]
    p1 = np.array([0.9, 0.6, 0.4, 0.1])
    proba = np.column_stack([1 - p1, p1])
    curve = decision.decision_curve(y, proba, ("neg", "pos"), thresholds=[0.2, 0.5])
    assert curve.model == pytest.approx([0.4375, 0.0])
    assert curve.treat_all == pytest.approx([0.375, 0.0])
    assert np.array_equal(curve.treat_none, [0.0, 0.0])
    assert decision.net_benefit(y, proba, ("neg", "pos"), threshold=0.2) == pytest.approx(0.4375)
    with pytest.raises(InputError, match="strictly between"):
        decision.decision_curve(y, proba, ("neg", "pos"), thresholds=[0.0])


def test_edge_cases_are_declared_values() -> None:
    classes = ("neg", "pos")
    one_class = (["neg", "neg", "neg"], np.array([[0.9, 0.1], [0.4, 0.6], [0.5, 0.5]]))
    assert np.isnan(classification.auroc(*one_class, classes))
    assert np.isnan(classification.auprc(*one_class, classes))
    assert np.isnan(classification.sensitivity(*one_class, classes))
    assert classification.mcc(*one_class, classes) == 0.0
    # multiclass with a class absent from the truth: macro AUROC over the present classes
    y = ["a", "b", "a", "b"]
    p = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.5, 0.2, 0.3], [0.1, 0.1, 0.8]])
    ya = np.array([v == "a" for v in y])
    expected = (skm.roc_auc_score(ya, p[:, 0]) + skm.roc_auc_score(~ya, p[:, 1])) / 2
    assert classification.auroc(y, p, ("a", "b", "c")) == pytest.approx(expected)


def test_bad_input_is_named() -> None:
    with pytest.raises(InputError, match="not in classes"):
        classification.auroc(["x"], [[0.5, 0.5]], ("a", "b"))
    with pytest.raises(InputError, match="n×2"):
        classification.auroc(["a"], [[0.5, 0.3, 0.2]], ("a", "b"))
    with pytest.raises(InputError, match="NaN"):
        classification.auroc(["a", "b"], [[np.nan, 0.5], [0.5, 0.5]], ("a", "b"))
    with pytest.raises(InputError, match="binary"):
        classification.sensitivity(["a"], [[0.5, 0.3, 0.2]], ("a", "b", "c"))
    with pytest.raises(InputError, match="positive class"):
        classification.sensitivity(["a"], [[0.5, 0.5]], ("a", "b"), positive="z")


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(4, 50))
def test_auroc_invariants(seed: int, n: int) -> None:
    y, p, classes = _data(seed, n, 2, ties=seed % 2 == 0)
    base = classification.auroc(y, p, classes)
    # strictly monotone transforms of the score leave AUROC unchanged
    squashed = np.column_stack([1 - p[:, 1] ** 3, p[:, 1] ** 3])
    assert classification.auroc(y, squashed, classes) == pytest.approx(base, abs=1e-12)
    # binary AUROC is the same from either class's side, and reversing the score mirrors it
    assert classification.auroc(y, p, classes, positive="a") == pytest.approx(base, abs=1e-12)
    assert classification.auroc(y, p[:, ::-1], classes) == pytest.approx(1 - base, abs=1e-12)
