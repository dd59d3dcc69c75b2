"""``imagination models check``: a compatibility test before a real run (as MedPerf's).

Runs the package on two demo cases of a small synthetic cohort and says, separately, whether
its inputs were all there, its outputs were readable and valid, they were on the case grid, and
the time per case matched the declared one (within a factor of two).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from imagination.adapters.validation import (
    AdapterCaseError,
    AdapterOutputError,
    MissingModalityError,
    check_inputs,
    check_predictions,
)
from imagination.models.registry import ModelEntry

#: Slower than this factor times the declared time per case fails the timing check.
TIMING_FACTOR = 2.0


@dataclass
class CheckReport:
    """Each aspect's verdict (``None`` = not reached) with its reasons."""

    model_id: str
    aspects: dict[str, bool | None] = field(default_factory=lambda: dict.fromkeys(
        ("image", "inputs", "outputs", "grid", "timing")))
    reasons: list[str] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(v is True for v in self.aspects.values())

    def fail(self, aspect: str, reason: str) -> None:
        self.aspects[aspect] = False
        self.reasons.append(f"{aspect}: {reason}")


def demo_manifest() -> Path:
    """The manifest of a small synthetic demo cohort (made once in the cache)."""
    from imagination.config import SyntheticCohort
    from imagination.engine.bench import ensure_synthetic_cohort

    return ensure_synthetic_cohort(SyntheticCohort(cases=4, sites=1, seed=3, resolution=6.0))


def check_model(entry: ModelEntry, registry_dir: Path, *, n_cases: int = 2,
                manifest: Path | None = None) -> CheckReport:
    """Run ``entry`` on ``n_cases`` cases (of ``manifest``, default the demo cohort) and judge
    inputs, outputs, grid and timing."""
    from imagination.adapters.container import ContainerAdapter
    from imagination.cohort.loading import load_case
    from imagination.cohort.manifest import read_manifest
    from imagination.engine.plan import blinded
    from imagination.errors import InputError

    report = CheckReport(entry.id)
    try:
        adapter = ContainerAdapter(name=entry.id, **entry.adapter_params(registry_dir))
        adapter.prepare()
    except InputError as exc:
        report.fail("image", str(exc))
        return report
    report.aspects["image"] = True
    from imagination.tasks.registry import kind_of

    cohort = read_manifest(manifest or demo_manifest())
    truths = {m for t in entry.tasks for m in kind_of(t).blinding.masks}
    cases = [c for c in cohort.cases() if truths <= set(c.masks)][:n_cases]
    for case in cases:
        loaded = load_case(blinded(case))
        started = time.perf_counter()
        try:
            check_inputs(adapter, loaded)
            predictions = adapter.predict(loaded)
            report.seconds.append(time.perf_counter() - started)
            check_predictions(predictions, adapter, loaded, adapter.tasks)
        except MissingModalityError as exc:
            report.fail("inputs", f"case {case.case_id}: {exc.reason}")
            continue
        except AdapterOutputError as exc:
            aspect = "grid" if "case grid" in exc.reason else "outputs"
            report.aspects["inputs"] = report.aspects["inputs"] is not False
            report.fail(aspect, f"case {case.case_id}: {exc.reason}")
            continue
        except AdapterCaseError as exc:
            report.aspects["inputs"] = report.aspects["inputs"] is not False
            report.fail("outputs", f"case {case.case_id}: {exc.kind}: {exc.reason}")
            continue
        for aspect in ("inputs", "outputs", "grid"):
            if report.aspects[aspect] is None:
                report.aspects[aspect] = True
    if report.seconds:
        mean = sum(report.seconds) / len(report.seconds)
        if entry.expected_s_per_case is None:
            report.aspects["timing"] = True
            report.reasons.append(f"timing: {mean:.1f} s per case (none declared)")
        elif mean > TIMING_FACTOR * entry.expected_s_per_case:
            report.fail("timing", f"{mean:.1f} s per case, more than {TIMING_FACTOR:g} x the "
                                  f"declared {entry.expected_s_per_case:g} s")
        else:
            report.aspects["timing"] = True
            report.reasons.append(f"timing: {mean:.1f} s per case (declared "
                                  f"{entry.expected_s_per_case:g} s)")
    return report
