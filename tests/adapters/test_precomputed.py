"""The precomputed adapter: exported CSV probabilities and NIfTI maps."""

from __future__ import annotations

import numpy as np
import pytest

from imagination.adapters.precomputed import PrecomputedAdapter
from imagination.adapters.protocol import Predictions
from imagination.adapters.validation import AdapterFailure, safe_predict
from imagination.cohort.nifti import write_nifti
from imagination.errors import InputError
from tests.adapters.builders import build_case

SMALL = {"shape": (14, 12, 10), "centre_mm": (14.0, 12.0, 10.0), "core_radius_mm": 3.0,
         "edema_radius_mm": 6.0}

CSV = """case_id,task,wildtype,mutant,unmethylated,methylated
a,idh,0.2,0.8,,
a,mgmt,,,0.6,0.4
b,idh,0.5,0.5,,
c,idh,0.7,0.7,,
"""


def test_reads_probabilities_and_maps(tmp_path):
    (tmp_path / "export.csv").write_text(CSV)
    case_a = build_case("a", **SMALL)
    score = np.random.default_rng(0).random(case_a.grid.shape).astype(np.float32)
    write_nifti(tmp_path / "maps" / "a.nii.gz", score, case_a.grid.affine)
    adapter = PrecomputedAdapter("vendor", predictions_csv="export.csv", maps_dir="maps",
                                 base_dir=tmp_path)
    assert adapter.tasks == ("idh", "mgmt", "recurrence")
    result = safe_predict(adapter, case_a, adapter.tasks)
    assert isinstance(result, Predictions), result
    assert {t: result.outputs[t] for t in ("idh", "mgmt")} == {
        "idh": {"wildtype": 0.2, "mutant": 0.8},
        "mgmt": {"unmethylated": 0.6, "methylated": 0.4}}
    np.testing.assert_array_equal(result.outputs["recurrence"], score)
    assert len(adapter.params()["predictions_sha256"]) == 64


def test_missing_rows_maps_and_bad_values_fail_only_their_case(tmp_path):
    (tmp_path / "export.csv").write_text(CSV)
    (tmp_path / "maps").mkdir()
    case_b = build_case("b", **SMALL)
    write_nifti(tmp_path / "maps" / "b.nii.gz", np.zeros((3, 3, 3), np.float32),
                case_b.grid.affine)
    adapter = PrecomputedAdapter("vendor", predictions_csv=tmp_path / "export.csv",
                                 maps_dir=tmp_path / "maps", tasks=["idh", "recurrence"])
    only_idh = PrecomputedAdapter("vendor", predictions_csv=tmp_path / "export.csv",
                                  tasks=["idh"])
    wrong_grid = safe_predict(adapter, case_b, adapter.tasks)
    assert isinstance(wrong_grid, AdapterFailure) and "not on the case grid" in wrong_grid.reason
    no_map = safe_predict(adapter, build_case("a", **SMALL), adapter.tasks)
    assert isinstance(no_map, AdapterFailure) and "no score map" in no_map.reason
    bad_sum = safe_predict(only_idh, build_case("c", **SMALL), ["idh"])
    assert isinstance(bad_sum, AdapterFailure) and "sum to 1.4" in bad_sum.reason
    no_row = safe_predict(only_idh, build_case("zz", **SMALL), ["idh"])
    assert isinstance(no_row, AdapterFailure) and "no row for case zz, task idh" in no_row.reason
    assert isinstance(safe_predict(only_idh, build_case("b", **SMALL), ["idh"]), Predictions)


@pytest.mark.parametrize(("text", "message"), [
    ("id,task,a\nx,idh,1\n", "missing columns"),
    ("case_id,task,wildtype\nx,colour,1\n", "line 2: unknown task 'colour'"),
    ("case_id,task,wildtype,mutant\nx,idh,0.5,0.5\nx,idh,0.5,0.5\n", "line 3: second row"),
    ("case_id,task,wildtype,mutant\nx,idh,high,0.5\n", "line 2, column wildtype: 'high'"),
])
def test_malformed_export_is_an_input_error_naming_the_line(tmp_path, text, message):
    (tmp_path / "e.csv").write_text(text)
    with pytest.raises(InputError, match=message):
        PrecomputedAdapter("vendor", predictions_csv=tmp_path / "e.csv")


def test_configuration_errors(tmp_path):
    with pytest.raises(InputError, match="predictions_csv, maps_dir or both"):
        PrecomputedAdapter("vendor")
    with pytest.raises(InputError, match="does not exist"):
        PrecomputedAdapter("vendor", maps_dir=tmp_path / "nope")
