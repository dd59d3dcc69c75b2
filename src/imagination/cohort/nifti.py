"""Deterministic, atomic NIfTI writing (byte-identical output for identical input)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import nibabel as nib
import numpy as np

from imagination.atomic import atomic_write_bytes


def nifti_bytes(array: np.ndarray, affine: np.ndarray, *, dtype: np.dtype | type | None = None,
                compress: bool = True) -> bytes:
    """Serialise an array as NIfTI-1 bytes; gzip with a fixed (zero) timestamp when compressing."""
    data = np.asarray(array if dtype is None else np.asarray(array).astype(dtype))
    image = nib.Nifti1Image(data, np.asarray(affine, dtype=np.float64))
    image.header.set_data_dtype(data.dtype)
    image.header.set_xyzt_units("mm", "sec")
    image.set_qform(np.asarray(affine), code=1)
    image.set_sform(np.asarray(affine), code=1)
    raw = image.to_bytes()
    return gzip.compress(raw, compresslevel=6, mtime=0) if compress else raw


def write_nifti(path: str | os.PathLike[str], array: np.ndarray, affine: np.ndarray, *,
                dtype: np.dtype | type | None = None) -> Path:
    """Write ``array`` to ``path`` (``.nii`` or ``.nii.gz``) atomically: temp file, then rename."""
    path = Path(path)
    payload = nifti_bytes(array, affine, dtype=dtype, compress=path.name.endswith(".gz"))
    # atomic against a killed process; not fsynced (image outputs here can be regenerated)
    return atomic_write_bytes(path, payload, fsync=False)
