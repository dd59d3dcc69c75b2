"""Scale benchmark (issue 17 item 4): a synthetic cohort on the 1 mm BraTS grid, four adapters.

Not a test. ``.venv/bin/python scripts/bench_scale.py --cases 200 [--small 20] [--workers 2]``

1. Generates the synthetic cohort at 1 mm (MNI152 grid, 197×233×189) and moves every MRI and
   mask onto the BraTS grid, 240×240×155 at 1 mm: zero-padded in x and y, cropped in z to the
   155 slices holding the brain (slices 0–154 of the template: nothing of the brain is cut);
   the affine keeps every voxel's world position, so PET (its own 4 mm grid) still aligns.
2. Runs ``bench`` on it with margin-15mm, fk-growth, random and radiomics-lr (tumour type and
   recurrence), once on ``--small`` cases and once on ``--cases`` cases.
3. Prints: wall time per stage; the harness overhead share (1 − adapter time / worker time;
   worker time = models stage × workers). Adapter time is the run's job time (``cost.csv``)
   times the adapters' share of job time, measured on ``--sample`` cases from the middle of
   equal stretches of the big cohort (not the first cases, whose jobs carry the workers'
   warm-up): their jobs run through the harness in this process (one thread per library,
   memos and caches cleared per case), with the adapters' own predict/extract calls timed
   inside them, less the file reading they trigger. Harness and adapter time come from the
   same executions, so the VM's drift between minutes cannot bias the ratio (timing the
   adapters separately did: the same share came out between 12.8 % and 23 %). The share
   splits into inside jobs (reading the files used, opening, checks) and outside them
   (encoding the records, transfer, the parent, start-up, idle). Also: the largest per-job
   peak RSS of a worker in each run (flat in cohort size when the per-worker figure does not
   grow); store bytes per case; and a linear extrapolation to 1,000 patients.

``--reuse`` reads the figures of runs already in ``--root`` instead of running them again.
On the shared 2-core machine the full 200 cases may take longer than there is: run what fits
and read the extrapolation (it says from how many cases it came).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import yaml

from harness_timing import measured_jobs  # scripts/ is on sys.path when a script runs
from imagination.cohort.manifest import read_manifest
from imagination.cohort.nifti import write_nifti
from imagination.cohort.synthetic import SynthConfig, generate_cohort
from imagination.config import load_config
from imagination.engine.bench import run_bench

BRATS_SHAPE = (240, 240, 155)
ADAPTERS = [{"name": "margin-15mm"}, {"name": "fk-growth"}, {"name": "random"},
            {"name": "radiomics-lr"}]


def to_brats_grid(cohort: Path, workers: int) -> int:
    """Pad/crop every 1 mm MRI and mask of ``cohort`` onto 240×240×155 in ``workers``
    processes; returns files moved."""
    paths = sorted(cohort.rglob("*.nii.gz"))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return sum(pool.map(move_to_brats_grid, paths, chunksize=8))


def move_to_brats_grid(path: Path) -> int:
    """Pad/crop one 1 mm image onto 240×240×155 in place; 1 if moved, 0 if left alone."""
    image = nib.load(path)
    if image.shape == BRATS_SHAPE or len(image.shape) != 3:
        return 0
    if tuple(float(z) for z in image.header.get_zooms()) != (1.0, 1.0, 1.0):
        return 0  # PET keeps its own grid
    data = np.asarray(image.dataobj)
    out = np.zeros(BRATS_SHAPE, dtype=data.dtype)
    src, dst, shift = [], [], []
    for n_in, n_out in zip(data.shape, BRATS_SHAPE, strict=True):
        if n_in <= n_out:  # pad, centred
            before = (n_out - n_in) // 2
            src.append(slice(0, n_in))
            dst.append(slice(before, before + n_in))
            shift.append(-before)
        else:  # crop: keep the first n_out slices (the template's brain is in 0..154)
            src.append(slice(0, n_out))
            dst.append(slice(0, n_out))
            shift.append(0)
    out[tuple(dst)] = data[tuple(src)]
    affine = image.affine.copy()
    affine[:3, 3] = image.affine[:3, :3] @ np.asarray(shift, float) + image.affine[:3, 3]
    write_nifti(path, out, affine, dtype=data.dtype)
    return 1


def cohort(root: Path, n_cases: int, workers: int) -> Path:
    folder = root / f"scale-c{n_cases}"
    manifest = folder / "manifest.csv"
    if manifest.is_file():
        return manifest
    start = time.perf_counter()
    generate_cohort(folder, SynthConfig(n_cases=n_cases, n_sites=min(3, n_cases), seed=11,
                                        resolution_mm=1.0,
                                        workers=workers))
    moved = to_brats_grid(folder, workers)
    print(f"cohort: {n_cases} cases generated and {moved} files moved to 240x240x155 in "
          f"{time.perf_counter() - start:.0f} s", flush=True)
    return manifest


def write_config(folder: Path, manifest: Path, workers: int) -> Path:
    doc = {"name": "scale", "cohort": {"manifests": [str(manifest)]},
           "tasks": ["tumor_type", "recurrence"], "adapters": ADAPTERS,
           "statistics": {"n_resamples": 500}, "crossfit": {"n_folds": 5},
           "executor": {"kind": "local", "workers": workers}}
    path = folder / f"scale-{manifest.parent.name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def run(manifest: Path, folder: Path, workers: int, reuse: bool) -> dict[str, float]:
    """Bench the cohort (``reuse``: read the figures of a finished run instead)."""
    run_dir = folder / f"run-{manifest.parent.name}"
    if not (reuse and (run_dir / "run.json").is_file()):
        shutil.rmtree(run_dir, ignore_errors=True)  # a finished run would only be resumed
        run_bench(load_config(write_config(folder, manifest, workers)), run_dir=run_dir)
    timings = json.loads((run_dir / "run.json").read_text())["timings"]
    wall = float(timings["wall_s"])
    cost = pd.read_csv(run_dir / "cost.csv")
    store = run_dir / "store"
    objects = sum(p.stat().st_size for p in [*(store / "objects").rglob("*.rec"),
                                             *(store / "blobs").rglob("*.blob")])
    n_cases = len(read_manifest(manifest).cases())
    return {"n_cases": n_cases, "run_dir": str(run_dir),
            "wall_s": wall, "models_s": float(timings["models_s"]),
            "scoring_s": float(timings["scoring_s"]), "cohort_s": float(timings["cohort_s"]),
            "job_s": float(cost.wall_s.sum()), "worker_peak_mb": float(cost.peak_rss_mb.max()),
            "store_mb_per_case": objects / 1e6 / n_cases}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--small", type=int, default=20)
    parser.add_argument("--sample", type=int, default=6, help="cases timed without the harness")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--root", type=Path, default=Path("/tmp/imagination-scale"))
    parser.add_argument("--reuse", action="store_true",
                        help="read the figures of finished runs in --root instead of re-running")
    args = parser.parse_args()
    args.root.mkdir(parents=True, exist_ok=True)
    print(f"load average at start: {os.getloadavg()}", flush=True)
    results = []
    for n in (args.small, args.cases):
        manifest = cohort(args.root, n, args.workers)
        result = run(manifest, args.root, args.workers, args.reuse)
        results.append(result)
        print(json.dumps(result), flush=True)
    big = results[-1]
    manifest = cohort(args.root, args.cases, args.workers)
    every = read_manifest(manifest).cases()
    step = max(1, len(every) // args.sample)  # the middle of equal stretches: the first
    sampled = every[step // 2:: step][:args.sample]  # cases' jobs carry the workers' warm-up
    measured = measured_jobs(write_config(args.root, manifest, args.workers), manifest,
                             sampled)
    per_job_s = big["job_s"] / measured.jobs_s  # the run's job time per sampled job second
    adapter_total = measured.adapters_in_run(big["job_s"])
    worker_s = big["models_s"] * args.workers
    inside = 100 * (big["job_s"] - adapter_total) / worker_s
    reading = 100 * measured.reading_s * per_job_s / worker_s
    encoding = 100 * measured.encode_s * per_job_s / worker_s
    gunzip = 100 * measured.gunzip_s * per_job_s / worker_s
    print(f"\n{big['n_cases']} cases, 240x240x155, 4 adapters, {args.workers} workers "
          f"(load average now {os.getloadavg()[0]:.1f})")
    print(f"wall {big['wall_s']:.0f} s: cohort {big['cohort_s']:.0f} s, models "
          f"{big['models_s']:.0f} s, scoring {big['scoring_s']:.0f} s")
    print(f"measured on {len(measured.case_ids)} cases in one process: jobs "
          f"{measured.jobs_s:.1f} s, of which the adapters' own calls {measured.adapters_s:.1f} s"
          f" and reading their files {measured.reading_s:.2f} s; encoding the records "
          f"{measured.encode_s:.2f} s")
    low, high = measured.overhead_interval(big["job_s"], worker_s)
    n_sampled = len(measured.case_ids)
    print(f"harness overhead share: 1 - adapters {adapter_total:.0f} s / worker time "
          f"{worker_s:.0f} s = {100 * measured.overhead_share(big['job_s'], worker_s):.1f} % "
          f"(95 % percentile bootstrap interval over the {n_sampled} sampled cases "
          f"{100 * low:.1f}-{100 * high:.1f} %{'; few cases: a rough interval' * (n_sampled < 10)}"
          f"; goal <= 10 %): "
          f"inside jobs {inside:.1f} points (reading the files used {reading:.1f}, of which "
          f"their raw gunzip {gunzip:.1f}; opening, checks), outside jobs "
          f"{100 * (1 - big['job_s'] / worker_s):.1f} points (encoding {encoding:.1f}; "
          f"transfer, parent, start-up, idle)")
    small = results[0]
    print(f"peak RSS per worker: {small['worker_peak_mb']:.0f} MiB ({small['n_cases']} cases) vs "
          f"{big['worker_peak_mb']:.0f} MiB ({big['n_cases']} cases) = "
          f"{big['worker_peak_mb'] / small['worker_peak_mb']:.2f}x; parent "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print(f"store: {big['store_mb_per_case']:.1f} MB per case")
    factor = 1000 / big["n_cases"]
    print(f"extrapolated to 1,000 patients (linear from {big['n_cases']} cases): models "
          f"{big['models_s'] * factor / 3600:.1f} h on {args.workers} workers "
          f"({big['models_s'] * factor * args.workers / 3600:.1f} worker-hours), scoring "
          f"{big['scoring_s'] * factor / 60:.0f} min (if linear), store "
          f"{big['store_mb_per_case'] * 1000 / 1e3:.1f} GB")


if __name__ == "__main__":
    main()
