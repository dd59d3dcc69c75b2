"""Lossless compression of the arrays a job stores (score maps, label maps).

Two codecs; :func:`encode_array` uses the palette for a float map it can hold, the plain codec
otherwise (small arrays: both tried, the smaller kept):

* ``shuffle-zstd``: the array's bytes regrouped by byte position (all first bytes, then all
  second bytes, ...; the exponent bytes of a smooth float field are nearly constant), then
  zstd. Works for every dtype.
* ``palette-zstd`` (float arrays with at most 65,535 distinct values, e.g. a distance map): the
  sorted distinct values, plus each voxel's index into them as uint16, differenced along the
  array's C order (mod 2**16) and zig-zag mapped, then shuffled and zstd'd.

Before either, an array is cropped to the box around the elements that differ from its first
element (outside the brain, a score map is one background value; on a 1 mm BraTS grid most of
the array): only the box is compressed, the background is rebuilt on decoding. A float map
whose box is still at least a quarter background (the corners of the head around the brain)
is stored sparse: a bit mask of the elements that are not background (packed, zstd'd), then
only those elements, by either codec.

Decoding rebuilds the exact bytes (NaN payloads and signed zeros included: values are compared
and sorted by their bit patterns, never as floats).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import zstandard

#: zstd level: 3 compresses a 2 mm map (3.6 MB) in about 10 ms; higher levels gain a few % at
#: several times the cost.
ZSTD_LEVEL = 3
_PALETTE_MAX = 65_535
#: From this many voxels on, a float map the palette can hold is stored with it without also
#: trying the plain codec: on every such map of the demo (815 maps) the palette was smaller,
#: by 2 % to 62 %, and trying both cost a third more time. Smaller arrays try both, and so
#: does a map with more distinct values than ``_PALETTE_MAX_SHARE`` of its voxels.
_PALETTE_MIN_SIZE = 4096
#: A palette of this share of the voxels or more stores nearly every value twice (in the
#: palette and as an index): a map of 38,400 distinct floats took 1.3x the plain codec's bytes.
#: The demo's palette maps hold at most 9 % (growth maps: 15,000-20,000 values in 237,000
#: voxels), so they never pay for the second try.
_PALETTE_MAX_SHARE = 0.25
#: Arrays from this size on are cropped to the box around what is not background.
_BOX_MIN_SIZE = 4096
#: A float array (its box) with at least this share of background is stored sparse (mask +
#: the other elements): on a 1 mm brain map (about half of its box) encoding takes a third
#: to two thirds less time and 5-6 % fewer bytes (random and growth maps).
_SPARSE_MIN_BACKGROUND = 0.25
#: Keys an array spec may hold; a spec with others comes from a newer version.
_SPEC_KEYS = frozenset({"codec", "dtype", "shape", "length", "n_values", "box", "fill",
                        "mask_length", "kept"})
_FAST_MATCHING = zstandard.ZstdCompressionParameters.from_level(
    ZSTD_LEVEL, strategy=zstandard.STRATEGY_FAST)


@dataclass(frozen=True)
class EncodedArray:
    """One array's compressed bytes and what it takes to decode them."""

    codec: str
    dtype: str
    shape: tuple[int, ...]
    payload: bytes
    extra: dict[str, Any]

    def spec(self) -> dict[str, Any]:
        return {"codec": self.codec, "dtype": self.dtype, "shape": list(self.shape),
                "length": len(self.payload), **self.extra}


def _shuffle(array: np.ndarray) -> bytes:
    """The elements' bytes grouped by byte position (one copy, from the array itself)."""
    flat = np.ascontiguousarray(array).reshape(-1)
    if flat.dtype.itemsize == 1:
        return flat.tobytes()
    return flat.view(np.uint8).reshape(-1, flat.dtype.itemsize).T.tobytes()


def _unshuffle(raw: bytes, itemsize: int) -> bytes:
    if itemsize == 1:
        return raw
    return np.frombuffer(raw, np.uint8).reshape(itemsize, -1).T.tobytes()


def _compress(data: bytes, *, fast_matching: bool = False) -> bytes:
    """zstd at ``ZSTD_LEVEL``; ``fast_matching`` swaps its match finder for the single-probe
    one (``STRATEGY_FAST``): on the shuffled bytes of a float map, whose low mantissa planes
    hold few matches to find, 12-20 % faster on 1 mm maps for 0.4-0.7 % more bytes."""
    if fast_matching:
        return zstandard.ZstdCompressor(compression_params=_FAST_MATCHING).compress(data)
    return zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(data)


def _decompress(data: bytes, size: int) -> bytes:
    out = zstandard.ZstdDecompressor().decompress(data, max_output_size=size)
    if len(out) != size:
        raise ValueError(f"array payload decompressed to {len(out)} bytes, expected {size}")
    return out


def pack_elements(values: np.ndarray) -> bytes:
    """A 1-D array's elements, byte-shuffled and zstd'd (decoded by :func:`unpack_elements`)."""
    return _compress(_shuffle(values))


def unpack_elements(data: bytes, dtype: np.dtype, count: int) -> np.ndarray:
    """The ``count`` elements of ``dtype`` that :func:`pack_elements` packed."""
    raw = _unshuffle(_decompress(data, count * dtype.itemsize), dtype.itemsize)
    return np.frombuffer(raw, dtype).copy()


def pack_mask(mask: np.ndarray) -> bytes:
    """A boolean array as packed bits, zstd'd (decoded by :func:`unpack_mask`)."""
    return _compress(np.packbits(mask, axis=None).tobytes())


def unpack_mask(data: bytes, shape: tuple[int, ...]) -> np.ndarray:
    """The boolean array of ``shape`` that :func:`pack_mask` packed."""
    count = int(np.prod(shape, dtype=np.int64))
    packed = np.frombuffer(_decompress(data, (count + 7) // 8), np.uint8)
    return np.unpackbits(packed, count=count).astype(bool).reshape(shape)


def bit_patterns(array: np.ndarray) -> np.ndarray:
    """The array's bit patterns as unsigned integers of the same width (a view)."""
    return array.view(np.dtype(f"u{array.dtype.itemsize}"))


def _too_many_values(bits: np.ndarray) -> bool:
    """Certainly more than ``_PALETTE_MAX`` distinct values, proved cheaply where a sample
    suggests so: a subset's distinct values (every 8th element), or its occupied low-17-bit
    patterns (every 4th element, then all: each distinct value occupies one, collisions only
    lower the count), are lower bounds of the whole's. A few ms against the tens of ms a
    factorisation takes to fail on a map of distinct floats; ``False`` leaves the count to the
    factorisation."""
    import pandas as pd

    if bits.size <= _PALETTE_MAX or bits.itemsize < 4:  # 16-bit: at most 65,536 values
        return False
    sampled = pd.unique(bits[::8]).size
    if sampled > _PALETTE_MAX:
        return True
    if sampled * 8 <= _PALETTE_MAX:
        return False
    mask = np.asarray(0x1FFFF, dtype=bits.dtype)
    for step in (4, 1):
        low = (bits[::step] & mask).astype(np.intp, copy=False)
        if int(np.count_nonzero(np.bincount(low, minlength=1 << 17))) > _PALETTE_MAX:
            return True
    return False


def _palette(array: np.ndarray) -> EncodedArray | None:
    import pandas as pd  # hash-based factorisation: one O(n) pass, no sort of the map

    bits = bit_patterns(array).ravel()
    if _too_many_values(bits):
        return None
    codes, found = pd.factorize(bits, sort=False)
    if found.size > _PALETTE_MAX:
        return None
    values = np.asarray(found, dtype=bits.dtype)
    order = np.argsort(values, kind="stable")  # sorted palette: close values, close indices
    rank = np.empty(order.size, dtype=np.uint16)
    rank[order] = np.arange(order.size, dtype=np.uint16)
    index = rank[codes]
    delta = np.diff(index, prepend=np.uint16(0)).view(np.int16)  # wraps mod 2**16: lossless
    zigzag = ((delta << 1) ^ (delta >> 15)).view(np.uint16)
    body = values[order].tobytes() + _shuffle(zigzag)
    return EncodedArray("palette-zstd", array.dtype.str, array.shape, _compress(body),
                        {"n_values": int(values.size)})


def _content_box(differs: np.ndarray) -> tuple[slice, ...] | None:
    """The smallest box holding every element where ``differs`` (from a map's background),
    or ``None`` when it would not save a tenth of the array."""
    ndim = differs.ndim
    # two passes over the array: its last axis's profile, and the rest reduced over that axis
    last = differs.any(axis=tuple(range(ndim - 1)))
    rest = differs.any(axis=ndim - 1)
    profiles = [rest.any(axis=tuple(a for a in range(rest.ndim) if a != axis))
                for axis in range(rest.ndim)] + [last]
    box = []
    for profile in profiles:
        along = np.flatnonzero(profile)
        box.append(slice(int(along[0]), int(along[-1]) + 1) if along.size else slice(0, 0))
    inner = int(np.prod([b.stop - b.start for b in box], dtype=np.int64))
    return tuple(box) if inner <= 0.9 * differs.size else None


def encode_array(array: np.ndarray) -> EncodedArray:
    """The smallest lossless encoding of ``array`` (any numeric dtype, any shape).

    Only the box around the elements that differ from the first one is compressed (the rest is
    that background, rebuilt on decoding: ``box`` and ``fill`` in the spec); a float box that
    is still a quarter background keeps only its other elements (``mask_length``, ``kept``)."""
    array = np.ascontiguousarray(array)
    if array.dtype.hasobject or array.dtype.kind not in "biufc":
        raise ValueError(f"cannot store an array of dtype {array.dtype}")
    if array.ndim == 0 or array.size < _BOX_MIN_SIZE or array.dtype.kind == "c":
        return _encode(array)
    bits = bit_patterns(array)
    differs = bits != bits.flat[0]
    box = _content_box(differs)
    if box is not None:
        array, differs = array[box], differs[box]  # views: copied below only as needed
    extra: dict[str, Any] = {}
    kept = int(np.count_nonzero(differs))
    if array.dtype.kind == "f" and kept <= (1 - _SPARSE_MIN_BACKGROUND) * differs.size:
        mask = _compress(np.packbits(differs, axis=None).tobytes())
        inner = _encode(array[differs])  # C order of the box
        payload = mask + inner.payload
        extra = {"mask_length": len(mask), "kept": kept}
    elif box is None:
        return _encode(array)
    else:
        inner = _encode(np.ascontiguousarray(array))
        payload = inner.payload
    if box is not None:
        extra["box"] = [[b.start, b.stop] for b in box]
    return EncodedArray(inner.codec, inner.dtype, tuple(bits.shape), payload, {
        **inner.extra, **extra, "fill": int(bits.flat[0])})


def _encode(array: np.ndarray) -> EncodedArray:
    palette = None
    if array.dtype.kind == "f" and array.size >= _PALETTE_MIN_SIZE:
        palette = _palette(array)
        if palette is not None and palette.extra["n_values"] < _PALETTE_MAX_SHARE * array.size:
            return palette
    plain = EncodedArray("shuffle-zstd", array.dtype.str, array.shape,
                         _compress(_shuffle(array), fast_matching=array.dtype.kind == "f"), {})
    if array.dtype.kind == "f" and 0 < array.size < _PALETTE_MIN_SIZE:
        palette = _palette(array)
    if palette is not None and len(palette.payload) < len(plain.payload):
        return palette
    return plain


def decode_array(spec: dict[str, Any], payload: bytes) -> np.ndarray:
    """The array ``encode_array`` encoded (``spec`` as returned by ``EncodedArray.spec``)."""
    unknown = set(spec) - _SPEC_KEYS
    if unknown:
        raise ValueError(f"the array's encoding uses {', '.join(sorted(unknown))}, which this "
                         "version of imagination does not read: upgrade it")
    dtype = np.dtype(spec["dtype"])
    shape = tuple(int(n) for n in spec["shape"])
    box = tuple(slice(0, n) for n in shape)
    if "box" in spec:
        box = tuple(slice(int(start), int(stop)) for start, stop in spec["box"])
        if len(box) != len(shape) or any(not 0 <= b.start <= b.stop <= n
                                         for b, n in zip(box, shape, strict=True)):
            raise ValueError("array box out of range")
    inner_shape = tuple(b.stop - b.start for b in box)
    if "mask_length" in spec:
        inner = _decode_sparse(spec, payload, dtype, inner_shape)
    else:
        inner = _decode(spec, payload, dtype, inner_shape)
    if "box" not in spec:
        return inner
    out = _filled(shape, spec, dtype)
    out[box] = inner
    return out


def _filled(shape: tuple[int, ...], spec: dict[str, Any], dtype: np.dtype) -> np.ndarray:
    """An array of ``shape`` holding the spec's background bits."""
    return np.full(shape, int(spec["fill"]), dtype=f"u{dtype.itemsize}").view(dtype)


def _decode_sparse(spec: dict[str, Any], payload: bytes, dtype: np.dtype,
                   shape: tuple[int, ...]) -> np.ndarray:
    count = int(np.prod(shape, dtype=np.int64))
    mask_length, kept = int(spec["mask_length"]), int(spec["kept"])
    if not 0 <= mask_length <= len(payload):
        raise ValueError("sparse mask length out of range")
    packed = np.frombuffer(_decompress(payload[:mask_length], (count + 7) // 8), np.uint8)
    differs = np.unpackbits(packed, count=count).astype(bool)
    if int(np.count_nonzero(differs)) != kept:
        raise ValueError("sparse mask does not hold the stored number of elements")
    out = _filled(shape, spec, dtype)
    out.reshape(-1)[differs] = _decode(spec, payload[mask_length:], dtype, (kept,))
    return out


def _decode(spec: dict[str, Any], payload: bytes, dtype: np.dtype,
            shape: tuple[int, ...]) -> np.ndarray:
    count = int(np.prod(shape, dtype=np.int64))
    if spec["codec"] == "shuffle-zstd":
        raw = _unshuffle(_decompress(payload, count * dtype.itemsize), dtype.itemsize)
        return np.frombuffer(raw, dtype).reshape(shape).copy()
    if spec["codec"] == "palette-zstd":
        n_values = int(spec["n_values"])
        body = _decompress(payload, n_values * dtype.itemsize + 2 * count)
        values = np.frombuffer(body[: n_values * dtype.itemsize], f"u{dtype.itemsize}")
        zigzag = np.frombuffer(_unshuffle(body[n_values * dtype.itemsize:], 2), np.uint16)
        delta = ((zigzag >> 1) ^ (-(zigzag & 1).astype(np.int32)).astype(np.uint16))
        index = np.cumsum(delta, dtype=np.uint16)  # the wrap-around sum undoes the difference
        if count and int(index.max()) >= n_values:
            raise ValueError("palette index out of range")
        return values[index].view(dtype).reshape(shape).copy()
    raise ValueError(f"unknown array codec {spec['codec']!r}")


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two arrays of one dtype and shape hold the same bit patterns (NaN payloads and
    signed zeros told apart, unlike ``==``)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return bool(np.array_equal(bit_patterns(np.ascontiguousarray(a)),
                               bit_patterns(np.ascontiguousarray(b))))


def residual(array: np.ndarray, base: np.ndarray) -> np.ndarray:
    """``array`` as its difference from ``base`` (same dtype and shape), exactly invertible by
    :func:`add_residual`: their bit patterns subtracted as unsigned integers (wrapping), then
    zig-zag mapped, so that small differences of either sign are small unsigned numbers and
    equal elements are 0 (a perturbed copy's map against the clean map: zero wherever the
    perturbation changed nothing)."""
    array, base = np.ascontiguousarray(array), np.ascontiguousarray(base)
    if array.dtype != base.dtype or array.shape != base.shape or array.dtype.kind == "c":
        raise ValueError("a residual needs two real arrays of one dtype and shape")
    width = 8 * array.dtype.itemsize
    signed = (bit_patterns(array) - bit_patterns(base)).view(np.dtype(f"i{array.dtype.itemsize}"))
    return ((signed << 1) ^ (signed >> (width - 1))).view(np.dtype(f"u{array.dtype.itemsize}"))


def add_residual(zigzag: np.ndarray, base: np.ndarray) -> np.ndarray:
    """The array whose :func:`residual` from ``base`` is ``zigzag``."""
    base = np.ascontiguousarray(base)
    unsigned = np.dtype(f"u{base.dtype.itemsize}")
    if zigzag.dtype != unsigned or zigzag.shape != base.shape:
        raise ValueError("residual does not fit its base (dtype or shape differs)")
    one = unsigned.type(1)
    difference = (zigzag >> one) ^ (np.zeros_like(zigzag) - (zigzag & one))
    return (bit_patterns(base) + difference).view(base.dtype)
