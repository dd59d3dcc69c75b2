"""Command-line interface: thin typer commands that parse, call the package and print.

Each command group lives in its own module and registers itself on :data:`app`.
"""

from __future__ import annotations

import importlib
import sys

from imagination.cli.app import app, run_app
from imagination.signals import InterruptWatch, leave_now

#: Modules that register commands on ``app`` (imported for their side effect).
COMMAND_MODULES: tuple[str, ...] = (
    "imagination.cli.manifest_commands",
    "imagination.cli.cohort_commands",
    "imagination.cli.adapter_commands",
    "imagination.cli.task_commands",
    "imagination.cli.metric_commands",
    "imagination.cli.perturbation_commands",
    "imagination.cli.runs_commands",
    "imagination.cli.bench_commands",
    "imagination.cli.report_commands",
    "imagination.cli.synth_commands",
    "imagination.cli.model_commands",
)

try:
    for _module in COMMAND_MODULES:
        importlib.import_module(_module)
except KeyboardInterrupt:  # Ctrl-C while starting: the same message and code as later on
    from imagination.errors import EXIT_INCOMPLETE, INTERRUPTED_MESSAGE

    sys.stderr.write(INTERRUPTED_MESSAGE + "\n")
    sys.exit(EXIT_INCOMPLETE)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point.

    After a Ctrl-C the process leaves with ``os._exit`` once its output is flushed: every
    ``finally`` has run by then, and CPython's own exit path may otherwise turn the handled
    interrupt into death by SIGINT (exit -2 instead of the documented 3)."""
    watch = InterruptWatch()
    with watch:
        code = run_app(argv)
    if watch.seen:
        if code == 0:  # the command finished as the Ctrl-C came: it still says so
            from imagination.errors import EXIT_INCOMPLETE, INTERRUPTED_MESSAGE

            sys.stderr.write(INTERRUPTED_MESSAGE + "\n")
            code = EXIT_INCOMPLETE
        leave_now(code)
    sys.exit(code)


__all__ = ["app", "main"]
