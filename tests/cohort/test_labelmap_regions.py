"""Label-map presets for adapter outputs and their translation to the canonical regions."""

from __future__ import annotations

import numpy as np
import pytest

from imagination.cohort.labelmap import LabelMap
from imagination.errors import InputError


@pytest.mark.parametrize(("preset", "regions"), [
    ("brats2021", ("WT", "TC", "ET", "NETC", "SNFH")),
    ("brats2023", ("WT", "TC", "ET", "NETC", "SNFH")),
    ("brats2024_post", ("WT", "TC", "ET", "NETC", "SNFH", "RC")),
    # HD-GLIO's code 1 mixes NETC and SNFH: no tumour core, no NETC/SNFH of its own
    ("hdglio", ("WT", "ET")),
])
def test_presets_define_their_regions(preset: str, regions: tuple[str, ...]) -> None:
    assert LabelMap.from_spec(preset).scored_regions() == regions


def test_region_masks_by_preset() -> None:
    codes = np.array([0, 1, 2, 3, 4], dtype=np.uint8)
    b21 = LabelMap.from_spec("brats2021").region_masks(codes, ["WT", "TC", "ET"])
    assert b21["ET"].tolist() == [False, False, False, False, True]  # ET is 4
    assert b21["TC"].tolist() == [False, True, False, False, True]
    assert b21["WT"].tolist() == [False, True, True, False, True]  # 3 is not a 2021 code
    post = LabelMap.from_spec("brats2024_post").region_masks(codes, ["WT", "RC"])
    assert post["WT"].tolist() == [False, True, True, True, False]  # the cavity is not tumour
    assert post["RC"].tolist() == [False, False, False, False, True]
    hd = LabelMap.from_spec("hdglio").region_masks(np.array([0, 1, 2], np.int32), ["WT", "ET"])
    assert hd["WT"].tolist() == [False, True, True]
    assert hd["ET"].tolist() == [False, False, True]
    with pytest.raises(InputError, match="does not define region TC"):
        LabelMap.from_spec("hdglio").region_masks(codes, ["TC"])


def test_custom_map_with_only_enhancing_defines_only_et() -> None:
    only_et = LabelMap.from_spec({1: "ET"})
    assert only_et.scored_regions() == ("ET",)
    assert not only_et.defines("WT")


def test_translate_between_presets() -> None:
    b21, b23 = LabelMap.from_spec("brats2021"), LabelMap.from_spec("brats2023")
    seg = np.array([[0, 1], [2, 4]], dtype=np.int16)
    assert b21.translate(seg, b23).tolist() == [[0, 1], [2, 3]]
    with pytest.raises(InputError, match="region RC"):
        LabelMap.from_spec("brats2024_post").translate(np.array([4]), b23)
