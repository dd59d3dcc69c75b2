"""The golden run: a fresh `imagination bench tests/golden/golden.yaml` must reproduce the
checked-in ``leaderboard.csv``, ``per_case.csv`` and ``robustness.csv`` byte for byte.

The run goes through the command line in a new process with its own cache folder (so the
synthetic cohort is generated afresh) and with two workers, while the checked-in files were
written with one: the tables must not depend on the process, the worker count or the cache.

When a change legitimately alters the numbers (a numbers fix, never a refactor), regenerate
the files with the one command below and say why in the commit message::

    .venv/bin/python -m tests.golden.test_golden
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

HERE = Path(__file__).parent
CONFIG = HERE / "golden.yaml"
TABLES = ("leaderboard.csv", "per_case.csv", "robustness.csv")


def run_golden(out: Path, cache: Path, workers: int) -> subprocess.CompletedProcess[str]:
    """``imagination bench golden.yaml`` into ``out`` in a new process using ``cache``."""
    env = {**os.environ, "IMAGINATION_CACHE": str(cache), "PYTHONHASHSEED": "random"}
    return subprocess.run(
        [sys.executable, "-m", "imagination", "bench", str(CONFIG), "--out", str(out),
         "--workers", str(workers), "--quiet"],
        env=env, capture_output=True, text=True, timeout=900, check=False)


@pytest.mark.slow
def test_a_fresh_run_reproduces_the_golden_tables_byte_for_byte(tmp_path: Path) -> None:
    result = run_golden(tmp_path / "run", tmp_path / "cache", workers=2)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in TABLES:
        expected = (HERE / name).read_text()
        actual = (tmp_path / "run" / name).read_text()
        if actual != expected:
            diff = "".join(difflib.unified_diff(
                expected.splitlines(keepends=True), actual.splitlines(keepends=True),
                fromfile=f"tests/golden/{name}", tofile=f"fresh {name}", n=0))
            pytest.fail(f"{name} differs from the golden file (regenerate with "
                        f"`.venv/bin/python -m tests.golden.test_golden` only if the change "
                        f"is meant to alter the numbers):\n{diff[:6000]}")


def test_the_golden_tables_have_rows_for_every_family() -> None:
    leaderboard = (HERE / "leaderboard.csv").read_text().splitlines()
    robustness = (HERE / "robustness.csv").read_text().splitlines()
    assert leaderboard[0].startswith("task,metric,adapter,value")
    assert {line.split(",")[0] for line in leaderboard[1:]} >= {"idh", "recurrence"}
    assert len(robustness) > 1


def regenerate() -> None:
    """Rewrite the checked-in tables from a fresh one-worker run (own cache folder)."""
    with tempfile.TemporaryDirectory(prefix="golden-") as tmp:
        folder = Path(tmp)
        result = run_golden(folder / "run", folder / "cache", workers=1)
        if result.returncode != 0:
            sys.exit(f"the golden run failed (exit {result.returncode}):\n"
                     f"{result.stdout}{result.stderr}")
        for name in TABLES:
            shutil.copyfile(folder / "run" / name, HERE / name)
            print(f"wrote tests/golden/{name}")


if __name__ == "__main__":
    regenerate()
