"""Relative cerebral blood volume (rCBV, DSC perfusion normalised to normal white matter).

Healthy brain: white matter 1, grey matter ~2.3, CSF low. Viable tumour is hypervascular:
1 + g · min(u / u_T1c, 1) with a per-case gain g (glioblastoma rCBV 3-6 in the enhancing rim);
necrosis ~0.5; treatment-related enhancement (pseudoprogression, radiation effect) stays low
(~1.2, under the usual 1.75 cut-off); a resection cavity holds fluid (~0.3). The map is blurred
to perfusion resolution (~5 mm FWHM) and made noisy per site.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from imagination.cohort.synthetic.anatomy import Anatomy

HEALTHY = {"wm": 1.0, "gm": 2.3, "csf": 0.4}
NECROSIS = 0.5
TREATMENT_EFFECT = 1.2
CAVITY = 0.3
FWHM_MM = 5.0


def synthesize_rcbv(anatomy: Anatomy, density: np.ndarray, u_t1c: float, gain: float,
                    necrotic: np.ndarray, treatment: np.ndarray, cavity: np.ndarray,
                    brain: np.ndarray, noise_sd: float, rng: np.random.Generator) -> np.ndarray:
    """A float32 rCBV map on the atlas grid (0 outside ``brain``)."""
    a = anatomy.atlas
    rcbv = (HEALTHY["wm"] * a.wm + HEALTHY["gm"] * a.gm + HEALTHY["csf"] * a.csf)
    viable = np.clip(density / u_t1c, 0.0, 1.0)
    rcbv = np.where(viable > 0.2, np.maximum(rcbv, 1.0 + gain * viable), rcbv)
    rcbv = np.where(necrotic, NECROSIS, rcbv)
    rcbv = np.where(treatment & ~necrotic, TREATMENT_EFFECT, rcbv)
    rcbv = np.where(cavity, CAVITY, rcbv).astype(np.float32)
    sigma = [FWHM_MM / 2.355 / h for h in anatomy.spacing]
    rcbv = ndimage.gaussian_filter(rcbv, sigma, mode="nearest")
    noise = rng.normal(0.0, noise_sd, rcbv.shape).astype(np.float32)
    out = np.clip(rcbv * (1.0 + noise), 0.0, None).astype(np.float32)
    out[~brain] = 0.0
    return out
