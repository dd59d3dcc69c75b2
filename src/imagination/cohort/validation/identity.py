"""Checks across rows and manifests: duplicate case ids, shared files and subject leakage.

A subject is known by its ``subject_id`` and by ``dataset:subject_id`` (the dataset being the
manifest's ``name``, else its file stem, as a :func:`dataset_token`), plus every ``dataset:id``
in ``subject_aliases``.
Cases sharing any of these identities are one subject; that subject must stay at one site and
in one manifest, or a split across manifests would leak it between training and test.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from imagination.cohort.manifest import Manifest
from imagination.cohort.validation.problems import Problem
from imagination.cohort.validation.table import Row, path_cells
from imagination.cohort.vocabulary import ALIAS_COLUMN


def dataset_token(name: str) -> str:
    """A dataset name as the ``dataset`` part of an alias: runs of characters other than
    letters, digits, ``.``, ``_`` and ``-`` (spaces, ``:``, ``;``) become one ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name.strip()) or "dataset"


@dataclass(frozen=True)
class Entry:
    """One row of one manifest."""

    manifest: Manifest
    row: Row
    index: int

    @property
    def where(self) -> str:
        row = f"row {self.index + 1} of {self.manifest.path.name}"
        case_id = self.row.get("case_id")
        return f"case {case_id} ({row})" if case_id else row

    @property
    def dataset(self) -> str:
        return dataset_token(self.manifest.meta.name or self.manifest.path.stem)

    def identities(self) -> set[tuple[str, str]]:
        subject = self.row.get("subject_id")
        keys: set[tuple[str, str]] = set()
        if subject:
            keys |= {("id", subject), ("qualified", f"{self.dataset}:{subject}")}
        for alias in (self.row.get(ALIAS_COLUMN) or "").split(";"):
            if alias.strip():
                keys.add(("qualified", alias.strip()))
        return keys


def duplicate_case_problems(entries: list[Entry]) -> Iterator[Problem]:
    first: dict[str, Entry] = {}
    for entry in entries:
        case_id = entry.row.get("case_id")
        if not case_id:
            continue
        if case_id in first:
            yield Problem(case_id, "case_id", str(entry.manifest.path), "duplicate_case_id",
                          "error", f"case_id {case_id!r} of row {entry.index + 1} of "
                                   f"{entry.manifest.path.name} is already used by "
                                   f"{first[case_id].where}")
        else:
            first[case_id] = entry


def subject_groups(entries: list[Entry]) -> list[list[int]]:
    """Indices of entries grouped by shared identity (union-find), singletons included, in
    order of first appearance. Used by the leakage check and by manifest merges."""
    parent = list(range(len(entries)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[tuple[str, str], int] = {}
    for i, entry in enumerate(entries):
        for key in sorted(entry.identities()):
            if key in owner:
                parent[find(i)] = find(owner[key])
            else:
                owner[key] = i
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(entries)):
        groups[find(i)].append(i)
    return list(groups.values())


def _linking_column(entry: Entry, others: list[Entry]) -> str:
    subject = entry.row.get("subject_id")
    shares_id = any(o.row.get("subject_id") == subject for o in others)
    return "subject_id" if shares_id else ALIAS_COLUMN


def leakage_problems(entries: list[Entry]) -> Iterator[Problem]:
    for group in (g for g in subject_groups(entries) if len(g) > 1):
        members = [entries[i] for i in group]
        first = members[0]
        by_manifest: dict[str, list[Entry]] = defaultdict(list)
        for entry in members:
            by_manifest[str(entry.manifest.path)].append(entry)
        if len(by_manifest) > 1:
            for entry in members:
                if entry.manifest is first.manifest:
                    continue
                elsewhere = [e for e in members if e.manifest is not entry.manifest]
                yield Problem(
                    entry.row.get("case_id"), _linking_column(entry, elsewhere),
                    str(entry.manifest.path), "subject_in_several_manifests", "error",
                    f"subject {entry.row.get('subject_id')!r} of {entry.where} is also "
                    f"{', '.join(e.where for e in elsewhere)} (leakage across manifests)")
        for local in by_manifest.values():
            home = local[0]
            for entry in local[1:]:
                if entry.row.get("site") != home.row.get("site"):
                    yield Problem(
                        entry.row.get("case_id"), "site", str(entry.manifest.path),
                        "subject_multiple_sites", "error",
                        f"subject {entry.row.get('subject_id')!r} of {entry.where} is at site "
                        f"{entry.row.get('site')!r} but at site {home.row.get('site')!r} in "
                        f"{home.where}")


#: Columns holding outcome truth: such a file used anywhere else hands the truth to a model.
TRUTH_COLUMNS: tuple[str, ...] = ("mask_recurrence",)
#: Columns several cases may share in that same column: an atlas brain mask for data already
#: registered to the atlas (EGD ships one ``Brain_mask.nii.gz`` for every case).
SHAREABLE_COLUMNS: tuple[str, ...] = ("mask_brain",)


def _file_identity(path: Path) -> tuple[str, ...]:
    """The same file under any name: device and inode (hard links), else the resolved path."""
    try:
        info = path.stat()
    except OSError:
        return ("path", str(path))
    return ("inode", str(info.st_dev), str(info.st_ino))


def shared_file_problems(entries: list[Entry]) -> Iterator[Problem]:
    """One file named in two columns of a row, or by two cases (symlinks and hard links
    included): an error, and always one when a truth column is involved. Only an atlas brain
    mask (:data:`SHAREABLE_COLUMNS`) may serve several cases in the same column."""
    first: dict[tuple[str, ...], tuple[Entry, str]] = {}
    for entry in entries:
        manifest = entry.manifest
        for column, value in path_cells(manifest, entry.row).items():
            path = manifest.resolve(value)
            identity = _file_identity(path)
            if identity not in first:
                first[identity] = (entry, column)
                continue
            other, other_column = first[identity]
            if other is not entry and column == other_column and column in SHAREABLE_COLUMNS:
                continue
            where = ("the same case" if other is entry else other.where)
            truth = {column, other_column} & set(TRUTH_COLUMNS)
            why = (f" ({sorted(truth)[0]} is truth: it must never be an input)" if truth
                   else "; each role of each case needs its own file")
            yield Problem(entry.row.get("case_id"), column, str(path), "duplicate_file", "error",
                          f"{entry.where}: {column} names the same file as {other_column} of "
                          f"{where}{why}")
