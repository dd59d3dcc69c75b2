"""Infrastructure errors are clear and resumable: a full disk (a real tiny tmpfs), a read-only
run folder, ``--out`` naming a file: exit 3 (or 2 for a bad argument) with one line saying what
to do, never a traceback; the same command then resumes."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

from imagination.cli.app import run_app
from imagination.runfolder import machine_error
from tests.engine.conftest import bench_cohort  # noqa: F401 - the session cohort fixture
from tests.reliability.test_bench_models import _command

CHEAP = [{"name": "random"}, {"name": "prevalence"}]


def _config(folder: Path, manifest: Path, adapters: list[dict],
            tasks: tuple[str, ...] = ("idh", "recurrence")) -> Path:
    doc = {"name": "infra", "cohort": {"manifests": [str(manifest)]},
           "tasks": list(tasks), "adapters": adapters,
           "statistics": {"n_resamples": 100, "seed": 1}, "crossfit": {"n_folds": 2},
           "executor": {"kind": "local", "workers": 1}}
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _bench(config: Path, out: Path, capsys) -> tuple[int, str]:
    code = run_app(["bench", str(config), "--out", str(out), "--quiet"])
    return code, capsys.readouterr().err


def _one_clear_line(stderr: str) -> str:
    assert "Traceback" not in stderr and "Logging error" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture
def tiny_disk(tmp_path):
    """A 200 KiB tmpfs (root only); grown with ``grow()``."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(mount)],
            capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root): ENOSPC is injected instead below")

    def remount(options: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{options}", str(mount)], check=True)

    yield mount, remount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_out_naming_a_file_is_a_bad_argument_and_touches_nothing(tmp_path, bench_cohort,  # noqa: F811
                                                                capsys):
    config = _config(tmp_path, bench_cohort, CHEAP)
    a_file = tmp_path / "results.txt"
    a_file.write_text("not a folder")
    code, err = _bench(config, a_file, capsys)
    assert code == 2
    line = _one_clear_line(err)
    assert str(a_file) in line and "must be a folder" in line
    code, err = _bench(config, a_file / "run", capsys)
    assert code == 2 and f"{a_file} is a file" in _one_clear_line(err)
    assert a_file.read_text() == "not a folder"


def test_a_read_only_run_folder_exits_3_with_what_to_do(tmp_path, bench_cohort, capsys,  # noqa: F811
                                                        tiny_disk):
    mount, remount = tiny_disk
    remount("ro")
    code, err = _bench(_config(tmp_path, bench_cohort, CHEAP), mount / "run", capsys)
    assert code == 3
    line = _one_clear_line(err)
    assert "read-only" in line and "choose another --out" in line
    assert "run the same command" in line


@pytest.mark.slow
def test_a_full_disk_exits_3_and_the_same_command_resumes(tmp_path, bench_cohort, capsys,  # noqa: F811
                                                          tiny_disk):
    mount, remount = tiny_disk
    config = _config(tmp_path, bench_cohort, CHEAP)
    run = mount / "run"
    code, err = _bench(config, run, capsys)
    assert code == 3
    line = _one_clear_line(err)
    assert "disk is full" in line and "run the same command" in line
    remount("size=64m")
    code, err = _bench(config, run, capsys)
    assert code == 0, err
    assert pd.read_csv(run / "failures.csv").empty
    assert json.loads((run / "run.json").read_text())["jobs"]["total"] == 20


@pytest.mark.slow
def test_a_full_case_folder_stops_the_run_without_recording_a_failure(
        tmp_path, bench_cohort, capsys, tiny_disk, monkeypatch):  # noqa: F811
    mount, remount = tiny_disk
    remount("size=16k")  # not even one image fits
    monkeypatch.setattr(tempfile, "tempdir", str(mount))  # where case folders are made
    config = _config(tmp_path, bench_cohort, [{**_command("model", "fail-on", "none"),
                                              "params": {**_command("model", "fail-on", "none")[
                                                  "params"], "required_modalities": ["t1c"]}}],
                     tasks=("idh",))
    run = tmp_path / "run"
    code, err = _bench(config, run, capsys)
    assert code == 3, err
    line = _one_clear_line(err)
    assert "disk is full" in line and str(mount) in line
    assert not (run / "failures.csv").exists()  # nothing scored, no failure stored
    remount("size=64m")
    code, err = _bench(config, run, capsys)
    assert code == 0, err
    assert pd.read_csv(run / "failures.csv").empty  # every case ran on the second attempt


@pytest.mark.parametrize(("exc", "words"), [
    (OSError(errno.ENOSPC, "No space left on device", "/runs/x/store"), "disk is full"),
    (OSError(errno.EDQUOT, "Disk quota exceeded", "/runs/x"), "quota"),
    (OSError(errno.EROFS, "Read-only file system", "/media/ro"), "read-only"),
    (OSError(errno.EACCES, "Permission denied", "/runs/x"), "permission denied"),
])
def test_machine_errors_are_one_line_saying_what_to_do(exc, words):
    error = machine_error(exc)
    assert error is not None and error.exit_code == 3
    text = str(error)
    assert words in text and exc.filename in text and "run the same command" in text
    assert "\n" not in text


def test_sqlite_full_or_read_only_is_a_machine_error():
    import sqlite3

    full = machine_error(sqlite3.OperationalError("database or disk is full"))
    ro = machine_error(sqlite3.OperationalError("attempt to write a readonly database"))
    assert full is not None and "disk is full" in str(full)
    assert ro is not None and "read-only" in str(ro)
    assert machine_error(ValueError("x")) is None


def test_cli_turns_an_unexpected_os_error_into_exit_3_without_traceback():
    script = ("import errno\n"
              "from imagination.cli.app import app, run_app\n"
              "@app.command('boom')\n"
              "def boom():\n"
              "    raise OSError(errno.ENOSPC, 'No space left on device', '/data/x')\n"
              "raise SystemExit(run_app(['boom']))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=False, env={**os.environ, "PYTHONPATH": str(
                                Path(__file__).resolve().parents[2] / "src")})
    assert result.returncode == 3
    assert "Traceback" not in result.stderr and "disk is full" in result.stderr


def test_disk_full_midway_keeps_finished_jobs_and_the_rerun_reuses_them(
        tmp_path, bench_cohort, capsys, monkeypatch):  # noqa: F811
    from imagination.engine.store import PredictionStore

    real_put = PredictionStore.put
    calls = {"n": 0}

    def filling_put(self, key, record):
        calls["n"] += 1
        if calls["n"] > 7:  # the disk fills after seven stored jobs
            raise OSError(errno.ENOSPC, "No space left on device", str(self.objects / "x.npz"))
        return real_put(self, key, record)

    monkeypatch.setattr(PredictionStore, "put", filling_put)
    config = _config(tmp_path, bench_cohort, CHEAP)
    run = tmp_path / "run"
    code, err = _bench(config, run, capsys)
    assert code == 3
    line = _one_clear_line(err)
    assert "disk is full" in line and "finished jobs are kept" in line
    monkeypatch.setattr(PredictionStore, "put", real_put)
    code, err = _bench(config, run, capsys)
    assert code == 0, err
    jobs = json.loads((run / "run.json").read_text())["jobs"]
    assert (jobs["reused"], jobs["computed"]) == (7, 13)
