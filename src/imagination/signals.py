"""Ctrl-C and child processes: children are born deaf to SIGINT, and the parent alone stops them.

A terminal's Ctrl-C (and ``kill -INT -PGID``) reaches every process of the foreground group. A
child that is still starting (between ``fork`` and the line that ignores SIGINT, or while a fork
server imports its modules) would die with a traceback of its own, or worse, die inside
``os.fork``'s after-fork hooks holding a lock, which later hangs the parent's pool shutdown.
:func:`sigint_blocked` closes that window: a process forked or spawned inside it inherits a
blocked SIGINT (the signal mask survives ``fork`` and ``exec``), and the parent receives a
Ctrl-C that arrived meanwhile as soon as the block ends.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@contextlib.contextmanager
def sigint_blocked() -> Iterator[None]:
    """Hold Ctrl-C back until the block ends; processes started meanwhile keep it blocked.

    Two layers: the calling thread's signal mask (inherited by a child forked or spawned
    here), and a Python handler that only remembers the signal, because the kernel may hand a
    process-wide SIGINT to another thread of this process. A Ctrl-C that came meanwhile is
    raised as ``KeyboardInterrupt`` when the block ends (by the handler in force then)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread runs Python signal handlers and starts our children
        return
    arrived: list[int] = []
    handler = signal.signal(signal.SIGINT, lambda signum, _frame: arrived.append(signum))
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a pending one is recorded now
        signal.signal(signal.SIGINT, signal.default_int_handler if handler is None else handler)
        if arrived:
            os.kill(os.getpid(), signal.SIGINT)  # delivered to the restored handler


def ignore_sigint() -> None:
    """Child-process initializer: Ctrl-C is the parent's to handle."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def map_in_processes(fn: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    """``[fn(item) for item in items]``, in order, as :func:`imap_in_processes` runs them."""
    return list(imap_in_processes(fn, items, workers))


def _fork_pool(processes: int) -> Any:
    """A pool of ``processes`` forked workers that ignore Ctrl-C (forked with it blocked)."""
    context = multiprocessing.get_context("fork")
    with sigint_blocked():
        return context.Pool(processes=processes, initializer=ignore_sigint)


def imap_in_processes(fn: Callable[[T], R], items: Sequence[T], workers: int) -> Iterator[R]:
    """``fn(item)`` for each item, in order, as they come: from ``min(workers, len(items))``
    forked processes, or in this process when that is one (no fork for one worker or item).

    A worker's exception is raised here. On Ctrl-C (or any other error, or when the caller
    stops iterating) the workers are terminated at once, not waited for, and the interrupt
    propagates."""
    processes = min(workers, len(items))
    if processes < 2:
        yield from map(fn, items)
        return
    pool = _fork_pool(processes)
    try:
        yield from pool.imap(fn, items, chunksize=1)
    except BaseException:
        pool.terminate()
        pool.join()
        raise
    pool.close()
    pool.join()


#: How long after a Ctrl-C dropped in a finaliser it is sent again (the finaliser is over).
RESEND_DELAY_S = 0.05


def _resend_sigint(pid: int) -> None:
    time.sleep(RESEND_DELAY_S)
    os.kill(pid, signal.SIGINT)


class InterruptWatch:
    """While active, Ctrl-C raises ``KeyboardInterrupt`` as usual and is remembered.

    Python runs a signal handler between any two bytecodes of the main thread, also inside a
    finaliser (``__del__``, a weakref callback, a pool's clean-up during garbage collection),
    where the ``KeyboardInterrupt`` it raises is printed and dropped: the Ctrl-C would be
    lost and the run would go on to exit 0. While the watch is active such a dropped
    interrupt is sent again from a helper thread a moment later (:data:`RESEND_DELAY_S`),
    once the finaliser is over, so it stops the run where code can handle it; ``seen`` is set
    either way."""

    def __init__(self) -> None:
        self.seen = False
        self._previous: object = None
        self._previous_hook: Callable[[Any], object] | None = None

    def _on_sigint(self, _signum: int, _frame: object) -> None:
        self.seen = True
        raise KeyboardInterrupt

    def _on_unraisable(self, unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            threading.Thread(target=_resend_sigint, args=(os.getpid(),), daemon=True).start()
            return
        assert self._previous_hook is not None
        self._previous_hook(unraisable)

    def __enter__(self) -> InterruptWatch:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
            self._previous_hook, sys.unraisablehook = sys.unraisablehook, self._on_unraisable
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:  # after a Ctrl-C the process is leaving: ignore more
            signal.signal(signal.SIGINT, signal.SIG_IGN if self.seen else self._previous)
        if self._previous_hook is not None:
            sys.unraisablehook = self._previous_hook


def leave_now(code: int) -> None:
    """Flush logs and standard streams, then end the process with ``code`` at once."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
