"""The bubblewrap sandbox of ``command`` adapters (``sandbox: true``).

The program sees only: the system folders read-only (``/usr``, ``/etc`` and the ``/bin``,
``/lib``... links or folders), its own folders read-only (see :func:`program_folders`, plus any
``sandbox_paths``), the case's work folder read-only with its ``output/`` writable, a fresh
``/tmp``, ``/dev`` and a ``/proc`` of its own PID namespace (no ancestor's command line, so not
the bench config), no network (own network namespace), no capabilities, a clean environment.
Needs the ``bwrap`` program (Debian/Ubuntu package ``bubblewrap``) and user namespaces.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Final

#: Folders mounted read-only when present (links such as Debian's ``/bin -> usr/bin`` are
#: recreated as links).
SYSTEM_FOLDERS: Final[tuple[str, ...]] = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32",
                                          "/lib64", "/libx32")
#: The environment of a sandboxed program, before the adapter's own ``env``.
SANDBOX_ENV: Final[dict[str, str]] = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp",
                                      "TMPDIR": "/tmp", "LANG": "C.UTF-8"}
BLINDING_ENFORCED: Final[str] = "enforced (sandbox)"


def sandbox_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment of a sandboxed program (and of bubblewrap itself)."""
    return {**SANDBOX_ENV, **dict(extra or {})}


def bwrap() -> str | None:
    return shutil.which("bwrap")


@lru_cache(maxsize=1)
def unavailable_reason() -> str | None:
    """Why a sandbox cannot run here (``None`` when it can): checked once per process by
    starting ``true`` in the same namespaces as a real run."""
    program = bwrap()
    if program is None:
        return ("bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap; "
                "Fedora: dnf install bubblewrap)")
    argv = [program, *_base_options(), "--", "true"]
    try:
        result = subprocess.run(argv, capture_output=True, timeout=30, check=False,
                                env=sandbox_env())
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap cannot start: {exc}"
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip().splitlines()
        return (f"bubblewrap cannot create its namespaces here ({message[-1] if message else ''}"
                "); user namespaces may be disabled")
    return None


def _base_options() -> list[str]:
    options = ["--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    for folder in SYSTEM_FOLDERS:
        path = Path(folder)
        if path.is_symlink():
            options += ["--symlink", str(path.readlink()), folder]
        elif path.is_dir():
            options += ["--ro-bind", folder, folder]
    return [*options, "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]


def _is_system(path: Path) -> bool:
    return any(path == Path(f) or path.is_relative_to(f) for f in SYSTEM_FOLDERS)


def _prefix(executable: Path) -> Path:
    """An executable's installation folder: ``X`` for ``X/bin/prog``, else its folder."""
    folder = executable.parent
    return folder.parent if folder.name in ("bin", "Scripts") else folder


def program_folders(argv: Sequence[str]) -> list[Path]:
    """The program's own folders, mounted read-only: the installation folder of ``argv[0]``
    (both as named and with links resolved, so a virtual environment and its base
    interpreter) and the folder of every other argument that names an existing file or folder
    (its script, weights...). System folders are mounted anyway and not repeated."""
    found: list[Path] = []
    program = shutil.which(argv[0]) if argv else None
    if program is not None:
        named = Path(program).absolute()
        found += [_prefix(named), _prefix(named.resolve())]
    for arg in argv[1:]:
        if "{" in arg or not arg.startswith("/"):
            continue  # a placeholder, or not an absolute path
        path = Path(arg)
        if path.is_file():
            found.append(path.resolve().parent)
        elif path.is_dir():
            found.append(path.resolve())
    out: list[Path] = []
    for path in found:
        if not _is_system(path) and path != Path("/") and path not in out:
            out.append(path)
    return out


def sandboxed_argv(argv: Sequence[str], *, work: Path, output: Path,
                   read_only: Iterable[Path] = (), env: Mapping[str, str] | None = None,
                   ) -> list[str]:
    """``bwrap OPTIONS -- argv``: ``work`` (the case folder, holding ``input/``) read-only,
    ``output`` writable, ``read_only`` folders read-only, the environment :data:`SANDBOX_ENV`
    plus ``env``."""
    program = bwrap()
    if program is None:
        raise RuntimeError(unavailable_reason() or "bubblewrap is not installed")
    options = _base_options()
    for folder in read_only:
        options += ["--ro-bind", str(folder), str(folder)]
    options += ["--ro-bind", str(work), str(work), "--bind", str(output), str(output),
                "--chdir", str(work), "--clearenv"]
    for name, value in sandbox_env(env).items():
        options += ["--setenv", name, value]
    return [program, *options, "--", *argv]
