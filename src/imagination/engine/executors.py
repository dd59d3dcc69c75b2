"""Executors: run one function over many jobs, isolating each job's failure.

``map_unordered(fn, items, timeout_s=...)`` yields ``(item, Outcome)`` pairs as jobs finish. An
:class:`Outcome` holds the job's return value or a :class:`Failure` (exception type, message and
traceback text; a timeout; or a crash of the process that ran it). A job's own error never
raises out of the executor; the caller orders results by key, so completion order is free.

Local executor, chosen design: ``workers`` long-lived worker processes (``forkserver`` start
method on Linux, ``spawn`` elsewhere), each running one job at a time and fed through its own
pipe. A worker holds its running job and, while more jobs wait, one queued behind it (small job
messages only, so a send never blocks on a full pipe): it starts the next job the moment it
sends a result, instead of idling while the parent stores that result and picks the next job.
Items are pulled lazily, so a plan of any size is never held in worker memory. With an
``affinity`` key (the bench's: the job's case), an idle worker gets the next job of the key it
ran last, so the case it holds in memory is reused; a worker with none left opens a key no other
worker holds, looking ahead a bounded number of jobs; only when nothing else is left does it
take a job of another worker's key (no idle tail; a job is queued behind a running one only
while at least as many jobs wait as there are workers).
``concurrent.futures.ProcessPoolExecutor`` is not used because it cannot stop one hung job, and
one crashed worker breaks the whole pool and fails every pending future without saying which job
crashed. Here the parent knows which job each worker runs: a job past its timeout gets its
worker killed (SIGKILL) and replaced; a worker that dies (segfault, ``os._exit``, OOM kill)
fails exactly its own job, with the exit code, and is replaced. The job queued behind it had not
started: it goes back to the queue. Other jobs are not disturbed. ``workers=1`` without a
timeout runs jobs in the calling process (easy to debug, same outcomes). Jobs run with
BLAS/OpenMP pools limited to one thread everywhere (environment variables set before a worker
imports them, ``threadpoolctl`` for libraries already loaded, ITK's global default for jobs run
in the calling process, Dask's own worker environment), so results do not depend on the
executor or the worker count, and workers do not oversubscribe the cores.

Dask executor: a ``distributed.Client`` to a scheduler address, or a ``LocalCluster`` of
``workers`` single-threaded worker processes. Jobs are submitted in a bounded window and
collected with ``as_completed``. Errors are captured inside the task. A timeout is enforced in
the task (the job runs in a helper thread); on expiry the job's failure is returned at once and
the worker is restarted through its nanny, which kills the stuck thread. A job that kills its
worker is retried by the scheduler up to ``distributed.scheduler.allowed-failures`` times, then
reported as a ``crash`` (the executor's own ``LocalCluster`` sets that to 0, with a worker
saturation of 1.0 so that only the running job is blamed).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import sys
import threading
import time
import traceback
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.reduction import ForkingPickler
from typing import Any, Generic, Literal, Protocol, TypeVar

import psutil
from threadpoolctl import threadpool_limits

from imagination.errors import InputError, RunIncomplete
from imagination.signals import sigint_blocked

_log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

FailureKind = Literal["error", "timeout", "crash"]
ExecutorKind = Literal["local", "dask"]
_KILL_GRACE_S = 5.0
_STARTUP_GRACE_S = 120.0
_WINDOW_REFRESH_S = 2.0
_SUBMIT_ATTEMPTS = 3
_STARTED = "started"
#: Largest job message (function + item) queued behind a running job: two such messages fit
#: in any socket buffer, so the parent's send cannot block while the worker sends its result.
_QUEUE_MESSAGE_MAX = 32 * 1024
#: Jobs an affinity-aware local map pulls ahead of the workers, at most.
_LOOKAHEAD = 256
#: Thread-pool sizes for worker processes: one job per core, no oversubscription.
SINGLE_THREAD_ENV: dict[str, str] = {
    "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS": "1",
}


@dataclass(frozen=True)
class Failure:
    """Why a job produced no result."""

    kind: FailureKind
    exc_type: str
    message: str
    traceback: str = ""

    @property
    def reason(self) -> str:
        return f"{self.exc_type}: {self.message}" if self.message else self.exc_type

    def to_dict(self) -> dict[str, str]:
        """The form stored in ``JobRecord.failure``."""
        return {"kind": self.kind, "reason": self.reason, "exc_type": self.exc_type,
                "message": self.message, "traceback": self.traceback}


@dataclass(frozen=True)
class Outcome(Generic[R]):
    """A job's result, or its failure; ``wall_s`` is the job's elapsed time as seen by the
    process that ran it (for a timeout, the time until it was abandoned)."""

    value: R | None = None
    failure: Failure | None = None
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.failure is None


class Executor(Protocol):
    """Runs ``fn`` over ``items``; never raises for a job's own error."""

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T], *,
                      timeout_s: float | None = None,
                      affinity: Callable[[T], Hashable] | None = None,
                      ) -> Iterator[tuple[T, Outcome[R]]]:
        ...

    def runs_in_process(self, timeout_s: float | None) -> bool:
        """Whether ``map_unordered`` with this timeout runs jobs in the calling process."""
        ...

    def close(self) -> None:
        ...

    def __enter__(self) -> Executor:
        ...

    def __exit__(self, *exc: object) -> None:
        ...


def _qualified_name(exc: BaseException) -> str:
    cls = type(exc)
    return cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _error_outcome(exc: BaseException, wall_s: float) -> Outcome[Any]:
    text = "".join(traceback.format_exception(exc))
    return Outcome(failure=Failure("error", _qualified_name(exc), str(exc), text), wall_s=wall_s)


def run_captured(fn: Callable[[T], R], item: T) -> Outcome[R]:
    """Run one job in this process, turning its exception into a failed :class:`Outcome`.

    ``KeyboardInterrupt`` propagates (the user stops the run, not the job).
    """
    started = time.perf_counter()
    try:
        value = fn(item)
    except (Exception, SystemExit) as exc:
        return _error_outcome(exc, time.perf_counter() - started)
    return Outcome(value=value, wall_s=time.perf_counter() - started)


# -- local: supervised worker processes -------------------------------------------------------

def _process_alive(pid: int, created: float) -> bool:
    try:
        process = psutil.Process(pid)
        return process.create_time() == created and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _exit_when_orphaned(owner_pid: int, owner_created: float) -> None:
    """End this worker (even mid-job) once the process that owns the pool is gone, e.g. after
    ``kill -9`` of the run, so that a resumed run does not compete with orphans. (The
    forkserver stays alive as long as its children do, so the parent pid cannot be watched.)"""
    while _process_alive(owner_pid, owner_created):
        time.sleep(1.0)
    os._exit(1)


@contextlib.contextmanager
def single_threaded_pools() -> Iterator[None]:
    """BLAS/OpenMP pools and ITK's filters at one thread while jobs run in this process, as in
    a worker process (whose environment sets them before anything is imported). ITK reads
    its environment variable once, so its global default is set and restored here."""
    import SimpleITK as sitk  # a core dependency; every in-process job can reach ITK

    before = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(before)


def _worker_main(conn: multiprocessing.connection.Connection, owner: tuple[int, float]) -> None:
    """Worker loop: receive ``(fn, item)``, send back an Outcome; exit on ``None`` or EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    for name, value in SINGLE_THREAD_ENV.items():
        os.environ.setdefault(name, value)
    threadpool_limits(limits=1)  # for libraries the start method had already loaded
    threading.Thread(target=_exit_when_orphaned, args=owner, daemon=True,
                     name="imagination-orphan-watch").start()
    loaded: tuple[bytes, Callable[[Any], Any]] | None = None  # the last function, unpickled
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        fn_payload, item_payload = message
        try:
            conn.send(_STARTED)
        except (EOFError, OSError):
            return
        started = time.perf_counter()
        try:  # unpickling imports the job's modules: their errors are this job's failure
            if loaded is None or loaded[0] != fn_payload:
                loaded = (fn_payload, pickle.loads(fn_payload))
            item = pickle.loads(item_payload)
        except Exception as exc:
            outcome = _error_outcome(exc, time.perf_counter() - started)
        else:
            outcome = run_captured(loaded[1], item)
        try:
            conn.send(outcome)
        except (EOFError, OSError):
            return
        except Exception as exc:  # the result itself could not be pickled
            conn.send(_error_outcome(
                RuntimeError(f"the job's result could not be sent back: {exc}"), outcome.wall_s))


def _start_method() -> str:
    return "forkserver" if sys.platform.startswith("linux") else "spawn"


@dataclass
class _Job:
    """The job a worker runs: submitted to the pipe, then started once the worker has
    unpickled it (first use of a worker includes its imports, which the timeout excludes)."""

    item: Any
    submitted: float
    started: float | None = None

    def deadline(self, timeout_s: float) -> float:
        if self.started is None:
            return self.submitted + timeout_s + _STARTUP_GRACE_S
        return self.started + timeout_s


class _Worker:
    """One worker process, the job it is running and at most one queued behind it."""

    def __init__(self, context: Any) -> None:
        parent_end, child_end = context.Pipe(duplex=True)
        self.conn = parent_end
        owner = (os.getpid(), psutil.Process().create_time())
        self.process = context.Process(target=_worker_main, args=(child_end, owner),
                                       name="imagination-worker", daemon=True)
        _start_resource_tracker()
        with sigint_blocked():  # the worker (and a fork server started now) ignore Ctrl-C
            self.process.start()
        child_end.close()
        #: Jobs sent, in the order the worker runs them: the running one first.
        self.jobs: deque[_Job] = deque()
        #: Affinity key of the last job sent to this worker (its cached case).
        self.affinity: Hashable = None

    @property
    def job(self) -> _Job | None:
        """The job running (or about to start) in this worker."""
        return self.jobs[0] if self.jobs else None

    def submit(self, fn_payload: bytes, item: Any, item_payload: bytes) -> None:
        """Send a pickled job; raises ``OSError`` if the worker is gone."""
        self.conn.send((fn_payload, item_payload))
        self.jobs.append(_Job(item, time.monotonic()))

    def finish_head(self) -> _Job:
        """Drop the finished running job; the queued one (if any) is next, its clock reset."""
        job = self.jobs.popleft()
        if self.jobs:
            self.jobs[0].submitted = time.monotonic()
        return job

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(_KILL_GRACE_S)
        self.conn.close()

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(None)
        self.process.join(_KILL_GRACE_S)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(_KILL_GRACE_S)
        self.conn.close()


def _shutdown(workers: list[_Worker]) -> None:
    for worker in workers:
        if not worker.jobs:
            worker.stop()
        else:
            worker.kill()
    workers.clear()


class _Dispatcher(Generic[T]):
    """Hands out the items of a lazy iterable by affinity key (see the module docstring)."""

    def __init__(self, items: Iterable[T], affinity: Callable[[T], Hashable] | None) -> None:
        self._source = iter(items)
        self._affinity = affinity
        self._buffer: OrderedDict[Hashable, deque[T]] = OrderedDict()
        self._buffered = 0
        self._exhausted = False

    def key(self, item: T) -> Hashable:
        return None if self._affinity is None else self._affinity(item)

    def _pull(self) -> bool:
        if self._exhausted:
            return False
        try:
            item = next(self._source)
        except StopIteration:
            self._exhausted = True
            return False
        self._buffer.setdefault(self.key(item), deque()).append(item)
        self._buffered += 1
        return True

    def _take(self, key: Hashable) -> T:
        queue = self._buffer[key]
        item = queue.popleft()
        if not queue:
            del self._buffer[key]
        self._buffered -= 1
        return item

    def give_back(self, item: T) -> None:
        """Put back an item that was handed out but never started (it is handed out next)."""
        key = self.key(item)
        self._buffer.setdefault(key, deque()).appendleft(item)
        self._buffer.move_to_end(key, last=False)
        self._buffered += 1

    def waiting_at_least(self, count: int) -> bool:
        """Whether at least ``count`` items are left (pulls ahead, within the look-ahead)."""
        while self._buffered < count and self._buffered < _LOOKAHEAD and self._pull():
            pass
        return self._buffered >= count

    def next_for(self, mine: Hashable, held: set[Hashable]) -> T:
        """The next item for a worker that last ran key ``mine`` while other workers hold the
        keys ``held``; ``StopIteration`` when none is left."""
        if self._affinity is None:
            if not self._buffered and not self._pull():
                raise StopIteration
            return self._take(next(iter(self._buffer)))
        if mine is not None and mine not in self._buffer and self._buffered < _LOOKAHEAD:
            self._pull()  # the source may go on with this worker's case
        while True:
            if mine in self._buffer:
                return self._take(mine)
            free = next((k for k in self._buffer if k not in held), _NONE)
            if free is not _NONE:
                return self._take(free)
            if self._buffered >= _LOOKAHEAD or not self._pull():
                break
        if not self._buffer:
            raise StopIteration
        # every key left is held by another worker: help with the one with most jobs left
        return self._take(max(self._buffer, key=lambda k: len(self._buffer[k])))


_NONE = object()


def start_fork_server(preload: Sequence[str]) -> None:
    """Start the local workers' fork server now, in the background, so that it imports
    ``preload`` while the caller goes on (planning); workers then fork from a warm server.
    No-op where workers are spawned."""
    if _start_method() != "forkserver":
        return
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(preload))
    from multiprocessing import forkserver

    _start_resource_tracker()
    with sigint_blocked():  # the thread, and the server it spawns, inherit a blocked SIGINT
        threading.Thread(target=forkserver.ensure_running, name="imagination-forkserver",
                         daemon=True).start()


def _start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker outside any :func:`sigint_blocked` block:
    starting it ends with ``SIG_UNBLOCK`` of SIGINT in the calling thread (CPython protects
    the tracker that way), which would let a fork server spawned next hear Ctrl-C while it
    imports. Once it runs, the fork server's own start leaves the mask alone."""
    if _start_method() == "forkserver":
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()


class LocalExecutor:
    """Jobs on this machine: in-process (1 worker, no timeout) or supervised worker processes."""

    def __init__(self, workers: int = 1, *, preload: Sequence[str] = ()) -> None:
        if workers < 1:
            raise InputError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        self._context = multiprocessing.get_context(_start_method())
        if preload and _start_method() == "forkserver":
            # modules imported once by the fork server, so each worker starts warm
            self._context.set_forkserver_preload(list(preload))
        self._pool: list[_Worker] = []
        self._finalizer = weakref.finalize(self, _shutdown, self._pool)

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the worker processes (they are restarted if the executor is used again)."""
        _shutdown(self._pool)

    def runs_in_process(self, timeout_s: float | None) -> bool:
        """One worker and no timeout: jobs run in the calling process."""
        return self.workers == 1 and timeout_s is None

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T], *,
                      timeout_s: float | None = None,
                      affinity: Callable[[T], Hashable] | None = None,
                      ) -> Iterator[tuple[T, Outcome[R]]]:
        """Run ``fn`` over ``items``; ``affinity``: jobs of one key go to the worker that ran
        that key last (see the module docstring)."""
        if timeout_s is not None and timeout_s <= 0:
            raise InputError(f"timeout must be positive, got {timeout_s}")
        if self.runs_in_process(timeout_s):
            with single_threaded_pools():
                for item in items:
                    yield item, run_captured(fn, item)
            return
        yield from self._map_in_workers(fn, _Dispatcher(items, affinity), timeout_s)

    def _retire(self, worker: _Worker, pending: _Dispatcher[Any]) -> None:
        """Drop a dead or killed worker (a fresh one starts when a job needs it); jobs queued
        behind its running one go back to ``pending``."""
        self._pool.remove(worker)
        for queued in list(worker.jobs)[:0:-1]:  # newest first, so the oldest is next
            pending.give_back(queued.item)
        worker.jobs.clear()
        worker.kill()

    def _next_worker(self, pending: _Dispatcher[Any]) -> tuple[_Worker | None, bool]:
        """The worker to send the next job to (``None``: start a new one) and whether one is
        to be sent at all: an idle worker first, then a new one, then one with a running job
        but nothing queued, while enough jobs wait that no other worker would idle for it."""
        idle = next((w for w in self._pool if not w.jobs), None)
        if idle is not None:
            return idle, True
        if len(self._pool) < self.workers:
            return None, True
        single = next((w for w in self._pool if len(w.jobs) == 1), None)
        if single is not None and pending.waiting_at_least(self.workers):
            return single, True
        return None, False

    def _map_in_workers(self, fn: Callable[[T], R], pending: _Dispatcher[T],
                        timeout_s: float | None) -> Iterator[tuple[T, Outcome[R]]]:
        fn_payload: bytes | None = None
        finished_normally = False
        try:
            while True:
                # give every idle worker a job; start workers only when jobs wait for them
                # (an empty or short map starts none or few: a warm re-run starts none)
                exhausted = False  # a job given back by a lost worker is handed out again
                while not exhausted:
                    worker, send = self._next_worker(pending)
                    if not send:
                        break
                    held = {w.affinity for w in self._pool if w is not worker}
                    try:
                        item = pending.next_for(None if worker is None else worker.affinity,
                                                held)
                    except StopIteration:
                        exhausted = True
                        break
                    try:
                        fn_payload = fn_payload or bytes(ForkingPickler.dumps(fn))
                        item_payload = bytes(ForkingPickler.dumps(item))
                    except Exception as exc:  # the job cannot be sent to another process
                        yield item, _error_outcome(exc, 0.0)
                        continue
                    if (worker is not None and worker.jobs
                            and len(fn_payload) + len(item_payload) > _QUEUE_MESSAGE_MAX):
                        worker = next((w for w in self._pool if not w.jobs), None)
                        if worker is None and len(self._pool) >= self.workers:
                            pending.give_back(item)  # too big to queue: wait for an idle one
                            break
                    given_back = False
                    for _attempt in range(_SUBMIT_ATTEMPTS):
                        if worker is None:
                            worker = _Worker(self._context)
                            self._pool.append(worker)
                        try:
                            worker.submit(fn_payload, item, item_payload)
                            worker.affinity = pending.key(item)
                            break
                        except OSError:
                            if worker.jobs:  # a busy worker died: collecting reports its job
                                pending.give_back(item)
                                given_back = True
                                break
                            self._retire(worker, pending)  # an idle one died (OOM killer?)
                            worker = next((w for w in self._pool if not w.jobs), None)
                    else:
                        raise RunIncomplete("worker processes die before taking a job; "
                                            "check memory limits, then run the same command")
                    if given_back:
                        break  # collect what the dead worker leaves first
                busy = [w for w in self._pool if w.job is not None]
                if not busy:
                    if exhausted:
                        finished_normally = True
                        return
                    continue
                wait_s = None
                if timeout_s is not None:
                    next_deadline = min(w.job.deadline(timeout_s) for w in busy if w.job)
                    wait_s = max(0.0, next_deadline - time.monotonic())
                multiprocessing.connection.wait(
                    [w.conn for w in busy] + [w.process.sentinel for w in busy], timeout=wait_s)
                for worker in busy:
                    result = self._collect(worker, timeout_s, pending)
                    if result is not None:
                        yield result
        finally:
            if not finished_normally:  # interrupted or abandoned: kill jobs still running
                for worker in [w for w in self._pool if w.jobs]:
                    worker.kill()
                    self._pool.remove(worker)

    def _collect(self, worker: _Worker, timeout_s: float | None, pending: _Dispatcher[Any]
                 ) -> tuple[Any, Outcome[Any]] | None:
        """The finished, crashed or timed-out running job of ``worker``, if any."""
        job = worker.job
        assert job is not None
        lost = False
        while not lost and worker.conn.poll():
            try:
                message = worker.conn.recv()
            except (EOFError, OSError):
                lost = True
                break
            if message == _STARTED:
                job.started = time.monotonic()
                continue
            worker.finish_head()
            return job.item, message
        elapsed = time.monotonic() - (job.started or job.submitted)
        if lost or not worker.process.is_alive():
            worker.process.join(_KILL_GRACE_S)
            code = worker.process.exitcode
            how = (f"killed by signal {signal.Signals(-code).name}" if code is not None
                   and code < 0 and -code in signal.valid_signals() else f"exit code {code}")
            self._retire(worker, pending)
            message = f"the worker process running this job died ({how})"
            return job.item, Outcome(failure=Failure("crash", "WorkerCrash", message),
                                     wall_s=elapsed)
        if timeout_s is not None and time.monotonic() >= job.deadline(timeout_s):
            worker.kill()
            self._retire(worker, pending)
            message = f"the job ran longer than its timeout of {timeout_s:g} s and was stopped"
            return job.item, Outcome(failure=Failure("timeout", "Timeout", message),
                                     wall_s=elapsed)
        return None


# -- Dask ---------------------------------------------------------------------------------------

def _run_with_timeout(fn: Callable[[T], R], item: T,
                      timeout_s: float | None) -> tuple[Outcome[R], str | None]:
    """Dask task body: the job's Outcome and, after a timeout, the worker to restart."""
    if timeout_s is None:
        return run_captured(fn, item), None
    box: list[Outcome[R]] = []
    thread = threading.Thread(target=lambda: box.append(run_captured(fn, item)),
                              name="imagination-job", daemon=True)
    started = time.perf_counter()
    thread.start()
    thread.join(timeout_s)
    if box:
        return box[0], None
    from distributed import get_worker

    message = f"the job ran longer than its timeout of {timeout_s:g} s and was stopped"
    failure = Failure("timeout", "Timeout", message)
    return Outcome(failure=failure, wall_s=time.perf_counter() - started), get_worker().address


class DaskExecutor:
    """Jobs on a Dask cluster: a scheduler address, or a LocalCluster of ``workers`` processes."""

    def __init__(self, scheduler_address: str | None = None, workers: int = 1, *,
                 connect_timeout_s: float = 30.0) -> None:
        if workers < 1:
            raise InputError(f"workers must be at least 1, got {workers}")
        self.scheduler_address = scheduler_address
        self.connect_timeout_s = connect_timeout_s
        self.workers = workers
        self._client: Any = None
        self._cluster: Any = None

    @property
    def client(self) -> Any:
        """The ``distributed.Client``, connected (or its LocalCluster started) on first use."""
        if self._client is None:
            self._client = self._connect()
        return self._client

    def _connect(self) -> Any:
        import dask
        from distributed import Client, LocalCluster

        try:
            if self.scheduler_address:
                return Client(self.scheduler_address, timeout=self.connect_timeout_s)
            with dask.config.set({"distributed.scheduler.allowed-failures": 0,
                                  "distributed.scheduler.worker-saturation": 1.0}):
                self._cluster = LocalCluster(
                    n_workers=self.workers, threads_per_worker=1, processes=True,
                    dashboard_address=":0", silence_logs=logging.ERROR,
                    env=dict(SINGLE_THREAD_ENV))
                client = Client(self._cluster)
                _log.info("Dask local cluster of %d workers; dashboard %s", self.workers,
                          client.dashboard_link)
                return client
        except (OSError, TimeoutError) as exc:
            where = self.scheduler_address or "a local cluster"
            raise InputError(f"cannot connect to the Dask scheduler at {where}: {exc}") from exc

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def _window(self) -> int:
        """Jobs kept submitted: twice the cluster's threads, so workers never wait, while the
        client holds only a bounded slice of the plan."""
        threads = sum(self.client.nthreads().values()) or 1
        return max(2 * threads, 4)

    def runs_in_process(self, timeout_s: float | None) -> bool:
        """Never: jobs run on the cluster's workers."""
        return False

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T], *,
                      timeout_s: float | None = None,
                      affinity: Callable[[T], Hashable] | None = None,
                      ) -> Iterator[tuple[T, Outcome[R]]]:
        """Run ``fn`` over ``items`` on the cluster (``affinity`` is left to Dask's own
        scheduling, which places tasks by data locality)."""
        from distributed import as_completed

        if timeout_s is not None and timeout_s <= 0:
            raise InputError(f"timeout must be positive, got {timeout_s}")
        pending = iter(items)
        try:
            first = next(pending)
        except StopIteration:  # nothing to run: no cluster is started or contacted
            return
        pending = itertools.chain([first], pending)
        client = self.client
        in_flight: dict[str, tuple[T, Any]] = {}
        queue = as_completed()
        window = self._window()
        window_checked = time.monotonic()

        def submit_next() -> bool:
            try:
                item = next(pending)
            except StopIteration:
                return False
            future = client.submit(_run_with_timeout, fn, item, timeout_s, pure=False)
            in_flight[future.key] = (item, future)
            queue.add(future)
            return True

        try:
            while len(in_flight) < window and submit_next():
                pass
            for future in queue:
                item, _ = in_flight.pop(future.key)
                try:
                    outcome, restart = future.result()
                except Exception as exc:  # KilledWorker, lost worker, unpicklable job
                    outcome, restart = self._infrastructure_failure(exc), None
                future.release()
                if restart is not None:
                    self._restart(client, restart)
                yield item, outcome
                if time.monotonic() - window_checked > _WINDOW_REFRESH_S:  # workers join late
                    window, window_checked = self._window(), time.monotonic()
                while len(in_flight) < window and submit_next():
                    pass
        finally:
            if in_flight:
                client.cancel([future for _, future in in_flight.values()], force=True)

    @staticmethod
    def _restart(client: Any, worker: str) -> None:
        """Restart the worker a timed-out job still occupies (needs a nanny)."""
        status = client.restart_workers([worker], raise_for_error=False).get(worker)
        if status != "OK":
            _log.warning("could not restart Dask worker %s after a job timeout (%s); its "
                         "thread stays busy until the job ends", worker, status)

    @staticmethod
    def _infrastructure_failure(exc: Exception) -> Outcome[Any]:
        from distributed import KilledWorker

        if isinstance(exc, KilledWorker):
            message = f"the worker process running this job died ({exc})"
            return Outcome(failure=Failure("crash", "WorkerCrash", message))
        return _error_outcome(exc, 0.0)


def make_executor(kind: ExecutorKind, workers: int = 1, scheduler: str | None = None, *,
                  preload: Sequence[str] = ()) -> LocalExecutor | DaskExecutor:
    """The executor a config or the command line asks for (use it as a context manager).
    ``preload``: modules the local workers' fork server imports once."""
    if kind == "local":
        if scheduler:
            raise InputError("--scheduler only applies to the dask executor")
        return LocalExecutor(workers, preload=preload)
    if kind == "dask":
        return DaskExecutor(scheduler, workers)
    raise InputError(f"unknown executor {kind!r}; allowed: local, dask")

