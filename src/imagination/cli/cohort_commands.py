"""`imagination validate MANIFEST...`: check manifests and every file they name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from imagination.cli.app import app, err_console, out_console
from imagination.errors import InputError

if TYPE_CHECKING:
    from rich.table import Table

    from imagination.cohort.validation import Problem, ValidationReport


def _display_path(file: str | None) -> str:
    """A path relative to the working folder when it lies inside it, else as given."""
    if not file:
        return ""
    path = Path(file)
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else file


def _problem_table(problems: list[Problem]) -> Table:
    """Problems grouped by case (manifest-level problems first), one section per case."""
    from rich.table import Table

    order: dict[str, int] = {}
    for problem in problems:
        order.setdefault(problem.case_id or "", len(order))
    grouped = sorted(problems, key=lambda p: (p.case_id is not None, order[p.case_id or ""]))
    table = Table(header_style="bold", expand=False)
    for name in ("case", "severity", "code"):
        table.add_column(name, no_wrap=True)
    table.add_column("column", overflow="fold", max_width=20)
    table.add_column("problem (file)", overflow="fold", ratio=1)
    previous: str | None = None
    for problem in grouped:
        key = problem.case_id or "(manifest)"
        if previous is not None and key != previous:
            table.add_section()
        colour = "red" if problem.is_error else "yellow"
        where = _display_path(problem.file)
        table.add_row(escape(key) if key != previous else "",
                      f"[{colour}]{problem.severity}[/]", problem.code,
                      escape(problem.column or ""),
                      escape(problem.message) + (f"\n[dim]{escape(where)}[/]" if where else ""))
        previous = key
    return table


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def _summary(report: ValidationReport) -> str:
    return (f"{_plural(report.n_cases, 'case')} in {_plural(len(report.manifests), 'manifest')}: "
            f"{_plural(len(report.errors), 'error')}, {_plural(len(report.warnings), 'warning')}")


@app.command("validate")
def validate_command(
    manifests: list[Path] = typer.Argument(..., help="Manifest files (CSV, TSV, YAML, JSON)."),
    as_json: bool = typer.Option(False, "--json", help="Print the problems as a JSON list."),
    strict: bool = typer.Option(False, "--strict", help="Warnings fail too (exit 2)."),
    allow_outside_root: bool = typer.Option(
        False, "--allow-outside-root", help="Allow paths that leave the manifest's folder."),
    workers: int = typer.Option(
        1, "--workers", min=1, help="Processes reading the cases' files (at most the cores)."),
) -> None:
    """Check every case of the manifests and report every problem in one run.

    Exit 0 when clean, 2 when there are errors (or warnings with --strict).
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from imagination.cohort.validation import validate
    from imagination.engine.case_pool import at_most_cores

    with Progress(TextColumn("checking files"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err_console, transient=True,
                  disable=not err_console.is_terminal) as progress:
        task = progress.add_task("validate", total=None)
        report = validate(manifests, allow_outside_root=allow_outside_root,
                          workers=at_most_cores(workers),
                          on_case=lambda done, total: progress.update(task, completed=done,
                                                                      total=total))
    unreadable = [p for p in report.problems if p.code == "unreadable_manifest"]
    if not as_json and not report.manifests and len(unreadable) == 1 == len(report.problems):
        raise InputError(unreadable[0].message)  # nothing could be read: one clear message
    if as_json:
        typer.echo(json.dumps([p.to_dict() for p in report.problems], indent=2))
    else:
        if report.problems:
            out_console.print(_problem_table(report.problems))
        out_console.print(_summary(report))
    failing = report.errors or (strict and report.warnings)
    if failing:
        what = (_plural(len(report.errors), "error") if report.errors
                else _plural(len(report.warnings), "warning") + " (--strict)")
        raise InputError(f"validation failed: {what}")
