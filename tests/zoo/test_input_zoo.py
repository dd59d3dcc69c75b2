"""The bad-input zoo, run as a user would: real `imagination validate` / `bench` processes.

Each kind asserts the exit code (2: bad input, nothing run), a message naming the case, column
or file (or the YAML path), and no traceback. The in-process tests next to the code cover every
kind; this is the representative subset end to end.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import yaml

from tests.cohort.builders import case_row, make_affine, write_cohort

pytestmark = pytest.mark.xdist_group("zoo")
TIMEOUT_S = 180


def imagination(*args: str, cwd: Path, measure_memory: bool = False
                ) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a fresh process; with ``measure_memory`` the peak RSS (KiB) is the last
    line of stdout."""
    code = ("import resource, sys\nfrom imagination.cli.app import run_app\n"
            "status = run_app(sys.argv[1:])\n"
            + ("print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
               if measure_memory else "")
            + "sys.exit(status)\n")
    result = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True,
                            text=True, timeout=TIMEOUT_S,
                            env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"})
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    return result


@pytest.fixture
def cohort(tmp_path: Path) -> tuple[Path, list[dict]]:
    rows = [case_row(tmp_path, "c1"), case_row(tmp_path, "c2", site="site_b")]
    return tmp_path, rows


def bench_config(folder: Path, manifest: Path, **changes: object) -> Path:
    doc = {"name": "zoo", "cohort": {"manifests": [str(manifest)]}, "tasks": ["idh"],
           "adapters": [{"name": "prevalence"}], "executor": {"workers": 1}}
    doc.update(changes)
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_case_id_with_traversal(cohort):
    folder, rows = cohort
    rows[1]["case_id"] = "../../outside"
    result = imagination("validate", str(write_cohort(folder, rows)), cwd=folder)
    assert result.returncode == 2
    assert "invalid_id" in result.stdout and "row 2" in result.stdout
    assert "case_id" in result.stdout and "path separator" in result.stdout


def test_adapter_id_with_a_unicode_slash_touches_nothing(cohort):
    folder, rows = cohort
    config = bench_config(folder, write_cohort(folder, rows),
                          adapters=[{"name": "prevalence", "id": "a\u2215..\u2215b"}])
    result = imagination("bench", str(config), "--out", "run", cwd=folder)
    assert result.returncode == 2
    assert "adapters[0].id" in result.stderr and "not a valid name" in result.stderr
    assert not (folder / "run").exists()


def test_alias_bomb_in_a_command_env(cohort):
    folder, rows = cohort
    lines = [f"cohort: {{manifests: [{write_cohort(folder, rows)}]}}",
             "x0: &x0 [a, a, a, a, a, a, a, a, a, a]"]
    lines += [f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 10)}]" for i in range(1, 9)]
    lines += ["adapters:", "  - name: command",
              "    params: {name: m, argv: [x, '{output}'], tasks: [idh], env: {BOMB: *x8}}"]
    (folder / "bench.yaml").write_text("\n".join(lines) + "\n")
    result = imagination("bench", "bench.yaml", "--out", "run", cwd=folder)
    assert result.returncode == 2 and "alias bomb" in result.stderr
    assert "bench.yaml" in result.stderr and not (folder / "run").exists()


def test_duplicate_key_in_the_config(cohort):
    folder, rows = cohort
    config = bench_config(folder, write_cohort(folder, rows))
    config.write_text(config.read_text() + "tasks: [recurrence]\n")
    result = imagination("bench", str(config), "--out", "run", cwd=folder)
    assert result.returncode == 2 and "duplicate key 'tasks'" in result.stderr
    assert not (folder / "run").exists()


def test_fifo_named_nii_gz_does_not_hang_validate(cohort):
    folder, rows = cohort
    os.mkfifo(folder / "c1" / "t2.nii.gz")
    rows[0]["t2"] = "c1/t2.nii.gz"
    result = imagination("validate", "--json", str(write_cohort(folder, rows)), cwd=folder)
    assert result.returncode == 2
    problems = [p for p in yaml.safe_load(result.stdout) if p["code"] == "unreadable_file"]
    assert [(p["case_id"], p["column"]) for p in problems] == [("c1", "t2")]
    assert problems[0]["file"].endswith("c1/t2.nii.gz")
    assert "not a regular file" in problems[0]["message"]


def test_header_claiming_gigabytes(cohort):
    folder, rows = cohort
    image = nib.Nifti1Image(np.zeros((2, 2, 2), np.float32), make_affine())
    image.header.set_data_shape((1024, 1024, 768))
    (folder / "c2" / "t1c.nii.gz").write_bytes(gzip.compress(image.header.binaryblock
                                                             + bytes(68)))
    result = imagination("validate", str(write_cohort(folder, rows)), cwd=folder,
                         measure_memory=True)
    assert result.returncode == 2
    out = " ".join(result.stdout.split())
    assert "implausible_header" in out and "c2" in out and "t1c" in out
    assert int(result.stdout.split()[-1]) < 1024 * 1024  # peak RSS < 1 GiB (3 GiB claimed)


def test_zero_bomb_after_a_valid_image_is_not_inflated(cohort):
    folder, rows = cohort
    path = folder / rows[0]["flair"]
    raw = gzip.decompress(path.read_bytes())
    squeeze = zlib.compressobj(1, zlib.DEFLATED, 31)
    block, parts = bytes(16 * 2**20), [squeeze.compress(raw)]
    parts += [squeeze.compress(block) for _ in range(96)]  # 1.5 GiB of zeros
    path.write_bytes(b"".join(parts) + squeeze.flush())
    result = imagination("validate", str(write_cohort(folder, rows)), cwd=folder,
                         measure_memory=True)
    assert result.returncode == 0, result.stdout
    assert int(result.stdout.split()[-1]) < 1024 * 1024  # peak RSS < 1 GiB


def test_duplicate_csv_column(cohort):
    folder, rows = cohort
    manifest = write_cohort(folder, rows)
    lines = manifest.read_text().splitlines()
    lines = [f"{line},{line.split(',')[3]}" for line in lines]  # the 4th column twice
    manifest.write_text("\n".join(lines) + "\n")
    result = imagination("validate", str(manifest), cwd=folder)
    column = lines[0].split(",")[3]
    assert result.returncode == 2
    assert "duplicate_column" in result.stdout and column in result.stdout
    assert f"{column}.1" not in result.stdout


def test_truth_used_as_input_stops_bench_before_anything_runs(cohort):
    folder, rows = cohort
    rows[0]["mask_recurrence"] = rows[0]["mask_tumor"]
    config = bench_config(folder, write_cohort(folder, rows))
    result = imagination("bench", str(config), "--out", "run", cwd=folder)
    assert result.returncode == 2
    assert "duplicate_file" in result.stderr or "same file" in result.stderr
    assert "c1" in result.stderr and "mask_recurrence" in result.stderr
    assert not (folder / "run" / "store").exists()
