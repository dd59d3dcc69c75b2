"""Reading score maps that programs or exports wrote, checked against the case grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from imagination.adapters.validation import AdapterOutputError
from imagination.cohort.case import LoadedCase
from imagination.cohort.loading import GRID_ATOL_DIRECTION, GRID_ATOL_MM, read_volume
from imagination.errors import CaseError


def read_score_map(path: Path, case: LoadedCase) -> np.ndarray:
    """A float32 score map in RAS+ order, on the case grid; else :class:`AdapterOutputError`.

    Read like every input (``cohort.loading.read_volume``): regular files only, the header's
    declared size checked against the file before allocating, gunzip bounded by it.
    """
    if not path.is_file():
        raise AdapterOutputError(f"no score map {path.name}")
    try:
        volume = read_volume(path, kind="image", case_id=case.case_id)
    except CaseError as exc:
        raise AdapterOutputError(f"{path.name} is not a readable 3-D NIfTI map: "
                                 f"{exc.reason}") from exc
    differences = case.grid.differences(volume.grid, atol_mm=GRID_ATOL_MM,
                                        atol_direction=GRID_ATOL_DIRECTION)
    if differences:
        raise AdapterOutputError(f"{path.name}: map is not on the case grid: "
                                 f"{'; '.join(differences)}")
    return volume.array
