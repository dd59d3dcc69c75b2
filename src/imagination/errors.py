"""Exceptions that map to the documented exit codes (DESIGN §3).

``0`` done and all gates passed · ``1`` a gate failed, including the built-in "measured
something" gate (an adapter failed on every case: ``report.measured``) · ``2`` bad input or
config, found before anything ran (also a configured task no adapter does, an empty plan) ·
``3`` the run could not finish, e.g. Ctrl-C (the same command resumes).
"""

from __future__ import annotations

from collections.abc import Iterable

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INCOMPLETE = 3
#: What Ctrl-C prints, at any stage (exit 3, no traceback).
INTERRUPTED_MESSAGE = "interrupted; run the same command again to resume"


class ImaginationError(Exception):
    """Base class: an error the CLI reports as a clear message, never a traceback."""

    exit_code: int = EXIT_INCOMPLETE


class InputError(ImaginationError):
    """Bad input or configuration; nothing was run (exit 2)."""

    exit_code = EXIT_BAD_INPUT


class CaseError(InputError):
    """A problem with one case's data, naming the case, the column and the file."""

    def __init__(self, message: str, *, case_id: str | None = None, column: str | None = None,
                 file: str | None = None, code: str = "case_error") -> None:
        self.case_id = case_id
        self.column = column
        self.file = file
        self.code = code
        where = ", ".join(
            f"{k} {v!s}" for k, v in (("case", case_id), ("column", column), ("file", file)) if v
        )
        super().__init__(f"{where}: {message}" if where else message)
        self.reason = message


class RunIncomplete(ImaginationError):
    """The run could not finish; the same command resumes it (exit 3)."""

    exit_code = EXIT_INCOMPLETE


def did_you_mean(value: object, choices: Iterable[str], *, n: int = 3) -> str:
    """`` (did you mean 'auroc'?)`` naming the closest of ``choices`` (difflib), else ``""``."""
    import difflib

    close = difflib.get_close_matches(str(value), list(choices), n=n, cutoff=0.5)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"
