"""Bounded reading of NIfTI bytes: memory never exceeds what the header declares and the file
can hold.

- only regular files are opened (with ``O_NONBLOCK``: a FIFO named ``.nii.gz`` cannot block);
- the header's declared size (offset + voxels) is checked against the file *before* anything
  is allocated: at most the file size for ``.nii``, at most :data:`GZIP_MAX_RATIO` times the
  compressed size for ``.nii.gz`` (deflate cannot do better), and :data:`MAX_IMAGE_BYTES`;
- gunzip stops at the declared size: bytes after the image (a "zero-byte bomb" appended to the
  stream) are never inflated; several gzip members are read in turn.
"""

from __future__ import annotations

import io
import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import nibabel as nib
import numpy as np

#: deflate's best compression ratio is about 1032:1; a declared size beyond it is impossible.
GZIP_MAX_RATIO: Final[int] = 1032
#: Largest image (header, extensions and voxels) read, in bytes.
MAX_IMAGE_BYTES: Final[int] = 8 * 2**30
#: NIfTI-1 and NIfTI-2 header sizes (``sizeof_hdr``).
HEADER_SIZES: Final[tuple[int, int]] = (348, 540)
#: Bytes enough for either header (NIfTI-2's 540 plus the 4 extension-flag bytes).
HEAD_BYTES: Final[int] = 544


class NotRegularFile(OSError):
    """The path is a folder, FIFO, socket or device."""


def read_regular(path: Path, limit: int | None = None) -> tuple[bytes, int]:
    """The bytes of a regular file (the first ``limit`` bytes if given) and its size."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(f"{path} is not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read() if limit is None else handle.read(limit)
    finally:
        os.close(fd)
    return data, info.st_size


def check_regular(path: Path) -> int:
    """The size of a regular file; :class:`NotRegularFile` for anything else (never blocks)."""
    return read_regular(path, 0)[1]


def _fast_zlib():  # type: ignore[no-untyped-def]
    try:
        from zlib_ng import zlib_ng as fast
    except ImportError:  # pragma: no cover - zlib-ng is a declared dependency
        import zlib as fast
    return fast


def bounded_gunzip(payload: bytes, size: int) -> bytes | None:
    """The first ``size`` bytes of the gzip stream(s) in ``payload``, inflating nothing beyond
    them; ``None`` when the stream ends (or breaks) before ``size`` bytes.

    zlib-ng when installed (3-4x faster than the standard library, shared/research/perf.md).
    """
    zlib = _fast_zlib()
    parts: list[bytes] = []
    got = 0
    data = payload
    try:
        while got < size:
            stream = zlib.decompressobj(wbits=31)
            chunk = stream.decompress(data, size - got)
            parts.append(chunk)
            got += len(chunk)
            if got >= size:
                break
            if not stream.eof or not stream.unused_data:
                return None  # input used up before the declared size: truncated
            data = stream.unused_data  # the next gzip member
    except zlib.error:
        return None
    return parts[0] if len(parts) == 1 else b"".join(parts)


def gunzip_prefix(payload: bytes, size: int) -> bytes:
    """Up to ``size`` bytes from the start of a gzip stream (fewer if it ends or breaks)."""
    zlib = _fast_zlib()
    try:
        return zlib.decompressobj(wbits=31).decompress(payload, size)
    except zlib.error:
        return b""


@dataclass(frozen=True)
class Declared:
    """What a NIfTI header declares: its version and the bytes from file start to the last
    voxel (``offset + prod(shape) * itemsize``)."""

    sizeof_hdr: int
    total_bytes: int


def declared_size(head: bytes) -> Declared | None:
    """Parse the header bytes; ``None`` when they are not a NIfTI-1/2 header that nibabel can
    read (the streaming reader then names the problem)."""
    if len(head) < HEADER_SIZES[0]:
        return None
    little, big = struct.unpack("<i", head[:4])[0], struct.unpack(">i", head[:4])[0]
    sizeof_hdr = little if little in HEADER_SIZES else big
    if sizeof_hdr not in HEADER_SIZES or len(head) < sizeof_hdr:
        return None
    klass = nib.Nifti1Header if sizeof_hdr == HEADER_SIZES[0] else nib.Nifti2Header
    try:
        header = klass.from_fileobj(io.BytesIO(head[:sizeof_hdr]), check=False)
        shape = tuple(int(s) for s in header.get_data_shape())
        itemsize = int(header.get_data_dtype().itemsize)
        offset = int(header.get_data_offset())
    except Exception:  # nibabel raises several types for nonsense headers
        return None
    if any(s < 0 for s in shape) or itemsize <= 0 or offset < 0:
        return None
    n_voxels = int(np.prod(shape, dtype=object)) if shape else 0
    return Declared(sizeof_hdr, max(offset, sizeof_hdr + 4) + n_voxels * itemsize)


def implausible(declared: Declared, file_size: int, compressed: bool) -> tuple[str, str] | None:
    """``(code, reason)`` when the declared size cannot be in this file or is too large to
    read (``implausible_header``, or ``truncated_file`` for a short ``.nii``), else ``None``."""
    need = declared.total_bytes
    if need > MAX_IMAGE_BYTES:
        return "implausible_header", (f"the header declares {need:,} bytes of image, more than "
                                      f"the {MAX_IMAGE_BYTES:,}-byte limit")
    if compressed and need > GZIP_MAX_RATIO * file_size + 2**16:
        return "implausible_header", (
            f"the header declares {need:,} bytes of image, more than a {file_size:,}-byte gzip "
            f"file can hold (deflate compresses at most ~{GZIP_MAX_RATIO}:1); the file is "
            "corrupt or hostile")
    if not compressed and need > file_size:
        return "truncated_file", (f"the file holds {file_size:,} bytes but its header declares "
                                  f"{need:,} (file truncated?)")
    return None
