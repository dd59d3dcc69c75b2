"""Built-in baselines against hand-computed geometry and reference statistics."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from imagination.adapters.baselines.fk_growth import FKGrowthAdapter, dice, seed_centre
from imagination.adapters.baselines.margin import MarginAdapter
from imagination.adapters.baselines.prevalence import PrevalenceAdapter
from imagination.adapters.baselines.radiomics_lr import (
    first_order,
    glcm,
    glcm_features,
    radiomics_features,
    shape_features,
)
from imagination.adapters.baselines.random import RandomPlanAdapter
from imagination.adapters.baselines.t2flair_mismatch import T2FlairMismatchAdapter
from imagination.adapters.validation import check_predictions
from imagination.cohort.case import Case, Grid, LoadedCase
from imagination.cohort.labelmap import LabelMap
from imagination.errors import CaseError
from imagination.growth.fisher_kolmogorov import gaussian_seed, simulate_growth
from tests.adapters.builders import build_case


def _point_case(spacing, shape=(40, 40, 40), cavity=False):
    """One core voxel at the centre (or a cavity voxel plus an ET voxel), brain everywhere."""
    tumour = np.zeros(shape, np.int16)
    centre = tuple(n // 2 for n in shape)
    tumour[centre] = 4 if cavity else 3
    if cavity:
        tumour[centre[0] + 5, centre[1], centre[2]] = 2  # SNFH must not be expanded
    case = Case("p", "p", "A", label_map=LabelMap.from_spec("brats2024_post"))
    return LoadedCase(case, Grid(shape, np.diag([*spacing, 1.0])),
                      images={"t1": np.ones(shape, np.float32)},
                      masks={"tumor": tumour, "brain": np.ones(shape, np.uint8)}), centre


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (1.0, 1.0, 3.0), (0.8, 1.2, 2.5)])
def test_margin_plan_is_the_15mm_ball_in_mm(spacing):
    case, centre = _point_case(spacing)
    plan = MarginAdapter().plan(case)
    idx = np.indices(case.grid.shape).reshape(3, -1).T
    distance = np.sqrt((((idx - centre) * np.asarray(spacing)) ** 2).sum(axis=1))
    np.testing.assert_array_equal(plan.ravel(), distance <= 15.0)


def test_margin_top_k_of_score_map_reproduces_the_plan():
    case, _ = _point_case((1.0, 1.0, 2.0))
    adapter = MarginAdapter()
    score = adapter.predict(case).outputs["recurrence"]
    plan = adapter.plan(case)
    k = int(plan.sum())
    threshold = np.sort(score.ravel())[::-1][k - 1]
    np.testing.assert_array_equal(score >= threshold, plan)


def test_margin_after_surgery_expands_cavity_and_enhancement_not_oedema():
    case, centre = _point_case((2.0, 2.0, 2.0), cavity=True)
    plan = MarginAdapter().plan(case)
    oedema = (centre[0] + 5, centre[1], centre[2])
    beyond_oedema = (centre[0] + 8 + 5, centre[1], centre[2])  # 16 mm from cavity, 6 from SNFH
    assert plan[centre] and plan[oedema] and not plan[beyond_oedema]


def test_margin_is_clipped_to_brain_and_outside_ranks_lowest():
    case = build_case()
    preds = MarginAdapter().predict(case)
    check_predictions(preds, MarginAdapter(), case, ["recurrence"])
    brain = case.masks["brain"] > 0
    assert preds.outputs["recurrence"][~brain].max() < preds.outputs["recurrence"][brain].min()
    assert not (MarginAdapter().plan(case) & ~brain).any()


def test_margin_without_core_fails_the_case_with_a_reason():
    case, centre = _point_case((1.0, 1.0, 1.0))
    case.masks["tumor"][centre] = 2  # oedema only
    with pytest.raises(CaseError, match="no core"):
        MarginAdapter().predict(case)


def test_random_plan_is_seeded_per_case_and_inside_brain():
    a, b = build_case("a"), build_case("b")
    first = RandomPlanAdapter(seed=1).predict(a).outputs["recurrence"]
    np.testing.assert_array_equal(first, RandomPlanAdapter(seed=1).predict(a).outputs["recurrence"])
    assert not np.array_equal(first, RandomPlanAdapter(seed=1).predict(b).outputs["recurrence"])
    assert not np.array_equal(first, RandomPlanAdapter(seed=2).predict(a).outputs["recurrence"])
    brain = a.masks["brain"] > 0
    assert first[~brain].max() < first[brain].min()
    # uniform inside the brain: Kolmogorov–Smirnov against U(0, 1)
    score = RandomPlanAdapter(seed=0).predict(a).outputs["recurrence"]
    assert stats.kstest(score[brain].astype(float), "uniform").pvalue > 1e-3


def test_prevalence_is_the_training_frequency():
    out = PrevalenceAdapter().fit_predict("idh", ["wildtype", "mutant"], np.zeros((4, 0)),
                                          ["wildtype", "wildtype", "wildtype", "mutant"],
                                          np.zeros((2, 0)))
    np.testing.assert_allclose(out, [[0.75, 0.25], [0.75, 0.25]])


def test_t2flair_mismatch_positive_and_negative():
    def glioma(mismatch: bool, enhancing: bool = False):
        case = build_case(core_radius_mm=8.0, edema_radius_mm=12.0, enhancing=enhancing)
        if mismatch:  # FLAIR barely above normal where T2 is bright, inside the core
            case.images["flair"][(case.masks["tumor"] == 1) | (case.masks["tumor"] == 3)] -= 1.8
        return case

    adapter = T2FlairMismatchAdapter()
    positive = adapter.predict(glioma(mismatch=True))
    check_predictions(positive, adapter, glioma(True), ["idh"])
    assert positive.outputs["idh"] == {"wildtype": 0.0, "mutant": 1.0}
    assert adapter.predict(glioma(False)).outputs["idh"]["mutant"] == 0.0
    # the ET shell is > 10 % of the core: enhancement vetoes the sign
    vetoed = adapter.predict(glioma(True, enhancing=True))
    assert vetoed.outputs["idh"]["mutant"] == 0.0


def test_first_order_matches_scipy_and_numpy():
    values = np.random.default_rng(0).normal(1.0, 2.0, 500)
    f = first_order(values, 0.5)
    assert f["mean"] == pytest.approx(values.mean())
    assert f["skewness"] == pytest.approx(stats.skew(values))
    assert f["kurtosis"] == pytest.approx(stats.kurtosis(values))
    assert f["p90"] == pytest.approx(np.percentile(values, 90))
    two_bins = first_order(np.array([0.1, 0.1, 1.1, 1.1]), 0.5)
    assert two_bins["entropy"] == pytest.approx(1.0)  # two equal bins: 1 bit


def test_glcm_hand_computed():
    levels = np.zeros((2, 1, 1), np.int64)
    levels[1] = 1
    p = glcm(levels, np.ones((2, 1, 1), bool), 2)
    # one pair (0, 1) along x, counted both ways
    np.testing.assert_allclose(p, [[0.0, 0.5], [0.5, 0.0]])
    f = glcm_features(p)
    assert f["contrast"] == pytest.approx(1.0)
    assert f["energy"] == pytest.approx(0.5)
    assert f["entropy"] == pytest.approx(1.0)
    assert f["inv_difference"] == pytest.approx(0.5)
    assert f["correlation"] == pytest.approx(-1.0)


def test_shape_features_of_a_box():
    box = np.zeros((6, 7, 8), bool)
    box[1:3, 1:4, 1:5] = True  # 2 x 3 x 4 voxels of 1 x 2 x 1 mm
    f = shape_features(box, (1.0, 2.0, 1.0))
    # faces: x-faces 2*(6*4 mm2 ... ) -> dims in mm 2 x 6 x 4: area 2*(2*6 + 2*4 + 6*4) = 88
    assert f["surface_mm2"] == pytest.approx(88.0)
    assert f["log_volume_ml"] == pytest.approx(np.log1p(48 / 1000))
    assert f["sphericity"] == pytest.approx(np.pi ** (1 / 3) * (6 * 48) ** (2 / 3) / 88)
    assert f["n_components"] == 1.0


def test_radiomics_features_are_finite_and_nan_for_missing_modality():
    case = build_case()
    del case.images["t1"]
    features = radiomics_features(case)
    assert np.isnan(features["t1_mean"])
    finite = {k: v for k, v in features.items() if not k.startswith("t1_")}
    assert all(np.isfinite(v) for v in finite.values())
    assert features["flair_mean"] > 1.0  # the lesion is bright on FLAIR


def test_dice_hand_computed_and_seed_centre_inside_a_ring():
    a = np.array([1, 1, 0, 0], bool)
    b = np.array([1, 0, 1, 0], bool)
    assert dice(a, b) == pytest.approx(0.5)
    assert dice(np.zeros(3, bool), np.zeros(3, bool)) == 1.0
    ring = np.zeros((9, 9, 1), bool)
    ring[1:8, 1:8] = True
    ring[2:7, 2:7] = False
    centre = seed_centre(ring)
    assert ring[tuple(round(c) for c in centre)]


def _growth_case(lambda_mm: float, rho_t: float) -> LoadedCase:
    """A homogeneous 'brain' whose masks come from a known Fisher–Kolmogorov solution."""
    shape, spacing = (30, 30, 30), (4.0, 4.0, 4.0)
    r = np.linalg.norm(np.indices(shape).T * 4.0 - 58.0, axis=-1).T
    brain = r < 56.0
    diffusivity = np.where(brain, lambda_mm**2, 0.0).astype(np.float32)
    seed = gaussian_seed(shape, (12.0, 14.0, 15.0), 4.0, spacing)
    u = simulate_growth(seed, diffusivity, 1.0, rho_t, spacing)
    tumour = np.zeros(shape, np.int16)
    tumour[u >= 0.3] = 2
    tumour[u >= 0.65] = 3
    case = Case("g", "g", "A", label_map=LabelMap.from_spec("brats2024_post"))
    return LoadedCase(case, Grid(shape, np.diag([*spacing, 1.0])), images={},
                      masks={"tumor": tumour, "brain": brain.astype(np.uint8)})


@pytest.mark.parametrize(("lambda_mm", "rho_t"), [(2.5, 8.0), (4.0, 8.0)])
def test_fk_fit_recovers_the_infiltration_length(lambda_mm, rho_t):
    case = _growth_case(lambda_mm, rho_t)
    best, _ = FKGrowthAdapter(coarse_mm=4.0, seed="centre").fit(case)
    assert best.lambda_mm == lambda_mm
    assert best.score > 1.8  # two Dice terms, nearly perfect


def test_fk_growth_maps_are_valid_and_peak_in_the_tumour():
    case = build_case()
    for adapter in (FKGrowthAdapter(), FKGrowthAdapter(use_pet=True)):
        preds = adapter.predict(case)
        check_predictions(preds, adapter, case, ["recurrence"])
        core = case.masks["tumor"] == 3
        brain = case.masks["brain"] > 0
        score = preds.outputs["recurrence"]
        assert score[core].mean() > np.percentile(score[brain], 90)
        assert score[~brain].max() < score[brain].min()


def test_fk_growth_pet_without_pet_falls_back_to_the_mri_only_fit():
    # the PET ablation runs fk-growth-pet on inputs without PET: it must be fk-growth then
    case = build_case(pet=False)
    with_pet_model = FKGrowthAdapter(use_pet=True).predict(case).outputs["recurrence"]
    mri_only = FKGrowthAdapter(use_pet=False).predict(case).outputs["recurrence"]
    assert with_pet_model is not None and mri_only is not None
    np.testing.assert_array_equal(with_pet_model, mri_only)


def test_fk_growth_reuses_its_estimate_only_when_the_inputs_it_reads_are_equal(monkeypatch):
    import imagination.adapters.baselines.fk_growth as fk

    fk._ESTIMATE.clear()
    fits: list[str] = []
    original = fk.FKGrowthAdapter._fit
    monkeypatch.setattr(fk.FKGrowthAdapter, "_fit",
                        lambda self, case, *a: fits.append(self.name) or original(self, case, *a))
    case = build_case()
    adapter = FKGrowthAdapter()
    clean = adapter.predict(case).outputs["recurrence"]
    # without FLAIR (which fk-growth never reads) the map is the same, from memory
    no_flair = LoadedCase(case.case, case.grid,
                          {m: v for m, v in case.images.items() if m != "flair"},
                          dict(case.masks), dict(case.tissues))
    np.testing.assert_array_equal(adapter.predict(no_flair).outputs["recurrence"], clean)
    assert fits == ["fk-growth"]
    # a changed T1 voxel changes the tissue the fit reads: fitted again
    t1 = case.images["t1"].copy()
    t1[0, 0, 0] += 1.0
    changed = LoadedCase(case.case, case.grid, {**case.images, "t1": t1}, dict(case.masks),
                         dict(case.tissues))
    adapter.predict(changed)
    assert fits == ["fk-growth", "fk-growth"]
    fk._ESTIMATE.clear()
    # and the memory changes nothing: a fresh fit gives the same bytes
    np.testing.assert_array_equal(FKGrowthAdapter().predict(case).outputs["recurrence"], clean)


@pytest.mark.parametrize("threshold", [0.65, 0.3, 0.0, -1.0])
def test_flat_dice_equals_dice_of_the_full_maps(threshold):
    from imagination.adapters.baselines.fk_growth import FitTargets, _FlatTargets
    from imagination.growth.fisher_kolmogorov import GrowthSolver

    rng = np.random.default_rng(4)
    diffusivity = (rng.random((9, 8, 7)) > 0.3).astype(np.float32)
    solver = GrowthSolver(diffusivity, (4.0, 4.0, 4.0))
    u = solver.expand(rng.random(solver.size).astype(np.float32))
    targets = FitTargets(rng.random(u.shape) > 0.7, rng.random(u.shape) > 0.4,
                         rng.random(u.shape) > 0.5)
    flat = _FlatTargets(solver, targets)
    state = solver.restrict(u)
    for name in ("core", "extent", "pet"):
        assert flat.dice(state, threshold, name) == dice(u >= threshold, getattr(targets, name))
    assert flat.count_at_least(state, threshold) == int((u >= threshold).sum())


def test_depth_and_filled_holes_in_the_box_equal_the_whole_volume_computation():
    from scipy import ndimage

    from imagination.adapters.baselines.intensity_seg import _fill_holes
    from imagination.adapters.baselines.regions import depth_mm

    rng = np.random.default_rng(5)
    for _ in range(40):
        shape = tuple(int(n) for n in rng.integers(2, 14, 3))
        mask = ndimage.binary_dilation(rng.random(shape) < 0.05, iterations=2)
        shell = ndimage.binary_dilation(mask, iterations=1) & ~mask  # encloses holes
        spacing = tuple(float(s) for s in rng.choice([1.0, 2.0, 0.9375], 3))
        np.testing.assert_array_equal(
            depth_mm(mask, spacing), ndimage.distance_transform_edt(mask, sampling=spacing))
        whole = ndimage.binary_fill_holes(shell)
        for z in range(shape[2]):
            whole[:, :, z] |= ndimage.binary_fill_holes(shell[:, :, z])
        np.testing.assert_array_equal(_fill_holes(shell), whole)


def test_tissue_fractions_follow_the_partial_volume_model():
    from imagination.adapters.baselines.fk_growth import tissue_fractions

    shape = (20, 20, 20)
    rng = np.random.default_rng(0)
    t1 = rng.choice([100.0, 400.0, 600.0], size=shape, p=[0.05, 0.45, 0.5])
    t1[0, 0, 0] = 500.0  # half grey, half white
    t1[0, 0, 1] = 250.0  # half CSF, half grey
    t1[0, 0, 2] = 600.0
    case = Case("t", "t", "A", label_map=LabelMap.from_spec("brats2024_post"))
    loaded = LoadedCase(case, Grid(shape, np.eye(4)), images={"t1": t1.astype(np.float32)},
                        masks={"tumor": np.zeros(shape, np.int16)})
    brain = np.ones(shape, bool)
    lesion = np.zeros(shape, bool)
    lesion[10, 10, 10] = True
    wm, gm = tissue_fractions(loaded, brain, lesion)
    near = {"abs": 1e-3}
    assert wm[0, 0, 0] == pytest.approx(0.5, **near) and gm[0, 0, 0] == pytest.approx(0.5, **near)
    assert wm[0, 0, 1] == 0.0 and gm[0, 0, 1] == pytest.approx(0.5, abs=1e-3)
    assert wm[0, 0, 2] == pytest.approx(1.0, abs=1e-3) and gm[0, 0, 2] == pytest.approx(0, abs=1e-3)
    assert wm[10, 10, 10] == 1.0  # the lesion counts as white matter
    assert gm[t1 == 100.0].max() == 0.0 and wm[t1 == 100.0].max() == 0.0


def test_pet_uptake_is_tbr_over_healthy_background_without_specks():
    from imagination.adapters.baselines.fk_growth import pet_uptake

    case = build_case()
    brain = case.masks["brain"] > 0
    lesion = case.masks["tumor"] > 0
    pet = np.where(brain, 1.0, 0.0).astype(np.float32)
    pet[lesion] = 2.0  # TBR 2 in the lesion
    speck = (5, 18, 15)  # one voxel (0.008 ml) of TBR 3 far from the lesion
    assert brain[speck] and not lesion[speck]
    pet[speck] = 3.0
    case.images["pet"] = pet
    uptake = pet_uptake(case, brain, lesion, 1.6)
    np.testing.assert_array_equal(uptake, lesion)
    assert not pet_uptake(case, brain, lesion, 2.5).any()


def test_pet_uptake_beyond_the_mri_lesion_raises_the_fk_pet_ranking_there():
    case = build_case()
    brain = case.masks["brain"] > 0
    lesion = case.masks["tumor"] > 0
    coords = np.indices(case.grid.shape).transpose(1, 2, 3, 0) * 2.0
    occult = (np.linalg.norm(coords - np.array([40.0, 56.0, 30.0]), axis=-1) <= 5.0) & brain
    assert not (occult & lesion).any()
    pet = np.where(brain, 1.0, 0.0).astype(np.float32)
    pet[lesion | occult] = 2.5  # uptake where MRI shows the lesion, and beyond it
    case.images["pet"] = pet

    def rank_of_occult(adapter: FKGrowthAdapter) -> float:
        score = adapter.predict(case).outputs["recurrence"][brain]
        ranks = stats.rankdata(score) / score.size
        return float(ranks[occult[brain]].mean())

    assert rank_of_occult(FKGrowthAdapter(use_pet=True)) > rank_of_occult(FKGrowthAdapter()) + 0.2
