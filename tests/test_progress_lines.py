"""CI progress lines: an estimate of the rest only once the stage has a measurable rate."""

from __future__ import annotations

import pytest

from imagination.cli import progress


def test_eta_is_unknown_until_the_stage_has_run_a_second_then_linear(monkeypatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    lines = progress.ProgressLines(interval=60)
    lines.update("models", 1, 96)  # the first job reports as the stage begins
    assert lines.line() == "progress: models 1/96, elapsed 0m00s, ETA unknown"  # was 0m00s
    now[0] += 10.0
    lines.update("models", 5, 96)
    # 5 jobs in 10 s -> 2 s per job, 91 left -> 182 s
    assert lines.line() == "progress: models 5/96, elapsed 0m10s, ETA 3m02s"


@pytest.mark.parametrize("done", [96, 100])
def test_a_finished_stage_says_done(monkeypatch, done: int) -> None:
    monkeypatch.setattr(progress.time, "monotonic", lambda: 0.0)
    lines = progress.ProgressLines(interval=60)
    lines.update("models", done, 96)
    assert lines.line().endswith(", stage done")
