"""`imagination manifest ...`: schema, import, merge."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import typer
from rich.markup import escape

from imagination.cli.app import app, err_console, out_console
from imagination.errors import InputError

manifest_app = typer.Typer(help="Manifest tools: schema, import, merge.", no_args_is_help=True)
app.add_typer(manifest_app, name="manifest")


@manifest_app.command("schema")
def manifest_schema() -> None:
    """Print the JSON schema of manifest v1 (YAML/JSON form; CSV rows use the same columns)."""
    from imagination.cohort.manifest import manifest_json_schema

    out_console.print_json(json.dumps(manifest_json_schema()))


def _parse_options(pairs: list[str]) -> dict[str, str]:
    options: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"option {pair!r} must be written KEY=VALUE")
        options[key.strip()] = value.strip()
    return options


def _print_warnings(caught: list[warnings.WarningMessage]) -> None:
    from imagination.cohort.importers import DatasetWarning

    for item in caught:
        if issubclass(item.category, DatasetWarning):
            err_console.print(f"[yellow]warning:[/] {escape(str(item.message))}")


@manifest_app.command("import")
def manifest_import(
    format: str = typer.Argument(..., help="Dataset layout (see `imagination manifest formats`)."),
    root: Path = typer.Argument(..., help="Folder of the dataset as downloaded."),
    output: Path = typer.Option(..., "--output", "-o",
                                help="Manifest to write (.csv + .meta.yaml, .yaml or .json)."),
    option: list[str] = typer.Option(
        [], "--option", "-O", help="Dataset option KEY=VALUE (repeatable); see data_manifests/."),
    label_map: str | None = typer.Option(
        None, "--label-map", help="Replace the dataset's documented label map by a preset."),
) -> None:
    """Build a manifest from a public dataset's folder (BraTS, UCSF-PDGM, UPENN-GBM, ...)."""
    from imagination.cohort.importers import DatasetWarning
    from imagination.cohort.importers.registry import import_to_manifest

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DatasetWarning)
        rows, meta = import_to_manifest(format, root, output, _parse_options(option),
                                        label_map=label_map)
    _print_warnings(caught)
    subjects = len({r["subject_id"] for r in rows})
    out_console.print(f"wrote {len(rows)} case(s) of {subjects} subject(s) from {format} to "
                      f"{output} (label map: {meta.label_map or 'none'})")


@manifest_app.command("merge")
def manifest_merge(
    manifests: list[Path] = typer.Argument(..., help="Manifests to merge (first has priority)."),
    output: Path = typer.Option(..., "--output", "-o", help="Merged manifest to write."),
    name: str | None = typer.Option(None, "--name", help="Name of the merged cohort."),
    overlap_report: Path | None = typer.Option(
        None, "--overlap-report", help="Also write the overlapping subjects as a CSV table."),
) -> None:
    """Merge manifests; a subject in several datasets is kept once (first manifest wins)."""
    from imagination.cohort.manifest import write_manifest
    from imagination.cohort.merge import merge_manifests, write_overlap_report

    result = merge_manifests(manifests, output, name=name)
    write_manifest(output, result.rows, result.meta)
    if outside := result.paths_outside():
        err_console.print(f"[yellow]warning:[/] {outside} path(s) lie outside the folder of "
                          f"{escape(str(output))}; validate with --allow-outside-root")
    if overlap_report is not None:
        write_overlap_report(overlap_report, result.overlaps)
    out_console.print(f"wrote {len(result.rows)} case(s) from {len(manifests)} manifests to "
                      f"{output}")
    if result.overlaps:
        out_console.print(f"{len(result.overlaps)} subject(s) appear in several datasets "
                          f"(leakage risk); {len(result.dropped_case_ids)} case(s) dropped:")
        for overlap in result.overlaps:
            out_console.print(f"  {escape(overlap.describe())}")
    else:
        out_console.print("no subject appears in several datasets")


@manifest_app.command("formats")
def manifest_formats() -> None:
    """List the dataset layouts `manifest import` knows, with their -O options."""
    from imagination.cohort.importers import IMPORTERS

    for importer in IMPORTERS.values():
        out_console.print(f"[bold]{importer.name}[/]: {escape(importer.title)}")
        for key, help_text in importer.options.items():
            out_console.print(f"    -O {key}=...  {escape(help_text)}")
