"""`imagination models ...`: the model registry (list entries, check one on demo cases)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from imagination.cli.app import app, out_console

models_app = typer.Typer(help="Packaged models of a registry file ($IMAGINATION_MODELS).",
                         no_args_is_help=True)
app.add_typer(models_app, name="models")
REGISTRY = typer.Option(None, "--registry", "-r", help="registry YAML (default "
                        "$IMAGINATION_MODELS)")


@models_app.command("list")
def models_list(registry: Path | None = REGISTRY,
                as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Each model's image, layout, tasks, space, device, time per case, licences and paper."""
    from imagination.models.registry import load_registry

    loaded = load_registry(registry)
    if as_json:
        out_console.print_json(json.dumps([e.model_dump(mode="json")
                                           for e in loaded.entries.values()]))
        return
    for entry in loaded.entries.values():
        image = entry.image or f"archive {entry.image_archive}"
        out_console.print(f"[bold]{entry.id}[/]  {image} ({entry.digest or 'no digest pinned'})")
        out_console.print(f"  layout {entry.layout} · tasks {', '.join(entry.tasks)} · space "
                          f"{entry.reference_space} · {entry.device} · "
                          f"{entry.expected_s_per_case or '?'} s/case")
        out_console.print(f"  code licence {entry.code_licence} · weights licence "
                          f"{entry.weights_licence}" + (f" · {entry.paper}" if entry.paper
                                                        else ""))


@models_app.command("check")
def models_check(model_id: str = typer.Argument(..., help="model id in the registry"),
                 registry: Path | None = REGISTRY,
                 cases: int = typer.Option(2, min=1, max=4, help="demo cases to run"),
                 manifest: Path | None = typer.Option(
                     None, "--manifest", help="run on this cohort's first cases instead of "
                     "the synthetic demo cases")) -> None:
    """Run the model on demo cases: are inputs, outputs, grid and timing right? Exit 1 if not."""
    from imagination.models.check import check_model
    from imagination.models.registry import load_registry

    loaded = load_registry(registry)
    report = check_model(loaded.get(model_id), loaded.path.parent, n_cases=cases,
                         manifest=manifest)
    for aspect, verdict in report.aspects.items():
        word = {True: "[green]ok[/]", False: "[red]FAIL[/]", None: "not reached"}[verdict]
        out_console.print(f"{aspect:8s} {word}")
    for reason in report.reasons:
        out_console.print(f"  {reason}")
    if not report.ok:
        raise typer.Exit(1)
