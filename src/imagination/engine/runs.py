"""What a run folder holds and what it lacks (for ``imagination runs list|show``).

A run folder is recognised by ``run.json``, ``plan.json`` or ``store/index.sqlite``. The plan
(``{"jobs": [{"key", "case_id", "adapter", "perturbation_id", "kind"}]}``) says which jobs are
expected; the store's index says which are finished (``ok`` or ``failed``). A job is *missing*
when it is planned but has no stored record whose object is intact; a stored key the plan does
not name (from an earlier config) is *stale*. Nothing here modifies the run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from imagination.engine.cost import Cost
from imagination.engine.provenance import RUN_JSON
from imagination.engine.store import INDEX_NAME, IndexRow
from imagination.errors import InputError

PLAN_JSON = "plan.json"
STORE_DIR = "store"
#: Output files a finished run may hold, in the order they are listed.
OUTPUT_FILES: tuple[str, ...] = (
    "per_case.csv", "leaderboard.csv", "comparisons.csv", "sites.csv", "robustness.csv",
    "reproducibility.csv", "failures.csv", "cost.csv", "report.html", "summary.md", "junit.xml",
)
_PLAN_FIELDS = ("key", "case_id", "adapter", "perturbation_id", "kind")
_MAX_DEPTH = 3


@dataclass(frozen=True)
class PlannedJob:
    key: str
    case_id: str
    adapter: str
    perturbation_id: str
    kind: str


@dataclass(frozen=True)
class GroupCounts:
    """Jobs of one (adapter, perturbation, kind): planned, finished, failed, missing, cost."""

    adapter: str
    perturbation_id: str
    kind: str
    planned: int | None
    done: int
    failed: int
    missing: int | None
    wall_s: float
    cpu_s: float
    peak_rss_mb: float


@dataclass(frozen=True)
class FailedJob:
    case_id: str
    adapter: str
    perturbation_id: str
    kind: str
    failure_kind: str
    reason: str


@dataclass(frozen=True)
class RunSummary:
    """A run folder at a glance. ``planned``/``missing`` are ``None`` when there is no plan."""

    run_dir: Path
    config_name: str | None
    created: str | None
    planned: int | None
    done: int
    failed: int
    stale: int
    groups: tuple[GroupCounts, ...]
    missing: tuple[PlannedJob, ...]
    failures: tuple[FailedJob, ...]
    outputs: tuple[str, ...] = field(default=())
    #: why the folder could not be read (``runs list`` goes on with the other runs)
    error: str | None = None

    @property
    def has_plan(self) -> bool:
        return self.planned is not None

    @property
    def complete(self) -> bool:
        return self.has_plan and not self.missing

    @property
    def state(self) -> str:
        if self.error is not None:
            return "unreadable"
        if not self.has_plan:
            return "no plan"
        return "complete" if self.complete else f"{len(self.missing)} missing"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["run_dir"] = str(self.run_dir)
        data.update(complete=self.complete, state=self.state)
        return data


def is_run_dir(path: Path) -> bool:
    """True if ``path`` looks like a run folder."""
    return path.is_dir() and any(
        (path / name).is_file() for name in (RUN_JSON, PLAN_JSON, f"{STORE_DIR}/{INDEX_NAME}"))


def read_plan(run_dir: Path) -> list[PlannedJob] | None:
    """The planned jobs, ``None`` without ``plan.json``; :class:`InputError` if malformed."""
    path = run_dir / PLAN_JSON
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        jobs = data["jobs"]
        return [PlannedJob(*(str(job[name]) for name in _PLAN_FIELDS)) for job in jobs]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a valid plan (expected {{\"jobs\": [{{"
                         f"{', '.join(_PLAN_FIELDS)}}}]}}): {exc}") from exc


def _read_provenance(run_dir: Path) -> dict[str, Any]:
    path = run_dir / RUN_JSON
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read run.json: {exc}") from exc
    return data if isinstance(data, dict) else {}


def _config_name(provenance: dict[str, Any]) -> str | None:
    config = provenance.get("config")
    if isinstance(config, dict) and isinstance(config.get("name"), str):
        return config["name"]
    for key in ("config_name", "name"):
        if isinstance(provenance.get(key), str):
            return provenance[key]
    return None


def _created(run_dir: Path, provenance: dict[str, Any]) -> str | None:
    timings = provenance.get("timings")
    for value in (provenance.get("created"), provenance.get("started"),
                  timings.get("started") if isinstance(timings, dict) else None):
        if isinstance(value, str):
            return value
    for name in (RUN_JSON, PLAN_JSON, f"{STORE_DIR}/{INDEX_NAME}"):
        path = run_dir / name
        if path.is_file():
            stamp = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
            return stamp.isoformat(timespec="seconds")
    return None


_ROW_SQL = ("SELECT key, case_id, adapter, perturbation_id, kind, status, failure_kind, "
            "failure_reason, created, wall_s, cpu_s, peak_rss_mb, object, size FROM jobs "
            "ORDER BY key")


def _read_index(index: Path) -> list[tuple[Any, ...]]:
    """The index's job rows, opened read-only: nothing is created or written. A folder we may
    write with a WAL file left by a killed bench is read with the WAL; otherwise (read-only
    media, no WAL) the file is read as immutable."""
    wal = index.with_name(index.name + "-wal")
    writable = os.access(index.parent, os.W_OK)
    mode = "mode=ro" if writable and wal.exists() else "immutable=1"
    conn = sqlite3.connect(f"{index.resolve().as_uri()}?{mode}", uri=True)
    try:
        return conn.execute(_ROW_SQL).fetchall()
    finally:
        conn.close()


def _stored_rows(run_dir: Path) -> list[IndexRow]:
    """Index rows whose objects are intact in size; the store is only read, never opened for
    writing (``runs`` works on read-only media and leaves no file behind)."""
    store = run_dir / STORE_DIR
    index = store / INDEX_NAME
    if not index.is_file():
        return []
    try:
        records = _read_index(index)
    except (OSError, sqlite3.Error) as exc:
        raise InputError(f"{index}: the store index is damaged or unreadable ({exc}); run the "
                         "same imagination bench command to rebuild it from the stored "
                         "objects") from exc
    rows = []
    for *fields, relative, size in records:
        try:
            intact = (store / relative).stat().st_size == size
        except (OSError, TypeError, ValueError):
            intact = False
        if intact:
            rows.append(IndexRow(*fields[:9], cost=Cost(*fields[9:12])))
    return rows


def _group_counts(plan: list[PlannedJob] | None, rows: list[IndexRow],
                  missing: list[PlannedJob]) -> tuple[GroupCounts, ...]:
    Group = tuple[str, str, str]
    planned: dict[Group, int] = defaultdict(int)
    group_of: dict[str, Group] = {}
    if plan is not None:
        # the plan's kind is the job's stage; a stored failure may carry kind "failure"
        group_of = {job.key: (job.adapter, job.perturbation_id, job.kind) for job in plan}
        rows = [row for row in rows if row.key in group_of]
        for group in group_of.values():
            planned[group] += 1
    by_group: dict[Group, list[IndexRow]] = defaultdict(list)
    for row in rows:
        by_group[group_of.get(row.key, (row.adapter, row.perturbation_id, row.kind))].append(row)
    missing_by: dict[Group, int] = defaultdict(int)
    for job in missing:
        missing_by[(job.adapter, job.perturbation_id, job.kind)] += 1
    groups = []
    for group in sorted(set(planned) | set(by_group)):
        members = by_group.get(group, [])
        groups.append(GroupCounts(
            *group, planned=planned.get(group, 0) if plan is not None else None,
            done=sum(row.status == "ok" for row in members),
            failed=sum(row.status != "ok" for row in members),
            missing=missing_by.get(group, 0) if plan is not None else None,
            wall_s=sum(row.cost.wall_s for row in members),
            cpu_s=sum(row.cost.cpu_s for row in members),
            peak_rss_mb=max((row.cost.peak_rss_mb for row in members), default=0.0)))
    return tuple(groups)


def describe_run(run_dir: Path | str) -> RunSummary:
    """Summarise a run folder; :class:`InputError` if it is not one."""
    run_dir = Path(run_dir)
    if not is_run_dir(run_dir):
        raise InputError(f"{run_dir}: not a run folder (no {RUN_JSON}, {PLAN_JSON} or "
                         f"{STORE_DIR}/{INDEX_NAME})")
    provenance = _read_provenance(run_dir)
    plan = read_plan(run_dir)
    rows = _stored_rows(run_dir)
    stored = {row.key for row in rows}
    missing = [] if plan is None else sorted(
        (job for job in plan if job.key not in stored),
        key=lambda job: (job.adapter, job.perturbation_id, job.kind, job.case_id, job.key))
    planned_keys = None if plan is None else {job.key for job in plan}
    counted = rows if planned_keys is None else [r for r in rows if r.key in planned_keys]
    planned_kind = {} if plan is None else {job.key: job.kind for job in plan}
    failures = sorted(
        (FailedJob(r.case_id, r.adapter, r.perturbation_id, planned_kind.get(r.key, r.kind),
                   r.failure_kind or "error", r.failure_reason or "")
         for r in counted if r.status != "ok"),
        key=lambda f: (f.adapter, f.perturbation_id, f.kind, f.case_id))
    return RunSummary(
        run_dir=run_dir, config_name=_config_name(provenance),
        created=_created(run_dir, provenance),
        planned=None if plan is None else len(planned_keys or ()),
        done=sum(r.status == "ok" for r in counted),
        failed=sum(r.status != "ok" for r in counted),
        stale=0 if planned_keys is None else len(stored - planned_keys),
        groups=_group_counts(plan, rows, missing), missing=tuple(missing),
        failures=tuple(failures),
        outputs=tuple(name for name in OUTPUT_FILES if (run_dir / name).is_file()))


def _find_run_dirs(root: Path, depth: int = 0) -> list[Path]:
    if is_run_dir(root):
        return [root]
    if depth >= _MAX_DEPTH:
        return []
    found: list[Path] = []
    try:
        children = sorted((entry for entry in os.scandir(root)
                           if entry.is_dir() and not entry.name.startswith(".")),
                          key=lambda entry: entry.name)
    except OSError:
        return []
    for entry in children:
        found.extend(_find_run_dirs(Path(entry.path), depth + 1))
    return found


def list_runs(root: Path | str) -> list[RunSummary]:
    """Every run folder at or under ``root`` (3 levels deep), oldest first; a folder that
    cannot be read is listed with its ``error``."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: no such folder")
    summaries = [_describe_or_error(path) for path in _find_run_dirs(root)]
    return sorted(summaries, key=lambda s: (s.created or "", str(s.run_dir)))


def _describe_or_error(run_dir: Path) -> RunSummary:
    """The run's summary, or one saying why it cannot be read (one bad run never hides the
    others)."""
    try:
        return describe_run(run_dir)
    except (InputError, OSError, sqlite3.Error, ValueError, TypeError) as exc:
        return RunSummary(run_dir=run_dir, config_name=None, created=None, planned=None,
                          done=0, failed=0, stale=0, groups=(), missing=(), failures=(),
                          error=" ".join(str(exc).split()))
