"""Ctrl-C at any stage exits 3 with the documented message and no traceback, and leaves no half
cohort (issue 12 #13); progress lines in CI logs (issue 12 #14). Real subprocesses: SIGINT goes
to the whole process group, as a terminal's Ctrl-C does."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from imagination.errors import EXIT_INCOMPLETE, INTERRUPTED_MESSAGE
from tests.engine.conftest import model_adapter, write_config

pytestmark = pytest.mark.xdist_group("interrupts")


def _env(tmp_path: Path, interval: float = 0.2) -> dict[str, str]:
    return {**os.environ, "IMAGINATION_CACHE": str(tmp_path / "cache"),
            "IMAGINATION_PROGRESS_INTERVAL_S": str(interval)}


def _run(argv: list[str], env: dict[str, str], ready: Callable[[str], bool] | None,
         timeout: float = 240, group: bool = True) -> tuple[int, str, bool]:
    """Run ``imagination ARGV``; once ``ready(stderr so far)`` holds, send SIGINT to its
    process group (``group=False``: to the bench process only). Returns the exit code, stderr
    and whether SIGINT was sent."""
    proc = subprocess.Popen([sys.executable, "-m", "imagination", *argv], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    chunks: list[str] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(proc.stderr.readline, "")))
    reader.start()
    sent = False
    deadline = time.monotonic() + timeout
    while ready is not None and proc.poll() is None and time.monotonic() < deadline:
        if ready("".join(chunks)):
            if group:
                os.killpg(proc.pid, signal.SIGINT)
            else:
                os.kill(proc.pid, signal.SIGINT)
            sent = True
            break
        time.sleep(0.05)
    try:
        code = proc.wait(timeout=max(5.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    reader.join()
    return code, "".join(chunks), sent


def _assert_interrupted(code: int, err: str, sent: bool) -> None:
    assert sent, f"the command ended before the interrupt point:\n{err}"
    assert code == EXIT_INCOMPLETE, err
    assert INTERRUPTED_MESSAGE.split(";")[0] in err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err


def _partials(folder: Path) -> list[Path]:
    return [p for p in folder.glob(".*") if p.is_dir()] if folder.is_dir() else []


def test_ctrl_c_during_synth_leaves_no_half_cohort(tmp_path: Path) -> None:
    out = tmp_path / "cohort"

    def writing(_: str) -> bool:  # the staging folder already holds image files
        return any(any(p.rglob("*.nii.gz")) for p in _partials(tmp_path))

    code, err, sent = _run(["synth", str(out), "--cases", "8", "--sites", "2",
                            "--resolution", "4", "--workers", "2"], _env(tmp_path), writing)
    _assert_interrupted(code, err, sent)
    assert not out.exists()
    assert _partials(tmp_path) == []


def test_synth_refuses_a_non_empty_folder_and_renames_at_the_end(tmp_path: Path) -> None:
    from imagination.cli.app import run_app

    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("keep")
    assert run_app(["synth", str(tmp_path / "full"), "--cases", "2"]) == 2
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["mine.txt"]
    (tmp_path / "empty").mkdir()
    assert run_app(["synth", str(tmp_path / "empty"), "--cases", "2", "--sites", "1",
                    "--resolution", "6", "--workers", "1"]) == 0
    assert (tmp_path / "empty" / "manifest.csv").is_file()
    assert _partials(tmp_path) == []


def test_ctrl_c_during_cohort_generation_in_bench(tmp_path: Path) -> None:
    config = tmp_path / "bench.yaml"
    config.write_text(yaml.safe_dump({
        "name": "gen", "cohort": {"synthetic": {"cases": 8, "sites": 2, "resolution": 4.0}},
        "tasks": ["recurrence"], "adapters": [{"name": "margin-15mm"}],
        "executor": {"workers": 1}}))
    cohorts = tmp_path / "cache" / "cohorts"
    code, err, sent = _run(["bench", str(config), "--out", str(tmp_path / "run")],
                           _env(tmp_path), lambda _: bool(_partials(cohorts)))
    _assert_interrupted(code, err, sent)
    assert _partials(cohorts) == [] and not (tmp_path / "run").exists()


def test_ctrl_c_while_models_run(bench_cohort: Path, tmp_path: Path) -> None:
    sleepy = model_adapter("sleepy", "sleep")
    sleepy["timeout_s"] = 120
    config = write_config(tmp_path, bench_cohort, [sleepy], tasks=["idh", "recurrence"])
    # the whole group, as a terminal's Ctrl-C: the fork server and the workers start with
    # SIGINT blocked, so none of them prints a traceback of its own
    code, err, sent = _run(["bench", str(config), "--out", str(tmp_path / "run")],
                           _env(tmp_path), lambda text: "progress: models" in text
                           or "to run" in text)
    _assert_interrupted(code, err, sent)
    assert "run the same command again to resume" in err
    assert (tmp_path / "run" / "store").is_dir()


def test_ctrl_c_while_scoring(bench_cohort: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path, bench_cohort,
                          [{"name": "margin-15mm"}, {"name": "random"}, {"name": "prevalence"},
                           {"name": "age-volume-lr"}],
                          tasks=["idh", "codeletion_1p19q", "tumor_type", "recurrence"],
                          statistics={"n_resamples": 100_000, "seed": 3})
    code, err, sent = _run(["bench", str(config), "--out", str(tmp_path / "run")],
                           _env(tmp_path), lambda text: "progress: scoring 1/" in text)
    _assert_interrupted(code, err, sent)


def test_progress_lines_in_ci_logs(bench_cohort: Path, tmp_path: Path) -> None:
    slow = model_adapter("slow", "slow")
    config = write_config(tmp_path, bench_cohort, [slow], tasks=["idh"],
                          executor={"kind": "local", "workers": 1})
    run = tmp_path / "run"
    code, err, _ = _run(["bench", str(config), "--out", str(run)],
                        _env(tmp_path, interval=0.1), None)
    assert code == 0, err
    for text in (err, (run / "bench.log").read_text()):
        lines = [x for x in text.splitlines() if "progress: models" in x]
        assert any("/10, elapsed " in x and ", ETA " in x for x in lines), text
        assert any("models 10/10" in x and "stage done" in x for x in lines)
        counts = [x.split("progress: models ")[1].split(",")[0] for x in lines]
        # the heartbeat repeats a count while a job runs (no new progress event)
        assert any(a == b for a, b in itertools.pairwise(counts)), counts
        assert "progress: scoring" in text


def test_bench_without_config_says_it_runs_the_demo_and_where(tmp_path: Path) -> None:
    run = tmp_path / "demo-run"
    code, err, sent = _run(["bench", "--out", str(run)], _env(tmp_path),
                           lambda text: "built-in demo" in text)
    _assert_interrupted(code, err, sent)
    notice = " ".join(err.split())
    assert "demo.yaml" in notice and f"run folder {run}" in notice
    assert str(tmp_path / "cache" / "cohorts") in notice


@pytest.mark.parametrize("delay_s", [0.0, 0.05, 0.3, 1.0])
def test_ctrl_c_at_any_moment_of_a_cold_demo_start_exits_3(tmp_path: Path, delay_s: float) -> None:
    """Signal the whole group at moments that land in cohort checks, while the synthetic
    cohort's worker processes are forked, and while they work: every time exit 3, no
    traceback (a child's included), no hang. (A SIGINT inside a child's after-fork hooks once
    left the pool's shutdown waiting forever.)"""
    run = tmp_path / "demo-run"
    started: list[float] = []

    def after_delay(text: str) -> bool:
        if "built-in demo" not in text:
            return False
        started.append(started[0] if started else time.monotonic())
        return time.monotonic() - started[0] >= delay_s

    code, err, sent = _run(["bench", "--out", str(run)], _env(tmp_path), after_delay,
                           timeout=120)
    _assert_interrupted(code, err, sent)
    assert "Exception ignored" not in err, err
