"""Output validation: what passes, what fails and with which reason; failure records."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagination.adapters.baselines.margin import MarginAdapter
from imagination.adapters.baselines.t2flair_mismatch import T2FlairMismatchAdapter
from imagination.adapters.protocol import Predictions
from imagination.adapters.validation import (
    AdapterCrashError,
    AdapterFailure,
    AdapterOutputError,
    AdapterTimeoutError,
    MissingModalityError,
    check_inputs,
    check_predictions,
    check_probabilities,
)
from tests.adapters.builders import build_case

CASE = build_case(shape=(12, 12, 10), pet=False)
ADAPTER = MarginAdapter()


def _predictions(**kwargs) -> Predictions:
    return Predictions(case_id=CASE.case_id, **kwargs)


def test_valid_classification_and_map_pass():
    preds = _predictions(outputs={"idh": {"wildtype": 0.25, "mutant": 0.75},
                                  "recurrence": np.zeros(CASE.grid.shape, np.float32)})
    check_predictions(preds, ADAPTER, CASE, ["idh", "recurrence"])


@pytest.mark.parametrize(("probs", "reason"), [
    ({"wildtype": float("nan"), "mutant": 0.5}, "nan"),
    ({"wildtype": -0.1, "mutant": 1.1}, "outside [0, 1]"),
    ({"wildtype": 0.5, "mutant": 0.6}, "sum to 1.1"),
    ({"wildtype": 0.5, "mutant": 0.25, "other": 0.25}, "unknown classes ['other']"),
    ({"mutant": 1.0}, "no probability for classes ['wildtype']"),
    ({"wildtype": "0.5", "mutant": 0.5}, "not a number"),
])
def test_bad_probabilities_fail_with_reason(probs, reason):
    with pytest.raises(AdapterOutputError, match=None) as info:
        check_predictions(_predictions(outputs={"idh": probs}), ADAPTER, CASE, ["idh"])
    assert reason in info.value.reason
    assert info.value.kind == "invalid_output"


def test_custom_vocabulary_is_honoured():
    preds = _predictions(outputs={"idh": {"neg": 0.4, "pos": 0.6}})
    check_predictions(preds, ADAPTER, CASE, ["idh"], vocabularies={"idh": ("neg", "pos")})
    with pytest.raises(AdapterOutputError, match="unknown classes"):
        check_predictions(preds, ADAPTER, CASE, ["idh"])


@pytest.mark.parametrize(("score_map", "reason"), [
    (np.zeros((12, 12, 9), np.float32), "not the case grid"),
    (np.full((12, 12, 10), np.nan, np.float32), "1440 non-finite voxels"),
    (np.full((12, 12, 10), np.inf), "non-finite"),
    ([[0.0]], "expected a voxel array"),
    (None, "no score_map returned"),
])
def test_bad_maps_fail_with_reason(score_map, reason):
    with pytest.raises(AdapterOutputError) as info:
        check_predictions(_predictions(outputs={"recurrence": score_map}), ADAPTER, CASE,
                          ["recurrence"])
    assert reason in info.value.reason


def test_missing_task_and_wrong_case_fail():
    with pytest.raises(AdapterOutputError, match="no class_probabilities returned"):
        check_predictions(_predictions(), ADAPTER, CASE, ["mgmt"])
    with pytest.raises(AdapterOutputError, match="not 'c1'"):
        check_predictions(Predictions(case_id="other"), ADAPTER, CASE, [])
    with pytest.raises(AdapterOutputError, match="output for unknown task 'colour'"):
        check_predictions(_predictions(outputs={"colour": {"a": 1.0}}), ADAPTER, CASE, [])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.01, 100.0), min_size=2, max_size=6))
def test_any_normalised_distribution_passes(weights):
    classes = [f"k{i}" for i in range(len(weights))]
    total = sum(weights)
    check_probabilities("t", {c: w / total for c, w in zip(classes, weights, strict=True)},
                        classes)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.01, 100.0), min_size=2, max_size=6), st.floats(0.002, 0.5))
def test_any_distribution_off_by_more_than_tolerance_fails(weights, excess):
    classes = [f"k{i}" for i in range(len(weights))]
    total = sum(weights)
    probs = {c: w / total / (1 + excess) for c, w in zip(classes, weights, strict=True)}
    with pytest.raises(AdapterOutputError, match="sum to"):
        check_probabilities("t", probs, classes)


def test_missing_modality_is_its_own_kind():
    case = build_case(shape=(12, 12, 10), pet=False)
    del case.images["flair"]
    with pytest.raises(MissingModalityError, match="needs flair") as info:
        check_inputs(T2FlairMismatchAdapter(), case)
    assert info.value.kind == "missing_modality"


@pytest.mark.parametrize(("exc", "kind"), [
    (AdapterOutputError("bad"), "invalid_output"),
    (AdapterTimeoutError("slow"), "timeout"),
    (AdapterCrashError("boom"), "error"),
    (MissingModalityError("no pet"), "missing_modality"),
    (ZeroDivisionError("division by zero"), "error"),
])
def test_failure_records_kind_and_reason_and_pickles(exc, kind):
    failure = AdapterFailure.from_exception(exc, case_id="c9", adapter="m")
    assert failure.kind == kind
    assert failure.case_id == "c9" and failure.adapter == "m"
    assert ("division by zero" in failure.reason) if kind == "error" and not isinstance(
        exc, AdapterCrashError) else failure.reason == exc.args[0]
    assert pickle.loads(pickle.dumps(failure)) == failure


def test_case_errors_pickle_with_their_logs():
    exc = AdapterCrashError("exit status 3", logs={"stderr": "trace"})
    clone = pickle.loads(pickle.dumps(exc))
    assert type(clone) is AdapterCrashError
    assert clone.reason == "exit status 3" and clone.logs == {"stderr": "trace"}
