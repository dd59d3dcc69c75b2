"""CPU time of ``imagination --help`` and ``imagination --version`` (issue 12 #25: <= 0.5 s).

Usage: python scripts/bench_startup.py [--repeats 5]

Runs each command in a fresh interpreter (``python -m imagination``) and reports the child's
user + system CPU time (``resource.getrusage(RUSAGE_CHILDREN)``), median and maximum over the
repeats, so a busy machine inflates wall time but hardly the figure.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys

COMMANDS: tuple[tuple[str, ...], ...] = (("--help",), ("--version",), ("bench", "--help"))
BUDGET_S = 0.5


def cpu_seconds(argv: tuple[str, ...]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", "imagination", *argv], check=True,
                   stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    worst = 0.0
    for argv in COMMANDS:
        times = [cpu_seconds(argv) for _ in range(args.repeats)]
        worst = max(worst, statistics.median(times))
        print(f"imagination {' '.join(argv):<14} CPU median {statistics.median(times):.3f} s, "
              f"max {max(times):.3f} s over {args.repeats} runs")
    print(f"budget {BUDGET_S} s: {'met' if worst <= BUDGET_S else 'EXCEEDED'}")
    return 0 if worst <= BUDGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
