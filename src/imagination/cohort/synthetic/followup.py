"""Follow-up: resection of the visible core, treatment, regrowth of the residual infiltration.

The cavity is the visible tumour core (TC; the FLAIR lesion when there is no core) dilated by
one voxel. Outside it, the cell
density is reduced by the treatment survival fraction (higher outside the radiotherapy field,
the core plus 15 mm) and grows on with the same Fisher–Kolmogorov parameters; the cavity
holds no tumour and carries no flux.
The follow-up scan is taken when the visible recurrence (the core for glioblastomas, the FLAIR
lesion for IDH-mutant gliomas) reaches the case's target volume, so
the recurrence appears where the pre-operative infiltration was, invisible or not.

Recurrence mask codes (BraTS 2024 post-treatment): 1 necrotic / non-enhancing core,
2 non-enhancing FLAIR recurrence, 3 enhancing recurrence. The cavity is in its own mask.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from imagination.cohort.synthetic.tumor import (
    ET,
    MAX_DAYS,
    NETC,
    Tumour,
    grow_until,
    local_distance,
    visible_labels,
)
from imagination.cohort.synthetic.tumor_types import CaseParameters
from imagination.growth.fisher_kolmogorov import GrowthSolver

MIN_FOLLOWUP_DAYS = 20.0
RT_MARGIN_MM = 15.0


@dataclass
class FollowUp:
    cavity: np.ndarray  # bool
    recurrence: np.ndarray  # uint8 codes 1-3, 0 elsewhere (never inside the cavity)
    density: np.ndarray  # cell density at follow-up
    days: float


def resection_cavity(tumour: Tumour) -> np.ndarray:
    """Gross-total resection of the visible core (of the FLAIR lesion when there is no core)."""
    target = (tumour.labels == NETC) | (tumour.labels == ET)
    if not target.any():
        target = tumour.labels > 0
    return ndimage.binary_dilation(target, iterations=1) & tumour.brain


def radiotherapy_field(tumour: Tumour, spacing: tuple[float, float, float]) -> np.ndarray:
    """Standard clinical target volume: the core (or the lesion) plus 15 mm."""
    core = (tumour.labels == NETC) | (tumour.labels == ET)
    if not core.any():
        core = tumour.labels > 0
    return local_distance(core, spacing, RT_MARGIN_MM, inside=False) <= RT_MARGIN_MM


def simulate_followup(tumour: Tumour, params: CaseParameters,
                      spacing: tuple[float, float, float], voxel_ml: float) -> FollowUp:
    """Resect, treat and regrow a glioma until its visible recurrence reaches the target."""
    if tumour.diffusivity is None or tumour.thresholds is None:
        raise ValueError("follow-up needs a grown glioma (diffusivity and thresholds)")
    cavity = resection_cavity(tumour)
    field = radiotherapy_field(tumour, spacing)
    survival = np.where(field, params.treatment_survival,
                        min(0.8, params.treatment_survival * params.out_of_field_survival_factor))
    residual = (tumour.density * survival).astype(np.float32)
    residual[cavity] = 0.0
    diffusivity = tumour.diffusivity.copy()
    diffusivity[cavity] = 0.0
    thresholds = tumour.thresholds

    visible = thresholds.t1c if params.core_recurrence else thresholds.flair

    def recurrence_volume(u: np.ndarray) -> float:
        return float(np.count_nonzero((u >= visible) & ~cavity)) * voxel_ml

    doubling = math.log(2.0) / params.rho
    solver = GrowthSolver(diffusivity, spacing)
    density, days = grow_until(residual, solver, params.rho, recurrence_volume,
                               params.followup_volume_ml, max(MIN_FOLLOWUP_DAYS, doubling),
                               max(5.0, 0.25 * doubling), MAX_DAYS)
    recurrence, _ = visible_labels(density, thresholds, params.necrosis, spacing)
    recurrence[cavity] = 0
    return FollowUp(cavity=cavity, recurrence=recurrence, density=density, days=days)
