"""The built-in "measured" gates: a benchmark that measured nothing does not pass.

``run.json["failures"]`` (written by the bench) holds, per adapter, the number of cases of its
clean jobs and the cases whose clean job failed. An adapter that failed on every case gives a
failing gate (exit 1, :data:`imagination.errors.EXIT_GATE_FAILED`), listed with the others in
``junit.xml`` and the reports; adapters that measured something add no gate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from imagination.report.gates import GateResult


def measured_gates(run: Mapping[str, Any]) -> list[GateResult]:
    """One failing gate per adapter whose every clean case failed."""
    failures = run.get("failures") or {}
    out = []
    for adapter, entry in failures.items():
        if not isinstance(entry, Mapping):
            continue
        planned = int(entry.get("cases") or 0)
        failed = list(entry.get("failed") or [])
        if planned and len(failed) >= planned:
            out.append(GateResult(
                f"measured something [{adapter}]", False, 0.0, 1.0,
                f"FAILED: {adapter} failed on all {planned} case(s), so nothing was measured "
                f"(see `imagination runs show RUN_DIR` for the reasons)"))
    return out
