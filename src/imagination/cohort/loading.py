"""Load a case's NIfTI files onto one RAS+ grid.

Every file is opened with nibabel (a lazy proxy: the header first, the voxels read once),
reoriented to the closest canonical (RAS+) axis order, and checked: 3-D, finite, integer masks.
All images and masks must share the reference grid (``Case.reference_modality()``) within
:data:`GRID_ATOL_MM`; a mismatch is an error, never a silent resample. Only the modalities the
manifest lists under ``resample`` (typically ``pet``) are resampled onto the reference grid with
SimpleITK: linear for images, nearest neighbour for masks.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Literal

import nibabel as nib
import numpy as np
import SimpleITK as sitk
from nibabel.filebasedimages import ImageFileError
from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation

from imagination.cohort.bounded import (
    HEAD_BYTES,
    NotRegularFile,
    bounded_gunzip,
    declared_size,
    gunzip_prefix,
    implausible,
    read_regular,
)
from imagination.cohort.case import Case, Grid, LoadedCase
from imagination.cohort.lazy import LazyArrays
from imagination.cohort.vocabulary import mask_column, tissue_column
from imagination.errors import CaseError

#: Two grids are the same when origins and spacings agree within this many mm ...
GRID_ATOL_MM = 1e-2
#: ... and their direction cosines within this.
GRID_ATOL_DIRECTION = 1e-3
#: qform and sform further apart than this (mm, at a corner of the field) is a warning.
QFORM_SFORM_ATOL_MM = 0.1
#: NIfTI header text fields that may carry identifying text.
HEADER_TEXT_FIELDS = ("descrip", "db_name", "aux_file", "intent_name")

Kind = Literal["image", "mask", "tissue"]
_LPS_FLIP = np.diag([-1.0, -1.0, 1.0])
NIFTI1_HEADER_SIZE = 348
_GZIP_MAGIC = b"\x1f\x8b"
_NIFTI_HEADER_BYTES = 352


@dataclass
class Volume:
    """One file's voxels in RAS+ canonical order and its grid."""

    array: np.ndarray
    grid: Grid
    header_text: dict[str, str] = field(default_factory=dict)
    #: (code, message) warnings about an ambiguous orientation (see :func:`orientation_notes`)
    notes: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class FileRef:
    """A case file: its manifest column, its key (modality or mask name) and kind."""

    column: str
    key: str
    kind: Kind
    path: Path


def case_files(case: Case) -> list[FileRef]:
    """Every image and mask file of a case, images first."""
    refs = [FileRef(m, m, "image", p) for m, p in case.images.items()]
    refs += [FileRef(mask_column(m), m, "mask", p) for m, p in case.masks.items()]
    refs += [FileRef(tissue_column(t), t, "tissue", p) for t, p in case.tissues.items()]
    return refs


def is_resampled(case: Case, ref: FileRef) -> bool:
    """Whether the manifest marks this file's modality (or mask) for resampling."""
    return ref.key in case.resample or ref.column in case.resample


def reference_file(case: Case) -> FileRef | None:
    """The file whose grid the others must share: the reference modality, else the first file."""
    refs = case_files(case)
    modality = case.reference_modality()
    for ref in refs:
        if ref.kind == "image" and ref.key == modality:
            return ref
    unresampled = [r for r in refs if not is_resampled(case, r)]
    return (unresampled or refs or [None])[0]


def _canonical(shape: tuple[int, ...], affine: np.ndarray) -> tuple[np.ndarray, Grid]:
    """Orientation transform to RAS+ and the canonical grid of a 3-D ``shape``/``affine``."""
    ornt = io_orientation(affine)
    new_affine = affine @ inv_ornt_aff(ornt, shape)
    perm = [int(a) for a in ornt[:, 0]]
    new_shape = tuple(int(shape[perm.index(i)]) for i in range(3))
    return ornt, Grid(shape=new_shape, affine=new_affine)  # type: ignore[arg-type]


def _squeezed_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    shape = tuple(int(s) for s in shape)
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    return shape


def _is_truncated_gzip(path: Path) -> bool:
    """Whether ``path`` is a gzip stream that ends before its first NIfTI header is complete."""
    with path.open("rb") as handle:
        if handle.read(2) != _GZIP_MAGIC:
            return False
    try:
        with gzip.open(path, "rb") as stream:
            stream.read(_NIFTI_HEADER_BYTES)
    except (EOFError, zlib.error, OSError):
        return True
    return False


def _open(path: Path, ctx: dict[str, str | None]) -> nib.Nifti1Image | nib.Nifti2Image:
    """Open a NIfTI header (lazy) or raise a CaseError saying why it cannot be read."""
    _check_file(path, ctx)
    try:
        image = nib.load(path, mmap=False)  # read the voxels once, leave no file mapped
    except (EOFError, zlib.error) as exc:
        raise CaseError(f"truncated or corrupt gzip stream ({exc})", code="truncated_gzip",
                        **ctx) from exc
    except gzip.BadGzipFile as exc:
        raise CaseError(f"not a NIfTI file: not a valid gzip stream ({exc})", code="not_nifti",
                        **ctx) from exc
    except ImageFileError as exc:
        if _is_truncated_gzip(path):
            raise CaseError("truncated gzip stream: the file ends inside the NIfTI header",
                            code="truncated_gzip", **ctx) from exc
        raise CaseError("not a NIfTI file (expected .nii or .nii.gz)", code="not_nifti",
                        **ctx) from exc
    except Exception as exc:  # nibabel's header errors have no common base class
        raise CaseError(f"cannot read the NIfTI header: {' '.join(str(exc).split())}",
                        code="unreadable_file", **ctx) from exc
    if not isinstance(image, nib.Nifti1Image | nib.Nifti2Image):
        raise CaseError(f"not a NIfTI file ({type(image).__name__})", code="not_nifti", **ctx)
    return image


def _check_file(path: Path, ctx: dict[str, str | None]) -> None:
    """A readable regular file, else a CaseError (a FIFO or device is refused, never read)."""
    if not path.exists():
        raise CaseError("file not found", code="missing_file", **ctx)
    if not path.is_file():
        raise CaseError("not a regular file (a folder, FIFO or device)", code="unreadable_file",
                        **ctx)
    if not os.access(path, os.R_OK):
        raise CaseError("file is not readable (permission denied)", code="unreadable_file", **ctx)


def _read_bounded(path: Path, ctx: dict[str, str | None],
                  ) -> tuple[nib.Nifti1Image, bytes] | None:
    """Check the header's declared size against the file before anything is allocated, then,
    for a ``.nii.gz`` NIfTI-1, inflate exactly the declared bytes (zlib-ng, one call; bytes
    after the image are never inflated) and parse them from memory: the image and the inflated
    bytes (header and voxels).

    ``None`` when the fast path does not apply (plain ``.nii``, NIfTI-2, damage): the streaming
    reader (:func:`_open`) then reads the file, bounded by the same check, or names the problem.
    """
    _check_file(path, ctx)
    compressed = path.name.endswith(".gz")
    try:
        payload, size = read_regular(path, None if compressed else HEAD_BYTES)
    except NotRegularFile as exc:
        raise CaseError("not a regular file (a folder, FIFO or device)", code="unreadable_file",
                        **ctx) from exc
    except OSError as exc:
        raise CaseError(f"cannot read the file: {exc.strerror or exc}", code="unreadable_file",
                        **ctx) from exc
    head = gunzip_prefix(payload, HEAD_BYTES) if compressed else payload
    declared = declared_size(head)
    if declared is None:
        return None
    refused = implausible(declared, size, compressed)
    if refused is not None:
        raise CaseError(refused[1], code=refused[0], **ctx)
    if not compressed or declared.sizeof_hdr != NIFTI1_HEADER_SIZE:
        return None
    raw = bounded_gunzip(payload, declared.total_bytes)
    if raw is None:
        return None
    try:
        return nib.Nifti1Image.from_bytes(raw), raw
    except Exception:
        return None


def _voxels_in_place(image: nib.Nifti1Image, raw: bytes) -> np.ndarray | None:
    """The voxels as a read-only view of the inflated bytes (no copy), or ``None`` when they
    need scaling (``scl_slope``/``scl_inter`` other than 1 and 0) or the bytes are short.
    Where they lie and how they are laid out is what nibabel's array proxy says."""
    proxy = image.dataobj
    if float(proxy.slope) != 1.0 or float(proxy.inter) != 0.0:
        return None
    dtype, offset = np.dtype(proxy.dtype), int(proxy.offset)
    count = int(np.prod(proxy.shape, dtype=np.int64))
    if offset + count * dtype.itemsize > len(raw):
        return None
    flat = np.frombuffer(raw, dtype=dtype, count=count, offset=offset)
    return flat.reshape(proxy.shape, order=proxy.order)


def _header_grid(image: nib.Nifti1Image | nib.Nifti2Image,
                 ctx: dict[str, str | None]) -> tuple[tuple[int, ...], np.ndarray, Grid]:
    shape = _squeezed_shape(image.shape)
    if len(shape) != 3:
        raise CaseError(f"image is {len(shape)}-D with shape {tuple(image.shape)}; "
                        "3-D required", code="not_3d", **ctx)
    affine = np.asarray(image.affine, dtype=np.float64)
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise CaseError("the header's affine is singular or not finite", code="bad_affine",
                        **ctx)
    ornt, grid = _canonical(shape, affine)
    return shape, ornt, grid


def load_grid(path: str | os.PathLike[str], *, case_id: str | None = None,
              column: str | None = None) -> Grid:
    """The RAS+ canonical grid of a NIfTI file, reading only its header."""
    path = Path(path)
    ctx = {"case_id": case_id, "column": column, "file": str(path)}
    return _header_grid(_open(path, ctx), ctx)[2]


def header_text(image: nib.Nifti1Image | nib.Nifti2Image) -> dict[str, str]:
    """Non-empty free-text header fields (``descrip``, ``db_name``, ``aux_file``, ...)."""
    out: dict[str, str] = {}
    header = image.header
    for name in HEADER_TEXT_FIELDS:
        if name not in header:
            continue
        raw = np.asarray(header[name]).item()
        text = raw.decode("latin-1") if isinstance(raw, bytes) else str(raw)
        text = text.replace("\x00", "").strip()
        if text:
            out[name] = text
    return out


def _corners(shape: tuple[int, ...], affine: np.ndarray) -> np.ndarray:
    ijk = np.array([[i, j, k] for i in (0, shape[0] - 1) for j in (0, shape[1] - 1)
                    for k in (0, shape[2] - 1)], dtype=np.float64)
    return ijk @ affine[:3, :3].T + affine[:3, 3]


def orientation_notes(image: nib.Nifti1Image | nib.Nifti2Image,
                      shape: tuple[int, ...]) -> list[tuple[str, str]]:
    """Warnings about how a header places the image: no orientation at all (both codes 0),
    qform and sform disagreeing by more than :data:`QFORM_SFORM_ATOL_MM` at a corner of the
    field of view (nibabel, and so the harness, uses the sform), or a sheared affine."""
    header = image.header
    qcode, scode = int(header["qform_code"]), int(header["sform_code"])
    notes: list[tuple[str, str]] = []
    if qcode == 0 and scode == 0:
        notes.append(("no_orientation", "qform_code and sform_code are both 0: the header "
                      "does not say where the image lies (read as RAS+ with the voxel sizes); "
                      "fix the converter's output"))
    elif qcode > 0 and scode > 0:
        gap = float(np.max(np.linalg.norm(
            _corners(shape, header.get_qform()) - _corners(shape, header.get_sform()), axis=1)))
        if gap > QFORM_SFORM_ATOL_MM:
            notes.append(("qform_sform_mismatch", f"qform and sform disagree by up to {gap:.3g} "
                          "mm across the field of view; the sform is used: check which one "
                          "is right"))
    linear = np.asarray(image.affine, dtype=np.float64)[:3, :3]
    directions = linear / np.linalg.norm(linear, axis=0)
    skew = float(np.max(np.abs(directions.T @ directions - np.eye(3))))
    if skew > GRID_ATOL_DIRECTION:
        angle = float(np.degrees(np.arcsin(min(skew, 1.0))))
        notes.append(("sheared_affine", f"the affine is sheared (axes {angle:.2g} degrees from "
                      "orthogonal); the RAS+ reorientation and resampling treat it as exact"))
    return notes


def _read_voxels(image: nib.Nifti1Image | nib.Nifti2Image, path: Path,
                 ctx: dict[str, str | None]) -> np.ndarray:
    try:
        return np.asanyarray(image.dataobj)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise CaseError(f"truncated or corrupt gzip stream ({exc})", code="truncated_gzip",
                        **ctx) from exc
    except Exception as exc:  # short reads surface as OSError, ValueError or nibabel errors
        code = "truncated_gzip" if path.name.endswith(".gz") else "truncated_file"
        detail = " ".join(str(exc).split())
        raise CaseError(f"cannot read the voxel data (file truncated?): {detail}", code=code,
                        **ctx) from exc


def _mask_dtype(array: np.ndarray) -> type[np.integer]:
    low, high = (int(array.min()), int(array.max())) if array.size else (0, 0)
    if low >= 0 and high <= np.iinfo(np.uint8).max:
        return np.uint8
    if np.iinfo(np.int16).min <= low and high <= np.iinfo(np.int16).max:
        return np.int16
    return np.int32


def _typed(raw: np.ndarray, kind: Kind, ctx: dict[str, str | None]) -> np.ndarray:
    if raw.dtype.kind not in "biuf":
        raise CaseError(f"unsupported voxel type {raw.dtype}", code="unreadable_file", **ctx)
    if raw.dtype.kind == "f":
        bad = ~np.isfinite(raw)
        if bad.any():
            n_nan = int(np.isnan(raw).sum())
            raise CaseError(f"{int(bad.sum())} non-finite voxels ({n_nan} NaN, "
                            f"{int(bad.sum()) - n_nan} Inf)", code="nonfinite_voxels", **ctx)
    if kind == "tissue":
        low, high = (float(raw.min()), float(raw.max())) if raw.size else (0.0, 0.0)
        if low < -1e-3 or high > 1 + 1e-3:
            raise CaseError(f"tissue probability map has values in [{low:.4g}, {high:.4g}], "
                            "outside [0, 1]", code="tissue_out_of_range", **ctx)
    if kind in ("image", "tissue"):
        return raw.astype(np.float32, copy=False)
    if raw.dtype == np.uint8:  # already the smallest mask type, never negative: no pass
        return raw
    if raw.dtype.kind == "f":
        fractional = raw != np.round(raw)
        if fractional.any():
            raise CaseError(f"mask has {int(fractional.sum())} non-integer voxels "
                            f"(e.g. {float(raw[fractional][0])})", code="non_integer_mask",
                            **ctx)
    if raw.size and int(raw.min()) < 0:
        raise CaseError(f"mask has negative codes (min {int(raw.min())})",
                        code="negative_mask_codes", **ctx)
    return raw.astype(_mask_dtype(raw), copy=False)


def read_volume(path: str | os.PathLike[str], *, kind: Kind = "image",
                case_id: str | None = None, column: str | None = None,
                writable: bool = True) -> Volume:
    """Read one NIfTI file: 3-D, RAS+ canonical, finite; images float32, masks integer.

    ``writable=False`` allows a read-only array that views the inflated file (no copy, when
    the stored type is already the loaded type and needs no scaling)."""
    path = Path(path)
    ctx = {"case_id": case_id, "column": column, "file": str(path)}
    in_memory = _read_bounded(path, ctx)
    image = in_memory[0] if in_memory else _open(path, ctx)
    shape, ornt, grid = _header_grid(image, ctx)
    voxels = None if writable or in_memory is None else _voxels_in_place(*in_memory)
    raw = (voxels if voxels is not None else _read_voxels(image, path, ctx)).reshape(shape)
    array = _typed(raw, kind, ctx)
    array = apply_orientation(array, ornt)
    if not (array.flags.c_contiguous or array.flags.f_contiguous):
        array = array.copy(order="K")  # flipped axes: one copy in memory order, no transpose
    return Volume(array=array, grid=grid, header_text=header_text(image),
                  notes=orientation_notes(image, shape))


def read_case_volumes(case: Case) -> tuple[dict[FileRef, Volume], list[CaseError]]:
    """Read every file of a case, collecting (not raising) each file's error."""
    volumes: dict[FileRef, Volume] = {}
    errors: list[CaseError] = []
    for ref in case_files(case):
        try:
            volumes[ref] = read_volume(ref.path, kind=ref.kind, case_id=case.case_id,
                                       column=ref.column)
        except CaseError as exc:
            errors.append(exc)
    return volumes, errors


def field_overlap(source: Grid, target: Grid, *, samples_per_axis: int = 16) -> float:
    """Fraction of ``target``'s field of view (sampled voxel centres) inside ``source``'s field."""
    axes = [np.linspace(0, n - 1, min(n, samples_per_axis)) for n in target.shape]
    ijk = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    world = ijk @ np.asarray(target.affine)[:3, :3].T + np.asarray(target.affine)[:3, 3]
    source_affine = np.linalg.inv(np.asarray(source.affine))
    inside_ijk = world @ source_affine[:3, :3].T + source_affine[:3, 3]
    upper = np.asarray(source.shape) - 0.5
    inside = np.all((inside_ijk >= -0.5) & (inside_ijk <= upper), axis=1)
    return float(inside.mean())


def grid_errors(case: Case, grids: dict[FileRef, Grid]) -> list[CaseError]:
    """Files whose grid differs from the reference file's grid without a declared resample,
    and resampled files whose field of view misses the reference field entirely."""
    reference = reference_file(case)
    if reference is None or reference not in grids:
        return []
    target = grids[reference]
    errors = []
    for ref, grid in grids.items():
        if ref == reference:
            continue
        if is_resampled(case, ref):
            if field_overlap(grid, target) == 0.0:
                errors.append(CaseError(
                    f"{ref.column} does not overlap the field of view of the reference "
                    f"{reference.column} ({reference.path}); is it registered to the MRI?",
                    case_id=case.case_id, column=ref.column, file=str(ref.path),
                    code="no_overlap"))
            continue
        diffs = target.differences(grid, atol_mm=GRID_ATOL_MM,
                                   atol_direction=GRID_ATOL_DIRECTION)
        if diffs:
            errors.append(CaseError(
                f"grid of {ref.column} differs from the reference {reference.column} "
                f"({reference.path}): {'; '.join(diffs)}. Resample it beforehand, or list "
                f"'{ref.key}' under 'resample' in the manifest metadata "
                f"(side file NAME.meta.yaml)",
                case_id=case.case_id, column=ref.column, file=str(ref.path),
                code="grid_mismatch"))
    return errors


def _to_itk(array: np.ndarray, grid: Grid) -> sitk.Image:
    """A SimpleITK image of a RAS+ (i, j, k) array; ITK wants LPS and (k, j, i) arrays."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(array.transpose(2, 1, 0)))
    affine = np.asarray(grid.affine, dtype=np.float64)
    spacing = np.asarray(grid.spacing)
    image.SetSpacing(tuple(float(s) for s in spacing))
    image.SetDirection(tuple(float(x) for x in (_LPS_FLIP @ (affine[:3, :3] / spacing)).ravel()))
    image.SetOrigin(tuple(float(x) for x in _LPS_FLIP @ affine[:3, 3]))
    return image


def resample_onto(array: np.ndarray, source: Grid, target: Grid, *,
                  nearest: bool = False) -> np.ndarray:
    """Resample ``array`` (on ``source``) onto ``target``; outside the source field is 0.

    Linear interpolation for images (float32 out); nearest neighbour for masks (dtype kept).
    """
    moving = _to_itk(array.astype(np.float32) if not nearest else array, source)
    reference = _to_itk(np.zeros(target.shape, dtype=np.uint8), target)
    interpolator = sitk.sitkNearestNeighbor if nearest else sitk.sitkLinear
    out_type = moving.GetPixelID() if nearest else sitk.sitkFloat32
    result = sitk.Resample(moving, reference, sitk.Transform(), interpolator, 0.0, out_type)
    resampled = sitk.GetArrayFromImage(result).transpose(2, 1, 0)  # Fortran order, like nibabel
    return resampled.astype(array.dtype if nearest else np.float32, copy=False)


def _first_error(case: Case, errors: list[CaseError]) -> CaseError:
    first = errors[0]
    if len(errors) == 1:
        return first
    more = f" (and {len(errors) - 1} more problems; run `imagination validate` to list them)"
    return CaseError(first.reason + more, case_id=first.case_id, column=first.column,
                     file=first.file, code=first.code)


def load_case(case: Case) -> LoadedCase:
    """Load every image and mask of ``case`` onto its reference grid (RAS+ canonical).

    Raises :class:`CaseError` (naming case, column and file) for unreadable files, non-3-D or
    non-finite data, and grids that differ from the reference without a declared resample.
    """
    volumes, errors = read_case_volumes(case)
    errors += grid_errors(case, {ref: vol.grid for ref, vol in volumes.items()})
    if errors:
        raise _first_error(case, errors)
    reference = reference_file(case)
    if reference is None:
        return LoadedCase(case=case, grid=Grid(shape=(0, 0, 0), affine=np.eye(4)))
    target = volumes[reference].grid
    loaded = LoadedCase(case=case, grid=target)
    for ref, volume in volumes.items():
        _arrays_of(loaded, ref)[ref.key] = _placed(case, ref, volume, target)
    return loaded


def open_case(case: Case) -> LoadedCase:
    """:func:`load_case` reading each file only when first used (arrays may be read-only views
    of the inflated file).

    Only the reference file's header is read now (it sets the case's grid; a missing or
    unreadable reference raises here). Every other file is read, checked and resampled the
    first time its array is used (a job's adapter, a scoring function), with the same
    :class:`CaseError` as :func:`load_case` (missing or unreadable file, non-3-D or non-finite
    data, a grid that differs from the reference's without a declared resample). A file an
    adapter never reads costs nothing, not even its header; the cohort's checks before a run
    have read every file once.
    """
    reference = reference_file(case)
    if reference is None:
        return LoadedCase(case=case, grid=Grid(shape=(0, 0, 0), affine=np.eye(4)))
    target = load_grid(reference.path, case_id=case.case_id, column=reference.column)
    loaders: dict[Kind, dict[str, Callable[[], np.ndarray]]] = {
        "image": {}, "mask": {}, "tissue": {}}
    for ref in case_files(case):
        loaders[ref.kind][ref.key] = partial(_read_placed, case, ref, reference, target)
    return LoadedCase(case=case, grid=target, images=LazyArrays(loaders["image"]),
                      masks=LazyArrays(loaders["mask"]), tissues=LazyArrays(loaders["tissue"]))


def _arrays_of(loaded: LoadedCase, ref: FileRef) -> MutableMapping[str, np.ndarray]:
    return {"image": loaded.images, "mask": loaded.masks, "tissue": loaded.tissues}[ref.kind]


def _placed(case: Case, ref: FileRef, volume: Volume, target: Grid) -> np.ndarray:
    """A file's array on the reference grid: resampled when the manifest says so."""
    if is_resampled(case, ref) and target.differences(
            volume.grid, atol_mm=GRID_ATOL_MM, atol_direction=GRID_ATOL_DIRECTION):
        return resample_onto(volume.array, volume.grid, target, nearest=ref.kind == "mask")
    return volume.array


def _read_placed(case: Case, ref: FileRef, reference: FileRef, target: Grid) -> np.ndarray:
    """One file of an opened case, read now and checked against the reference grid
    (:func:`open_case`)."""
    volume = read_volume(ref.path, kind=ref.kind, case_id=case.case_id, column=ref.column,
                         writable=False)
    if ref == reference:
        if volume.grid.differences(target, atol_mm=GRID_ATOL_MM,
                                   atol_direction=GRID_ATOL_DIRECTION):
            raise CaseError("the file changed after its header was read (its grid is not the "
                            "one the case was opened with); re-run", code="grid_mismatch",
                            case_id=case.case_id, column=ref.column, file=str(ref.path))
    else:
        errors = grid_errors(case, {reference: target, ref: volume.grid})
        if errors:
            raise errors[0]
    return _placed(case, ref, volume, target)
