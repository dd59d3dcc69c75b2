"""``pet-btv`` (issue 12 item 20): BTV = TBR >= 1.6 against normal brain, joined with the MRI
core, plus the margin; checked by hand on a constructed case."""

from __future__ import annotations

import numpy as np

from imagination.adapters.baselines.margin import MarginAdapter
from imagination.adapters.baselines.pet_btv import PetBtvAdapter
from imagination.adapters.registry import create
from imagination.adapters.validation import check_predictions
from imagination.cohort.case import Case, Grid, LoadedCase
from imagination.cohort.labelmap import LabelMap

SHAPE = (40, 40, 30)


def _case(with_pet: bool) -> LoadedCase:
    tumour = np.zeros(SHAPE, np.int16)
    tumour[18:22, 18:22, 13:17] = 3  # enhancing core
    images = {"t1c": np.ones(SHAPE, np.float32)}
    if with_pet:
        pet = np.full(SHAPE, 1.0, np.float32)  # normal brain uptake 1
        pet[30:34, 18:22, 13:17] = 1.7  # uptake beyond the MRI core: TBR ~1.7 >= 1.6
        pet[5:8, 5:8, 5:8] = 1.5  # below the threshold: not BTV
        images["pet"] = pet
    case = Case("p", "p", "A", label_map=LabelMap.from_spec("brats2023"))
    return LoadedCase(case, Grid(SHAPE, np.diag([2.0, 2.0, 2.0, 1.0])), images=images,
                      masks={"tumor": tumour, "brain": np.ones(SHAPE, np.uint8)})


def test_btv_joins_the_mri_core_and_uptake_above_1_6() -> None:
    case = _case(with_pet=True)
    adapter = create("pet-btv")
    assert isinstance(adapter, PetBtvAdapter)
    gtv = adapter.target_volume(case)
    core = case.masks["tumor"] == 3
    btv = np.zeros(SHAPE, bool)
    btv[30:34, 18:22, 13:17] = True
    np.testing.assert_array_equal(gtv, core | btv)
    # the plan: everything within 15 mm (mm, 2 mm voxels) of core ∪ BTV, by hand
    idx = np.indices(SHAPE).reshape(3, -1).T * 2.0
    points = np.argwhere(core | btv) * 2.0
    nearest = np.min(np.linalg.norm(idx[:, None, :] - points[None, :, :], axis=2), axis=1)
    np.testing.assert_array_equal(adapter.plan(case).ravel(), nearest <= 15.0)
    preds = adapter.predict(case)
    check_predictions(preds, adapter, case, ["recurrence"])
    assert preds.outputs["recurrence"][32, 20, 15] == 0.0  # inside the BTV: distance 0


def test_without_pet_the_plan_is_the_margin_plan() -> None:
    case = _case(with_pet=False)
    np.testing.assert_array_equal(PetBtvAdapter().plan(case), MarginAdapter().plan(case))
    np.testing.assert_array_equal(PetBtvAdapter().predict(case).outputs["recurrence"],
                                  MarginAdapter().predict(case).outputs["recurrence"])
