"""``radiomics-lr``: documented radiomics features with a multinomial logistic regression.

Features, computed in the whole-tumour mask (ET + NETC + SNFH) cropped to its bounding box,
following IBSI definitions where one exists (Zwanenburg et al. 2020, Radiology 295:328):

* first order, per available modality (t1, t1c, t2, flair), on intensities z-scored against
  the normal-appearing brain: mean, standard deviation, skewness, excess kurtosis, 10th and
  90th percentile, and entropy of a fixed-bin-width (``bin_width`` z) histogram;
* shape: log(1 + volume in ml), voxel-face surface area (mm²), sphericity
  ``π^(1/3) (6V)^(2/3) / A``, number of 26-connected components, elongation and flatness
  (square roots of PCA eigenvalue ratios of voxel positions in mm), and the ET, NETC and SNFH
  fractions of the lesion;
* texture, per modality: grey-level co-occurrence matrix over the 13 3D directions at distance
  1 voxel, symmetric and merged (IBSI "3D merged"), on the z-scored intensities clipped to
  [-4, 6] and quantised with the same fixed bin width: contrast, joint energy, joint entropy,
  inverse difference and correlation.

Model: median imputation, standard scaling and L2 logistic regression (multinomial when more
than two classes; scikit-learn), cross-fitted by the engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import product
from typing import Any, Final

import numpy as np
from scipy import ndimage, stats

from imagination.adapters.baselines.logistic import logistic_fit_predict
from imagination.adapters.baselines.regions import brain_mask, cavity
from imagination.adapters.protocol import ModelCard
from imagination.cohort.case import LoadedCase
from imagination.errors import CaseError

MODALITIES: Final[tuple[str, ...]] = ("t1", "t1c", "t2", "flair")
Z_RANGE: Final[tuple[float, float]] = (-4.0, 6.0)
#: The 13 unique 3D neighbour offsets (half of the 26-neighbourhood).
DIRECTIONS: Final[tuple[tuple[int, int, int], ...]] = tuple(
    d for d in product((-1, 0, 1), repeat=3) if d > (0, 0, 0)
)


def _crop(mask: np.ndarray) -> tuple[slice, ...]:
    idx = np.argwhere(mask)
    lo, hi = idx.min(axis=0), idx.max(axis=0) + 1
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))


def first_order(values: np.ndarray, bin_width: float) -> dict[str, float]:
    """IBSI first-order statistics of the masked (z-scored) intensities."""
    edges = np.arange(Z_RANGE[0], Z_RANGE[1] + bin_width, bin_width)
    counts, _ = np.histogram(np.clip(values, *Z_RANGE), bins=edges)
    p = counts[counts > 0] / counts.sum()
    single = values.size < 2 or float(values.std()) == 0.0
    return {
        "mean": float(values.mean()),
        "std": float(values.std()),
        "skewness": 0.0 if single else float(stats.skew(values)),
        "kurtosis": 0.0 if single else float(stats.kurtosis(values)),
        "p10": float(np.percentile(values, 10)),
        "p90": float(np.percentile(values, 90)),
        "entropy": float(-(p * np.log2(p)).sum()),
    }


def glcm(levels: np.ndarray, mask: np.ndarray, n_levels: int) -> np.ndarray:
    """Symmetric, normalised 3D-merged co-occurrence matrix of integer ``levels`` in ``mask``."""
    matrix = np.zeros(n_levels * n_levels, dtype=np.float64)
    shape = levels.shape
    for d in DIRECTIONS:
        src = tuple(slice(max(0, -o), s - max(0, o)) for o, s in zip(d, shape, strict=True))
        dst = tuple(slice(max(0, o), s - max(0, -o)) for o, s in zip(d, shape, strict=True))
        both = mask[src] & mask[dst]
        a, b = levels[src][both], levels[dst][both]
        matrix += np.bincount(a * n_levels + b, minlength=n_levels * n_levels)
        matrix += np.bincount(b * n_levels + a, minlength=n_levels * n_levels)
    total = matrix.sum()
    matrix = matrix.reshape(n_levels, n_levels)
    return matrix / total if total > 0 else matrix


def glcm_features(p: np.ndarray) -> dict[str, float]:
    """IBSI GLCM features of a normalised co-occurrence matrix."""
    if p.sum() == 0:
        return dict.fromkeys(("contrast", "energy", "entropy", "inv_difference",
                              "correlation"), float("nan"))
    i, j = np.indices(p.shape)
    mu = float((i * p).sum())
    sigma2 = float((((i - mu) ** 2) * p).sum())
    nz = p[p > 0]
    return {
        "contrast": float((((i - j) ** 2) * p).sum()),
        "energy": float((p**2).sum()),
        "entropy": float(-(nz * np.log2(nz)).sum()),
        "inv_difference": float((p / (1.0 + np.abs(i - j))).sum()),
        "correlation": float((((i - mu) * (j - mu)) * p).sum() / sigma2) if sigma2 > 0 else 1.0,
    }


def shape_features(lesion: np.ndarray, spacing: tuple[float, float, float]) -> dict[str, float]:
    """Volume, voxel-face surface, sphericity, components, elongation and flatness."""
    sx, sy, sz = spacing
    volume_mm3 = float(lesion.sum()) * sx * sy * sz
    padded = np.pad(lesion, 1)
    face_areas = (sy * sz, sx * sz, sx * sy)
    area = sum(float(np.count_nonzero(np.diff(padded.astype(np.int8), axis=axis))) * face
               for axis, face in enumerate(face_areas))
    _, n_components = ndimage.label(lesion, structure=np.ones((3, 3, 3)))
    points = np.argwhere(lesion) * np.asarray(spacing)
    if len(points) >= 3:
        eig = np.sort(np.linalg.eigvalsh(np.cov(points.T)))[::-1]
        eig = np.clip(eig, 0.0, None)
        elongation = float(np.sqrt(eig[1] / eig[0])) if eig[0] > 0 else 1.0
        flatness = float(np.sqrt(eig[2] / eig[0])) if eig[0] > 0 else 1.0
    else:
        elongation = flatness = 1.0
    return {
        "log_volume_ml": float(np.log1p(volume_mm3 / 1000.0)),
        "surface_mm2": area,
        "sphericity": float(np.pi ** (1 / 3) * (6 * volume_mm3) ** (2 / 3) / area),
        "n_components": float(n_components),
        "elongation": elongation,
        "flatness": flatness,
    }


def radiomics_features(case: LoadedCase, bin_width: float = 0.5) -> dict[str, float]:
    """All features of one case (NaN for modalities it lacks)."""
    if "tumor" not in case.masks or case.case.label_map is None:
        raise CaseError("needs a tumour mask with a label map", case_id=case.case_id,
                        column="mask_tumor", code="missing_mask")
    lesion_full = case.region("WT")
    if not lesion_full.any():
        raise CaseError("tumour mask has no lesion (WT is empty)", case_id=case.case_id,
                        column="mask_tumor", code="empty_lesion")
    normal = brain_mask(case) & ~lesion_full & ~cavity(case)
    box = _crop(lesion_full)
    lesion = lesion_full[box]
    features = {f"shape_{k}": v for k, v in shape_features(lesion, case.grid.spacing).items()}
    n_lesion = float(lesion.sum())
    for region in ("ET", "NETC", "SNFH"):
        has = case.case.label_map.codes_of(region)
        features[f"shape_fraction_{region}"] = (
            float(case.region(region)[box].sum()) / n_lesion if has else 0.0)
    n_levels = round((Z_RANGE[1] - Z_RANGE[0]) / bin_width)
    for modality in MODALITIES:
        names = [f"{modality}_{k}" for k in ("mean", "std", "skewness", "kurtosis", "p10",
                                             "p90", "entropy")]
        names += [f"{modality}_glcm_{k}" for k in ("contrast", "energy", "entropy",
                                                   "inv_difference", "correlation")]
        image = case.images.get(modality)
        reference = image[normal] if image is not None else np.empty(0)
        if image is None or reference.size < 2 or float(reference.std()) == 0.0:
            features.update(dict.fromkeys(names, float("nan")))
            continue
        z = (image[box] - float(reference.mean())) / float(reference.std())
        features.update({f"{modality}_{k}": v
                         for k, v in first_order(z[lesion], bin_width).items()})
        levels = np.clip(((np.clip(z, *Z_RANGE) - Z_RANGE[0]) / bin_width).astype(np.int64),
                         0, n_levels - 1)
        features.update({f"{modality}_glcm_{k}": v
                         for k, v in glcm_features(glcm(levels, lesion, n_levels)).items()})
    return features


class RadiomicsLRAdapter:
    """First-order, shape and GLCM features in the tumour; multinomial logistic regression."""

    name = "radiomics-lr"
    version = "1.0"
    tasks = ("tumor_type",)
    required_modalities: tuple[str, ...] = ()
    optional_modalities = MODALITIES
    card = ModelCard(
        intended_use="radiomics reference for tumour typing (multinomial logistic regression)",
        training_data="the benchmark cohort itself, cross-fitted (never the predicted case)",
        reference="IBSI, Zwanenburg et al. 2020, Radiology 295:328",
    )

    def __init__(self, c: float = 1.0, bin_width: float = 0.5) -> None:
        self.c = float(c)
        self.bin_width = float(bin_width)

    def params(self) -> Mapping[str, Any]:
        return {"c": self.c, "bin_width": self.bin_width, "z_range": list(Z_RANGE)}

    def extract(self, case: LoadedCase) -> dict[str, float]:
        return radiomics_features(case, self.bin_width)

    def fit_predict(self, task: str, classes: Sequence[str], train_features: np.ndarray,
                    train_labels: Sequence[str], test_features: np.ndarray) -> np.ndarray:
        return logistic_fit_predict(classes, train_features, train_labels, test_features,
                                    c=self.c)
