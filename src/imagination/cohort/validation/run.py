"""Validate one or more manifests together and report every problem in one run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from imagination.cohort.case import Case
from imagination.cohort.manifest import (
    TABLE_SUFFIXES,
    Manifest,
    image_columns,
    meta_path_for,
    read_manifest,
)
from imagination.cohort.validation.files import file_problems
from imagination.cohort.validation.identity import (
    Entry,
    duplicate_case_problems,
    leakage_problems,
    shared_file_problems,
)
from imagination.cohort.validation.longitudinal import grid_problems, link_problems
from imagination.cohort.validation.problems import Problem
from imagination.cohort.validation.table import (
    column_problems,
    metadata_problems,
    path_cells,
    row_problems,
)
from imagination.cohort.vocabulary import MASK_PREFIX, TISSUE_PREFIX
from imagination.errors import InputError
from imagination.signals import imap_in_processes


@dataclass
class ValidationReport:
    """What validation found, plus what it looked at."""

    manifests: list[Manifest] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    n_cases: int = 0

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]


def _read(path: Path) -> Manifest | Problem:
    try:
        return read_manifest(path)
    except InputError as exc:
        cause = exc.__cause__
        if not isinstance(cause, ValidationError):
            return Problem(None, None, str(path), "unreadable_manifest", "error", str(exc))
        fields = dict.fromkeys(str(e["loc"][0]) for e in cause.errors() if e["loc"])
        side = meta_path_for(path)
        where = side if path.suffix.lower() in TABLE_SUFFIXES and side.is_file() else path
        return Problem(None, ", ".join(fields) or None, str(where), "bad_metadata", "error",
                       str(exc))


def _label_map_is_valid(manifest: Manifest) -> bool:
    try:
        manifest.meta.label_map_object()
    except InputError:
        return False
    return True


def _files_case(manifest: Manifest, entry: Entry, *, allow_outside_root: bool) -> Case:
    """A case record for file checks: only paths that may be read, lenient about the rest."""
    meta, row = manifest.meta, entry.row
    cells = {c: manifest.resolve(v) for c, v in path_cells(manifest, row).items()
             if allow_outside_root or manifest.is_inside_root(v)}
    return Case(
        case_id=row.get("case_id") or f"row {entry.index + 1}",
        subject_id=row.get("subject_id") or "",
        site=row.get("site") or "",
        images={c: p for c, p in cells.items() if c in image_columns(meta)},
        masks={c.removeprefix(MASK_PREFIX): p for c, p in cells.items()
               if c.startswith(MASK_PREFIX)},
        tissues={c.removeprefix(TISSUE_PREFIX): p for c, p in cells.items()
                 if c.startswith(TISSUE_PREFIX)},
        label_map=meta.label_map_object() if _label_map_is_valid(manifest) else None,
        resample=frozenset(meta.resample),
        reference=meta.reference,
        manifest=manifest.path,
    )


def _unique(paths: Sequence[str | Path]) -> list[Path]:
    """Paths in order, each manifest once (the same file given twice is read once)."""
    first: dict[Path, Path] = {}
    for path in map(Path, paths):
        first.setdefault(path.resolve(), path)
    return list(first.values())


def _case_file_problems(item: tuple[Case, bool]) -> list[Problem]:
    case, check_codes = item
    return file_problems(case, check_codes=check_codes)


def validate(paths: Sequence[str | Path], *, allow_outside_root: bool = False,
             check_files: bool = True, workers: int = 1,
             on_case: Callable[[int, int], None] | None = None) -> ValidationReport:
    """Check manifests, their rows, identities across them and (optionally) every file.

    Cases' files are read in ``workers`` forked processes (one case each at a time; the
    problems come back in case order, as with one). ``on_case(done, total)`` is called after
    each case's files are checked (for progress).
    """
    report = ValidationReport()
    for path in _unique(paths):
        read = _read(path)
        if isinstance(read, Problem):
            report.problems.append(read)
        else:
            report.manifests.append(read)
    entries: list[Entry] = []
    for manifest in report.manifests:
        report.problems += metadata_problems(manifest)
        if not manifest.rows:
            report.problems.append(Problem(None, None, str(manifest.path), "no_cases", "error",
                                           "the manifest lists no case"))
            continue
        report.problems += column_problems(manifest)
        for index, row in enumerate(manifest.rows):
            entries.append(Entry(manifest, row, index))
            report.problems += row_problems(manifest, row, index,
                                            allow_outside_root=allow_outside_root)
    report.n_cases = len(entries)
    report.problems += duplicate_case_problems(entries)
    report.problems += leakage_problems(entries)
    report.problems += shared_file_problems(entries)
    report.problems += link_problems(entries)
    if check_files:
        report.problems += grid_problems(entries)
        items = []
        for entry in entries:
            case = _files_case(entry.manifest, entry, allow_outside_root=allow_outside_root)
            items.append((case, case.label_map is not None
                          or entry.manifest.meta.label_map is None))
        found = imap_in_processes(_case_file_problems, items, workers)
        for done, problems in enumerate(found, start=1):
            report.problems += problems
            if on_case is not None:
                on_case(done, len(entries))
    return report


def validate_manifests(paths: Sequence[str | Path], *,
                       allow_outside_root: bool = False) -> list[Problem]:
    """Every problem of the manifests validated together, found in one run."""
    return validate(paths, allow_outside_root=allow_outside_root).problems
