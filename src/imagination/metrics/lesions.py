"""Lesion-wise matching of a binary segmentation against a reference (BraTS 2025 definition).

As the BraTS-evaluation package (0.0.8, on panoptica) scores lesions: lesions are the
26-connected components of a region's mask on each side (cc3d's 3-D default); reference and
predicted lesions are matched one to one by maximum bipartite matching on Dice, with any
overlap (one common voxel) counting. ``scipy.optimize.linear_sum_assignment`` minimises the
summed cost ``1 - Dice`` over pairs, non-overlapping pairs costing ``1 + 1e-6``
(panoptica's ``MaxBipartiteMatching``); assigned pairs without overlap are dropped. Matched
pairs are true positives, unmatched predicted lesions false positives, unmatched reference
lesions false negatives. Per-pair Dice and HD95 compare the two lesions alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import label
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

from imagination.metrics.segmentation import SurfaceDistances

#: Cost of a non-overlapping pair in the assignment (panoptica: 1 + 1e-6).
_NO_OVERLAP_COST = 1.0 + 1e-6


def components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """26-connected (full-neighbourhood) components: a label array (0 background) and their
    number."""
    structure = np.ones((3,) * mask.ndim, dtype=bool)
    labels, n = label(np.asarray(mask, dtype=bool), structure=structure)
    return labels, int(n)


@dataclass(frozen=True)
class LesionMatch:
    """The one-to-one matching of reference and predicted lesions."""

    n_reference: int
    n_prediction: int
    #: matched (reference label, predicted label) pairs, labels 1-based
    pairs: tuple[tuple[int, int], ...]
    #: Dice of each matched pair
    dice: tuple[float, ...]

    @property
    def tp(self) -> int:
        return len(self.pairs)

    @property
    def fp(self) -> int:
        return self.n_prediction - self.tp

    @property
    def fn(self) -> int:
        return self.n_reference - self.tp

    @property
    def f1(self) -> float:
        """Detection F1 = 2 TP / (2 TP + FP + FN) (panoptica's recognition quality); NaN
        without any lesion on either side."""
        total = self.n_reference + self.n_prediction
        return float("nan") if total == 0 else 2 * self.tp / total


def match_lesions(ref_labels: np.ndarray, n_ref: int, pred_labels: np.ndarray,
                  n_pred: int) -> LesionMatch:
    """Match labelled lesions (see the module docstring)."""
    if n_ref == 0 or n_pred == 0:
        return LesionMatch(n_ref, n_pred, (), ())
    both = (ref_labels > 0) & (pred_labels > 0)
    keys = ref_labels[both].astype(np.int64) * (n_pred + 1) + pred_labels[both]
    pair_keys, intersections = np.unique(keys, return_counts=True)
    if pair_keys.size == 0:
        return LesionMatch(n_ref, n_pred, (), ())
    ref_sizes = np.bincount(ref_labels.ravel(), minlength=n_ref + 1)
    pred_sizes = np.bincount(pred_labels.ravel(), minlength=n_pred + 1)
    r_lab, p_lab = pair_keys // (n_pred + 1), pair_keys % (n_pred + 1)
    pair_dice = 2 * intersections / (ref_sizes[r_lab] + pred_sizes[p_lab])
    # only lesions overlapping something can be matched: a compact cost matrix
    rows, r_idx = np.unique(r_lab, return_inverse=True)
    cols, p_idx = np.unique(p_lab, return_inverse=True)
    cost = np.full((rows.size, cols.size), _NO_OVERLAP_COST)
    cost[r_idx, p_idx] = 1.0 - pair_dice
    assigned_r, assigned_p = linear_sum_assignment(cost)
    pairs, dice = [], []
    for i, j in zip(assigned_r, assigned_p, strict=True):
        if cost[i, j] < 1.0:
            pairs.append((int(rows[i]), int(cols[j])))
            dice.append(float(1.0 - cost[i, j]))
    order = np.argsort([p[0] for p in pairs], kind="stable")
    return LesionMatch(n_ref, n_pred, tuple(pairs[k] for k in order),
                       tuple(dice[k] for k in order))


def pair_hd95s(ref_labels: np.ndarray, pred_labels: np.ndarray, match: LesionMatch,
               spacing: Sequence[float], whole: SurfaceDistances) -> list[float]:
    """HD95 (mm) of each matched pair, one reference lesion against one predicted lesion.

    ``whole`` holds the located surface distances of the whole region. A lesion's surface is
    the region's surface restricted to it (6-connected surfaces, 26-connected lesions), so a
    surface voxel whose nearest partner already lies in the paired lesion keeps its distance;
    only the others are measured again, against the paired lesion alone. Exact.
    """
    assert whole.reference_points is not None and whole.prediction_points is not None
    assert whole.nearest_on_reference is not None and whole.nearest_on_prediction is not None
    sp = np.asarray(spacing, dtype=np.float64)
    ref_lesion = ref_labels[tuple(whole.reference_points.T)]
    pred_lesion = pred_labels[tuple(whole.prediction_points.T)]
    ref_partner = pred_labels[tuple(whole.nearest_on_prediction.T)]
    pred_partner = ref_labels[tuple(whole.nearest_on_reference.T)]
    out = []
    for r, p in match.pairs:
        a, b = ref_lesion == r, pred_lesion == p
        ra, pb = whole.reference_points[a], whole.prediction_points[b]
        d_a = _within(whole.reference_to_prediction[a], ref_partner[a] == p, ra, pb, sp)
        d_b = _within(whole.prediction_to_reference[b], pred_partner[b] == r, pb, ra, sp)
        out.append(float(np.percentile(np.concatenate([d_a, d_b]), 95)))
    return out


def _within(distances: np.ndarray, kept: np.ndarray, queries: np.ndarray, targets: np.ndarray,
            sp: np.ndarray) -> np.ndarray:
    """``distances`` with the rows not ``kept`` re-measured to the nearest of ``targets``."""
    if kept.all():
        return distances
    out = distances.copy()
    tree = cKDTree(targets * sp, balanced_tree=False, compact_nodes=False)
    out[~kept] = tree.query(queries[~kept] * sp)[0]
    return out
