"""``junit.xml``: one test case per gate, a failure element naming the observed value and bound."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from imagination.report.gates import GateResult

SUITE_NAME = "imagination gates"


def junit_xml(gates: Sequence[GateResult], *, run_name: str = "run") -> str:
    """JUnit XML text (the schema CI systems read: testsuites > testsuite > testcase)."""
    failures = sum(not gate.passed for gate in gates)
    root = ET.Element("testsuites", name=f"imagination {run_name}", tests=str(len(gates)),
                      failures=str(failures), errors="0")
    suite = ET.SubElement(root, "testsuite", name=SUITE_NAME, tests=str(len(gates)),
                          failures=str(failures), errors="0", skipped="0")
    for gate in gates:
        case = ET.SubElement(suite, "testcase", classname=f"imagination.gates.{run_name}",
                             name=gate.name)
        if gate.passed:
            ET.SubElement(case, "system-out").text = gate.message
            continue
        failure = ET.SubElement(
            case, "failure", type="GateFailed",
            message=f"{gate.name}: observed {gate.observed:.4g}, threshold {gate.threshold:.4g}",
        )
        failure.text = gate.message
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
