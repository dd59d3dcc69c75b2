"""`bench --shard I/N` (issue 17 item 2): three shard processes, then one adopting run, give
tables byte-identical to one unsharded run. The commands are the README's job-array recipe,
with processes instead of Slurm array tasks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagination.config import load_config
from imagination.engine.bench import parse_shard, run_bench, shard_jobs
from imagination.errors import InputError
from tests.engine.conftest import model_adapter, write_config

TABLES = ("per_case.csv", "leaderboard.csv", "predictions.csv", "comparisons.csv", "sites.csv",
          "failures.csv", "cohort.csv")
SRC = str(Path(__file__).parents[2] / "src")


def _imagination(*args: str) -> list[str]:
    return [sys.executable, "-m", "imagination", *args]


@pytest.mark.slow
def test_three_shard_processes_then_one_adopting_run_equal_one_unsharded_run(
        bench_cohort: Path, tmp_path: Path) -> None:
    config = write_config(
        tmp_path, bench_cohort,
        [{"name": "margin-15mm"}, {"name": "random"}, {"name": "prevalence"},
         {"name": "age-volume-lr"}, model_adapter("flaky", "flaky")],
        tasks=["idh", "recurrence"])
    reference = tmp_path / "reference"
    run_bench(load_config(config), run_dir=reference)

    run = tmp_path / "sharded"
    env = {**os.environ, "PYTHONPATH": SRC}
    # what each array task runs: imagination bench CONFIG --out RUN --shard $TASK/3
    shards = [subprocess.Popen(_imagination("bench", str(config), "--out", str(run),
                                            "--shard", f"{i}/3", "--quiet"),
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for i in (1, 2, 3)]
    outputs = [p.communicate(timeout=600) for p in shards]
    for process, (_out, err) in zip(shards, outputs, strict=True):
        assert process.returncode == 0, err[-2000:]
        assert "Traceback" not in err
    assert not (run / "leaderboard.csv").exists()  # shards score nothing
    assert sorted(p.name for p in (run / "store" / "shards").iterdir()) == [
        "1-of-3", "2-of-3", "3-of-3"]
    assert not (run / "store" / "index.sqlite").exists()  # no shared index was written
    # the job after the array (sbatch --dependency=afterok): adopt and score
    final = subprocess.run(_imagination("bench", str(config), "--out", str(run), "--quiet"),
                           env=env, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr[-2000:]
    assert "(0 run," in final.stdout and "adopted from shards" in final.stdout
    assert not (run / "store" / "shards").exists() or not any(
        (run / "store" / "shards").iterdir())
    for name in TABLES:
        assert (run / name).read_bytes() == (reference / name).read_bytes(), name
    assert len((reference / "failures.csv").read_text().splitlines()) == 4  # flaky's 3 + header


@given(st.lists(st.text("abcdef0123", min_size=1, max_size=4), min_size=1, max_size=30,
                unique=True), st.integers(1, 7))
def test_shards_split_the_plan_by_whole_cases(case_ids: list[str], count: int) -> None:
    class Case:
        def __init__(self, case_id: str) -> None:
            self.case_id = case_id

    class Job:
        def __init__(self, case_id: str, adapter: str) -> None:
            self.case = Case(case_id)
            self.adapter = adapter

    plan = [Job(c, a) for c in case_ids for a in ("x", "y")]
    shares = [shard_jobs(plan, i, count) for i in range(1, count + 1)]  # type: ignore[arg-type]
    assert sorted(id(j) for share in shares for j in share) == sorted(id(j) for j in plan)
    cases = [{j.case.case_id for j in share} for share in shares]
    for a in range(count):
        for b in range(a + 1, count):
            assert not cases[a] & cases[b]
    sizes = [len(c) for c in cases]
    assert max(sizes) - min(sizes) <= 1
    reordered = list(reversed(plan))  # the share depends on the cases, not the plan order
    assert {j.case.case_id for j in shard_jobs(reordered, 1, count)} == cases[0]  # type: ignore


@pytest.mark.parametrize("text", ["0/3", "4/3", "1", "a/b", "1/0", "-1/2", "1/2/3"])
def test_bad_shard_specs_are_input_errors(text: str) -> None:
    with pytest.raises(InputError, match="--shard"):
        parse_shard(text)
    assert parse_shard("3/8") == (3, 8)
