"""Benchmark: bootstrap distribution of every classification metric, the generic path (the
metric recomputed on each resampled case list) against the vectorised one
(``stats.resampled``, all weight rows at once). Not a test; prints a table.

Run: .venv/bin/python scripts/bench_bootstrap.py [N_CASES] [N_RESAMPLES]
"""

from __future__ import annotations

import sys
import time

import numpy as np

from imagination.engine.aggregate import _safe, classification_distribution
from imagination.metrics import registry
from imagination.stats.bootstrap import resample_weights


def _generic(metric, y, proba, classes, positive, weights) -> np.ndarray:
    cases = np.arange(y.size)
    return np.array([_safe(metric, y[np.repeat(cases, row)], proba[np.repeat(cases, row)],
                           classes, positive) for row in weights])


def main() -> int:
    n_cases = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    n_resamples = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    rng = np.random.default_rng(0)
    classes = ["wildtype", "mutant"]
    y = np.where(rng.random(n_cases) < 0.3, "mutant", "wildtype")
    p = np.clip(0.3 + 0.4 * (y == "mutant") + rng.normal(0, 0.2, n_cases), 0.01, 0.99)
    proba = np.column_stack([1 - p, p])
    subjects = np.array([f"s{i}" for i in range(n_cases)])
    weights = resample_weights(subjects, strata=y, n_resamples=n_resamples, seed=0)
    print(f"{n_cases} cases, {n_resamples} resamples, binary task; seconds per distribution")
    print(f"{'metric':24s} {'generic':>9s} {'vectorised':>11s} {'speed-up':>9s} "
          f"{'max |diff|':>11s}")
    ratios = []
    for metric in registry.available("classification"):
        start = time.perf_counter()
        slow = _generic(metric, y, proba, classes, "mutant", weights)
        t_slow = time.perf_counter() - start
        start = time.perf_counter()
        fast = classification_distribution(metric, y, proba, classes, "mutant", weights)
        t_fast = time.perf_counter() - start
        both = np.isfinite(slow) & np.isfinite(fast)
        diff = float(np.max(np.abs(slow[both] - fast[both]))) if both.any() else float("nan")
        ratios.append(t_slow / t_fast)
        print(f"{metric.name:24s} {t_slow:9.3f} {t_fast:11.4f} {t_slow / t_fast:8.0f}x "
              f"{diff:11.2e}")
    print(f"median speed-up {np.median(ratios):.0f}x; every registered classification metric "
          f"takes the vectorised path")
    return 0


if __name__ == "__main__":
    sys.exit(main())
