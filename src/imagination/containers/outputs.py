"""Reading a package's outputs back onto the case grid: label maps, probabilities, score maps
and classification files. Anything off the grid, unreadable or with undeclared codes fails
that case with :class:`AdapterOutputError` saying why."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np

from imagination.adapters.validation import AdapterOutputError
from imagination.cohort.case import Grid, LoadedCase
from imagination.cohort.labelmap import LabelMap
from imagination.cohort.loading import GRID_ATOL_DIRECTION, GRID_ATOL_MM


def _image(path: Path) -> nib.spatialimages.SpatialImage:
    if path.name.endswith(".mha"):
        from imagination.containers.layouts.mha import read_mha

        return read_mha(path)
    return nib.load(path)


def read_volume(path: Path, case: LoadedCase, what: str) -> np.ndarray:
    """A 3-D NIfTI or MetaImage in RAS+ order, on the case grid."""
    if not path.is_file():
        raise AdapterOutputError(f"{what}: the package wrote no {path.name}")
    try:
        image = nib.as_closest_canonical(_image(path))
        data = np.asarray(image.dataobj)
    except Exception as exc:  # nibabel and SimpleITK raise many types for corrupt files
        raise AdapterOutputError(f"{what}: {path.name} is not a readable image: {exc}") from exc
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise AdapterOutputError(f"{what}: {path.name} has shape {data.shape}, expected 3-D "
                                 f"{tuple(case.grid.shape)}")
    differences = case.grid.differences(Grid(data.shape, image.affine), atol_mm=GRID_ATOL_MM,
                                        atol_direction=GRID_ATOL_DIRECTION)
    if differences:
        raise AdapterOutputError(f"{what}: {path.name} is not on the case grid: "
                                 f"{'; '.join(differences)}")
    return data


def read_label_map(path: Path, case: LoadedCase, label_map: LabelMap | None) -> np.ndarray:
    """An integer label map whose codes are all declared by ``label_map``."""
    data = read_volume(path, case, "label map")
    if not np.issubdtype(data.dtype, np.integer):
        rounded = np.rint(data)
        if not np.all(np.isfinite(data)) or np.max(np.abs(data - rounded), initial=0) > 1e-3:
            raise AdapterOutputError(f"label map: {path.name} holds non-integer values")
        data = rounded
    labels = data.astype(np.int16)
    if label_map is not None:
        unknown = label_map.unknown_codes(labels)
        if unknown:
            declared = ", ".join(f"{c}={r}" for c, r in sorted(label_map.codes.items()))
            raise AdapterOutputError(f"label map: {path.name} holds codes {unknown} that the "
                                     f"declared label map does not name ({declared})")
    return labels


def read_score_map(path: Path, case: LoadedCase) -> np.ndarray:
    """A finite float32 voxel score map on the case grid."""
    data = read_volume(path, case, "score map").astype(np.float32)
    bad = int(np.count_nonzero(~np.isfinite(data)))
    if bad:
        raise AdapterOutputError(f"score map: {path.name} has {bad} non-finite voxels")
    return data


def read_npz_probabilities(path: Path, case: LoadedCase, *, key: str = "probabilities",
                           sitk_order: bool = True) -> np.ndarray:
    """Class probabilities ``(C, X, Y, Z)`` on the case grid from an ``.npz`` file.

    nnU-Net v2 saves ``probabilities`` in SimpleITK array order ``(C, z, y, x)`` of the input
    file; inputs were written in RAS+ order, so reversing the spatial axes gives the case grid.
    """
    if not path.is_file():
        raise AdapterOutputError(f"probabilities: the package wrote no {path.name}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if key not in archive:
                raise AdapterOutputError(f"probabilities: {path.name} has no array {key!r} "
                                         f"(arrays: {', '.join(archive.files)})")
            data = np.asarray(archive[key], dtype=np.float32)
    except (OSError, ValueError) as exc:
        raise AdapterOutputError(f"probabilities: {path.name} is not a readable .npz: "
                                 f"{exc}") from exc
    if data.ndim != 4:
        raise AdapterOutputError(f"probabilities: {path.name} has shape {data.shape}, expected "
                                 "(classes, x, y, z)")
    if sitk_order:
        data = data.transpose(0, 3, 2, 1)
    if tuple(data.shape[1:]) != tuple(case.grid.shape):
        raise AdapterOutputError(f"probabilities: {path.name} has spatial shape "
                                 f"{data.shape[1:]}, not the case grid {tuple(case.grid.shape)}")
    if not np.all(np.isfinite(data)) or data.min() < -1e-6 or data.max() > 1 + 1e-6:
        raise AdapterOutputError(f"probabilities: {path.name} holds values outside [0, 1]")
    return data


def read_predictions_json(path: Path, tasks: Sequence[str]) -> dict[str, dict[str, float]]:
    """``{task: {class: probability}}`` for ``tasks`` from a JSON file."""
    if not path.is_file():
        raise AdapterOutputError(f"classification: the package wrote no {path.name}")
    try:
        document = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AdapterOutputError(f"classification: {path.name} is not valid JSON: "
                                 f"{exc}") from exc
    if not isinstance(document, dict):
        raise AdapterOutputError(f"classification: {path.name} must hold an object "
                                 "{task: {class: probability}}")
    out: dict[str, dict[str, float]] = {}
    for task in tasks:
        entry = document.get(task)
        if not isinstance(entry, dict):
            raise AdapterOutputError(f"classification: {path.name} has no {{class: "
                                     f"probability}} entry for task {task}")
        values: dict[str, float] = {}
        for label, value in entry.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise AdapterOutputError(f"classification: {path.name}, task {task}, class "
                                         f"{label!r}: {value!r} is not a number")
            values[str(label)] = float(value)
        out[task] = values
    return out


def read_classification(path: Path, tasks: Sequence[str],
                        case_id: str) -> dict[str, dict[str, float]]:
    """``{task: {class: probability}}`` from ``predictions.json`` or a CSV
    (columns ``task`` and one per class, optionally ``case_id``)."""
    if path.suffix.lower() != ".csv":
        return read_predictions_json(path, tasks)
    import pandas as pd

    if not path.is_file():
        raise AdapterOutputError(f"classification: the package wrote no {path.name}")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as exc:  # pandas raises several parser errors
        raise AdapterOutputError(f"classification: {path.name} is not a readable CSV: "
                                 f"{exc}") from exc
    if "task" not in table.columns:
        raise AdapterOutputError(f"classification: {path.name} has no 'task' column")
    if "case_id" in table.columns:
        table = table[table["case_id"].str.strip() == case_id]
    classes = [c for c in table.columns if c not in ("task", "case_id")]
    out: dict[str, dict[str, float]] = {}
    for _, row in table.iterrows():
        task = str(row["task"]).strip()
        values: dict[str, float] = {}
        for column in classes:
            cell = str(row[column]).strip()
            if not cell:
                continue
            try:
                values[column] = float(cell)
            except ValueError:
                raise AdapterOutputError(f"classification: {path.name}, task {task}, class "
                                         f"{column}: {cell!r} is not a number") from None
        out[task] = values
    missing = [t for t in tasks if t not in out]
    if missing:
        raise AdapterOutputError(f"classification: {path.name} has no row for {missing}")
    return {t: out[t] for t in tasks}
