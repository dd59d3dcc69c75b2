"""`imagination adapters ...`: list the adapters the registry knows."""

from __future__ import annotations

import json

import typer

from imagination.cli.app import app, out_console

adapters_app = typer.Typer(help="Model adapters: built-ins, plug-ins, configured kinds.",
                           no_args_is_help=True)
app.add_typer(adapters_app, name="adapters")


@adapters_app.command("list")
def adapters_list(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show each adapter's tasks, modalities and model card."""
    from imagination.adapters.registry import available

    infos = available()
    if as_json:
        out_console.print_json(json.dumps([info.to_dict() for info in infos.values()]))
        return
    for info in infos.values():
        kind = info.kind + (", learns from the cohort (cross-fitted)" if info.learning else "")
        out_console.print(f"[bold]{info.name}[/]  ({kind})")
        if info.error:
            out_console.print(f"  [red]error:[/] {info.error}")
            continue
        if info.kind == "configured":
            out_console.print(f"  {info.summary}; tasks and modalities come from the config")
            continue
        out_console.print(f"  tasks: {', '.join(info.tasks)} · needs: "
                          f"{', '.join(info.required_modalities) or '-'} · optional: "
                          f"{', '.join(info.optional_modalities) or '-'}")
        if info.card is not None:
            card = info.card
            out_console.print(f"  intended use: {card.intended_use}")
            out_console.print(f"  training data: {card.training_data} · licence: {card.licence}"
                              f" · {card.regulatory_status} · "
                              f"{'deterministic' if card.deterministic else 'not deterministic'}")
            if card.reference:
                out_console.print(f"  reference: {card.reference}")
