"""Regenerate a run's report outputs (``report.html``, ``summary.md``, ``junit.xml``) from its
stored tables, evaluating the gates; no model is run.

Gates come from the run's config (``run.json["config"]["gates"]``), from ``--require`` specs and
from an optional baseline run. Every spec is checked before anything is written, so a bad spec
leaves the run directory untouched (exit 2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagination.atomic import atomic_write_text
from imagination.errors import EXIT_GATE_FAILED, EXIT_OK, InputError
from imagination.report import tables
from imagination.report.gates import (
    Baseline,
    GateResult,
    Requirement,
    evaluate_gates,
    parse_requirement,
    requirement_from_config,
)
from imagination.report.html import render_report
from imagination.report.junit import junit_xml
from imagination.report.markdown import summary_markdown
from imagination.report.measured import measured_gates
from imagination.runfolder import inside

DEFAULT_MAX_DROP = 0.02
REPORT_FILES: tuple[str, ...] = ("report.html", "summary.md", "junit.xml")


@dataclass(frozen=True)
class GateOptions:
    """Gates beyond the config's: ``--require`` specs and a baseline run directory."""

    require: tuple[str, ...] = ()
    baseline_dir: Path | None = None
    max_drop: float | None = None
    #: per-metric tolerances (``--max-drop auroc=0.02``), overriding ``max_drop``
    max_drops: Mapping[str, float] = field(default_factory=dict)
    #: also compare the no-skill references with the baseline (left out by default)
    include_no_skill: bool = False
    config_gates: bool = True
    #: already-parsed requirements (e.g. the in-memory config's gates)
    requirements: tuple[Requirement, ...] = ()


@dataclass(frozen=True)
class ReportOutcome:
    exit_code: int
    gates: list[GateResult]
    written: list[Path] = field(default_factory=list)
    #: e.g. the baseline ran on a different cohort
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[GateResult]:
        return [g for g in self.gates if not g.passed]


def requirements(results: tables.RunResults, options: GateOptions) -> list[Requirement]:
    config = results.run.get("config") or {}
    configured = (config.get("gates") or []) if options.config_gates else []
    if not isinstance(configured, list):
        raise InputError(f"{results.run_dir / 'run.json'}: config.gates must be a list")
    return ([requirement_from_config(entry) for entry in configured]
            + list(options.requirements)
            + [parse_requirement(spec) for spec in options.require])


def no_skill_adapters(run: Mapping[str, Any]) -> set[str]:
    """Adapter ids whose model card declares a no-skill reference (``run.json``)."""
    adapters = run.get("adapters") or {}
    return {label for label, info in adapters.items()
            if isinstance(info, Mapping) and (info.get("card") or {}).get("no_skill")}


def _cohort_digests(run: Mapping[str, Any]) -> Any:
    return (run.get("cohort") or {}).get("digests")


def baseline(options: GateOptions, current: Mapping[str, Any] | None = None,
             warnings: list[str] | None = None) -> Baseline | None:
    """The baseline comparison of ``options``; a warning is added to ``warnings`` when the
    baseline ran on other cases or other file contents than the ``current`` run."""
    if options.baseline_dir is None:
        if options.max_drop is not None or options.max_drops:
            raise InputError("--max-drop needs --baseline OLD_RUN_DIR")
        return None
    source = Path(options.baseline_dir)
    try:
        board = tables.read_table(source, "leaderboard.csv", required=True)
    except InputError as exc:
        raise InputError(f"--baseline: {exc}") from None
    assert board is not None
    try:
        old_run = tables.read_run_json(source)
    except InputError:
        old_run = {}
    skip: set[str] = set()
    if not options.include_no_skill:
        skip = no_skill_adapters(old_run) | no_skill_adapters(current or {})
    if warnings is not None and current is not None:
        old, new = _cohort_digests(old_run), _cohort_digests(current)
        if old is None or new is None:
            warnings.append(f"baseline {source}: its cohort cannot be compared (no digests "
                            "in run.json)")
        elif old != new:
            only_old, only_new = sorted(set(old) - set(new)), sorted(set(new) - set(old))
            changed = sorted(c for c in set(old) & set(new) if old[c] != new[c])
            warnings.append(
                f"baseline {source} ran on a different cohort ({len(only_old)} case(s) only "
                f"there, {len(only_new)} only here, {len(changed)} with other file contents): "
                "differences mix model and data changes")
    max_drop = DEFAULT_MAX_DROP if options.max_drop is None else options.max_drop
    return Baseline(leaderboard=board, max_drop=max_drop, max_drops=dict(options.max_drops),
                    skip_adapters=frozenset(skip), source=f"baseline {source.name}")


def evaluate(results: tables.RunResults, options: GateOptions,
             warnings: list[str] | None = None) -> list[GateResult]:
    """The requirement and baseline gates, then the built-in "measured" gates."""
    configured = [a.get("id") or a.get("name")
                  for a in (results.run.get("config") or {}).get("adapters") or []]
    gates = evaluate_gates(results.leaderboard, requirements(results, options),
                           baseline=baseline(options, results.run, warnings),
                           configured=configured)
    return gates + measured_gates(results.run)


def regenerate(run_dir: str | Path, options: GateOptions | None = None) -> ReportOutcome:
    """Evaluate the gates, then write the three report files atomically."""
    options = options or GateOptions()
    results = tables.load_run(run_dir)
    warnings: list[str] = []
    gates = evaluate(results, options, warnings)
    name = str((results.run.get("config") or {}).get("name", results.run_dir.name))
    outputs = {
        "report.html": render_report(results, gates),
        "summary.md": summary_markdown(results, gates),
        "junit.xml": junit_xml(gates, run_name=name),
    }
    try:
        written = [atomic_write_text(inside(results.run_dir, file), text)
                   for file, text in outputs.items()]
    except OSError as exc:
        raise InputError(f"run directory {results.run_dir}: cannot write the reports: "
                         f"{exc}") from None
    code = EXIT_GATE_FAILED if any(not g.passed for g in gates) else EXIT_OK
    return ReportOutcome(exit_code=code, gates=gates, written=written, warnings=warnings)


def write_reports(run_dir: str | Path,
                  gates: GateOptions | Sequence[Any] | None = None) -> int:
    """Regenerate every report output of ``run_dir``; 1 when a gate failed, else 0.

    ``gates`` is a :class:`GateOptions`, or the bench config's gate list (``GateConfig``
    models or mappings), which then replaces the gates stored in ``run.json``.
    """
    if gates is not None and not isinstance(gates, GateOptions):
        parsed = tuple(requirement_from_config(
            g.model_dump() if hasattr(g, "model_dump") else g) for g in gates)
        gates = GateOptions(requirements=parsed, config_gates=False)
    return regenerate(run_dir, gates).exit_code
