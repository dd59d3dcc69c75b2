"""Job functions for executor tests (module-level, so worker processes can import them)."""

from __future__ import annotations

import os
import time

import numpy as np


def square_with_noise(item: int) -> dict[str, float]:
    """A deterministic numeric job: seeded noise, a matrix product and a sum."""
    rng = np.random.default_rng(item)
    matrix = rng.standard_normal((40, 40))
    return {"item": float(item), "value": float((matrix @ matrix.T).sum() + item * item)}


def misbehave(item: str) -> str:
    """Succeeds, raises, hangs or kills its own process, depending on ``item``."""
    if item == "raise":
        raise ValueError("bad input for this job")
    if item == "hang":
        time.sleep(600)
    if item == "exit":
        os._exit(7)
    if item == "segfault":
        import ctypes

        ctypes.string_at(0)
    return item.upper()


def pool_threads(_: int) -> tuple[int, int]:
    """ITK's default filter threads and the largest BLAS/OpenMP pool seen by a job."""
    import SimpleITK as sitk
    from threadpoolctl import threadpool_info

    pools = [pool["num_threads"] for pool in threadpool_info()] or [1]
    return sitk.ProcessObject.GetGlobalDefaultNumberOfThreads(), max(pools)


def worker_pid(_: int) -> int:
    time.sleep(0.05)
    return os.getpid()


def write_records(store_root: str, writer: int, count: int) -> list[str]:
    """Write ``count`` records from this process; return their keys."""
    from imagination.engine.cost import Cost
    from imagination.engine.store import JobRecord, PredictionStore

    store = PredictionStore(store_root)
    keys = []
    for index in range(count):
        key = f"{writer:02d}{index:062d}"
        rng = np.random.default_rng(writer * 1000 + index)
        store.put(key, JobRecord(
            key=key, case_id=f"case{index}", adapter=f"writer{writer}", perturbation_id="none",
            kind="predictions", outputs={"idh": {"mutant": 0.25, "wildtype": 0.75},
                                         "recurrence": rng.random((6, 5, 4), dtype=np.float32)},
            cost=Cost(0.1, 0.1, 10.0)))
        keys.append(key)
    return keys


def write_forever(store_root: str) -> None:
    """Keep writing large records until killed (for the kill -9 test)."""
    from imagination.engine.store import JobRecord, PredictionStore

    store = PredictionStore(store_root)
    rng = np.random.default_rng(0)
    index = 0
    while True:
        key = f"{index:064x}"
        store.put(key, JobRecord(key=key, case_id=f"c{index}", adapter="a",
                                 perturbation_id="none", kind="predictions",
                                 outputs={"recurrence": rng.random((64, 64, 48),
                                                                   dtype=np.float32)}))
        index += 1


def record_pid_then_hang(pid_file: str) -> None:
    """Write this process's id, then hang (for the orphan test)."""
    from pathlib import Path

    Path(pid_file).write_text(str(os.getpid()))
    time.sleep(600)


def run_hanging_job_in_pool(pid_file: str) -> None:
    """Body of a run that gets killed with -9 while its worker hangs."""
    from imagination.engine.executors import LocalExecutor

    executor = LocalExecutor(1)
    list(executor.map_unordered(record_pid_then_hang, [pid_file], timeout_s=600))


def predict_case(item: tuple[str, int]):
    """A stand-in adapter job: a seeded score map and probabilities for one case."""
    from imagination.engine.cost import measure
    from imagination.engine.store import JobRecord

    key, seed = item

    def work() -> tuple[dict, np.ndarray]:
        rng = np.random.default_rng(seed)
        score_map = rng.random((8, 8, 8), dtype=np.float32)
        p = float(rng.random())
        time.sleep(0.05)
        return {"idh": {"mutant": p, "wildtype": 1.0 - p}}, score_map

    (classification, score_map), cost = measure(work)
    return JobRecord(key=key, case_id=f"case{seed}", adapter="stand-in", perturbation_id="clean",
                     kind="predictions", outputs={**classification, "recurrence": score_map},
                     cost=cost)
