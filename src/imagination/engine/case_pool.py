"""Per-case scoring work spread over forked processes (and how many: :func:`local_processes`).

Scoring reads each case's truth and stored maps once and computes its metrics; cases are
independent, so the cases whose scores are not yet remembered (the store's score memo) are
scored in ``workers`` forked processes, and the serial scoring loop then finds every case in
the memo. What the workers share (the store, settings) is inherited through ``fork``, never
pickled; each item (a case and its jobs) is pickled, and each result comes back pickled.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from imagination.signals import map_in_processes

T = TypeVar("T")
R = TypeVar("R")

_SHARED: Any = None
_FUNCTION: Callable[[Any, Any], Any] | None = None


def local_processes(config: Any, workers: int | None = None) -> int:
    """Processes for the parent's own per-case work (reading the cohort's files to check them,
    scoring): the run's local workers (``workers`` when the command line overrides them), at
    most the machine's cores."""
    executor = getattr(config, "executor", None)
    return at_most_cores(int(workers or getattr(executor, "workers", 1) or 1))


def at_most_cores(wanted: int) -> int:
    """``wanted`` processes, at least one and at most the machine's cores."""
    return max(1, min(wanted, os.cpu_count() or 1))


def _call(item: Any) -> Any:
    assert _FUNCTION is not None
    return _FUNCTION(_SHARED, item)


def map_cases(function: Callable[[Any, T], R], shared: Any, items: Sequence[T],
              workers: int) -> list[R]:
    """``[function(shared, item) for item in items]``, in order, in forked processes as
    ``signals.map_in_processes`` decides (in this process for one worker or item); forked
    workers inherit ``shared`` instead of receiving it pickled."""
    global _SHARED, _FUNCTION
    outer = _SHARED, _FUNCTION  # a nested call, run in this process, restores the outer one
    _SHARED, _FUNCTION = shared, function
    try:
        return map_in_processes(_call, items, workers)
    finally:
        _SHARED, _FUNCTION = outer
