"""The weight-free intensity rule on a constructed phantom with known regions."""

from __future__ import annotations

import numpy as np
import pytest

from imagination.adapters.baselines.intensity_seg import ET, NETC, SNFH, intensity_rule, rule_params
from imagination.errors import CaseError, InputError
from imagination.metrics.segmentation import dice


def _phantom(seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """A 2 mm brain (sphere) with oedema (r 14 mm) around an enhancing rim (r 6-9 mm) and a
    necrotic centre, plus a 2-voxel FLAIR-bright speck far away (below the component size)."""
    shape, sp = (48, 48, 40), 2.0
    grid = np.ogrid[tuple(slice(0, n) for n in shape)]
    r = lambda c: np.sqrt(sum(((g - x) * sp) ** 2 for g, x in zip(grid, c, strict=True)))  # noqa: E731
    brain = r((24, 24, 20)) < 40
    d = r((30, 24, 20))
    truth = np.zeros(shape, np.uint8)
    truth[d < 14] = SNFH
    truth[d < 9] = ET
    truth[d < 6] = NETC
    truth &= brain.astype(np.uint8) * 255
    rng = np.random.default_rng(seed)
    noise = lambda: rng.normal(0, 0.05, shape).astype(np.float32)  # noqa: E731
    base = brain.astype(np.float32)
    flair = base + noise() + 0.6 * (truth > 0)
    flair[10, 24, 20:22] += 3.0  # speck: 2 voxels = 0.016 mL
    t1 = base + noise() - 0.3 * (truth == NETC)
    t1c = t1 + noise() + 0.8 * (truth == ET)
    t2 = base + noise() + 0.05 * (truth > 0) + 0.15 * (truth == NETC)  # oedema z ~1, core ~4
    images = {"flair": flair * brain, "t1": t1 * brain, "t1c": t1c * brain, "t2": t2 * brain}
    return images, brain, truth


def test_rule_recovers_the_phantom_regions() -> None:
    images, brain, truth = _phantom()
    seg = intensity_rule(images, brain, (2.0, 2.0, 2.0), case_id="p")
    assert set(np.unique(seg)) <= {0, NETC, SNFH, ET}
    assert dice(truth > 0, seg > 0) > 0.85
    assert dice(truth == ET, seg == ET) > 0.75
    assert dice(np.isin(truth, (NETC, ET)), np.isin(seg, (NETC, ET))) > 0.8
    assert seg[10, 24, 20] == 0  # the speck is removed by the component size


def test_rule_without_tumour_signal_is_empty_and_bad_inputs_fail_clearly() -> None:
    images, brain, _ = _phantom()
    flat = {k: np.where(brain, 1.0, 0.0).astype(np.float32) + np.random.default_rng(1).normal(
        0, 0.05, brain.shape).astype(np.float32) * brain for k in images}
    assert not intensity_rule(flat, brain, (2.0, 2.0, 2.0), case_id="p", flair_z=4.0).any()
    with pytest.raises(CaseError, match="no intensity variation"):
        intensity_rule({k: brain.astype(np.float32) for k in images}, brain, (2, 2, 2),
                       case_id="p")
    with pytest.raises(InputError, match="min_component_ml"):
        rule_params(min_component_ml=-1.0)


def test_label_map_outputs_are_checked_with_reasons() -> None:
    from imagination.adapters.validation import AdapterOutputError, check_label_map
    from imagination.cohort.case import Case, Grid, LoadedCase
    from imagination.cohort.labelmap import LabelMap

    grid = Grid(shape=(4, 4, 4), affine=np.eye(4))
    case = LoadedCase(case=Case(case_id="c1", subject_id="s1", site="a"), grid=grid)
    b23 = LabelMap.from_spec("brats2023")
    ok = np.zeros((4, 4, 4), np.uint8)
    ok[1, 1, 1] = 3
    assert check_label_map(ok, b23, case).dtype == np.uint8
    as_float = ok.astype(np.float32)
    assert check_label_map(as_float, b23, case).tolist() == ok.tolist()
    bad_nan = as_float.copy()
    bad_nan[0, 0, 0] = np.nan
    cases = [(np.zeros((4, 4, 5), np.uint8), "shape"), (bad_nan, "non-finite"),
             (as_float + 0.5, "non-integer"), (ok + 4 * (ok > 0), "codes \\[7\\] outside"),
             ([0, 1], "expected a label array")]
    for labels, reason in cases:
        with pytest.raises(AdapterOutputError, match=reason):
            check_label_map(labels, b23, case)
