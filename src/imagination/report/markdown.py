"""``summary.md`` for CI step summaries, and leaderboards as Markdown tables."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from imagination.metrics.registry import semantics
from imagination.report.gates import GateResult
from imagination.report.tables import (
    RunResults,
    primary_metric,
    result_flags,
    select_leaderboard,
)


def fmt(value: object, digits: int = 3) -> str:
    """A number for people: fixed decimals, ``–`` for missing, integer types as integers."""
    if value is None:
        return "–"
    if isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
        return str(int(value))
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(x):
        return "–"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return f"{x:.{digits}f}"


def count(value: object) -> str:
    """A count: an integer, ``–`` for missing."""
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "–"
    return "–" if math.isnan(x) else str(round(x))


def interval(low: object, high: object, digits: int = 3) -> str:
    return f"[{fmt(low, digits)}, {fmt(high, digits)}]"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def cell(x: object) -> str:
        return str(x).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(x) for x in row) + " |" for row in rows]
    return "\n".join(lines)


def leaderboard_markdown(rows: pd.DataFrame, level: str = "95%",
                         results: RunResults | None = None) -> str:
    """Leaderboard rows as a Markdown table with intervals and rank ranges; with the run's
    ``results``, a warnings column (below chance, small sample, zero-width interval)."""
    body = [
        (r.task, r.metric, r.adapter, fmt(r.value), interval(r.ci_low, r.ci_high),
         count(r.rank), interval(r.rank_ci_low, r.rank_ci_high, 0), count(r.n),
         count(r.n_failed))
        + ((" ".join(f"⚠ {f}" for f in result_flags(results, r.task, r.metric, r.value,
                                                    r.ci_low, r.ci_high, r.n)),)
           if results is not None else ())
        for r in rows.itertuples(index=False)
    ]
    headers = ("task", "metric", "adapter", "value", f"{level} CI", "rank", "rank CI", "n",
               "failed") + (("warnings",) if results is not None else ())
    return markdown_table(headers, body)


#: More passed gates than this are folded into a <details> block (CI summaries render it).
MAX_PASSED_SHOWN = 10


def _gate_table(gates: Sequence[GateResult]) -> str:
    rows = [("❌ fail" if not g.passed else "✅ pass", g.name, fmt(g.observed, 4),
             fmt(g.threshold, 4), g.message) for g in gates]
    return markdown_table(("", "gate", "observed", "threshold", "detail"), rows)


def gates_markdown(gates: Sequence[GateResult]) -> str:
    """Failed gates first; many passed gates folded away."""
    if not gates:
        return "No gates were configured."
    failed = [g for g in gates if not g.passed]
    passed = [g for g in gates if g.passed]
    head = (f"**{len(failed)} of {len(gates)} gates FAILED**" if failed
            else f"**All {len(gates)} gates passed**")
    if len(passed) <= MAX_PASSED_SHOWN:
        return head + "\n\n" + _gate_table(failed + passed)
    parts = [head]
    if failed:
        parts.append(_gate_table(failed))
    parts.append(f"<details><summary>{len(passed)} passed gates</summary>\n\n"
                 + _gate_table(passed) + "\n\n</details>")
    return "\n\n".join(parts)


def with_region(name: str, rows: pd.DataFrame) -> str:
    """``name`` followed by ``(region)`` when ``rows`` are all of one region."""
    regions = rows["region"].dropna().unique() if "region" in rows.columns else []
    return f"{name} ({regions[0]})" if len(regions) == 1 else name


def what_values_are(metric: str) -> str:
    """One line saying what a metric's numbers are: label, unit and which way is better."""
    meaning = semantics(metric)
    unit = {"": "no unit", "fraction": "a fraction (0–1)", "count": "a count"}.get(
        meaning.unit, meaning.unit)
    better = (f"best at {meaning.target:g}" if meaning.direction == "target"
              else f"{meaning.direction} is better")
    return f"{meaning.label}: {unit}, {better}"


def summary_markdown(results: RunResults, gates: Sequence[GateResult]) -> str:
    """The CI step summary: gates first, then each task's headline leaderboard."""
    from imagination.report.chained_section import chained_headline
    from imagination.report.questions import ablation_answers

    name = results.run.get("config", {}).get("name", results.run_dir.name)
    parts = [f"# imagination benchmark: {name}", ""]
    answers = ablation_answers(results)
    if answers:
        parts += ["## Questions", "", *(f"- {a}" for a in answers), ""]
    parts += ["## Gates", "", gates_markdown(gates)]
    for task in results.tasks:
        metric = primary_metric(results, task)
        rows = select_leaderboard(results.leaderboard, task=task, metric=metric)
        parts += ["", f"## {task}: {with_region(metric, rows)}", "",
                  f"_{what_values_are(metric)}_", "",
                  leaderboard_markdown(rows, results.level, results)]
    chained = chained_headline(results)
    if chained:
        parts += ["", "## Chained models (fed another adapter's segmentation)", "",
                  markdown_table(["model", "fed", "task", "metric", "chained", "reference",
                                  f"chained − reference [{results.level} CI]", "p", "n"],
                                 chained)]
    if results.failures is not None and not results.failures.empty:
        counts = results.failures.groupby("adapter").size()
        listed = ", ".join(f"{adapter} {count}" for adapter, count in counts.items())
        parts += ["", f"Failed cases (all perturbations): {listed}. See failures.csv."]
    adapters = results.run.get("adapters") or {}
    if adapters:
        listed = "; ".join(f"{label} {info.get('blinding') or 'not recorded'}"
                           for label, info in sorted(adapters.items()))
        parts += ["", f"Blinding: {listed}."]
    parts += ["", "Full report: report.html", ""]
    return "\n".join(parts)
