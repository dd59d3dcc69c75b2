"""Case affinity of the local executor: jobs of one case go to the worker holding that case."""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from imagination.engine.executors import LocalExecutor, _Dispatcher

from .jobs import worker_pid


def _drain(dispatcher: _Dispatcher, n_workers: int, seed: int) -> list[tuple[int, str]]:
    """Hand everything out to ``n_workers`` simulated workers asking in a random order."""
    rng = random.Random(seed)
    held: list[object] = [None] * n_workers
    given_out = []
    while True:
        worker = rng.randrange(n_workers)
        others = {k for i, k in enumerate(held) if i != worker}
        try:
            item = dispatcher.next_for(held[worker], others)
        except StopIteration:
            return given_out
        held[worker] = dispatcher.key(item)
        given_out.append((worker, item))


def test_each_worker_keeps_its_case_until_it_has_no_jobs_left():
    items = [f"{case}{i}" for case in "abcd" for i in range(4)]
    dispatcher = _Dispatcher(items, affinity=lambda item: item[0])
    a = dispatcher.next_for(None, set())
    b = dispatcher.next_for(None, {"a"})
    assert (a, b) == ("a0", "b0")  # the second worker opens a case nobody holds
    assert [dispatcher.next_for("a", {"b"}) for _ in range(3)] == ["a1", "a2", "a3"]
    assert dispatcher.next_for("a", {"b"}) == "c0"  # a is done: a fresh case, not b's
    assert dispatcher.next_for("b", {"c"}) == "b1"


def test_without_anything_free_an_idle_worker_helps_the_busiest_case():
    dispatcher = _Dispatcher(["a0", "a1", "a2", "b0"], affinity=lambda item: item[0])
    assert dispatcher.next_for(None, set()) == "a0"
    assert dispatcher.next_for(None, {"a"}) == "b0"
    assert dispatcher.next_for("b", {"a"}) == "a1"  # no idle tail at the end of the plan


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from("abcdefgh"), min_size=0, max_size=60), st.integers(1, 4),
       st.integers(0, 10_000))
def test_every_item_is_handed_out_exactly_once(keys: list[str], n_workers: int, seed: int):
    items = [f"{k}{i}" for i, k in enumerate(keys)]
    given_out = _drain(_Dispatcher(items, affinity=lambda item: item[0]), n_workers, seed)
    assert Counter(item for _, item in given_out) == Counter(items)
    # one worker: the case-ordered input is handed out in order
    ordered = sorted(items, key=lambda item: item[0])
    alone = _drain(_Dispatcher(ordered, affinity=lambda item: item[0]), 1, seed)
    assert [item for _, item in alone] == ordered


def test_local_workers_run_a_case_on_one_worker_and_return_every_result():
    items = [case * 10 + i for case in range(4) for i in range(5)]
    with LocalExecutor(2) as executor:
        results = list(executor.map_unordered(worker_pid, items, timeout_s=60,
                                               affinity=lambda item: item // 10))
    assert sorted(item for item, _ in results) == items
    assert all(outcome.ok for _, outcome in results)
    pids_per_case = {case: {o.value for item, o in results if item // 10 == case}
                     for case in range(4)}
    # each worker opens its own case; only the very last jobs may be shared
    assert sum(len(p) == 1 for p in pids_per_case.values()) >= 2
