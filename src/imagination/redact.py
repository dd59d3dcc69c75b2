"""What a run publishes: no absolute path and no secret (privacy by default).

Everything a run writes for others to read (``run.json``, the reports built from it, stored
failure reasons) goes through a :class:`Redactor`:

- a path under one of the run's known folders (the config's, the manifests', the run's, the
  cache, the home folder) is written relative to it, or with the folder's label (``~``);
- any other absolute path keeps only its last part: ``…/name``;
- a mapping under an ``env`` key (a command or container adapter's environment, which may hold
  tokens) is published as the sorted list of its *names*.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

ELIDED: Final[str] = "…"
#: Keys whose mapping values are secrets: only their names are published.
SECRET_MAPPINGS: Final[frozenset[str]] = frozenset({"env"})
# an absolute POSIX path not preceded by a character that would make it part of a word, a
# relative path, a URL or a number ("km/h", "a/b", "https://", "03/04")
_ABSOLUTE: Final[re.Pattern[str]] = re.compile(r"(?<![\w.~$:/\\-])/[^\s'\"<>|,;()\[\]{}]+")


def env_names(value: Any) -> Any:
    """The names of an environment mapping (values never leave the process)."""
    return sorted(str(k) for k in value) if isinstance(value, Mapping) else value


class Redactor:
    """Rewrites text and JSON-like trees so that no absolute path or secret remains.

    ``roots``: ``(folder, label)`` pairs in order of preference; a path under ``folder`` is
    written relative to it (``label`` ``""``) or as ``label/rest``.
    """

    def __init__(self, roots: Iterable[tuple[str | os.PathLike[str], str]] = ()) -> None:
        seen: dict[str, str] = {}
        for folder, label in roots:
            text = str(Path(folder).resolve()).rstrip("/")
            if text and text not in seen:
                seen[text] = label
        self.roots: tuple[tuple[str, str], ...] = tuple(seen.items())

    def path(self, match: str) -> str:
        """One absolute path, made relative to the first root holding it, else ``…/name``."""
        for root, label in self.roots:
            if match == root:
                return label or "."
            if match.startswith(root + "/"):
                rest = match[len(root) + 1:]
                return f"{label}/{rest}" if label else rest
        name = match.rstrip("/").rsplit("/", 1)[-1]
        return f"{ELIDED}/{name}" if name else ELIDED

    def text(self, value: str) -> str:
        """``value`` with every absolute path rewritten."""
        if "/" not in value:
            return value
        return _ABSOLUTE.sub(lambda m: self.path(m.group(0)), value)

    def tree(self, value: Any) -> Any:
        """A JSON-like value with every string rewritten and every ``env`` mapping reduced to
        its names."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, os.PathLike):
            return self.text(os.fspath(value))
        if isinstance(value, Mapping):
            return {k: (env_names(v) if k in SECRET_MAPPINGS else self.tree(v))
                    for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.tree(item) for item in value]
        return value


def home_root() -> list[tuple[Path, str]]:
    """The home folder as ``~`` (it usually holds the user's name)."""
    try:
        return [(Path.home(), "~")]
    except RuntimeError:  # no home folder known
        return []


class RedactingFormatter(logging.Formatter):
    """A log formatter whose lines pass through a :class:`Redactor` (for ``bench.log``)."""

    def __init__(self, fmt: str, redactor: Redactor) -> None:
        super().__init__(fmt)
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self.redactor.text(super().format(record))
