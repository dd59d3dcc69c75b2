"""Vectorised resampled metrics equal the registry metric on the repeated case list."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagination.errors import InputError
from imagination.metrics import registry
from imagination.stats.bootstrap import resample_weights
from imagination.stats.resampled import SUPPORTED, resampled_classification

CLASSES = ("a", "b", "c", "d")


def _data(seed: int, n: int, k: int) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    raw = rng.integers(1, 6, (n, k)).astype(float) if seed % 2 else rng.gamma(0.8, size=(n, k))
    raw[np.arange(n), truth] += rng.gamma(0.5, size=n)
    proba = raw / raw.sum(axis=1, keepdims=True)
    return np.array(CLASSES)[truth], proba, CLASSES[:k]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(4, 40), k=st.sampled_from([2, 2, 3]),
       threshold=st.sampled_from([0.3, 0.5, 0.7]))
def test_every_supported_metric_equals_the_loop(seed: int, n: int, k: int,
                                                threshold: float) -> None:
    y, p, classes = _data(seed, n, k)
    w = resample_weights(np.arange(n), n_resamples=6, seed=seed)
    w[0] = 1  # the original sample is one of the rows
    positive = classes[0] if k == 2 else None
    for name in sorted(SUPPORTED):
        metric = registry.get(name)
        if metric.applies_to == "binary" and k != 2:
            continue
        got = resampled_classification(name, y, p, classes, weights=w, positive=positive,
                                       threshold=threshold)
        assert got is not None and got.shape == (6,)
        for row, value in zip(w, got, strict=True):
            idx = np.repeat(np.arange(n), row)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                want = metric.compute(y[idx], p[idx], classes, positive=positive,
                                      threshold=threshold)
            if np.isnan(want):
                assert np.isnan(value), (name, row)
            else:
                tol = 1e-7 if name.startswith("calibration") else 1e-12
                assert value == pytest.approx(want, abs=tol), (name, row)


def test_unsupported_and_binary_only_names() -> None:
    y, p, classes = _data(1, 10, 3)
    w = np.ones((2, 10), int)
    assert resampled_classification("nope", y, p, classes, weights=w) is None
    with pytest.raises(InputError, match="binary"):
        resampled_classification("sensitivity", y, p, classes, weights=w)


def test_every_registered_classification_metric_has_the_vectorised_form() -> None:
    """Issue 12 item 8: no registered cohort metric falls back to the per-resample loop
    (scripts/bench_bootstrap.py measures the two paths)."""
    from imagination.metrics.registry import available

    names = {m.name for m in available("classification")}
    assert names <= SUPPORTED, sorted(names - SUPPORTED)
