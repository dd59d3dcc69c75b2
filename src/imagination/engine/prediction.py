"""A map stored against a base map (a variant's against its clean map) as what its own
neighbours do not predict: lossless, for maps resampled from a coarser grid.

Many score maps are computed on a coarser grid and linearly interpolated onto the case grid (a
growth model fitted at 4 mm, a network run at its training spacing). Along an axis such a map
is linear between the coarse nodes, so at all but one position in each period of the
resampling (the factor), a voxel is the extrapolation of its three predecessors along that axis,
up to rounding: its float's bits differ from the prediction's by a few units in the last
place, where the difference from the clean map spans 20 bits. Measured on the demo's growth
maps (2 mm grid, 4 mm fit): a variant takes about 0.4x the bytes of its plain difference.

Encoding of ``array`` against ``base`` (its clean map; same float dtype and shape):

* ``changed``: the voxels whose bits differ from the base (a packed bit mask); the others are
  the base's.
* one *rule* per axis: a period (2, 3 or 4) and, per phase (position modulo the period), the
  order of its predictor from the three predecessors a, b, c along the axis: 1 is ``2a - b``,
  2 is ``3a - 3b + c``, 0 none. Positions 0-2 have no predictor.
* a changed voxel is predicted along the last axis whose rule predicts its position (the last
  axis first, then the one before, ...); one no rule predicts is stored as its difference from
  the base (``arraycodec.residual``).
* ``source``: the predictor extrapolates the map's own values (``map``) or their differences
  from the base, then adds the base's value (``difference``: better where the variant moved
  little).
* the payload: the mask, then each changed voxel's ``arraycodec.residual`` from its prediction
  (zig-zagged bit difference; from the base if unpredicted), in C order, in three zstd'd
  streams: the unpredicted ones' (byte-shuffled), the predicted ones' as one byte each (most
  need 1-3 bits), and the whole values of those that need more (``_ESCAPE``).

Predictions are computed in float64 with one fixed sequence of IEEE operations (correctly
rounded, so every platform gets the same bits), then rounded to the map's dtype; a prediction
that is not finite counts as 0, so NaN payloads never enter. Decoding restores the voxels in
an order in which every predecessor a prediction reads is already exact: the unpredicted ones,
then those predicted along the first axis, position by position, then the next axis, ...
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from imagination.engine.arraycodec import (
    EncodedArray,
    add_residual,
    bit_patterns,
    pack_elements,
    pack_mask,
    residual,
    unpack_elements,
    unpack_mask,
)

CODEC = "linear-prediction"
Source = Literal["map", "difference"]
_SOURCES: tuple[Source, ...] = ("map", "difference")
_PERIODS = (2, 3, 4)
_ORDERS = (1, 2)
#: Predecessors a predictor reads: positions before this have none.
_FIRST = 3
#: A phase is predicted along an axis when that needs under this share of the plain
#: difference's bits there (the demo's resampled growth maps: about a tenth at the phases the
#: resampling interpolates, about all at the phase holding a new coarse node).
_PHASE_GAIN = 0.5
#: About how many changed voxels the rules are chosen on (``_sample_step``).
_SAMPLE = 5_000
#: Prediction is used only when its estimated bits are at most this share of the plain
#: difference's (elsewhere it would cost time for little).
_WORTH = 0.8
_SPEC_KEYS = frozenset({"codec", "dtype", "shape", "length", "mask_length", "kept", "source",
                        "rules", "lengths"})
#: Changed voxels encoded at a time (memory stays bounded on a 1 mm map).
_CHUNK = 1 << 20
#: A predicted voxel's residual byte meaning "its whole value is in the escape stream".
_ESCAPE = 255


@dataclass(frozen=True)
class Rule:
    """Which positions along one axis are predicted, and by which order."""

    period: int
    orders: tuple[int, ...]  # per phase: 0 none, 1 linear, 2 quadratic

    def order_at(self, positions: np.ndarray) -> np.ndarray:
        orders = np.asarray(self.orders, dtype=np.int8)[positions % self.period]
        return np.where(positions >= _FIRST, orders, np.int8(0))


@dataclass(frozen=True)
class Plan:
    """How one map is predicted: from its own values or its differences from the base, and
    one rule (or none) per axis."""

    source: Source
    rules: tuple[Rule | None, ...]  # one per axis


def _float64(values: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):  # a signalling NaN warns; its prediction counts as 0
        return values.astype(np.float64)


#: Per float width: the bit pattern of the smallest magnitude a prediction may read or give
#: (a float32 or float16 normal number; for float64, 2**-960, so that no sum or difference of
#: such numbers is subnormal). Below it a CPU flushing subnormals to zero (FTZ/DAZ, which a
#: library built with -ffast-math switches on for its whole process) would compute another
#: prediction than one that does not: those predictions are 0 on every machine.
_SMALLEST = {2: 0x0400, 4: 0x0080_0000, 8: 63 << 52}


def _tiny(values: np.ndarray) -> np.ndarray:
    """Elements whose magnitude is non-zero and below ``_SMALLEST`` (read on the bits: a
    float comparison would itself be flushed)."""
    width = values.dtype.itemsize
    magnitude = values.view(np.dtype(f"u{width}")) & np.array(
        (1 << (8 * width - 1)) - 1, dtype=f"u{width}")
    return (magnitude != 0) & (magnitude < np.array(_SMALLEST[width], dtype=f"u{width}"))


def _prediction(order: np.ndarray, source: Source, values: tuple[np.ndarray, ...],
                bases: tuple[np.ndarray, ...], dtype: np.dtype) -> np.ndarray:
    """The prediction from predecessors ``values`` (a, b, c: one, two and three positions
    back) and, for the ``difference`` source, the base's (a, b, c, here): float64 in this one
    sequence of operations, ``2a - b`` (order 1) or ``(3a - 3b) + c`` (order 2), rounded to
    ``dtype``. A prediction that is not finite, that reads a subnormal (or, for float64, a
    near-subnormal) value, or whose magnitude is under twice the dtype's smallest normal is 0:
    NaN bits never enter a residual, and flushing subnormals changes no prediction."""
    a, b, c = (_float64(v) for v in values)
    unsafe = np.zeros(a.shape, dtype=bool)
    for read in (*values, *bases):
        unsafe |= _tiny(read)
    with np.errstate(all="ignore"):  # inf - inf, overflow: not finite, counted as 0
        if source == "difference":
            base_a, base_b, base_c, here = (_float64(v) for v in bases)
            a, b, c = a - base_a, b - base_b, c - base_c
        predicted = np.where(order == 1, 2.0 * a - b, (3.0 * a - 3.0 * b) + c)
        if source == "difference":
            predicted = predicted + here
        unsafe |= np.abs(predicted) < 2.0 * float(np.finfo(dtype).tiny)
        rounded = predicted.astype(dtype)
    rounded[unsafe | ~np.isfinite(rounded)] = 0
    return rounded


def _predict(flat: np.ndarray, flat_base: np.ndarray, index: np.ndarray, stride: int,
             order: np.ndarray | int, source: Source) -> np.ndarray:
    """Predictions of the elements at flat ``index`` from their predecessors ``stride`` apart."""
    back = [index - k * stride for k in (1, 2, 3)]
    bases = (*(flat_base[at] for at in back), flat_base[index]) if source == "difference" \
        else ()
    return _prediction(np.asarray(order), source, tuple(flat[at] for at in back), bases,
                       flat.dtype)


def _bits_needed(zigzag: np.ndarray) -> np.ndarray:
    return np.log2(zigzag.astype(np.float64) + 1.0)


def _classes(rules: tuple[Rule | None, ...],
             coordinates: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Per element at ``coordinates`` (one array per axis, broadcast together): the axis it
    is predicted along (-1: none) and that predictor's order."""
    shape = np.broadcast_shapes(*(c.shape for c in coordinates))
    axis_of = np.full(shape, -1, dtype=np.int8)
    order_of = np.zeros(shape, dtype=np.int8)
    for axis, rule in enumerate(rules):  # later axes take precedence
        if rule is None:
            continue
        order = rule.order_at(coordinates[axis])
        axis_of = np.where(order > 0, np.int8(axis), axis_of)
        order_of = np.where(order > 0, order, order_of)
    return axis_of, order_of


def _candidate_rules(positions: np.ndarray, bits: dict[int, np.ndarray],
                     plain: np.ndarray) -> list[Rule]:
    """One rule per period for one axis: each phase predicted, by the order doing best there,
    where that order's residuals need under ``_PHASE_GAIN`` of the plain difference's bits (a
    phase holding new information of the coarse grid is left to the other axes)."""
    usable = positions >= _FIRST
    rules = []
    for period in _PERIODS:
        phase = positions[usable] % period
        sums = {order: np.bincount(phase, weights=needed[usable], minlength=period)
                for order, needed in ((0, plain), *bits.items())}
        orders = []
        for at in range(period):
            order = min(_ORDERS, key=lambda o, at=at: sums[o][at])
            orders.append(order if sums[order][at] < _PHASE_GAIN * sums[0][at] else 0)
        if any(orders):
            rules.append(Rule(period, tuple(orders)))
    return rules


def _rule_bits(rule: Rule, positions: np.ndarray,
               bits: dict[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Which sampled voxels ``rule`` predicts along its axis, and their bits if it does."""
    order = rule.order_at(positions)
    return order > 0, np.where(order == 1, bits[1], bits[2])


def _estimated_bits(chosen: tuple[tuple[np.ndarray, np.ndarray] | None, ...],
                    plain: np.ndarray) -> float:
    """The sampled voxels' bits under one rule (or none) per axis (:func:`_rule_bits`), each
    voxel predicted along the last axis whose rule predicts it, as decoding does."""
    cost = plain
    for rule_bits in chosen:
        if rule_bits is not None:
            cost = np.where(rule_bits[0], rule_bits[1], cost)
    return float(cost.sum())


def _sample_step(count: int) -> int:
    """Every how-many-th changed voxel the plan is chosen on: about ``_SAMPLE`` of them, at a
    prime step over 4 (a step that is a multiple of a row's length, or of a period, would
    sample one phase only: 800 on rows of 100 voxels saw none of a 4x upsampling's)."""
    step = count // _SAMPLE
    if step <= 1:
        return 1
    step = max(step, 5)
    while any(step % d == 0 for d in range(2, int(step ** 0.5) + 1)):
        step += 1
    return step


def choose_plan(array: np.ndarray, base: np.ndarray, index: np.ndarray) -> Plan | None:
    """The plan to store ``array`` against ``base`` by: of every combination of the axes'
    candidate rules and both sources, the one with the fewest estimated bits on a sample of
    the changed voxels (``index``: their flat indices, ascending); ``None`` when that is not
    under ``_WORTH`` of the plain difference's."""
    if index.size == 0:
        return None
    index = index[:: _sample_step(index.size)]
    flat, flat_base = array.reshape(-1), base.reshape(-1)
    coordinates = np.unravel_index(index, array.shape)
    strides = [s // array.dtype.itemsize for s in array.strides]
    plain = _bits_needed(residual(flat[index], flat_base[index]))
    best: tuple[float, Plan] | None = None
    for source in _SOURCES:
        bits: list[dict[int, np.ndarray]] = []
        candidates: list[list[Rule | None]] = []
        for axis, stride in enumerate(strides):
            usable = coordinates[axis] >= _FIRST
            at = index[usable]
            bits.append({})
            for order in _ORDERS:
                needed = plain.copy()
                needed[usable] = _bits_needed(residual(
                    flat[at], _predict(flat, flat_base, at, stride, order, source)))
                bits[axis][order] = needed
            candidates.append([None, *_candidate_rules(coordinates[axis], bits[axis], plain)])
        rule_bits = {(axis, rule): _rule_bits(rule, coordinates[axis], bits[axis])
                     for axis, rules in enumerate(candidates) for rule in rules if rule}
        for rules in itertools.product(*candidates):
            if all(rule is None for rule in rules):
                continue
            total = _estimated_bits(tuple(None if rule is None else rule_bits[axis, rule]
                                          for axis, rule in enumerate(rules)), plain)
            if best is None or total < best[0]:
                best = (total, Plan(source, rules))
    if best is None or best[0] > _WORTH * float(plain.sum()):
        return None
    return best[1]


def encode_predicted(array: np.ndarray, base: np.ndarray,
                     plan: Plan | None = None) -> EncodedArray | None:
    """``array`` against ``base`` by linear prediction (``plan``, or the one
    :func:`choose_plan` finds); ``None`` when no plan is worth it or the arrays do not fit
    (float16/32/64 in this machine's byte order, same dtype and shape, some element
    changed)."""
    array, base = np.ascontiguousarray(array), np.ascontiguousarray(base)
    if (array.dtype.kind != "f" or array.dtype.itemsize not in (2, 4, 8)
            or not array.dtype.isnative or array.dtype != base.dtype
            or array.shape != base.shape or array.ndim == 0):
        return None
    unsigned = np.dtype(f"u{array.dtype.itemsize}")
    changed = bit_patterns(array) != bit_patterns(base)
    index = np.flatnonzero(changed)
    if plan is None:
        plan = choose_plan(array, base, index)
        if plan is None:
            return None
    flat, flat_base = array.reshape(-1), base.reshape(-1)
    strides = [s // array.dtype.itemsize for s in array.strides]
    zigzag = np.empty(index.size, dtype=unsigned)
    predicted = np.empty(index.size, dtype=bool)
    for start in range(0, index.size, _CHUNK):  # bounded memory on a 1 mm map
        part = index[start:start + _CHUNK]
        axis_of, order_of = _classes(plan.rules, np.unravel_index(part, array.shape))
        residuals = residual(flat[part], flat_base[part])  # the unpredicted ones' stay
        for axis, stride in enumerate(strides):
            at = axis_of == axis
            if at.any():
                residuals[at] = residual(flat[part[at]], _predict(
                    flat, flat_base, part[at], stride, order_of[at], plan.source))
        zigzag[start:start + part.size] = residuals
        predicted[start:start + part.size] = axis_of >= 0
    mask = pack_mask(changed)
    unpredicted = pack_elements(_little(zigzag[~predicted]))
    low, escaped = _split(zigzag[predicted])
    payload = mask + unpredicted + low + escaped
    return EncodedArray(CODEC, array.dtype.str, array.shape, payload, {
        "mask_length": len(mask), "kept": int(index.size), "source": plan.source,
        "rules": [None if r is None else [r.period, list(r.orders)] for r in plan.rules],
        "lengths": [len(unpredicted), len(low)]})


def _split(zigzag: np.ndarray) -> tuple[bytes, bytes]:
    """Predicted voxels' residuals as one byte each (most need 1-3 bits), ``_ESCAPE`` for
    the few that do not fit (a predictor reading across an edge of the resampled region),
    whose whole values follow in a stream of their own."""
    low = np.minimum(zigzag, _ESCAPE).astype(np.uint8)
    return pack_elements(low), pack_elements(_little(zigzag[zigzag >= _ESCAPE]))


def _little(values: np.ndarray) -> np.ndarray:
    """Unsigned integers in little-endian byte order: the streams read the same on any host."""
    return values.astype(values.dtype.newbyteorder("<"), copy=False)


def _joined(low: bytes, escaped: bytes, count: int, unsigned: np.dtype) -> np.ndarray:
    values = unpack_elements(low, np.dtype(np.uint8), count).astype(unsigned)
    at = values == _ESCAPE
    values[at] = unpack_elements(escaped, unsigned.newbyteorder("<"),
                                 int(np.count_nonzero(at)))
    return values


def _plan_of(spec: dict[str, Any], ndim: int) -> Plan:
    source, rules = spec["source"], spec["rules"]
    if source not in _SOURCES or not isinstance(rules, list) or len(rules) != ndim:
        raise ValueError("linear-prediction spec has an unknown source or wrong rules")
    parsed: list[Rule | None] = []
    for rule in rules:
        if rule is None:
            parsed.append(None)
            continue
        period, orders = int(rule[0]), tuple(int(o) for o in rule[1])
        if period not in _PERIODS or len(orders) != period or not set(orders) <= {0, *_ORDERS}:
            raise ValueError("linear-prediction rule out of range")
        parsed.append(Rule(period, orders))
    return Plan(source, tuple(parsed))


def _window(changed: np.ndarray) -> tuple[slice, ...]:
    """The box of the changed elements, grown by the ``_FIRST`` predecessors before it."""
    window = []
    for axis in range(changed.ndim):
        along = np.flatnonzero(changed.any(axis=tuple(a for a in range(changed.ndim)
                                                      if a != axis)))
        window.append(slice(max(int(along[0]) - _FIRST, 0), int(along[-1]) + 1))
    return tuple(window)


def decode_predicted(spec: dict[str, Any], payload: bytes, base: np.ndarray) -> np.ndarray:
    """The array :func:`encode_predicted` encoded against ``base``."""
    unknown = set(spec) - _SPEC_KEYS
    if unknown or spec.get("codec") != CODEC:
        raise ValueError(f"not a {CODEC} encoding this version reads")
    dtype, shape = np.dtype(spec["dtype"]), tuple(int(n) for n in spec["shape"])
    if base.dtype != dtype or base.shape != shape:
        raise ValueError("predicted map does not fit its base (dtype or shape differs)")
    if dtype.kind != "f" or dtype.itemsize not in _SMALLEST:
        raise ValueError(f"linear prediction does not store {dtype}")
    plan = _plan_of(spec, len(shape))
    mask_length, kept = int(spec["mask_length"]), int(spec["kept"])
    if not 0 <= mask_length <= len(payload):
        raise ValueError("prediction mask length out of range")
    changed = unpack_mask(payload[:mask_length], shape)
    index = np.flatnonzero(changed)
    if index.size != kept:
        raise ValueError("prediction mask does not hold the stored number of elements")
    out = np.ascontiguousarray(base).copy()
    if kept == 0:
        return out
    # only the box of the changed voxels, and the predecessors before it, is visited
    window = _window(changed)
    changed = changed[window]
    unsigned = np.dtype(f"u{dtype.itemsize}")
    axis_of, order_of = _classes(plan.rules, tuple(
        np.arange(w.start, w.stop).reshape([-1 if d == axis else 1 for d in range(len(shape))])
        for axis, w in enumerate(window)))
    axis_of = np.where(changed, axis_of, np.int8(-2))  # -2: unchanged, the base's
    predicted = axis_of[changed] >= 0
    n_predicted = int(np.count_nonzero(predicted))
    unpredicted_length, low_length = (int(n) for n in spec["lengths"])
    ends = np.cumsum([mask_length, unpredicted_length, low_length])
    if not ends[-1] <= len(payload):
        raise ValueError("prediction stream lengths out of range")
    stored = np.empty(kept, dtype=unsigned)
    stored[~predicted] = unpack_elements(payload[ends[0]:ends[1]], unsigned.newbyteorder("<"),
                                         kept - n_predicted)
    stored[predicted] = _joined(payload[ends[1]:ends[2]], payload[ends[2]:], n_predicted,
                                unsigned)
    zigzag = np.zeros(changed.shape, dtype=unsigned)
    zigzag[changed] = stored
    inside, base_inside = out[window], base[window]
    unpredicted = axis_of == -1
    inside[unpredicted] = add_residual(zigzag[unpredicted], base_inside[unpredicted])
    for axis, rule in enumerate(plan.rules):
        if rule is None:
            continue
        offset = window[axis].start
        values, residuals = (np.moveaxis(a, axis, 0) for a in (inside, zigzag))
        here = np.moveaxis(axis_of == axis, axis, 0)
        orders, base_along = (np.moveaxis(a, axis, 0) for a in (order_of, base_inside))
        for local in range(values.shape[0]):
            position = offset + local
            if position < _FIRST or not rule.orders[position % rule.period]:
                continue
            at = here[local, ...]
            if not at.any():
                continue
            bases = (*(base_along[local - k, ...][at] for k in (1, 2, 3)),
                     base_along[local, ...][at]) if plan.source == "difference" else ()
            guess = _prediction(orders[local, ...][at], plan.source,
                                tuple(values[local - k, ...][at] for k in (1, 2, 3)),
                                bases, dtype)
            values[local, ...][at] = add_residual(residuals[local, ...][at], guess)
    return out
