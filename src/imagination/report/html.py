"""``report.html``: one self-contained file (inline CSS, figures as base64 ``data:`` images, a
Content-Security-Policy that forbids any network load, no JavaScript), rendered with jinja2."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import jinja2
import yaml

from imagination.report import plots, sections, task_section
from imagination.report.chained_section import chained_section
from imagination.report.gates import GateResult
from imagination.report.markdown import fmt
from imagination.report.questions import ablation_answers
from imagination.report.tables import RunResults

TEMPLATE = "report.html.j2"


def svg_data_uri(svg: str) -> str:
    """An SVG document as a ``data:`` URI for an ``<img src>``."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("imagination.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["img"] = svg_data_uri
    env.filters["num"] = fmt
    env.filters["yaml"] = lambda value: yaml.safe_dump(value, sort_keys=False,
                                                       allow_unicode=True).rstrip()
    return env


def provenance_section(results: RunResults) -> dict[str, Any]:
    run = results.run
    env = run.get("environment") or {}
    timings = run.get("timings") or {}
    cohort = run.get("cohort") or {}
    packages = env.get("packages") or {}
    return {
        "version": run.get("imagination_version", "–"),
        "started": timings.get("started", "–"), "finished": timings.get("finished", "–"),
        "wall_s": timings.get("wall_s"), "stages": timings.get("stages") or {},
        "host": env.get("host", "–"), "python": env.get("python", "–"),
        "platform": env.get("platform", "–"),
        "packages": sorted((str(k), str(v)) for k, v in packages.items()),
        "manifests": [str(m) for m in cohort.get("manifests") or []],
        "digests": cohort.get("digests") or {},
        "seeds": run.get("seeds") or {}, "statistics": (run.get("config") or {}).get(
            "statistics") or {},
        "metric_policies": run.get("metric_policies") or {},
        "config": run.get("config") or {},
    }


def report_context(results: RunResults, gates: Sequence[GateResult]) -> dict[str, Any]:
    colours = plots.adapter_colours(results.adapters)
    config = results.run.get("config") or {}
    cohort = sections.cohort_section(results)
    return {
        "title": config.get("name", results.run_dir.name),
        "cohort": cohort,
        "tasks": [task_section.task_section(results, task, colours) for task in results.tasks],
        "glance": [row for task in results.tasks
                   if (row := task_section.at_a_glance(results, task)) is not None],
        "adapters": [sections.adapter_section(results, a) for a in results.adapters],
        "chained": chained_section(results),
        "colours": colours,
        "gates": sections.gate_rows(gates),
        "n_failed_gates": sum(not g.passed for g in gates),
        "provenance": provenance_section(results),
        "reproducibility": (sections.plain_table(results.reproducibility)
                            if results.reproducibility is not None
                            and "task" not in results.reproducibility.columns else None),
        "failure_policy": config.get("failure_policy", "–"),
        "level": results.level, "alpha": f"{results.alpha:g}",
        "questions": ablation_answers(results),
        "tests": results.run.get("statistical_tests") or {},
    }


def render_report(results: RunResults, gates: Sequence[GateResult]) -> str:
    """The complete HTML text of the report."""
    return _environment().get_template(TEMPLATE).render(**report_context(results, gates))
