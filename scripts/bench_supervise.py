"""Benchmark of the model-process supervisor (not a test; prints a table).

* overhead: wall time of ``run_supervised(["true"])`` against ``subprocess.run(["true"])``
  (medians of 20 calls), per containment (cgroup where available, subreaper);
* logs: 1 GiB printed by the program — wall time, bytes kept, the reaper's peak memory
  (``VmHWM``) and this process's peak memory;
* stop: from the timeout to the return of ``run_supervised`` for a program whose own-session
  child hangs (median of 5).

Run: .venv/bin/python scripts/bench_supervise.py
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from imagination.adapters.process import run_supervised

HANG = ("import os, subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'import os, time; os.setsid(); "
        "time.sleep(600)'])\n"
        "time.sleep(600)\n")


def median_s(fn, n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    cwd = Path(tempfile.mkdtemp())
    base = median_s(lambda: subprocess.run(["true"], check=True), 20)
    print(f"{'measure':<44} {'value':>12}")
    print(f"{'subprocess.run(true), median':<44} {base * 1000:>9.1f} ms")
    for mode in ("auto", "subreaper"):
        kind = run_supervised(["true"], cwd=cwd, timeout_s=30, containment=mode).containment
        wall = median_s(lambda m=mode: run_supervised(["true"], cwd=cwd, timeout_s=30,
                                                      containment=m), 20)
        print(f"{f'run_supervised(true) [{kind}], median':<44} {wall * 1000:>9.1f} ms")
    t0 = time.perf_counter()
    flood = run_supervised(["sh", "-c", "head -c 1073741824 /dev/zero"], cwd=cwd,
                           timeout_s=600)
    wall = time.perf_counter() - t0
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'1 GiB of stdout: wall':<44} {wall:>10.2f} s")
    print(f"{'1 GiB of stdout: bytes seen':<44} {flood.log_bytes['stdout']:>12d}")
    print(f"{'1 GiB of stdout: characters kept':<44} {len(flood.logs['stdout']):>12d}")
    print(f"{'1 GiB of stdout: reaper peak RSS':<44} {flood.reaper_peak_rss_mb:>9.1f} MiB")
    print(f"{'1 GiB of stdout: harness peak RSS':<44} {own:>9.1f} MiB")
    stops = []
    for _ in range(5):
        result = run_supervised([sys.executable, "-c", HANG], cwd=cwd, timeout_s=1.0)
        assert result.timed_out
        stops.append(result.wall_s - 1.0)
    stop_ms = statistics.median(stops) * 1000
    print(f"{'timeout -> tree gone (reaper), median':<44} {stop_ms:>9.1f} ms")


if __name__ == "__main__":
    main()
