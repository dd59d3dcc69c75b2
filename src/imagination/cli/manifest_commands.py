"""`imagination manifest ...`: schema, import, merge."""

from __future__ import annotations

import json

import typer

from imagination.cli.app import app, out_console
from imagination.cohort.manifest import manifest_json_schema

manifest_app = typer.Typer(help="Manifest tools: schema, import, merge.", no_args_is_help=True)
app.add_typer(manifest_app, name="manifest")


@manifest_app.command("schema")
def manifest_schema() -> None:
    """Print the JSON schema of manifest v1 (YAML/JSON form; CSV rows use the same columns)."""
    out_console.print_json(json.dumps(manifest_json_schema()))
