"""Ids are names, never paths: the one rule for case, subject, adapter and run names.

A name is 1 to :data:`MAX_NAME_LENGTH` ASCII letters, digits, ``-``, ``_``, ``.`` and ``@``
(the harness's own ``<id>@reference`` twins), and does not start with a dot or ``@``. So no
name can hold a path separator, ``..``, a drive letter, a control
character, white space or a Unicode look-alike (``／`` FULLWIDTH SOLIDUS, Cyrillic ``а``...), and
a file or folder named after it stays where the harness puts it.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Final

from pydantic import AfterValidator

MAX_NAME_LENGTH: Final[int] = 128
_NAME: Final[re.Pattern[str]] = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]*")
_ALLOWED: Final[frozenset[str]] = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.@")


def _describe(char: str) -> str:
    name = unicodedata.name(char, "")
    return f"{char!r} (U+{ord(char):04X}{' ' + name if name else ''})"


def name_problem(value: object) -> str | None:
    """Why ``value`` is not a valid name, or ``None`` when it is."""
    if not isinstance(value, str):
        return f"must be text, got {type(value).__name__}"
    if not value:
        return "is empty"
    if len(value) > MAX_NAME_LENGTH:
        return f"is {len(value)} characters long (at most {MAX_NAME_LENGTH})"
    bad = next((c for c in value if c not in _ALLOWED), None)
    if bad is not None:
        kind = ("a path separator" if bad in "/\\" else "white space" if bad.isspace()
                else "a control character" if unicodedata.category(bad).startswith("C")
                else "not ASCII (a look-alike?)" if ord(bad) > 127 else "not allowed")
        return f"holds {_describe(bad)}: {kind}"
    if not _NAME.fullmatch(value):
        return "starts with a dot" if value.startswith(".") else "starts with '@'"
    return None


RULE: Final[str] = (f"use 1-{MAX_NAME_LENGTH} ASCII letters, digits, '-', '_', '.' or '@', "
                    "not starting with '.' or '@'")


def check_name(value: str) -> str:
    """``value`` if it is a valid name, else ``ValueError`` saying why (for pydantic)."""
    problem = name_problem(value)
    if problem is not None:
        raise ValueError(f"{value!r} is not a valid name: it {problem}; {RULE}")
    return value


#: A pydantic field type for names.
Name = Annotated[str, AfterValidator(check_name)]
