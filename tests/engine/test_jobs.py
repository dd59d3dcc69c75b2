"""Worker-side jobs: the per-worker case cache never lets one job change another's inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imagination.cohort.manifest import read_manifest
from imagination.config import parse_config
from imagination.engine import jobs
from imagination.engine.bench import build_adapters, cohort_vocabularies
from imagination.engine.plan import build_plan


def test_cached_cases_are_read_only_and_each_job_gets_its_own_dicts(bench_cohort: Path,
                                                                     monkeypatch) -> None:
    config = parse_config({"cohort": {"manifests": [str(bench_cohort)]},
                           "adapters": [{"name": "margin-15mm"}, {"name": "random"}]},
                          base_dir=Path("/"))
    cases = read_manifest(bench_cohort).cases()[:1]
    plan = build_plan(config, cases, build_adapters(config), cohort_vocabularies([bench_cohort]))
    loads: list[str] = []
    real = jobs.open_case
    monkeypatch.setattr(jobs, "open_case", lambda case: loads.append(case.case_id) or real(case))
    jobs._LOADED.clear()
    first, second = (jobs.prepare_case(job) for job in plan[:2])
    assert loads == [cases[0].case_id]  # the second job of the case reuses the load
    assert first.images is not second.images
    first.images.pop("t1c")
    assert "t1c" in second.images
    with pytest.raises(ValueError, match="read-only"):
        second.images["flair"][0, 0, 0] = np.float32(1)
    assert first.images.read() == ["flair"]  # one read, seen by both jobs' mappings
    with pytest.raises(ValueError, match="read-only"):
        first.tissues["wm"][0, 0, 0] = np.float32(1)  # read after the freeze: read-only too
    record = jobs.run_job(plan[0])
    assert record.failure is None and record.outputs["recurrence"] is not None
