"""One writer per run folder: an advisory ``flock`` on ``<folder>/.imagination.lock``.

``bench`` holds the lock of its run folder (a ``--shard`` process: of its shard's folder) for
the whole run; a second process on the same folder stops at once with exit 3 and the holder's
pid and host, instead of interleaving writes. The kernel drops the lock when the holder dies
(even by ``kill -9``), so a stale lock file never blocks a resumed run. On network file
systems ``flock`` is as reliable as the file system's locking (NFSv4: yes).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from imagination.errors import RunIncomplete

LOCK_NAME = ".imagination.lock"


def _holder(path: Path) -> str:
    try:
        text = path.read_text().strip()
    except OSError:
        text = ""
    return text or "unknown"


@contextlib.contextmanager
def hold(folder: Path, what: str = "imagination bench") -> Iterator[None]:
    """Hold ``folder``'s lock for the ``with`` block; :class:`RunIncomplete` if it is taken."""
    path = Path(folder) / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunIncomplete(
                f"{folder} is in use by another {what} (pid and host: {_holder(path)}); wait "
                "for it to finish, then run the same command (or use another --out)") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
        yield
    finally:
        os.close(fd)  # closing releases the lock


def is_held(folder: Path) -> bool:
    """True if a live process holds ``folder``'s lock."""
    path = Path(folder) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
