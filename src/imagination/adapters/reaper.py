"""The reaper: a small standard-library-only process that runs one model program and makes sure
nothing of it outlives its time.

Started by :func:`imagination.adapters.process.run_supervised` as ``python -I -S reaper.py``
(never imported by the package) with a JSON request on stdin, it answers one JSON document on
stdout once the program's whole process tree is gone. It

* starts the program in a session of its own (``setsid``), stdin ``/dev/null``, stdout and
  stderr on pipes that it reads while the program runs, keeping only the first quarter and the
  last three quarters of ``log_limit`` bytes per stream (memory stays bounded whatever the
  program prints);
* contains the tree: in a cgroup v2 of its own when one can be created (every descendant, also
  one that calls ``setsid`` or double-forks, is in it and ``cgroup.kill`` ends them all at
  once); always as a child subreaper as well (Linux ``PR_SET_CHILD_SUBREAPER``: orphaned
  descendants are re-parented to the reaper, which finds them through ``/proc`` and kills them
  until none is left); elsewhere the program's process group only;
* ends the tree when the program exits (background children it left are killed), when the
  timeout passes, on SIGTERM, SIGINT or SIGHUP, and when its parent dies (Linux
  ``PR_SET_PDEATHSIG``, plus a check of the parent pid four times a second on every
  platform): then it also deletes the ``cleanup`` folder (the case's temporary folder).
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import sys
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
POLL_S = 0.25
KILL_WAIT_S = 10.0
DRAIN_S = 2.0
CHUNK = 1 << 16
CGROUP_PREFIX = "imagination-"
LINUX = sys.platform.startswith("linux")


def _prctl(option: int, value: int) -> bool:
    """``prctl(option, value)``; False where unavailable."""
    if not LINUX:
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


class CappedLog:
    """The first ``head`` and the last ``tail`` bytes of a stream, and how many there were."""

    def __init__(self, limit: int) -> None:
        self.head_limit = limit // 4
        self.tail_limit = limit - self.head_limit
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > 2 * self.tail_limit:  # trim rarely: amortised O(1) per byte
                del self.tail[:-self.tail_limit]

    def text(self) -> str:
        tail = bytes(self.tail[-self.tail_limit:]) if self.tail_limit else b""
        omitted = self.total - len(self.head) - len(tail)
        middle = f"\n[... {omitted} bytes omitted ...]\n".encode() if omitted > 0 else b""
        return (bytes(self.head) + middle + tail).decode("utf-8", errors="replace")


# -- cgroup v2 ------------------------------------------------------------------------------

def _cgroup_base() -> Path | None:
    """This process's cgroup v2 folder, if the unified hierarchy is mounted and writable."""
    if not LINUX:
        return None
    try:
        own = next((line.split(":", 2)[2].strip()
                    for line in Path("/proc/self/cgroup").read_text().splitlines()
                    if line.startswith("0::")), None)
        if own is None:
            return None
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            left, _, right = line.partition(" - ")
            if right.split(" ", 1)[0] != "cgroup2":
                continue
            fields = left.split()
            root, mount = fields[3], fields[4]
            if root != "/" and not (own == root or own.startswith(root.rstrip("/") + "/")):
                continue
            relative = own[len(root):] if root != "/" else own
            base = Path(mount) / relative.lstrip("/")
            if os.access(base, os.W_OK) and (base / "cgroup.procs").exists():
                return base
    except (OSError, IndexError, ValueError):
        return None
    return None


def _namespace_tag() -> str:
    try:
        return str(Path("/proc/self/ns/pid").stat().st_ino)
    except OSError:
        return "0"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Cgroup:
    """A cgroup v2 holding one program's tree, named after the reaper (pid namespace, pid)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls) -> Cgroup | None:
        base = _cgroup_base()
        if base is None:
            return None
        tag = _namespace_tag()
        cls.sweep(base, tag)
        path = base / f"{CGROUP_PREFIX}{tag}-{os.getpid()}"
        try:
            path.mkdir()
        except FileExistsError:  # a dead reaper of the same pid left it: reuse after a kill
            cls(path).kill()
        except OSError:
            return None
        return cls(path)

    @classmethod
    def sweep(cls, base: Path, tag: str) -> None:
        """Kill and remove cgroups of reapers (of this pid namespace) that are gone."""
        with contextlib.suppress(OSError):
            for entry in base.iterdir():
                name = entry.name
                if not name.startswith(f"{CGROUP_PREFIX}{tag}-"):
                    continue
                try:
                    pid = int(name.rsplit("-", 1)[1])
                except ValueError:
                    continue
                if pid != os.getpid() and not _alive(pid):
                    group = cls(entry)
                    group.kill()
                    group.remove()

    def join(self) -> None:
        """Move the calling process into the cgroup (the program's child, before exec)."""
        fd = os.open(self.path / "cgroup.procs", os.O_WRONLY)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)

    def pids(self) -> list[int]:
        try:
            return [int(x) for x in (self.path / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return []

    def kill(self) -> None:
        """SIGKILL every process in the cgroup (``cgroup.kill``, else one by one)."""
        try:
            (self.path / "cgroup.kill").write_text("1")
            return
        except OSError:
            pass
        for pid in self.pids():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    def remove(self) -> None:
        deadline = time.monotonic() + KILL_WAIT_S
        while True:
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() > deadline:
                    return
                _reap_all()
                time.sleep(0.01)


# -- descendants ------------------------------------------------------------------------------

def _reap_all() -> None:
    """Collect every exited child (the reaper is the subreaper of the whole tree)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _live_descendants(root: int) -> list[int]:
    """Processes below ``root`` that have not exited yet (from ``/proc/*/stat``)."""
    children: dict[int, list[int]] = {}
    state: dict[int, str] = {}
    try:
        entries = [e.name for e in Path("/proc").iterdir() if e.name.isdigit()]
    except OSError:
        return []
    for entry in entries:
        try:
            stat = Path(f"/proc/{entry}/stat").read_bytes().decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) < 2:
            continue
        pid = int(entry)
        state[pid] = fields[0]
        children.setdefault(int(fields[1]), []).append(pid)
    out: list[int] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            todo.append(child)
            if state.get(child) not in ("Z", "X"):
                out.append(child)
    return out


def kill_tree(pid: int, group: Cgroup | None) -> int:
    """SIGKILL the program's whole tree and wait until no process of it is left; returns how
    many processes were still alive when the kill began."""
    found = len(set(group.pids()) if group is not None else set())
    if group is not None:
        group.kill()
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + KILL_WAIT_S
    first = True
    while time.monotonic() < deadline:
        _reap_all()
        alive = _live_descendants(os.getpid()) if LINUX else []
        if group is not None:
            alive = sorted(set(alive) | set(group.pids()))
        if first:
            found = max(found, len(alive))
            first = False
        if not alive:
            break
        for other in alive:
            with contextlib.suppress(OSError):
                os.kill(other, signal.SIGKILL)
        time.sleep(0.005)
    _reap_all()
    return found


# -- the run ----------------------------------------------------------------------------------

def _start(argv: list[str], cwd: str, env: dict[str, str], group: Cgroup | None,
           out_w: int, err_w: int) -> tuple[int, bool, str]:
    """Fork and exec the program; returns its pid, whether it joined the cgroup and the error
    that kept it from starting (empty when it started)."""
    sync_r, sync_w = os.pipe()  # close-on-exec: EOF tells the reaper that exec happened
    pid = os.fork()
    if pid == 0:
        try:  # the child: nothing here may raise out of the fork
            os.close(sync_r)
            joined = b"0"
            if group is not None:
                with contextlib.suppress(OSError):
                    group.join()
                    joined = b"1"
            os.write(sync_w, joined)
            os.setsid()
            signal.set_wakeup_fd(-1)
            for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD,
                           signal.SIGPIPE, signal.SIGQUIT, getattr(signal, "SIGXFSZ", None)):
                if number is not None:
                    signal.signal(number, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, set())
            _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            os.chdir(cwd)
            os.execvpe(argv[0], argv, env)
        except BaseException as exc:  # report anything, then leave
            with contextlib.suppress(OSError):
                os.write(sync_w, f"cannot start {argv[0]}: {exc}".encode())
        os._exit(127)
    os.close(sync_w)
    received = bytearray()
    while True:
        try:
            chunk = os.read(sync_r, 4096)
        except InterruptedError:
            continue
        if not chunk:
            break
        received += chunk
    os.close(sync_r)
    return pid, received[:1] == b"1", received[1:].decode(errors="replace")


def _exited(pid: int) -> int | None:
    """The program's exit status if it has exited, without reaping it (its pid, and so its
    process group id, stays reserved until the tree is killed)."""
    info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    if info is None or info.si_pid == 0:
        return None
    return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status


def run(request: dict) -> dict:
    """Run the request's program to its end (or its timeout, or a stop) and describe it."""
    argv = [str(a) for a in request["argv"]]
    parent = int(request["parent"])
    timeout = float(request["timeout_s"])
    limit = int(request.get("log_limit", 200_000))
    containment = request.get("containment", "auto")
    cleanup = request.get("cleanup")
    started = time.monotonic()

    stop: list[int] = []
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)

    def on_signal(signum: int, _frame: object) -> None:
        stop.append(signum)

    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(number, on_signal)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the selector when a child exits
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    subreaper = _prctl(PR_SET_CHILD_SUBREAPER, 1)
    group = Cgroup.create() if containment in ("auto", "cgroup") else None
    if containment == "cgroup" and group is None:
        return {"outcome": "error", "status": None, "containment": "none",
                "error": "no writable cgroup v2 on this machine", "stdout": "", "stderr": ""}

    logs = {"stdout": CappedLog(limit), "stderr": CappedLog(limit)}
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    outcome, status, pid, joined, error = "exited", None, None, False, ""
    if os.getppid() != parent:
        outcome = "stopped"
    else:
        pid, joined, error = _start(argv, request["cwd"], dict(request["env"]), group,
                                    out_w, err_w)
    os.close(out_w)
    os.close(err_w)
    if group is not None and not joined:
        group.remove()
        group = None
    kind = "cgroup" if group is not None else ("subreaper" if subreaper else "process-group")
    streams = {out_r: logs["stdout"], err_r: logs["stderr"]}
    selector = selectors.DefaultSelector()
    for fd in streams:
        selector.register(fd, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)

    def read_ready(wait: float) -> None:
        for key, _ in selector.select(timeout=wait):
            if key.fd == wake_r:
                with contextlib.suppress(BlockingIOError):
                    while os.read(wake_r, 512):
                        pass
                continue
            chunk = os.read(key.fd, CHUNK)
            if chunk:
                streams[key.fd].add(chunk)
            else:
                selector.unregister(key.fd)

    deadline = started + timeout
    while pid is not None:
        if stop or os.getppid() != parent:
            outcome = "stopped"
            break
        status = _exited(pid)
        if status is not None:
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            outcome = "timeout"
            break
        read_ready(min(remaining, POLL_S))
    left = kill_tree(pid, group) if pid is not None else 0
    if group is not None:
        group.remove()
    drain_until = time.monotonic() + DRAIN_S  # every writer is dead: the pipes reach EOF
    while len(selector.get_map()) > 1 and time.monotonic() < drain_until:
        read_ready(0.05)
    if error:
        logs["stderr"].add(error.encode())
    if os.getppid() != parent:
        outcome = "stopped"
    if outcome == "stopped" and cleanup:
        shutil.rmtree(cleanup, ignore_errors=True)
    return {"outcome": outcome, "status": status if outcome == "exited" else None,
            "containment": kind, "left_behind": left if outcome == "exited" else 0,
            "start_error": error,
            "stdout": logs["stdout"].text(), "stderr": logs["stderr"].text(),
            "stdout_bytes": logs["stdout"].total, "stderr_bytes": logs["stderr"].total,
            "wall_s": time.monotonic() - started, "reaper_peak_rss_mb": _peak_rss_mb()}


def _peak_rss_mb() -> float:
    """The reaper's own peak resident memory (it reads the logs), in MiB: ``VmHWM`` on Linux
    (``ru_maxrss`` would include the harness's memory from before ``exec``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
    except ImportError:
        return float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def main() -> int:
    request = json.loads(sys.stdin.buffer.read())
    sys.stdin.close()
    result = run(request)
    payload = memoryview(json.dumps(result).encode())
    with contextlib.suppress(OSError):  # the parent may be gone
        while payload:
            payload = payload[os.write(1, payload):]
    return 0


if __name__ == "__main__":
    sys.exit(main())
