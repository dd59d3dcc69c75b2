"""`imagination perturbations list`: every perturbation kind and what its severities 1–5 are
physically (the parameter and its value at each severity)."""

from __future__ import annotations

import json

import typer
from rich.markup import escape

from imagination.cli.app import app, out_console

perturbations_app = typer.Typer(help="Perturbations: kinds and their severity tables.",
                                no_args_is_help=True)
app.add_typer(perturbations_app, name="perturbations")


@perturbations_app.command("list")
def perturbations_list(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Each kind: what it changes, the physical parameter the severity sets, its value at
    severities 1..5, and whether the seed matters."""
    from imagination.perturb.registry import available

    infos = list(available().values())
    if as_json:
        out_console.print_json(json.dumps([info.as_dict() for info in infos]))
        return
    for info in infos:
        levels = ", ".join(f"{s}: {v:g}" for s, v in enumerate(info.levels, start=1))
        out_console.print(f"[bold]{info.name}[/]  {escape(info.description)}")
        out_console.print(f"  changes {escape(info.touches)} · {escape(info.parameter)} by "
                          f"severity {levels}{' · seeded' if info.seeded else ''}")
