"""junit.xml and summary.md from gate results: well-formed for any gate name, failures named."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from imagination.report.gates import GateResult
from imagination.report.junit import junit_xml
from imagination.report.markdown import (
    count,
    fmt,
    gates_markdown,
    markdown_table,
    what_values_are,
)

XML_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cn")), min_size=1,
                   max_size=40)


@given(st.lists(st.tuples(XML_TEXT, st.booleans(), st.floats(allow_nan=True)), max_size=6))
def test_junit_is_well_formed_with_one_testcase_per_gate(specs):
    gates = [GateResult(name, passed, observed, 0.8, f"detail {name}")
             for name, passed, observed in specs]
    root = ET.fromstring(junit_xml(gates, run_name="r&d <demo>").split("\n", 1)[1])
    cases = root.findall("./testsuite/testcase")
    assert [c.get("name") for c in cases] == [name for name, _, _ in specs]
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert failed == [name for name, passed, _ in specs if not passed]
    assert root.get("failures") == str(len(failed)) and root.get("tests") == str(len(specs))


def test_junit_failure_message_has_observed_and_threshold():
    xml = junit_xml([GateResult("idh:auroc >= 0.8 [cnn]", False, 0.7512, 0.8, "FAILED: ...")])
    failure = ET.fromstring(xml.split("\n", 1)[1]).find(".//failure")
    assert failure.get("message") == "idh:auroc >= 0.8 [cnn]: observed 0.7512, threshold 0.8"
    assert failure.text == "FAILED: ..."


def test_gates_markdown_lists_failures_first():
    text = gates_markdown([GateResult("a", True, 0.9, 0.8, "ok"),
                           GateResult("b", False, 0.7, 0.8, "FAILED by 0.1")])
    assert text.startswith("**1 of 2 gates FAILED**")
    lines = text.splitlines()
    assert lines[4] == "| ❌ fail | b | 0.7000 | 0.8000 | FAILED by 0.1 |"
    assert lines[5].startswith("| ✅ pass | a |")
    assert gates_markdown([]) == "No gates were configured."


def test_markdown_table_escapes_pipes():
    assert markdown_table(["a"], [["x|y"]]).splitlines()[2] == "| x\\|y |"


def test_number_formatting():
    assert [fmt(0.12345), fmt(float("nan")), fmt(1.0), fmt(3), fmt(None), fmt(math.inf)] == [
        "0.123", "–", "1.000", "3", "–", "∞"]
    assert [count(58.0), count(float("nan")), count("x")] == ["58", "–", "–"]


def test_characters_xml_cannot_hold_are_replaced():
    xml = junit_xml([GateResult("bad\x01name\ufffe", False, 0.1, 0.2, "m\x00")])
    case = ET.fromstring(xml.split("\n", 1)[1]).find(".//testcase")
    assert case.get("name") == "bad\ufffdname\ufffd"


def test_many_passed_gates_are_folded_but_failures_stay_visible():
    gates = [GateResult(f"g{i}", True, 0.9, 0.8, "ok") for i in range(12)]
    gates.append(GateResult("bad", False, 0.1, 0.8, "FAILED"))
    text = gates_markdown(gates)
    visible, folded = text.split("<details>")
    assert "| ❌ fail | bad |" in visible and "g0" not in visible
    assert "12 passed gates" in folded and "| ✅ pass | g11 |" in folded


def test_each_summary_table_says_what_its_values_are():
    # units and directions as docs/metrics.md states them
    assert what_values_are("auroc") == "AUROC: no unit, higher is better"
    assert what_values_are("hd95").endswith(": mm, lower is better")
    assert what_values_are("coverage_all_model").endswith(": a fraction (0–1), higher is better")
    assert what_values_are("calibration_slope").endswith(": no unit, best at 1")
    assert what_values_are("missed_ml_model").endswith(": mL, lower is better")
