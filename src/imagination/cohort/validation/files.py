"""Checks of one case's image and mask files (memory bounded by that case)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from imagination.cohort.case import Case
from imagination.cohort.loading import (
    FileRef,
    Volume,
    field_overlap,
    grid_errors,
    is_resampled,
    read_case_volumes,
    reference_file,
)
from imagination.cohort.validation.privacy import identifying_reasons
from imagination.cohort.validation.problems import Problem, Severity
from imagination.errors import CaseError

#: Masks that must not be empty; an empty recurrence or cavity mask is only a warning.
REQUIRED_NONEMPTY_MASKS: tuple[str, ...] = ("tumor", "brain")
#: A resampled file covering less than this fraction of the reference field is a warning.
MIN_FIELD_OVERLAP = 0.5


def _from_error(error: CaseError) -> Problem:
    return Problem(error.case_id, error.column, error.file, error.code, "error", error.reason)


def _mask_problems(case: Case, ref: FileRef, volume: Volume, *,
                   check_codes: bool) -> Iterator[Problem]:
    def problem(code: str, severity: Severity, message: str) -> Problem:
        return Problem(case.case_id, ref.column, str(ref.path), code, severity, message)

    if not np.any(volume.array):
        required = ref.key in REQUIRED_NONEMPTY_MASKS
        yield problem("empty_mask", "error" if required else "warning",
                      f"{ref.key} mask is empty (no non-zero voxel)")
        return
    if ref.key != "tumor" or not check_codes:
        return
    if case.label_map is None:
        yield problem("missing_label_map", "error",
                      "a tumour mask needs a label map in the manifest metadata ('label_map': "
                      "a preset such as brats2021, or {code: region}); codes are never guessed")
        return
    unknown = case.label_map.unknown_codes(volume.array)
    if unknown:
        declared = ", ".join(f"{c}={r}" for c, r in sorted(case.label_map.codes.items()))
        yield problem("unknown_mask_codes", "error",
                      f"codes {unknown} are not in the label map ({declared})")


def _header_problems(case: Case, ref: FileRef, volume: Volume) -> Iterator[Problem]:
    for field, text in volume.header_text.items():
        reasons = identifying_reasons(text)
        if reasons:
            yield Problem(case.case_id, ref.column, str(ref.path), "identifying_header_text",
                          "warning",
                          f"NIfTI header field {field!r} ({len(text)} characters) holds what "
                          f"looks like {' and '.join(reasons)}; clear it before sharing")


def _coverage_problems(case: Case, volumes: dict[FileRef, Volume]) -> Iterator[Problem]:
    reference = reference_file(case)
    if reference is None or reference not in volumes:
        return
    target = volumes[reference].grid
    for ref, volume in volumes.items():
        if ref == reference or not is_resampled(case, ref):
            continue
        overlap = field_overlap(volume.grid, target)
        if 0.0 < overlap < MIN_FIELD_OVERLAP:
            yield Problem(case.case_id, ref.column, str(ref.path), "partial_overlap", "warning",
                          f"{ref.column} covers only {overlap:.0%} of the field of view of "
                          f"{reference.column}; the rest will be 0 after resampling")


def file_problems(case: Case, *, check_codes: bool = True) -> list[Problem]:
    """Every problem of a case's files: reading, grids, mask content, header text.

    ``check_codes=False`` skips the tumour-mask codes (when the declared label map is invalid,
    which is reported once for the manifest).
    """
    volumes, errors = read_case_volumes(case)
    errors += grid_errors(case, {ref: vol.grid for ref, vol in volumes.items()})
    problems = [_from_error(e) for e in errors]
    problems += _coverage_problems(case, volumes)
    for ref, volume in volumes.items():
        if ref.kind == "mask":
            problems += _mask_problems(case, ref, volume, check_codes=check_codes)
        problems += _header_problems(case, ref, volume)
    return problems
