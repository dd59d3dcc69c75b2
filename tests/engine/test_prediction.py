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
    chosen = choose_plan(variant, base, variant.view(f"u{variant.itemsize}")
                         != base.view(f"u{base.itemsize}"))
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
