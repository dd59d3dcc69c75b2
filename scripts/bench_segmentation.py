"""Benchmark of the segmentation task's scoring against MedPy (not a test; prints a table).

One whole BraTS case, 240×240×155 at 1 mm: an irregular glioma (SNFH around a core of NETC
inside an ET rim) plus a satellite lesion, and a prediction that is shifted, re-noised, misses
the satellite and adds a false-positive island. Our scoring: label maps cropped to the union,
WT/TC/ET masks through the label map, and per region every metric of ``metrics.brats``
(Dice, HD95, ASSD, NSD, volumes, sensitivity/precision, lesion-wise matching); one core.
MedPy 0.5 (GPL, dev/bench extra only): ``dc`` + ``hd95`` + ``assd`` per region on the full
volume. Values must agree to 1e-9 mm.

Run: .venv/bin/python scripts/bench_segmentation.py   (needs MedPy: pip install -e '.[dev]')
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from medpy.metric import binary as medpy_binary
from scipy import ndimage as ndi

from imagination.cohort.labelmap import LabelMap
from imagination.metrics.brats import region_scores
from imagination.metrics.segmentation import union_box

warnings.filterwarnings("ignore")
SHAPE = (240, 240, 155)
REGIONS = ("WT", "TC", "ET")
LABELS = LabelMap.from_spec("brats2023")


def _field(rng: np.random.Generator, centre: tuple[float, float, float],
           radii: tuple[float, float, float], roughness: float) -> np.ndarray:
    """Signed 'distance' (mm, negative inside) of a noisy ellipsoid."""
    noise = ndi.gaussian_filter(rng.standard_normal(SHAPE, dtype=np.float32), 5.0)
    noise /= noise.std()
    ax = [(np.arange(n, dtype=np.float32) - c) / r for n, c, r in zip(SHAPE, centre, radii,
                                                                      strict=True)]
    rr = np.sqrt(ax[0][:, None, None] ** 2 + ax[1][None, :, None] ** 2
                 + ax[2][None, None, :] ** 2)
    return (rr - 1.0) * float(np.mean(radii)) + roughness * noise


def glioma(seed: int, shift: tuple[int, int, int], satellite: bool,
           false_positive: bool) -> np.ndarray:
    """A BraTS 2023 label map: 1 NETC, 2 SNFH, 3 ET."""
    rng = np.random.default_rng(seed)
    c = (130.0 + shift[0], 110.0 + shift[1], 80.0 + shift[2])
    whole = _field(rng, c, (34.0, 28.0, 24.0), 4.0)
    core = _field(rng, c, (18.0, 15.0, 13.0), 2.5)
    seg = np.zeros(SHAPE, np.uint8)
    seg[whole < 0] = 2
    seg[core < 0] = 3
    seg[core < -4.0] = 1
    grid = np.ogrid[tuple(slice(0, n) for n in SHAPE)]
    if satellite:
        seg[sum((g - x) ** 2 for g, x in zip(grid, (70, 150, 60), strict=True)) < 8**2] = 3
    if false_positive:
        seg[sum((g - x) ** 2 for g, x in zip(grid, (190, 60, 100), strict=True)) < 5**2] = 2
    return seg


def ours(truth: np.ndarray, pred: np.ndarray) -> dict[str, dict[str, float]]:
    box = union_box(truth, pred)
    assert box is not None
    t = LABELS.region_masks(truth[box], REGIONS)
    p = LABELS.region_masks(pred[box], REGIONS)
    return {r: region_scores(t[r], p[r], (1.0, 1.0, 1.0)) for r in REGIONS}


def medpy(truth: np.ndarray, pred: np.ndarray) -> dict[str, dict[str, float]]:
    t = LABELS.region_masks(truth, REGIONS)
    p = LABELS.region_masks(pred, REGIONS)
    return {r: {"dice": medpy_binary.dc(p[r], t[r]), "hd95": medpy_binary.hd95(p[r], t[r]),
                "assd": medpy_binary.assd(p[r], t[r])} for r in REGIONS}


def timed(fn: Callable[[], Any], rounds: int) -> tuple[float, Any]:
    out = fn()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    truth = glioma(0, (0, 0, 0), satellite=True, false_positive=False)
    pred = glioma(1, (2, -1, 1), satellite=False, false_positive=True)
    t_ours, mine = timed(lambda: ours(truth, pred), rounds=7)
    t_medpy, ref = timed(lambda: medpy(truth, pred), rounds=2)
    print(f"case {SHAPE} at 1 mm; voxels per region (truth / prediction):")
    for r in REGIONS:
        t = LABELS.region_masks(truth, [r])[r]
        p = LABELS.region_masks(pred, [r])[r]
        print(f"  {r}: {int(t.sum())} / {int(p.sum())}")
    print(f"{'region':6} {'metric':8} {'ours':>12} {'MedPy':>12} {'|diff|':>9}")
    worst = 0.0
    for r in REGIONS:
        for m in ("dice", "hd95", "assd"):
            diff = abs(mine[r][m] - ref[r][m])
            worst = max(worst, diff)
            print(f"{r:6} {m:8} {mine[r][m]:12.6f} {ref[r][m]:12.6f} {diff:9.1e}")
    print("lesion-wise (ours): " + "; ".join(
        f"{r} dice {mine[r]['lesion_dice']:.4f} hd95 {mine[r]['lesion_hd95']:.3f} "
        f"f1 {mine[r]['lesion_f1']:.3f} tp/fp/fn {mine[r]['lesion_tp']:.0f}/"
        f"{mine[r]['lesion_fp']:.0f}/{mine[r]['lesion_fn']:.0f}" for r in REGIONS))
    print(f"ours, WT/TC/ET x all {len(mine['WT'])} metrics: {t_ours * 1000:.0f} ms "
          f"(median of 7; target <= 500 ms)")
    print(f"MedPy, WT/TC/ET x (dc, hd95, assd): {t_medpy * 1000:.0f} ms (median of 2)")
    print(f"speed-up: {t_medpy / t_ours:.1f}x (target >= 20x); max |diff| {worst:.1e}")
    if worst > 1e-9:
        raise SystemExit("values differ from MedPy")


if __name__ == "__main__":
    main()
