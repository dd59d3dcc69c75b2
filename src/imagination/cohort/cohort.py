"""The cohort: the validated cases of one or more manifests."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from imagination.cohort.case import Case, LoadedCase
from imagination.cohort.loading import load_case
from imagination.cohort.validation import Problem, validate
from imagination.errors import InputError

log = logging.getLogger(__name__)

#: How many errors the exception message lists before summarising the rest.
MAX_LISTED_ERRORS = 20


@dataclass(frozen=True)
class Cohort:
    """Validated cases (in manifest order) and the manifests they come from."""

    cases: tuple[Case, ...]
    manifests: tuple[Path, ...] = ()
    warnings: tuple[Problem, ...] = field(default=(), compare=False)

    @classmethod
    def from_manifests(cls, paths: Sequence[str | Path], *, allow_outside_root: bool = False,
                       check_files: bool = True, workers: int = 1) -> Cohort:
        """Validate the manifests together, then build the cohort.

        Errors raise :class:`InputError` listing them; warnings are logged. ``check_files=False``
        skips reading the images (the table, identity and leakage checks still run);
        ``workers`` processes read them otherwise.
        """
        report = validate(paths, allow_outside_root=allow_outside_root,
                          check_files=check_files, workers=workers)
        if report.errors:
            listed = "\n".join(f"  {p}" for p in report.errors[:MAX_LISTED_ERRORS])
            more = len(report.errors) - MAX_LISTED_ERRORS
            tail = f"\n  ... and {more} more (run `imagination validate`)" if more > 0 else ""
            count = len(report.errors)
            raise InputError(f"the cohort has {count} error{'s' if count > 1 else ''}:\n"
                             f"{listed}{tail}")
        for problem in report.warnings:
            log.warning("%s", problem)
        cases = tuple(case for manifest in report.manifests for case in manifest.cases())
        return cls(cases=cases, manifests=tuple(m.path for m in report.manifests),
                   warnings=tuple(report.warnings))

    def __len__(self) -> int:
        return len(self.cases)

    def __iter__(self) -> Iterator[Case]:
        return iter(self.cases)

    @property
    def sites(self) -> tuple[str, ...]:
        """Distinct sites, in order of first appearance."""
        return tuple(dict.fromkeys(c.site for c in self.cases))

    @property
    def subjects(self) -> tuple[str, ...]:
        """Distinct subject ids, in order of first appearance."""
        return tuple(dict.fromkeys(c.subject_id for c in self.cases))

    def case(self, case_id: str) -> Case:
        """The case with this id."""
        for case in self.cases:
            if case.case_id == case_id:
                return case
        raise InputError(f"no case {case_id!r} in the cohort")

    def loaded(self) -> Iterator[LoadedCase]:
        """Load the cases one at a time (memory bounded by one case)."""
        for case in self.cases:
            yield load_case(case)
