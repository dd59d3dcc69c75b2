"""Lazily opened cases: a file is read when its array is first used, never before, and reads
give exactly what the eager loader gives (PET resampling, masks, tissues included)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

import imagination.cohort.loading as loading
from imagination.cohort.case import Case
from imagination.cohort.labelmap import LabelMap
from imagination.cohort.lazy import LazyArrays, copies, freeze, view
from imagination.cohort.loading import load_case, open_case
from imagination.errors import CaseError
from imagination.perturb.registry import apply_perturbation

from .builders import brain_array, image_array, make_affine, tumour_array, write_image

SHAPE = (16, 14, 12)


def _files(tmp_path: Path, **damage: np.ndarray) -> Case:
    """A case with T1c, FLAIR, PET (2 mm grid, resampled), tumour and brain masks and a WM
    map; ``damage`` replaces a file's array (by column) before writing."""
    arrays = {"t1c": image_array(SHAPE), "flair": image_array(SHAPE, seed=1),
              "pet": image_array((9, 8, 7), seed=2), "mask_tumor": tumour_array(SHAPE),
              "mask_brain": brain_array(SHAPE),
              "tissue_wm": np.full(SHAPE, 0.5, dtype=np.float32)}
    arrays.update(damage)
    paths = {}
    for column, array in arrays.items():
        affine = make_affine((2.0, 2.0, 2.0), (-1.0, -1.0, -1.0)) if column == "pet" else None
        dtype = np.uint8 if column.startswith("mask_") else np.float32
        paths[column] = write_image(tmp_path / f"{column}.nii.gz", array.astype(dtype),
                                    affine=affine)
    return Case("c1", "s1", "a", images={m: paths[m] for m in ("t1c", "flair", "pet")},
                masks={"tumor": paths["mask_tumor"], "brain": paths["mask_brain"]},
                tissues={"wm": paths["tissue_wm"]}, label_map=LabelMap.from_spec("brats2021"),
                resample=frozenset({"pet"}), reference="t1c")


def _spy_reads(monkeypatch) -> list[str]:
    reads: list[str] = []
    real = loading.read_volume

    def spy(path, **kwargs):
        reads.append(Path(path).name)
        return real(path, **kwargs)

    monkeypatch.setattr(loading, "read_volume", spy)
    return reads


def test_an_opened_case_reads_each_file_on_first_use_and_equals_the_eager_load(tmp_path,
                                                                                monkeypatch):
    case = _files(tmp_path)
    eager = load_case(case)
    reads = _spy_reads(monkeypatch)
    opened = open_case(case)
    assert reads == []  # headers only
    assert "pet" in opened.images and list(opened.images) == ["t1c", "flair", "pet"]
    assert len(opened.masks) == 2 and reads == []  # membership, order and length read nothing
    assert opened.grid.shape == eager.grid.shape
    np.testing.assert_array_equal(opened.grid.affine, eager.grid.affine)
    assert opened.masks["tumor"].dtype == np.uint8
    assert reads == ["mask_tumor.nii.gz"]
    np.testing.assert_array_equal(opened.images["pet"], eager.images["pet"])  # resampled
    assert opened.images["pet"].shape == SHAPE
    for kind in ("images", "masks", "tissues"):
        ours, theirs = getattr(opened, kind), getattr(eager, kind)
        assert list(ours) == list(theirs)
        for name in theirs:
            assert ours[name].dtype == theirs[name].dtype
            np.testing.assert_array_equal(ours[name], theirs[name])
    assert sorted(reads) == sorted(p.name for p in (*case.images.values(),
                                                      *case.masks.values(),
                                                      *case.tissues.values()))  # each once


def test_damage_inside_a_file_surfaces_only_when_that_file_is_used(tmp_path):
    flair = image_array(SHAPE, seed=1)
    flair[3, 4, 5] = np.nan
    case = _files(tmp_path, flair=flair)
    with pytest.raises(CaseError):
        load_case(case)  # the eager loader refuses the whole case
    opened = open_case(case)
    assert opened.images["t1c"].shape == SHAPE  # an adapter reading T1c only is unaffected
    with pytest.raises(CaseError) as info:
        opened.images["flair"]
    error = info.value
    assert error.code == "nonfinite_voxels" and error.column == "flair"
    assert error.case_id == "c1" and error.file == str(case.images["flair"])


def test_a_files_problems_surface_where_it_is_used_the_reference_at_opening(tmp_path):
    case = _files(tmp_path)
    case.tissues["wm"].unlink()
    opened = open_case(case)  # only the reference's (T1c's) header is read here
    assert "wm" in opened.tissues and opened.images["t1c"].shape == SHAPE
    with pytest.raises(CaseError) as info:
        opened.tissues["wm"]
    assert info.value.code == "missing_file" and info.value.column == "tissue_wm"
    (tmp_path / "b").mkdir()
    other = _files(tmp_path / "b")
    write_image(other.images["flair"], image_array(SHAPE, seed=1),
                affine=make_affine((1.0, 1.0, 1.2)))
    opened = open_case(other)
    with pytest.raises(CaseError, match="differs from the reference t1c") as info:
        opened.images["flair"]
    assert info.value.code == "grid_mismatch" and info.value.column == "flair"
    assert info.value.file == str(other.images["flair"])
    other.images["t1c"].unlink()
    with pytest.raises(CaseError) as info:
        open_case(other)
    assert info.value.code == "missing_file" and info.value.column == "t1c"


def test_a_file_replaced_after_opening_is_refused_not_misplaced(tmp_path):
    case = _files(tmp_path)
    opened = open_case(case)
    write_image(case.images["t1c"], image_array((16, 14, 11), seed=1))  # the reference
    with pytest.raises(CaseError, match="changed after its header was read") as info:
        opened.images["t1c"]
    assert info.value.column == "t1c" and info.value.code == "grid_mismatch"
    write_image(case.images["flair"], image_array((16, 14, 11), seed=1))
    with pytest.raises(CaseError, match="differs from the reference t1c") as info:
        opened.images["flair"]  # checked against the grid the case was opened with
    assert info.value.column == "flair" and info.value.code == "grid_mismatch"


def test_copies_share_reads_but_not_names():
    calls: list[str] = []

    def loader(name: str, value: float):
        return lambda: calls.append(name) or np.full((2, 2), value, dtype=np.float32)

    arrays = LazyArrays({"a": loader("a", 1.0), "b": loader("b", 2.0)})
    other = view(arrays)
    assert isinstance(other, LazyArrays) and other is not arrays
    assert float(other["a"][0, 0]) == 1.0 and float(arrays["a"][1, 1]) == 1.0
    assert calls == ["a"]  # read once, seen through both
    del other["b"]
    other["c"] = np.zeros((2, 2), dtype=np.float32)
    assert list(arrays) == ["a", "b"] and list(other) == ["a", "c"]
    assert arrays.read() == ["a"] and repr(arrays) == "LazyArrays(a=read, b=unread)"
    freeze(arrays)
    assert not arrays["a"].flags.writeable and not arrays["b"].flags.writeable  # b on reading
    assert other["c"].flags.writeable  # a name of the other mapping only
    assert calls == ["a", "b"]


def test_lazy_copies_read_and_copy_only_what_is_used():
    calls: list[str] = []
    source = np.arange(8, dtype=np.float32).reshape(2, 2, 2)
    arrays = LazyArrays({"t1": lambda: calls.append("t1") or source,
                         "pet": lambda: calls.append("pet") or source + 1})
    new = np.zeros((2, 2, 2), dtype=np.float32)
    copied = copies(arrays, {"t1": new}, drop=["nothing"])
    assert calls == [] and copied["t1"] is new
    pet = copied["pet"]
    assert calls == ["pet"]
    np.testing.assert_array_equal(pet, source + 1)
    assert not np.shares_memory(pet, arrays["pet"])  # a copy, as for an eager case
    plain = copies({"t1": source, "pet": source}, drop=["pet"])
    assert list(plain) == ["t1"] and not np.shares_memory(plain["t1"], source)


def test_a_perturbed_opened_case_equals_the_perturbed_eager_case_and_skips_pet(tmp_path,
                                                                              monkeypatch):
    case = _files(tmp_path)
    eager = apply_perturbation(load_case(case), "noise", 2, 7, {})
    reads = _spy_reads(monkeypatch)
    lazy = apply_perturbation(open_case(case), "noise", 2, 7, {})
    assert "pet.nii.gz" not in reads and "tissue_wm.nii.gz" not in reads
    for kind in ("images", "masks", "tissues"):
        ours, theirs = getattr(lazy, kind), getattr(eager, kind)
        assert list(ours) == list(theirs)
        for name in theirs:
            np.testing.assert_array_equal(ours[name], theirs[name])
    assert "pet.nii.gz" in reads  # read when the comparison used it


def test_an_unread_lazy_mapping_pickles_and_reads_in_the_other_process(tmp_path):
    opened = open_case(_files(tmp_path))
    restored = pickle.loads(pickle.dumps(opened.images))
    np.testing.assert_array_equal(restored["pet"], load_case(opened.case).images["pet"])


@pytest.mark.parametrize("dtype", ["<i2", "u1", "<f4", ">f4", "<f8", ">i2"])
@pytest.mark.parametrize("scaled", [False, True])
def test_read_only_reading_gives_nibabels_values_with_or_without_scaling(tmp_path, dtype,
                                                                          scaled):
    import nibabel as nib

    rng = np.random.default_rng(4)
    data = (rng.random((7, 6, 5)) * 100).astype(dtype)
    image = nib.Nifti1Image(data, make_affine((1.0, 2.0, 3.0)))
    image.header.set_data_dtype(np.dtype(dtype))
    if scaled:
        image.header.set_slope_inter(0.5, -3.0)
    path = tmp_path / "x.nii.gz"
    nib.save(image, path)
    kind = "mask" if dtype == "u1" and not scaled else "image"
    expected = loading.read_volume(path, kind=kind).array
    view = loading.read_volume(path, kind=kind, writable=False).array
    np.testing.assert_array_equal(view, expected)
    assert view.dtype == expected.dtype
    np.testing.assert_allclose(expected, np.asarray(nib.load(path).get_fdata()), rtol=1e-6)
    if dtype in ("<f4", "u1") and not scaled:
        assert not view.flags.writeable  # the inflated bytes themselves, no copy


def test_dict_operations_that_need_no_array_read_none():
    import copy
    import threading
    import time

    calls: list[str] = []

    def slow(name: str):
        def load():
            time.sleep(0.05)
            calls.append(name)
            return np.zeros(3, dtype=np.float32)
        return load

    arrays = LazyArrays({"a": slow("a"), "b": slow("b")})
    merged = arrays | {"c": np.ones(3, dtype=np.float32)}
    shallow = copy.copy(arrays)
    del shallow["b"]
    assert list(merged) == ["a", "b", "c"] and list(arrays) == ["a", "b"]
    merged.clear()
    assert len(merged) == 0 and calls == []  # nothing was read for any of that
    threads = [threading.Thread(target=lambda: arrays["a"]) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == ["a"]  # eight threads racing for one file read it once


def test_a_damaged_file_an_upstream_model_reads_is_the_cases_error_not_the_models(tmp_path):
    from imagination.engine.chaining import feed_upstream

    flair = image_array(SHAPE, seed=1)
    flair[2, 2, 2] = np.inf
    opened = open_case(_files(tmp_path, flair=flair))

    class Upstream:
        def predict(self, case):
            return case.images["flair"]

    with pytest.raises(CaseError) as info:
        feed_upstream(opened, Upstream(), "seg-a")
    assert info.value.column == "flair" and info.value.code == "nonfinite_voxels"
