"""``intensity-rule-seg``: a weight-free tumour segmentation by intensity thresholds.

The rule a radiologist would start from, with nothing trained or cross-fitted:

1. z-score FLAIR, T1c and T1 within the brain by median and MAD (robust: the tumour is a small
   part of the brain), after a light Gaussian smoothing (``smooth_mm``) against noise;
2. whole tumour (WT): FLAIR hyperintensity, ``z(FLAIR) > flair_z``, in the brain;
3. enhancing tumour (ET): T1c enhancement over T1, ``z(T1c) − z(T1) > enhancement_z``, within
   the WT candidate grown by ``et_margin_mm`` (enhancement can extend past the FLAIR signal);
4. tumour core: ET with its enclosed holes filled (slice by slice and in 3-D), plus, with T2,
   the strongly T2-hyperintense part of WT (``z(T2) > core_t2_z``: non-enhancing tumour and
   necrosis are brighter on T2 than oedema); its non-enhancing part is NETC, the rest of WT
   is SNFH;
5. cleaning by connected components (26-connected): components of WT smaller than
   ``min_component_ml`` are dropped, and ET/NETC outside the kept WT go with them.

Output: a BraTS 2023 label map (1 NETC, 2 SNFH, 3 ET) on the case grid. Without T1 the
enhancement is ``z(T1c)`` alone. A reference pathway to beat, not a model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from imagination.adapters.baselines.regions import brain_mask
from imagination.adapters.protocol import ModelCard, Predictions, Segmentation
from imagination.adapters.validation import check_inputs
from imagination.cohort.case import LoadedCase
from imagination.cohort.labelmap import LabelMap
from imagination.errors import CaseError, InputError
from imagination.metrics.segmentation import union_box

#: BraTS 2023 codes of the output.
NETC, SNFH, ET = 1, 2, 3


def robust_z(image: np.ndarray, brain: np.ndarray, *, case_id: str, modality: str
             ) -> np.ndarray:
    """``(image − median) / (1.4826 MAD)`` over the brain voxels (float32)."""
    values = image[brain]
    if values.size < 2:
        raise CaseError("brain mask has fewer than two voxels", case_id=case_id,
                        column=modality)
    median = float(np.median(values))
    mad = 1.4826 * float(np.median(np.abs(values - median)))
    if not np.isfinite(mad) or mad == 0.0:
        raise CaseError("no intensity variation in the brain to z-score", case_id=case_id,
                        column=modality)
    return ((image - median) / mad).astype(np.float32)


def _smooth(image: np.ndarray, spacing: Sequence[float], fwhm_mm: float) -> np.ndarray:
    if fwhm_mm <= 0:
        return image
    sigma = [fwhm_mm / 2.3548 / s for s in spacing]
    return ndimage.gaussian_filter(image.astype(np.float32), sigma)


def _ball(radius_mm: float, spacing: Sequence[float]) -> np.ndarray:
    half = [int(np.floor(radius_mm / s)) for s in spacing]
    grid = np.ogrid[tuple(slice(-h, h + 1) for h in half)]
    return sum((g * s) ** 2 for g, s in zip(grid, spacing, strict=True)) <= radius_mm**2


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """Holes filled in 3-D and in every axial slice (a rim open through one slice still
    encloses its necrosis in the others). Computed in the mask's bounding box grown by one
    voxel: the background ring around it reaches the outside, so the result is the same."""
    filled = np.zeros(mask.shape, dtype=bool)
    box = union_box(mask)
    if box is None:
        return filled
    part = mask[box]
    inner = ndimage.binary_fill_holes(part)
    for z in range(part.shape[2]):
        inner[:, :, z] |= ndimage.binary_fill_holes(part[:, :, z])
    filled[box] = inner
    return filled


def intensity_rule(images: Mapping[str, np.ndarray], brain: np.ndarray,
                   spacing: Sequence[float], *, case_id: str, flair_z: float = 2.0,
                   enhancement_z: float = 2.5, smooth_mm: float = 2.0,
                   et_margin_mm: float = 3.0, min_component_ml: float = 0.5,
                   core_t2_z: float = 2.0) -> np.ndarray:
    """The label map of the rule (see the module docstring); uint8 BraTS 2023 codes."""
    brain = np.asarray(brain, dtype=bool)
    z_flair = robust_z(_smooth(images["flair"], spacing, smooth_mm), brain, case_id=case_id,
                       modality="flair")
    z_t1c = robust_z(_smooth(images["t1c"], spacing, smooth_mm), brain, case_id=case_id,
                     modality="t1c")
    enhancement = z_t1c
    if "t1" in images:
        enhancement = z_t1c - robust_z(_smooth(images["t1"], spacing, smooth_mm), brain,
                                       case_id=case_id, modality="t1")
    whole = brain & (z_flair > flair_z)
    near = ndimage.binary_dilation(whole, _ball(et_margin_mm, spacing)) if whole.any() else whole
    enhancing = brain & near & (enhancement > enhancement_z)
    core = _fill_holes(enhancing) & brain
    whole |= core
    if "t2" in images:
        z_t2 = robust_z(_smooth(images["t2"], spacing, smooth_mm), brain, case_id=case_id,
                        modality="t2")
        core |= whole & (z_t2 > core_t2_z)
    labels, n = ndimage.label(whole, structure=np.ones((3, 3, 3), bool))
    if n:
        voxel_ml = float(np.prod(spacing)) / 1000.0
        sizes = np.bincount(labels.ravel(), minlength=n + 1) * voxel_ml
        keep = sizes >= min_component_ml
        keep[0] = False
        whole = keep[labels]
    out = np.zeros(brain.shape, dtype=np.uint8)
    out[whole] = SNFH
    out[whole & core] = NETC
    out[whole & enhancing] = ET
    return out


THRESHOLDS = ("flair_z", "enhancement_z", "core_t2_z")


def rule_params(**values: float) -> dict[str, Any]:
    """Checked rule parameters (finite; z thresholds may be any number, sizes >= 0)."""
    params = {key: float(value) for key, value in values.items()}
    for key, value in params.items():
        if not np.isfinite(value) or (key not in THRESHOLDS and value < 0):
            raise InputError(f"intensity-rule-seg: {key} must be a finite number"
                             + ("" if key in THRESHOLDS else " >= 0")
                             + f", got {value}")
    return params


class IntensityRuleSegAdapter:
    """``intensity-rule-seg``: the weight-free threshold rule of the module docstring."""

    name = "intensity-rule-seg"
    version = "1.0"
    tasks = ("segmentation",)
    required_modalities = ("flair", "t1c")
    optional_modalities: tuple[str, ...] = ("t1", "t2")
    label_map = LabelMap.from_spec("brats2023")
    card = ModelCard(
        intended_use="weight-free reference segmentation (FLAIR hyperintensity for the whole "
                     "tumour, T1c enhancement over T1 for ET, cleaned by connected components)",
        reference="reference pathway of the harness; thresholds in robust z-scores",
    )

    def __init__(self, flair_z: float = 2.0, enhancement_z: float = 2.5, smooth_mm: float = 2.0,
                 et_margin_mm: float = 3.0, min_component_ml: float = 0.5,
                 core_t2_z: float = 2.0) -> None:
        self._params = rule_params(flair_z=flair_z, enhancement_z=enhancement_z,
                                   smooth_mm=smooth_mm, et_margin_mm=et_margin_mm,
                                   min_component_ml=min_component_ml, core_t2_z=core_t2_z)

    def params(self) -> Mapping[str, Any]:
        return dict(self._params)

    def predict(self, case: LoadedCase) -> Predictions:
        check_inputs(self, case)
        labels = intensity_rule(case.images, brain_mask(case), case.grid.spacing,
                                case_id=case.case_id, **self._params)
        return Predictions(case_id=case.case_id, outputs={
            "segmentation": Segmentation(labels, self.label_map)})
