"""Loading: RAS+ reorientation, grid checks, PET resampling, dtypes and bad voxels."""

from __future__ import annotations

import itertools
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from imagination.cohort.case import Case
from imagination.cohort.labelmap import LabelMap
from imagination.cohort.loading import load_case, load_grid, read_volume, resample_onto
from imagination.cohort.nifti import write_nifti
from imagination.errors import CaseError

from .builders import image_array, make_affine, tumour_array, write_image

SPACING = (1.0, 2.0, 3.0)
ORIGIN = (-4.0, 5.0, 7.5)


def reoriented(array: np.ndarray, affine: np.ndarray, perm: tuple[int, ...],
               flips: tuple[bool, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The same image stored with axes permuted and flipped (hand-built affine, no nibabel)."""
    data = array.transpose(perm)
    new = np.eye(4)
    new[:3, 3] = affine[:3, 3]
    for k, axis in enumerate(perm):
        new[:3, k] = affine[:3, axis]
    for k, flip in enumerate(flips):
        if flip:
            data = np.flip(data, axis=k)
            new[:3, 3] += new[:3, k] * (data.shape[k] - 1)
            new[:3, k] = -new[:3, k]
    return np.ascontiguousarray(data), new


def test_lps_image_and_its_ras_twin_load_to_the_same_array(tmp_path):
    ras = image_array((6, 5, 4))
    affine = make_affine(SPACING, ORIGIN)
    lps = ras[::-1, ::-1, :]
    lps_affine = affine.copy()
    lps_affine[0, 0], lps_affine[1, 1] = -1.0, -2.0
    lps_affine[0, 3] = ORIGIN[0] + 1.0 * 5   # world x of LPS voxel 0 = RAS voxel 5
    lps_affine[1, 3] = ORIGIN[1] + 2.0 * 4
    a = read_volume(write_image(tmp_path / "ras.nii.gz", ras, affine=affine))
    b = read_volume(write_image(tmp_path / "lps.nii.gz", lps, affine=lps_affine))
    np.testing.assert_array_equal(a.array, ras)
    np.testing.assert_array_equal(b.array, ras)
    np.testing.assert_allclose(b.grid.affine, affine, atol=1e-6)
    assert b.grid.shape == (6, 5, 4)


@settings(max_examples=24, deadline=None)
@given(perm=st.permutations([0, 1, 2]), flips=st.tuples(st.booleans(), st.booleans(),
                                                         st.booleans()))
def test_any_axis_order_loads_to_the_ras_array(tmp_path_factory, perm, flips):
    ras = image_array((5, 4, 3), seed=3)
    affine = make_affine(SPACING, ORIGIN)
    data, stored_affine = reoriented(ras, affine, tuple(perm), flips)
    path = write_image(tmp_path_factory.mktemp("o") / "img.nii", data, affine=stored_affine)
    volume = read_volume(path)
    np.testing.assert_array_equal(volume.array, ras)
    np.testing.assert_allclose(volume.grid.affine, affine, atol=1e-6)
    assert volume.grid.spacing == pytest.approx(SPACING)
    assert load_grid(path).shape == (5, 4, 3)


def _case(tmp_path: Path, **files: Path) -> Case:
    images = {k: v for k, v in files.items() if not k.startswith("mask_")}
    masks = {k.removeprefix("mask_"): v for k, v in files.items() if k.startswith("mask_")}
    return Case("c1", "s1", "a", images=images, masks=masks,
                label_map=LabelMap.from_spec("brats2021"), resample=frozenset({"pet"}),
                reference="t1c")


# T1c: 1 mm grid at the origin. PET: 2 mm grid stored LPS, covering the T1c field with margin.
T1C_SHAPE = (16, 14, 12)
PET_SHAPE = (12, 11, 10)
PET_ORIGIN_RAS = np.array([-3.7, -3.3, -3.6])
BLOB_CENTRE = np.array([8.1, 6.9, 5.2])


def _pet_ras() -> tuple[np.ndarray, np.ndarray]:
    affine = make_affine((2.0, 2.0, 2.0), PET_ORIGIN_RAS)
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in PET_SHAPE], indexing="ij"), axis=-1)
    world = ijk * 2.0 + PET_ORIGIN_RAS
    blob = np.exp(-((world - BLOB_CENTRE) ** 2).sum(-1) / (2 * 3.0**2)) * 100.0
    return blob.astype(np.float32), affine


def _t1c_world_in_pet_voxels() -> np.ndarray:
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in T1C_SHAPE], indexing="ij"), axis=0)
    return (ijk - PET_ORIGIN_RAS[:, None, None, None]) / 2.0  # T1c affine is the identity


def test_pet_on_a_coarser_lps_grid_is_resampled_onto_the_t1c_grid(tmp_path):
    pet, pet_affine = _pet_ras()
    pet_lps, lps_affine = reoriented(pet, pet_affine, (0, 1, 2), (True, True, False))
    t1c = write_image(tmp_path / "t1c.nii.gz", image_array(T1C_SHAPE))
    flair = write_image(tmp_path / "flair.nii.gz", image_array(T1C_SHAPE, seed=1))
    pet_path = write_image(tmp_path / "pet.nii.gz", pet_lps, affine=lps_affine)
    loaded = load_case(_case(tmp_path, t1c=t1c, flair=flair, pet=pet_path))

    assert loaded.grid.shape == T1C_SHAPE
    np.testing.assert_allclose(loaded.grid.affine, np.eye(4))
    resampled = loaded.images["pet"]
    assert resampled.shape == T1C_SHAPE and resampled.dtype == np.float32
    # reference: trilinear interpolation by SciPy at the T1c voxel centres in PET voxel space
    expected = ndimage.map_coordinates(pet, _t1c_world_in_pet_voxels(), order=1)
    np.testing.assert_allclose(resampled, expected, rtol=1e-5, atol=1e-4)
    # and the blob peaks at its world position (8.1, 6.9, 5.2) -> T1c voxel (8, 7, 5)
    assert np.unravel_index(np.argmax(resampled), T1C_SHAPE) == (8, 7, 5)


def test_mask_resampling_is_nearest_neighbour_and_keeps_integer_codes():
    mask = tumour_array(PET_SHAPE)
    pet_affine = make_affine((2.0, 2.0, 2.0), PET_ORIGIN_RAS)
    from imagination.cohort.case import Grid

    out = resample_onto(mask, Grid(PET_SHAPE, pet_affine), Grid(T1C_SHAPE, np.eye(4)),
                        nearest=True)
    expected = ndimage.map_coordinates(mask, np.rint(_t1c_world_in_pet_voxels()), order=0)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, expected)
    assert set(np.unique(out)) <= {0, 1, 2, 4}


def test_mri_sequences_on_different_grids_are_an_error_naming_both(tmp_path):
    t1c = write_image(tmp_path / "t1c.nii.gz", image_array((8, 8, 6)))
    flair = write_image(tmp_path / "flair.nii.gz", image_array((8, 8, 6)),
                        affine=make_affine((1.0, 1.0, 1.2)))
    with pytest.raises(CaseError) as info:
        load_case(_case(tmp_path, t1c=t1c, flair=flair))
    error = info.value
    assert error.code == "grid_mismatch" and error.column == "flair"
    assert error.file == str(flair)
    assert "t1c" in str(error) and "flair" in str(error) and str(t1c) in str(error)
    assert "spacing" in str(error) and "0.2" in str(error)


def test_origin_shift_names_the_property_and_the_amount(tmp_path):
    t1c = write_image(tmp_path / "t1c.nii.gz", image_array((8, 8, 6)))
    seg = write_nifti(tmp_path / "seg.nii.gz", tumour_array((8, 8, 6)),
                      make_affine(origin=(0.0, 2.5, 0.0)), dtype=np.uint8)
    with pytest.raises(CaseError, match=r"origin .*max diff 2\.5 mm") as info:
        load_case(_case(tmp_path, t1c=t1c, mask_tumor=seg))
    assert info.value.column == "mask_tumor"


def test_images_are_float32_with_scaling_applied_and_masks_are_small_integers(tmp_path):
    raw = np.arange(9 * 9 * 7, dtype=np.int16).reshape(9, 9, 7)
    image = nib.Nifti1Image(raw, np.eye(4))
    image.header.set_slope_inter(0.5, 10.0)
    nib.save(image, tmp_path / "t1c.nii.gz")
    seg = write_nifti(tmp_path / "seg.nii.gz", tumour_array((9, 9, 7)).astype(np.float32),
                      np.eye(4))
    loaded = load_case(_case(tmp_path, t1c=tmp_path / "t1c.nii.gz", mask_tumor=seg))
    assert loaded.images["t1c"].dtype == np.float32
    np.testing.assert_allclose(loaded.images["t1c"], raw * 0.5 + 10.0)
    assert loaded.masks["tumor"].dtype == np.uint8
    assert int(loaded.region("WT").sum()) == 7**3 and int(loaded.region("TC").sum()) == 5**3


def test_a_trailing_singleton_fourth_axis_is_squeezed(tmp_path):
    data = image_array((6, 5, 4))[..., None]
    assert read_volume(write_image(tmp_path / "x.nii.gz", data)).array.shape == (6, 5, 4)


@pytest.mark.parametrize(("value", "code"), [(np.nan, "nonfinite_voxels"),
                                             (np.inf, "nonfinite_voxels")])
def test_nonfinite_voxels_are_an_error(tmp_path, value, code):
    data = image_array((6, 5, 4))
    data[1, 2, 3] = value
    with pytest.raises(CaseError) as info:
        read_volume(write_image(tmp_path / "x.nii.gz", data), case_id="c9", column="t2")
    assert info.value.code == code and "1 non-finite" in str(info.value)
    assert "c9" in str(info.value) and "t2" in str(info.value)


def test_fractional_mask_values_are_an_error(tmp_path):
    seg = tumour_array((8, 8, 6)).astype(np.float32)
    seg[0, 0, 0] = 0.5
    path = write_nifti(tmp_path / "seg.nii.gz", seg, np.eye(4))
    with pytest.raises(CaseError) as info:
        read_volume(path, kind="mask")
    assert info.value.code == "non_integer_mask"


def test_load_grid_reads_only_the_header(tmp_path):
    path = write_image(tmp_path / "x.nii.gz", image_array((30, 30, 20)),
                       affine=make_affine(SPACING, ORIGIN))
    truncated = tmp_path / "cut.nii.gz"
    payload = path.read_bytes()
    truncated.write_bytes(payload[: len(payload) // 2])
    grid = load_grid(truncated)  # the voxels are gone, the header is intact
    assert grid.shape == (30, 30, 20) and grid.spacing == pytest.approx(SPACING)
    with pytest.raises(CaseError) as info:
        read_volume(truncated)
    assert info.value.code == "truncated_gzip"


def test_every_file_is_read_once_per_load(tmp_path, monkeypatch):
    import imagination.cohort.loading as loading

    t1c = write_image(tmp_path / "t1c.nii.gz", image_array((6, 5, 4)))
    flair = write_image(tmp_path / "flair.nii", image_array((6, 5, 4)))
    calls: list[str] = []
    real_load, real_gunzip = nib.load, loading.bounded_gunzip
    monkeypatch.setattr(nib, "load", lambda p, *a, **k: calls.append(str(p)) or real_load(p))
    monkeypatch.setattr(loading, "bounded_gunzip",
                        lambda payload, size: calls.append("gunzip") or real_gunzip(payload, size))
    loaded = load_case(_case(tmp_path, t1c=t1c, flair=flair))
    # the .nii.gz is decompressed in one call from memory; the plain .nii goes through nibabel
    assert sorted(calls) == sorted(["gunzip", str(flair)])
    np.testing.assert_array_equal(loaded.images["t1c"], real_load(t1c).get_fdata())


def test_the_in_memory_reader_equals_nibabel_and_falls_back_on_damage(tmp_path):
    from imagination.cohort.loading import _read_bounded

    def _open_in_memory(path):
        return _read_bounded(path, {"case_id": None, "column": None, "file": str(path)})

    path = write_image(tmp_path / "x.nii.gz", image_array((7, 6, 5)))
    opened = _open_in_memory(path)
    assert opened is not None
    fast = opened[0]
    np.testing.assert_array_equal(np.asarray(fast.dataobj), np.asarray(nib.load(path).dataobj))
    np.testing.assert_array_equal(fast.affine, nib.load(path).affine)
    damaged = tmp_path / "cut.nii.gz"
    damaged.write_bytes(path.read_bytes()[:-40])
    assert _open_in_memory(damaged) is None  # the checked reader then names the damage
    with pytest.raises(CaseError) as info:
        read_volume(damaged)
    assert info.value.code == "truncated_gzip"


def test_orientation_helper_builds_true_twins():
    """The test helper itself: a voxel keeps its world position under any reorientation."""
    array = image_array((3, 4, 5))
    affine = make_affine(SPACING, ORIGIN)
    for perm in itertools.permutations(range(3)):
        data, new = reoriented(array, affine, perm, (True, False, True))
        idx = np.unravel_index(np.argmax(data), data.shape)
        orig = np.unravel_index(np.argmax(array), array.shape)
        np.testing.assert_allclose(new @ [*idx, 1], affine @ [*orig, 1])
