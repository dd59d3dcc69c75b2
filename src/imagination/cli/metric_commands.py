"""`imagination metrics list`: the metric dictionary (registry) as a table or JSON."""

from __future__ import annotations

import json

import typer
from rich.markup import escape

from imagination.cli.app import app, out_console

metrics_app = typer.Typer(help="Metrics: definitions, units, directions, edge cases.",
                          no_args_is_help=True)
app.add_typer(metrics_app, name="metrics")


def _range(low: float, high: float) -> str:
    def end(x: float) -> str:
        return "∞" if x == float("inf") else ("−∞" if x == float("-inf") else f"{x:g}")
    return f"[{end(low)}, {end(high)}]"


@metrics_app.command("list")
def metrics_list(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
    family: str = typer.Option(None, "--family",
                               help="Only classification, segmentation, recurrence or derived."),
) -> None:
    """Every metric: definition, unit, direction, range, edge-case policy, reference
    implementation (docs/metrics.md describes the same registry)."""
    from imagination.metrics import registry

    metrics = (registry.available(family) if family
               else [m for f in registry.FAMILIES for m in registry.available(f)])
    if as_json:
        out_console.print_json(json.dumps([m.describe() for m in metrics]))
        return
    for m in metrics:
        unit = f" · unit {m.unit}" if m.unit else ""
        chance = f" · chance {m.chance:g}" if m.chance is not None else ""
        out_console.print(f"[bold]{m.name}[/]  {escape(m.label)} ({m.family}, {m.level}"
                          f"{', ' + m.applies_to + ' tasks' if m.applies_to != 'any' else ''})")
        out_console.print(f"  {m.direction_words} · range {_range(*m.range)}{unit}{chance}")
        if m.definition:
            out_console.print(f"  definition: {escape(m.definition)}")
        out_console.print(f"  edge cases: {escape(m.edge_case_policy)}")
        if m.reference_implementation:
            out_console.print(f"  reference: {escape(m.reference_implementation)}")
