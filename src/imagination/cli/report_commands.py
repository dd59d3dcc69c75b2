"""`imagination report RUN_DIR` and `imagination leaderboard RUN_DIR`: thin wrappers."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from imagination.cli.app import app, err_console, out_console

LEADERBOARD_COLUMNS = ("task", "metric", "adapter", "value", "ci_low", "ci_high", "n", "n_failed",
                       "rank", "rank_ci_low", "rank_ci_high")


class Format(StrEnum):
    csv = "csv"
    md = "md"
    json = "json"


@app.command("report")
def report(
    run_dir: Path = typer.Argument(..., help="A run directory written by `imagination bench`."),
    baseline: Path | None = typer.Option(
        None, "--baseline", help="An earlier run directory to compare against."),
    max_drop: list[str] = typer.Option(
        [], "--max-drop",
        help="Largest allowed worsening against --baseline: D for every metric (default 0.02) "
             "or METRIC=D, e.g. --max-drop auroc=0.02 --max-drop missed_ml_model=5. "
             "Repeatable."),
    include_no_skill: bool = typer.Option(
        False, "--include-no-skill", help="Also compare the no-skill references with "
        "--baseline (left out by default)."),
    require: list[str] = typer.Option(
        [], "--require",
        help="Gate 'TASK:METRIC OP VALUE[,adapter=LABEL][,on=value|ci_low|ci_high]', "
             "e.g. 'idh:auroc>=0.80'. Repeatable."),
    no_config_gates: bool = typer.Option(
        False, "--no-config-gates", help="Ignore the gates of the run's config."),
) -> None:
    """Regenerate report.html, summary.md and junit.xml from the stored results (no model is
    run) and evaluate the gates: exit 1 when a gate fails."""
    from imagination.metrics.registry import available
    from imagination.report.gates import parse_max_drops
    from imagination.report.regenerate import GateOptions, regenerate

    default, per_metric = parse_max_drops(max_drop, [m.name for m in available()])
    outcome = regenerate(run_dir, GateOptions(
        require=tuple(require), baseline_dir=baseline, max_drop=default, max_drops=per_metric,
        include_no_skill=include_no_skill, config_gates=not no_config_gates))
    for path in outcome.written:
        out_console.print(f"wrote {escape(str(path))}")
    for warning in outcome.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}")
    for gate in outcome.failed:
        err_console.print(f"[bold red]gate failed:[/] {escape(gate.name)}: {escape(gate.message)}")
    if outcome.gates:
        out_console.print(f"gates: {len(outcome.gates) - len(outcome.failed)} passed, "
                          f"{len(outcome.failed)} failed")
    raise typer.Exit(outcome.exit_code)


def _whole_counts(rows: Any) -> Any:
    """Counts and ranks written as leaderboard.csv writes them (``2``, not ``2.0``), unless a
    rank is fractional (ties)."""
    rows = rows.copy()
    for column in ("n", "n_failed", "rank", "rank_ci_low", "rank_ci_high"):
        values = rows[column].dropna()
        if len(values) and (values == values.round()).all():
            rows[column] = rows[column].astype("Int64")
    return rows


@app.command("leaderboard")
def leaderboard(
    run_dir: Path = typer.Argument(..., help="A run directory written by `imagination bench`."),
    task: str | None = typer.Option(None, "--task", help="Only this task."),
    metric: str | None = typer.Option(None, "--metric", help="Only this metric."),
    fmt: Format = typer.Option(Format.csv, "--format", help="Output format."),
) -> None:
    """Print the leaderboard (values with intervals at the run's level, and ranks) as CSV,
    Markdown or JSON."""
    from imagination.report import tables
    from imagination.report.markdown import leaderboard_markdown

    board = tables.read_table(Path(run_dir), "leaderboard.csv", required=True)
    assert board is not None
    rows = tables.select_leaderboard(board, task=task, metric=metric)
    columns = [*LEADERBOARD_COLUMNS, *(c for c in rows.columns if c not in LEADERBOARD_COLUMNS)]
    rows = rows[columns]
    if fmt is Format.csv:
        typer.echo(_whole_counts(rows).to_csv(index=False, lineterminator="\n"), nl=False)
    elif fmt is Format.md:
        run = tables.load_run(Path(run_dir))  # the warnings column needs the classes
        typer.echo(leaderboard_markdown(rows, run.level, run))
    else:
        records = tables.json_safe(_whole_counts(rows).to_dict(orient="records"))
        typer.echo(json.dumps(records, indent=2, ensure_ascii=False))
