"""Checks of a manifest's metadata and rows that need no image file."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping

from imagination.cohort.manifest import (
    Manifest,
    image_columns,
    known_columns,
    parse_days,
    tissue_columns,
)
from imagination.cohort.validation.privacy import identifying_name_reasons
from imagination.cohort.validation.problems import Problem
from imagination.cohort.vocabulary import (
    ALIAS_COLUMN,
    BASELINE_COLUMN,
    COVARIATES,
    DAY_COLUMNS,
    LABEL_COLUMNS,
    MASKS,
    REQUIRED_COLUMNS,
    mask_column,
)
from imagination.errors import InputError
from imagination.names import RULE, name_problem

#: Plausible ranges of numeric covariates (inclusive bounds).
COVARIATE_RANGES: dict[str, tuple[float, float]] = {
    "age": (0.0, 120.0),
    "field_strength": (0.05, 20.0),
}
#: Columns whose values are names (they name files and folders the harness writes).
NAME_COLUMNS: tuple[str, ...] = ("case_id", "subject_id", BASELINE_COLUMN)
_ALIAS = re.compile(r"^[^:\s;]+:[^\s;]+$")

Row = Mapping[str, str | None]


def row_label(row: Row, index: int) -> str:
    """How a message names a row: its case_id, else its position."""
    return f"case {row['case_id']}" if row.get("case_id") else f"row {index + 1}"


def metadata_problems(manifest: Manifest) -> Iterator[Problem]:
    """Label map, vocabularies, resample and reference declarations."""
    meta, file = manifest.meta, str(manifest.path)

    def bad(column: str, message: str) -> Problem:
        return Problem(None, column, file, "bad_metadata", "error", message)

    try:
        meta.label_map_object()
    except InputError as exc:
        yield bad("label_map", str(exc))
    for column in meta.vocabularies:
        if column not in LABEL_COLUMNS:
            yield bad("vocabularies", f"vocabulary for unknown label column {column!r}; "
                                      f"label columns: {', '.join(LABEL_COLUMNS)}")
    keys = set(image_columns(meta)) | set(MASKS) | {mask_column(m) for m in MASKS}
    for key in meta.resample:
        if key not in keys:
            yield bad("resample", f"resample lists {key!r}, which is neither a modality nor a "
                                  "mask of this manifest")
    if meta.reference not in image_columns(meta):
        yield bad("reference", f"reference {meta.reference!r} is not a modality of this manifest")
    if meta.reference in meta.resample:
        yield bad("reference", f"reference {meta.reference!r} cannot also be resampled")


def column_problems(manifest: Manifest) -> Iterator[Problem]:
    """Required columns that are absent; columns the format does not know."""
    file, columns = str(manifest.path), manifest.columns
    separators = sorted({sep for c in columns for sep in (";", "\t", "|") if sep in c})
    hint = (f" (the header holds {separators[0]!r}: is the table separated by it? Use ',' in "
            ".csv and tabs in .tsv)") if separators else ""
    for column in REQUIRED_COLUMNS:
        if column not in columns:
            yield Problem(None, column, file, "missing_column", "error",
                          f"required column {column!r} is missing from the manifest{hint}")
    for column, where in manifest.duplicate_columns.items():
        yield Problem(None, column, file, "duplicate_column", "error",
                      f"column {column!r} appears {len(where)} times (positions "
                      f"{', '.join(map(str, where))}); keep one copy, none is chosen silently")
    known = set(known_columns(manifest.meta))
    for column in columns:
        if column not in known:
            yield Problem(None, column, file, "unknown_column", "warning",
                          f"unknown column {column!r} is ignored (declare extra modalities "
                          "under 'extra_modalities')")


def _covariate_problem(name: str, raw: str) -> str | None:
    if COVARIATES[name] is not float:
        return None
    try:
        value = float(raw)
    except ValueError:
        return f"{name} {raw!r} is not a number"
    if not math.isfinite(value):
        return f"{name} {raw!r} is not a finite number"
    low, high = COVARIATE_RANGES.get(name, (-math.inf, math.inf))
    if not low <= value <= high:
        return f"{name} {value:g} is outside the plausible range [{low:g}, {high:g}]"
    return None


def row_problems(manifest: Manifest, row: Row, index: int, *,
                 allow_outside_root: bool) -> Iterator[Problem]:
    """Empty required cells, labels, covariates, aliases and paths of one row."""
    file, meta = str(manifest.path), manifest.meta
    case_id = row.get("case_id")
    who = row_label(row, index)
    for column in REQUIRED_COLUMNS:
        if column in manifest.columns and not row.get(column):
            yield Problem(case_id, column, file, "missing_value", "error",
                          f"{who}: required value {column!r} is empty")
    if case_id and name_problem(case_id):
        case_id, who = None, f"row {index + 1}"  # never echo a bad id as if it were a name
    for column in NAME_COLUMNS:
        value = row.get(column)
        if value and (why := name_problem(value)):
            yield Problem(case_id, column, file, "invalid_id", "error",
                          f"{who}: {column} {value!r} is not a valid name: it {why}; {RULE}")
    for column in LABEL_COLUMNS:
        value = row.get(column)
        vocabulary = meta.vocabulary(column)
        if value is not None and value not in vocabulary:
            near = [v for v in vocabulary if v.casefold() == value.strip().casefold()]
            hint = f"did you mean {near[0]!r}? " if near else ""
            yield Problem(case_id, column, file, "label_not_in_vocabulary", "error",
                          f"{who}: {column} {value!r} is not in the vocabulary "
                          f"({', '.join(vocabulary)}); {hint}leave it empty if unknown")
    for name in COVARIATES:
        raw = row.get(name)
        if raw is not None and (why := _covariate_problem(name, raw)):
            yield Problem(case_id, name, file, "invalid_covariate", "error", f"{who}: {why}")
    for name in DAY_COLUMNS:
        raw = row.get(name)
        try:
            parse_days(raw)
        except ValueError:
            yield Problem(case_id, name, file, "invalid_days", "error",
                          f"{who}: {name} {raw!r} is not a whole number of days")
    for alias in (row.get(ALIAS_COLUMN) or "").split(";"):
        alias = alias.strip()
        if alias and not _ALIAS.match(alias):
            yield Problem(case_id, ALIAS_COLUMN, file, "invalid_alias", "error",
                          f"{who}: alias {alias!r} must be written dataset:id")
    yield from _identifying_name_problems(manifest, row, case_id, who)
    if not allow_outside_root:
        for column, value in path_cells(manifest, row).items():
            if not manifest.is_inside_root(value):
                yield Problem(case_id, column, str(manifest.resolve(value)),
                              "path_outside_root", "error",
                              f"{who}: path {value!r} leaves the manifest's folder "
                              f"{manifest.root} (to permit it: `validate --allow-outside-root`, "
                              f"or `cohort: {{allow_outside_root: true}}` in a bench config)")


def _identifying_name_problems(manifest: Manifest, row: Row, case_id: str | None,
                               who: str) -> Iterator[Problem]:
    """Ids and file names that look like a date, a person name or a record number: they end
    up in every table and report of a run (the text itself is not echoed)."""
    cells = {c: row.get(c) for c in ("case_id", "subject_id")}
    cells.update(path_cells(manifest, row))
    for column, value in cells.items():
        if value and (reasons := identifying_name_reasons(value)):
            what = "file name" if column not in NAME_COLUMNS else column
            yield Problem(case_id, column, str(manifest.path), "identifying_name", "warning",
                          f"{who}: the {what} in {column} holds what looks like "
                          f"{' and '.join(reasons)}; use pseudonyms before sharing results")


def path_cells(manifest: Manifest, row: Row) -> dict[str, str]:
    """Non-empty image and mask cells of a row, by column."""
    columns = (image_columns(manifest.meta) + tuple(mask_column(m) for m in MASKS)
               + tissue_columns())
    return {c: v for c in columns if (v := row.get(c))}
