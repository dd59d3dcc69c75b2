"""BraTS-2025 region and lesion-wise scores: hand-computed multi-lesion cases, MedPy values for
Dice/HD95/ASSD, brute-force matching and per-pair HD95, and the edge-case table."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from medpy.metric import binary as medpy_binary

from imagination.metrics import brats, lesions

NAN_METRICS = ("dice", "hd95", "assd", "nsd", "sensitivity", "precision", "lesion_dice",
               "lesion_hd95", "lesion_f1")


def _two_lesion_case() -> tuple[np.ndarray, np.ndarray]:
    """Reference: cube A (4^3 = 64 voxels) and cube B (2^3 = 8). Prediction: A shifted one
    slice along z (A', 64 voxels, 48 shared with A), B missed, a false-positive cube C (3^3)."""
    ref = np.zeros((24, 24, 24), bool)
    pred = np.zeros_like(ref)
    ref[2:6, 2:6, 2:6] = True  # A
    ref[20:22, 20:22, 20:22] = True  # B
    pred[2:6, 2:6, 3:7] = True  # A'
    pred[12:15, 2:5, 2:5] = True  # C, 6 voxels from A' in x: its own lesion
    return ref, pred


def test_two_lesion_case_by_hand() -> None:
    ref, pred = _two_lesion_case()
    s = brats.region_scores(ref, pred, (1.0, 1.0, 2.0))
    # voxel counts: |ref| = 64 + 8 = 72, |pred| = 64 + 27 = 91, |ref ∩ pred| = 4*4*3 = 48
    assert s["dice"] == pytest.approx(2 * 48 / (72 + 91))
    assert s["sensitivity"] == pytest.approx(48 / 72)
    assert s["precision"] == pytest.approx(48 / 91)
    # voxel = 1 * 1 * 2 mm^3 = 0.002 mL
    assert s["volume_ml_true"] == pytest.approx(0.144)
    assert s["volume_ml_pred"] == pytest.approx(0.182)
    assert s["volume_diff_ml"] == pytest.approx(0.038)
    assert s["abs_volume_diff_ml"] == pytest.approx(0.038)
    # lesions: A-A' matched (Dice 2*48/128 = 0.75); C unmatched (FP); B unmatched (FN)
    assert (s["lesion_tp"], s["lesion_fp"], s["lesion_fn"]) == (1, 1, 1)
    assert s["lesion_f1"] == pytest.approx(2 * 1 / (2 * 1 + 1 + 1))
    assert s["lesion_dice"] == pytest.approx(0.75)
    # HD95 of A vs A' (z spacing 2 mm). A's 56 surface voxels: the z=2 face (16) is 2 mm from
    # A' (its z=3 face); the 4 inner voxels of the z=5 face are 1 mm from A''s x/y sides; the
    # 36 side voxels at z = 3..5 lie on A''s surface (0). A' -> A is the mirror image. Pooled
    # 112 values: 72 zeros, 8 ones, 32 twos; the 95th percentile (rank 105.45) is 2 mm.
    assert s["lesion_hd95"] == pytest.approx(2.0)
    # global distances: MedPy on the whole masks
    assert s["hd95"] == pytest.approx(medpy_binary.hd95(pred, ref, voxelspacing=(1, 1, 2)))
    assert s["assd"] == pytest.approx(medpy_binary.assd(pred, ref, voxelspacing=(1, 1, 2)))


def test_one_prediction_covering_two_lesions_matches_the_better_one() -> None:
    ref = np.zeros((4, 4, 12), bool)
    pred = np.zeros_like(ref)
    ref[1:3, 1:3, 0:4] = True  # L1, 16 voxels
    ref[1:3, 1:3, 6:8] = True  # L2, 8 voxels, two empty slices away
    pred[1:3, 1:3, 0:8] = True  # P, 32 voxels over both
    s = brats.region_scores(ref, pred, (1, 1, 1))
    # Dice(L1, P) = 32/48 = 2/3 beats Dice(L2, P) = 16/40 = 0.4: P matches L1, L2 is missed
    assert (s["lesion_tp"], s["lesion_fp"], s["lesion_fn"]) == (1, 0, 1)
    assert s["lesion_dice"] == pytest.approx(2 / 3)
    assert s["lesion_f1"] == pytest.approx(2 / 3)
    assert s["dice"] == pytest.approx(2 * 24 / (24 + 32))


def test_maximum_matching_beats_greedy() -> None:
    # along one line: R1 = [0, 10), R2 = [20, 24); P2 = [0, 2), P1 = [4, 22)
    ref = np.zeros((1, 1, 24), np.int32)
    pred = np.zeros_like(ref)
    ref[..., 0:10], ref[..., 20:24] = 1, 2
    pred[..., 4:22], pred[..., 0:2] = 1, 2
    m = lesions.match_lesions(ref, 2, pred, 2)
    # Dice: R1-P1 12/28, R1-P2 4/12, R2-P1 4/22. Greedy takes R1-P1 and leaves R2 unmatched;
    # the optimum (summed cost 1 - Dice: 0.667 + 0.818 < 0.571 + 1.000001) matches both.
    assert m.pairs == ((1, 2), (2, 1))
    assert m.dice == pytest.approx((4 / 12, 4 / 22))
    assert (m.tp, m.fp, m.fn) == (2, 0, 0)


def test_lesions_are_26_connected() -> None:
    mask = np.zeros((5, 5, 5), bool)
    mask[1, 1, 1] = mask[2, 2, 2] = True  # corner contact: one lesion
    mask[4, 4, 4] = True  # two voxels away: another
    assert lesions.components(mask)[1] == 2


def _pred_and_ref(rng: np.random.Generator, shape: tuple[int, int, int]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Several blobs per side (smoothed noise thresholded), overlapping partly."""
    from scipy.ndimage import gaussian_filter

    def blobs() -> np.ndarray:
        return gaussian_filter(rng.standard_normal(shape), 1.2) > 0.25

    ref, pred = blobs(), blobs()
    ref |= np.roll(pred, 1, axis=0) & (rng.random(shape) < 0.7)
    ref.flat[0] = pred.flat[-1] = True
    return ref, pred


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1),
       sp=st.sampled_from([(1.0, 1.0, 1.0), (0.8, 0.8, 2.5), (2.0, 1.0, 0.5)]))
def test_global_scores_equal_medpy(seed: int, sp: tuple[float, float, float]) -> None:
    rng = np.random.default_rng(seed)
    ref, pred = _pred_and_ref(rng, (14, 13, 12))
    s = brats.region_scores(ref, pred, sp)
    assert s["dice"] == pytest.approx(medpy_binary.dc(pred, ref), abs=1e-12)
    assert s["hd95"] == pytest.approx(medpy_binary.hd95(pred, ref, voxelspacing=sp), abs=1e-9)
    assert s["assd"] == pytest.approx(medpy_binary.assd(pred, ref, voxelspacing=sp), abs=1e-9)
    assert s["sensitivity"] == pytest.approx(medpy_binary.sensitivity(pred, ref), abs=1e-12)
    assert s["precision"] == pytest.approx(medpy_binary.precision(pred, ref), abs=1e-12)


def _brute_best_matching(ref_l: np.ndarray, n_ref: int, pred_l: np.ndarray, n_pred: int
                         ) -> tuple[int, float]:
    """Try every one-to-one assignment; panoptica's cost: 1 - Dice, 1 + 1e-6 without overlap.
    Returns (matched pairs, summed Dice) of the cheapest."""
    dice = np.zeros((n_ref, n_pred))
    for r, p in itertools.product(range(n_ref), range(n_pred)):
        a, b = ref_l == r + 1, pred_l == p + 1
        dice[r, p] = 2 * np.count_nonzero(a & b) / (a.sum() + b.sum())
    cost = np.where(dice > 0, 1 - dice, 1 + 1e-6)
    best = (math.inf, 0, 0.0)
    k = min(n_ref, n_pred)
    for rows in itertools.permutations(range(n_ref), k):
        for cols in itertools.permutations(range(n_pred), k):
            total = sum(cost[r, c] for r, c in zip(rows, cols, strict=True))
            if total < best[0] - 1e-12:
                hits = [(r, c) for r, c in zip(rows, cols, strict=True) if dice[r, c] > 0]
                best = (total, len(hits), sum(dice[r, c] for r, c in hits))
    return best[1], best[2]


def _boxes(rng: np.random.Generator, shape: tuple[int, int, int], n: int) -> np.ndarray:
    """Union of ``n`` random cuboids of 2-5 voxels a side (they may touch or overlap)."""
    mask = np.zeros(shape, bool)
    for _ in range(n):
        size = rng.integers(2, 6, 3)
        start = [int(rng.integers(0, d - s + 1)) for d, s in zip(shape, size, strict=True)]
        mask[tuple(slice(a, a + int(s)) for a, s in zip(start, size, strict=True))] = True
    return mask


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_ref=st.integers(1, 4), n_pred=st.integers(1, 4))
def test_lesion_matching_and_pair_hd95_equal_brute_force(seed: int, n_ref: int,
                                                         n_pred: int) -> None:
    rng = np.random.default_rng(seed)
    ref, pred = _boxes(rng, (10, 10, 8), n_ref), _boxes(rng, (10, 10, 8), n_pred)
    ref_l, n_ref = lesions.components(ref)
    pred_l, n_pred = lesions.components(pred)
    s = brats.region_scores(ref, pred, (1.0, 1.0, 1.5))
    tp, dice_sum = _brute_best_matching(ref_l, n_ref, pred_l, n_pred)
    assert s["lesion_tp"] == tp
    assert (s["lesion_fp"], s["lesion_fn"]) == (n_pred - tp, n_ref - tp)
    if tp == 0:
        return
    assert s["lesion_dice"] == pytest.approx(dice_sum / tp, abs=1e-12)
    m = lesions.match_lesions(ref_l, n_ref, pred_l, n_pred)
    hd = [medpy_binary.hd95(pred_l == p, ref_l == r, voxelspacing=(1, 1, 1.5))
          for r, p in m.pairs]
    assert s["lesion_hd95"] == pytest.approx(float(np.mean(hd)), abs=1e-9)


def test_edge_case_table() -> None:
    empty = np.zeros((20, 20, 20), bool)
    one = empty.copy()
    one[2:5, 2:5, 2:5] = True
    other = empty.copy()
    other[12:15, 12:15, 12:15] = True
    both = brats.region_scores(empty, empty, (1, 1, 1))
    assert all(math.isnan(both[m]) for m in NAN_METRICS)
    assert (both["lesion_tp"], both["lesion_fp"], both["lesion_fn"]) == (0, 0, 0)
    assert both["volume_ml_pred"] == both["volume_ml_true"] == both["volume_diff_ml"] == 0
    no_ref = brats.region_scores(empty, one, (1, 1, 1))
    assert (no_ref["dice"], no_ref["nsd"], no_ref["lesion_dice"], no_ref["lesion_f1"]) == (0,) * 4
    assert no_ref["hd95"] == no_ref["assd"] == no_ref["lesion_hd95"] == 373.0
    assert math.isnan(no_ref["sensitivity"]) and no_ref["precision"] == 0
    assert (no_ref["lesion_fp"], no_ref["lesion_fn"]) == (1, 0)
    assert no_ref["volume_diff_ml"] == pytest.approx(0.027)
    no_pred = brats.region_scores(one, empty, (1, 1, 1))
    assert no_pred["hd95"] == 373.0 and no_pred["sensitivity"] == 0
    assert math.isnan(no_pred["precision"]) and no_pred["lesion_fn"] == 1
    # both present, no common voxel: the penalty, not the ~17 mm between them (panoptica)
    apart = brats.region_scores(one, other, (1, 1, 1))
    assert apart["hd95"] == apart["lesion_hd95"] == 373.0 and apart["dice"] == 0
    assert (apart["lesion_tp"], apart["lesion_fp"], apart["lesion_fn"]) == (0, 1, 1)
    table = brats.policy_table()
    assert table["hd95"] == {"both_empty": "nan", "empty_reference": "373.0",
                             "empty_prediction": "373.0", "no_overlap": "373.0"}
    assert table["lesion_tp"]["both_empty"] == "computed"
    assert set(table) == set(brats.METRIC_NAMES)


def test_nsd_is_the_mean_of_directed_shares() -> None:
    ref = np.zeros((30, 30, 30), bool)
    pred = np.zeros_like(ref)
    ref[10:20, 10:20, 10:20] = True
    pred[9:21, 9:21, 9:21] = True
    # every reference surface voxel is 1 mm from the grown cube; of the grown cube's 728
    # surface voxels the 600 face voxels are 1 mm away, edges sqrt 2 and corners sqrt 3
    s = brats.region_scores(ref, pred, (1, 1, 1), tolerance_mm=1.0)
    assert s["nsd"] == pytest.approx((488 / 488 + 600 / 728) / 2)
    assert brats.region_scores(ref, pred, (1, 1, 1), tolerance_mm=1.5)["nsd"] == pytest.approx(
        (1 + 720 / 728) / 2)
