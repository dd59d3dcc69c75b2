"""Benchmark of the engine's infrastructure: executors, prediction store, hashing, cost.

Not a test: run it by hand (``.venv/bin/python scripts/bench_engine_infra.py``) and read the
figures. Medians of several repetitions; the machine is shared, so compare ratios.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from imagination.engine import hashing
from imagination.engine.cost import Cost, measure
from imagination.engine.executors import DaskExecutor, LocalExecutor
from imagination.engine.store import JobRecord, PredictionStore


def cpu_job(seed: int) -> float:
    """About 0.25 s of single-threaded numpy work."""
    rng = np.random.default_rng(seed)
    total = 0.0
    end = time.process_time() + 0.25
    while time.process_time() < end:
        total += float(np.sort(rng.random(20_000)).sum())
    return total


def empty_job(item: int) -> int:
    return item


def timed(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def smooth_map() -> np.ndarray:
    """A realistic 240x240x155 float32 recurrence score map: smooth inside a brain, 0 outside."""
    z, y, x = np.ogrid[:240, :240, :155]
    brain = ((z - 120) / 90) ** 2 + ((y - 120) / 100) ** 2 + ((x - 77) / 70) ** 2 < 1
    tumour = ((z - 100) / 20) ** 2 + ((y - 130) / 15) ** 2 + ((x - 70) / 12) ** 2 < 1
    distance = ndimage.distance_transform_edt(~tumour).astype(np.float32)
    return np.where(brain, np.exp(-distance / 10), 0).astype(np.float32)


def bench_executors(rows: list[tuple[str, str]]) -> None:
    n_cpu = 16
    with LocalExecutor(1) as one:
        list(one.map_unordered(cpu_job, range(2)))  # warm-up
        serial = timed(lambda: list(one.map_unordered(cpu_job, range(n_cpu))), 3)
        overhead_inproc = timed(lambda: list(one.map_unordered(empty_job, range(500))), 3) / 500
    with LocalExecutor(2) as two:
        list(two.map_unordered(cpu_job, range(4)))  # start the workers
        parallel = timed(lambda: list(two.map_unordered(cpu_job, range(n_cpu))), 3)
        overhead_pool = timed(lambda: list(two.map_unordered(empty_job, range(500))), 3) / 500
    with DaskExecutor(None, workers=2) as dask_executor:
        list(dask_executor.map_unordered(cpu_job, range(4)))
        dask_parallel = timed(lambda: list(dask_executor.map_unordered(cpu_job, range(n_cpu))), 3)
        overhead_dask = timed(lambda: list(dask_executor.map_unordered(empty_job,
                                                                         range(200))), 3) / 200
    rows += [
        ("16 CPU jobs of 0.25 s, local 1 worker (in-process)", f"{serial:.2f} s"),
        ("same, local 2 worker processes", f"{parallel:.2f} s ({serial / parallel:.2f}x)"),
        ("same, Dask LocalCluster 2 processes", f"{dask_parallel:.2f} s "
         f"({serial / dask_parallel:.2f}x)"),
        ("per-job overhead, in-process", f"{overhead_inproc * 1e3:.2f} ms"),
        ("per-job overhead, local 2 workers", f"{overhead_pool * 1e3:.2f} ms"),
        ("per-job overhead, Dask 2 workers", f"{overhead_dask * 1e3:.2f} ms"),
    ]


def bench_store(rows: list[tuple[str, str]], folder: Path) -> None:
    store = PredictionStore(folder / "store")
    score_map = smooth_map()
    big = [JobRecord(key=f"{i:064x}", case_id=f"c{i}", adapter="a", perturbation_id="clean",
                     kind="predictions", outputs={"recurrence": score_map}, cost=Cost(1, 1, 1))
           for i in range(5)]
    small = [JobRecord(key=f"{i + 100:064x}", case_id=f"c{i}", adapter="a",
                       perturbation_id="clean", kind="predictions",
                       outputs={"idh": {"mutant": 0.3, "wildtype": 0.7}})
             for i in range(200)]
    put_big = statistics.median(measure(store.put, r.key, r)[1].wall_s for r in big)
    get_big = statistics.median(measure(store.get, r.key)[1].wall_s for r in big)
    size = store.object_path(big[0].key).stat().st_size
    start = time.perf_counter()
    for r in small:
        store.put(r.key, r)
    put_small = (time.perf_counter() - start) / len(small)
    start = time.perf_counter()
    for r in small:
        store.get(r.key)
    get_small = (time.perf_counter() - start) / len(small)
    start = time.perf_counter()
    for r in small:
        store.has(r.key)
    has_small = (time.perf_counter() - start) / len(small)
    rows += [
        ("store put, 240x240x155 float32 map (35.7 MB raw)",
         f"{put_big * 1e3:.0f} ms, object {size / 1e6:.1f} MB"),
        ("store get (checksum verified), same", f"{get_big * 1e3:.0f} ms"),
        ("store put / get / has, classification-only record",
         f"{put_small * 1e3:.2f} / {get_small * 1e3:.2f} / {has_small * 1e3:.3f} ms"),
    ]


def bench_hashing(rows: list[tuple[str, str]], folder: Path) -> None:
    files = []
    rng = np.random.default_rng(0)
    for i in range(4):
        path = folder / f"img{i}.nii.gz"
        path.write_bytes(rng.bytes(2_500_000))  # the size of a BraTS .nii.gz
        files.append(path)
    store = PredictionStore(folder / "digests")

    def cold() -> None:
        hashing.clear_memo()
        store._connection().execute("DELETE FROM file_digests")
        for path in files:
            hashing.file_digest(path, store)

    def persistent_hit() -> None:
        hashing.clear_memo()
        for path in files:
            hashing.file_digest(path, store)

    def memo_hit() -> None:
        for path in files:
            hashing.file_digest(path, store)

    rows += [
        ("digest of a 4 x 2.5 MB case, cold (sha256)", f"{timed(cold) * 1e3:.2f} ms"),
        ("same, SQLite digest cache hit (new process)", f"{timed(persistent_hit) * 1e3:.2f} ms"),
        ("same, in-process memo hit", f"{timed(memo_hit) * 1e3:.3f} ms"),
    ]


def bench_measure(rows: list[tuple[str, str]]) -> None:
    bare = timed(lambda: [empty_job(i) for i in range(200)]) / 200
    wrapped = timed(lambda: [measure(empty_job, i) for i in range(200)]) / 200
    rows.append(("cost.measure overhead per call", f"{(wrapped - bare) * 1e3:.3f} ms"))


def main() -> int:
    rows: list[tuple[str, str]] = [("load average (1 min) at the start",
                                    f"{os.getloadavg()[0]:.1f}")]
    with tempfile.TemporaryDirectory() as tmp:
        bench_store(rows, Path(tmp))
        bench_hashing(rows, Path(tmp))
    bench_measure(rows)
    bench_executors(rows)
    rows.append(("load average (1 min) at the end, on this many cores",
                 f"{os.getloadavg()[0]:.1f} on {os.cpu_count()}"))
    print("| measurement | figure |\n|---|---|")
    for name, figure in rows:
        print(f"| {name} | {figure} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
