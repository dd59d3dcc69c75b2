"""Per-case overhead of the `container` adapter (podman): stage inputs, run, read outputs.

Builds the busybox test image of the `predict-gbm` layout (tests/containers/images.py), runs it
on N small cases and prints the wall time per case and its parts. Not part of the tests.

    python scripts/bench_containers.py [--cases 5] [--shape 48]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.adapters.builders import build_case
from tests.containers.conftest import tissues
from tests.containers.images import build_archive, runtime_problem

from imagination.adapters.container import ContainerAdapter


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=5)
    parser.add_argument("--shape", type=int, default=48, help="voxels per axis")
    args = parser.parse_args()
    problem = runtime_problem()
    if problem:
        print(f"cannot run: {problem}")
        return 2
    folder = Path(tempfile.mkdtemp())
    archive, image_id = build_archive(folder, "predict_gbm.sh", "bench-predict-gbm")
    started = time.perf_counter()
    adapter = ContainerAdapter(image_archive=str(archive), digest=image_id,
                               layout="predict-gbm", tasks=["recurrence"], runtime="podman")
    adapter.prepare()
    print(f"image archive read, loaded and verified in {time.perf_counter() - started:.2f} s")
    n = args.shape
    walls = []
    for index in range(args.cases):
        case = build_case(f"c{index}", shape=(n, n, n), centre_mm=(n * 1.2, n, n))
        case.tissues.update(tissues(case))
        t0 = time.perf_counter()
        adapter.predict(case)
        walls.append(time.perf_counter() - t0)
    print(f"{args.cases} cases of {n}^3 voxels: {statistics.mean(walls):.2f} s per case "
          f"(min {min(walls):.2f}, max {max(walls):.2f}) for stage + podman run + read")
    return 0


if __name__ == "__main__":
    sys.exit(main())
