"""Harness overhead measured inside the same executions (shared by the benchmark scripts).

Not a test. The sampled cases' jobs run through the harness (``engine.jobs.run_job``) in this
process, with the adapters' own ``predict``/``extract`` calls timed inside them, less the file
reading those calls trigger (a case's files are read lazily, on first use). Harness and adapter
time then come from the same executions: timing the adapters separately, minutes apart from a
run, cannot be compared with it on a VM whose speed drifts (one adapter call on one case varied
up to 3x between repetitions here).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from inspect import signature
from pathlib import Path

import numpy as np
from zlib_ng import gzip_ng

from imagination.adapters.baselines.memo import clear_all
from imagination.cohort import loading
from imagination.cohort.case import Case
from imagination.config import load_config
from imagination.engine import jobs
from imagination.engine.bench import build_adapters, cohort_vocabularies
from imagination.engine.executors import single_threaded_pools
from imagination.engine.plan import build_plan
from imagination.engine.store import encode_record


@dataclass
class Measured:
    """The sampled cases' jobs run through the harness in one process, the adapters' own
    calls timed inside them: harness and adapter time come from the same executions, so the
    VM's drift between minutes (±5 % and more) cannot bias their ratio."""

    case_ids: list[str]
    jobs_s: float  # run_job walls, what cost.csv records: open, read, check, adapter
    adapters_s: float  # inside those: the adapters' predict/extract calls, minus file reading
    reading_s: float  # inside those: reading the files the adapters use (lazily, on first use)
    encode_s: float  # compressing those jobs' records (done in the worker, outside jobs)
    gunzip_s: float  # raw gunzip of the same files (zlib-ng): the floor of any reader
    per_case: list[tuple[float, float]]  # (jobs_s, adapters_s) of each case, in order

    def adapters_in_run(self, job_s: float) -> float:
        """The run's adapter time: its job time ``job_s`` times the adapters' share of these
        cases' job time."""
        return self.adapters_s / self.jobs_s * job_s

    def overhead_share(self, job_s: float, worker_s: float) -> float:
        """1 − the run's adapter time / its worker time."""
        return 1 - self.adapters_in_run(job_s) / worker_s

    def overhead_interval(self, job_s: float, worker_s: float, *, level: float = 0.95,
                          ) -> tuple[float, float]:
        """Percentile bootstrap interval of :meth:`overhead_share` over the sampled cases (the
        adapters' share is a ratio of sums over them; the run's own times are not resampled).
        """
        from scipy.stats import bootstrap

        jobs_s, adapters_s = (np.array(column) for column in zip(*self.per_case, strict=True))

        def share(jobs: np.ndarray, adapters: np.ndarray, axis: int = -1) -> np.ndarray:
            return 1 - adapters.sum(axis=axis) / jobs.sum(axis=axis) * job_s / worker_s

        seed = np.random.default_rng(0)  # SciPy >= 1.15 calls it rng, older random_state
        seeded = {"rng" if "rng" in signature(bootstrap).parameters else "random_state": seed}
        found = bootstrap((jobs_s, adapters_s), share, paired=True, vectorized=True,
                          confidence_level=level, n_resamples=10_000, method="percentile",
                          **seeded)
        return float(found.confidence_interval.low), float(found.confidence_interval.high)


class _Timed:
    """An adapter whose predict/extract calls add their own time, less file reading, to
    ``totals["adapter"]``."""

    def __init__(self, inner: object, totals: dict[str, float]) -> None:
        self._inner, self._totals = inner, totals

    def __getattr__(self, name: str) -> object:
        found = getattr(self._inner, name)
        if name not in ("predict", "extract"):
            return found

        def timed(*args: object, **kwargs: object) -> object:
            read_before, start = self._totals["read"], time.perf_counter()
            try:
                return found(*args, **kwargs)
            finally:
                spent = time.perf_counter() - start
                self._totals["adapter"] += spent - (self._totals["read"] - read_before)
        return timed


def measured_jobs(config: Path, manifest: Path, cases: Sequence[Case]) -> Measured:
    """:class:`Measured` on ``cases`` of ``manifest`` under ``config``, one thread per library
    as in jobs, every memo and case cache cleared before each case."""
    bench_config = load_config(config)
    plan = build_plan(bench_config, cases, build_adapters(bench_config),
                      cohort_vocabularies([manifest]))
    totals = {"adapter": 0.0, "read": 0.0, "jobs": 0.0, "encode": 0.0}
    per_case: list[tuple[float, float]] = []
    used: list[Path] = []
    real_read, real_adapter = loading._read_placed, jobs.adapter_for

    def timed_read(*args: object) -> np.ndarray:
        start = time.perf_counter()
        try:
            return real_read(*args)
        finally:
            totals["read"] += time.perf_counter() - start
            used.append(args[1].path)  # the FileRef

    loading._read_placed = timed_read
    jobs.adapter_for = lambda spec: _Timed(real_adapter(spec), totals)
    try:
        with single_threaded_pools():
            for case in cases:
                before = totals["jobs"], totals["adapter"]
                clear_all()
                jobs._LOADED.clear()
                jobs._PERTURBED.clear()
                for spec in (spec for spec in plan if spec.case.case_id == case.case_id):
                    record = jobs.run_job(spec)
                    assert record.failure is None, record.failure
                    start = time.perf_counter()
                    encode_record(record)
                    totals["encode"] += time.perf_counter() - start
                    totals["jobs"] += record.cost.wall_s
                per_case.append((totals["jobs"] - before[0], totals["adapter"] - before[1]))
    finally:
        loading._read_placed, jobs.adapter_for = real_read, real_adapter
    start = time.perf_counter()
    for path in used:
        gzip_ng.decompress(path.read_bytes())
    return Measured([c.case_id for c in cases], totals["jobs"], totals["adapter"],
                    totals["read"], totals["encode"], time.perf_counter() - start, per_case)
