"""The bytes of one store object: a JSON ``meta`` document plus named arrays.

Format 2 (written now), self-verifying::

    b"IMGNREC\\x02"  uint32 header length  uint32 CRC-32 of the header   (little-endian)
    header: UTF-8 JSON {"meta": ..., "arrays": {name: spec}, "body_sha256": ...}
    body:   the inline arrays' compressed payloads, in the header's order (``engine.arraycodec``)

An array's spec is either a codec spec (the array is inline, in the body) or
``{"blob": digest, "dtype", "shape"}``: the array is the store's blob of that digest
(``engine.blobs``; store format 3), read through the ``blobs`` loader given to :func:`unpack`.
A meta-only read takes the first bytes and checks the header's CRC-32; a full read checks the
body's SHA-256, so an object proves its own integrity without the index (shards, index rebuild).

Format 1 (stores written before): a zip (``.npz``) of ``meta.npy`` (JSON as uint8) and
``recurrence.npy``; still read, never written.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from imagination.engine.arraycodec import EncodedArray, decode_array

MAGIC = b"IMGNREC\x02"
_PREFIX = struct.Struct("<8sII")
_HEADER_MAX = 16 * 1024 * 1024
#: File suffix of format-2 objects (format 1: ``.npz``).
SUFFIX = ".rec"


class DamagedObject(ValueError):
    """The object's bytes do not decode or fail their own checksum."""


#: Loads the array of a blob digest (``engine.blobs.BlobStore.load``).
BlobLoader = Callable[[str], np.ndarray]


def frame(magic: bytes, header: dict[str, Any], body: bytes) -> bytes:
    """``magic``, the header's length and CRC-32, the header (JSON) and ``body``."""
    text = json.dumps(header, sort_keys=True, default=str).encode("utf-8")
    return _PREFIX.pack(magic, len(text), zlib.crc32(text)) + text + body


def read_frame(data: bytes, magic: bytes) -> tuple[dict[str, Any], bytes]:
    """``(header, body)`` of :func:`frame` bytes, the header's CRC-32 checked."""
    if len(data) < _PREFIX.size:
        raise DamagedObject("truncated object")
    view = io.BytesIO(data[_PREFIX.size:])
    header, offset = _header(data, view.read, magic)
    return header, data[offset:]


def pack(meta: dict[str, Any], inline: dict[str, EncodedArray],
         blobs: dict[str, dict[str, Any]] | None = None) -> bytes:
    """Format-2 bytes of ``meta`` (JSON-able), the ``inline`` arrays (encoded) and the arrays
    kept as blobs (``blobs``: name -> ``{"blob": digest, "dtype", "shape"}``)."""
    body = b"".join(e.payload for e in inline.values())
    specs: dict[str, dict[str, Any]] = {n: e.spec() for n, e in inline.items()}
    specs.update(blobs or {})
    return frame(MAGIC, {"meta": meta, "arrays": specs,
                         "body_sha256": hashlib.sha256(body).hexdigest()}, body)


def _header(prefix: bytes, read_more: Any, expected: bytes = MAGIC) -> tuple[dict[str, Any], int]:
    magic, length, crc = _PREFIX.unpack(prefix[:_PREFIX.size])
    if magic != expected:
        raise DamagedObject("not a store object (bad magic)")
    if length > _HEADER_MAX:
        raise DamagedObject("header length out of range")
    header_bytes = read_more(length)
    if len(header_bytes) != length or zlib.crc32(header_bytes) != crc:
        raise DamagedObject("header checksum differs")
    try:
        return json.loads(header_bytes.decode("utf-8")), _PREFIX.size + length
    except ValueError as exc:
        raise DamagedObject(f"header is not JSON: {exc}") from None


def _unpack_v1(source: bytes | Path, arrays: bool) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    try:
        handle = io.BytesIO(source) if isinstance(source, bytes) else source
        with np.load(handle, allow_pickle=False) as npz:
            meta = json.loads(npz["meta"].tobytes().decode("utf-8"))
            found = {name: npz[name] for name in npz.files if name != "meta"} if arrays else {}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise DamagedObject(f"format-1 object does not decode: {exc}") from None
    return meta, found


def blob_digests(source: bytes | Path) -> list[str]:
    """The digests of the blobs a record's arrays are kept in (none for format 1)."""
    return [str(spec["blob"]) for spec in _specs(source).values() if "blob" in spec]


def _specs(source: bytes | Path) -> dict[str, dict[str, Any]]:
    if isinstance(source, Path):
        with source.open("rb") as handle:
            prefix = handle.read(_PREFIX.size)
            if not prefix.startswith(MAGIC):
                return {}
            if len(prefix) < _PREFIX.size:
                raise DamagedObject("truncated object")
            header, _ = _header(prefix, handle.read)
    else:
        if not source.startswith(MAGIC):
            return {}
        header, _ = read_frame(source, MAGIC)
    specs = header.get("arrays") if isinstance(header, dict) else None
    if not isinstance(specs, dict) or not all(isinstance(v, dict) for v in specs.values()):
        raise DamagedObject("object header lacks its arrays")
    return specs


def unpack(source: bytes | Path, *, arrays: bool = True, blobs: BlobLoader | None = None
           ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(meta, arrays)`` of an object (format 2 or 1); ``arrays=False`` reads the header only;
    arrays kept as blobs are read with ``blobs``.

    Raises :class:`DamagedObject` (or ``OSError`` for an unreadable file)."""
    if isinstance(source, Path):
        with source.open("rb") as handle:
            prefix = handle.read(_PREFIX.size)
            if not prefix.startswith(MAGIC):
                return _unpack_v1(source if not arrays else source.read_bytes(), arrays)
            if len(prefix) < _PREFIX.size:
                raise DamagedObject("truncated object")
            header, offset = _header(prefix, handle.read)
            body = handle.read() if arrays else b""
    else:
        if not source.startswith(MAGIC):
            return _unpack_v1(source, arrays)
        if len(source) < _PREFIX.size:
            raise DamagedObject("truncated object")
        view = io.BytesIO(source[_PREFIX.size:])
        header, offset = _header(source, view.read)
        body = source[offset:] if arrays else b""
    try:
        meta, specs = header["meta"], header["arrays"]
        if not arrays:
            return meta, {}
        if hashlib.sha256(body).hexdigest() != header["body_sha256"]:
            raise DamagedObject("body checksum differs")
        found: dict[str, np.ndarray] = {}
        position = 0
        for name, spec in specs.items():
            if "blob" in spec:
                if blobs is None:
                    raise DamagedObject(f"array {name!r} is in a blob and no blob store was "
                                        "given to read it")
                found[name] = _from_blob(name, spec, blobs)
                continue
            length = int(spec["length"])
            found[name] = decode_array(spec, body[position:position + length])
            position += length
    except DamagedObject:
        raise
    except Exception as exc:  # bytes that pass their checksums yet do not decode (zstd, ...)
        raise DamagedObject(f"object does not decode: {exc}") from None
    return meta, found


def _from_blob(name: str, spec: dict[str, Any], blobs: BlobLoader) -> np.ndarray:
    array = blobs(str(spec["blob"]))
    if array.dtype != np.dtype(spec["dtype"]) or list(array.shape) != list(spec["shape"]):
        raise DamagedObject(f"array {name!r}: its blob holds another dtype or shape")
    return array
