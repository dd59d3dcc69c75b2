"""Array blobs: the store's voxel maps, content-addressed and immutable.

A record (``engine.store_format``) names each stored map by its blob's *digest*. A map is stored
whole, or as its difference from another blob, its *base*: a perturbed variant's map against
the clean map of the same case, model and task, when that is smaller: by linear prediction
from the variant's own neighbours where the map is resampled from a coarser grid
(``engine.prediction``: the voxels that differ from the base, each as what its predecessors do
not predict), else as the plain difference (``arraycodec.residual``: zero wherever the
perturbation changed nothing). A clean map mostly equal to another model's clean map of the
case (a PET model's and its MRI-only sibling's) is stored the same way against that one's whole
blob, and its variants against the same whole blob. A whole map's digest is the SHA-256 of its
encoding (``arraycodec.encode_array``: dtype, shape, codec spec and the payload's SHA-256;
deterministic); a difference's, of its base's digest and its own encoding. So identical maps
are stored once: the same map whole (a repeat of a deterministic model, another model giving
the same map), a variant equal to its clean map (compared bit by bit: it names the clean
blob), the same difference from the same base. A base is always stored whole, so a map
decodes from at most two blobs. Layout under the store's root::

    blobs/ab/<digest>.blob   b"IMGNBLB\\x01", uint32 header length, uint32 CRC-32 of the header,
                             header JSON {"dtype", "shape", "base": digest or null,
                             "array": codec spec, "body_sha256"}, then the payload

A blob is never changed in place: a writer skips a digest whose blob is intact on disk (its
checksums, its name, which its header must reproduce, and its base's) and replaces a damaged
one whole (temporary file, then rename; concurrent
writers of one digest write equivalent bytes). Only garbage collection deletes blobs: those no
kept record names, directly or as a base.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from imagination.atomic import TEMP_SUFFIX, write_temporary
from imagination.engine.arraycodec import (
    EncodedArray,
    add_residual,
    bit_patterns,
    decode_array,
    encode_array,
    residual,
    same_bits,
)
from imagination.engine.prediction import CODEC as PREDICTION_CODEC
from imagination.engine.prediction import decode_predicted, encode_predicted
from imagination.engine.store_format import DamagedObject, frame, read_frame
from imagination.runfolder import inside

BLOBS_DIR = "blobs"
BLOB_MAGIC = b"IMGNBLB\x01"
BLOB_SUFFIX = ".blob"
#: Maps whose standalone encoding is smaller than this stay inside their record (a label map of
#: a few KiB): a blob of their own would cost a file for next to nothing.
INLINE_MAX_BYTES = 16 * 1024

#: A base's sample for telling maps apart: every this-many-th element (a prime, so that it
#: does not follow the grid's rows).
_SAMPLE_STEP = 4099

#: A blob's digest and bytes, as a worker hands them to the store's writer.
BlobBytes = tuple[str, bytes]


def digest_of(encoded: EncodedArray, payload_sha256: str | None = None,
              base: str | None = None) -> str:
    """The digest naming a blob: SHA-256 of its encoding's spec and of its payload's SHA-256
    (``payload_sha256``, if already known: the payload is hashed once), and, for a difference,
    of its base's digest."""
    if payload_sha256 is None:
        payload_sha256 = hashlib.sha256(encoded.payload).hexdigest()
    return _digest(encoded.spec(), payload_sha256, base)


def _digest(spec: dict[str, Any], payload_sha256: str, base: str | None) -> str:
    text = json.dumps(spec, sort_keys=True).encode("utf-8")
    whole = hashlib.sha256(text + b"\0" + payload_sha256.encode("ascii")).hexdigest()
    if base is None:
        return whole
    return hashlib.sha256(b"difference\0" + base.encode("ascii") + b"\0"
                          + whole.encode("ascii")).hexdigest()


def _blob(array_spec: dict[str, Any], payload: bytes, dtype: str, shape: tuple[int, ...],
          base: str | None, payload_sha256: str) -> bytes:
    header = {"dtype": dtype, "shape": list(shape), "base": base, "array": array_spec,
              "body_sha256": payload_sha256}
    return frame(BLOB_MAGIC, header, payload)


class Base:
    """A clean map that other maps of its case are stored against: its digest and blob, and
    the whole blob their differences are taken from: its own, or, for a clean map stored as
    its difference from another model's (``parent``, whole), that one. The array is decoded
    from the blob when first needed (an encoder holds only the bytes of the clean maps it
    keeps as bases)."""

    def __init__(self, digest: str, blob: bytes, array: np.ndarray, payload_length: int,
                 parent: Base | None = None) -> None:
        self.digest, self.blob, self.dtype, self.shape = digest, blob, array.dtype, array.shape
        #: bytes of the map's own whole encoding: what a difference for it must stay under
        self.payload_length = payload_length
        #: every ``_SAMPLE_STEP``-th element: most unequal maps are told apart without decoding
        self.sample = _sample(array).copy()
        self.parent = parent
        self._array: np.ndarray | None = None

    @property
    def whole(self) -> Base:
        """The whole blob differences are taken from (never itself a difference)."""
        return self if self.parent is None else self.parent

    def blobs(self) -> tuple[BlobBytes, ...]:
        """What a record naming this map needs stored, the whole blob first."""
        own = ((self.digest, self.blob),)
        return own if self.parent is None else ((self.parent.digest, self.parent.blob), *own)

    @property
    def array(self) -> np.ndarray:
        if self._array is None:
            header, payload = parse_blob(self.blob)
            self._array = decode_payload(header["array"], payload,
                                         None if self.parent is None else self.parent.array)
        return self._array


def decode_payload(spec: dict[str, Any], payload: bytes,
                   base: np.ndarray | None) -> np.ndarray:
    """A blob's map from its array spec and payload, and its base's map for a difference."""
    if base is None:
        return decode_array(spec, payload)
    if spec.get("codec") == PREDICTION_CODEC:
        return decode_predicted(spec, payload, base)
    return add_residual(decode_array(spec, payload), base)


@dataclass(frozen=True)
class EncodedMap:
    """How a record keeps one map: inline (``inline`` set) or as a blob (``digest``), with the
    blobs the store must hold for it, bases first."""

    inline: EncodedArray | None
    digest: str | None
    blobs: tuple[BlobBytes, ...]
    #: a whole blob holding exactly this map (its own, or the equal one it names), the base
    #: for its variants if it is a clean map; ``None`` for a difference or an inline map
    as_base: Base | None


def encode_map(array: np.ndarray, base: Base | None = None,
               others: Sequence[Base] = ()) -> EncodedMap:
    """Encode ``array`` against ``base`` (same dtype and shape): nothing new if equal to it or
    to one of ``others`` (the clean maps of other models of the case), else its difference
    from the base's whole blob, when that is smaller than the base's own whole encoding (a
    variant's own is about its clean map's size); otherwise whole (inline if small). A map
    without a base (a clean map) that mostly equals one of ``others`` (a PET model's map and
    its MRI-only sibling's: the same distances outside the growth) is stored as its difference
    from that one's whole blob when smaller than whole; its variants are then stored against
    that whole blob too, so every difference names a whole blob."""
    array = np.ascontiguousarray(array)
    if array.dtype.kind in "biuf":
        for other in others:
            if _fits(array, other) and _equal(array, other):
                return EncodedMap(None, other.digest, other.blobs(), other)
        if base is not None and _fits(array, base):
            stored = _against(array, base, base.payload_length)
            if stored is not None:
                return stored
    whole = encode_array(array)
    if len(whole.payload) < INLINE_MAX_BYTES:
        return EncodedMap(whole, None, (), None)
    if base is None and array.dtype.kind in "biuf":
        for other in others:
            if _fits(array, other) and _mostly_equal(array, other):
                stored = _against(array, other.whole, len(whole.payload))
                if stored is not None and stored.digest is not None:
                    return replace(stored, as_base=Base(
                        stored.digest, stored.blobs[-1][1], array, len(whole.payload),
                        parent=other.whole))
    payload_sha256 = hashlib.sha256(whole.payload).hexdigest()
    digest = digest_of(whole, payload_sha256)
    whole_blob = _blob(whole.spec(), whole.payload, array.dtype.str, array.shape, None,
                       payload_sha256)
    as_base = Base(digest, whole_blob, array, len(whole.payload))
    return EncodedMap(None, digest, ((digest, whole_blob),), as_base)


def _fits(array: np.ndarray, base: Base) -> bool:
    return base.dtype == array.dtype and base.shape == array.shape


def _sample(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array).reshape(-1)[::_SAMPLE_STEP]


def _equal(array: np.ndarray, base: Base) -> bool:
    """Bitwise equality with ``base``'s map, refuted first on its sample (nearly free, and
    without decoding the base)."""
    return same_bits(_sample(array), base.sample) and same_bits(array, base.array)


def _mostly_equal(array: np.ndarray, base: Base) -> bool:
    """Whether at least half of ``array``'s sample equals ``base``'s bit for bit (a map
    worth trying as a difference from another model's: without it, every clean map would be
    encoded once more against each other model's, for nothing on unrelated maps)."""
    sample = _sample(array)
    equal = bit_patterns(sample) == bit_patterns(base.sample)
    return 2 * int(np.count_nonzero(equal)) >= sample.size


def _against(array: np.ndarray, base: Base, limit: int) -> EncodedMap | None:
    """``array`` as ``base`` (equal bits) or as its difference from the base's whole blob;
    ``None`` when that difference is no smaller than ``limit`` bytes. Only the difference is
    encoded."""
    if _equal(array, base):
        return EncodedMap(None, base.digest, base.blobs(), base)
    whole = base.whole
    difference = encode_predicted(array, whole.array)  # None where prediction would not pay
    if difference is None:
        difference = encode_array(residual(array, whole.array))
    if len(difference.payload) >= limit:
        return None
    payload_sha256 = hashlib.sha256(difference.payload).hexdigest()
    digest = digest_of(difference, payload_sha256, whole.digest)
    blob = _blob(difference.spec(), difference.payload, array.dtype.str, array.shape,
                 whole.digest, payload_sha256)
    return EncodedMap(None, digest, ((whole.digest, whole.blob), (digest, blob)), None)


class BaseMaps:
    """The clean maps of the case an encoder is on, by (adapter, task): the bases its variants'
    maps are stored against. Holds one case at a time (memory stays flat)."""

    def __init__(self) -> None:
        self._case: str | None = None
        self._maps: dict[tuple[str, str], Base] = {}
        self._lock = threading.Lock()

    def get(self, case_id: str, adapter: str, task: str) -> Base | None:
        with self._lock:
            return self._maps.get((adapter, task)) if case_id == self._case else None

    def others(self, case_id: str, adapter: str, task: str) -> list[Base]:
        """The clean maps of ``task`` that other models gave for the case."""
        with self._lock:
            if case_id != self._case:
                return []
            found = {base.digest: base for (label, name), base in self._maps.items()
                     if name == task and label != adapter}  # a base two models share: once
            return list(found.values())

    def remember(self, case_id: str, adapter: str, task: str, base: Base) -> None:
        with self._lock:
            if case_id != self._case:
                self._case, self._maps = case_id, {}
            self._maps[(adapter, task)] = base


def parse_blob(data: bytes) -> tuple[dict[str, Any], bytes]:
    """``(header, payload)`` of a blob's bytes, both checksums verified (:class:`DamagedObject`)."""
    header, payload = read_frame(data, BLOB_MAGIC)
    try:
        if hashlib.sha256(payload).hexdigest() != header["body_sha256"]:
            raise DamagedObject("blob body checksum differs")
        base = header["base"]
        if base is not None and not isinstance(base, str):
            raise DamagedObject("blob base is not a digest")
        header["shape"] = tuple(int(n) for n in header["shape"])
        np.dtype(header["dtype"])
        if not isinstance(header["array"], dict):
            raise DamagedObject("blob header lacks its array's codec spec")
    except DamagedObject:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise DamagedObject(f"blob header does not decode: {exc}") from None
    return header, payload


class BlobStore:
    """The ``blobs/`` folder of one store (see the module docstring)."""

    def __init__(self, root: Path, *, durable: bool = True) -> None:
        self.root = root
        self.durable = durable
        #: the last base decoded (by digest: its content cannot change)
        self._last: tuple[str, np.ndarray] | None = None
        self._lock = threading.Lock()

    def path(self, digest: str) -> Path:
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise DamagedObject(f"not a blob digest: {digest!r}")
        return inside(self.root, digest[:2], f"{digest}{BLOB_SUFFIX}")

    def _checked(self, digest: str) -> tuple[bytes, dict[str, Any], bytes]:
        """A blob's bytes, header and payload, its checksums and its name checked: a valid
        blob under another digest's name (a copied or restored file) is damage too."""
        try:
            data = self.path(digest).read_bytes()
        except OSError as exc:
            raise DamagedObject(f"blob {digest[:12]} is missing or unreadable: {exc}") from None
        header, payload = parse_blob(data)
        if _digest(header["array"], header["body_sha256"], header["base"]) != digest:
            raise DamagedObject(f"blob {digest[:12]} holds another blob's content")
        return data, header, payload

    def _read(self, digest: str) -> tuple[dict[str, Any], bytes]:
        _, header, payload = self._checked(digest)
        return header, payload

    def _with_base(self, digest: str) -> list[BlobBytes]:
        """The blob and, for a difference, its base (first), each checked once."""
        data, header, _ = self._checked(digest)
        base = header["base"]
        if base is None:
            return [(digest, data)]
        base_data, base_header, _ = self._checked(base)
        if base_header["base"] is not None:
            raise DamagedObject("a base is itself stored against a base")
        return [(base, base_data), (digest, data)]

    def intact(self, digest: str) -> bool:
        """Whether the blob and, for a difference, its base are on disk with their checksums
        and names right (read from disk every time: a writer never trusts an earlier look)."""
        try:
            self._with_base(digest)
        except DamagedObject:
            return False
        return True

    def write(self, blobs: Iterable[BlobBytes]) -> None:
        """Store each blob whose digest is not already intact here (in order: bases first);
        a missing or damaged one is written whole (temporary file, then rename)."""
        for digest, data in blobs:
            if self.intact(digest):
                continue
            target = self.path(digest)
            temporary = write_temporary(target, data, fsync=self.durable)
            temporary.replace(target)

    def load(self, digest: str) -> np.ndarray:
        """The map of ``digest`` (:class:`DamagedObject` if it or its base is missing or
        damaged, or does not decode)."""
        header, payload = self._read(digest)
        try:
            base = header["base"]
            stored = decode_payload(header["array"], payload,
                                    None if base is None else self._base(base))
        except DamagedObject:
            raise
        except Exception as exc:  # bytes that pass their checksums yet do not decode
            raise DamagedObject(f"blob {digest[:12]} does not decode: {exc}") from None
        if stored.dtype != np.dtype(header["dtype"]) or stored.shape != header["shape"]:
            raise DamagedObject(f"blob {digest[:12]} decodes to another dtype or shape")
        return stored

    def _base(self, digest: str) -> np.ndarray:
        with self._lock:
            last = self._last
        if last is not None and last[0] == digest:
            return last[1]
        header, payload = self._read(digest)
        if header["base"] is not None:
            raise DamagedObject(f"blob {digest[:12]} is a base stored against another base")
        array = decode_array(header["array"], payload)
        array.setflags(write=False)
        with self._lock:
            self._last = (digest, array)
        return array

    def closure(self, digests: Iterable[str]) -> set[str]:
        """``digests`` and the bases they are stored against (unreadable blobs: themselves)."""
        found = set(digests)
        for digest in list(found):
            try:
                base = self._read(digest)[0]["base"]
            except DamagedObject:
                continue
            if base is not None:
                found.add(base)
        return found

    def copy_from(self, other: BlobStore, digests: Iterable[str]) -> bool:
        """Copy the blobs ``digests`` (and their bases) from ``other`` unless intact here;
        ``False`` if one is missing or damaged in both. Errors writing here are raised."""
        for digest in digests:
            if self.intact(digest):
                continue
            try:
                copies = other._with_base(digest)  # each of the shard's blobs read once
            except DamagedObject:
                return False
            self.write(copies)
        return True

    def files(self) -> list[Path]:
        """Every blob file and leftover temporary file under ``blobs/``."""
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.glob("*/*") if p.is_file() and (
            p.suffix == BLOB_SUFFIX or p.name.endswith(TEMP_SUFFIX)))

    def collect(self, keep: Iterable[str]) -> tuple[int, int]:
        """Delete every blob not in ``keep`` or their bases; ``(files, bytes)`` removed."""
        kept = self.closure(keep)
        n_files = n_bytes = 0
        for path in self.files():
            if path.name.endswith(BLOB_SUFFIX) and path.name[:-len(BLOB_SUFFIX)] in kept:
                continue
            n_bytes += path.stat().st_size
            n_files += 1
            path.unlink(missing_ok=True)
        for folder in self.root.iterdir() if self.root.is_dir() else ():
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        with self._lock:
            self._last = None
        return n_files, n_bytes
