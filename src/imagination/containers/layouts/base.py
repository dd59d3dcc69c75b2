"""What a layout is: how a package wants its inputs named and where it leaves its outputs.

A layout writes one case's inputs under the package's names into a staging folder, says which
folders to mount where and which arguments to pass, and reads the package's outputs back into
:class:`LayoutOutputs` (label map, probabilities, score map, classification), each checked
against the case grid. Inputs are written on the case grid in RAS+ order, images as float32,
masks re-coded to the layout's label convention.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np

from imagination.adapters.validation import AdapterOutputError, MissingModalityError
from imagination.cohort.case import LoadedCase
from imagination.cohort.labelmap import LabelMap
from imagination.cohort.nifti import write_nifti
from imagination.containers.runtime import Mount

#: Inputs of a case a layout can name: canonical modalities, ``mask_<name>``, ``tissue_<name>``.
POST_OP_TIMEPOINTS: Final[frozenset[str]] = frozenset(
    {"post", "post-op", "postop", "post-operative", "postoperative", "post-treatment",
     "followup", "follow-up"})
_SAFE: Final = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class LayoutRequest:
    """One case as a layout must present it."""

    case: LoadedCase
    tasks: tuple[str, ...]
    modalities: tuple[str, ...]
    masks: tuple[str, ...] = ()
    tissues: tuple[str, ...] = ()
    #: ``pre-op`` or ``post-op``
    timepoint: str = "pre-op"
    #: label convention of masks given to the package and of label maps it returns
    label_map: LabelMap | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def safe_id(self) -> str:
        """The case id with characters outside ``[A-Za-z0-9_.-]`` replaced by ``_``."""
        return _SAFE.sub("_", self.case.case_id)


@dataclass
class Staged:
    """A staged call: mounts, arguments, environment, and where the outputs land on the host."""

    mounts: list[Mount]
    output: Path
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class LayoutOutputs:
    """A package's outputs for one case, on the case grid (RAS+ order)."""

    label_map: np.ndarray | None = None
    probabilities: np.ndarray | None = None
    score_map: np.ndarray | None = None
    classification: dict[str, dict[str, float]] = field(default_factory=dict)


class Layout(Protocol):
    """A named I/O convention."""

    name: str
    summary: str
    #: inputs the layout always needs (``t1c``, ``mask_tumor``, ``tissue_gm``, ...)
    required: tuple[str, ...]

    def stage(self, request: LayoutRequest, work: Path) -> Staged:
        """Write the inputs into ``work``; return mounts, arguments and the output folder."""
        ...

    def read(self, request: LayoutRequest, staged: Staged) -> LayoutOutputs:
        """Read the outputs back, checked against the case grid."""
        ...


def make_dir(path: Path, *, writable: bool = False) -> Path:
    """A folder readable (or, for outputs, writable) by the container's unprivileged user."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o777 if writable else 0o755)
    return path


def _readable(path: Path) -> Path:
    path.chmod(0o644)
    return path


def write_image(request: LayoutRequest, modality: str, path: Path) -> Path:
    """A modality of the case as float32 NIfTI (or ``.mha``) on the case grid."""
    case = request.case
    if modality not in case.images:
        raise MissingModalityError(f"the package needs {modality}; case {case.case_id} has "
                                   f"{', '.join(case.images) or 'no images'}")
    return _write(path, case.images[modality], case, "float32")


def write_tissue(request: LayoutRequest, tissue: str, path: Path) -> Path:
    """A tissue probability map (``gm``, ``wm``, ``csf``) as float32 on the case grid."""
    case = request.case
    tissues = getattr(case, "tissues", {})
    if tissue not in tissues:
        raise MissingModalityError(f"the package needs the tissue_{tissue} probability map; "
                                   f"case {case.case_id} has "
                                   f"{', '.join('tissue_' + t for t in tissues) or 'none'}")
    return _write(path, tissues[tissue], case, "float32")


def recoded_mask(request: LayoutRequest, mask: str) -> np.ndarray:
    """A case mask; the tumour mask re-coded from the case's label map to the layout's."""
    case = request.case
    if mask not in case.masks:
        raise MissingModalityError(f"the package needs mask_{mask}; case {case.case_id} has "
                                   f"{', '.join('mask_' + m for m in case.masks) or 'no mask'}")
    array = np.asarray(case.masks[mask])
    if mask != "tumor" or request.label_map is None or case.case.label_map is None:
        return (array > 0).astype(np.uint8) if mask != "tumor" else array.astype(np.uint8)
    out = np.zeros(array.shape, dtype=np.uint8)
    target = {region: code for code, region in request.label_map.codes.items()}
    for code, region in case.case.label_map.codes.items():
        if region in target:
            out[array == code] = target[region]
    return out


def write_mask(request: LayoutRequest, mask: str, path: Path) -> Path:
    return _write(path, recoded_mask(request, mask), request.case, "uint8")


def _write(path: Path, array: np.ndarray, case: LoadedCase, dtype: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".mha"):
        from imagination.containers.layouts.mha import write_mha

        write_mha(path, np.asarray(array, dtype=dtype), case.grid)
    else:
        write_nifti(path, array, case.grid.affine, dtype=dtype)
    return _readable(path)


def write_named_input(request: LayoutRequest, key: str, path: Path) -> Path:
    """Write the input ``key`` (a modality, ``mask_<name>`` or ``tissue_<name>``)."""
    if key.startswith("mask_"):
        return write_mask(request, key.removeprefix("mask_"), path)
    if key.startswith("tissue_"):
        return write_tissue(request, key.removeprefix("tissue_"), path)
    return write_image(request, key, path)


def is_post_op(request: LayoutRequest) -> bool:
    return request.timepoint == "post-op"


def timepoint_of(case: LoadedCase, setting: str) -> str:
    """``pre-op`` or ``post-op``: forced by ``setting``, or read from the case (``auto``)."""
    if setting in ("pre-op", "post-op"):
        return setting
    value = (case.case.timepoint or "").strip().lower()
    return "post-op" if value in POST_OP_TIMEPOINTS else "pre-op"


def single_file(folder: Path, patterns: Sequence[str], what: str) -> Path:
    """The one file in ``folder`` matching the first pattern that matches anything."""
    for pattern in patterns:
        found = sorted(p for p in folder.glob(pattern) if p.is_file())
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise AdapterOutputError(f"{what}: {len(found)} files match {pattern} in the "
                                     f"output folder ({', '.join(p.name for p in found[:5])}); "
                                     "expected one")
    listing = sorted(p.name for p in folder.rglob("*") if p.is_file())[:10]
    raise AdapterOutputError(f"{what}: the package wrote no {' or '.join(patterns)} "
                             f"(output folder holds: {', '.join(listing) or 'nothing'})")


def container_path(mount: str, relative: str) -> str:
    return f"{mount.rstrip('/')}/{relative}"
