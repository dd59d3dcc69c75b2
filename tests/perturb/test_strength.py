"""Each perturbation does what its severity table says, checked against hand geometry and
independent measurements; strength grows with severity."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from imagination.cohort.case import Case, Grid, LoadedCase
from imagination.perturb import apply_perturbation, available, perturbation_seed, sitk_grid
from imagination.perturb.base import rng_for
from imagination.perturb.geometry import move_image, rigid_motion
from imagination.perturb.sitk_grid import world_centroid

from .cases import affine, make_case, radius_mm

SEVERITIES = (1, 2, 3, 4, 5)


def _variants(case: LoadedCase, kind: str, params=None) -> list[LoadedCase]:
    """Every severity with its own seed, as the engine derives them."""
    return [apply_perturbation(case, kind, s, perturbation_seed(0, case.case_id, kind, s), params)
            for s in SEVERITIES]


def _strictly_increasing(values: list[float]) -> bool:
    return all(b > a for a, b in itertools.pairwise(values))


def _high_frequency_energy(image: np.ndarray, axes: tuple[int, ...] = (0, 1, 2)) -> float:
    spectrum = np.abs(np.fft.fftn(image)) ** 2
    high = np.zeros(image.shape, dtype=bool)
    for axis in axes:
        f = np.abs(np.fft.fftfreq(image.shape[axis]))
        shape = [1, 1, 1]
        shape[axis] = -1
        high |= (f > 0.25).reshape(shape)
    return float(spectrum[high].sum())


def test_noise_std_matches_sigma_and_grows() -> None:
    case = make_case()
    brain = case.masks["brain"] > 0
    p1, p99 = np.percentile(case.images["t1"][brain], [1, 99])
    stds = []
    for level, out in zip(available()["noise"].levels, _variants(case, "noise"), strict=True):
        diff = (out.images["t1"] - case.images["t1"])[brain]
        stds.append(float(diff.std()))
        # high SNR: the Rician magnitude error is close to the in-phase Gaussian noise
        assert diff.std() == pytest.approx(level * (p99 - p1), rel=0.1)
        assert np.array_equal(out.images["t1"][~brain], case.images["t1"][~brain])
    assert _strictly_increasing(stds)


def test_rician_noise_floor_is_rayleigh() -> None:
    case = make_case(("t1",))
    brain = case.masks["brain"] > 0
    dark = brain & (np.arange(24)[:, None, None] < 12)
    case.images["t1"][:] = np.where(brain & ~dark, 100.0, 0.0).astype(np.float32)
    out = apply_perturbation(case, "noise", 5, 3).images["t1"]
    sigma = 0.12 * 100.0  # the brain's 1st..99th percentile range is 0..100
    # zero signal: magnitude of complex Gaussian noise is Rayleigh, mean sigma * sqrt(pi / 2)
    assert out[dark].min() >= 0
    assert out[dark].mean() == pytest.approx(sigma * np.sqrt(np.pi / 2), rel=0.05)
    # bright signal: the magnitude is biased upwards by about sigma² / (2 · signal)
    assert out[brain & ~dark].mean() == pytest.approx(100 + sigma**2 / 200, abs=0.5)


def test_bias_field_peak_log_ratio_equals_level() -> None:
    case = make_case()
    brain = case.masks["brain"] > 0
    peaks = []
    for level, out in zip(available()["bias_field"].levels, _variants(case, "bias_field"),
                          strict=True):
        log_ratio = np.log(out.images["flair"][brain] / case.images["flair"][brain])
        assert np.max(np.abs(log_ratio - log_ratio.mean())) == pytest.approx(level, abs=2e-3)
        assert np.array_equal(out.images["flair"][~brain], case.images["flair"][~brain])
        peaks.append(float(np.max(np.abs(log_ratio))))
    assert _strictly_increasing(peaks)


def test_gamma_curve_has_the_level_exponent() -> None:
    case = make_case()
    x = case.images["t1c"].astype(np.float64)
    lo, hi = x.min(), x.max()
    inside = ((x - lo) / (hi - lo) > 0.2) & ((x - lo) / (hi - lo) < 0.9)
    signs = set()
    for level, out in zip(available()["gamma"].levels, _variants(case, "gamma"), strict=True):
        y = out.images["t1c"].astype(np.float64)
        gamma = np.log((y[inside] - lo) / (hi - lo)) / np.log((x[inside] - lo) / (hi - lo))
        assert np.median(np.abs(np.log(gamma))) == pytest.approx(level, rel=1e-3)
        assert y.min() == pytest.approx(lo) and y.max() == pytest.approx(hi, rel=1e-6)
        signs.add(bool(np.median(gamma) > 1))
    assert signs == {True, False}  # both directions occur across the seeds


def test_blur_has_the_level_fwhm_and_removes_high_frequencies() -> None:
    shape, spacing = (33, 33, 21), (1.0, 1.0, 1.5)
    point = np.zeros(shape, dtype=np.float32)
    point[16, 16, 10] = 1000.0
    case = LoadedCase(Case("p", "p", "s", images={"t1": None}),  # type: ignore[dict-item]
                      Grid(shape, affine(spacing)), {"t1": point}, {})
    for level, out in zip(available()["blur"].levels, _variants(case, "blur"), strict=True):
        kernel = out.images["t1"].astype(np.float64)
        kernel /= kernel.sum()
        for axis in range(3):
            if level / 2.3548 / spacing[axis] < 0.8:
                continue  # a sampled Gaussian narrower than a voxel is sharper than nominal
            position = (np.arange(shape[axis]) - (16, 16, 10)[axis]) * spacing[axis]
            marginal = kernel.sum(axis=tuple(a for a in range(3) if a != axis))
            fwhm = np.sqrt((marginal * position**2).sum()) * 2 * np.sqrt(2 * np.log(2))
            # a sampled Gaussian's variance is within a tenth of a voxel² of sigma²
            assert fwhm == pytest.approx(level, abs=0.12 * spacing[axis] + 0.05)
    textured = make_case()
    energies = [_high_frequency_energy(out.images["t1"]) for out in _variants(textured, "blur")]
    assert _high_frequency_energy(textured.images["t1"]) > energies[0]
    assert all(b < a for a, b in itertools.pairwise(energies))


def _sinusoid_case(axis: int, frequency: float = 0.1) -> tuple[LoadedCase, np.ndarray]:
    """A 40-voxel-long image that is a cosine along ``axis`` (cycles per voxel), no background."""
    shape = [8, 8, 8]
    shape[axis] = 40
    case = make_case(("t1",), shape=shape, spacing=(1, 1, 1))
    wave = np.cos(2 * np.pi * frequency * np.arange(40)).reshape(
        [-1 if a == axis else 1 for a in range(3)])
    case.images["t1"][:] = (100 + 20 * wave).astype(np.float32)
    return case, np.broadcast_to(wave, case.grid.shape)


def _transfer(image: np.ndarray, wave: np.ndarray) -> float:
    """Amplitude of ``wave`` left in ``image`` relative to the original 20."""
    return float(abs(((image - 100) * wave).sum() / (20 * (wave * wave).sum())))


def test_anisotropy_removes_detail_along_its_axis_only() -> None:
    case, wave = _sinusoid_case(axis=2)
    transfer = [_transfer(out.images["t1"], wave)
                for out in _variants(case, "anisotropy", {"axis": 2})]
    assert all(b < a for a, b in itertools.pairwise(transfer))
    # 1.5 × thicker slices keep most of a 10-voxel wave; 5 × (the wave's Nyquist) erase it
    assert transfer[0] > 0.8 and transfer[-1] < 0.05
    # by default the slices thicken along the axis with the largest voxel size
    for spacing, axis in (((1.0, 1.0, 1.5), 2), ((2.0, 1.0, 1.0), 0), ((1.0, 1.0, 1.0), 2)):
        anisotropic = make_case(("t1",), spacing=spacing)
        default = apply_perturbation(anisotropic, "anisotropy", 3, 5).images["t1"]
        chosen = apply_perturbation(anisotropic, "anisotropy", 3, 5, {"axis": axis})
        assert np.array_equal(default, chosen.images["t1"])
    # the same wave in-plane is untouched by thick axial slices
    in_plane, in_plane_wave = _sinusoid_case(axis=0)
    for out in _variants(in_plane, "anisotropy", {"axis": 2}):
        np.testing.assert_allclose(out.images["t1"], in_plane.images["t1"], atol=1e-3)
        assert _transfer(out.images["t1"], in_plane_wave) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("kind", ["motion", "ghosting", "spike"])
def test_kspace_artefacts_grow_and_stay_real(kind: str) -> None:
    sizes = []
    for index in range(6):
        case = make_case(seed=index, case_id=f"case-{index}")
        for image in case.images.values():  # smooth anatomy: displacements change it gradually
            image[:] = gaussian_filter(image, 1.5)
        outs = _variants(case, kind)
        for out in outs:
            for m in ("t1", "t1c", "flair"):
                image = out.images[m]
                assert np.isrealobj(image) and np.all(np.isfinite(image)) and image.min() >= 0
        sizes.append([float(np.abs(o.images["t1"] - case.images["t1"]).mean()) for o in outs])
    if kind == "motion":
        # random motion directions: strength grows on average over cases
        assert _strictly_increasing(list(np.mean(sizes, axis=0)))
    else:
        assert all(_strictly_increasing(row) for row in sizes)


def test_kspace_artefacts_keep_signed_images_real_and_centred() -> None:
    case = make_case(("t1",))
    z = case.images["t1"] - case.images["t1"].mean()
    case.images["t1"][:] = z / z.std()
    for kind in ("motion", "ghosting", "spike"):
        out = apply_perturbation(case, kind, 2, 4).images["t1"]
        assert out.min() < 0 and abs(float(out.mean())) < 0.1


def test_spike_adds_a_single_plane_wave() -> None:
    case = make_case(("t1",))
    case.images["t1"][:] += 100.0  # no zero background: the magnitude changes nothing
    out = apply_perturbation(case, "spike", 1, 21)
    diff = out.images["t1"].astype(np.float64) - case.images["t1"]
    power = np.abs(np.fft.fftn(diff)) ** 2
    two_bins = np.sort(power.ravel())[-2:].sum()
    assert two_bins > 0.99 * power.sum()
    # amplitude of the stripes: 2 × level × sum / N
    assert np.abs(diff).max() == pytest.approx(2 * 0.05 * case.images["t1"].mean(), rel=0.02)


def _blob_case(modalities=("t1", "t1c", "flair", "pet")) -> LoadedCase:
    shape, spacing = (32, 32, 24), (1.0, 1.0, 1.0)
    centre = [(s - 1) / 2 for s in shape]
    r = radius_mm(shape, spacing, centre)
    brain = (r < 11).astype(np.uint8)
    blob = (1000 * np.exp(-(r / 2.5) ** 2)).astype(np.float32)
    record = Case("blob", "blob", "s", images=dict.fromkeys(modalities),  # type: ignore[arg-type]
                  reference="t1c")
    return LoadedCase(record, Grid(shape, affine(spacing, (-10, -20, 5))),
                      {m: blob.copy() for m in modalities}, {"brain": brain})


def _centroid_mm(image: np.ndarray, grid: Grid) -> np.ndarray:
    index = np.argwhere(np.ones(image.shape, bool))
    weights = image.ravel().astype(np.float64)
    return grid.affine[:3, :3] @ (weights @ index / weights.sum()) + grid.affine[:3, 3]


def test_misregister_pet_moves_the_blob_by_the_level() -> None:
    case = _blob_case()
    before = _centroid_mm(case.images["pet"], case.grid)
    for level, out in zip(available()["misregister_pet"].levels,
                          _variants(case, "misregister_pet"), strict=True):
        shift = np.linalg.norm(_centroid_mm(out.images["pet"], out.grid) - before)
        assert shift == pytest.approx(level, abs=0.05)
        assert all(np.array_equal(out.images[m], case.images[m]) for m in ("t1", "t1c", "flair"))


def test_misregister_mri_moves_every_sequence_but_the_reference() -> None:
    case = _blob_case()
    before = _centroid_mm(case.images["t1c"], case.grid)
    out = apply_perturbation(case, "misregister_mri", 3, 8)
    assert np.array_equal(out.images["t1c"], case.images["t1c"])
    assert np.array_equal(out.images["pet"], case.images["pet"])
    shifts = {m: _centroid_mm(out.images[m], case.grid) - before for m in ("t1", "flair")}
    for shift in shifts.values():
        assert np.linalg.norm(shift) == pytest.approx(2.0, abs=0.05)
    assert not np.allclose(shifts["t1"], shifts["flair"])  # independent motions


def test_rigid_motion_has_the_level_angle_and_moves_content_accordingly() -> None:
    case = _blob_case(("t1c", "pet"))
    shape = case.grid.shape
    off = radius_mm(shape, (1, 1, 1), (20, 12, 14))
    case.images["pet"][:] = (1000 * np.exp(-(off / 2.0) ** 2)).astype(np.float32)
    seed = 77
    out = apply_perturbation(case, "misregister_pet", 5, seed)
    motion = rigid_motion(rng_for(seed, "pet"), 3.0, 3.0,
                          world_centroid(case.masks["brain"] > 0, case.grid))
    matrix = np.asarray(motion.GetMatrix()).reshape(3, 3)
    angle = np.degrees(np.arccos((np.trace(matrix) - 1) / 2))
    assert angle == pytest.approx(3.0, abs=1e-6)
    assert np.linalg.norm(motion.GetTranslation()) == pytest.approx(3.0, abs=1e-9)
    before = _centroid_mm(case.images["pet"], case.grid)
    expected = np.asarray(motion.TransformPoint(tuple(before)))
    np.testing.assert_allclose(_centroid_mm(out.images["pet"], case.grid), expected, atol=0.1)


@pytest.mark.parametrize("background", [0.0, 5.0])
def test_moving_a_cropped_box_equals_resampling_the_whole_grid(background: float) -> None:
    case = _blob_case(("t1c", "pet"))
    blob = case.images["pet"]
    # a zero background takes the cropped path, a constant one touches the faces
    image = np.where(blob > 1.0, blob, 0).astype(np.float32) + np.float32(background)
    assert (image[0] == 0).all() == (background == 0)
    motion = rigid_motion(np.random.default_rng(3), 3.0, 3.0, np.array([0.0, -5.0, 15.0]))
    source = sitk_grid.to_sitk(image, case.grid)
    whole = sitk_grid.from_sitk(sitk_grid.resample(source, source, motion.GetInverse()))
    np.testing.assert_allclose(move_image(image, case, motion), whole, rtol=1e-6, atol=1e-4)
