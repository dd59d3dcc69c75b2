"""Checks of longitudinal links: a follow-up's ``baseline_case_id``, its days and its grid.

A follow-up names the exam it is compared with (``baseline_case_id``, the RANO reference). The
baseline must exist in the cohort, belong to the same subject and come earlier on the subject's
timeline (``days_from_baseline``, days from the subject's first exam; both exams need it).
Links may chain (post-op → post-RT → follow-up) but never loop. A response label needs a link.
Unless the manifest declares ``longitudinal_registration: registered``, a follow-up and its
baseline share the reference grid (header-only check). One subject at one site is checked by
``identity.leakage_problems`` (``subject_multiple_sites``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from imagination.cohort.case import Grid
from imagination.cohort.loading import load_grid
from imagination.cohort.manifest import parse_days
from imagination.cohort.validation.identity import Entry
from imagination.cohort.validation.problems import Problem
from imagination.cohort.vocabulary import BASELINE_COLUMN, LONGITUDINAL_VOCABULARIES
from imagination.errors import CaseError


def _days(entry: Entry) -> int | None:
    try:
        return parse_days(entry.row.get("days_from_baseline"))
    except ValueError:
        return None  # reported by table.row_problems (invalid_days)


def _problem(entry: Entry, column: str, code: str, message: str) -> Problem:
    return Problem(entry.row.get("case_id"), column, str(entry.manifest.path), code, "error",
                   f"{entry.where}: {message}")


def _cycle_members(links: Mapping[str, str]) -> set[str]:
    """Case ids on a loop of baseline links (a self-link included)."""
    on_cycle: set[str] = set()
    done: set[str] = set()
    for start in links:
        path: list[str] = []
        seen: dict[str, int] = {}
        node: str | None = start
        while node is not None and node in links and node not in done and node not in seen:
            seen[node] = len(path)
            path.append(node)
            node = links[node]
        if node is not None and node in seen:
            on_cycle.update(path[seen[node]:])
        done.update(path)
    return on_cycle


def link_problems(entries: list[Entry]) -> Iterator[Problem]:
    """Missing, foreign, later or looping baselines; response labels without a baseline."""
    by_id: dict[str, Entry] = {}
    for entry in entries:
        if (case_id := entry.row.get("case_id")):
            by_id.setdefault(case_id, entry)
    links = {e.row["case_id"]: b for e in entries
             if e.row.get("case_id") and (b := e.row.get(BASELINE_COLUMN))}
    looping = _cycle_members(links)
    for entry in entries:
        baseline_id = entry.row.get(BASELINE_COLUMN)
        if not baseline_id:
            for column in LONGITUDINAL_VOCABULARIES:
                if entry.row.get(column):
                    yield _problem(entry, column, "label_without_baseline",
                                   f"{column} {entry.row[column]!r} needs the exam it is "
                                   f"compared with in {BASELINE_COLUMN}")
            continue
        if entry.row.get("case_id") in looping:
            yield _problem(entry, BASELINE_COLUMN, "baseline_cycle",
                           f"baseline links loop back to this case ({baseline_id!r} → … → "
                           f"{entry.row.get('case_id')!r}); a baseline must be an earlier exam")
            continue
        baseline = by_id.get(baseline_id)
        if baseline is None:
            yield _problem(entry, BASELINE_COLUMN, "baseline_not_found",
                           f"baseline {baseline_id!r} is no case of the cohort")
            continue
        subject, other = entry.row.get("subject_id"), baseline.row.get("subject_id")
        if subject != other:
            yield _problem(entry, BASELINE_COLUMN, "baseline_other_subject",
                           f"baseline {baseline_id!r} ({baseline.where}) belongs to subject "
                           f"{other!r}, not {subject!r}")
            continue
        day, base_day = _days(entry), _days(baseline)
        if entry.row.get("days_from_baseline") is None:
            yield _problem(entry, "days_from_baseline", "missing_days",
                           "a follow-up needs days_from_baseline to be ordered after its "
                           f"baseline {baseline_id!r}")
        elif baseline.row.get("days_from_baseline") is None:
            yield _problem(entry, "days_from_baseline", "missing_days",
                           f"its baseline {baseline_id!r} ({baseline.where}) has no "
                           "days_from_baseline to order the pair")
        elif day is not None and base_day is not None and day <= base_day:
            yield _problem(entry, "days_from_baseline", "baseline_not_earlier",
                           f"day {day} is not after day {base_day} of its baseline "
                           f"{baseline_id!r}")


def _reference_grid_path(entry: Entry) -> tuple[str, Path] | None:
    """The reference image cell of a row (the manifest's ``reference`` modality)."""
    column = entry.manifest.meta.reference
    value = entry.row.get(column)
    return None if not value else (column, entry.manifest.resolve(value))


def grid_problems(entries: list[Entry]) -> Iterator[Problem]:
    """A follow-up and its baseline on different reference grids, unless declared registered."""
    by_id = {e.row["case_id"]: e for e in entries if e.row.get("case_id")}
    grids: dict[Path, Grid] = {}  # a baseline shared by several follow-ups is read once

    def grid_of(path: Path) -> Grid:
        if path not in grids:
            grids[path] = load_grid(path)
        return grids[path]

    for entry in entries:
        baseline = by_id.get(entry.row.get(BASELINE_COLUMN) or "")
        if baseline is None or baseline is entry:
            continue
        if entry.manifest.meta.longitudinal_registration == "registered":
            continue
        mine, theirs = _reference_grid_path(entry), _reference_grid_path(baseline)
        if mine is None or theirs is None:
            continue
        try:
            grid, base_grid = grid_of(mine[1]), grid_of(theirs[1])
        except CaseError:
            continue  # the file checks report it
        if differences := base_grid.differences(grid):
            yield Problem(entry.row.get("case_id"), mine[0], str(mine[1]),
                          "longitudinal_grid_mismatch", "error",
                          f"{entry.where}: its {mine[0]} grid differs from that of its baseline "
                          f"{baseline.row.get('case_id')!r} ({'; '.join(differences)}); put the "
                          "exams of a subject on one grid or declare "
                          "'longitudinal_registration: registered' in the manifest metadata "
                          "(side file NAME.meta.yaml)")
