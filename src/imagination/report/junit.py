"""``junit.xml``: one test case per gate, a failure element naming the observed value and bound."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from imagination.report.gates import GateResult

SUITE_NAME = "imagination gates"
#: Characters XML 1.0 cannot hold (control characters, surrogates, U+FFFE/U+FFFF).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def junit_xml(gates: Sequence[GateResult], *, run_name: str = "run") -> str:
    """JUnit XML text (the schema CI systems read: testsuites > testsuite > testcase)."""
    failures = sum(not gate.passed for gate in gates)
    root = ET.Element("testsuites", name=_xml_text(f"imagination {run_name}"),
                      tests=str(len(gates)), failures=str(failures), errors="0")
    suite = ET.SubElement(root, "testsuite", name=SUITE_NAME, tests=str(len(gates)),
                          failures=str(failures), errors="0", skipped="0")
    for gate in gates:
        case = ET.SubElement(suite, "testcase",
                             classname=_xml_text(f"imagination.gates.{run_name}"),
                             name=_xml_text(gate.name))
        if gate.passed:
            ET.SubElement(case, "system-out").text = _xml_text(gate.message)
            continue
        failure = ET.SubElement(
            case, "failure", type="GateFailed",
            message=_xml_text(f"{gate.name}: observed {gate.observed:.4g}, "
                              f"threshold {gate.threshold:.4g}"),
        )
        failure.text = _xml_text(gate.message)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
