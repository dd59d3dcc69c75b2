"""Job keys and file digests: stable, order-free, and sensitive to everything that matters."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagination.engine import hashing
from imagination.engine.hashing import canonical_json, file_digest, job_key

BASE = {"adapter_name": "margin15", "adapter_version": "1.0.0",
        "adapter_params": {"margin_mm": 15.0, "mode": "isotropic"},
        "input_digests": {"t1c": "a" * 64, "mask_tumor": "b" * 64},
        "perturbation": {"name": "noise", "severity": 2, "seed": 7}}


def key_with(**changes):
    return job_key(**{**BASE, **changes})


def test_known_key_equals_sha256_of_the_documented_canonical_json():
    document = ('{"adapter":{"name":"margin15","params":{"margin_mm":15.0,"mode":"isotropic"},'
                '"version":"1.0.0"},"extra":null,"inputs":{"mask_tumor":"' + "b" * 64
                + '","t1c":"' + "a" * 64 + '"},"key_version":2,'
                '"perturbation":{"name":"noise","seed":7,"severity":2}}')
    assert key_with() == hashlib.sha256(document.encode()).hexdigest()


def test_dict_order_does_not_change_the_key():
    reordered = {"adapter_params": {"mode": "isotropic", "margin_mm": 15.0},
                 "input_digests": {"mask_tumor": "b" * 64, "t1c": "a" * 64},
                 "perturbation": {"seed": 7, "severity": 2, "name": "noise"}}
    assert key_with(**reordered) == key_with()


@pytest.mark.parametrize("changes", [
    {"adapter_name": "margin20"},
    {"adapter_version": "1.0.1"},
    {"adapter_params": {"margin_mm": 15.000001, "mode": "isotropic"}},
    {"adapter_params": {"margin_mm": 15, "mode": "isotropic"}},  # int is not float
    {"input_digests": {"t1c": "c" * 64, "mask_tumor": "b" * 64}},
    {"input_digests": {"t1": "a" * 64, "mask_tumor": "b" * 64}},  # same file, other role
    {"perturbation": {"name": "noise", "severity": 2, "seed": 8}},
    {"perturbation": {"name": "noise", "severity": 3, "seed": 7}},
    {"perturbation": None},
    {"extra": {"kind": "features"}},
])
def test_any_relevant_change_changes_the_key(changes):
    assert key_with(**changes) != key_with()


def test_numpy_scalars_hash_like_python_numbers_and_arrays_by_content():
    as_numpy = {"margin_mm": np.float64(15.0), "mode": "isotropic"}
    assert key_with(adapter_params=as_numpy) == key_with()
    assert key_with(adapter_params={"seed": np.int32(3)}) == key_with(adapter_params={"seed": 3})
    a = {"w": np.arange(4, dtype=np.float32)}
    assert key_with(adapter_params=a) == key_with(adapter_params={"w": np.arange(4,
                                                                                 dtype=np.float32)})
    assert key_with(adapter_params=a) != key_with(adapter_params={"w": np.arange(4.0)})


def test_non_string_mapping_keys_and_unknown_objects_are_rejected():
    with pytest.raises(TypeError, match="strings"):
        key_with(adapter_params={1: "x"})
    with pytest.raises(TypeError, match="cannot hash"):
        key_with(adapter_params={"f": object()})


def test_nan_and_infinity_are_encoded_as_strings():
    text = canonical_json({"a": float("nan"), "b": float("inf"), "c": -float("inf")})
    assert json.loads(text) == {"a": "NaN", "b": "Infinity", "c": "-Infinity"}


finite = st.floats(allow_nan=False, allow_infinity=False)
params = st.dictionaries(st.text(max_size=8),
                         st.one_of(finite, st.integers(), st.text(max_size=8), st.booleans()),
                         max_size=6)


@settings(deadline=None)
@given(params)
def test_key_is_independent_of_insertion_order(p):
    reversed_params = dict(reversed(list(p.items())))
    assert key_with(adapter_params=p) == key_with(adapter_params=reversed_params)


@settings(deadline=None)
@given(params, st.text(min_size=1, max_size=8), finite)
def test_adding_or_changing_a_float_parameter_changes_the_key(p, name, value):
    changed = {**p, name: value}
    assert (key_with(adapter_params=changed) == key_with(adapter_params=p)) == (
        name in p and type(p[name]) is float and repr(p[name]) == repr(value))


@settings(deadline=None)
@given(finite)
def test_floats_round_trip_through_canonical_json(value):
    assert json.loads(canonical_json({"x": value}))["x"] == value


def test_file_digest_is_sha256_of_bytes_and_follows_changes(tmp_path: Path):
    path = tmp_path / "t1c.nii.gz"
    path.write_bytes(b"first content")
    assert file_digest(path) == hashlib.sha256(b"first content").hexdigest()
    path.write_bytes(b"other content, longer")
    assert file_digest(path) == hashlib.sha256(b"other content, longer").hexdigest()


class CountingCache:
    def __init__(self):
        self.entries = {}
        self.lookups = 0

    def lookup_digest(self, path, size, mtime_ns):
        self.lookups += 1
        return self.entries.get((path, size, mtime_ns))

    def remember_digest(self, path, size, mtime_ns, digest):
        self.entries[(path, size, mtime_ns)] = digest


def test_persistent_cache_avoids_rehashing_an_unchanged_file(tmp_path: Path, monkeypatch):
    path = tmp_path / "flair.nii.gz"
    path.write_bytes(b"x" * 1000)
    cache = CountingCache()
    first = file_digest(path, cache)
    assert list(cache.entries.values()) == [first]
    hashing.clear_memo()  # a new process: only the persistent cache remembers

    def no_hashing(*args, **kwargs):
        raise AssertionError("the file was hashed again")

    monkeypatch.setattr(hashing.hashlib, "file_digest", no_hashing)
    assert file_digest(path, cache) == first
    # a changed mtime invalidates the entry even with the same size and bytes
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1000))
    hashing.clear_memo()
    with pytest.raises(AssertionError, match="hashed again"):
        file_digest(path, cache)
