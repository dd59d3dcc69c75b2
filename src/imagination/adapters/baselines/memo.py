"""Per-process memory of results computed from identical inputs.

A bench runs one model on many variants of a case (perturbations, ablations) and
case affinity sends them to the same worker. Where a variant leaves every input a computation
reads unchanged (``drop_flair`` for a model that never reads FLAIR, the MRI-only fit of a
PET model without PET), the result is the same bytes: :class:`InputMemo` keeps the last few
by a digest of exactly those inputs, so it is computed once. Results are returned read-only.
"""

from __future__ import annotations

import hashlib
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

import numpy as np

T = TypeVar("T")


def input_digest(parts: Iterable[object]) -> bytes:
    """SHA-256 of ``parts``: arrays by dtype, shape and bytes; anything else by its ``repr``."""
    digest = hashlib.sha256()  # hardware-accelerated on most CPUs: faster than BLAKE2b
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(f"array:{part.dtype.str}:{part.shape}".encode())
            digest.update(np.ascontiguousarray(part).data)
        else:
            digest.update(f"{type(part).__name__}:{part!r}".encode())
        digest.update(b"\x00")
    return digest.digest()


def _read_only(value: object) -> None:
    values = value if isinstance(value, tuple) else (value,)
    for item in values:
        if isinstance(item, np.ndarray):
            item.setflags(write=False)


class InputMemo(Generic[T]):
    """The last ``size`` results by input digest (least recently used dropped first)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[bytes, T] = OrderedDict()
        _ALL.add(self)

    def get(self, key: bytes, compute: Callable[[], T]) -> T:
        """The result for ``key``, computed by ``compute()`` when not remembered."""
        found = self._items.get(key)
        if found is None:
            found = compute()
            _read_only(found)
            self._items[key] = found
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        else:
            self._items.move_to_end(key)
        return found

    def clear(self) -> None:
        self._items.clear()


_ALL: weakref.WeakSet[InputMemo[Any]] = weakref.WeakSet()


def clear_all() -> None:
    """Forget every memo of this process (benchmarks timing cold work call this)."""
    for memo in list(_ALL):
        memo.clear()
