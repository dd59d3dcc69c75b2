"""Reading score maps and label maps that programs or exports wrote, checked against the case
grid."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from imagination.adapters.validation import AdapterOutputError
from imagination.cohort.case import Grid, LoadedCase
from imagination.cohort.loading import GRID_ATOL_DIRECTION, GRID_ATOL_MM


def read_score_map(path: Path, case: LoadedCase) -> np.ndarray:
    """A float32 score map in RAS+ order, on the case grid; else :class:`AdapterOutputError`."""
    return _read_on_grid(path, case, "score map", np.float32)


def read_label_map(path: Path, case: LoadedCase) -> np.ndarray:
    """A label map in RAS+ order, on the case grid, in its stored number type (its codes are
    checked against the declared label map by ``validation.check_label_map``)."""
    return _read_on_grid(path, case, "label map", None)


def _read_on_grid(path: Path, case: LoadedCase, what: str,
                  dtype: type[np.floating] | None) -> np.ndarray:
    if not path.is_file():
        raise AdapterOutputError(f"no {what} {path}")
    try:
        image = nib.as_closest_canonical(nib.load(path))
        data = (np.asarray(image.dataobj, dtype=dtype) if dtype is not None
                else np.asanyarray(image.dataobj))
    except Exception as exc:  # nibabel raises many types for corrupt files
        raise AdapterOutputError(f"{path.name} is not a readable NIfTI file: {exc}") from exc
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise AdapterOutputError(f"{path.name}: {what} has shape {data.shape}, expected 3-D "
                                 f"{tuple(case.grid.shape)}")
    differences = case.grid.differences(Grid(data.shape, image.affine), atol_mm=GRID_ATOL_MM,
                                        atol_direction=GRID_ATOL_DIRECTION)
    if differences:
        raise AdapterOutputError(f"{path.name}: {what} is not on the case grid: "
                                 f"{'; '.join(differences)}")
    return np.ascontiguousarray(data)
