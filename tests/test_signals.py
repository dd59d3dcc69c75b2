"""Child processes are born deaf to Ctrl-C and the parent stops them (``imagination.signals``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from imagination.signals import map_in_processes, sigint_blocked


def _square(x: int) -> int:
    return x * x


def _fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError(f"case {x} is bad")
    return x


def test_map_in_processes_keeps_the_order_of_the_items() -> None:
    assert map_in_processes(_square, range(7), 2) == [0, 1, 4, 9, 16, 25, 36]


def test_a_worker_error_is_raised_in_the_parent() -> None:
    with pytest.raises(ValueError, match="case 3 is bad"):
        map_in_processes(_fail_on_three, range(6), 2)


def test_a_sigint_during_the_block_arrives_after_it() -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are only handled in the main thread")
    reached: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        with sigint_blocked():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # still blocked: nothing is raised here
            reached.append("end of block")
        reached.append("after the block")  # the interrupt fires before this line
    assert reached == ["end of block"]


def test_ctrl_c_to_the_group_stops_busy_workers_at_once(tmp_path) -> None:
    """Workers that would run for minutes are gone right after the group's SIGINT, and no
    worker prints a traceback."""
    script = tmp_path / "pool.py"
    script.write_text(textwrap.dedent("""
        import sys, time
        from imagination.signals import map_in_processes

        def slow(x):
            time.sleep(300)

        try:
            print("ready", flush=True)
            map_in_processes(slow, range(4), 2)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(3)
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(1.0)  # the workers are sleeping in their jobs
    os.killpg(proc.pid, signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 3, err
    assert "interrupted" in out
    assert "Traceback" not in err, err


def test_fork_server_and_workers_are_born_with_sigint_blocked(tmp_path) -> None:
    """The local executor's fork server (started early, in the background, as the bench does)
    and its workers have SIGINT in their blocked mask from birth (``/proc/PID/status``), so a
    Ctrl-C to the group cannot interrupt their imports. (CPython's resource tracker unblocks
    SIGINT in the thread that starts it; it must not undo the block.)"""
    script = tmp_path / "probe.py"
    script.write_text(textwrap.dedent("""
        import time
        from multiprocessing import forkserver
        from imagination.engine.executors import LocalExecutor, start_fork_server

        def blocked(pid="self"):
            for line in open(f"/proc/{pid}/status"):
                if line.startswith("SigBlk:"):
                    return bool(int(line.split()[1], 16) & (1 << 1))  # SIGINT is signal 2

        def job(_):
            return blocked()

        if __name__ == "__main__":
            start_fork_server(["imagination.engine.executors"])
            deadline = time.monotonic() + 60
            while forkserver._forkserver._forkserver_pid is None and time.monotonic() < deadline:
                time.sleep(0.05)
            server = blocked(forkserver._forkserver._forkserver_pid)
            with LocalExecutor(workers=2) as executor:
                workers = [o.value for _, o in executor.map_unordered(job, range(4),
                                                                      timeout_s=60)]
            print("main", blocked(), "server", server, "workers", *workers)
    """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["main", "False", "server", "True", "workers",
                                  "True", "True", "True", "True"], out.stdout


class _InterruptedWhileFinalised:
    """An object whose finaliser is running when a Ctrl-C's handler fires."""

    def __del__(self) -> None:
        signal.raise_signal(signal.SIGINT)
        sum(range(1000))  # bytecodes: the handler runs here, inside the finaliser


def test_a_ctrl_c_that_lands_in_a_finaliser_still_stops_the_run() -> None:
    from imagination.signals import InterruptWatch

    previous_hook = sys.unraisablehook
    watch = InterruptWatch()
    stopped = False
    try:
        with watch:
            finalised = _InterruptedWhileFinalised()
            del finalised  # the KeyboardInterrupt raised in __del__ is dropped by Python ...
            deadline = time.monotonic() + 10.0
            while time.monotonic() < deadline:  # ... and sent again: it arrives in this loop
                time.sleep(0.001)
    except KeyboardInterrupt:
        stopped = True
    try:
        assert stopped and watch.seen
        assert sys.unraisablehook is previous_hook  # restored when the watch ends
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # the process is leaving
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def test_a_command_that_ends_as_its_dropped_ctrl_c_is_resent_still_exits_3() -> None:
    from imagination.errors import EXIT_INCOMPLETE, INTERRUPTED_MESSAGE

    program = textwrap.dedent("""
        import signal
        import imagination.cli as cli

        class Finalised:
            def __del__(self):
                signal.raise_signal(signal.SIGINT)

        def finishes_at_once(argv):
            Finalised()  # the Ctrl-C lands in a finaliser and is dropped; then we return 0
            return 0

        cli.run_app = finishes_at_once
        cli.main([])
    """)
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == EXIT_INCOMPLETE, done.stderr
    assert INTERRUPTED_MESSAGE in done.stderr
