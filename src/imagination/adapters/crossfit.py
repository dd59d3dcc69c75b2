"""Cross-fitting: every case is predicted by a model that never saw it (nor its subject).

Folds come from scikit-learn's ``StratifiedGroupKFold`` over the labelled cases, grouped by
subject and stratified by label; with ``leave_one_site_out`` each site is one fold. A training
set never holds a subject of the fold it predicts, even when that subject has cases at
another site. Cases without a label are never trained on but are still predicted: by the model
of their subject's fold, or (subject unlabelled everywhere) by fold models in turn.

When every class has a single labelled case, stratification is moot and ``GroupKFold`` is
used; the number of folds never exceeds the subjects (or the largest class) available.

Fallback when a fold's training rows lack classes: with at least two classes present the
adapter is fitted on the present ones and absent classes get probability 0; with fewer than
two, no model can be fitted and the fold predicts the Laplace-smoothed training prevalence
``(n_c + 1) / (n + K)`` over all ``K`` classes.

A no-skill reference (an adapter with ``same_for_every_case = True``, e.g. ``prevalence``) is
not cross-fitted: it ignores the features, so it is fitted once on every labelled case and
gives every case the same prediction. Per-fold fits would not be no-skill: a fold holding out
a positive trains on one positive fewer, so out-of-fold prevalences anti-correlate with the
labels and the reference scores AUROC below 0.5.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Final

import numpy as np
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

from imagination.adapters.protocol import LearningAdapter
from imagination.errors import InputError

#: Fewest distinct subjects (or sites) among labelled cases that allow cross-fitting.
MIN_GROUPS: Final[int] = 2


def feature_matrix(rows: Sequence[Mapping[str, float]]) -> tuple[list[str], np.ndarray]:
    """Stack per-case feature dicts into ``(names, n_cases × n_features)``; missing -> NaN."""
    names = sorted({name for row in rows for name in row})
    matrix = np.full((len(rows), len(names)), np.nan, dtype=np.float64)
    index = {name: j for j, name in enumerate(names)}
    for i, row in enumerate(rows):
        for name, value in row.items():
            matrix[i, index[name]] = np.nan if value is None else float(value)
    return names, matrix


def smoothed_prevalence(labels: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """Laplace-smoothed class frequencies ``(n_c + 1) / (n + K)``."""
    counts = np.array([sum(1 for y in labels if y == c) for c in classes], dtype=np.float64)
    return (counts + 1.0) / (counts.sum() + len(classes))


def _fold_of_labelled(labels: np.ndarray, groups: np.ndarray, n_folds: int,
                      seed: int) -> np.ndarray:
    n_groups = len(np.unique(groups))
    if n_groups < MIN_GROUPS:
        raise InputError(f"cross-fitting needs labelled cases from at least {MIN_GROUPS} "
                         f"subjects; found {n_groups}")
    largest_class = int(np.unique(labels, return_counts=True)[1].max())
    # scikit-learn refuses more folds than the largest class has cases
    splitter: StratifiedGroupKFold | GroupKFold
    if largest_class >= MIN_GROUPS:
        n_splits = max(MIN_GROUPS, min(n_folds, n_groups, largest_class))
        splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    else:  # every class has one case: stratification is moot
        splitter = GroupKFold(n_splits=min(n_folds, n_groups), shuffle=True, random_state=seed)
    fold = np.empty(len(labels), dtype=np.int64)
    dummy = np.zeros((len(labels), 1))
    with warnings.catch_warnings():
        # small classes are expected here; a fold without a class is handled (module doc)
        warnings.filterwarnings("ignore", message="The least populated class",
                                category=UserWarning)
        for k, (_, test) in enumerate(splitter.split(dummy, labels, groups)):
            fold[test] = k
    return fold


def assign_folds(labels: Sequence[str | None], subjects: Sequence[str], sites: Sequence[str], *,
                 n_folds: int = 5, seed: int = 0,
                 leave_one_site_out: bool = False) -> np.ndarray:
    """Fold index of every case (labelled or not)."""
    n = len(labels)
    if not (len(subjects) == len(sites) == n):
        raise InputError("cross-fitting: labels, subjects and sites differ in length")
    subjects_arr = np.asarray([str(s) for s in subjects], dtype=object)
    labelled = np.array([y is not None for y in labels], dtype=bool)
    folds = np.full(n, -1, dtype=np.int64)
    if leave_one_site_out:
        site_names = sorted({str(s) for s in sites})
        if len({str(s) for s, ok in zip(sites, labelled, strict=True) if ok}) < MIN_GROUPS:
            raise InputError("leave-one-site-out cross-fitting needs labelled cases from at "
                             f"least {MIN_GROUPS} sites")
        return np.array([site_names.index(str(s)) for s in sites], dtype=np.int64)
    if labelled.any():
        y = np.asarray([str(v) for v, ok in zip(labels, labelled, strict=True) if ok])
        folds[labelled] = _fold_of_labelled(y, subjects_arr[labelled], n_folds, seed)
    else:
        raise InputError("cross-fitting: no case has a label")
    fold_of_subject = {s: int(f) for s, f in zip(subjects_arr[labelled], folds[labelled],
                                                  strict=True)}
    n_assigned = int(folds.max()) + 1
    spare = 0
    for i in np.flatnonzero(~labelled):
        subject = subjects_arr[i]
        if subject not in fold_of_subject:
            fold_of_subject[subject] = spare % n_assigned
            spare += 1
        folds[i] = fold_of_subject[subject]
    return folds


def crossfit_predict(
    adapter: LearningAdapter,
    task: str,
    classes: Sequence[str],
    features: np.ndarray,
    labels: Sequence[str | None],
    subjects: Sequence[str],
    sites: Sequence[str],
    *,
    n_folds: int = 5,
    seed: int = 0,
    leave_one_site_out: bool = False,
    test_features: np.ndarray | None = None,
) -> np.ndarray:
    """Out-of-fold class probabilities, ``n_cases × n_classes`` in the order of ``classes``.

    Each fold's model is fitted on ``features`` of the other folds; it predicts the held-out
    cases from ``test_features`` when given (same rows and columns, e.g. the features of
    perturbed inputs: a model trained on clean data, tested on perturbed data), else from
    ``features``.
    """
    features = np.asarray(features, dtype=np.float64)
    targets = features if test_features is None else np.asarray(test_features, dtype=np.float64)
    if targets.shape != features.shape:
        raise InputError(f"cross-fitting {task}: test features shape {targets.shape} differs "
                         f"from the training features {features.shape}")
    if features.ndim != 2 or features.shape[0] != len(labels):
        raise InputError(f"cross-fitting {task}: features shape {features.shape} does not match "
                         f"{len(labels)} cases")
    classes = list(classes)
    unknown = sorted({str(y) for y in labels if y is not None and y not in classes})
    if unknown:
        raise InputError(f"cross-fitting {task}: labels {unknown} are not in the classes "
                         f"{classes}")
    if getattr(adapter, "same_for_every_case", False):
        return _fit_once(adapter, task, classes, features, labels, targets)
    folds = assign_folds(labels, subjects, sites, n_folds=n_folds, seed=seed,
                         leave_one_site_out=leave_one_site_out)
    subjects_arr = np.asarray([str(s) for s in subjects], dtype=object)
    labelled = np.array([y is not None for y in labels], dtype=bool)
    out = np.zeros((len(labels), len(classes)), dtype=np.float64)
    for fold in np.unique(folds):
        test = folds == fold
        held_out_subjects = set(subjects_arr[test])
        train = labelled & ~test & ~np.isin(subjects_arr, list(held_out_subjects))
        train_labels = [str(labels[i]) for i in np.flatnonzero(train)]
        present = [c for c in classes if c in set(train_labels)]
        if len(present) < MIN_GROUPS:
            out[test] = smoothed_prevalence(train_labels, classes)
            continue
        probabilities = np.asarray(adapter.fit_predict(task, present, features[train],
                                                       train_labels, targets[test]),
                                   dtype=np.float64)
        if probabilities.shape != (int(test.sum()), len(present)):
            raise InputError(f"adapter {adapter.name}: fit_predict returned shape "
                             f"{probabilities.shape}, expected {(int(test.sum()), len(present))}")
        for j, label in enumerate(present):
            out[test, classes.index(label)] = probabilities[:, j]
    return out


def _fit_once(adapter: LearningAdapter, task: str, classes: list[str], features: np.ndarray,
              labels: Sequence[str | None], targets: np.ndarray) -> np.ndarray:
    """A no-skill reference fitted on all labelled cases; the same row for every case."""
    train = [i for i, y in enumerate(labels) if y is not None]
    train_labels = [str(labels[i]) for i in train]
    present = [c for c in classes if c in set(train_labels)]
    out = np.zeros((len(labels), len(classes)), dtype=np.float64)
    if not present:
        out[:] = 1.0 / len(classes)
        return out
    probabilities = np.asarray(adapter.fit_predict(task, present, features[train], train_labels,
                                                   targets), dtype=np.float64)
    if probabilities.shape != (len(labels), len(present)):
        raise InputError(f"adapter {adapter.name}: fit_predict returned shape "
                         f"{probabilities.shape}, expected {(len(labels), len(present))}")
    if not np.all(probabilities == probabilities[:1]):
        raise InputError(f"adapter {adapter.name} declares same_for_every_case but predicted "
                         f"different rows")
    for j, label in enumerate(present):
        out[:, classes.index(label)] = probabilities[:, j]
    return out
