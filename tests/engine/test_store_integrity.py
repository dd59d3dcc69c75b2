"""Store integrity (issue 13 item 5): damaged objects, damaged indexes, old formats, the run lock,
garbage collection; every damage kind ends in correct tables or a clear message, never a
traceback."""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from imagination.config import load_config
from imagination.engine import runlock
from imagination.engine.arraycodec import decode_array, encode_array
from imagination.engine.bench import run_bench
from imagination.engine.cost import Cost
from imagination.engine.gc import collect_run_garbage
from imagination.engine.runs import describe_run
from imagination.engine.store import JobRecord, PredictionStore
from imagination.engine.store_format import unpack
from imagination.errors import InputError, RunIncomplete
from tests.engine.conftest import write_config

TABLES = ("per_case.csv", "leaderboard.csv", "predictions.csv", "comparisons.csv", "sites.csv")
ADAPTERS = [{"name": "margin-15mm"}, {"name": "random"}, {"name": "prevalence"},
            {"name": "age-volume-lr"}]
SRC = str(Path(__file__).parents[2] / "src")


def _record(key: str, seed: int = 0) -> JobRecord:
    rng = np.random.default_rng(seed)
    return JobRecord(key=key, case_id=f"c{seed}", adapter="a", perturbation_id="clean",
                     kind="predictions",
                     outputs={"idh": {"mutant": 0.3, "wildtype": 0.7},
                              "recurrence": rng.random((7, 6, 5), dtype=np.float32)},
                     cost=Cost(1.0, 0.5, 100.0))


def _key(i: int) -> str:
    return f"{i:02x}" + "5" * 62


@pytest.fixture(scope="module")
def reference(bench_cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("integrity")
    config = write_config(folder, bench_cohort, ADAPTERS, tasks=["idh", "recurrence"])
    run_bench(load_config(config), run_dir=folder / "run")
    return folder


def _copy(reference: Path, tmp_path: Path) -> tuple[Path, Path]:
    run = tmp_path / "run"
    shutil.copytree(reference / "run", run)
    return reference / "bench.yaml", run


def _same_tables(run: Path, reference: Path) -> None:
    for name in TABLES:
        assert (run / name).read_bytes() == (reference / "run" / name).read_bytes(), name


# -- objects -------------------------------------------------------------------------------

def test_same_size_damage_is_caught_by_the_checksum_and_recomputed_in_the_same_run(
        reference: Path, tmp_path: Path) -> None:
    config, run = _copy(reference, tmp_path)
    objects = sorted((run / "store" / "objects").glob("*/*.rec"))
    damaged = objects[:: max(1, len(objects) // 4)]
    for path in damaged:  # flip one byte deep in the body: same size, wrong content
        payload = bytearray(path.read_bytes())
        payload[-3] ^= 0x5A
        path.write_bytes(bytes(payload))
    outcome = run_bench(load_config(config), run_dir=run)
    assert outcome.n_computed == len(damaged) and outcome.n_failed == 0
    _same_tables(run, reference)


def test_a_damaged_object_is_missing_for_has_with_verify(tmp_path: Path) -> None:
    store = PredictionStore(tmp_path)
    store.put(_key(1), _record(_key(1)))
    path = store.object_path(_key(1))
    payload = bytearray(path.read_bytes())
    payload[len(payload) // 2] ^= 1
    path.write_bytes(bytes(payload))
    assert store.has(_key(1))  # the size alone still matches
    assert not store.has(_key(1), verify=True)
    assert not path.exists() and len(store) == 0  # dropped, so the job is recomputed


def test_an_object_proves_its_own_integrity_without_the_index(tmp_path: Path) -> None:
    store = PredictionStore(tmp_path)
    store.put(_key(2), _record(_key(2)))
    payload = store.object_path(_key(2)).read_bytes()
    meta, arrays = unpack(payload)
    assert meta["key"] == _key(2) and arrays["recurrence"].shape == (7, 6, 5)
    for position in (20, len(payload) - 1):  # header, body
        bad = bytearray(payload)
        bad[position] ^= 0x10
        with pytest.raises(ValueError):
            unpack(bytes(bad))


def _format1_payload(record: JobRecord) -> bytes:
    """A record as stores of format 1 wrote it: an .npz of meta (JSON as uint8) and the map."""
    meta = {"format": 1, "key": record.key, "case_id": record.case_id,
            "adapter": record.adapter, "perturbation_id": record.perturbation_id,
            "kind": record.kind, "classification": {"idh": record.outputs["idh"]},
            "features": None,
            "failure": None, "cost": record.cost.to_dict()}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
                        recurrence=record.outputs["recurrence"])
    return buffer.getvalue()


def test_format_1_objects_stay_readable_and_newer_stores_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "store"
    old = _record(_key(3), seed=3)
    (root / "objects" / _key(3)[:2]).mkdir(parents=True)
    (root / "objects" / _key(3)[:2] / f"{_key(3)}.npz").write_bytes(_format1_payload(old))
    (root / "index.sqlite").write_bytes(b"\0" * 100)  # forces an index rebuild from objects
    store = PredictionStore(root, repair=True)
    assert store.rebuilt is not None and "1 intact objects" in store.rebuilt
    got = store.get(_key(3))
    assert got is not None
    assert np.array_equal(got.outputs["recurrence"], old.outputs["recurrence"])
    assert got.outputs["idh"] == old.outputs["idh"] and store.has(_key(3), verify=True)
    store._connection().execute("UPDATE store_meta SET value = '99' WHERE name = 'format'")
    store.close()
    with pytest.raises(InputError, match="store format 99 is newer"):
        PredictionStore(root)


# -- the index -------------------------------------------------------------------------------

def _damage_index(index: Path, kind: str) -> None:
    if kind == "garbage":
        index.write_bytes(b"not a database at all " * 50)
    elif kind == "truncated":
        index.write_bytes(index.read_bytes()[:1500])
    elif kind == "pages":  # a valid header, overwritten b-tree pages
        data = bytearray(index.read_bytes())
        for start in range(4096, len(data), 4096):
            data[start:start + 64] = b"\xff" * 64
        index.write_bytes(bytes(data))
    elif kind == "deleted":
        index.unlink()


@pytest.mark.parametrize("kind", ["garbage", "truncated", "pages", "deleted"])
def test_a_damaged_index_is_rebuilt_from_the_objects_with_identical_tables(
        reference: Path, tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture) -> None:
    config, run = _copy(reference, tmp_path)
    index = run / "store" / "index.sqlite"
    with sqlite3.connect(index) as db:  # fold the WAL into the main file first
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for suffix in ("-wal", "-shm"):
        Path(f"{index}{suffix}").unlink(missing_ok=True)
    _damage_index(index, kind)
    if kind != "deleted":
        with pytest.raises(InputError, match="store index is damaged"):
            describe_run(run)  # read-only commands say what to do
    outcome = run_bench(load_config(config), run_dir=run)
    assert outcome.n_computed == 0, "every object was intact: nothing to recompute"
    _same_tables(run, reference)
    if kind != "deleted":
        assert list((run / "store").glob("index.sqlite.damaged-*"))
        assert "store index was damaged" in caplog.text


def test_a_damaged_index_through_the_cli_is_a_message_not_a_traceback(
        reference: Path, tmp_path: Path) -> None:
    config, run = _copy(reference, tmp_path)
    index = run / "store" / "index.sqlite"
    for suffix in ("-wal", "-shm"):
        Path(f"{index}{suffix}").unlink(missing_ok=True)
    index.write_bytes(b"garbage" * 200)
    env = {**os.environ, "PYTHONPATH": SRC}
    shown = subprocess.run([sys.executable, "-m", "imagination", "runs", "show", str(run)],
                           env=env, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 2 and "Traceback" not in shown.stderr + shown.stdout
    assert "store index is damaged" in shown.stderr + shown.stdout
    bench = subprocess.run([sys.executable, "-m", "imagination", "bench", str(config), "--out",
                            str(run), "--quiet"], env=env, capture_output=True, text=True,
                           timeout=300)
    assert bench.returncode == 0, bench.stderr[-2000:]
    assert "Traceback" not in bench.stderr
    assert "store index was damaged" in (run / "bench.log").read_text()
    _same_tables(run, reference)


# -- two processes, one run folder -----------------------------------------------------------

def test_a_second_bench_on_a_locked_run_folder_stops_with_a_clear_message(
        reference: Path, tmp_path: Path) -> None:
    config, run = _copy(reference, tmp_path)
    with runlock.hold(run):
        assert runlock.is_held(run)
        with pytest.raises(RunIncomplete, match="in use by another imagination bench"):
            run_bench(load_config(config), run_dir=run)
        env = {**os.environ, "PYTHONPATH": SRC}
        second = subprocess.run([sys.executable, "-m", "imagination", "bench", str(config),
                                 "--out", str(run), "--quiet"], env=env, capture_output=True,
                                text=True, timeout=300)
        assert second.returncode == 3 and "Traceback" not in second.stderr
        assert f"pid and host: {os.getpid()}" in second.stderr + second.stdout
    assert not runlock.is_held(run)  # released: the same command now works
    assert run_bench(load_config(config), run_dir=run).n_computed == 0


# -- garbage collection ------------------------------------------------------------------------

def test_gc_removes_exactly_what_no_planned_job_refers_to(reference: Path, tmp_path: Path,
                                                          ) -> None:
    _, run = _copy(reference, tmp_path)
    store = PredictionStore(run / "store")
    planned = set(store.keys())
    for i in range(3):  # records of an earlier config
        store.put(_key(200 + i), _record(_key(200 + i), seed=i))
    stale_bytes = sum(store.object_path(_key(200 + i)).stat().st_size for i in range(3))
    orphan = store.objects / "zz" / (".leftover.rec." + "x" * 8 + ".tmp")
    orphan.parent.mkdir()
    orphan.write_bytes(b"a torn temporary file")
    store.close()
    collected = collect_run_garbage(run)
    assert collected.n_objects == 4
    assert collected.n_bytes == stale_bytes + len(b"a torn temporary file")
    assert collected.n_kept == len(planned)
    after = PredictionStore(run / "store")
    assert set(after.keys()) == planned and not orphan.parent.exists()
    assert all(after.has(key, verify=True) for key in planned)
    with pytest.raises(InputError, match=r"no plan\.json"):
        collect_run_garbage(tmp_path)


# -- the array codec ---------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(st.one_of(
    hnp.arrays(st.sampled_from([np.float32, np.float64, np.uint8, np.int16, np.int32]),
               hnp.array_shapes(min_dims=1, max_dims=3, max_side=9)),
    hnp.arrays(np.float32, hnp.array_shapes(min_dims=3, max_dims=3, max_side=9),
               elements=st.sampled_from([0.0, -0.0, 1.5, -2.25, float("nan"), float("inf")]))))
def test_every_array_round_trips_bit_exactly(array: np.ndarray) -> None:
    encoded = encode_array(array)
    back = decode_array(encoded.spec(), encoded.payload)
    assert back.dtype == array.dtype and back.shape == array.shape
    assert back.tobytes() == array.tobytes()


def test_a_distance_map_uses_the_palette_and_beats_deflate() -> None:
    import zlib

    grid = np.indices((40, 40, 30)).astype(np.float32)
    distance = -np.sqrt(((grid - 15.0) ** 2).sum(axis=0)).astype(np.float32)
    encoded = encode_array(distance)
    assert encoded.codec == "palette-zstd"
    assert len(encoded.payload) < len(zlib.compress(distance.tobytes(), 1)) / 2
    assert decode_array(encoded.spec(), encoded.payload).tobytes() == distance.tobytes()


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 65_535), st.integers(0, 2**32 - 1))
def test_the_quick_palette_check_never_refuses_a_map_that_fits(n_values: int, seed: int) -> None:
    from imagination.engine.arraycodec import _too_many_values

    rng = np.random.default_rng(seed)
    values = rng.choice(2**32, size=n_values, replace=False).astype(np.uint32)
    bits = values[rng.integers(0, n_values, size=200_000)]
    bits[:n_values] = values  # every value present
    assert not _too_many_values(bits)


def test_a_map_of_more_distinct_floats_than_a_palette_holds_is_stored_plain() -> None:
    from imagination.engine.arraycodec import _too_many_values

    values = np.arange(70_000, dtype=np.uint32) + np.uint32(0x3F000000)  # 70,000 floats in [0.5, 1)
    assert _too_many_values(values)  # proved by the low bits of all of them
    many = np.arange(600_000, dtype=np.uint32) + np.uint32(0x3F000000)
    assert _too_many_values(many)  # proved by every 8th value alone (75,000 distinct)
    assert not _too_many_values(np.repeat(values[:65_535], 9))  # fits: left to factorisation
    array = values.view(np.float32).reshape(70, 100, 10)
    encoded = encode_array(array)
    assert encoded.codec == "shuffle-zstd"
    assert decode_array(encoded.spec(), encoded.payload).tobytes() == array.tobytes()


def test_a_palette_of_nearly_every_voxel_is_kept_only_where_it_is_smaller() -> None:
    import zstandard

    rng = np.random.default_rng(4)
    distinct = rng.normal(size=(48, 40, 20)).astype(np.float32)  # 38,400 distinct values
    encoded = encode_array(distinct)
    # the plain codec by hand: bytes grouped by position, then zstd (level 3, fast matching)
    shuffled = distinct.reshape(-1).view(np.uint8).reshape(-1, 4).T.tobytes()
    params = zstandard.ZstdCompressionParameters.from_level(3, strategy=zstandard.STRATEGY_FAST)
    plain = zstandard.ZstdCompressor(compression_params=params).compress(shuffled)
    assert encoded.codec == "shuffle-zstd" and encoded.payload == plain
    assert decode_array(encoded.spec(), encoded.payload).tobytes() == distinct.tobytes()
    few = rng.choice(distinct.ravel()[:500], size=distinct.shape)  # 500 values: the palette
    assert encode_array(few).codec == "palette-zstd"


@settings(max_examples=40, deadline=None)
@given(st.sampled_from([np.float32, np.float64, np.uint8, np.int16]),
       st.sampled_from([0.0, -0.0, 3.0, float("nan"), float("-inf")]),
       st.lists(st.integers(0, 18), min_size=6, max_size=6), st.integers(0, 2**32 - 1))
def test_an_array_round_trips_through_its_content_box(dtype: type, fill: float,
                                                      corners: list[int], seed: int) -> None:
    """Background outside a box (possibly empty, possibly the whole array): bit-exact back."""
    array = np.full((18, 16, 17), fill if np.dtype(dtype).kind == "f" else 7, dtype=dtype)
    if np.dtype(dtype).kind == "f" and np.isnan(fill):
        array.view(f"u{array.itemsize}")[...] |= 1  # a NaN with a payload of its own
    box = tuple(slice(min(a, b) % n, max(a, b) % n)
                for a, b, n in zip(corners[::2], corners[1::2], array.shape, strict=True))
    rng = np.random.default_rng(seed)
    array[box] = rng.integers(0, 100, size=array[box].shape).astype(dtype)
    encoded = encode_array(array)
    back = decode_array(encoded.spec(), encoded.payload)
    assert back.dtype == array.dtype and back.shape == array.shape
    assert back.tobytes() == array.tobytes()


def test_only_the_box_around_the_brain_is_compressed() -> None:
    array = np.full((40, 40, 30), -5.0, dtype=np.float32)  # the background, outside the brain
    array[10:20, 5:25, 3:9] = np.random.default_rng(0).random((10, 20, 6), dtype=np.float32)
    array[12, 7, 4] = -5.0  # background inside the box stays part of the box
    encoded = encode_array(array)
    assert encoded.spec()["box"] == [[10, 20], [5, 25], [3, 9]]
    assert encoded.spec()["fill"] == int(np.float32(-5.0).view(np.uint32))
    assert decode_array(encoded.spec(), encoded.payload).tobytes() == array.tobytes()
    with pytest.raises(ValueError, match="box out of range"):
        decode_array({**encoded.spec(), "box": [[10, 41], [5, 25], [3, 9]]}, encoded.payload)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from([np.float16, np.float32, np.float64]),
       st.sampled_from([0.0, -0.0, -7.5, float("nan"), float("-inf")]),
       st.floats(0.0, 1.0), st.integers(0, 2**32 - 1))
def test_a_float_map_with_background_inside_its_box_round_trips_sparse(
        dtype: type, fill: float, share: float, seed: int) -> None:
    """Background scattered through the array: bit-exact back, stored sparse exactly when at
    least a quarter of its content box (all of it unless the map is nearly all background)
    is background."""
    rng = np.random.default_rng(seed)
    array = np.full((20, 18, 16), fill, dtype=dtype)
    if np.isnan(fill):
        array.view(f"u{array.itemsize}")[...] |= 1  # a NaN with a payload of its own
    values = rng.random(array.shape).astype(dtype)
    values[rng.random(array.shape) < 0.1] = 0.0  # +0.0 differs from a -0.0 background
    chosen = rng.random(array.shape) >= share
    chosen[0, 0, 0] = False  # the first element is background
    array[chosen] = values[chosen]
    encoded = encode_array(array)
    spec = encoded.spec()
    back = decode_array(spec, encoded.payload)
    assert back.tobytes() == array.tobytes()
    bits = array.view(f"u{array.itemsize}")
    differs = bits != bits.flat[0]
    inside = tuple(slice(a, b) for a, b in spec.get("box", [[0, n] for n in array.shape]))
    if differs.any():
        spans = [differs.any(axis=tuple(a for a in range(3) if a != k)).nonzero()[0][[0, -1]]
                 for k in range(3)]
        if "box" in spec:  # the box is exactly the span of the non-background elements
            assert all(np.array_equal(spans[k], [inside[k].start, inside[k].stop - 1])
                       for k in range(3))
        else:  # no box: it would not have saved a tenth of the array
            assert np.prod([hi - lo + 1 for lo, hi in spans]) > 0.9 * array.size
    background = int(np.count_nonzero(~differs[inside]))
    assert ("mask_length" in spec) == (background >= 0.25 * differs[inside].size)


def test_a_brain_map_is_stored_as_its_brain_voxels_and_damage_is_refused() -> None:
    grid = np.indices((40, 44, 36)).astype(np.float32)
    inside = ((grid[0] - 20) / 15) ** 2 + ((grid[1] - 22) / 18) ** 2 + ((grid[2] - 18) / 14) ** 2
    brain = inside <= 1.0
    array = np.full(brain.shape, -1.0, dtype=np.float32)
    array[brain] = np.random.default_rng(2).random(int(brain.sum()), dtype=np.float32)
    encoded = encode_array(array)
    spec = encoded.spec()
    assert spec["kept"] == int(brain.sum())  # only the brain's values, by hand count
    assert spec["box"] == [[5, 36], [4, 41], [4, 33]]  # the ellipsoid's extent
    assert decode_array(spec, encoded.payload).tobytes() == array.tobytes()
    with pytest.raises(ValueError, match="number of elements"):
        decode_array({**spec, "kept": spec["kept"] - 1}, encoded.payload)
    with pytest.raises(ValueError, match="upgrade"):
        decode_array({**spec, "planes": 4}, encoded.payload)
