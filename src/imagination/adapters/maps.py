"""Reading score maps that programs or exports wrote, checked against the case grid."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from imagination.adapters.validation import AdapterOutputError
from imagination.cohort.case import Grid, LoadedCase
from imagination.cohort.loading import GRID_ATOL_DIRECTION, GRID_ATOL_MM


def read_score_map(path: Path, case: LoadedCase) -> np.ndarray:
    """A float32 score map in RAS+ order, on the case grid; else :class:`AdapterOutputError`."""
    if not path.is_file():
        raise AdapterOutputError(f"no score map {path}")
    try:
        image = nib.as_closest_canonical(nib.load(path))
        data = np.asarray(image.dataobj, dtype=np.float32)
    except Exception as exc:  # nibabel raises many types for corrupt files
        raise AdapterOutputError(f"{path.name} is not a readable NIfTI file: {exc}") from exc
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise AdapterOutputError(f"{path.name}: map has shape {data.shape}, expected 3-D "
                                 f"{tuple(case.grid.shape)}")
    differences = case.grid.differences(Grid(data.shape, image.affine), atol_mm=GRID_ATOL_MM,
                                        atol_direction=GRID_ATOL_DIRECTION)
    if differences:
        raise AdapterOutputError(f"{path.name}: map is not on the case grid: "
                                 f"{'; '.join(differences)}")
    return data
