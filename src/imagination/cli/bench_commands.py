"""`imagination bench` and `imagination config schema`."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from imagination.cli.app import app, err_console, out_console
from imagination.config import config_json_schema, demo_config_path, load_config

config_app = typer.Typer(help="Bench configuration tools.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("schema")
def config_schema() -> None:
    """Print the JSON schema of the bench config."""
    out_console.print_json(json.dumps(config_json_schema()))


def _setup_logging(run_dir: Path, quiet: bool, log_name: str = "bench.log") -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger("imagination")
    root.setLevel(logging.INFO)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    file_handler = logging.FileHandler(run_dir / log_name)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(file_handler)
    if not quiet:
        from rich.logging import RichHandler

        console = RichHandler(console=err_console, show_path=False, show_time=False)
        console.setLevel(logging.INFO)
        root.addHandler(console)


@app.command("bench")
def bench(
    config: Path | None = typer.Argument(None, help="bench config (YAML); default: the demo"),
    out: Path | None = typer.Option(None, "--out", "-o", help="run folder (default runs/NAME)"),
    workers: int | None = typer.Option(None, "--workers", "-j", min=1, help="parallel jobs"),
    executor: str | None = typer.Option(None, "--executor", help="local or dask"),
    scheduler: str | None = typer.Option(None, "--scheduler", help="Dask scheduler address"),
    force: bool = typer.Option(False, "--force", help="recompute stored predictions"),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="re-run failed jobs"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars (CI)"),
    shard: str | None = typer.Option(
        None, "--shard", metavar="I/N",
        help="run only shard I of N (whole cases) into the store, score nothing; a later run "
             "without --shard adopts every shard's results and scores them"),
) -> None:
    """Run the models of CONFIG on its cohort, score them and write the run folder.

    A killed run resumes: the same command finishes only what is missing.
    """
    from imagination.engine.bench import parse_shard, run_bench
    from imagination.report.regenerate import write_reports

    path = config or demo_config_path()
    cfg = load_config(path)
    shard_spec = None if shard is None else parse_shard(shard)
    run_dir = (out or Path("runs") / cfg.name).resolve()
    _setup_logging(run_dir, quiet, "bench.log" if shard_spec is None
                   else f"bench.shard-{shard_spec[0]}-of-{shard_spec[1]}.log")
    with Progress(TextColumn("[bold]{task.description:<20}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err_console, disable=quiet,
                  transient=False) as bar:
        bars: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in bars:
                bars[stage] = bar.add_task(stage, total=total)
            bar.update(bars[stage], completed=done, total=total)

        outcome = run_bench(cfg, run_dir=run_dir, workers=workers, executor=executor,
                            scheduler=scheduler, force=force, retry_failed=retry_failed,
                            progress=progress, config_source=str(path), shard=shard_spec)
    if outcome.shard is not None:
        out_console.print(
            f"shard {outcome.shard[0]}/{outcome.shard[1]}: {outcome.n_jobs} jobs "
            f"({outcome.n_computed} run, {outcome.n_reused} reused, {outcome.n_failed} failed) "
            f"stored under {outcome.run_dir / 'store' / 'shards'}\n"
            "when every shard has finished, run the same command without --shard to adopt "
            "and score them")
        raise typer.Exit(0)
    exit_code = write_reports(run_dir, cfg.gates)
    out_console.print(
        f"run folder: {outcome.run_dir}\n"
        f"jobs: {outcome.n_jobs} ({outcome.n_computed} run, {outcome.n_reused} reused"
        + (f" ({outcome.n_adopted} adopted from shards)" if outcome.n_adopted else "")
        + f", {outcome.n_failed} failed)\n"
        f"leaderboard: {outcome.tables.get('leaderboard')}\n"
        f"report: {outcome.run_dir / 'report.html'}")
    raise typer.Exit(exit_code)
