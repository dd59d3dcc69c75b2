"""Label maps, regions and grids (existing contracts), checked against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from imagination.cohort.case import Case, Grid, LoadedCase
from imagination.cohort.labelmap import LabelMap
from imagination.errors import InputError

from .builders import make_affine


def test_brats2021_regions_by_hand():
    seg = np.array([0, 1, 2, 4, 4, 2, 0])
    labels = LabelMap.from_spec("brats2021")
    assert labels.region_mask(seg, "ET").tolist() == [0, 0, 0, 1, 1, 0, 0]
    assert labels.region_mask(seg, "TC").tolist() == [0, 1, 0, 1, 1, 0, 0]
    assert labels.region_mask(seg, "WT").tolist() == [0, 1, 1, 1, 1, 1, 0]
    assert labels.region_mask(seg, "SNFH").tolist() == [0, 0, 1, 0, 0, 1, 0]


def test_same_codes_mean_different_regions_in_different_conventions():
    seg = np.array([3, 4])
    post = LabelMap.from_spec("brats2024_post")
    assert post.region_mask(seg, "ET").tolist() == [True, False]
    assert post.region_mask(seg, "RC").tolist() == [False, True]
    assert LabelMap.from_spec("brats2021").unknown_codes(seg) == [3]


@given(arrays(np.uint8, (4, 5), elements=st.integers(0, 5)))
def test_wt_is_the_union_of_its_parts_and_tc_is_inside_wt(seg):
    labels = LabelMap.from_spec("brats2023")
    wt, tc = labels.region_mask(seg, "WT"), labels.region_mask(seg, "TC")
    parts = [labels.region_mask(seg, r) for r in ("ET", "NETC", "SNFH")]
    np.testing.assert_array_equal(wt, np.logical_or.reduce(parts))
    assert not (tc & ~wt).any()
    assert sorted(set(labels.unknown_codes(seg))) == sorted({int(c) for c in seg.ravel()} - {0, 1,
                                                                                            2, 3})


@pytest.mark.parametrize("spec", ["brats1999", {0: "ET"}, {1: "EDEMA"}, {"x": "ET"}])
def test_bad_label_maps_are_input_errors(spec):
    with pytest.raises(InputError, match="label map"):
        LabelMap.from_spec(spec)


def test_grid_differences_name_property_and_amount():
    a = Grid((4, 4, 4), make_affine((1, 1, 1)))
    assert a.differences(Grid((4, 4, 4), make_affine((1, 1, 1)))) == []
    (spacing,) = a.differences(Grid((4, 4, 4), make_affine((1, 1, 1.5))))
    assert spacing == "spacing (1.0, 1.0, 1.5) vs (1.0, 1.0, 1.0) mm (max diff 0.5 mm)"
    (shape,) = a.differences(Grid((4, 4, 5), make_affine()))
    assert shape == "shape (4, 4, 5) vs (4, 4, 4)"
    flipped = make_affine()
    flipped[0, 0] = -1
    assert any("orientation" in d for d in a.differences(Grid((4, 4, 4), flipped)))
    assert a.spacing == (1.0, 1.0, 1.0)
    assert Grid((2, 2, 2), make_affine((2, 2, 2))).voxel_volume_ml == pytest.approx(0.008)


def test_loaded_case_regions_and_brain_fallback():
    case = Case("c", "s", "a", label_map=LabelMap.from_spec("brats2021"))
    image = np.zeros((3, 3, 3), np.float32)
    image[1, 1, 1] = 5.0
    seg = np.zeros((3, 3, 3), np.uint8)
    seg[0, 0, 0], seg[1, 1, 1] = 2, 4
    loaded = LoadedCase(case, Grid((3, 3, 3), np.eye(4)), images={"t1c": image},
                        masks={"tumor": seg})
    assert int(loaded.region("WT").sum()) == 2 and int(loaded.region("ET").sum()) == 1
    assert int(loaded.brain().sum()) == 1
    no_map = LoadedCase(Case("c", "s", "a"), loaded.grid, masks={"tumor": seg})
    with pytest.raises(InputError, match="no label map"):
        no_map.region("WT")
