"""What one job costs: wall time, CPU time and peak resident memory.

What the numbers mean (and their limits):

* ``wall_s`` — elapsed ``time.perf_counter`` seconds around the call.
* ``cpu_s`` — CPU seconds (user + system) of the calling process, all of its threads, over the
  call (``time.process_time``), plus the CPU time of child processes the job started and waited
  for (``getrusage(RUSAGE_CHILDREN)``, e.g. a ``command`` adapter). Other threads of the same
  process (a Dask worker's event loop) add a little noise.
* ``peak_rss_mb`` — peak resident set size, in MiB, of the process during the call: the
  absolute footprint (interpreter and loaded libraries included), not the increment. On Linux
  the kernel's high-water mark is reset before the call (``/proc/self/clear_refs``) and read
  after it (``VmHWM``), so the figure is exact and per job even though ``ru_maxrss`` only ever
  grows. Elsewhere ``ru_maxrss`` is used when it rose during the call (then exact), otherwise the
  maximum of ``psutil`` samples taken every 10 ms (may miss short spikes). A child process that
  peaked higher than the worker counts with its own peak (children are not summed). When
  several jobs share one process at the same time (threads), the figure is the process's.
"""

from __future__ import annotations

import resource
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import psutil

R = TypeVar("R")

_MIB = 1024.0 * 1024.0
_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")
_SAMPLE_INTERVAL_S = 0.01


@dataclass(frozen=True)
class Cost:
    """Resources one job used (see the module docstring for exact meanings)."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cost:
        return cls(float(data["wall_s"]), float(data["cpu_s"]), float(data["peak_rss_mb"]))


def _maxrss_mib(who: int) -> float:
    """``ru_maxrss`` in MiB (kilobytes on Linux, bytes on macOS)."""
    value = float(resource.getrusage(who).ru_maxrss)
    return value / _MIB if sys.platform == "darwin" else value / 1024.0


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _reset_high_water_mark() -> bool:
    """Reset the kernel's peak-RSS counter of this process (Linux >= 4.0); False if not allowed."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def _high_water_mark_mib() -> float | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


class _RssSampler(threading.Thread):
    """Fallback: samples this process's RSS until stopped."""

    def __init__(self) -> None:
        super().__init__(name="imagination-rss-sampler", daemon=True)
        self._process = psutil.Process()
        self._stop_event = threading.Event()
        self.peak_mib = self._process.memory_info().rss / _MIB

    def run(self) -> None:
        while not self._stop_event.wait(_SAMPLE_INTERVAL_S):
            self.peak_mib = max(self.peak_mib, self._process.memory_info().rss / _MIB)

    def stop(self) -> float:
        self._stop_event.set()
        self.join()
        return max(self.peak_mib, self._process.memory_info().rss / _MIB)


def measure(fn: Callable[..., R], *args: Any, **kwargs: Any) -> tuple[R, Cost]:
    """Call ``fn(*args, **kwargs)`` and return its result with the :class:`Cost` of the call.

    Exceptions from ``fn`` propagate unchanged (the executor records them).
    """
    exact_peak = _reset_high_water_mark() and _high_water_mark_mib() is not None
    sampler = None if exact_peak else _RssSampler()
    self_maxrss_before = _maxrss_mib(resource.RUSAGE_SELF)
    children_maxrss_before = _maxrss_mib(resource.RUSAGE_CHILDREN)
    children_cpu_before = _children_cpu_s()
    if sampler is not None:
        sampler.start()
    cpu_before = time.process_time()
    wall_before = time.perf_counter()
    try:
        result = fn(*args, **kwargs)
    finally:
        wall = time.perf_counter() - wall_before
        cpu = time.process_time() - cpu_before + (_children_cpu_s() - children_cpu_before)
        sampled = sampler.stop() if sampler is not None else 0.0
    if exact_peak:
        peak = _high_water_mark_mib() or 0.0
    else:
        self_maxrss_after = _maxrss_mib(resource.RUSAGE_SELF)
        peak = self_maxrss_after if self_maxrss_after > self_maxrss_before else sampled
    children_maxrss_after = _maxrss_mib(resource.RUSAGE_CHILDREN)
    if children_maxrss_after > children_maxrss_before:
        peak = max(peak, children_maxrss_after)
    return result, Cost(wall_s=wall, cpu_s=cpu, peak_rss_mb=peak)
