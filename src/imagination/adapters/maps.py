"""Reading score maps and label maps that programs or exports wrote, checked against the case
grid.

Read like every input (``cohort.loading.read_volume``): regular files only, the header's
declared size checked against the file before allocating, gunzip bounded by it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from imagination.adapters.validation import AdapterOutputError
from imagination.cohort.case import LoadedCase
from imagination.cohort.loading import GRID_ATOL_DIRECTION, GRID_ATOL_MM, Kind, read_volume
from imagination.errors import CaseError


def read_score_map(path: Path, case: LoadedCase) -> np.ndarray:
    """A float32 score map in RAS+ order, on the case grid; else :class:`AdapterOutputError`."""
    return _read_on_grid(path, case, "score map", "image")


def read_label_map(path: Path, case: LoadedCase) -> np.ndarray:
    """An integer label map in RAS+ order, on the case grid (non-finite, fractional or negative
    voxels are refused; its codes are checked against the declared label map by
    ``validation.check_label_map``)."""
    return _read_on_grid(path, case, "label map", "mask")


def _read_on_grid(path: Path, case: LoadedCase, what: str, kind: Kind) -> np.ndarray:
    if not path.is_file():
        raise AdapterOutputError(f"no {what} {path.name}")
    try:
        volume = read_volume(path, kind=kind, case_id=case.case_id)
    except CaseError as exc:
        raise AdapterOutputError(f"{path.name} is not a readable 3-D NIfTI {what}: "
                                 f"{exc.reason}") from exc
    differences = case.grid.differences(volume.grid, atol_mm=GRID_ATOL_MM,
                                        atol_direction=GRID_ATOL_DIRECTION)
    if differences:
        raise AdapterOutputError(f"{path.name}: {what} is not on the case grid: "
                                 f"{'; '.join(differences)}")
    return volume.array
