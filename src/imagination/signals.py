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
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

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


def map_in_processes(fn: Callable[[T], R], items: Iterable[T], workers: int) -> list[R]:
    """``[fn(item) for item in items]`` in ``workers`` forked processes, in order."""
    return list(imap_in_processes(fn, items, workers))


def imap_in_processes(fn: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[R]:
    """``fn(item)`` for each item, in order, as they come, from ``workers`` forked processes.

    A worker's exception is raised here. On Ctrl-C (or any other error, or when the caller
    stops iterating) the workers are terminated at once, not waited for, and the interrupt
    propagates."""
    context = multiprocessing.get_context("fork")
    with sigint_blocked():  # the workers are forked here, with SIGINT blocked
        pool = context.Pool(processes=workers, initializer=ignore_sigint)
    try:
        yield from pool.imap(fn, items, chunksize=1)
    except BaseException:
        pool.terminate()
        pool.join()
        raise
    pool.close()
    pool.join()


class InterruptWatch:
    """While active, Ctrl-C raises ``KeyboardInterrupt`` as usual and is remembered."""

    def __init__(self) -> None:
        self.seen = False
        self._previous: object = None

    def _on_sigint(self, _signum: int, _frame: object) -> None:
        self.seen = True
        raise KeyboardInterrupt

    def __enter__(self) -> InterruptWatch:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:  # after a Ctrl-C the process is leaving: ignore more
            signal.signal(signal.SIGINT, signal.SIG_IGN if self.seen else self._previous)


def leave_now(code: int) -> None:
    """Flush logs and standard streams, then end the process with ``code`` at once."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
