"""Container runtimes (podman, docker, apptainer): their command lines and how to run them.

Every runtime gets the same hardening: no network, inputs mounted read-only, a non-root user,
no new privileges, CPU and memory limits, a read-only root file system, a timeout after which
the container is stopped and removed. Command lines are built by pure functions (tested against
a fake runtime executable); :func:`run_container` executes one and keeps its logs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from imagination.errors import InputError

RuntimeName = Literal["podman", "docker", "apptainer"]
RUNTIMES: Final[tuple[RuntimeName, ...]] = ("podman", "docker", "apptainer")
#: The user the container runs as (``nobody`` on Debian); never root.
DEFAULT_USER: Final[str] = "65534:65534"
#: Most characters of each log stream kept per case.
LOG_LIMIT: Final[int] = 200_000
#: Seconds given to ``stop``/``rm`` after a timeout.
CLEANUP_TIMEOUT_S: Final[float] = 30.0
#: Seconds past the harness's own deadline at which podman's conmon stops a container itself.
CONMON_GRACE_S: Final[int] = 15


@dataclass(frozen=True)
class Mount:
    """A host folder or file seen inside the container at ``target``."""

    host: Path
    target: str
    writable: bool = False


@dataclass(frozen=True)
class Limits:
    """Resources granted to one container."""

    cpus: float = 1.0
    memory_mb: int = 4096
    gpus: bool = False
    user: str = DEFAULT_USER
    shm_mb: int | None = None


@dataclass(frozen=True)
class RunRequest:
    """One container call: image, mounts, arguments, environment, limits, timeout."""

    image: str
    mounts: tuple[Mount, ...]
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    limits: Limits = Limits()
    timeout_s: float = 3600.0
    name: str = ""
    entrypoint: tuple[str, ...] | None = None


def executable(runtime: RuntimeName) -> str | None:
    """Path of the runtime's program on PATH (apptainer also answers to singularity)."""
    found = shutil.which(runtime)
    if found is None and runtime == "apptainer":
        found = shutil.which("singularity")
    return found


def find_runtime(preferred: str | None = None) -> RuntimeName:
    """The configured runtime if installed, else the first of :data:`RUNTIMES` found."""
    if preferred is not None:
        if preferred not in RUNTIMES:
            raise InputError(f"container runtime {preferred!r} is not one of "
                             f"{', '.join(RUNTIMES)}")
        if executable(preferred) is None:  # type: ignore[arg-type]
            raise InputError(f"container runtime {preferred} is not installed (not on PATH)")
        return preferred  # type: ignore[return-value]
    for name in RUNTIMES:
        if executable(name) is not None:
            return name
    raise InputError("no container runtime found: install podman, docker or apptainer "
                     "(see the README, 'Container models')")


def container_name() -> str:
    return f"imagination-{uuid.uuid4().hex[:16]}"


def _oci_run_argv(program: str, request: RunRequest, *, podman: bool) -> list[str]:
    limits = request.limits
    argv = [program, "run", "--rm", "--name", request.name or container_name(),
            "--network", "none", "--read-only", "--user", limits.user,
            "--security-opt", "no-new-privileges", "--cap-drop", "ALL",
            "--cpus", f"{limits.cpus:g}", "--memory", f"{limits.memory_mb}m",
            "--memory-swap", f"{limits.memory_mb}m", "--pids-limit", "512",
            "--tmpfs", "/tmp:rw,size=1g,mode=1777"]
    if limits.shm_mb:
        argv += ["--shm-size", f"{limits.shm_mb}m"]
    if podman:
        # conmon stops the container itself, even if this process dies; a grace period later
        # than our own deadline, so a timeout is always reported as one (conmon's kill makes
        # `podman run` exit 255, which would read as a crash)
        argv += ["--timeout", str(max(1, int(request.timeout_s + 0.999)) + CONMON_GRACE_S)]
    if limits.gpus:
        argv += ["--device", "nvidia.com/gpu=all"] if podman else ["--gpus", "all"]
    for mount in request.mounts:
        mode = "rw" if mount.writable else "ro"
        argv += ["-v", f"{mount.host}:{mount.target}:{mode}"]
    for key, value in sorted(request.env.items()):
        argv += ["-e", f"{key}={value}"]
    if request.entrypoint is not None:
        argv += ["--entrypoint", request.entrypoint[0]]
    argv.append(request.image)
    if request.entrypoint is not None:
        argv += list(request.entrypoint[1:])
    argv += list(request.args)
    return argv


def _apptainer_run_argv(program: str, request: RunRequest) -> list[str]:
    # Apptainer runs as the calling user, never root, with no privilege escalation; --containall
    # isolates /home, /tmp, IPC and PID; --net --network none drops the network.
    argv = [program, "run" if request.entrypoint is None else "exec", "--containall",
            "--cleanenv", "--no-home", "--writable-tmpfs", "--net", "--network", "none",
            "--no-privs"]
    if request.limits.gpus:
        argv.append("--nv")
    for mount in request.mounts:
        argv += ["--bind", f"{mount.host}:{mount.target}:{'rw' if mount.writable else 'ro'}"]
    for key, value in sorted(request.env.items()):
        argv += ["--env", f"{key}={value}"]
    argv.append(request.image)
    if request.entrypoint is not None:
        argv += list(request.entrypoint)
    argv += list(request.args)
    return argv


def run_argv(runtime: RuntimeName, request: RunRequest, program: str | None = None) -> list[str]:
    """The full command line that runs ``request`` under ``runtime``."""
    program = program or executable(runtime) or runtime
    if runtime == "apptainer":
        return _apptainer_run_argv(program, request)
    return _oci_run_argv(program, request, podman=runtime == "podman")


def remove_argv(runtime: RuntimeName, name: str, program: str | None = None) -> list[str] | None:
    """Command that force-removes a running container (``None``: apptainer has no daemon)."""
    if runtime == "apptainer":
        return None
    program = program or executable(runtime) or runtime
    if runtime == "podman":  # kill at once: a model past its timeout gets no 10 s stop grace
        return [program, "rm", "--force", "--time", "0", name]
    return [program, "rm", "--force", name]  # docker's rm --force kills at once


def _tail(path: Path) -> str:
    if not path.is_file():
        return ""
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - LOG_LIMIT))
        text = handle.read().decode(errors="replace")
    return text if size <= LOG_LIMIT else "[… earlier output cut]\n" + text


@dataclass(frozen=True)
class RunResult:
    """Exit status (``None`` after a timeout) and the kept logs."""

    status: int | None
    logs: dict[str, str]


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def run_container(runtime: RuntimeName, request: RunRequest, log_dir: Path) -> RunResult:
    """Run one container to completion or timeout; on timeout it is removed.

    stdout and stderr go to ``log_dir`` (capped when read back)."""
    name = request.name or container_name()
    request = RunRequest(**{**request.__dict__, "name": name})
    argv = run_argv(runtime, request)
    stdout_path, stderr_path = log_dir / "container.stdout.txt", log_dir / "container.stderr.txt"
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        try:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                       start_new_session=True)
        except OSError as exc:
            raise InputError(f"cannot start {argv[0]}: {exc}") from exc
        try:
            status: int | None = process.wait(timeout=request.timeout_s)
        except subprocess.TimeoutExpired:
            status = None
            remove = remove_argv(runtime, name)
            if remove is not None:
                with contextlib.suppress(OSError, subprocess.SubprocessError):
                    subprocess.run(remove, stdin=subprocess.DEVNULL, capture_output=True,
                                   timeout=CLEANUP_TIMEOUT_S, check=False)
            _kill_group(process)
        except BaseException:
            remove = remove_argv(runtime, name)
            if remove is not None:
                with contextlib.suppress(OSError, subprocess.SubprocessError):
                    subprocess.run(remove, stdin=subprocess.DEVNULL, capture_output=True,
                                   timeout=CLEANUP_TIMEOUT_S, check=False)
            _kill_group(process)
            raise
    return RunResult(status, {"stdout": _tail(stdout_path), "stderr": _tail(stderr_path)})


def command_output(argv: Sequence[str], *, timeout_s: float = 600.0) -> tuple[int, str, str]:
    """Run a short runtime command (load, inspect); returns (status, stdout, stderr)."""
    try:
        done = subprocess.run(list(argv), stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, "", str(exc)
    return (done.returncode, done.stdout.decode(errors="replace"),
            done.stderr.decode(errors="replace"))
