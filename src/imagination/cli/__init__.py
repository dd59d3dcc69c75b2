"""Command-line interface: thin typer commands that parse, call the package and print.

Each command group lives in its own module and registers itself on :data:`app`.
"""

from __future__ import annotations

import importlib
import sys

from imagination.cli.app import app, run_app

#: Modules that register commands on ``app`` (imported for their side effect).
COMMAND_MODULES: tuple[str, ...] = (
    "imagination.cli.manifest_commands",
    "imagination.cli.cohort_commands",
    "imagination.cli.adapter_commands",
    "imagination.cli.metric_commands",
    "imagination.cli.runs_commands",
    "imagination.cli.bench_commands",
    "imagination.cli.report_commands",
    "imagination.cli.synth_commands",
    "imagination.cli.model_commands",
)

for _module in COMMAND_MODULES:
    importlib.import_module(_module)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    sys.exit(run_app(argv))


__all__ = ["app", "main"]
