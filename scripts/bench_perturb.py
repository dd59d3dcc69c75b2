"""Seconds per perturbation on a BraTS-sized case (240 × 240 × 155 at 1 mm, four MRI
sequences and PET, a nested tumour mask), at severity 3, one thread of numpy.

    .venv/bin/python scripts/bench_perturb.py [--shape 240 240 155] [--repeats 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from imagination.cohort.case import Case, Grid, LoadedCase
from imagination.cohort.labelmap import LabelMap
from imagination.perturb import apply_perturbation, available, perturbation_seed

MODALITIES = ("t1", "t1c", "t2", "flair", "pet")


def brats_like_case(shape: tuple[int, int, int]) -> LoadedCase:
    rng = np.random.default_rng(0)
    centre = [(s - 1) / 2 for s in shape]
    grids = np.meshgrid(*[np.arange(s) - c for s, c in zip(shape, centre, strict=True)],
                        indexing="ij", sparse=True)
    r = np.sqrt(sum(g.astype(np.float32) ** 2 for g in grids))
    brain = r < 0.4 * min(shape)
    lesion = np.sqrt((grids[0] - 20.0) ** 2 + (grids[1] - 10.0) ** 2 + grids[2] ** 2)
    seg = np.zeros(shape, np.uint8)
    seg[lesion < 25] = 2
    seg[lesion < 15] = 1
    seg[lesion < 8] = 4
    images = {m: np.where(brain, 300 + 100 * rng.random(shape, dtype=np.float32), 0)
              .astype(np.float32) for m in MODALITIES}
    record = Case("bench", "bench", "site", images=dict.fromkeys(MODALITIES),  # type: ignore[arg-type]
                  masks=dict.fromkeys(("tumor", "brain")),  # type: ignore[arg-type]
                  label_map=LabelMap.from_spec("brats2021"), reference="t1c")
    return LoadedCase(record, Grid(shape, np.eye(4)), images,
                      {"tumor": seg, "brain": brain.astype(np.uint8)})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=(240, 240, 155))
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    case = brats_like_case(tuple(args.shape))
    print(f"{'kind':16} {'best s':>8}  (severity 3, shape {tuple(args.shape)})")
    total = 0.0
    for kind in available():
        if kind.startswith("drop_") and kind[5:] not in case.images:
            continue
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            apply_perturbation(case, kind, 3, perturbation_seed(0, "bench", kind, 3))
            times.append(time.perf_counter() - start)
        total += min(times)
        print(f"{kind:16} {min(times):8.2f}", flush=True)
    print(f"{'all kinds':16} {total:8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
