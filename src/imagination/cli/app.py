"""The typer application, version flag and the error-to-exit-code wrapper."""

from __future__ import annotations

import os
import sys
from typing import TextIO

import typer
from rich.console import Console
from rich.markup import escape

from imagination import __version__
from imagination.errors import (
    EXIT_BAD_INPUT,
    EXIT_INCOMPLETE,
    INTERRUPTED_MESSAGE,
    ImaginationError,
)

app = typer.Typer(
    name="imagination",
    help="Benchmark neuro-oncology AI models on multicenter MRI/PET cohorts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
#: typer turns a KeyboardInterrupt inside a command into exit code 130 (128 + SIGINT), which
#: no command of ours returns: it becomes the documented interrupt (exit 3)
TYPER_INTERRUPTED = 130
#: tables written to a pipe or a CI log (no terminal, no $COLUMNS): rich would squeeze them
#: into 80 columns, wrapping every file path and truncating headers ("wa… s")
PIPE_WIDTH = 160


def _width(stream: TextIO) -> int | None:
    """``None`` (rich decides) on a terminal or with ``$COLUMNS``, else :data:`PIPE_WIDTH`."""
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):
        terminal = False
    return None if terminal or os.environ.get("COLUMNS") else PIPE_WIDTH


err_console = Console(stderr=True, highlight=False, soft_wrap=True, width=_width(sys.stderr))
out_console = Console(highlight=False, soft_wrap=True, width=_width(sys.stdout))


def _version(value: bool) -> None:
    if value:
        out_console.print(f"imagination {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Benchmark neuro-oncology AI models on multicenter MRI/PET cohorts."""


def run_app(argv: list[str] | None = None) -> int:
    """Run the app; known errors become a one-line message and their exit code."""
    try:
        # without standalone mode, click returns the code of a `typer.Exit(code)` instead of
        # raising it
        code = app(args=argv, prog_name="imagination", standalone_mode=False)
    except ImaginationError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}")
        return exc.exit_code
    except typer.Exit as exc:
        code = int(exc.exit_code or 0)
    except typer.Abort:
        err_console.print("aborted")
        return EXIT_INCOMPLETE
    except KeyboardInterrupt:
        err_console.print(INTERRUPTED_MESSAGE)
        return EXIT_INCOMPLETE
    except Exception as exc:
        # click's usage errors (typer vendors click, so match by shape, not by class)
        if callable(getattr(exc, "show", None)) and hasattr(exc, "exit_code"):
            exc.show(file=sys.stderr)
            return EXIT_BAD_INPUT
        from imagination.runfolder import machine_error

        machine = machine_error(exc)  # disk full, read-only, permissions: one line, exit 3
        if machine is None:
            raise
        err_console.print(f"[bold red]error:[/] {escape(str(machine))}")
        return machine.exit_code
    code = code if isinstance(code, int) and not isinstance(code, bool) else 0
    if code == TYPER_INTERRUPTED:
        err_console.print(INTERRUPTED_MESSAGE)
        return EXIT_INCOMPLETE
    return code
