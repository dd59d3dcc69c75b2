"""The demo's cost (issue 17.5: ``make demo`` after the install in at most 3 minutes on 2 cores).

Not a test. ``.venv/bin/python scripts/bench_demo.py [--workers N] [--warm CACHE]`` runs
``imagination bench`` (the embedded demo config) in a new process with a fresh cache folder, so
the synthetic cohort is generated as on a new machine (``--warm CACHE``: reuse a cache that
already holds it, to time the bench alone), and prints:

* wall time, and CPU time summed over the bench process and every process it started (sampled
  with psutil every 0.2 s, so a process's last 0.2 s may be missed; the bench's direct children
  are exact through ``RUSAGE_CHILDREN``);
* the run's stage timings from ``run.json`` (cohort, models, scoring) and report time;
* CPU per adapter from the store index (the jobs' own ``cpu_s``);
* the load average before and after: on a shared machine wall time is an upper bound.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml

from imagination.config import demo_config_path


def tree_cpu(root: psutil.Process, seen: dict[int, float]) -> None:
    """Record the latest CPU seconds (user + system) of ``root`` and its descendants."""
    try:
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return
    for process in processes:
        try:
            times = process.cpu_times()
            seen[process.pid] = times.user + times.system
        except psutil.Error:
            continue


def per_adapter_cpu(run_dir: Path) -> list[tuple[str, int, float]]:
    uri = f"file:{run_dir / 'store' / 'index.sqlite'}?mode=ro"
    with sqlite3.connect(uri, uri=True) as conn:
        return conn.execute("SELECT adapter, count(*), sum(cpu_s) FROM jobs GROUP BY adapter "
                            "ORDER BY sum(cpu_s) DESC").fetchall()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=None,
                        help="executor workers (default: the demo config's)")
    parser.add_argument("--warm", type=Path, default=None,
                        help="a cache folder that already holds the demo cohort")
    parser.add_argument("--keep", type=Path, default=None,
                        help="write the run folder here (kept) instead of a temporary one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = demo_config_path()
        if args.workers is not None:
            doc = yaml.safe_load(config.read_text())
            doc["executor"]["workers"] = args.workers
            config = root / "demo.yaml"
            config.write_text(yaml.safe_dump(doc))
        cache = args.warm if args.warm is not None else root / "cache"
        run_dir = args.keep if args.keep is not None else root / "run"
        env = {**os.environ, "IMAGINATION_CACHE": str(cache)}
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "imagination", "bench", str(config), "--out", str(run_dir),
             "--quiet"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        seen: dict[int, float] = {}
        watched = psutil.Process(process.pid)
        while process.poll() is None:
            tree_cpu(watched, seen)
            time.sleep(0.2)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        output = process.stdout.read() if process.stdout else ""
        if process.returncode not in (0, 1):
            print(output)
            raise SystemExit(f"bench exited {process.returncode}")
        direct = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        sampled = sum(seen.values())
        print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"demo ({'warm cohort' if args.warm else 'fresh cache, cohort generated'}): "
              f"wall {wall:.1f} s; CPU {max(direct, sampled):.1f} s (reaped children "
              f"{direct:.1f} s, sampled process tree {sampled:.1f} s); goal wall <= 180 s on "
              "2 quiet cores")
        timings = json.loads((run_dir / "run.json").read_text())["timings"]
        stages = {k: timings[k] for k in ("cohort_s", "plan_s", "models_s", "scoring_s")
                  if k in timings}
        report_s = wall - float(timings.get("wall_s", wall))
        print("stages (wall s): " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items())
              + f", reports and start-up {report_s:.1f}")
        rows = per_adapter_cpu(run_dir)
        total = sum(cpu for _, _, cpu in rows)
        print(f"jobs: CPU {total:.1f} s in {sum(n for _, n, _ in rows)} jobs")
        for adapter, n, cpu in rows:
            print(f"  {adapter:22s} {n:5d} jobs  {cpu:7.1f} s  {cpu / n:.3f} s/job")


if __name__ == "__main__":
    main()
