"""The shared model of the learning baselines: median imputation, scaling, logistic regression."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def logistic_fit_predict(classes: Sequence[str], train_features: np.ndarray,
                         train_labels: Sequence[str], test_features: np.ndarray, *,
                         c: float = 1.0, max_iter: int = 2000) -> np.ndarray:
    """Fit an L2 (multinomial when K > 2) logistic regression; ``(n_test, K)`` probabilities.

    Missing features (NaN) are imputed with the training median; a feature missing in every
    training row is dropped. Columns follow ``classes``.
    """
    model = make_pipeline(
        SimpleImputer(strategy="median"),
        StandardScaler(),
        LogisticRegression(C=c, max_iter=max_iter),
    )
    train = np.asarray(train_features, dtype=np.float64)
    test = np.asarray(test_features, dtype=np.float64)
    if train.shape[1] == 0 or np.isnan(train).all(axis=0).all():
        counts = np.array([sum(1 for y in train_labels if y == k) for k in classes], dtype=float)
        return np.tile(counts / counts.sum(), (len(test), 1))
    model.fit(train, np.asarray(train_labels))
    probabilities = model.predict_proba(test)
    learned = list(model.classes_)
    out = np.zeros((len(test), len(classes)), dtype=np.float64)
    for j, label in enumerate(classes):
        if label in learned:
            out[:, j] = probabilities[:, learned.index(label)]
    return out
