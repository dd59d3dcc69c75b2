"""Benchmark of the scoring code against reference libraries (not a test; prints a table).

HD95 + ASSD against MedPy (GPL, bench extra only) and DeepMind's surface-distance on a
240×240×155 mask pair at 1 mm and a 256×256×32 pair at 0.9×0.9×5 mm (the synthetic blobs of
shared/research/perf.md), and the bootstrap CI of an AUC for 500 cases × 2000 resamples.

Run: .venv/bin/python scripts/bench_metrics.py   (needs: pip install -e '.[bench]')
"""

from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import surface_distance as sd
from medpy.metric import binary as medpy_binary
from scipy import ndimage as ndi
from sklearn.metrics import roc_auc_score

from imagination.metrics import registry
from imagination.metrics.segmentation import segmentation_scores
from imagination.stats.bootstrap import bootstrap_auc_ci, resample_weights
from imagination.stats.resampled import SUPPORTED, resampled_classification

warnings.filterwarnings("ignore")


def bench(fn: Callable[[], Any], n: int = 5, warmup: int = 1) -> tuple[float, Any]:
    """Median wall time over ``n`` calls after ``warmup`` calls, and the last result."""
    for _ in range(warmup):
        out = fn()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def interleaved(fns: dict[str, Callable[[], Any]], rounds: int) -> dict[str, tuple[float, Any]]:
    """Median time of each function, called in turn for ``rounds`` rounds (a shared, noisy
    machine then slows all of them alike)."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    out: dict[str, Any] = {name: fn() for name, fn in fns.items()}  # warm-up
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            out[name] = fn()
            times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(times[name]), out[name]) for name in fns}


def _noise(shape: tuple[int, ...], spacing: tuple[float, ...], sigma_mm: float,
           rng: np.random.Generator) -> np.ndarray:
    f = ndi.gaussian_filter(rng.standard_normal(shape, dtype=np.float32),
                            [sigma_mm / s for s in spacing])
    return f / f.std()


def mask_pair(shape: tuple[int, int, int], spacing: tuple[float, float, float],
              seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Irregular 'whole tumour' blob and a shifted, re-noised prediction with a far FP island."""
    rng = np.random.default_rng(seed)
    centre = np.array(shape) * np.array(spacing) / 2 + np.array([12.0, -8.0, 5.0])
    radii = np.array([25.0, 21.0, 18.0])
    ax = [(np.arange(n) * s - c) / r for n, s, c, r in zip(shape, spacing, centre, radii,
                                                            strict=True)]
    rr = np.sqrt(ax[0][:, None, None] ** 2 + ax[1][None, :, None] ** 2 + ax[2][None, None, :] ** 2)
    field = ((rr - 1.0) * radii.mean() + 5.0 * _noise(shape, spacing, 6.0, rng)).astype(np.float32)
    rng2 = np.random.default_rng(seed + 1)
    shift = (2, -1, 1) if spacing[2] < 2 else (2, -1, 0)
    moved = np.roll(field, shift, axis=(0, 1, 2)) + 2.0 * _noise(shape, spacing, 3.0, rng2) + 0.5
    ref, pred = field < 0, moved < 0
    island = np.array(ndi.center_of_mass(ref)) + np.array([45.0, 0, 0]) / np.array(spacing)
    grid = np.ogrid[tuple(slice(0, n) for n in shape)]
    pred |= sum(((g - c) * s) ** 2 for g, c, s in zip(grid, island, spacing, strict=True)) < 25.0
    return ref, pred


def surface_rows() -> list[str]:
    rows = []
    for shape, spacing in (((240, 240, 155), (1.0, 1.0, 1.0)), ((256, 256, 32), (0.9, 0.9, 5.0))):
        ref, pred = mask_pair(shape, spacing)
        label = f"{shape[0]}x{shape[1]}x{shape[2]} @ {spacing[0]}x{spacing[1]}x{spacing[2]} mm"

        def deepmind(r: np.ndarray = ref, p: np.ndarray = pred,
                     s: tuple[float, ...] = spacing) -> tuple[float, float]:
            d = sd.compute_surface_distances(r, p, s)
            return (sd.compute_robust_hausdorff(d, 95),
                    float(np.mean(sd.compute_average_surface_distance(d))))

        fast = interleaved({
            "own": lambda r=ref, p=pred, s=spacing: segmentation_scores(r, p, s),
            "deepmind": deepmind,
        }, rounds=15)
        slow = interleaved({
            "own": lambda r=ref, p=pred, s=spacing: segmentation_scores(r, p, s),
            "hd95": lambda r=ref, p=pred, s=spacing: medpy_binary.hd95(p, r, s),
            "assd": lambda r=ref, p=pred, s=spacing: medpy_binary.assd(p, r, s),
        }, rounds=3)
        t_own, own = fast["own"]
        t_dm, dm = fast["deepmind"]
        t_own_slow = slow["own"][0]
        t_hd, m_hd = slow["hd95"]
        t_as, m_as = slow["assd"]
        rows += [
            f"| {label} | imagination (HD95+ASSD+NSD+Dice, one call) | {1e3 * t_own:8.1f} | 1.0 |"
            f" {own.hd95:.4f} | {own.assd:.4f} |",
            f"| {label} | MedPy hd95 + assd (two calls) | {1e3 * (t_hd + t_as):8.1f} |"
            f" {(t_hd + t_as) / t_own_slow:.1f} | {m_hd:.4f} | {m_as:.4f} |",
            f"| {label} | MedPy hd95 only | {1e3 * t_hd:8.1f} | {t_hd / t_own_slow:.1f} |"
            f" {m_hd:.4f} | – |",
            f"| {label} | surface-distance (surfels; other definition) | {1e3 * t_dm:8.1f} |"
            f" {t_dm / t_own:.1f} | {dm[0]:.4f} | {dm[1]:.4f} |",
        ]
        assert abs(own.hd95 - m_hd) < 1e-9 and abs(own.assd - m_as) < 1e-9, "differs from MedPy"
    return rows


def bootstrap_rows() -> list[str]:
    rng = np.random.default_rng(0)
    y = rng.random(500) < 0.4
    score = np.round(y + rng.standard_normal(500), 3)  # rounded: ties, as real outputs
    subjects = np.arange(500)
    t_pct, pct = bench(lambda: bootstrap_auc_ci(y, score, subjects=subjects, n_resamples=2000,
                                                seed=1), n=11)
    t_bca, bca = bench(lambda: bootstrap_auc_ci(y, score, subjects=subjects, n_resamples=2000,
                                                method="bca", seed=1), n=7)
    idx = np.random.default_rng(1).integers(0, 500, (2000, 500))

    def naive() -> tuple[float, float]:
        aucs = [roc_auc_score(y[i], score[i]) for i in idx]
        low, high = np.percentile(aucs, [2.5, 97.5])
        return float(low), float(high)

    t_naive, nv = bench(naive, n=1, warmup=0)
    labels = np.where(y, "mutant", "wildtype")
    proba = np.column_stack([1 - 1 / (1 + np.exp(-score)), 1 / (1 + np.exp(-score))])
    classes = ("wildtype", "mutant")
    weights = resample_weights(subjects, strata=labels, n_resamples=2000, seed=1)
    t_all, _ = bench(lambda: [resampled_classification(m, labels, proba, classes, weights=weights,
                                                       positive="mutant") for m in SUPPORTED],
                     n=3)
    t_mcc, _ = bench(lambda: resampled_classification("mcc", labels, proba, classes,
                                                      weights=weights, positive="mutant"), n=5)
    mcc = registry.get("mcc")

    def mcc_loop() -> None:
        for row in weights:
            idx = np.repeat(subjects, row)
            mcc.compute(labels[idx], proba[idx], classes, positive="mutant")

    t_loop, _ = bench(mcc_loop, n=1, warmup=0)
    return [
        f"| AUC bootstrap, 500 cases × 2000 | imagination percentile (stratified) |"
        f" {1e3 * t_pct:8.1f} | 1.0 | [{pct.low:.4f}, {pct.high:.4f}] | |",
        f"| AUC bootstrap, 500 cases × 2000 | imagination BCa (+ 500 jackknife AUCs) |"
        f" {1e3 * t_bca:8.1f} | {t_bca / t_pct:.1f} | [{bca.low:.4f}, {bca.high:.4f}] | |",
        f"| AUC bootstrap, 500 cases × 2000 | naive sklearn loop (unstratified) |"
        f" {1e3 * t_naive:8.1f} | {t_naive / t_pct:.1f} | [{nv[0]:.4f}, {nv[1]:.4f}] | |",
        f"| {len(SUPPORTED)} classification metrics, 500 × 2000 | imagination resampled"
        f" (vectorised, all) | {1e3 * t_all:8.1f} | | | |",
        f"| MCC, 500 × 2000 | imagination resampled (vectorised) | {1e3 * t_mcc:8.1f} | 1.0 | | |",
        f"| MCC, 500 × 2000 | registry metric looped over resamples | {1e3 * t_loop:8.1f} |"
        f" {t_loop / t_mcc:.1f} | | |",
    ]


def main() -> None:
    print("Ratios compare medians of calls interleaved with imagination's in the same rounds.")
    print("| data | implementation | ms (median) | × imagination time | HD95 / CI | ASSD |")
    print("|---|---|---|---|---|---|")
    for row in surface_rows() + bootstrap_rows():
        print(row, flush=True)


if __name__ == "__main__":
    main()
