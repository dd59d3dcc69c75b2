"""CI gates: thresholds on leaderboard values and drops against a baseline run.

A requirement is written ``TASK:METRIC OP VALUE`` with optional ``,adapter=LABEL`` and
``,on=value|ci_low|ci_high`` (e.g. ``idh:auroc>=0.80,on=ci_low``); the config's ``gates`` list
holds the same fields. A requirement without an adapter applies to every adapter of the run and
gives one gate per adapter. A baseline gate fails when a (task, metric, adapter) present in both
runs got worse by more than ``max_drop``, worse meaning lower for higher-is-better metrics,
higher for lower-is-better ones and farther from the ideal for target metrics.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from imagination.errors import InputError, did_you_mean
from imagination.metrics.registry import semantics

Op = Literal[">=", "<=", ">", "<"]
On = Literal["value", "ci_low", "ci_high"]
OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
}
ON_COLUMNS: tuple[str, ...] = ("value", "ci_low", "ci_high")
#: Differences this small are rounding, not a drop.
TOLERANCE = 1e-12

_REQUIREMENT = re.compile(
    r"^\s*(?P<task>[A-Za-z0-9_\-]+)\s*:\s*(?P<metric>[A-Za-z0-9_\-]+)\s*"
    r"(?P<op>>=|<=|>|<)\s*(?P<value>[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?)\s*"
    r"(?P<options>(,.*)?)$"
)


@dataclass(frozen=True)
class Requirement:
    """``task:metric op value`` on one adapter (or all) and one leaderboard column."""

    task: str
    metric: str
    op: Op
    value: float
    adapter: str | None = None
    on: On = "value"

    def describe(self) -> str:
        column = "" if self.on == "value" else f" ({self.on})"
        return f"{self.task}:{self.metric}{column} {self.op} {self.value:g}"


@dataclass(frozen=True)
class Baseline:
    """Compare with an earlier run's leaderboard: fail on a drop larger than ``max_drop``
    (or the metric's own tolerance in ``max_drops``); adapters in ``skip_adapters`` (the
    no-skill references, by default) are not compared."""

    leaderboard: pd.DataFrame
    max_drop: float
    source: str = "baseline"
    max_drops: Mapping[str, float] = field(default_factory=dict)
    skip_adapters: frozenset[str] = frozenset()

    def tolerance(self, metric: str) -> float:
        return self.max_drops.get(metric, self.max_drop)


def parse_max_drops(specs: Iterable[str], known_metrics: Collection[str] = (),
                    ) -> tuple[float | None, dict[str, float]]:
    """``--max-drop`` values: ``D`` (every metric) or ``METRIC=D`` (repeatable). Returns the
    default (``None`` when not given) and the per-metric tolerances; each finite and >= 0."""
    default: float | None = None
    per_metric: dict[str, float] = {}
    for spec in specs:
        name, sep, text = str(spec).rpartition("=")
        name = name.strip()
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0 or (sep and not name):
            raise InputError(f"--max-drop {spec!r}: expected D or METRIC=D with D a finite "
                             "number >= 0, e.g. 0.02 or auroc=0.02")
        if not sep:
            default = value
            continue
        if known_metrics and name not in known_metrics:
            raise InputError(f"--max-drop {spec!r}: unknown metric {name!r}"
                             f"{did_you_mean(name, known_metrics)}")
        per_metric[name] = value
    return default, per_metric


@dataclass(frozen=True)
class GateResult:
    """``threshold`` is the required bound (baseline gates: the worst value still allowed; for
    target metrics the baseline value)."""

    name: str
    passed: bool
    observed: float
    threshold: float
    message: str


def _parse_options(text: str, spec: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or key not in ("adapter", "on") or not value:
            raise InputError(f"gate {spec!r}: option {part!r} is not adapter=LABEL or "
                             f"on=value|ci_low|ci_high")
        options[key] = value
    return options


def parse_requirement(spec: str) -> Requirement:
    """Parse ``TASK:METRIC OP VALUE[,adapter=LABEL][,on=value|ci_low|ci_high]``."""
    match = _REQUIREMENT.match(spec)
    if match is None:
        raise InputError(f"gate {spec!r}: expected TASK:METRIC OP VALUE, e.g. 'idh:auroc>=0.80' "
                         f"(OP one of >=, <=, >, <; options ',adapter=LABEL', ',on=ci_low')")
    options = _parse_options(match["options"].lstrip(","), spec)
    on = options.get("on", "value")
    if on not in ON_COLUMNS:
        raise InputError(f"gate {spec!r}: on={on!r} is not one of {', '.join(ON_COLUMNS)}")
    return Requirement(task=match["task"], metric=match["metric"], op=match["op"],  # type: ignore[arg-type]
                       value=float(match["value"]), adapter=options.get("adapter"),
                       on=on)  # type: ignore[arg-type]


def requirement_from_config(entry: Mapping[str, Any]) -> Requirement:
    """A gate of the bench config (``GateConfig`` fields) as a :class:`Requirement`."""
    try:
        op = str(entry.get("op", ">="))
        on = str(entry.get("bound", entry.get("on", "value")))
        if op not in OPS or on not in ON_COLUMNS:
            raise ValueError(f"op {op!r} / on {on!r}")
        return Requirement(task=str(entry["task"]), metric=str(entry["metric"]),
                           op=op, value=float(entry["value"]),  # type: ignore[arg-type]
                           adapter=entry.get("adapter"), on=on)  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"config gate {dict(entry)!r} is invalid: {exc}") from None


def _fmt(x: float) -> str:
    return "NaN" if math.isnan(x) else f"{x:.4g}"


def _check_known(leaderboard: pd.DataFrame, req: Requirement,
                 configured: Collection[str]) -> None:
    tasks = sorted(set(leaderboard["task"]))
    if req.task not in tasks:
        raise InputError(f"gate {req.describe()!r}: task {req.task!r} is not in the leaderboard "
                         f"(tasks: {', '.join(tasks)})")
    rows = leaderboard[leaderboard["task"] == req.task]
    metrics = sorted(set(rows["metric"]))
    if req.metric not in metrics:
        raise InputError(f"gate {req.describe()!r}: metric {req.metric!r} is not in the "
                         f"leaderboard for task {req.task} (metrics: {', '.join(metrics)})")
    adapters = sorted(set(rows["adapter"]))
    if req.adapter is not None and req.adapter not in adapters and req.adapter not in configured:
        raise InputError(f"gate {req.describe()!r}: adapter {req.adapter!r} has no result for "
                         f"task {req.task} (adapters: {', '.join(adapters)})")


def evaluate_requirement(leaderboard: pd.DataFrame, req: Requirement, *,
                         configured: Collection[str] = ()) -> list[GateResult]:
    """One result per adapter the requirement covers; NaN observed values fail, and so does an
    adapter of the run (``configured``) with no leaderboard row (every case failed)."""
    _check_known(leaderboard, req, configured)
    rows = leaderboard[(leaderboard["task"] == req.task) & (leaderboard["metric"] == req.metric)]
    if req.adapter is not None:
        rows = rows[rows["adapter"] == req.adapter]
        if rows.empty:
            return [GateResult(f"{req.describe()} [{req.adapter}]", False, math.nan, req.value,
                               f"FAILED: no {req.metric} result for {req.adapter} on "
                               f"{req.task} (it failed on every case or does not do this "
                               f"task); required {req.op} {req.value:g}")]
    results = []
    for _, row in rows.iterrows():
        observed = float(row[req.on])
        name = f"{req.describe()} [{row['adapter']}]"
        if math.isnan(observed):
            results.append(GateResult(name, False, observed, req.value,
                                      f"FAILED: {req.on} is undefined (NaN); required {req.op} "
                                      f"{req.value:g}"))
            continue
        passed = OPS[req.op](observed, req.value)
        gap = observed - req.value
        verdict = "passed" if passed else "FAILED"
        message = (f"{verdict}: {req.on} {_fmt(observed)}, required {req.op} {req.value:g} "
                   f"(margin {req.on} − {req.value:g} = {'+' if gap >= 0 else '−'}"
                   f"{abs(gap):.4g})")
        results.append(GateResult(name, passed, observed, req.value, message))
    return results


def evaluate_baseline(leaderboard: pd.DataFrame, baseline: Baseline) -> list[GateResult]:
    """One gate per (task, metric, adapter) present in both leaderboards; worse is the
    metric's own direction (:meth:`Metric.worsening`)."""
    if baseline.max_drop < 0 or math.isnan(baseline.max_drop):
        raise InputError(f"--max-drop must be >= 0, got {baseline.max_drop}")
    keys = ["task", "metric", "adapter"]
    merged = leaderboard[[*keys, "value"]].merge(
        baseline.leaderboard[[*keys, "value"]], on=keys, suffixes=("", "_old"))
    merged = merged[~merged["adapter"].isin(baseline.skip_adapters)]
    results = []
    for _, row in merged.iterrows():
        new, old = float(row["value"]), float(row["value_old"])
        allowed = baseline.tolerance(str(row["metric"]))
        name = f"no drop > {allowed:g}: {row['task']}:{row['metric']} [{row['adapter']}]"
        if math.isnan(old) and math.isnan(new):
            continue
        if math.isnan(new):
            results.append(GateResult(name, False, new, old,
                                      f"FAILED: now undefined (NaN), {baseline.source} "
                                      f"{_fmt(old)}"))
            continue
        if math.isnan(old):
            continue
        metric = semantics(str(row["metric"]))
        worse = metric.worsening(old, new)
        limit = metric.allowed(old, allowed)
        passed = worse <= allowed + TOLERANCE
        verdict = "passed" if passed else "FAILED"
        change = "worse" if worse > 0 else "better or equal"
        results.append(GateResult(
            name, passed, new, limit,
            f"{verdict}: {_fmt(new)} vs {baseline.source} {_fmt(old)} "
            f"({change} by {abs(worse):.4g}; allowed drop {allowed:g})"))
    return results


def evaluate_gates(
    leaderboard: pd.DataFrame, requirements: Iterable[Requirement], *,
    baseline: Baseline | None = None, configured: Collection[str] = (),
) -> list[GateResult]:
    """Evaluate every requirement, then the baseline comparison (if any)."""
    results: list[GateResult] = []
    for req in requirements:
        results.extend(evaluate_requirement(leaderboard, req, configured=configured))
    if baseline is not None:
        results.extend(evaluate_baseline(leaderboard, baseline))
    return results
