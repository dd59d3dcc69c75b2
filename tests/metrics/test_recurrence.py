"""Recurrence coverage (PREDICT-GBM protocol) on constructed cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.ndimage import distance_transform_edt
from sklearn.metrics import roc_auc_score

from imagination.errors import InputError
from imagination.metrics import recurrence as rec


def test_standard_plan_counts_lattice_points() -> None:
    core = np.zeros((21, 21, 21), bool)
    core[10, 10, 10] = True
    brain = np.ones_like(core)
    # integer points with x² + y² + z² <= 9: 123
    assert np.count_nonzero(rec.standard_plan(core, brain, (1, 1, 1), 3.0)) == 123
    # spacing (1, 1, 2), margin 2 mm: x² + y² + (2z)² <= 4 -> 13 in-plane + 2 above/below
    assert np.count_nonzero(rec.standard_plan(core, brain, (1, 1, 2), 2.0)) == 15
    # clipped to the brain: only the half-space x >= 10 is brain
    brain[:10] = False
    half = rec.standard_plan(core, brain, (1, 1, 1), 3.0)
    # the plane x = 10 holds y² + z² <= 9: 29 points; half of the other 94 lie at x > 10
    assert np.count_nonzero(half) == 29 + 47
    assert not half[:10].any()


def test_standard_plan_equals_a_full_distance_transform() -> None:
    rng = np.random.default_rng(0)
    core = np.zeros((50, 45, 30), bool)
    core[20:26, 18:24, 12:15] = True
    core[rng.random(core.shape) < 0.0005] = True
    brain = rng.random(core.shape) < 0.9
    sp = (0.9, 1.1, 2.5)
    full = (distance_transform_edt(~core, sampling=sp) <= 7.5) & brain
    assert np.array_equal(rec.standard_plan(core, brain, sp, 7.5), full)


def _predictgbm_topk(scores: np.ndarray, brain: np.ndarray, k: int) -> np.ndarray:
    """PREDICT-GBM's pass 1, written independently: stable ascending sort, keep the last k."""
    candidates = np.flatnonzero(brain)
    out = np.zeros(scores.shape, bool)
    if k >= candidates.size:
        out.flat[candidates] = True
        return out
    order = np.argsort(scores.flat[candidates], kind="stable")
    out.flat[candidates[order[candidates.size - k:]]] = True
    return out


def _documented_plan(scores: np.ndarray, brain: np.ndarray, k: int,
                     spacing: tuple[float, ...]) -> np.ndarray:
    """The documented rule by brute force: score descending; at the cut, nearest (mm, pairwise
    distances) to the voxels above the cut first; then the larger flat index."""
    candidates = np.flatnonzero(brain)
    out = np.zeros(scores.shape, bool)
    if k == 0:
        return out
    if k >= candidates.size:
        out.flat[candidates] = True
        return out
    values = scores.flat[candidates]
    cut = np.sort(values)[::-1][k - 1]
    above = candidates[values > cut]
    tied = candidates[values == cut]
    out.flat[above] = True
    if above.size:
        a = np.argwhere(out) * np.asarray(spacing)
        t = np.column_stack(np.unravel_index(tied, scores.shape)) * np.asarray(spacing)
        dist = np.sqrt(((t[:, None, :] - a[None, :, :]) ** 2).sum(axis=2)).min(axis=1)
    else:
        dist = np.zeros(tied.size)
    ranked = sorted(range(tied.size), key=lambda i: (round(dist[i], 9), -tied[i]))
    out.flat[tied[ranked[:k - above.size]]] = True
    return out


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), levels=st.integers(1, 6), k_share=st.floats(0, 1.2))
def test_isovolumetric_plan_fills_plateaus_by_distance(seed: int, levels: int,
                                                       k_share: float) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, levels, (9, 8, 7)).astype(np.float32)  # heavy ties
    brain = rng.random(scores.shape) < 0.7
    k = int(k_share * np.count_nonzero(brain))
    spacing = (1.0, 1.5, 2.0)
    plan = rec.isovolumetric_plan(scores, brain, k, spacing)
    assert np.count_nonzero(plan) == min(k, np.count_nonzero(brain))
    assert not (plan & ~brain).any()
    assert np.array_equal(plan, _documented_plan(scores, brain, k, spacing))
    if levels == 1:  # a constant map has no region: PREDICT-GBM's order (last k by index)
        assert np.array_equal(plan, _predictgbm_topk(scores, brain, k))


def test_binary_mask_model_gets_a_contiguous_plan_grown_by_distance() -> None:
    """Issue 12 item 4: a binary map with fewer voxels than k keeps its region and grows it
    by distance (PREDICT-GBM's distance fade), not by voxel index order."""
    from scipy.ndimage import label

    shape = (30, 30, 20)
    brain = np.ones(shape, bool)
    mask = np.zeros(shape, np.float32)
    mask[5:8, 20:23, 4:7] = 1.0  # 27 voxels, far from the high-index corner
    spacing = (1.0, 1.0, 2.5)
    k = 600
    plan = rec.isovolumetric_plan(mask, brain, k, spacing)
    assert plan.sum() == k and plan[mask > 0].all()
    assert label(plan)[1] == 1  # one contiguous region
    distance = distance_transform_edt(mask == 0, sampling=spacing)
    assert distance[plan].max() <= distance[~plan].min() + 1e-9  # nearest voxels first
    # PREDICT-GBM's fade 1 − d/d_max (d in mm) ranks the same voxels
    fade = 1 - distance / distance.max()
    assert fade[plan].min() >= fade[~plan].max() - 1e-9


def test_isovolumetric_plan_rejects_nan_and_negative_k() -> None:
    scores = np.zeros((3, 3, 3), np.float32)
    scores[1, 1, 1] = np.nan
    with pytest.raises(InputError, match="NaN"):
        rec.isovolumetric_plan(scores, np.ones((3, 3, 3), bool), 2)
    with pytest.raises(InputError, match="k"):
        rec.isovolumetric_plan(np.zeros((3, 3, 3)), np.ones((3, 3, 3), bool), -1)


def _case() -> dict[str, np.ndarray]:
    shape = (40, 40, 20)
    brain = np.zeros(shape, bool)
    brain[2:38, 2:38, 1:19] = True
    core = np.zeros(shape, bool)
    core[18:22, 18:22, 9:11] = True
    return {"brain": brain, "core": core}


def test_model_equal_to_the_margin_has_zero_gain_and_hand_coverage() -> None:
    c = _case()
    sp = (1.0, 1.0, 2.0)
    distance = distance_transform_edt(~c["core"], sampling=sp)
    score = (-distance).astype(np.float32)  # the uniform-margin map: its top-k is the plan
    recurrence = np.zeros_like(c["core"])
    recurrence[20, 20, 10] = True  # inside the core: covered
    recurrence[20, 33, 10] = True  # 12 mm from the core: covered by a 5 mm margin? no
    recurrence[20, 24, 10] = True  # 3 mm from the core: covered
    recurrence[20, 20, 18] = True  # 14 mm above (7 slices of 2 mm): not covered
    enhancing = np.zeros_like(recurrence)
    enhancing[20, 20, 10] = True
    out = rec.recurrence_case_metrics(score, recurrence, c["core"], c["brain"], sp,
                                      margin_mm=5.0, enhancing_mask=enhancing)
    assert out["coverage_all_standard"] == pytest.approx(0.5)
    assert out["coverage_all_model"] == pytest.approx(0.5)
    assert out["coverage_gain_all"] == 0.0
    assert out["coverage_enhancing_model"] == out["coverage_enhancing_standard"] == 1.0
    assert out["missed_ml_standard"] == pytest.approx(2 * 2.0 / 1000)
    assert out["recurrence_ml"] == pytest.approx(4 * 2.0 / 1000)
    assert out["fraction_in_standard"] == pytest.approx(0.5)
    assert (out["pattern_local"], out["pattern_marginal"], out["pattern_distant"]) == (0, 1, 0)
    brain = c["brain"]
    want_auc = roc_auc_score(recurrence[brain], score[brain])
    assert out["voxel_auroc"] == pytest.approx(want_auc, abs=1e-12)


def test_a_model_that_points_at_the_recurrence_gains_coverage() -> None:
    c = _case()
    recurrence = np.zeros_like(c["core"])
    recurrence[5:8, 5:8, 3:5] = True  # far from the core: distant
    score = np.zeros(recurrence.shape, np.float32)
    score[recurrence] = 1.0
    out = rec.recurrence_case_metrics(score, recurrence, c["core"], c["brain"], (1, 1, 1))
    assert out["coverage_all_standard"] == 0.0
    assert out["coverage_all_model"] == 1.0
    assert out["coverage_gain_all"] == 1.0
    assert out["missed_ml_model"] == 0.0
    assert out["missed_ml_standard"] == pytest.approx(18 / 1000)
    assert out["pattern_distant"] == 1.0
    assert out["voxel_auroc"] == 1.0
    assert "coverage_enhancing_model" not in out


def test_edge_cases() -> None:
    c = _case()
    score = np.random.default_rng(1).random(c["brain"].shape).astype(np.float32)
    none = np.zeros_like(c["core"])
    out = rec.recurrence_case_metrics(score, none, c["core"], c["brain"], (1, 1, 1))
    assert out["coverage_all_model"] == out["coverage_all_standard"] == 1.0
    assert out["coverage_gain_all"] == 0.0 and out["missed_ml_model"] == 0.0
    assert np.isnan(out["voxel_auroc"]) and np.isnan(out["pattern_local"])
    # empty core: empty plans, every recurrence voxel missed by both
    some = none.copy()
    some[10, 10, 10] = True
    out = rec.recurrence_case_metrics(score, some, none, c["brain"], (1, 1, 1))
    assert out["plan_ml"] == 0.0 and out["coverage_all_model"] == 0.0
    # a margin wider than the brain: the model plan is the whole brain
    out = rec.recurrence_case_metrics(score, some, c["core"], c["brain"], (1, 1, 1),
                                      margin_mm=200.0)
    assert out["plan_ml"] == pytest.approx(np.count_nonzero(c["brain"]) / 1000)
    assert out["coverage_all_model"] == 1.0
    assert rec.pattern_class(0.8) == "local" and rec.pattern_class(0.2) == "marginal"
    assert rec.pattern_class(0.19) == "distant" and rec.pattern_class(float("nan")) == "none"


def test_shape_mismatch_is_named() -> None:
    c = _case()
    with pytest.raises(InputError, match="recurrence mask"):
        rec.recurrence_case_metrics(np.zeros((4, 4, 4)), np.zeros((3, 3, 3)), c["core"],
                                    c["brain"], (1, 1, 1))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), margin=st.floats(0.0, 6.0))
def test_coverage_invariants(seed: int, margin: float) -> None:
    rng = np.random.default_rng(seed)
    shape = (14, 13, 9)
    brain = rng.random(shape) < 0.9
    core = np.zeros(shape, bool)
    core[tuple(rng.integers(2, 7, 3))] = True
    recurrence = rng.random(shape) < 0.05
    score = rng.integers(0, 4, shape).astype(np.float32)
    sp = (1.0, 1.2, 2.0)
    out = rec.recurrence_case_metrics(score, recurrence, core, brain, sp, margin_mm=margin)
    for key in ("coverage_all_model", "coverage_all_standard"):
        assert 0.0 <= out[key] <= 1.0
    assert out["coverage_gain_all"] == pytest.approx(
        out["coverage_all_model"] - out["coverage_all_standard"])
    std = rec.standard_plan(core, brain, sp, margin)
    model = rec.isovolumetric_plan(score, brain, int(std.sum()))
    assert model.sum() == std.sum()  # iso-volumetric
    # a wider margin never lowers the standard plan's coverage
    wider = rec.recurrence_case_metrics(score, recurrence, core, brain, sp, margin_mm=margin + 2)
    assert wider["coverage_all_standard"] >= out["coverage_all_standard"]
    total = recurrence.sum() * np.prod(sp) / 1000
    assert out["missed_ml_model"] == pytest.approx(total * (1 - out["coverage_all_model"]))


def test_a_precomputed_standard_plan_gives_the_same_metrics():
    from imagination.metrics.recurrence import recurrence_case_metrics, standard_plan

    rng = np.random.default_rng(4)
    shape = (24, 22, 20)
    brain = np.zeros(shape, bool)
    brain[2:-2, 2:-2, 2:-2] = True
    core = np.zeros(shape, bool)
    core[10:13, 9:12, 8:11] = True
    recurrence = np.zeros(shape, bool)
    recurrence[8:16, 12:18, 6:12] = True
    scores = rng.random(shape)
    spacing = (1.5, 1.0, 2.0)
    plain = recurrence_case_metrics(scores, recurrence, core, brain, spacing, margin_mm=6.0)
    reused = recurrence_case_metrics(scores, recurrence, core, brain, spacing, margin_mm=6.0,
                                     standard=standard_plan(core, brain, spacing, 6.0))
    assert plain.keys() == reused.keys()
    for key, value in plain.items():
        assert value == reused[key] or (np.isnan(value) and np.isnan(reused[key])), key
