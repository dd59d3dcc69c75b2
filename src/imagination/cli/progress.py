"""Plain progress lines for logs: with stderr not a terminal (CI), a line at least every
``interval`` seconds naming the stage, done/total, the elapsed time and an estimate of the rest.

Lines go through the ``imagination.progress`` logger, so they reach stderr and ``bench.log``.
The interval is 30 s; ``IMAGINATION_PROGRESS_INTERVAL_S`` changes it (internal: tests).
"""

from __future__ import annotations

import logging
import os
import threading
import time

DEFAULT_INTERVAL_S = 30.0
#: a stage younger than this gives no rate: its first line says "ETA unknown", not "0m00s"
#: (the first job of a stage often reports done as the stage begins)
MIN_RATE_S = 1.0
log = logging.getLogger("imagination.progress")


def interval_s() -> float:
    try:
        value = float(os.environ.get("IMAGINATION_PROGRESS_INTERVAL_S", DEFAULT_INTERVAL_S))
    except ValueError:
        return DEFAULT_INTERVAL_S
    return value if 0 < value < float("inf") else DEFAULT_INTERVAL_S


def _clock(seconds: float) -> str:
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


class ProgressLines:
    """Remembers the current stage and logs it on each stage change, at its end, and every
    ``interval`` seconds in between (a heartbeat thread, so a long job still gives lines)."""

    def __init__(self, interval: float | None = None) -> None:
        self.interval = interval or interval_s()
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._stage = "starting"
        self._stage_started = self.started
        self._done = 0
        self._total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="progress", daemon=True)

    def __enter__(self) -> ProgressLines:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def update(self, stage: str, done: int = 0, total: int = 0) -> None:
        """The progress hook of :func:`imagination.engine.bench.run_bench`; sub-stages (names
        starting with a space: per adapter) are left to the bars."""
        if stage.startswith(" "):
            return
        with self._lock:
            changed = stage != self._stage
            if changed:
                self._stage, self._stage_started = stage, time.monotonic()
            self._done, self._total = done, total
        if changed or (total and done >= total):
            self.emit()

    def line(self) -> str:
        with self._lock:
            stage, done, total, since = self._stage, self._done, self._total, self._stage_started
        now = time.monotonic()
        text = f"progress: {stage}"
        if total:
            text += f" {done}/{total}"
        text += f", elapsed {_clock(now - self.started)}"
        if total and done >= total:
            text += ", stage done"
        elif total and done and now - since >= MIN_RATE_S:
            text += f", ETA {_clock((now - since) / done * (total - done))}"
        else:
            text += ", ETA unknown"
        return text

    def emit(self) -> None:
        log.info(self.line())

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            self.emit()
