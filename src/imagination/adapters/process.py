"""Supervised external programs: a model's whole process tree ends on time and leaves nothing.

:func:`run_supervised` runs one program through the *reaper* (``adapters/reaper.py``, a small
standard-library process started with ``python -I -S``) and returns its exit status, whether
it timed out or was stopped, and its stdout/stderr capped while they are read. ``command``
adapters use it; a container adapter can pass its ``docker``/``podman``/``apptainer`` argv.

What the platform guarantees (documented in ``docs/architecture.md``):

* **Linux with a writable cgroup v2** (root on most machines, or a delegated subtree): the
  program's child joins a fresh cgroup before ``exec``; every descendant, whatever it does
  (``setsid``, double fork, daemonise), stays in it, and ``cgroup.kill`` ends them all at once.
* **Linux otherwise**: the reaper is a child subreaper (``PR_SET_CHILD_SUBREAPER``), so a
  descendant whose parent exits is re-parented to the reaper, never to init; the reaper kills
  every live descendant it finds in ``/proc`` (and the program's process group) until none is
  left. Only a process started *outside* the tree on the program's behalf (asked of a daemon,
  e.g. ``systemd-run``, ``at``, a container engine's own daemon) escapes.
* **Other platforms**: the program's process group (its session) is killed.
* **When the harness dies** (Ctrl-C, SIGTERM, ``kill -9``, a timeout that kills its worker):
  on Linux the reaper gets SIGTERM from the kernel the moment its parent dies
  (``PR_SET_PDEATHSIG``), everywhere it notices within 0.25 s that its parent changed; it then
  kills the tree and deletes ``cleanup`` (the case's temporary folder). A local worker outlives
  a killed bench by at most one second (``engine.executors``), so the model follows within
  about two. If the reaper itself is killed with SIGKILL (nobody does that on purpose; the OOM
  killer could), the program's direct child still gets SIGKILL from the kernel (its own
  ``PDEATHSIG``), a leftover cgroup is killed by the next reaper that starts, and a leftover
  temporary folder is deleted by the next ``command`` case (:func:`sweep_stale_folders`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from imagination.errors import RunIncomplete

REAPER: Final[Path] = Path(__file__).with_name("reaper.py")
#: Most bytes of each stream kept (first quarter and last three quarters).
LOG_LIMIT: Final[int] = 200_000
#: Extra time the harness gives the reaper beyond the program's timeout before giving up on it.
BACKSTOP_S: Final[float] = 60.0
STOP_WAIT_S: Final[float] = 15.0
Containment = Literal["auto", "cgroup", "subreaper"]
Outcome = Literal["exited", "timeout", "stopped"]
#: Temporary case folders: ``imagination-<label>-<owner pid>-<random>``.
FOLDER_PREFIX: Final[str] = "imagination-"
_FOLDER = re.compile(r"^imagination-.+-(\d+)-[^-]+$")


class SupervisionError(RunIncomplete):
    """The reaper itself could not run or answer: a problem of the machine, not of the model
    (the run stops and resumes later; no failure is recorded for the case)."""


@dataclass(frozen=True)
class ProcessResult:
    """How a supervised program ended. ``status`` is its exit status (negative: killed by that
    signal) when ``outcome == "exited"``, else ``None``."""

    outcome: Outcome
    status: int | None
    logs: dict[str, str]
    log_bytes: dict[str, int]
    containment: str
    left_behind: int
    wall_s: float
    #: the reaper's own peak memory (MiB): bounded however much the program prints
    reaper_peak_rss_mb: float = float("nan")

    @property
    def timed_out(self) -> bool:
        return self.outcome == "timeout"


def _stop(reaper: subprocess.Popen[bytes]) -> None:
    """Ask the reaper to end the tree (SIGTERM), wait for it, SIGKILL as a last resort."""
    with contextlib.suppress(OSError):
        reaper.send_signal(signal.SIGTERM)
    try:
        reaper.wait(STOP_WAIT_S)
    except subprocess.TimeoutExpired:
        reaper.kill()
        reaper.wait()


def run_supervised(argv: Sequence[str], *, cwd: Path, timeout_s: float,
                   env: Mapping[str, str] | None = None, cleanup: Path | None = None,
                   log_limit: int = LOG_LIMIT,
                   containment: Containment = "auto") -> ProcessResult:
    """Run ``argv`` in ``cwd`` until it exits or ``timeout_s`` passes; its whole process tree
    is gone when this returns or raises (also on ``KeyboardInterrupt``). ``cleanup`` is deleted
    by the reaper if the harness dies or stops it before the program ends."""
    request = {"argv": [str(a) for a in argv], "cwd": str(cwd), "timeout_s": float(timeout_s),
               "env": dict(os.environ if env is None else env), "parent": os.getpid(),
               "cleanup": str(cleanup) if cleanup is not None else None,
               "log_limit": int(log_limit), "containment": containment}
    try:
        reaper = subprocess.Popen([sys.executable, "-I", "-S", str(REAPER)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, close_fds=True)
    except OSError as exc:
        raise SupervisionError(f"cannot start the process supervisor: {exc}") from exc
    try:
        out, err = reaper.communicate(json.dumps(request).encode(),
                                      timeout=float(timeout_s) + BACKSTOP_S)
    except subprocess.TimeoutExpired:
        _stop(reaper)
        raise SupervisionError("the process supervisor did not answer in time; the program "
                               "was killed") from None
    except BaseException:
        _stop(reaper)
        raise
    try:
        doc = json.loads(out)
    except ValueError:
        tail = err.decode(errors="replace")[-800:]
        raise SupervisionError(f"the process supervisor failed (exit {reaper.returncode}): "
                               f"{tail or 'no message'}") from None
    if doc.get("outcome") == "error":
        raise SupervisionError(str(doc.get("error")))
    return ProcessResult(
        outcome=doc["outcome"], status=doc.get("status"),
        logs={"stdout": doc.get("stdout", ""), "stderr": doc.get("stderr", "")},
        log_bytes={"stdout": int(doc.get("stdout_bytes", 0)),
                   "stderr": int(doc.get("stderr_bytes", 0))},
        containment=str(doc.get("containment", "")), left_behind=int(doc.get("left_behind", 0)),
        wall_s=float(doc.get("wall_s", 0.0)),
        reaper_peak_rss_mb=float(doc.get("reaper_peak_rss_mb", float("nan"))))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def case_folder(label: str) -> Path:
    """A fresh temporary folder for one case, named after its owner process."""
    safe = re.sub(r"[^A-Za-z0-9_.]", "_", label)[:40] or "adapter"
    return Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{safe}-{os.getpid()}-"))


def sweep_stale_folders(base: Path | None = None) -> list[Path]:
    """Delete temporary case folders whose owner process is gone (a worker killed while it
    wrote a case's inputs, or a reaper killed with SIGKILL); returns what was deleted."""
    base = Path(base or tempfile.gettempdir())
    removed: list[Path] = []
    with contextlib.suppress(OSError):
        for entry in base.iterdir():
            match = _FOLDER.match(entry.name)
            if match is None or int(match.group(1)) == os.getpid():
                continue
            if not _alive(int(match.group(1))) and entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
    return removed
