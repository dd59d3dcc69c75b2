"""The one way to name a file the harness writes: :func:`inside` a folder it owns.

Every file of a run folder (tables, ``run.json``, the store, example slices, reports, the log)
and of a case's temporary folder is named through :func:`inside`, which refuses any part that
is not a plain file name (a separator, ``..``, an absolute path, a control character, white
space, a Unicode look-alike such as ``／`` or ``‥``) and any result that leaves the folder once
links are resolved. Ids are also checked where they are read (``imagination.names``); this is
the last line, so a name built from ids can never write elsewhere.

:func:`prepare_run_folder` checks ``--out`` before anything runs.
"""

from __future__ import annotations

import errno
import os
import re
import unicodedata
from pathlib import Path
from typing import Final

from imagination.errors import InputError, RunIncomplete

#: A part of a written path: ASCII letters, digits and ``-_.@+=``, not starting with a dot.
_PART: Final[re.Pattern[str]] = re.compile(r"[A-Za-z0-9_@+=-][A-Za-z0-9_.@+=-]*")
MAX_PART: Final[int] = 255


class PathEscapeError(InputError):
    """A name would make the harness write outside the folder it owns (exit 2)."""


def _why(part: object) -> str | None:
    if not isinstance(part, str):
        return f"is a {type(part).__name__}, not text"
    if not part:
        return "is empty"
    if len(part.encode()) > MAX_PART:
        return f"is longer than {MAX_PART} bytes"
    if part in (".", ".."):
        return "is a relative folder reference"
    bad = next((c for c in part if not (c.isascii() and (c.isalnum() or c in "-_.@+="))),
               None)
    if bad is not None:
        what = ("a path separator" if bad in "/\\" else
                "a control character" if unicodedata.category(bad).startswith("C") else
                "white space" if bad.isspace() else
                "not ASCII (a look-alike of a separator or a dot?)" if not bad.isascii() else
                "not allowed in a file name")
        return f"holds {bad!r} (U+{ord(bad):04X}), {what}"
    if not _PART.fullmatch(part):
        return "starts with a dot"
    return None


def file_name(part: str) -> str:
    """``part`` if it is a plain file name the harness may write, else :class:`PathEscapeError`."""
    why = _why(part)
    if why is not None:
        raise PathEscapeError(f"refusing to write a file named {part!r}: it {why} (names are "
                              "ASCII letters, digits, '-', '_', '.', '@', '+', '=')")
    return part


def inside(root: Path | str, *parts: str) -> Path:
    """``root/part/...`` after checking every part with :func:`file_name` and that the path,
    links resolved, stays inside ``root``."""
    root = Path(root)
    for part in parts:
        file_name(part)
    path = root.joinpath(*parts)
    real_root = Path(os.path.realpath(root))
    real = Path(os.path.realpath(path))
    if real != real_root and not real.is_relative_to(real_root):
        raise PathEscapeError(f"refusing to write {path}: it resolves to {real}, outside "
                              f"{real_root}")
    return path


def prepare_run_folder(path: Path | str) -> Path:
    """``--out`` (or ``runs/NAME``) as an absolute path, checked before anything runs and
    without creating anything: a file, or a path through a file, is a bad argument (exit 2); a
    folder that cannot be written (read-only medium, permissions) stops with exit 3 and what
    to do."""
    folder = Path(path).absolute()
    existing = next(level for level in (folder, *folder.parents) if level.exists())
    if not existing.is_dir():
        where = "" if existing == folder else f" ({existing} is a file)"
        raise InputError(f"--out {folder}{where}: the run folder must be a folder, not a "
                         "file; name a new folder or an earlier run's folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        code = errno.EROFS if _read_only(existing) else errno.EACCES
        raise infrastructure_error(OSError(code, os.strerror(code), str(existing)))
    return folder


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


_WHAT: Final[dict[int, str]] = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}
#: Errors of the machine, not of a case or a model: the run stops (exit 3) and resumes later.
INFRASTRUCTURE_ERRNOS: Final[frozenset[int]] = frozenset({errno.ENOSPC, errno.EDQUOT,
                                                          errno.EROFS})


def infrastructure_error(exc: OSError, where: Path | str | None = None) -> RunIncomplete:
    """One line for an error of the machine (disk full, read-only, permissions): what happened,
    where, and what to do; the same command resumes (finished jobs are kept)."""
    place = exc.filename or where or "a file"
    what = _WHAT.get(exc.errno or 0, exc.strerror or str(exc))
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        todo = "free some space there (or write elsewhere: --out, TMPDIR)"
    elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        todo = "make it writable or choose another --out"
    else:
        todo = "fix the cause"
    return RunIncomplete(f"cannot write {place}: {what}; {todo}, then run the same command "
                         "again (finished jobs are kept)")


def machine_error(exc: BaseException) -> RunIncomplete | None:
    """The exit-3 error for a problem of the machine met anywhere in a command (an ``OSError``,
    or SQLite reporting a full disk or a read-only database), else ``None``."""
    if isinstance(exc, OSError):
        return infrastructure_error(exc)
    if type(exc).__module__ == "sqlite3":
        text = str(exc)
        lowered = text.lower()
        code = (errno.ENOSPC if "full" in lowered else
                errno.EROFS if "readonly" in lowered or "read-only" in lowered else None)
        if code is not None:
            return infrastructure_error(OSError(code, os.strerror(code), "the store index"))
        return RunIncomplete(f"the store index cannot be used ({text}); check the disk and "
                             "the run folder, then run the same command again")
    return None
