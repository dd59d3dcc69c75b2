"""Array blobs (issue 17 item 3): identical maps stored once, a variant's map stored as its
difference from the clean map of its case, both bit-exact; damage, garbage collection and shard
adoption keep every record decodable or recomputed."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagination.engine.arraycodec import add_residual, encode_array, residual
from imagination.engine.blobs import (
    INLINE_MAX_BYTES,
    BaseMaps,
    BlobStore,
    encode_map,
    parse_blob,
)
from imagination.engine.cost import Cost
from imagination.engine.prediction import CODEC as PREDICTION_CODEC
from imagination.engine.store import JobRecord, PredictionStore, encode_record, open_shard
from imagination.engine.store_format import blob_digests

SHAPE = (48, 40, 20)  # 38,400 voxels: a random float32 map encodes to well over 64 KiB


def smooth_map(seed: int) -> np.ndarray:
    """A float32 map like a growth model's: a smooth bump with full-precision mantissas."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in SHAPE], indexing="ij"))
    centre = rng.uniform(-0.3, 0.3, size=3)[:, None, None, None]
    return np.exp(-((grid - centre) ** 2).sum(axis=0) * rng.uniform(2, 4)).astype(np.float32)


def perturbed(clean: np.ndarray, share: float, seed: int) -> np.ndarray:
    """``clean`` with a ``share`` of its voxels changed by a relative 1e-3."""
    rng = np.random.default_rng(seed)
    out = clean.copy()
    changed = rng.random(clean.shape) < share
    out[changed] *= np.float32(1.001)
    return out


def job(key_byte: int, case: str, variant: str, recurrence: np.ndarray,
        adapter: str = "fk") -> JobRecord:
    key = f"{key_byte:02x}" + "7" * 62
    return JobRecord(key=key, case_id=case, adapter=adapter, perturbation_id=variant,
                     kind="predictions", outputs={"recurrence": recurrence},
                     cost=Cost(1.0, 1.0, 10.0))


def blob_files(store: PredictionStore) -> list[Path]:
    return sorted(store.blobs.root.glob("*/*.blob"))


# -- the residual ----------------------------------------------------------------------------
def test_residual_of_one_ulp_either_way_is_hand_computed() -> None:
    one = np.float32([1.0, 1.0, -2.0])
    up = np.nextafter(one, np.float32(np.inf))  # one ulp towards +inf: bits +1 for 1.0, -1 for -2.0
    # zig-zag: +1 -> 2, -1 -> 1, 0 -> 0
    assert residual(up, one).tolist() == [2, 2, 1]
    assert residual(one, up).tolist() == [1, 1, 2]
    assert residual(one, one).tolist() == [0, 0, 0]
    assert add_residual(residual(up, one), one).tobytes() == up.tobytes()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1),
       dtype=st.sampled_from([np.float32, np.float64, np.int16, np.uint8]),
       share=st.sampled_from([0.0, 0.01, 0.3, 1.0]),
       special=st.booleans())
def test_a_map_decodes_bit_exactly_whole_or_against_any_base(tmp_path_factory, seed: int,
                                                             dtype: type, share: float,
                                                             special: bool) -> None:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        base = rng.normal(0, 50, SHAPE).astype(dtype)
        if special:  # NaN payloads, signed zeros and infinities keep their bits
            base.flat[:4] = [np.nan, -0.0, np.inf, -np.inf]
    else:
        info = np.iinfo(dtype)
        base = rng.integers(info.min, info.max, SHAPE, endpoint=True).astype(dtype)
    array = base.copy()
    changed = rng.random(SHAPE) < share
    array[changed] = rng.permutation(base.ravel())[: int(changed.sum())].astype(dtype)
    whole = encode_map(base)
    encoded = encode_map(array, whole.as_base)
    if encoded.inline is not None:  # small enough to stay in its record
        assert len(encoded.inline.payload) < INLINE_MAX_BYTES and encoded.blobs == ()
        return
    blobs = BlobStore(tmp_path_factory.mktemp("blobs"))
    blobs.write(encoded.blobs)
    back = blobs.load(encoded.digest)
    assert back.dtype == array.dtype and back.shape == array.shape
    assert back.tobytes() == array.tobytes()
    if share == 0.0:  # the same map: only the base's blob, under the same digest
        assert encoded.digest == whole.digest and len(encoded.blobs) == 1


def test_a_variant_is_stored_as_its_difference_only_when_that_is_smaller() -> None:
    clean = smooth_map(1)
    base = encode_map(clean).as_base
    assert base is not None
    close = encode_map(perturbed(clean, 0.02, 2), base)
    [(base_digest, _), (_, delta)] = close.blobs
    header, _ = parse_blob(delta)
    assert base_digest == base.digest and header["base"] == base.digest
    assert len(delta) < 0.25 * len(base.blob)  # 2 % of the voxels changed
    rng = np.random.default_rng(3)
    many = (50, 40, 35)  # more distinct values than a palette holds: both stored plain
    noise = encode_map(rng.normal(size=many).astype(np.float32)).as_base
    assert noise is not None
    other_noise = rng.normal(size=many).astype(np.float32)
    unrelated = encode_map(other_noise, noise)  # the difference of two noises is the larger
    [(_, whole)] = unrelated.blobs
    assert parse_blob(whole)[0]["base"] is None
    assert whole == encode_map(other_noise).blobs[0][1]
    other_grid = encode_map(smooth_map(9)[:40], base)  # another grid: stored whole
    assert [parse_blob(b)[0]["base"] for _, b in other_grid.blobs] == [None]


def test_base_maps_hold_one_case_at_a_time() -> None:
    bases = BaseMaps()
    clean = encode_map(smooth_map(1)).as_base
    assert clean is not None
    bases.remember("c1", "fk", "recurrence", clean)
    assert bases.get("c1", "fk", "recurrence") is clean
    assert bases.get("c1", "other", "recurrence") is None
    assert bases.get("c2", "fk", "recurrence") is None
    bases.remember("c2", "fk", "recurrence", clean)
    assert bases.get("c1", "fk", "recurrence") is None  # the earlier case was let go


# -- in the store ----------------------------------------------------------------------------
def test_clean_and_variant_maps_in_the_store(tmp_path: Path) -> None:
    store = PredictionStore(tmp_path / "store")
    clean = smooth_map(3)
    store.put(job(1, "c1", "clean", clean).key, job(1, "c1", "clean", clean))
    [whole] = blob_files(store)
    variant = perturbed(clean, 0.02, 4)
    store.put(job(2, "c1", "noise@3", variant).key, job(2, "c1", "noise@3", variant))
    # a variant that changed nothing, and a repeat under another adapter: no new blob
    store.put(job(3, "c1", "bias_field@1", clean).key, job(3, "c1", "bias_field@1", clean))
    store.put(job(4, "c1", "clean", clean, "fk2").key, job(4, "c1", "clean", clean, "fk2"))
    files = blob_files(store)
    assert len(files) == 2 and whole in files
    [delta] = [f for f in files if f != whole]
    assert parse_blob(delta.read_bytes())[0]["base"] == whole.stem
    assert delta.stat().st_size < 0.25 * whole.stat().st_size
    for byte, expected in [(1, clean), (2, variant), (3, clean), (4, clean)]:
        got = store.get(job(byte, "c1", "clean", clean).key)
        assert got is not None
        assert got.outputs["recurrence"].tobytes() == expected.tobytes()
    # a worker's encoding names the base before the difference
    bases = BaseMaps()
    encode_record(job(1, "c1", "clean", clean), bases=bases)
    payload = encode_record(job(2, "c1", "noise@3", variant), bases=bases)
    assert [d for d, _ in payload.blobs] == [whole.stem, delta.stem]
    assert blob_digests(payload.record) == [delta.stem]


def test_a_resampled_maps_variant_is_stored_by_prediction_and_read_back(
        tmp_path: Path) -> None:
    """A map linearly upsampled by SciPy from a 2x coarser grid, and a perturbed copy: the
    copy's blob holds what its neighbours do not predict, in under half the bytes of the
    plain difference, and a fresh store reads it back bit-exactly."""
    from scipy import ndimage

    rng = np.random.default_rng(5)
    coarse = ndimage.gaussian_filter(rng.random((24, 20, 10)), 1.5).astype(np.float32)
    moved = (coarse * rng.uniform(0.9, 1.1, coarse.shape)).astype(np.float32)
    clean, variant = (ndimage.zoom(c, 2, order=1, grid_mode=True, mode="nearest")
                      for c in (coarse, moved))
    store = PredictionStore(tmp_path / "store")
    store.put(job(1, "c1", "clean", clean).key, job(1, "c1", "clean", clean))
    store.put(job(2, "c1", "noise@3", variant).key, job(2, "c1", "noise@3", variant))
    [delta] = [f for f in blob_files(store) if parse_blob(f.read_bytes())[0]["base"]]
    header, payload = parse_blob(delta.read_bytes())
    assert header["array"]["codec"] == PREDICTION_CODEC
    assert len(payload) < 0.5 * len(encode_array(residual(variant, clean)).payload)
    got = PredictionStore(tmp_path / "store").get(job(2, "c1", "noise@3", variant).key)
    assert got is not None and got.outputs["recurrence"].tobytes() == variant.tobytes()


def test_a_clean_map_mostly_equal_to_another_models_is_stored_against_it(
        tmp_path: Path) -> None:
    """A second model's clean map equal to the first's but in a fifth of its voxels: stored as
    its difference from the first one's whole blob, and its own variants against that same
    whole blob (every base stays whole: at most two blobs per map), each kept as a difference
    while smaller than its own map whole; a variant equal to the second model's clean map names
    that map's blob; all read back exactly."""
    rng = np.random.default_rng(32)
    first = np.round(smooth_map(31), 3).astype(np.float32)  # 22 KB whole: a small palette
    second = first.copy()
    noisy = rng.random(first.shape) < 0.2
    second[noisy] = rng.random(int(noisy.sum())).astype(np.float32)  # 89 KB whole
    variant = perturbed(second, 0.05, 33)
    store = PredictionStore(tmp_path / "store")
    records = [job(1, "c1", "clean", first), job(2, "c1", "clean", second, "fk-pet"),
               job(3, "c1", "noise@1", variant, "fk-pet"),
               job(4, "c1", "drop_pet", second, "fk-pet")]  # the PET variant changed nothing
    for record in records:
        store.put(record.key, record)
    [whole] = [f for f in blob_files(store) if parse_blob(f.read_bytes())[0]["base"] is None]
    differences = [f for f in blob_files(store) if f != whole]
    assert len(differences) == 2  # the second clean map's and its noise variant's
    assert all(parse_blob(f.read_bytes())[0]["base"] == whole.stem for f in differences)
    own_whole = len(encode_array(second).payload)
    assert all(len(parse_blob(f.read_bytes())[1]) < own_whole for f in differences)
    assert blob_digests(store.object_path(records[3].key)) == \
        blob_digests(store.object_path(records[1].key))
    fresh = PredictionStore(tmp_path / "store")
    for record, expected in zip(records, [first, second, variant, second], strict=True):
        got = fresh.get(record.key)
        assert got is not None and got.outputs["recurrence"].tobytes() == expected.tobytes()
    # an unrelated clean map is not tried against them: stored whole
    unrelated = job(5, "c1", "clean", smooth_map(34), "other")
    store.put(unrelated.key, unrelated)
    assert sum(parse_blob(f.read_bytes())[0]["base"] is None for f in blob_files(store)) == 2


def test_a_model_giving_another_models_clean_map_shares_its_blobs(tmp_path: Path) -> None:
    """fk-growth-pet on a case without PET is the MRI-only model: same clean map, same
    variants; the second model's records name the first one's blobs."""
    store = PredictionStore(tmp_path / "store")
    clean = smooth_map(21)
    variant = perturbed(clean, 0.05, 22)
    store.put(job(1, "c1", "clean", clean).key, job(1, "c1", "clean", clean))
    store.put(job(2, "c1", "noise@1", variant).key, job(2, "c1", "noise@1", variant))
    before = blob_files(store)
    second = [job(3, "c1", "clean", clean, "fk-pet"), job(4, "c1", "noise@1", variant, "fk-pet")]
    for record in second:
        store.put(record.key, record)
    assert blob_files(store) == before and len(before) == 2
    for first, other in [(1, second[0]), (2, second[1])]:
        assert blob_digests(store.object_path(other.key)) == \
            blob_digests(store.object_path(job(first, "c1", "clean", clean).key))
        assert store.get(other.key).outputs["recurrence"].tobytes() == \
            other.outputs["recurrence"].tobytes()
    # with PET the model differs; its drop_pet variant is the MRI-only model's clean map
    with_pet = smooth_map(23)
    pet_clean = job(5, "c2", "clean", with_pet, "fk-pet")
    mri_clean = job(6, "c2", "clean", clean, "fk")
    drop_pet = job(7, "c2", "drop_pet@1", clean, "fk-pet")
    for record in (mri_clean, pet_clean, drop_pet):
        store.put(record.key, record)
    assert len(blob_files(store)) == 3  # the PET model's clean map is the only new blob
    assert blob_digests(store.object_path(drop_pet.key)) == \
        blob_digests(store.object_path(mri_clean.key))


def test_a_damaged_base_makes_its_variants_missing_until_recomputed(tmp_path: Path) -> None:
    store = PredictionStore(tmp_path / "store")
    clean = smooth_map(5)
    variant = perturbed(clean, 0.05, 6)
    records = [job(1, "c1", "clean", clean), job(2, "c1", "noise@1", variant)]
    for record in records:
        store.put(record.key, record)
    whole = store.blobs.path(blob_digests(store.object_path(records[0].key))[0])
    data = bytearray(whole.read_bytes())
    data[-10] ^= 0xFF  # same size, other bytes
    whole.write_bytes(bytes(data))
    fresh = PredictionStore(tmp_path / "store")  # another process: nothing known intact
    assert not fresh.has(records[1].key, verify=True)
    assert fresh.get(records[0].key) is None
    for record in records:  # what the next bench does: recompute and store again
        fresh.put(record.key, record)
    again = PredictionStore(tmp_path / "store")
    assert again.get(records[1].key).outputs["recurrence"].tobytes() == variant.tobytes()
    assert again.has(records[0].key, verify=True)


def test_gc_keeps_the_base_of_a_kept_variant_and_counts_what_it_frees(tmp_path: Path) -> None:
    store = PredictionStore(tmp_path / "store")
    clean = smooth_map(7)
    variant = perturbed(clean, 0.05, 8)
    other = smooth_map(8)
    records = [job(1, "c1", "clean", clean), job(2, "c1", "noise@1", variant),
               job(3, "c2", "clean", other)]
    for record in records:
        store.put(record.key, record)
    sizes = {p.stem: p.stat().st_size for p in blob_files(store)}
    other_blob = blob_digests(store.object_path(records[2].key))[0]
    object_sizes = [store.object_path(r.key).stat().st_size for r in records]
    collected = store.collect_garbage([records[1].key])  # only the variant stays
    assert (collected.n_objects, collected.n_blobs) == (2, 1)  # the other case's blob
    assert collected.n_bytes == object_sizes[0] + object_sizes[2] + sizes[other_blob]
    assert store.get(records[1].key).outputs["recurrence"].tobytes() == variant.tobytes()
    assert {p.stem for p in blob_files(store)} == set(sizes) - {other_blob}
    collected = store.collect_garbage([])
    assert collected.n_bytes == object_sizes[1] + sum(
        v for k, v in sizes.items() if k != other_blob)
    assert blob_files(store) == []


def test_adoption_brings_a_shards_blobs_and_skips_a_record_whose_blob_is_damaged(
        tmp_path: Path) -> None:
    main = PredictionStore(tmp_path / "store")
    folder = tmp_path / "store" / "shards" / "1-of-2"
    shard = open_shard(folder)
    clean, other = smooth_map(11), smooth_map(12)
    variant = perturbed(clean, 0.05, 13)
    records = [job(1, "c1", "clean", clean), job(2, "c1", "noise@1", variant),
               job(3, "c2", "clean", other)]
    for record in records:
        shard.put(record.key, record)
    damaged = shard.blobs.path(blob_digests(shard.object_path(records[2].key))[0])
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"\0")
    shard.close()
    assert main.adopt(folder) == 2
    assert not folder.exists()
    assert main.get(records[1].key).outputs["recurrence"].tobytes() == variant.tobytes()
    assert main.get(records[2].key) is None  # not adopted: its job runs again
    shutil.rmtree(tmp_path / "store")


@pytest.mark.parametrize("variant", ["clean", "noise@1"])
def test_a_small_map_stays_inside_its_record(tmp_path: Path, variant: str) -> None:
    store = PredictionStore(tmp_path / "store")
    small = np.linspace(0, 1, 60, dtype=np.float32).reshape(5, 4, 3)
    record = job(1, "c1", variant, small)
    store.put(record.key, record)
    assert blob_files(store) == [] and blob_digests(store.object_path(record.key)) == []
    assert store.get(record.key).outputs["recurrence"].tobytes() == small.tobytes()


# -- a whole run -----------------------------------------------------------------------------
def test_a_run_storing_variants_as_differences_has_the_tables_of_one_storing_them_whole(
        bench_cohort: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from imagination.config import load_config
    from imagination.engine.bench import run_bench
    from tests.engine.conftest import write_config

    config = load_config(write_config(
        tmp_path, bench_cohort,  # fitted on a 12 mm grid, resampled to the cohort's 6 mm
        [{"name": "fk-growth", "params": {"coarse_mm": 12.0}}, {"name": "random"}],
        tasks=["recurrence"],
        perturbations=[{"kind": "noise", "severities": [3], "adapters": ["fk-growth"]}]))
    run_bench(config, run_dir=tmp_path / "differences", workers=2)  # encoded in the workers
    with monkeypatch.context() as patch:
        patch.setattr(BaseMaps, "get", lambda *args: None)
        run_bench(config, run_dir=tmp_path / "whole", workers=1)  # no map has a base

    def bases(run: str) -> list[str | None]:
        store = PredictionStore(tmp_path / run / "store")
        return [parse_blob(p.read_bytes())[0]["base"] for p in blob_files(store)]

    assert any(bases("differences")) and not any(bases("whole"))
    codecs = {parse_blob(p.read_bytes())[0]["array"]["codec"]
              for p in blob_files(PredictionStore(tmp_path / "differences" / "store"))}
    assert PREDICTION_CODEC in codecs  # the resampled growth maps' variants, by prediction
    for name in ("per_case.csv", "leaderboard.csv", "robustness.csv", "predictions.csv"):
        assert (tmp_path / "differences" / name).read_bytes() == \
            (tmp_path / "whole" / name).read_bytes(), name


def test_a_format_2_store_with_maps_inside_its_records_is_read_and_continued(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from imagination.engine import blobs

    root = tmp_path / "store"
    clean = smooth_map(31)
    old = job(1, "c1", "clean", clean)
    with monkeypatch.context() as patch:  # what format 2 wrote: every map inside its record
        patch.setattr(blobs, "INLINE_MAX_BYTES", 1 << 62)
        store = PredictionStore(root)
        store.put(old.key, old)
        store._connection().execute("UPDATE store_meta SET value = '2' WHERE name = 'format'")
        store.close()
    assert blob_files(store) == [] and blob_digests(store.object_path(old.key)) == []
    store = PredictionStore(root)
    (found,) = store._connection().execute(
        "SELECT value FROM store_meta WHERE name = 'format'").fetchone()
    assert found == "4"  # new records may name blobs from now on
    assert store.has(old.key, verify=True)
    assert store.get(old.key).outputs["recurrence"].tobytes() == clean.tobytes()
    new = job(2, "c1", "noise@1", perturbed(clean, 0.05, 32))
    store.put(new.key, new)
    assert len(blob_files(store)) == 1
    assert store.get(new.key).outputs["recurrence"].tobytes() == \
        new.outputs["recurrence"].tobytes()


def test_a_blob_damaged_after_a_check_is_repaired_by_the_same_store(tmp_path: Path) -> None:
    store = PredictionStore(tmp_path / "store")
    clean = smooth_map(41)
    record = job(1, "c1", "clean", clean)
    store.put(record.key, record)
    assert store.has(record.key, verify=True)  # the writer must not trust this look later
    [blob] = blob_files(store)
    blob.write_bytes(blob.read_bytes()[:-1] + b"\0")
    assert not store.has(record.key, verify=True)
    store.put(record.key, record)  # the recomputed job, in the same process
    assert store.get(record.key).outputs["recurrence"].tobytes() == clean.tobytes()


def test_a_valid_blob_under_another_digests_name_is_damage(tmp_path: Path) -> None:
    store = PredictionStore(tmp_path / "store")
    first, second = job(1, "c1", "clean", smooth_map(42)), job(2, "c2", "clean", smooth_map(43))
    for record in (first, second):
        store.put(record.key, record)
    named = store.blobs.path(blob_digests(store.object_path(first.key))[0])
    other = store.blobs.path(blob_digests(store.object_path(second.key))[0])
    shutil.copyfile(other, named)  # e.g. a restored backup's mix-up: checksums intact
    fresh = PredictionStore(tmp_path / "store")
    assert not fresh.has(first.key, verify=True) and fresh.get(first.key) is None
    fresh.put(first.key, first)
    assert fresh.get(first.key).outputs["recurrence"].tobytes() == \
        first.outputs["recurrence"].tobytes()


def test_adoption_that_cannot_write_keeps_the_shard(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    main = PredictionStore(tmp_path / "store")
    folder = tmp_path / "store" / "shards" / "1-of-2"
    shard = open_shard(folder)
    record = job(1, "c1", "clean", smooth_map(44))
    shard.put(record.key, record)
    shard.close()

    def full(self, blobs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(BlobStore, "write", full)
    with pytest.raises(OSError, match="No space left"):
        main.adopt(folder)
    assert folder.is_dir() and open_shard(folder).has(record.key, verify=True)
