"""A warm run re-reads no voxels for validation unless a file changed."""

from __future__ import annotations

import os
from pathlib import Path

from imagination.cohort.cohort import Cohort
from imagination.cohort.manifest import read_manifest
from imagination.engine import bench


def test_files_are_revalidated_only_when_touched(bench_cohort: Path, tmp_path: Path,
                                                 monkeypatch) -> None:
    calls: list[bool] = []
    real = Cohort.from_manifests.__func__  # type: ignore[attr-defined]

    def spy(cls, paths, *, allow_outside_root=False, check_files=True, workers=1):
        calls.append(check_files)
        return real(cls, paths, allow_outside_root=allow_outside_root, check_files=check_files,
                    workers=workers)

    monkeypatch.setattr(Cohort, "from_manifests", classmethod(spy))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    bench.load_cohort([bench_cohort], run_dir, allow_outside_root=False)
    (run_dir / bench.VALIDATED_FILE).write_text(
        f'{{"fingerprint": "{bench.cohort_fingerprint([bench_cohort])}"}}')
    bench.load_cohort([bench_cohort], run_dir, allow_outside_root=False)
    first_file = next(iter(read_manifest(bench_cohort).cases()[0].images.values()))
    stat = first_file.stat()
    os.utime(first_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    bench.load_cohort([bench_cohort], run_dir, allow_outside_root=False)
    assert calls == [True, False, True]
