"""What the test images write, and its scores, computed here from the manifest's files with
nibabel, NumPy, MedPy and scikit-learn (never with the harness' own loading or metrics)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
from medpy.metric.binary import dc, hd95
from sklearn.metrics import roc_auc_score

from imagination.cohort.manifest import read_manifest

#: truth codes of the synthetic cohort (BraTS 2024 post-treatment: 1 NETC, 2 SNFH, 3 ET, 4 RC)
TRUTH_REGIONS = {"WT": (1, 2, 3), "TC": (1, 3), "ET": (3,)}
#: the official penalty for an HD95 with one empty side (mm)
HD95_PENALTY = 373.0


def volume(path: Path | str) -> np.ndarray:
    """A NIfTI file's voxels in RAS+ axis order (as the harness hands them to models)."""
    return np.asarray(nib.as_closest_canonical(nib.load(str(path))).get_fdata(),
                      dtype=np.float64)


def spacing(path: Path | str) -> tuple[float, ...]:
    image = nib.as_closest_canonical(nib.load(str(path)))
    return tuple(float(s) for s in image.header.get_zooms()[:3])


def cases(manifest: Path) -> dict[str, object]:
    return {case.case_id: case for case in read_manifest(manifest).cases()}


def rule_labels(case, et: int = 3, snfh: int = 2) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The test images' rule (``scripts/lib.sh`` ``segment``): code ``et`` where
    t1c > 0.75 max, code ``snfh`` where flair > 0.75 max elsewhere."""
    t1c, flair = volume(case.images["t1c"]), volume(case.images["flair"])
    enhancing = t1c > 0.75 * t1c.max()
    out = np.zeros(t1c.shape, dtype=np.int16)
    out[~enhancing & (flair > 0.75 * flair.max())] = snfh
    out[enhancing] = et
    return out


def truth_codes(case) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.rint(volume(case.masks["tumor"])).astype(np.int16)


def region_scores(pred: np.ndarray, truth: np.ndarray,
                  voxel_mm: tuple[float, ...]) -> dict[str, float]:
    """Dice (MedPy ``dc``) and HD95 (MedPy ``hd95``) with BraTS edge cases: both empty NaN,
    one empty Dice 0 and HD95 373 mm."""
    if not pred.any() and not truth.any():
        return {"dice": float("nan"), "hd95": float("nan")}
    if not pred.any() or not truth.any():
        return {"dice": 0.0, "hd95": HD95_PENALTY}
    return {"dice": float(dc(pred, truth)), "hd95": float(hd95(pred, truth, voxel_mm))}


def voxel_auroc(case, scores: np.ndarray) -> float:  # type: ignore[no-untyped-def]
    """scikit-learn's AUROC of a score map against the follow-up recurrence (codes 1-3, the
    cavity excluded) over the brain mask's voxels."""
    brain = volume(case.masks["brain"]) > 0
    recurrence = np.isin(np.rint(volume(case.masks["recurrence"])), (1, 2, 3))
    return float(roc_auc_score(recurrence[brain], scores[brain]))
