"""Load a run directory's tables (``docs/run_directory.md``) into a typed :class:`RunResults`.

Only ``run.json`` and ``leaderboard.csv`` are required; every other table is optional and comes
back as ``None`` when the run did not write it (no robustness study, no failures, …). A table
that exists but lacks a documented column is an input error naming the file and the column.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imagination.errors import InputError
from imagination.metrics import registry
from imagination.tasks.registry import is_task, kind_of

#: Columns each table must have (extra columns are kept).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "leaderboard.csv": ("task", "metric", "adapter", "value", "ci_low", "ci_high", "n",
                        "n_failed", "rank", "rank_ci_low", "rank_ci_high"),
    "comparisons.csv": ("task", "metric", "adapter_a", "adapter_b", "test", "estimate",
                        "p_value", "p_holm"),
    "cohort.csv": ("case_id", "subject_id", "site"),
    "predictions.csv": ("task", "adapter", "perturbation", "case_id", "site", "truth", "class",
                        "probability"),
    "per_case.csv": ("task", "adapter", "perturbation", "case_id", "site", "metric", "value"),
    "sites.csv": ("task", "metric", "adapter", "site", "value", "ci_low", "ci_high", "n"),
    "failures.csv": ("adapter", "perturbation", "case_id", "kind", "reason"),
    "cost.csv": ("adapter", "perturbation", "case_id", "wall_s", "cpu_s", "peak_rss_mb"),
    "robustness.csv": ("task", "metric", "adapter", "perturbation", "severity", "value", "delta",
                       "delta_ci_low", "delta_ci_high", "n"),
    "robustness_summary.csv": ("task", "metric", "adapter", "kind", "worst_value",
                               "worst_severity", "worst_delta"),
    "ablation.csv": ("adapter", "modality", "task", "metric", "with_value", "without_value",
                     "estimate", "ci_low", "ci_high", "p_value", "n"),
    "site_shift.csv": ("task", "metric", "adapter", "worst_site", "worst_value", "best_site",
                       "best_value", "spread", "n_sites"),
    "reproducibility.csv": (),
    "chained.csv": ("adapter", "reference_adapter", "upstream", "task", "metric",
                    "chained_value", "reference_value", "estimate", "ci_low", "ci_high",
                    "p_value", "n"),
    "response_classes.csv": ("task", "class", "metric", "adapter", "pathway", "value",
                             "ci_low", "ci_high", "n", "n_positive"),
    "confusion.csv": ("task", "adapter", "pathway", "truth", "predicted", "count"),
}
#: Columns read as text even when every value looks like a number (grade "4", case "001").
TEXT_COLUMNS: tuple[str, ...] = (
    "task", "metric", "adapter", "adapter_a", "adapter_b", "perturbation", "case_id",
    "subject_id", "site", "truth", "class", "predicted", "pathway", "kind", "reason", "test",
    "timepoint", "modalities",
    "tumor_type", "idh", "codeletion_1p19q", "mgmt", "grade", "sex", "scanner", "analysis",
    "ablation", "modality", "worst_site", "best_site", "detail", "region", "reference_adapter",
    "upstream",
)
HETEROGENEITY_SITE = "(heterogeneity)"
SITE_SHIFT_KIND = "site_shift"
CLEAN = "clean"


@dataclass(frozen=True)
class RunResults:
    """Everything a report needs from one run directory."""

    run_dir: Path
    run: dict[str, Any]
    leaderboard: pd.DataFrame
    comparisons: pd.DataFrame | None = None
    cohort: pd.DataFrame | None = None
    predictions: pd.DataFrame | None = None
    per_case: pd.DataFrame | None = None
    sites: pd.DataFrame | None = None
    failures: pd.DataFrame | None = None
    cost: pd.DataFrame | None = None
    robustness: pd.DataFrame | None = None
    robustness_summary: pd.DataFrame | None = None
    ablation: pd.DataFrame | None = None
    site_shift: pd.DataFrame | None = None
    reproducibility: pd.DataFrame | None = None
    #: chained adapters against their reference twins (only runs with chained adapters)
    chained: pd.DataFrame | None = None
    #: response tasks: one-vs-rest metrics per class and confusion matrices
    response_classes: pd.DataFrame | None = None
    confusion: pd.DataFrame | None = None
    #: tables with a ``region`` column as written (every region); the fields above keep one
    #: region per task (``primary_region``), so task-generic sections, gates and summaries see
    #: one row per (task, metric, adapter)
    regional: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def tasks(self) -> list[str]:
        """Tasks in the leaderboard, in the config's order where it gives one."""
        present = list(dict.fromkeys(self.leaderboard["task"]))
        order = [t for t in self.run.get("config", {}).get("tasks", []) if t in present]
        return order + [t for t in present if t not in order]

    @property
    def adapters(self) -> list[str]:
        """Adapter labels in the leaderboard, in the config's order where it gives one."""
        present = list(dict.fromkeys(self.leaderboard["adapter"]))
        configured = [a.get("id") or a.get("name")
                      for a in self.run.get("config", {}).get("adapters", [])]
        order = [a for a in configured if a in present]
        return order + [a for a in present if a not in order]

    @property
    def alpha(self) -> float:
        """The run's ``statistics.alpha`` (0.05 when the run does not say)."""
        stats = (self.run.get("config") or {}).get("statistics") or {}
        try:
            return float(stats.get("alpha", 0.05))
        except (TypeError, ValueError):
            return 0.05

    @property
    def level(self) -> str:
        """Interval level as people write it: ``95%`` (alpha 0.05), ``90%`` (alpha 0.1)."""
        return f"{100 * (1 - self.alpha):.4g}%"

    def n_classes(self, task: str) -> int:
        """Classes of a classification task (predictions, else the cohort); 2 otherwise."""
        for table, column in ((self.predictions, "class"), (self.cohort, task)):
            if table is not None and column in table.columns:
                rows = table[table["task"] == task] if "task" in table.columns else table
                found = rows[column].dropna().nunique()
                if found >= 2:
                    return int(found)
        return 2

    def metrics(self, task: str) -> list[str]:
        """Metrics of ``task`` in leaderboard order."""
        rows = self.leaderboard[self.leaderboard["task"] == task]
        return list(dict.fromkeys(rows["metric"]))

    def direction(self, metric: str) -> str:
        """``higher``, ``lower`` or ``target``: the metric's own (the registry)."""
        return registry.semantics(metric).direction


def metric_semantics(metric: str) -> registry.Metric:
    """The registry's :class:`Metric` for ``metric`` (a plain higher-is-better one if unknown)."""
    return registry.semantics(metric)


def _read_csv(path: Path) -> pd.DataFrame:
    header = pd.read_csv(path, nrows=0).columns
    dtypes = {column: str for column in TEXT_COLUMNS if column in header}
    try:
        return pd.read_csv(path, dtype=dtypes, keep_default_na=True)
    except (ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"{path}: cannot be read as CSV: {exc}") from None


def read_table(run_dir: Path, name: str, *, required: bool = False) -> pd.DataFrame | None:
    """One table of the run directory, checked for its documented columns."""
    path = run_dir / name
    if not path.is_file():
        if required and not run_dir.is_dir():
            raise InputError(f"run directory {run_dir}: not found")
        if required:
            raise InputError(f"run directory {run_dir}: {name} is missing (run the bench first)")
        return None
    try:
        table = _read_csv(path)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: the file is empty (no header row)") from None
    missing = [c for c in REQUIRED_COLUMNS.get(name, ()) if c not in table.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
    return table


def read_run_json(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "run.json"
    if not path.is_file():
        raise InputError(f"run directory {run_dir}: run.json is missing (not a run directory)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: the top level must be an object")
    return data


def load_run(run_dir: str | Path) -> RunResults:
    """Read every stored table of ``run_dir``; an input error when it is not a run directory."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"run directory {run_dir}: not found")
    run = read_run_json(run_dir)
    leaderboard = read_table(run_dir, "leaderboard.csv", required=True)
    assert leaderboard is not None
    optional = {
        name.removesuffix(".csv"): read_table(run_dir, name)
        for name in REQUIRED_COLUMNS if name != "leaderboard.csv"
    }
    tables = {"leaderboard": leaderboard, **optional}
    regional = {name: t for name, t in tables.items()
                if t is not None and "region" in t.columns and t["region"].notna().any()}
    primary = {name: primary_region(t) for name, t in regional.items()}
    return RunResults(run_dir=run_dir, run=run, **{**tables, **primary}, regional=regional)


#: the region a task scored per region shows in task-generic places (headline, gates, ...)
PRIMARY_REGION = "WT"


def primary_region(table: pd.DataFrame) -> pd.DataFrame:
    """Rows without a region, and per task the rows of its primary region: ``WT`` when the
    task has it, else its first region in display order."""
    from imagination.cohort.vocabulary import SCORED_REGIONS

    region = table["region"]
    keep = region.isna().to_numpy().copy()
    for task in table.loc[region.notna(), "task"].unique():
        mine = (table["task"] == task).to_numpy()
        present = set(region[mine].dropna())
        chosen = PRIMARY_REGION if PRIMARY_REGION in present else next(
            (r for r in SCORED_REGIONS if r in present), sorted(present)[0])
        keep |= mine & (region == chosen).to_numpy()
    return table[keep].reset_index(drop=True)


def json_safe(value: Any) -> Any:
    """NaN/inf to ``None`` and numpy scalars to Python, recursively (for JSON output)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def headline_metrics(results: RunResults, task: str) -> list[str]:
    """The task's headline metrics present in the leaderboard, in its kind's order
    (``TaskKind.headline_metrics``); for a task the registry does not know, every metric."""
    metrics = results.metrics(task)
    if not is_task(task):
        return list(metrics)
    chosen = [m for m in kind_of(task).headline_metrics if m in metrics]
    return chosen or list(metrics)


def primary_metric(results: RunResults, task: str) -> str:
    """The metric a task's headline uses: the first headline metric present."""
    return headline_metrics(results, task)[0]


def select_leaderboard(leaderboard: pd.DataFrame, *, task: str | None = None,
                       metric: str | None = None) -> pd.DataFrame:
    """Rows of one task and/or metric, sorted by task, metric and rank; input error if none."""
    rows = leaderboard
    if task is not None:
        if task not in set(rows["task"]):
            raise InputError(f"task {task!r} is not in the leaderboard (tasks: "
                             f"{', '.join(sorted(set(rows['task'])))})")
        rows = rows[rows["task"] == task]
    if metric is not None:
        if metric not in set(rows["metric"]):
            raise InputError(f"metric {metric!r} is not in the leaderboard"
                             f"{f' for task {task}' if task else ''} (metrics: "
                             f"{', '.join(sorted(set(rows['metric'])))})")
        rows = rows[rows["metric"] == metric]
    return rows.sort_values(["task", "metric", "rank", "adapter"], kind="stable",
                            na_position="last").reset_index(drop=True)


#: Fewer labelled cases than this puts a small-sample warning beside a number.
SMALL_N = 20


def result_flags(results: RunResults, task: str, metric: str, value: Any, ci_low: Any,
                 ci_high: Any, n: Any) -> list[str]:
    """Warnings a reader must see beside a number: its interval lies wholly below chance, it
    rests on fewer than :data:`SMALL_N` cases, or its interval has zero width."""
    def number(x: Any) -> float:
        try:
            return float(x)
        except (TypeError, ValueError):
            return math.nan

    flags = []
    low, high, count = number(ci_low), number(ci_high), number(n)
    semantics = registry.semantics(metric)
    if semantics.below_chance(high, results.n_classes(task)):
        chance = semantics.chance_level(results.n_classes(task))
        flags.append(f"below chance ({chance:g})")
    if math.isfinite(count) and count < SMALL_N:
        flags.append(f"small sample (n = {count:.0f} < {SMALL_N})")
    if math.isfinite(low) and low == high and math.isfinite(number(value)):
        flags.append("zero-width interval")
    return flags
