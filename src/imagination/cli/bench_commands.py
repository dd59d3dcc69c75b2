"""`imagination bench` and `imagination config schema`."""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from pathlib import Path
from typing import Any

import typer

from imagination.cli.app import app, err_console, out_console
from imagination.redact import RedactingFormatter, Redactor, home_root
from imagination.runfolder import inside, prepare_run_folder

config_app = typer.Typer(help="Bench configuration tools.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("schema")
def config_schema() -> None:
    """Print the JSON schema of the bench config."""
    from imagination.config import config_json_schema

    out_console.print_json(json.dumps(config_json_schema()))


class _RunLog(logging.FileHandler):
    """``bench.log``: a write that fails for lack of space or a read-only medium is dropped
    silently (the run's own writes report it as one clear line, not a logging traceback)."""

    def handleError(self, record: logging.LogRecord) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handleError(record)


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _NotProgress(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.name != "imagination.progress"


def _setup_logging(quiet: bool, *, lines: bool) -> logging.handlers.MemoryHandler:
    """Console logging now (progress lines only when ``lines``); records are also buffered
    until :func:`_attach_log_file` can write them to ``bench.log`` (the run folder is only
    created once every check passed)."""
    import logging.handlers

    root = logging.getLogger("imagination")
    root.setLevel(logging.INFO)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    buffer = logging.handlers.MemoryHandler(capacity=100_000, flushLevel=logging.CRITICAL + 1)
    root.addHandler(buffer)
    if not quiet:
        console: logging.Handler
        if lines:  # a log file or CI: plain lines, never wrapped
            console = logging.StreamHandler(sys.stderr)
            console.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        else:
            from rich.logging import RichHandler

            console = RichHandler(console=err_console, show_path=False, show_time=False)
            console.addFilter(_NotProgress())
        console.setLevel(logging.INFO)
        root.addHandler(console)
    return buffer


def _attach_log_file(run_dir: Path, buffer: logging.handlers.MemoryHandler,
                     redactor: Redactor, log_name: str = "bench.log") -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    file_handler = _RunLog(inside(run_dir, log_name))
    # the log stays in the run folder: no absolute path in it (privacy by default)
    file_handler.setFormatter(RedactingFormatter(LOG_FORMAT, redactor))
    buffer.setTarget(file_handler)
    buffer.flush()
    root = logging.getLogger("imagination")
    root.removeHandler(buffer)
    buffer.close()
    root.addHandler(file_handler)


def _gate_refs(require: list[str]) -> list[Any]:
    from imagination.config_checks import GateRef
    from imagination.report.gates import parse_requirement

    refs = []
    for spec in require:
        req = parse_requirement(spec)
        refs.append(GateRef(f"--require {spec!r}", req.task, req.metric, req.adapter))
    return refs


def _gate_options(require: list[str], baseline: Path | None, max_drop: list[str],
                  include_no_skill: bool) -> Any:
    """The ``report`` gate options, every value checked (exit 2 before anything is run)."""
    from imagination.errors import InputError
    from imagination.metrics.registry import available
    from imagination.report.gates import parse_max_drops
    from imagination.report.regenerate import GateOptions
    from imagination.report.tables import read_table

    default, per_metric = parse_max_drops(max_drop, [m.name for m in available()])
    if baseline is not None:
        try:
            read_table(baseline, "leaderboard.csv", required=True)
        except InputError as exc:
            raise InputError(f"--baseline: {exc}") from None
    elif max_drop:
        raise InputError("--max-drop needs --baseline OLD_RUN_DIR")
    return GateOptions(require=tuple(require), baseline_dir=baseline, max_drop=default,
                       max_drops=per_metric, include_no_skill=include_no_skill)


def _failure_kinds(failures_csv: Path | None) -> str:
    """``": 88 missing_modality, 2 timeout, in failures.csv"`` (the failed jobs by kind), or
    ``""`` when the table is absent or empty."""
    import csv
    from collections import Counter

    if failures_csv is None:
        return ""
    try:
        with failures_csv.open(newline="", encoding="utf-8") as handle:
            kinds = Counter(row["kind"] for row in csv.DictReader(handle))
    except (OSError, KeyError, csv.Error):
        return ""
    if not kinds:
        return ""
    listed = ", ".join(f"{count} {kind}" for kind, count in kinds.most_common())
    return f": {listed}, in {failures_csv.name}"


def _print_outcome(outcome: Any, report: Any) -> None:
    from rich.markup import escape

    for warning in report.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}")
    for adapter, cases in outcome.failed_cases.items():
        if cases:
            shown = ", ".join(cases[:5]) + (", ..." if len(cases) > 5 else "")
            err_console.print(
                f"[yellow]failed cases[/] {escape(adapter)}: {len(cases)} of "
                f"{outcome.planned_cases.get(adapter, len(cases))} ({escape(shown)}); reasons: "
                f"imagination runs show {escape(str(outcome.run_dir))}")
    for gate in report.failed:
        err_console.print(f"[bold red]gate failed:[/] {escape(gate.name)}: "
                          f"{escape(gate.message)}")
    if report.gates:
        out_console.print(f"gates: {len(report.gates) - len(report.failed)} passed, "
                          f"{len(report.failed)} failed")


#: the values of ``--executor`` (``executor.kind`` in a config)
EXECUTORS = ("local", "dask")


@app.command("bench")
def bench(
    config: Path | None = typer.Argument(
        None, help="bench config (YAML); without it, the built-in demo (see README)"),
    out: Path | None = typer.Option(None, "--out", "-o", help="run folder (default runs/NAME)"),
    workers: int | None = typer.Option(None, "--workers", "-j", min=1, help="parallel jobs"),
    executor: str | None = typer.Option(None, "--executor", help="local or dask"),
    scheduler: str | None = typer.Option(None, "--scheduler", help="Dask scheduler address"),
    force: bool = typer.Option(False, "--force", help="recompute stored predictions"),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="re-run failed jobs"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars or lines"),
    require: list[str] = typer.Option(
        [], "--require",
        help="Gate 'TASK:METRIC OP VALUE[,adapter=LABEL][,on=value|ci_low|ci_high]' (as "
             "`report`). Repeatable."),
    baseline: Path | None = typer.Option(
        None, "--baseline", help="An earlier run folder: fail on a drop larger than --max-drop."),
    max_drop: list[str] = typer.Option(
        [], "--max-drop",
        help="Largest allowed worsening against --baseline: D for every metric (default 0.02) "
             "or METRIC=D, e.g. --max-drop auroc=0.02 --max-drop missed_ml_model=5. "
             "Repeatable."),
    include_no_skill: bool = typer.Option(
        False, "--include-no-skill", help="Also compare the no-skill references with "
        "--baseline (left out by default)."),
    shard: str | None = typer.Option(
        None, "--shard", metavar="I/N",
        help="run only shard I of N (whole cases) into the store, score nothing; a later run "
             "without --shard adopts every shard's results and scores them"),
) -> None:
    """Run the models of CONFIG on its cohort, score them and write the run folder.

    Without CONFIG, runs the built-in demo (a synthetic cohort made once in the cache).
    Every name the config uses is checked before anything runs: a bad config exits 2 and
    leaves no run folder. A killed run resumes: the same command finishes only what is missing.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from imagination.cli.progress import ProgressLines
    from imagination.config import demo_config_path, load_config
    from imagination.engine.bench import parse_shard, prepare_bench, run_bench
    from imagination.report.regenerate import regenerate

    path = config or demo_config_path()
    cfg = load_config(path)
    shard_spec = None if shard is None else parse_shard(shard)
    if executor is not None and executor not in EXECUTORS:  # before the run folder is made
        from imagination.errors import InputError, did_you_mean

        raise InputError(f"--executor {executor!r}: unknown executor"
                         f"{did_you_mean(executor, EXECUTORS)}; allowed: {', '.join(EXECUTORS)}")
    if scheduler and (executor or cfg.executor.kind) != "dask":
        from imagination.errors import InputError

        raise InputError("--scheduler only applies to the dask executor (add --executor dask)")
    refs = _gate_refs(require)
    if refs:
        from imagination.config_checks import check_gates

        check_gates(cfg, refs)
    gate_options = _gate_options(require, baseline, max_drop, include_no_skill)
    run_dir = prepare_run_folder(out if out is not None else inside(Path("runs"), cfg.name))
    if run_dir.exists() and not run_dir.is_dir():
        from imagination.errors import InputError

        raise InputError(f"--out {run_dir}: exists and is not a folder; name a run folder")
    if config is None:
        from imagination.engine.bench import cache_dir

        err_console.print(f"no config given: running the built-in demo ({path}), writing "
                          f"the run folder {run_dir} (the synthetic cohort is made once in "
                          f"{cache_dir() / 'cohorts'})", markup=False)
    lines = not err_console.is_terminal
    buffer = _setup_logging(quiet, lines=lines)
    with ProgressLines() as reporter, Progress(
            TextColumn("[bold]{task.description:<20}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=err_console, disable=quiet or lines,
            transient=False) as bar:
        bars: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            reporter.update(stage, done, total)
            if stage not in bars:
                bars[stage] = bar.add_task(stage, total=total)
            bar.update(bars[stage], completed=done, total=total)

        reporter.update("cohort and adapters")
        prepared = prepare_bench(cfg, run_dir=run_dir, workers=workers, extra_gates=refs,
                                 config_source=str(path))
        reporter.update("plan")
        _attach_log_file(run_dir, buffer, Redactor([
            (path.parent, ""), (run_dir, ""), *((m.parent, "") for m in cfg.cohort.manifests),
            *home_root()]), "bench.log" if shard_spec is None
            else f"bench.shard-{shard_spec[0]}-of-{shard_spec[1]}.log")
        outcome = run_bench(cfg, run_dir=run_dir, workers=workers, executor=executor,
                            scheduler=scheduler, force=force, retry_failed=retry_failed,
                            progress=progress, config_source=str(path), prepared=prepared,
                            shard=shard_spec)
        if outcome.shard is not None:
            out_console.print(
                f"shard {outcome.shard[0]}/{outcome.shard[1]}: {outcome.n_jobs} jobs "
                f"({outcome.n_computed} run, {outcome.n_reused} reused, {outcome.n_failed} "
                f"failed) stored under {outcome.run_dir / 'store' / 'shards'}\n"
                "when every shard has finished, run the same command without --shard to adopt "
                "and score them")
            raise typer.Exit(0)
        reporter.update("reports")
        report = regenerate(run_dir, gate_options)
    out_console.print(
        f"run folder: {outcome.run_dir}\n"
        f"jobs: {outcome.n_jobs} ({outcome.n_computed} run, {outcome.n_reused} reused"
        + (f" ({outcome.n_adopted} adopted from shards)" if outcome.n_adopted else "")
        + f", {outcome.n_failed} failed{_failure_kinds(outcome.tables.get('failures'))})\n"
        f"leaderboard: {outcome.tables.get('leaderboard')}\n"
        f"report: {outcome.run_dir / 'report.html'}")
    _print_outcome(outcome, report)
    raise typer.Exit(report.exit_code)
