"""`imagination tasks ...`: list the tasks the registry knows."""

from __future__ import annotations

import json
from typing import Any

import typer

from imagination.cli.app import app, out_console

tasks_app = typer.Typer(help="Tasks: output types, truth, metrics and the adapters that do them.",
                        no_args_is_help=True)
app.add_typer(tasks_app, name="tasks")


def _join(values: Any) -> str:
    return ", ".join(str(v) for v in values) or "-"


@tasks_app.command("list")
def tasks_list(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show each task with its family, output type, truth, metrics and adapters."""
    from imagination.adapters.registry import available
    from imagination.tasks.registry import describe_all

    rows = describe_all(available().values())
    if as_json:
        out_console.print_json(json.dumps(rows))
        return
    for row in rows:
        r: dict[str, Any] = dict(row)
        out_console.print(f"[bold]{r['task']}[/]  ({r['family']})")
        out_console.print(f"  output: {r['output']}: {r['output_description']}")
        if r.get("classes"):
            out_console.print(f"  classes: {_join(r['classes'])}")
        out_console.print(f"  truth: {r['truth']}")
        hidden = [f"mask_{m}" for m in r["hidden_masks"]] or (
            [r["task"]] if r["task"] in r["hidden_labels"] else [])
        if hidden:
            out_console.print(f"  hidden from {r['hidden_from']}: {_join(hidden)}")
        out_console.print(f"  metrics: {_join(r['default_metrics'])}")
        # the headline is a preference order shared by the family: show the task's own
        headline = [m for m in r["headline_metrics"] if m in r["default_metrics"]]
        out_console.print(f"  headline: {_join(headline or r['headline_metrics'])}")
        configured = [f"{a} (configured)" for a in r["configured_adapters"]]
        out_console.print(f"  adapters: {_join([*r['adapters'], *configured])}")
