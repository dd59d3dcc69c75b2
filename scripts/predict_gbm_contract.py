"""Acceptance: PREDICT-GBM's own contract-test image, run unchanged as a `container` adapter.

Fetches the ``predict-gbm`` 0.1.0 wheel with pip (``pip download predict-gbm==0.1.0
--no-deps``), takes ``predict_gbm/data/models/test_model.tar`` out of it, writes a bench config
using it with ``image_archive:`` and ``layout: predict-gbm`` on a synthetic cohort, runs
``imagination bench`` and checks that every case was scored and none failed. Needs network
access to the package index and a container runtime (podman here). Not part of the tests.

    python scripts/predict_gbm_contract.py [--cases 6] [--work DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pandas as pd
import yaml

MEMBER = "predict_gbm/data/models/test_model.tar"


def fetch_archive(work: Path) -> Path:
    wheels = work / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "download", "predict-gbm==0.1.0", "--no-deps",
                    "--dest", str(wheels), "--quiet"], check=True)
    wheel = next(wheels.glob("predict_gbm-0.1.0-*.whl"))
    target = work / "test_model.tar"
    with zipfile.ZipFile(wheel) as archive, archive.open(MEMBER) as source:
        target.write_bytes(source.read())
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=6, help="synthetic cases (at least 4)")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--runtime", default="podman")
    args = parser.parse_args()
    if args.cases < 4:  # a synthetic bench cohort has at least 4 cases (checked before pip)
        parser.error(f"--cases must be at least 4, got {args.cases}")
    work = (args.work or Path(tempfile.mkdtemp(prefix="predict-gbm-contract-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    archive = fetch_archive(work)
    from imagination.containers.images import read_archive

    digest = read_archive(archive).image_id
    print(f"test_model.tar: {archive.stat().st_size} bytes, image id {digest}")
    config = {
        "name": "predict-gbm-contract",
        "cohort": {"synthetic": {"cases": args.cases, "sites": 2, "seed": 11, "resolution": 4}},
        "tasks": ["recurrence"],
        "statistics": {"n_resamples": 200},
        "executor": {"workers": 2},
        "adapters": [
            {"name": "container", "id": "predict-gbm-test-model",
             "params": {"image_archive": archive.name, "digest": digest,
                        "layout": "predict-gbm", "tasks": ["recurrence"],
                        "runtime": args.runtime, "timeout_s": 300}},
            {"name": "margin-15mm"},
        ],
    }
    config_path = work / "bench.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    run_dir = work / "run"
    started = time.perf_counter()
    code = subprocess.call([sys.executable, "-m", "imagination", "bench", str(config_path),
                            "--out", str(run_dir)])
    wall = time.perf_counter() - started
    if code != 0:
        print(f"bench exited {code}")
        return 1
    jobs = pd.read_csv(run_dir / "cost.csv") if (run_dir / "cost.csv").is_file() else None
    failures = pd.read_csv(run_dir / "failures.csv")
    failures = failures[failures.adapter == "predict-gbm-test-model"]
    per_case = pd.read_csv(run_dir / "per_case.csv")
    cohort = pd.read_csv(run_dir / "cohort.csv")
    scored = per_case[(per_case.adapter == "predict-gbm-test-model")
                      & (per_case.metric == "coverage_all_model")]
    planned = sum(1 for _ in yaml.safe_load((run_dir / "plan.json").read_text())["jobs"]
                  if _["adapter"] == "predict-gbm-test-model")
    print(f"cases in cohort: {len(cohort)}; container jobs: {planned}; failed: {len(failures)}; "
          f"cases with a recurrence score: {scored.case_id.nunique()}; wall {wall:.0f} s")
    if jobs is not None:
        print(jobs.to_string(index=False, max_rows=20))
    # run.json names no absolute path: the cases with recurrence truth are those the
    # standard-of-care reference (never failing) was scored on
    reference = per_case[(per_case.adapter == "margin-15mm")
                         & (per_case.metric == "coverage_all_model") & per_case.value.notna()]
    with_truth = reference.case_id.nunique()
    print(f"cases with recurrence truth (gliomas): {with_truth}")
    ok = (planned == len(cohort) and failures.empty
          and scored.case_id.nunique() == with_truth > 0)
    print("PASS: every case ran and was scored, none failed" if ok else "FAIL")
    print(f"run folder: {run_dir}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
