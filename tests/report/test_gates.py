"""Gates: parsing, thresholds (both directions, interval bounds) and baseline drops, checked
against hand-computed leaderboards."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagination.errors import InputError
from imagination.report.gates import (
    Baseline,
    Requirement,
    evaluate_baseline,
    evaluate_gates,
    evaluate_requirement,
    parse_requirement,
    requirement_from_config,
)

COLUMNS = ["task", "metric", "adapter", "value", "ci_low", "ci_high"]


def board(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS)


BOARD = board([
    ("idh", "auroc", "cnn", 0.84, 0.78, 0.90),
    ("idh", "auroc", "age_lr", 0.79, 0.71, 0.86),
    ("idh", "brier", "cnn", 0.12, 0.09, 0.15),
    ("idh", "brier", "age_lr", 0.19, 0.16, 0.22),
    ("idh", "calibration_slope", "cnn", 1.30, 0.9, 1.7),
    ("mgmt", "auroc", "cnn", float("nan"), float("nan"), float("nan")),
])


def gates(spec: str) -> dict[str, tuple[bool, float]]:
    return {g.name.split("[")[1].rstrip("]"): (g.passed, g.observed)
            for g in evaluate_requirement(BOARD, parse_requirement(spec))}


def test_parse_plain_requirement():
    req = parse_requirement("idh:auroc>=0.80")
    assert req == Requirement("idh", "auroc", ">=", 0.80, None, "value")


def test_parse_options_and_spaces():
    req = parse_requirement(" idh : brier <= 0.2 , adapter=cnn, on=ci_high")
    assert (req.task, req.metric, req.op, req.value, req.adapter, req.on) == (
        "idh", "brier", "<=", 0.2, "cnn", "ci_high")


@pytest.mark.parametrize("spec", [
    "idh auroc>=0.8", "idh:auroc=>0.8", "idh:auroc>=", "idh:auroc>=high",
    "idh:auroc>=0.8,on=median", "idh:auroc>=0.8,colour=red", "idh:auroc>=0.8,adapter=",
])
def test_malformed_requirements_are_input_errors(spec):
    with pytest.raises(InputError, match="gate"):
        parse_requirement(spec)


def test_requirement_without_adapter_gives_one_gate_per_adapter():
    assert gates("idh:auroc>=0.80") == {"cnn": (True, 0.84), "age_lr": (False, 0.79)}


def test_lower_is_better_metric_uses_the_written_operator():
    assert gates("idh:brier<=0.15") == {"cnn": (True, 0.12), "age_lr": (False, 0.19)}


def test_interval_bound_gate_reads_ci_low():
    # cnn's value 0.84 passes >= 0.80 but its lower bound 0.78 does not
    assert gates("idh:auroc>=0.80,adapter=cnn,on=ci_low") == {"cnn": (False, 0.78)}


def test_strict_operator_at_equality_fails():
    assert gates("idh:auroc>0.84,adapter=cnn") == {"cnn": (False, 0.84)}
    assert gates("idh:auroc>=0.84,adapter=cnn") == {"cnn": (True, 0.84)}


def test_failure_message_says_by_how_much():
    (result,) = evaluate_requirement(BOARD, parse_requirement("idh:auroc>=0.80,adapter=age_lr"))
    assert not result.passed and result.threshold == 0.80
    assert "0.79" in result.message and "0.01" in result.message


def test_undefined_value_fails():
    (result,) = evaluate_requirement(BOARD, parse_requirement("mgmt:auroc>=0.5"))
    assert not result.passed and math.isnan(result.observed) and "NaN" in result.message


@pytest.mark.parametrize("spec, word", [
    ("grade:auroc>=0.8", "task 'grade'"), ("idh:dice>=0.8", "metric 'dice'"),
    ("idh:auroc>=0.8,adapter=nnunet", "adapter 'nnunet'"),
])
def test_unknown_names_are_input_errors(spec, word):
    with pytest.raises(InputError, match=word):
        evaluate_requirement(BOARD, parse_requirement(spec))


def test_configured_adapter_without_any_result_fails_instead_of_erroring():
    (result,) = evaluate_requirement(BOARD, parse_requirement("idh:auroc>=0.8,adapter=nnunet"),
                                     configured=["cnn", "age_lr", "nnunet"])
    assert not result.passed and math.isnan(result.observed) and "no auroc result" in \
        result.message


def test_config_gate_fields_map_to_a_requirement():
    req = requirement_from_config({"task": "idh", "metric": "auroc", "op": ">", "value": 0.7,
                                   "adapter": "cnn", "on": "ci_low"})
    assert req == Requirement("idh", "auroc", ">", 0.7, "cnn", "ci_low")
    with pytest.raises(InputError, match="config gate"):
        requirement_from_config({"task": "idh", "metric": "auroc", "op": "==", "value": 1})


def baseline_gates(old: list[tuple], new: list[tuple], max_drop: float = 0.02):
    results = evaluate_baseline(board(new), Baseline(board(old), max_drop))
    return {(g.name.split(": ")[1]): g for g in results}


def row(metric: str, adapter: str, value: float) -> tuple:
    return ("idh", metric, adapter, value, value, value)


def test_baseline_drop_of_higher_is_better_metric():
    result = baseline_gates([row("auroc", "cnn", 0.85), row("auroc", "lr", 0.80)],
                            [row("auroc", "cnn", 0.82), row("auroc", "lr", 0.79)])
    assert not result["idh:auroc [cnn]"].passed          # dropped 0.03 > 0.02
    assert result["idh:auroc [cnn]"].threshold == pytest.approx(0.83)
    assert "0.03" in result["idh:auroc [cnn]"].message
    assert result["idh:auroc [lr]"].passed               # dropped 0.01


def test_baseline_rise_of_lower_is_better_metric_is_a_drop():
    result = baseline_gates([row("brier", "cnn", 0.10), row("brier", "lr", 0.20)],
                            [row("brier", "cnn", 0.13), row("brier", "lr", 0.05)])
    assert not result["idh:brier [cnn]"].passed          # Brier rose by 0.03: worse
    assert result["idh:brier [cnn]"].threshold == pytest.approx(0.12)
    assert result["idh:brier [lr]"].passed               # Brier fell: better


def test_baseline_target_metric_compares_distance_to_ideal():
    # calibration slope ideal 1: 1.05 -> 0.92 moves 0.03 farther away; 1.30 -> 0.90 is closer
    result = baseline_gates([row("calibration_slope", "cnn", 1.05),
                             row("calibration_slope", "lr", 1.30)],
                            [row("calibration_slope", "cnn", 0.92),
                             row("calibration_slope", "lr", 0.90)])
    assert not result["idh:calibration_slope [cnn]"].passed
    assert result["idh:calibration_slope [lr]"].passed


def test_baseline_only_compares_rows_present_in_both_and_exact_limit_passes():
    result = baseline_gates([row("auroc", "cnn", 0.80), row("auroc", "old_only", 0.9)],
                            [row("auroc", "cnn", 0.78), row("auroc", "new_only", 0.1)])
    assert list(result) == ["idh:auroc [cnn]"] and result["idh:auroc [cnn]"].passed


def test_baseline_value_becoming_undefined_fails():
    result = baseline_gates([row("auroc", "cnn", 0.80)], [row("auroc", "cnn", float("nan"))])
    assert not result["idh:auroc [cnn]"].passed


def test_negative_max_drop_is_an_input_error():
    with pytest.raises(InputError, match="max-drop"):
        baseline_gates([row("auroc", "cnn", 0.8)], [row("auroc", "cnn", 0.8)], max_drop=-0.1)


def test_evaluate_gates_combines_requirements_and_baseline():
    results = evaluate_gates(BOARD, [parse_requirement("idh:auroc>=0.5,adapter=cnn")],
                             baseline=Baseline(BOARD, 0.0))
    # one requirement + one baseline gate per comparable (task, metric, adapter) row
    assert len(results) == 1 + 5 and all(g.passed for g in results)


values = st.floats(min_value=-5, max_value=5, allow_nan=False)


@given(observed=values, threshold=values, op=st.sampled_from([">=", "<=", ">", "<"]))
def test_requirement_passes_exactly_when_the_comparison_holds(observed, threshold, op):
    table = board([("t", "auroc", "a", observed, observed, observed)])
    (result,) = evaluate_requirement(table, Requirement("t", "auroc", op, threshold))
    expected = {">=": observed >= threshold, "<=": observed <= threshold,
                ">": observed > threshold, "<": observed < threshold}[op]
    assert result.passed is expected


@given(old=values, new=values, max_drop=st.floats(min_value=0, max_value=2),
       metric=st.sampled_from(["auroc", "brier"]))
def test_baseline_passes_exactly_when_the_worsening_is_within_max_drop(old, new, max_drop,
                                                                       metric):
    worse = old - new if metric == "auroc" else new - old
    (result,) = evaluate_baseline(
        board([("t", metric, "a", new, new, new)]),
        Baseline(board([("t", metric, "a", old, old, old)]), max_drop))
    if abs(worse - max_drop) > 1e-9:
        assert result.passed is (worse <= max_drop)
