"""Crash-safe file writes: temporary file in the same folder, fsync, ``os.replace``.

A reader never sees a half-written file under the final name: after a crash (even ``kill -9``)
the final path holds either the previous complete file or the new complete file, plus at most a
stray ``.<name>.*.tmp`` file that nothing reads.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

TEMP_SUFFIX = ".tmp"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: Permissions of published files: what ``open()`` would give (0o666 less the umask), not
#: mkstemp's private 0o600.
FILE_MODE = 0o666 & ~_umask()


def fsync_directory(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _naming(exc: OSError, path: Path) -> OSError:
    """``exc`` with the final file's name when the failing write did not say which file (a
    full disk during ``write``, e.g.), so that the user's error names it."""
    if exc.filename is not None:
        return exc
    return type(exc)(exc.errno, exc.strerror, str(path))


def write_temporary(path: Path, payload: bytes, *, fsync: bool = True) -> Path:
    """Write (and fsync) ``payload`` to a fresh temporary file next to ``path``; return it.

    The caller publishes it with ``temp.replace(path)`` (then :func:`fsync_directory`), or
    unlinks it. Used where the rename must happen under a lock held by the caller.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
    except OSError as exc:
        Path(tmp_name).unlink(missing_ok=True)
        raise _naming(exc, path) from exc
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return Path(tmp_name)


@contextlib.contextmanager
def atomic_writer(path: Path, *, fsync: bool = True) -> Iterator[BinaryIO]:
    """Yield a binary handle; on clean exit its bytes appear at ``path`` atomically.

    ``fsync=False`` keeps atomicity against a killed process but not against a power cut
    (for outputs that can be regenerated, such as a synthetic cohort)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            yield handle
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _naming(exc, path) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if fsync:
        fsync_directory(path.parent)


def atomic_write_bytes(path: Path, payload: bytes, *, fsync: bool = True) -> Path:
    """Write ``payload`` to ``path`` atomically (and durably unless ``fsync=False``)."""
    with atomic_writer(Path(path), fsync=fsync) as handle:
        handle.write(payload)
    return Path(path)


def atomic_write_text(path: Path, text: str) -> Path:
    """UTF-8 text variant of :func:`atomic_write_bytes`."""
    return atomic_write_bytes(path, text.encode("utf-8"))
