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
from imagination.cohort.validation.problems import Problem
from imagination.errors import CaseError

#: Masks that must not be empty; an empty recurrence or cavity mask is only a warning.
REQUIRED_NONEMPTY_MASKS: tuple[str, ...] = ("tumor", "brain")
#: Masks whose codes are checked: label-mapped (tumour, recurrence) and the cavity (1 or RC).
CODED_MASKS: tuple[str, ...] = ("tumor", "recurrence", "cavity")
#: Masks that are outcome truth (never an input: engine.plan.TRUTH_MASKS).
TRUTH_MASKS: tuple[str, ...] = ("recurrence",)
#: A resampled file covering less than this fraction of the reference field is a warning.
MIN_FIELD_OVERLAP = 0.5


def _from_error(error: CaseError) -> Problem:
    return Problem(error.case_id, error.column, error.file, error.code, "error", error.reason)


def _code_problems(case: Case, ref: FileRef, volume: Volume) -> Iterator[Problem]:
    """Codes of label-mapped masks (tumour, recurrence) and of the cavity mask."""
    def problem(code: str, message: str) -> Problem:
        return Problem(case.case_id, ref.column, str(ref.path), code, "error", message)

    label_map = case.label_map
    present = sorted(int(c) for c in np.unique(volume.array) if c != 0)
    if ref.key == "cavity":
        allowed = {1, *(label_map.codes_of("RC") if label_map is not None else ())}
        extra = [c for c in present if c not in allowed]
        if extra:
            yield problem("unknown_mask_codes", f"cavity mask codes {extra} are neither 1 nor a "
                                                f"code the label map gives to RC "
                                                f"({sorted(allowed)} allowed)")
        return
    if label_map is None:
        if ref.key == "tumor":
            yield problem("missing_label_map", "a tumour mask needs a label map in the manifest "
                          "metadata (side file NAME.meta.yaml: 'label_map': a preset such as "
                          "brats2021, or {code: region}); codes are never guessed")
        elif present != [1]:
            yield problem("missing_label_map", f"a recurrence mask with codes {present} needs a "
                          "label map in the manifest metadata (side file NAME.meta.yaml; a binary "
                          "0/1 mask does not); codes are never guessed")
        return
    unknown = label_map.unknown_codes(volume.array)
    if unknown:
        declared = ", ".join(f"{c}={r}" for c, r in sorted(label_map.codes.items()))
        yield problem("unknown_mask_codes",
                      f"codes {unknown} are not in the label map ({declared}); they would be "
                      "dropped silently from every region")


def _mask_problems(case: Case, ref: FileRef, volume: Volume, *,
                   check_codes: bool) -> Iterator[Problem]:
    if not np.any(volume.array):
        required = ref.key in REQUIRED_NONEMPTY_MASKS
        yield Problem(case.case_id, ref.column, str(ref.path), "empty_mask",
                      "error" if required else "warning",
                      f"{ref.key} mask is empty (no non-zero voxel)")
        return
    if ref.key in CODED_MASKS and check_codes:
        yield from _code_problems(case, ref, volume)


def _truth_problems(case: Case, volumes: dict[FileRef, Volume]) -> Iterator[Problem]:
    """A truth mask whose voxels equal an input's: the outcome handed to the model."""
    truths = [r for r in volumes if r.kind == "mask" and r.key in TRUTH_MASKS]
    for truth in truths:
        target = volumes[truth].array
        for ref, volume in volumes.items():
            if ref == truth or ref.key in TRUTH_MASKS or volume.array.shape != target.shape:
                continue
            if np.array_equal(volume.array, target):
                yield Problem(case.case_id, truth.column, str(truth.path), "truth_as_input",
                              "error", f"{truth.column} has the same voxels as the input "
                              f"{ref.column} ({ref.path}): the follow-up truth would be "
                              "shown to the models")


def _orientation_problems(case: Case, ref: FileRef, volume: Volume) -> Iterator[Problem]:
    for code, message in volume.notes:
        yield Problem(case.case_id, ref.column, str(ref.path), code, "warning", message)


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

    ``check_codes=False`` skips the mask codes (when the declared label map is invalid,
    which is reported once for the manifest).
    """
    volumes, errors = read_case_volumes(case)
    errors += grid_errors(case, {ref: vol.grid for ref, vol in volumes.items()})
    problems = [_from_error(e) for e in errors]
    problems += _coverage_problems(case, volumes)
    problems += _truth_problems(case, volumes)
    for ref, volume in volumes.items():
        if ref.kind == "mask":
            problems += _mask_problems(case, ref, volume, check_codes=check_codes)
        problems += _header_problems(case, ref, volume)
        problems += _orientation_problems(case, ref, volume)
    return problems
