"""Linear prediction of a variant's map (engine.prediction): bit-exact round trips for any plan
and any floats, detection of resampled maps made by SciPy (not by this project), and the bytes
it saves against the plain difference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from imagination.engine.arraycodec import encode_array, residual, unpack_elements
from imagination.engine.prediction import (
    Plan,
    Rule,
    choose_plan,
    decode_predicted,
    encode_predicted,
)


def _resampled_pair(factor: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A smooth coarse map and a perturbed copy, each linearly upsampled by SciPy."""
    rng = np.random.default_rng(seed)
    coarse = ndimage.gaussian_filter(rng.random((10, 12, 9)), 1.5)
    moved = coarse + 0.1 * ndimage.gaussian_filter(rng.random(coarse.shape), 1.0)
    fine = [ndimage.zoom(c.astype(np.float32), factor, order=1, grid_mode=True,
                         mode="nearest").astype(np.float32) for c in (coarse, moved)]
    return fine[0], fine[1]


def _bits(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array).tobytes()


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_a_map_resampled_from_a_coarser_grid_is_stored_in_well_under_half_the_bytes(
        factor: int) -> None:
    base, variant = _resampled_pair(factor)
    encoded = encode_predicted(variant, base)
    assert encoded is not None
    assert _bits(decode_predicted(encoded.spec(), encoded.payload, base)) == _bits(variant)
    plain = encode_array(residual(variant, base))
    assert len(encoded.payload) < 0.45 * len(plain.payload)
    # every axis is predicted at some phase, none at all of them along all three axes
    assert all(rule is not None for rule in encoded.extra["rules"])


def test_the_plan_is_chosen_on_a_sample_that_sees_every_phase() -> None:
    """Every voxel of a 4x upsampled map changed: 192,000 of them, so every 38th would be
    sampled, and 38 * k mod 100 is always even along the 100-voxel rows: a 4x period's odd
    phases would go unseen. The sample's step is a prime (41): the last axis gets its full
    rule, three of every four phases."""
    rng = np.random.default_rng(0)
    coarse = ndimage.gaussian_filter(rng.random((10, 12, 25)), 1.5)
    moved = coarse + 0.1 * ndimage.gaussian_filter(rng.random(coarse.shape), 1.0)
    base, variant = (ndimage.zoom(c.astype(np.float32), 4, order=1, grid_mode=True,
                                  mode="nearest").astype(np.float32) for c in (coarse, moved))
    assert base.shape == (40, 48, 100)
    encoded = encode_predicted(variant, base)
    assert encoded is not None
    period, orders = encoded.extra["rules"][2]
    assert period == 4 and sum(1 for o in orders if o) == 3
    assert _bits(decode_predicted(encoded.spec(), encoded.payload, base)) == _bits(variant)


def test_a_linear_ramp_leaves_no_residual_where_it_is_predicted() -> None:
    """Hand-computed: along the last axis the values are 0, 1, 2, ... (exact in float32), so
    2a - b and 3a - 3b + c are exact and every predicted voxel's residual is 0."""
    base = np.zeros((4, 5, 12), dtype=np.float32)
    variant = np.broadcast_to(np.arange(1, 13, dtype=np.float32), base.shape).copy()
    plan = Plan("map", (None, None, Rule(2, (1, 2))))
    encoded = encode_predicted(variant, base, plan)
    assert encoded is not None
    spec = encoded.spec()
    assert spec["kept"] == variant.size  # every voxel differs from the zero base
    unpredicted_length, low_length = spec["lengths"]
    start = spec["mask_length"] + unpredicted_length
    low = unpack_elements(encoded.payload[start:start + low_length], np.dtype(np.uint8),
                          4 * 5 * 9)  # positions 3..11 of each row are predicted
    assert not low.any()
    assert _bits(decode_predicted(spec, encoded.payload, base)) == _bits(variant)


def test_a_map_that_is_not_resampled_is_left_to_the_plain_difference() -> None:
    rng = np.random.default_rng(3)
    base = rng.random((20, 24, 18), dtype=np.float32)
    assert encode_predicted(rng.random(base.shape, dtype=np.float32), base) is None
    assert encode_predicted(base.copy(), base) is None  # nothing changed
    assert encode_predicted(base.astype(np.float64), base) is None  # another dtype
    swapped = base.astype(base.dtype.newbyteorder())
    moved = swapped.copy()
    moved[:, :, 5:] *= 2  # both big-endian here: not in this machine's byte order
    assert moved.dtype == swapped.dtype and encode_predicted(moved, swapped) is None


_SPECIAL = np.array([np.nan, -np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-38, -3.4e38, 3.4e38])


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([np.float32, np.float64]),
       st.sampled_from([(7, 9, 11), (5, 23), (40,), (3, 4, 5, 6)]),
       st.floats(0.0, 1.0), st.sampled_from(["map", "difference"]),
       st.lists(st.one_of(st.none(), st.tuples(st.sampled_from([2, 3, 4]),
                                                st.lists(st.sampled_from([0, 1, 2]),
                                                         min_size=4, max_size=4))),
                min_size=4, max_size=4),
       st.integers(0, 2**32 - 1))
def test_any_plan_round_trips_any_floats_bit_exactly(
        dtype: type, shape: tuple[int, ...], share: float, source: str,
        rules: list[tuple[int, list[int]] | None], seed: int) -> None:
    """NaN payloads, signed zeros, infinities and overflowing predictions included."""
    rng = np.random.default_rng(seed)
    base = np.cumsum(rng.normal(size=shape), axis=-1).astype(dtype)
    variant = base.copy()
    changed = rng.random(shape) < share
    variant[changed] = (base[changed] * rng.uniform(0.5, 1.5, int(changed.sum()))).astype(dtype)
    special = rng.random(shape) < 0.05
    variant[special] = rng.choice(_SPECIAL, int(special.sum())).astype(dtype)
    variant.reshape(-1).view(f"u{variant.itemsize}")[::17] ^= 1  # odd NaN payloads too
    plan = Plan(source, tuple(None if r is None else Rule(r[0], tuple(r[1][:r[0]]))  # type: ignore[arg-type]
                              for r in rules[:len(shape)]))
    encoded = encode_predicted(variant, base, plan)
    assert encoded is not None
    assert _bits(decode_predicted(encoded.spec(), encoded.payload, base)) == _bits(variant)
    chosen = choose_plan(variant, base, np.flatnonzero(variant.view(f"u{variant.itemsize}")
                                                       != base.view(f"u{base.itemsize}")))
    if chosen is not None:
        again = encode_predicted(variant, base, chosen)
        assert again is not None
        assert _bits(decode_predicted(again.spec(), again.payload, base)) == _bits(variant)


def test_a_damaged_encoding_is_refused() -> None:
    base, variant = _resampled_pair(2)
    encoded = encode_predicted(variant, base)
    assert encoded is not None
    spec = encoded.spec()
    with pytest.raises(ValueError):
        decode_predicted({**spec, "kept": spec["kept"] + 1}, encoded.payload, base)
    with pytest.raises(ValueError):
        decode_predicted({**spec, "rules": [[5, [1] * 5]] * 3}, encoded.payload, base)
    with pytest.raises(ValueError):
        decode_predicted({**spec, "lengths": [len(encoded.payload), 1]}, encoded.payload, base)
    with pytest.raises(ValueError, match="does not fit its base"):
        decode_predicted(spec, encoded.payload, base[:-1])
    with pytest.raises(ValueError, match="reads"):
        decode_predicted({**spec, "layers": 2}, encoded.payload, base)


_FTZ_C = """#include <xmmintrin.h>
#include <pmmintrin.h>
void set_ftz_daz(void) { _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
                         _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON); }
"""

_FTZ_SCRIPT = """
import ctypes, pickle, sys
import numpy as np
from imagination.engine.prediction import Plan, Rule, decode_predicted, encode_predicted
library, mode, path = sys.argv[1:]
if library != "-":
    ctypes.CDLL(library).set_ftz_daz()  # as a -ffast-math library does for its whole process
if mode == "encode":
    rng = np.random.default_rng(11)
    cases = []
    for dtype, scale in ((np.float32, 3e-37), (np.float64, 3e-300), (np.float64, 1e-306)):
        tail = (scale * 0.5 ** np.arange(60)).astype(dtype)  # decaying into subnormals
        variant = np.stack([tail, -tail, tail * 3, rng.permutation(tail)]).reshape(2, 2, 60)
        for base in (np.zeros_like(variant), (variant * 0.75).astype(dtype)):
            for source in ("map", "difference"):
                plan = Plan(source, (None, Rule(2, (1, 2)), Rule(3, (1, 2, 1))))
                encoded = encode_predicted(variant, base, plan)
                cases.append((encoded.spec(), encoded.payload, base, variant))
    pickle.dump(cases, open(path, "wb"))
else:
    cases = pickle.load(open(path, "rb"))
    wrong = [i for i, (spec, payload, base, variant) in enumerate(cases)
             if decode_predicted(spec, payload, base).tobytes() != variant.tobytes()]
    print("wrong", wrong)
"""


@pytest.mark.parametrize("flushing", ["encoder", "decoder"])
def test_maps_decode_bit_exactly_whether_or_not_a_process_flushes_subnormals(
        tmp_path, flushing: str) -> None:
    """One process with the CPU's flush-to-zero and denormals-are-zero modes on (what loading
    a library built with -ffast-math does), the other without: the maps still decode exactly
    (predictions never read or give subnormals)."""
    import platform
    import shutil
    import subprocess
    import sys

    compiler = shutil.which("cc") or shutil.which("gcc")
    if platform.machine() not in ("x86_64", "AMD64") or compiler is None:
        pytest.skip("needs an x86-64 C compiler to switch FTZ/DAZ on")
    source = tmp_path / "ftz.c"
    source.write_text(_FTZ_C)
    library = tmp_path / "libftz.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    script = tmp_path / "ftz.py"
    script.write_text(_FTZ_SCRIPT)
    cases = tmp_path / "cases.pkl"
    encoder = str(library) if flushing == "encoder" else "-"
    decoder = str(library) if flushing == "decoder" else "-"
    subprocess.run([sys.executable, str(script), encoder, "encode", str(cases)], check=True)
    decoded = subprocess.run([sys.executable, str(script), decoder, "decode", str(cases)],
                             check=True, capture_output=True, text=True)
    assert decoded.stdout.strip() == "wrong []"
