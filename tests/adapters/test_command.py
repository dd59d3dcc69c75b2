"""The command adapter: the example program, and one failure per misbehaving case."""

from __future__ import annotations

import json
import pickle
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from imagination.adapters.command import CommandAdapter
from imagination.adapters.protocol import Predictions
from imagination.adapters.validation import AdapterFailure, safe_predict
from imagination.errors import InputError
from tests.adapters.builders import build_case

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "examples" / "command_adapter" / "demo_model.py"
FLAKY = Path(__file__).with_name("flaky_model.py")
SMALL = {"shape": (14, 12, 10), "centre_mm": (14.0, 12.0, 10.0), "core_radius_mm": 3.0,
         "edema_radius_mm": 6.0}


def test_demo_model_from_examples_returns_valid_predictions():
    adapter = CommandAdapter("demo", [sys.executable, str(DEMO), "{input}", "{output}"],
                             tasks=["idh", "tumor_type", "recurrence"],
                             optional_modalities=["flair"], timeout_s=60)
    case = build_case("demo1", **SMALL)
    result = safe_predict(adapter, case, adapter.tasks)
    assert isinstance(result, Predictions), result
    assert result.outputs["tumor_type"]["meningioma"] == pytest.approx(0.2)
    assert result.outputs["recurrence"].shape == case.grid.shape
    # the demo's map is the FLAIR smoothed in mm: highest inside the bright lesion
    lesion = case.masks["tumor"] > 0
    score = result.outputs["recurrence"]
    assert score[lesion].mean() > score[~lesion].mean()
    assert "demo model: case demo1" in result.logs["stdout"]


def test_inputs_and_request_are_written_as_documented(tmp_path):
    adapter = CommandAdapter("copy", ["cp", "-r", "{input}", "{output}/seen"], tasks=["idh"],
                             required_modalities=["t1c"], masks=["tumor"])
    case = build_case("c7", **SMALL)
    adapter.write_inputs(case, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "mask_tumor.nii.gz", "request.json", "t1c.nii.gz"]
    request = json.loads((tmp_path / "request.json").read_text())
    assert request["case_id"] == "c7"
    assert request["classes"] == {"idh": ["wildtype", "mutant"]}
    assert request["label_map"] == {"1": "NETC", "2": "SNFH", "3": "ET", "4": "RC"}
    import nibabel as nib
    image = nib.load(tmp_path / "t1c.nii.gz")
    np.testing.assert_allclose(image.affine, case.grid.affine)
    np.testing.assert_array_equal(np.asarray(image.dataobj), case.images["t1c"])


def _flaky(timeout_s: float = 2.0) -> CommandAdapter:
    return CommandAdapter("flaky", [sys.executable, str(FLAKY), "{input}", "{output}"],
                          tasks=["idh", "recurrence"], optional_modalities=["flair"],
                          timeout_s=timeout_s)


def test_each_bad_case_is_one_failure_with_its_reason_others_valid():
    adapter = _flaky()
    ids = ["good1", "crash1", "hang1", "nan1", "good2", "shape1", "nojson1", "badjson1"]
    results = {cid: safe_predict(adapter, build_case(cid, **SMALL), adapter.tasks)
               for cid in ids}
    failures = {cid: r for cid, r in results.items() if isinstance(r, AdapterFailure)}
    assert sorted(failures) == sorted(set(ids) - {"good1", "good2"})
    assert failures["crash1"].kind == "error"
    assert "exit status 3" in failures["crash1"].reason
    assert "model exploded" in failures["crash1"].reason
    assert failures["hang1"].kind == "timeout" and "2 s" in failures["hang1"].reason
    assert failures["nan1"].kind == "invalid_output" and "nan" in failures["nan1"].reason
    assert failures["shape1"].kind == "invalid_output"
    assert "not on the case grid" in failures["shape1"].reason
    assert "no predictions.json" in failures["nojson1"].reason
    assert "not valid JSON" in failures["badjson1"].reason
    for cid in ("good1", "good2"):
        assert results[cid].outputs["idh"]["mutant"] == pytest.approx(0.8)
        assert results[cid].outputs["recurrence"].shape == SMALL["shape"]


def _run_in_worker(args):
    adapter, case = args
    return safe_predict(adapter, case, adapter.tasks)


def test_adapter_and_failures_cross_process_boundaries():
    adapter = _flaky()
    assert pickle.loads(pickle.dumps(adapter)).argv == adapter.argv
    cases = [build_case("good3", **SMALL), build_case("crash2", **SMALL)]
    with ProcessPoolExecutor(max_workers=1) as pool:
        good, bad = pool.map(_run_in_worker, [(adapter, c) for c in cases])
    assert isinstance(good, Predictions)
    assert isinstance(bad, AdapterFailure) and bad.kind == "error"


def test_missing_required_modality_is_recorded_not_run():
    adapter = CommandAdapter("needs-pet", ["true", "{output}"], tasks=["idh"],
                             required_modalities=["pet"])
    failure = safe_predict(adapter, build_case("x", pet=False, **SMALL), ["idh"])
    assert isinstance(failure, AdapterFailure) and failure.kind == "missing_modality"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"argv": "python model.py {input} {output}"}, "no shell string"),
    ({"argv": ["python3", "{input}"]}, "{output}"),
    ({"argv": ["no-such-program-xyz", "{output}"]}, "not found"),
    ({"argv": ["true", "{output}"], "tasks": ["colour"]}, "tasks"),
    ({"argv": ["true", "{output}"], "timeout_s": 0}, "timeout_s"),
    ({"argv": ["true", "{output}"], "card": {"colour": "red"}}, "model card"),
])
def test_bad_configuration_is_an_input_error(kwargs, message):
    params = {"name": "bad", "tasks": ["idh"], **kwargs}
    with pytest.raises(InputError, match=message.replace("{", r"\{").replace("}", r"\}")):
        CommandAdapter(**params)
