"""Cost: wall time, CPU time and a per-job (not per-process) peak memory."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

from imagination.engine import cost as cost_module
from imagination.engine.cost import Cost, measure


def allocate(megabytes: int) -> int:
    block = np.ones(megabytes * 1024 * 1024 // 8)  # touched, so resident
    return int(block.size)


def busy(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_returns_the_result_and_separates_wall_from_cpu_time():
    result, slept = measure(time.sleep, 0.2)
    assert result is None
    assert slept.wall_s >= 0.2 and slept.cpu_s < 0.1
    _, worked = measure(busy, 0.2)
    assert worked.cpu_s >= 0.2


def test_peak_memory_is_per_job_even_after_a_bigger_job():
    _, big = measure(allocate, 300)
    _, small = measure(allocate, 40)
    assert big.peak_rss_mb - small.peak_rss_mb > 200
    assert small.peak_rss_mb >= 40


def test_fallback_sampler_sees_a_new_high_water_mark(monkeypatch):
    monkeypatch.setattr(cost_module, "_reset_high_water_mark", lambda: False)
    _, big = measure(allocate, 400)
    assert big.peak_rss_mb >= 400


def test_child_process_cpu_time_is_counted():
    code = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
    _, child = measure(subprocess.run, [sys.executable, "-c", code], check=True)
    assert child.cpu_s >= 0.3


def test_exceptions_propagate_and_cost_round_trips_as_dict():
    with pytest.raises(ZeroDivisionError):
        measure(lambda: 1 / 0)
    value = Cost(wall_s=1.0, cpu_s=0.5, peak_rss_mb=12.25)
    assert Cost.from_dict(value.to_dict()) == value


def test_rss_sampler_catches_a_transient_allocation():
    sampler = cost_module._RssSampler()
    baseline = sampler.peak_mib
    sampler.start()
    block = np.ones(150 * 1024 * 1024 // 8)
    time.sleep(0.3)  # 30 sampling intervals, room for a loaded machine
    del block
    assert sampler.stop() - baseline >= 140
