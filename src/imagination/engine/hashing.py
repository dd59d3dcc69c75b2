"""Content hashes: file digests and job keys.

A job key is the SHA-256 (hex) of a canonical JSON document::

    {"key_version": 2,
     "adapter": {"name": ..., "version": ..., "params": {...}},
     "inputs": {"t1c": "<sha256 of the file bytes>", "mask_tumor": "...", ...},
     "perturbation": {...} or null,
     "extra": {...} or null}

Canonical JSON: keys sorted, no whitespace, UTF-8. Floats are written with ``repr`` (the shortest
string that round-trips), so ``0.1`` and ``0.1000001`` differ while equal floats always agree;
``1`` (int) and ``1.0`` (float) are different values and give different keys. NaN and ±inf are
written as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``. numpy scalars become Python
numbers, numpy arrays ``{"__ndarray__": dtype, "shape": [...], "sha256": ...}``, tuples lists, sets
sorted lists, paths strings, dataclasses and pydantic models their field dicts. Mapping keys must
be strings (anything else is an error, so that ``{1: ...}`` and ``{"1": ...}`` cannot collide
silently). Input file *names* do not enter the key, only their contents under their role.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import math
import os
import threading
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any, Protocol

import numpy as np

#: 2: precomputed adapters' paths relative to the config folder (were absolute).
KEY_VERSION = 2
_CHUNK = 1 << 20


class DigestCache(Protocol):
    """A persistent memo of file digests (the prediction store implements it in SQLite)."""

    def lookup_digest(self, path: str, size: int, mtime_ns: int) -> str | None:
        ...

    def remember_digest(self, path: str, size: int, mtime_ns: int, digest: str) -> None:
        ...


_memo: dict[tuple[str, int, int], str] = {}
_memo_lock = threading.Lock()


def cache_name(resolved: Path, stat: os.stat_result, root: Path | None) -> str:
    """How the persistent digest cache names a file, never by its absolute path: relative to
    ``root`` (the manifest's folder), else a hash of the path, plus device and inode so that
    equal relative paths of two cohorts cannot share an entry."""
    if root is not None:
        name = os.path.relpath(resolved, Path(root).resolve())
    else:
        name = "sha256:" + hashlib.sha256(str(resolved).encode()).hexdigest()[:32]
    return f"{name}@{stat.st_dev}:{stat.st_ino}"


def file_digest(path: str | os.PathLike[str], cache: DigestCache | None = None, *,
                root: str | os.PathLike[str] | None = None) -> str:
    """SHA-256 (hex) of a file's bytes.

    Memoised per (absolute path, size, mtime_ns) in this process and, when ``cache`` is given,
    in that persistent cache under :func:`cache_name` (``root``: the folder paths are kept
    relative to, usually the manifest's), so an unchanged file is hashed once per run folder.
    A file rewritten in place with the same size within the same nanosecond would be missed;
    every real editor or copy changes ``mtime_ns``.
    """
    resolved = Path(path).resolve()
    stat = resolved.stat()
    memo_key = (str(resolved), stat.st_size, stat.st_mtime_ns)
    with _memo_lock:
        known = _memo.get(memo_key)
    if known is not None:
        return known
    stored = (cache_name(resolved, stat, None if root is None else Path(root)),
              stat.st_size, stat.st_mtime_ns)
    if cache is not None:
        known = cache.lookup_digest(*stored)
    if known is None:
        with resolved.open("rb") as handle:
            known = hashlib.file_digest(handle, "sha256").hexdigest()
        if cache is not None:
            cache.remember_digest(*stored, known)
    with _memo_lock:
        _memo[memo_key] = known
    return known


def file_digests(paths: Mapping[str, str | os.PathLike[str]],
                 cache: DigestCache | None = None, *,
                 root: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """Digest of every file of a role → path mapping (e.g. a case's images and masks)."""
    return {role: file_digest(path, cache, root=root) for role, path in sorted(paths.items())}


def clear_memo() -> None:
    """Forget this process's memoised digests (for tests and long-lived processes)."""
    with _memo_lock:
        _memo.clear()


def _float(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def canonical(value: Any) -> Any:
    """Convert ``value`` into plain JSON types, deterministically (see the module docstring)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, enum.Enum):
        return canonical(value.value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _float(float(value))
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return _float(float(value))
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        return {"__ndarray__": array.dtype.str, "shape": list(array.shape),
                "sha256": hashlib.sha256(array.tobytes()).hexdigest()}
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"job key: mapping keys must be strings, got {key!r}")
            out[key] = canonical(item)
        return out
    if isinstance(value, set | frozenset):
        items = [canonical(item) for item in value]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    if isinstance(value, list | tuple):
        return [canonical(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return canonical({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):
        return canonical(model_dump(mode="python"))
    raise TypeError(f"job key: cannot hash a value of type {type(value).__name__}: {value!r}")


def canonical_json(value: Any) -> str:
    """The canonical JSON text of ``value``: sorted keys, no whitespace, floats via ``repr``."""
    return json.dumps(canonical(value), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=False)


def job_key(adapter_name: str, adapter_version: str, adapter_params: Mapping[str, Any],
            input_digests: Mapping[str, str], perturbation: Mapping[str, Any] | None,
            extra: Mapping[str, Any] | None = None) -> str:
    """SHA-256 (hex) identifying one job's output; equal inputs give equal keys everywhere.

    ``perturbation`` should hold the perturbation's name, parameters, severity and seed;
    ``extra`` anything else that changes the output (e.g. the job kind or a fold assignment).
    """
    document = {
        "key_version": KEY_VERSION,
        "adapter": {"name": adapter_name, "version": adapter_version,
                    "params": dict(adapter_params)},
        "inputs": dict(input_digests),
        "perturbation": None if perturbation is None else dict(perturbation),
        "extra": None if extra is None else dict(extra),
    }
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()

