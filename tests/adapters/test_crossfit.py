"""Cross-fitting: no case (or subject) is predicted by a model that saw it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from imagination.adapters.baselines.age_volume_lr import AgeVolumeLRAdapter
from imagination.adapters.crossfit import (
    assign_folds,
    crossfit_predict,
    feature_matrix,
    smoothed_prevalence,
)
from imagination.errors import InputError


class SpyAdapter:
    """Predicts the label of the nearest training row (a perfect memoriser) and logs folds."""

    name = "spy"
    version = "0"
    tasks = ("idh",)
    required_modalities = ()
    optional_modalities = ()
    card = None

    def __init__(self) -> None:
        self.calls: list[tuple[np.ndarray, np.ndarray, list[str]]] = []

    def params(self):
        return {}

    def extract(self, case):
        return {}

    def fit_predict(self, task, classes: Sequence[str], train_features, train_labels,
                    test_features):
        self.calls.append((train_features[:, 0].copy(), test_features[:, 0].copy(),
                           list(classes)))
        out = np.zeros((len(test_features), len(classes)))
        for i, row in enumerate(test_features):
            nearest = int(np.argmin(np.abs(train_features[:, 0] - row[0])))
            out[i, list(classes).index(train_labels[nearest])] = 1.0
        return out


def _cohort(n_subjects=20, per_subject=2, seed=0):
    rng = np.random.default_rng(seed)
    subjects = [f"s{i}" for i in range(n_subjects) for _ in range(per_subject)]
    labels = [("mutant" if rng.random() < 0.4 else "wildtype") for _ in range(n_subjects)
              for _ in range(per_subject)]
    sites = [f"site{i % 3}" for i in range(n_subjects) for _ in range(per_subject)]
    features = np.arange(len(subjects), dtype=float)[:, None]  # row id as the only feature
    return features, labels, subjects, sites


def test_no_subject_is_in_its_own_training_set():
    features, labels, subjects, sites = _cohort()
    spy = SpyAdapter()
    crossfit_predict(spy, "idh", ["wildtype", "mutant"], features, labels, subjects, sites)
    subject_of_row = {float(i): s for i, s in enumerate(subjects)}
    for train, test, _ in spy.calls:
        assert not {subject_of_row[r] for r in train} & {subject_of_row[r] for r in test}
    tested = np.concatenate([t for _, t, _ in spy.calls])
    assert sorted(tested) == list(range(len(subjects)))


def test_memoriser_gains_nothing_from_a_leak():
    """Labels are independent of features: out-of-fold AUROC of a memoriser stays near 0.5."""
    features, labels, subjects, sites = _cohort(n_subjects=60, per_subject=1, seed=3)
    proba = crossfit_predict(SpyAdapter(), "idh", ["wildtype", "mutant"], features, labels,
                             subjects, sites)
    y = [1 if v == "mutant" else 0 for v in labels]
    assert roc_auc_score(y, proba[:, 1]) < 0.75  # a leak would give 1.0


def test_folds_are_stratified_by_label():
    _, labels, subjects, sites = _cohort(n_subjects=50, per_subject=1)
    folds = assign_folds(labels, subjects, sites, n_folds=5, seed=1)
    overall = np.mean([v == "mutant" for v in labels])
    for k in range(5):
        share = np.mean([v == "mutant" for v, f in zip(labels, folds, strict=True) if f == k])
        assert abs(share - overall) < 0.2


def test_unlabelled_cases_are_predicted_but_never_trained_on():
    features, labels, subjects, sites = _cohort(n_subjects=10, per_subject=2)
    labels = list(labels)
    labels[0] = None  # subject s0 still has a labelled second case
    labels += [None, None]
    subjects = [*subjects, "new", "new"]
    sites = [*sites, "siteX", "siteX"]
    features = np.arange(len(labels), dtype=float)[:, None]
    spy = SpyAdapter()
    proba = crossfit_predict(spy, "idh", ["wildtype", "mutant"], features, labels, subjects,
                             sites, n_folds=3)
    trained_rows = np.concatenate([t for t, _, _ in spy.calls])
    assert 0.0 not in trained_rows and 20.0 not in trained_rows and 21.0 not in trained_rows
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    for train, test, _ in spy.calls:
        if 0.0 in test:  # s0's unlabelled case sits in its subject's fold
            assert 1.0 in test and 1.0 not in train


def test_leave_one_site_out_holds_out_each_site():
    features, labels, subjects, sites = _cohort(n_subjects=12, per_subject=1)
    spy = SpyAdapter()
    crossfit_predict(spy, "idh", ["wildtype", "mutant"], features, labels, subjects, sites,
                     leave_one_site_out=True)
    assert len(spy.calls) == 3
    for train, test, _ in spy.calls:
        test_sites = {sites[int(r)] for r in test}
        assert len(test_sites) == 1
        assert test_sites.isdisjoint({sites[int(r)] for r in train})


def test_single_class_fold_falls_back_to_smoothed_prevalence():
    labels = ["a", "a", "a", "b"]
    subjects = ["s1", "s2", "s3", "s4"]
    sites = ["x", "x", "y", "z"]
    features = np.zeros((4, 1))
    spy = SpyAdapter()
    proba = crossfit_predict(spy, "t", ["a", "b", "c"], features, labels, subjects, sites,
                             leave_one_site_out=True)
    # site z (only "b") is predicted from training labels a, a, a: (3+1, 0+1, 0+1) / (3+3)
    np.testing.assert_allclose(proba[3], [4 / 6, 1 / 6, 1 / 6])
    # sites x and y train on two classes: the spy is fitted on ["a", "b"], "c" gets 0
    assert all(classes == ["a", "b"] for _, _, classes in spy.calls)
    assert np.all(proba[:3, 2] == 0.0)


def test_smoothed_prevalence_hand_computed():
    np.testing.assert_allclose(smoothed_prevalence(["a", "a", "b"], ["a", "b", "c"]),
                               [3 / 6, 2 / 6, 1 / 6])


def test_bad_inputs_are_input_errors():
    with pytest.raises(InputError, match="not in the classes"):
        crossfit_predict(SpyAdapter(), "idh", ["a", "b"], np.zeros((2, 1)), ["a", "z"],
                         ["s1", "s2"], ["x", "x"])
    with pytest.raises(InputError, match="at least 2 subjects"):
        crossfit_predict(SpyAdapter(), "idh", ["a", "b"], np.zeros((2, 1)), ["a", "b"],
                         ["s1", "s1"], ["x", "x"])
    with pytest.raises(InputError, match="no case has a label"):
        crossfit_predict(SpyAdapter(), "idh", ["a", "b"], np.zeros((2, 1)), [None, None],
                         ["s1", "s2"], ["x", "x"])


def test_feature_matrix_aligns_names_and_fills_nan():
    names, matrix = feature_matrix([{"b": 1.0, "a": 2.0}, {"a": 3.0}])
    assert names == ["a", "b"]
    np.testing.assert_array_equal(matrix[:, 0], [2.0, 3.0])
    assert matrix[0, 1] == 1.0 and np.isnan(matrix[1, 1])


@settings(max_examples=25, deadline=None)
@given(st.integers(4, 30), st.integers(1, 3), st.integers(0, 10_000), st.integers(2, 6))
def test_property_out_of_fold_and_normalised(n_subjects, per_subject, seed, n_folds):
    rng = np.random.default_rng(seed)
    subjects = [f"s{i}" for i in range(n_subjects) for _ in range(per_subject)]
    labels = [str(rng.choice(["a", "b", "c"])) for _ in subjects]
    features = np.arange(len(subjects), dtype=float)[:, None]
    spy = SpyAdapter()
    proba = crossfit_predict(spy, "t", ["a", "b", "c"], features, labels, subjects,
                             ["x"] * len(subjects), n_folds=n_folds, seed=seed)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    for train, test, _ in spy.calls:
        assert not {subjects[int(r)] for r in train} & {subjects[int(r)] for r in test}


def test_age_volume_lr_learns_an_age_signal_out_of_fold():
    """IDH mutant in the young: cross-fitted AUROC (scikit-learn) must be high."""
    rng = np.random.default_rng(0)
    age = rng.uniform(20, 80, 80)
    labels = ["mutant" if a + rng.normal(0, 5) < 45 else "wildtype" for a in age]
    features = np.column_stack([age, rng.normal(size=80)])
    proba = crossfit_predict(AgeVolumeLRAdapter(), "idh", ["wildtype", "mutant"], features,
                             labels, [f"s{i}" for i in range(80)], ["x"] * 80)
    y = [1 if v == "mutant" else 0 for v in labels]
    assert roc_auc_score(y, proba[:, 1]) > 0.9


def test_test_features_are_scored_by_models_fitted_on_training_features():
    features, labels, subjects, sites = _cohort(n_subjects=20, per_subject=1)
    shifted = features + 0.25  # e.g. features of perturbed inputs
    spy = SpyAdapter()
    crossfit_predict(spy, "idh", ["wildtype", "mutant"], features, labels, subjects, sites,
                     test_features=shifted)
    for train, test, _ in spy.calls:
        assert np.all(np.mod(train, 1.0) == 0.0)  # fitted on the clean rows
        assert np.all(np.mod(test, 1.0) == 0.25)  # applied to the shifted ones
    with pytest.raises(InputError, match="test features shape"):
        crossfit_predict(spy, "idh", ["wildtype", "mutant"], features, labels, subjects, sites,
                         test_features=shifted[:3])


def test_prevalence_reference_has_no_skill_auroc_one_half():
    """The no-skill reference gives every case the same prediction (issue 12 item 2): per-fold
    prevalences anti-correlate with the held-out labels and scored AUROC < 0.5."""
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    from imagination.adapters.baselines.prevalence import PrevalenceAdapter

    labels = ["mut" if i % 3 == 0 else "wt" for i in range(24)]
    subjects = [f"s{i}" for i in range(24)]
    sites = ["A" if i < 12 else "B" for i in range(24)]
    proba = crossfit_predict(PrevalenceAdapter(), "idh", ["wt", "mut"], np.zeros((24, 0)),
                             labels, subjects, sites, n_folds=5)
    assert np.all(proba == proba[0])  # one prediction for every case
    np.testing.assert_allclose(proba[0], [16 / 24, 8 / 24])  # the cohort prevalence
    y = np.array(labels) == "mut"
    assert roc_auc_score(y, proba[:, 1]) == 0.5
    predicted = np.where(proba[:, 1] >= 0.5, "mut", "wt")
    assert balanced_accuracy_score(labels, predicted) == 0.5
