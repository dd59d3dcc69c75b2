"""Per-process memory of results by a digest of their inputs."""

from __future__ import annotations

import numpy as np
import pytest

from imagination.adapters.baselines.memo import InputMemo, input_digest


def test_digest_tells_arrays_apart_by_bytes_dtype_and_shape():
    a = np.arange(6, dtype=np.float32)
    assert input_digest([a, "x"]) == input_digest([a.copy(), "x"])
    assert input_digest([a]) != input_digest([a.astype(np.float64)])
    assert input_digest([a]) != input_digest([a.reshape(2, 3)])
    b = a.copy()
    b[5] = np.nextafter(b[5], np.float32(10))  # one ulp
    assert input_digest([a]) != input_digest([b])
    assert input_digest([None, 1]) != input_digest([1, None])


def test_memo_computes_once_per_input_and_forgets_the_oldest():
    calls: list[int] = []
    memo: InputMemo[np.ndarray] = InputMemo(2)

    def compute(value: int) -> np.ndarray:
        calls.append(value)
        return np.full(3, value)

    first = memo.get(input_digest([1]), lambda: compute(1))
    assert memo.get(input_digest([1]), lambda: compute(1)) is first
    memo.get(input_digest([2]), lambda: compute(2))
    memo.get(input_digest([3]), lambda: compute(3))  # 1 is the oldest: dropped
    memo.get(input_digest([1]), lambda: compute(1))
    assert calls == [1, 2, 3, 1]
    with pytest.raises(ValueError):
        first[0] = 9  # results are read-only


def test_a_determinism_repeat_reuses_nothing_remembered(monkeypatch) -> None:
    """Repeats check that a model gives the same output when run again: a repeat job starts
    with every memo of its worker empty, so it really recomputes."""
    from types import SimpleNamespace

    import imagination.engine.jobs as jobs

    memo: InputMemo[int] = InputMemo(4)
    calls: list[int] = []
    memo.get(b"k", lambda: calls.append(1) or 1)

    class Stop(Exception):
        pass

    def stop(_spec: object) -> None:
        raise Stop

    monkeypatch.setattr(jobs, "adapter_for", stop)
    clean = SimpleNamespace(variant=SimpleNamespace(repeat=0))
    with pytest.raises(Stop):
        jobs._work(clean)  # type: ignore[arg-type]
    memo.get(b"k", lambda: calls.append(2) or 2)
    assert calls == [1]  # a clean job keeps the memo
    repeat = SimpleNamespace(variant=SimpleNamespace(repeat=1))
    with pytest.raises(Stop):
        jobs._work(repeat)  # type: ignore[arg-type]
    memo.get(b"k", lambda: calls.append(3) or 3)
    assert calls == [1, 3]
