"""Privacy by default: no absolute path and no env value anywhere a run writes; `runs show`
and `runs list` only read and survive a broken run folder."""

from __future__ import annotations

import shutil
import sqlite3
import zipfile
from pathlib import Path

import pytest

from imagination.cli.app import run_app
from imagination.engine.runs import list_runs
from tests.engine.conftest import model_adapter, write_config
from tests.engine.test_runs import make_run

SECRET = "s3cret-token-0123456789"


def _every_text(run: Path) -> dict[str, str]:
    """Each file of the run folder as text: SQLite rows, every member of every npz object."""
    out: dict[str, str] = {}
    for path in sorted(p for p in run.rglob("*") if p.is_file()):
        name = str(path.relative_to(run))
        if path.suffix == ".npz":
            with zipfile.ZipFile(path) as archive:
                out[name] = " ".join(archive.read(m).decode("latin-1")
                                     for m in archive.namelist())
        elif path.name == "index.sqlite":
            conn = sqlite3.connect(path)
            tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_master "
                                                 "WHERE type = 'table'")]
            out[name] = repr([conn.execute(f"SELECT * FROM {t}").fetchall() for t in tables])
            conn.close()
        else:
            out[name] = path.read_bytes().decode("latin-1")
    return out


@pytest.fixture(scope="module")
def private_run(bench_cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run whose cohort lies under a folder named like a patient, with a secret env."""
    folder = tmp_path_factory.mktemp("private")
    cohort = folder / "Doe_John_1960"
    shutil.copytree(bench_cohort.parent, cohort)
    model = model_adapter("model", "flaky")  # crashes, NaNs and timeouts: failure reasons
    model["params"]["env"] = {"API_TOKEN": SECRET}
    model["params"]["timeout_s"] = 3
    config = write_config(folder, cohort / bench_cohort.name, [{"name": "margin-15mm"}, model],
                          tasks=["idh", "recurrence"])
    manifest = cohort / bench_cohort.name
    lines = manifest.read_text().splitlines()  # an unknown column: a warning in bench.log
    manifest.write_text("\n".join([lines[0] + ",notes", *(f"{x},n" for x in lines[1:])]) + "\n")
    assert run_app(["bench", str(config), "--out", str(folder / "run"), "--quiet"]) == 0
    return folder


def test_no_absolute_path_and_no_env_value_in_any_output(private_run: Path):
    texts = _every_text(private_run / "run")
    assert {"run.json", "report.html", "store/index.sqlite", "failures.csv", "bench.log"} <= set(
        texts)
    assert "unknown column 'notes'" in texts["bench.log"]
    for name, text in texts.items():
        assert str(private_run) not in text, f"{name} holds an absolute path"
        assert SECRET not in text, f"{name} holds the env value"
    assert "API_TOKEN" in texts["run.json"]  # the name is published, the value is not
    assert len(texts["failures.csv"].splitlines()) > 1  # failure reasons were checked too


def test_store_digests_are_keyed_by_paths_relative_to_the_manifest(private_run: Path):
    conn = sqlite3.connect(private_run / "run" / "store" / "index.sqlite")
    paths = [p for (p,) in conn.execute("SELECT path FROM file_digests")]
    conn.close()
    assert paths and all(not p.startswith("/") and "Doe_John" not in p for p in paths)
    assert all("@" in p for p in paths)  # device:inode, so two cohorts never share an entry


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def test_runs_show_and_list_write_nothing(private_run: Path, capsys):
    run = private_run / "run"
    before = _snapshot(run)
    assert run_app(["runs", "show", str(run)]) == 0
    assert run_app(["runs", "list", str(private_run)]) == 0
    assert _snapshot(run) == before
    # a store without its objects folder (e.g. copied index only) is not "repaired" either
    bare = private_run / "bare"
    make_run(bare, name="bare", created="2026-01-01T00:00:00+00:00", stored=[0], failed=[])
    shutil.rmtree(bare / "store" / "objects")
    assert run_app(["runs", "show", str(bare)]) == 0
    assert not (bare / "store" / "objects").exists()
    assert "6 missing" in capsys.readouterr().out


def test_one_corrupt_run_does_not_hide_the_others(tmp_path: Path, capsys):
    make_run(tmp_path / "good", name="good", created="2026-01-01T00:00:00+00:00",
             stored=[0, 1], failed=[])
    make_run(tmp_path / "bad", name="bad", created="2026-01-02T00:00:00+00:00", stored=[0],
             failed=[])
    (tmp_path / "bad" / "store" / "index.sqlite").write_bytes(b"not a database" * 100)
    (tmp_path / "worse").mkdir()
    (tmp_path / "worse" / "run.json").write_text("{ broken")
    summaries = {s.run_dir.name: s for s in list_runs(tmp_path)}
    assert summaries["good"].state == "4 missing" and summaries["good"].error is None
    assert summaries["bad"].state == "unreadable" and "store index" in summaries["bad"].error
    assert summaries["worse"].state == "unreadable" and "run.json" in summaries["worse"].error
    assert run_app(["runs", "list", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "good" in out and "unreadable:" in out and "Traceback" not in out
