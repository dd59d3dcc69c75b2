"""Base class of the layouts built on :mod:`templated` names."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from imagination.containers.layouts.base import LayoutOutputs, LayoutRequest, Staged
from imagination.containers.layouts.templated import Naming, read_named, stage_named
from imagination.errors import InputError


class NamedLayout(ABC):
    """A layout defined by :meth:`naming`; subclasses declare their options."""

    name: ClassVar[str]
    summary: ClassVar[str]
    allowed_options: ClassVar[frozenset[str]] = frozenset()
    required: tuple[str, ...] = ()

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options = dict(options or {})
        unknown = sorted(set(self.options) - self.allowed_options - {"args", "outputs"})
        if unknown:
            raise InputError(f"layout {self.name}: unknown options {unknown}; allowed: "
                             f"{', '.join(sorted(self.allowed_options | {'args', 'outputs'}))}")

    @abstractmethod
    def naming(self, request: LayoutRequest) -> Naming:
        """The package's file names for ``request`` (inputs staged, outputs read back)."""

    def stage(self, request: LayoutRequest, work: Path) -> Staged:
        return stage_named(self.naming(request), request, work)

    def read(self, request: LayoutRequest, staged: Staged) -> LayoutOutputs:
        return read_named(self.naming(request), request, staged)
