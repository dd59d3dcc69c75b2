"""Arrays by name, each read the first time it is used (:class:`LazyArrays`).

A benchmark job reads a case's files through this mapping, so a file no adapter looks at (a
PET scan, tissue maps, an ADC the model ignores) is never inflated, checked or resampled.
Membership, iteration and ``len`` never read anything; ``case.images["t1"]`` reads T1 once.

Copies (:meth:`LazyArrays.copy`, :func:`view`) share what is read: a worker's cached case and
every job's own mapping see one read of each file, while adding or removing a name changes
only the mapping it is done on. :func:`copies` makes a case's copy for a perturbation without
reading, or copying, the arrays the perturbation does not touch until they are used.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from functools import partial

import numpy as np

Loader = Callable[[], np.ndarray]


class _Slot:
    """One array: read by ``load`` on first use (once, also when threads race), then kept
    (read-only once frozen)."""

    __slots__ = ("array", "frozen", "load", "lock")

    def __init__(self, array: np.ndarray | None = None, load: Loader | None = None) -> None:
        self.array = array
        self.load = load
        self.frozen = False
        self.lock = threading.Lock()

    def get(self) -> np.ndarray:
        array = self.array
        if array is None:
            with self.lock:
                if self.array is None:
                    assert self.load is not None
                    loaded = self.load()
                    if self.frozen:
                        loaded.setflags(write=False)
                    self.array, self.load = loaded, None
                array = self.array
        return array

    def freeze(self) -> None:
        with self.lock:
            self.frozen = True
            if self.array is not None:
                self.array.setflags(write=False)

    def __getstate__(self) -> tuple[np.ndarray | None, Loader | None, bool]:
        return self.array, self.load, self.frozen

    def __setstate__(self, state: tuple[np.ndarray | None, Loader | None, bool]) -> None:
        self.array, self.load, self.frozen = state
        self.lock = threading.Lock()


class LazyArrays(MutableMapping[str, np.ndarray]):
    """A ``dict`` of arrays whose values are read on first access (``loaders``: name to a
    function returning the array). Assigning stores an array as it is."""

    def __init__(self, loaders: Mapping[str, Loader] | None = None) -> None:
        self._slots: dict[str, _Slot] = {name: _Slot(load=load)
                                         for name, load in (loaders or {}).items()}

    @classmethod
    def _of(cls, slots: dict[str, _Slot]) -> LazyArrays:
        out = cls()
        out._slots = slots
        return out

    def __getitem__(self, name: str) -> np.ndarray:
        return self._slots[name].get()

    def __setitem__(self, name: str, array: np.ndarray) -> None:
        self._slots[name] = _Slot(array=array)

    def __delitem__(self, name: str) -> None:
        del self._slots[name]

    def __contains__(self, name: object) -> bool:
        return name in self._slots

    def __iter__(self) -> Iterator[str]:
        return iter(self._slots)

    def __len__(self) -> int:
        return len(self._slots)

    def __repr__(self) -> str:
        state = ", ".join(f"{name}={'read' if slot.array is not None else 'unread'}"
                          for name, slot in self._slots.items())
        return f"LazyArrays({state})"

    def copy(self) -> LazyArrays:
        """A mapping of its own over the same arrays: a read through either is shared."""
        return LazyArrays._of(dict(self._slots))

    __copy__ = copy

    def clear(self) -> None:
        self._slots.clear()  # (the inherited one would read every array to remove it)

    def __or__(self, other: Mapping[str, np.ndarray]) -> LazyArrays:
        merged = self.copy()
        merged.update(other)
        return merged

    def read(self) -> list[str]:
        """Names whose array has been read so far."""
        return [name for name, slot in self._slots.items() if slot.array is not None]

    def freeze(self) -> None:
        """Make every array read-only, now for those read and on reading for the others."""
        for slot in self._slots.values():
            slot.freeze()


def view(arrays: Mapping[str, np.ndarray]) -> MutableMapping[str, np.ndarray]:
    """A new mapping of the same arrays (a lazy one stays lazy and shares its reads)."""
    return arrays.copy() if isinstance(arrays, LazyArrays) else dict(arrays)


def freeze(arrays: Mapping[str, np.ndarray]) -> None:
    """Make every array of ``arrays`` read-only (a lazy one's on reading)."""
    if isinstance(arrays, LazyArrays):
        arrays.freeze()
        return
    for array in arrays.values():
        array.setflags(write=False)


def _copy_of(slot: _Slot) -> np.ndarray:
    return slot.get().copy()


def copies(arrays: Mapping[str, np.ndarray], replaced: Mapping[str, np.ndarray] | None = None,
           drop: Iterable[str] = ()) -> MutableMapping[str, np.ndarray]:
    """Every array of ``arrays`` but those in ``drop``, copied, or taken from ``replaced``.

    From a :class:`LazyArrays` the copies are lazy too: an array is read and copied when the
    copy is first used, so a perturbation pays nothing for the arrays it leaves alone."""
    gone, new = set(drop), dict(replaced or {})
    if not isinstance(arrays, LazyArrays):
        return {name: (new[name] if name in new else array.copy())
                for name, array in arrays.items() if name not in gone}
    return LazyArrays._of({
        name: _Slot(array=new[name]) if name in new else _Slot(load=partial(_copy_of, slot))
        for name, slot in arrays._slots.items() if name not in gone})
