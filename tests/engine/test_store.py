"""Prediction store: exact round-trips, atomic publication, torn objects, concurrent writers."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from imagination.engine.cost import Cost
from imagination.engine.hashing import cache_name, clear_memo, file_digest
from imagination.engine.store import JobRecord, PredictionStore

from .jobs import write_records

KEY = "ab" + "0" * 62


def record(key: str = KEY, **overrides) -> JobRecord:
    base = {"key": key, "case_id": "case-007", "adapter": "margin15",
            "perturbation_id": "noise:2", "kind": "predictions",
            "outputs": {"idh": {"mutant": 0.1, "wildtype": 0.9},
                        "recurrence": np.linspace(0, 1, 60, dtype=np.float32).reshape(5, 4, 3)},
            "cost": Cost(wall_s=1.5, cpu_s=1.25, peak_rss_mb=321.0)}
    return JobRecord(**{**base, **overrides})


def test_round_trip_is_exact_and_indexed(tmp_path: Path):
    store = PredictionStore(tmp_path / "store")
    original = record()
    store.put(KEY, original)
    got = store.get(KEY)
    assert got is not None
    assert got.outputs["recurrence"].dtype == np.float32
    assert np.array_equal(got.outputs["recurrence"], original.outputs["recurrence"])
    assert got.outputs["idh"] == original.outputs["idh"]
    assert (got.case_id, got.adapter, got.perturbation_id, got.kind) == (
        "case-007", "margin15", "noise:2", "predictions")
    assert got.cost == original.cost and got.failure is None and got.features is None
    assert store.object_path(KEY) == tmp_path / "store" / "objects" / "ab" / f"{KEY}.rec"
    assert store.has(KEY) and KEY in store and len(store) == 1 and store.keys() == [KEY]
    [row] = store.rows()
    assert (row.status, row.kind, row.cost.peak_rss_mb) == ("ok", "predictions", 321.0)
    journal = store._connection().execute("PRAGMA journal_mode").fetchone()[0]
    assert journal == "wal"


def test_failures_and_features_are_stored_with_their_status(tmp_path: Path):
    store = PredictionStore(tmp_path)
    failed = record("cd" + "1" * 62, outputs={},
                    failure={"kind": "timeout", "reason": "Timeout: ran longer than 60 s"})
    features = record("ef" + "2" * 62, kind="features", outputs={},
                      features={"volume_ml": 12.5, "missing": float("nan")})
    store.put(failed.key, failed)
    store.put(features.key, features)
    assert store.get(failed.key).failure["kind"] == "timeout"
    got = store.get(features.key).features
    assert got["volume_ml"] == 12.5 and np.isnan(got["missing"])
    statuses = {row.key: (row.status, row.failure_kind) for row in store.rows()}
    assert statuses == {failed.key: ("failed", "timeout"), features.key: ("ok", None)}


def test_bad_kind_or_mismatched_key_is_refused(tmp_path: Path):
    store = PredictionStore(tmp_path)
    with pytest.raises(ValueError, match="kind"):
        store.put(KEY, record(kind="maps"))
    with pytest.raises(ValueError, match="does not match"):
        store.put("ff" * 32, record())


@settings(max_examples=25, deadline=None)
@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=3, max_dims=3, max_side=6),
                  elements=st.floats(width=32, allow_nan=True, allow_infinity=True)),
       st.dictionaries(st.text(min_size=1, max_size=5),
                       st.floats(0, 1, allow_nan=False), min_size=1, max_size=4))
def test_any_float32_map_and_probabilities_round_trip_bit_exactly(tmp_path_factory, values, probs):
    store = PredictionStore(tmp_path_factory.mktemp("s"))
    store.put(KEY, record(outputs={"recurrence": values, "tumor_type": probs}))
    got = store.get(KEY)
    assert got.outputs["recurrence"].tobytes() == values.tobytes()
    assert got.outputs["tumor_type"] == probs


def test_crash_between_temp_write_and_rename_leaves_nothing_visible(tmp_path: Path, monkeypatch):
    store = PredictionStore(tmp_path)

    def crash(self, target):
        raise OSError("simulated crash before rename")

    monkeypatch.setattr(Path, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        store.put(KEY, record())
    monkeypatch.undo()
    assert not store.has(KEY) and store.get(KEY) is None and len(store) == 0
    assert not store.object_path(KEY).exists()
    assert list(store.object_path(KEY).parent.iterdir()) == []  # temp file removed


def test_object_without_index_row_is_missing(tmp_path: Path):
    """A kill between the rename and the commit: the object is there, the row is not."""
    store = PredictionStore(tmp_path)
    store.put(KEY, record())
    store._connection().execute("DELETE FROM jobs")
    assert not store.has(KEY) and store.get(KEY) is None


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete"])
def test_torn_or_damaged_object_is_treated_as_missing(tmp_path: Path, damage: str):
    store = PredictionStore(tmp_path)
    store.put(KEY, record())
    path = store.object_path(KEY)
    payload = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(payload[: len(payload) // 2])
    elif damage == "flip":
        path.write_bytes(payload[:100] + bytes([payload[100] ^ 0xFF]) + payload[101:])
    else:
        path.unlink()
    assert store.get(KEY) is None
    assert not store.has(KEY) and len(store) == 0
    store.put(KEY, record())  # recomputed
    assert np.array_equal(store.get(KEY).outputs["recurrence"], record().outputs["recurrence"])


def test_several_processes_write_concurrently(tmp_path: Path):
    root = str(tmp_path / "store")
    PredictionStore(root)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(3, mp_context=context) as pool:
        written = [key for keys in pool.map(write_records, [root] * 3, range(3), [25] * 3)
                   for key in keys]
    store = PredictionStore(root)
    assert sorted(written) == store.keys() and len(store) == 75
    for key in written:
        got = store.get(key)
        writer, index = int(key[:2]), int(key[2:])
        expected = np.random.default_rng(writer * 1000 + index).random((6, 5, 4),
                                                                       dtype=np.float32)
        assert got.adapter == f"writer{writer}"
        assert np.array_equal(got.outputs["recurrence"], expected)


def test_kill_minus_9_while_writing_leaves_only_complete_records(tmp_path: Path):
    root = tmp_path / "store"
    PredictionStore(root)
    code = ("import sys; sys.path[:0] = sys.argv[2:]; "
            f"from {__package__}.jobs import write_forever; write_forever(sys.argv[1])")
    writer = subprocess.Popen([sys.executable, "-c", code, str(root), *sys.path])
    store = PredictionStore(root)
    deadline = time.monotonic() + 60
    while len(store) < 3 and time.monotonic() < deadline and writer.poll() is None:
        time.sleep(0.05)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    assert writer.returncode == -signal.SIGKILL
    keys = store.keys()
    assert len(keys) >= 3
    for key in keys:
        assert store.get(key).outputs["recurrence"].shape == (64, 64, 48)
    visible = sorted(p.name for p in root.glob("objects/*/*.rec"))
    assert set(visible) >= {f"{key}.rec" for key in keys}
    assert len(visible) <= len(keys) + 1  # at most the one renamed before its row was committed


def test_store_is_a_persistent_digest_cache(tmp_path: Path):
    image = tmp_path / "t1.nii.gz"
    image.write_bytes(b"voxels")
    store = PredictionStore(tmp_path / "store")
    digest = file_digest(image, cache=store)
    stat = image.resolve().stat()
    reopened = PredictionStore(tmp_path / "store")
    name = cache_name(image.resolve(), stat, None)  # never the absolute path itself
    assert str(tmp_path) not in name
    assert reopened.lookup_digest(name, stat.st_size, stat.st_mtime_ns) == digest
    assert reopened.lookup_digest(name, stat.st_size, 1) is None
    clear_memo()
    file_digest(image, cache=store, root=tmp_path)
    assert reopened.lookup_digest(f"t1.nii.gz@{stat.st_dev}:{stat.st_ino}", stat.st_size,
                                  stat.st_mtime_ns) == digest


def test_store_pickles_to_workers_and_non_durable_mode_round_trips(tmp_path: Path):
    import pickle

    store = PredictionStore(tmp_path, durable=False)
    store.put(KEY, record())
    clone = pickle.loads(pickle.dumps(store))
    assert clone.durable is False and clone.root == store.root
    assert np.array_equal(clone.get(KEY).outputs["recurrence"], record().outputs["recurrence"])


def test_failure_details_that_are_not_json_are_kept_as_text(tmp_path: Path):
    store = PredictionStore(tmp_path)
    failed = record(outputs={},
                    failure={"kind": "error", "reason": "bad", "file": Path("/data/t1.nii.gz")})
    store.put(KEY, failed)
    assert store.get(KEY).failure == {"kind": "error", "reason": "bad", "file": "/data/t1.nii.gz"}


def test_encoded_records_from_a_worker_store_the_same_bytes_and_index(tmp_path: Path):
    from imagination.engine.store import encode_record

    direct, encoded = PredictionStore(tmp_path / "a"), PredictionStore(tmp_path / "b")
    direct.put(KEY, record())
    encoded.put_encoded(KEY, encode_record(record()))
    assert direct.object_path(KEY).read_bytes() == encoded.object_path(KEY).read_bytes()
    got = encoded.get(KEY)
    assert got is not None and np.array_equal(got.outputs["recurrence"],
                                              record().outputs["recurrence"])
    [row] = encoded.rows()
    assert (row.status, row.cost.cpu_s) == ("ok", 1.25)
    with pytest.raises(ValueError, match="does not match"):
        encoded.put_encoded("cd" + "0" * 62, encode_record(record()))
