"""`imagination runs ...`: what run folders hold and what they still lack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from imagination.cli.app import app, out_console

if TYPE_CHECKING:
    from imagination.engine.runs import RunSummary

runs_app = typer.Typer(help="Inspect run folders: list them, show one; gc frees records no job "
                                "needs.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


@runs_app.command("list")
def runs_list(
    root: Path = typer.Argument(Path(), help="Folder holding run folders (searched 3 deep)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the run folders under ROOT with their jobs done, failed and missing."""
    from imagination.engine.runs import list_runs

    summaries = list_runs(root)
    if as_json:
        out_console.print_json(json.dumps([s.to_dict() for s in summaries]))
        return
    if not summaries:
        out_console.print(f"no run folders under {root}")
        return
    table = Table("run", "config", "created", "planned", "done", "failed", "state",
                  box=None, header_style="bold")
    for s in summaries:
        table.add_row(str(s.run_dir), s.config_name or "-", s.created or "-", _count(s.planned),
                      str(s.done), str(s.failed), s.state)
    out_console.print(table, soft_wrap=False)
    for s in summaries:
        if s.error is not None:
            out_console.print(f"unreadable: {s.run_dir}: {s.error}", markup=False)


def _print_summary(s: RunSummary, limit: int) -> None:
    out_console.print(f"{s.run_dir}  config {s.config_name or '-'}  created {s.created or '-'}",
                      markup=False)
    out_console.print(f"jobs: {_count(s.planned)} planned, {s.done} done, {s.failed} failed, "
                      f"{len(s.missing) if s.has_plan else '-'} missing"
                      + (f", {s.stale} stale (not in the plan)" if s.stale else "")
                      + f"  ({s.state})", markup=False)
    if s.groups:
        table = Table(box=None, header_style="bold")
        for name, values in (("adapter", [g.adapter for g in s.groups]),
                             ("perturbation", [g.perturbation_id for g in s.groups]),
                             ("kind", [g.kind for g in s.groups])):
            table.add_column(name, no_wrap=True, min_width=max(map(len, [name, *values])))
        for name in ("plan", "ok", "fail", "miss", "wall s", "cpu s", "peak MiB"):
            table.add_column(name, justify="right")
        for g in s.groups:
            table.add_row(g.adapter, g.perturbation_id, g.kind, _count(g.planned), str(g.done),
                          str(g.failed), _count(g.missing), f"{g.wall_s:.1f}", f"{g.cpu_s:.1f}",
                          f"{g.peak_rss_mb:.0f}")
        out_console.print(table, soft_wrap=False)
    if s.failures:
        out_console.print(f"[bold]failed jobs[/] ({len(s.failures)}):")
        for f in s.failures[:limit]:
            out_console.print(f"  {f.adapter} / {f.perturbation_id} / {f.case_id} ({f.kind}): "
                              f"{f.reason or f.failure_kind}", markup=False)
    if s.missing:
        out_console.print(f"[bold]missing jobs[/] ({len(s.missing)}):")
        for job in s.missing[:limit]:
            out_console.print(f"  {job.adapter} / {job.perturbation_id} / {job.case_id} "
                              f"({job.kind}) {job.key[:12]}", markup=False)
    shown = max(len(s.failures), len(s.missing))
    if shown > limit:
        out_console.print(f"  (first {limit} of each shown; --limit to see more)")
    out_console.print(f"outputs: {', '.join(s.outputs) if s.outputs else 'none yet'}")


@runs_app.command("show")
def runs_show(
    run_dir: Path = typer.Argument(..., help="A run folder (holds run.json, plan.json, store/)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
    limit: int = typer.Option(20, "--limit", min=0, help="Failed and missing jobs to list."),
) -> None:
    """Show what a run holds: jobs per adapter and perturbation, failures, missing jobs, cost."""
    from imagination.engine.runs import describe_run

    summary = describe_run(run_dir)
    if as_json:
        out_console.print_json(json.dumps(summary.to_dict()))
        return
    _print_summary(summary, limit)


@runs_app.command("gc")
def runs_gc(
    run_dir: Path = typer.Argument(..., help="A run folder (holds plan.json and store/)."),
) -> None:
    """Delete stored records no job of the run's plan.json refers to; say how much was freed."""
    from imagination.engine.gc import collect_run_garbage

    collected = collect_run_garbage(run_dir)
    out_console.print(f"{run_dir}: removed {collected.n_objects} stored objects and "
                      f"{collected.n_blobs} map blobs no planned job refers to, freeing "
                      f"{collected.n_bytes / 1e6:.1f} MB; {collected.n_kept} records kept",
                      markup=False)
