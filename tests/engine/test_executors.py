"""Executors: failure isolation (error, timeout, crash) and equal results everywhere."""

from __future__ import annotations

import os

import pytest

from imagination.engine.executors import (
    DaskExecutor,
    LocalExecutor,
    make_executor,
    run_captured,
)
from imagination.errors import InputError

from .jobs import misbehave, pool_threads, square_with_noise, worker_pid

ITEMS = ["a", "raise", "b", "hang", "c", "exit", "segfault", "d"]


def _check_isolation(results: dict, *, expect_segfault_signal: bool) -> None:
    assert sorted(results) == sorted(ITEMS)
    for name in "abcd":
        assert results[name].ok and results[name].value == name.upper()
    raised = results["raise"].failure
    assert raised.kind == "error" and raised.exc_type == "ValueError"
    assert "bad input for this job" in raised.message
    assert "misbehave" in raised.traceback
    assert results["hang"].failure.kind == "timeout"
    assert "timeout of 3 s" in results["hang"].failure.message
    assert results["exit"].failure.kind == "crash"
    assert results["segfault"].failure.kind == "crash"
    if expect_segfault_signal:
        assert "exit code 7" in results["exit"].failure.message
        assert "SIGSEGV" in results["segfault"].failure.message


def test_in_process_executor_records_an_error_and_keeps_going():
    with LocalExecutor(1) as executor:
        results = dict(executor.map_unordered(misbehave, ["x", "raise", "y"]))
    assert results["x"].value == "X" and results["y"].value == "Y"
    assert results["raise"].failure.kind == "error"
    assert results["raise"].failure.reason == "ValueError: bad input for this job"


def test_run_captured_lets_keyboard_interrupt_through():
    def interrupted(_: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_captured(interrupted, 1)


def test_local_workers_isolate_error_timeout_exit_and_segfault():
    with LocalExecutor(2) as executor:
        results = dict(executor.map_unordered(misbehave, ITEMS, timeout_s=3.0))
        # the pool is still usable after losing workers
        again = dict(executor.map_unordered(misbehave, ["e", "f"], timeout_s=3.0))
    _check_isolation(results, expect_segfault_signal=True)
    assert {k: v.value for k, v in again.items()} == {"e": "E", "f": "F"}


def test_jobs_run_single_threaded_in_process_and_in_workers_and_itk_is_restored():
    """ITK reads its thread count once per process: an in-process run must set it (it used 2
    threads here while the docs promised one), and put the caller's value back."""
    import SimpleITK as sitk

    before = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(2)
    try:
        for workers in (1, 2):
            with LocalExecutor(workers) as executor:
                seen = {outcome.value for _, outcome in executor.map_unordered(pool_threads,
                                                                                [1, 2, 3])}
            assert seen == {(1, 1)}, workers
            assert sitk.ProcessObject.GetGlobalDefaultNumberOfThreads() == 2
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(before)


def test_local_workers_run_in_other_processes_and_reuse_them():
    with LocalExecutor(2) as executor:
        pids = {outcome.value for _, outcome in executor.map_unordered(worker_pid, range(8))}
    assert os.getpid() not in pids
    assert 1 <= len(pids) <= 2


def test_bad_arguments_are_input_errors():
    with pytest.raises(InputError):
        LocalExecutor(0)
    with pytest.raises(InputError, match="allowed: local, dask"):
        make_executor("slurm", 1)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="timeout"):
        list(LocalExecutor(1).map_unordered(square_with_noise, [1], timeout_s=0))


def test_unpicklable_job_is_a_failure_not_a_crash_of_the_run():
    with LocalExecutor(2) as executor:
        results = list(executor.map_unordered(lambda item: item, [1, 2]))
    assert [outcome.failure.kind for _, outcome in results] == ["error", "error"]


@pytest.mark.xdist_group("dask")
def test_same_results_in_process_two_workers_and_dask_then_dask_isolates_failures():
    items = list(range(12))
    with LocalExecutor(1) as one:
        serial = {item: outcome.value for item, outcome in one.map_unordered(square_with_noise,
                                                                             items)}
    with LocalExecutor(2) as two:
        parallel = {item: outcome.value for item, outcome in two.map_unordered(square_with_noise,
                                                                               items)}
    with DaskExecutor(None, workers=2) as dask_executor:
        distributed = {item: outcome.value
                       for item, outcome in dask_executor.map_unordered(square_with_noise, items)}
        failures = dict(dask_executor.map_unordered(misbehave, ITEMS, timeout_s=3.0))
        after = dict(dask_executor.map_unordered(misbehave, ["e"], timeout_s=3.0))
    assert serial == parallel == distributed
    assert len(serial) == 12
    _check_isolation(failures, expect_segfault_signal=False)
    assert after["e"].value == "E"


def test_nothing_to_run_starts_no_worker_and_no_cluster():
    local = LocalExecutor(2)
    assert list(local.map_unordered(square_with_noise, [], timeout_s=5)) == []
    assert local._pool == []
    assert [o.value for _, o in local.map_unordered(worker_pid, [1], timeout_s=30)] != [None]
    assert len(local._pool) == 1  # one job starts one worker, not two
    local.close()
    remote = DaskExecutor("tcp://127.0.0.1:1", workers=1)  # never contacted
    assert list(remote.map_unordered(square_with_noise, iter([]))) == []
    remote.close()


def test_workers_of_a_killed_run_exit_instead_of_running_on(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    import psutil

    pid_file = tmp_path / "worker.pid"
    code = ("import sys; sys.path[:0] = sys.argv[2:]; "
            f"from {__package__}.jobs import run_hanging_job_in_pool; "
            "run_hanging_job_in_pool(sys.argv[1])")
    run = subprocess.Popen([sys.executable, "-c", code, str(pid_file), *sys.path])
    deadline = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline and run.poll() is None
        time.sleep(0.05)
    worker = psutil.Process(int(pid_file.read_text()))
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    try:
        worker.wait(timeout=20)
    except psutil.TimeoutExpired:
        worker.kill()
        raise AssertionError("the orphaned worker kept running") from None


@pytest.mark.xdist_group("dask")
def test_dask_executor_connects_to_a_given_scheduler_address():
    from distributed import LocalCluster

    with (LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                       dashboard_address=":0") as cluster,
          make_executor("dask", 1, cluster.scheduler_address) as executor):
        got = dict(executor.map_unordered(square_with_noise, [3, 4]))
    assert {k: v.value for k, v in got.items()} == {3: square_with_noise(3),
                                                    4: square_with_noise(4)}


def test_dask_executor_reports_an_unreachable_scheduler_as_input_error():
    executor = DaskExecutor("tcp://127.0.0.1:9", workers=1, connect_timeout_s=1.0)
    with pytest.raises(InputError, match="cannot connect to the Dask scheduler"):
        list(executor.map_unordered(square_with_noise, [1]))


def test_interrupted_run_resumes_with_only_the_missing_jobs(tmp_path):
    import numpy as np

    from imagination.engine.hashing import job_key
    from imagination.engine.store import PredictionStore

    from .jobs import predict_case

    items = [(job_key("stand-in", "1", {}, {"t1c": f"{seed:064x}"}, None), seed)
             for seed in range(10)]
    reference = {key: predict_case((key, seed)) for key, seed in items}

    store = PredictionStore(tmp_path / "store")
    with LocalExecutor(2) as executor:
        jobs = executor.map_unordered(predict_case, items, timeout_s=30)
        for _, outcome in jobs:
            store.put(outcome.value.key, outcome.value)
            if len(store) == 4:
                jobs.close()  # the user interrupts: running jobs are killed, nothing half-stored
                break
        assert all(worker.job is None for worker in executor._pool)
    assert len(store) == 4
    missing = [item for item in items if not store.has(item[0])]
    assert len(missing) == 6
    ran = []
    with LocalExecutor(2) as executor:
        for item, outcome in executor.map_unordered(predict_case, missing, timeout_s=30):
            ran.append(item)
            store.put(outcome.value.key, outcome.value)
    assert sorted(ran) == sorted(missing)
    assert store.keys() == sorted(reference)
    for key, expected in reference.items():
        got = store.get(key)
        assert got.outputs["idh"] == expected.outputs["idh"]
        assert np.array_equal(got.outputs["recurrence"], expected.outputs["recurrence"])


def test_job_that_cannot_be_imported_in_the_worker_fails_alone(tmp_path, monkeypatch):
    import importlib
    import sys

    with LocalExecutor(2) as executor:
        list(executor.map_unordered(worker_pid, [1, 2], timeout_s=30))  # workers start now
        (tmp_path / "parent_only_jobs.py").write_text("def double(x):\n    return 2 * x\n")
        monkeypatch.syspath_prepend(str(tmp_path))  # the running workers never see this path
        double = importlib.import_module("parent_only_jobs").double
        [(_, failed)] = executor.map_unordered(double, [21], timeout_s=30)
        assert failed.failure.kind == "error"
        assert "parent_only_jobs" in failed.failure.message
        again = dict(executor.map_unordered(square_with_noise, [5], timeout_s=30))
        assert again[5].value == square_with_noise(5)
    sys.modules.pop("parent_only_jobs", None)


def test_an_idle_worker_killed_from_outside_is_replaced_without_failing_a_job():
    import signal

    with LocalExecutor(1) as executor:
        [(_, first)] = executor.map_unordered(worker_pid, [1], timeout_s=30)
        os.kill(first.value, signal.SIGKILL)
        executor._pool[0].process.join(10)
        [(_, second)] = executor.map_unordered(worker_pid, [2], timeout_s=30)
    assert second.ok and second.value != first.value


def test_a_worker_holds_the_next_job_while_its_result_is_handled():
    """Pipelining: when a result reaches the caller, the worker already has the next job."""
    with LocalExecutor(1) as executor:
        seen = []
        for item, outcome in executor.map_unordered(worker_pid, [1, 2, 3, 4], timeout_s=30):
            assert outcome.ok
            held = [job.item for job in executor._pool[0].jobs]
            seen.append((item, held))
    assert seen[:3] == [(1, [2]), (2, [3]), (3, [4])]
    assert seen[3] == (4, [])


def test_a_job_queued_behind_a_crash_or_timeout_runs_on_a_new_worker():
    with LocalExecutor(1) as executor:
        results = dict(executor.map_unordered(misbehave, ["exit", "a", "hang", "b", "c"],
                                              timeout_s=3.0))
    assert results["exit"].failure.kind == "crash"
    assert results["hang"].failure.kind == "timeout"
    assert {k: results[k].value for k in "abc"} == {"a": "A", "b": "B", "c": "C"}


def test_jobs_too_big_to_queue_wait_for_an_idle_worker_and_all_run():
    items = [str(i) * 50_000 for i in range(6)]  # each message larger than the queue limit
    results = {}
    with LocalExecutor(2) as executor:
        for item, outcome in executor.map_unordered(misbehave, items, timeout_s=30):
            assert all(len(w.jobs) <= 1 for w in executor._pool)
            results[item] = outcome
    assert {k: v.value for k, v in results.items()} == {i: i.upper() for i in items}


def test_a_worker_that_died_before_its_next_job_was_sent_reports_its_own_job():
    """The worker takes the queued 'exit' and dies while the caller handles 'a'; sending it the
    next job fails: 'exit' is still reported (a crash) and the next job runs elsewhere."""
    import time

    results = {}
    with LocalExecutor(1) as executor:
        for item, outcome in executor.map_unordered(misbehave, ["a", "exit", "b", "c"],
                                                    timeout_s=30):
            results[item] = outcome
            if item == "a":
                time.sleep(0.5)  # the worker has died by the time the next job is sent
    assert sorted(results) == ["a", "b", "c", "exit"]
    crash = results["exit"].failure
    assert crash.kind == "crash" and "exit code 7" in crash.message
    assert [results[k].value for k in "abc"] == ["A", "B", "C"]
