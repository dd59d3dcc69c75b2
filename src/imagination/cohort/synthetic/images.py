"""Clean MR images from tissue fractions and tumour compartments.

Healthy tissue signal is a partial-volume mix of white matter, grey matter and CSF with
literature-like relative contrasts (T1 is the real MNI152 template). Tumour compartments
replace it with their own signal, softened by a sub-voxel blur so edges look acquired, and
modulated by a smooth texture for heterogeneity. Units are arbitrary except ADC (1e-6 mm²/s).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from imagination.cohort.synthetic.anatomy import Anatomy
from imagination.cohort.synthetic.tumor import ET, NETC, SNFH, Tumour
from imagination.cohort.synthetic.tumor_types import CaseParameters

#: White-matter signal level of each modality before scanner scaling.
REFERENCE_LEVEL = {"t1": 600.0, "t1c": 600.0, "t2": 400.0, "flair": 450.0, "adc": 750.0}
#: Healthy tissue signal relative to white matter (ADC absolute, 1e-6 mm²/s).
TISSUE = {
    "t2": {"wm": 1.0, "gm": 1.35, "csf": 3.6},
    "flair": {"wm": 1.0, "gm": 1.3, "csf": 0.25},
    "adc": {"wm": 750.0, "gm": 850.0, "csf": 3000.0},
}
#: Tumour compartment signal relative to white matter (ADC absolute).
COMPARTMENT = {
    "edema": {"t1": 0.80, "t1c": 0.80, "t2": 1.95, "flair": 1.75, "adc": 1300.0},
    "solid": {"t1": 0.72, "t1c": 0.76, "t2": 2.2, "flair": 1.9, "adc": 1200.0},
    "enhancing": {"t1": 0.80, "t1c": 1.75, "t2": 1.6, "flair": 1.6, "adc": 900.0},
    "necrosis": {"t1": 0.45, "t1c": 0.50, "t2": 3.0, "flair": 1.35, "adc": 2100.0},
    "mismatch": {"t1": 0.70, "t1c": 0.72, "t2": 2.7, "flair": 1.0, "adc": 1600.0},
    "calcified": {"t1": 0.9, "t1c": 0.9, "t2": 0.45, "flair": 0.5, "adc": 700.0},
    "meningioma": {"t1": 0.85, "t1c": 1.9, "t2": 1.25, "flair": 1.3, "adc": 800.0},
}
MODALITIES = ("t1", "t1c", "t2", "flair", "adc")


def _healthy(anatomy: Anatomy, modality: str) -> np.ndarray:
    a = anatomy.atlas
    if modality in ("t1", "t1c"):
        wm_level = float(np.median(a.t1[a.wm > 0.9]))
        image = a.t1 / wm_level
        if modality == "t1c":
            image = image * (1.0 + 0.04 * a.gm)  # cortical vessels enhance a little
        return image.astype(np.float32)
    levels = TISSUE[modality]
    image = levels["wm"] * a.wm + levels["gm"] * a.gm + levels["csf"] * a.csf
    if modality == "adc":
        return (image / REFERENCE_LEVEL["adc"]).astype(np.float32)
    return image.astype(np.float32)


def _compartments(tumour: Tumour, params: CaseParameters) -> dict[str, np.ndarray]:
    labels = tumour.labels
    if params.tumor_type == "meningioma":
        return {"edema": labels == SNFH, "meningioma": labels == ET}
    necrosis = tumour.necrotic
    solid_core = (labels == NETC) & ~necrosis
    return {
        "edema": labels == SNFH,
        "solid": solid_core & ~tumour.mismatch & ~tumour.calcified,
        "enhancing": labels == ET,
        "necrosis": necrosis,
        "mismatch": tumour.mismatch & ~tumour.calcified,
        "calcified": tumour.calcified,
    }


def synthesize_images(anatomy: Anatomy, tumour: Tumour,
                      params: CaseParameters) -> dict[str, np.ndarray]:
    """Clean (noise-free, scanner-neutral) images, each in its modality's units."""
    weights = {name: ndimage.gaussian_filter(mask.astype(np.float32), 0.6)
               for name, mask in _compartments(tumour, params).items()}
    total = np.zeros(anatomy.shape, dtype=np.float32)
    for w in weights.values():
        total += w
    scale = np.where(total > 1.0, 1.0 / np.maximum(total, 1e-6), 1.0).astype(np.float32)
    texture = 1.0 + params.heterogeneity * tumour.texture
    adc_shift = 1.08 if params.mgmt == "methylated" else 1.0  # weak MGMT imaging signal
    infiltration = np.clip(tumour.density / 0.5, 0.0, 1.0)
    images = {}
    for modality in MODALITIES:
        healthy = _healthy(anatomy, modality)
        tumour_signal = np.zeros(anatomy.shape, dtype=np.float32)
        for name, w in weights.items():
            level = COMPARTMENT[name][modality]
            if modality == "adc":
                level = level * adc_shift / REFERENCE_LEVEL["adc"]
            if name == "edema":
                # infiltrated oedema is brighter on T2/FLAIR than pure vasogenic oedema
                level = 1.0 + (level - 1.0) * (0.75 + 0.25 * infiltration)
            tumour_signal += (w * scale) * level
        fraction = np.clip(total * scale, 0.0, 1.0)
        image = (1.0 - fraction) * healthy + tumour_signal * texture
        image[~tumour.brain] = 0.0
        images[modality] = (image * REFERENCE_LEVEL[modality]).astype(np.float32)
    return images
