"""Acceptance, end to end through ``imagination bench``: hung models are gone with their case
folders after a timeout (adapter's own or the config's per-job one, alike) and after SIGTERM
of the bench; ``failure_policy: exclude`` with failures on different cases completes with the
right ``n_failed``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from imagination.cli.app import run_app
from tests.engine.conftest import bench_cohort  # noqa: F401 - the session cohort fixture
from tests.reliability.test_process_tree import HOSTILE, LINUX, _alive, _tree, _wait_for

HUNG_CASE = "synth-003"
REPO = Path(__file__).resolve().parents[2]


def _command(label: str, *args: str, timeout_s: float | None = None, **entry: object) -> dict:
    params: dict = {"name": label, "argv": [sys.executable, str(HOSTILE), args[0], "{input}",
                                            "{output}", *args[1:]], "tasks": ["idh"]}
    if timeout_s is not None:
        params["timeout_s"] = timeout_s
    return {"name": "command", "id": label, "params": params, **entry}


def _config(folder: Path, manifest: Path, adapters: list[dict], **extra: object) -> Path:
    doc = {"name": "reliability", "cohort": {"manifests": [str(manifest)]}, "tasks": ["idh"],
           "adapters": adapters, "statistics": {"n_resamples": 100, "seed": 1},
           "executor": {"kind": "local", "workers": 1}, **extra}
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _failures(run: Path) -> pd.DataFrame:
    return pd.read_csv(run / "failures.csv")


@pytest.mark.slow
@pytest.mark.skipif(not LINUX, reason="descendant tracking needs Linux /proc")
@pytest.mark.parametrize("where", ["adapter", "job"])
def test_hung_model_with_own_session_child_is_gone_after_either_timeout(tmp_path, bench_cohort,  # noqa: F811
                                                                        where):
    witness = tmp_path / "witness.json"
    if where == "adapter":  # the command adapter's own timeout_s
        adapter = _command("hung", "hang-on", HUNG_CASE, str(witness), timeout_s=3)
    else:  # the config's per-job timeout_s (the executor stops the job's worker)
        adapter = _command("hung", "hang-on", HUNG_CASE, str(witness), timeout_s=3600)
        adapter["timeout_s"] = 3
    config = _config(tmp_path, bench_cohort, [adapter])
    run = tmp_path / "run"
    assert run_app(["bench", str(config), "--out", str(run), "--quiet"]) == 0
    failures = _failures(run)
    assert failures[["case_id", "kind"]].values.tolist() == [[HUNG_CASE, "timeout"]]
    tree, work = _tree(witness), Path(json.loads(witness.read_text())["work"])
    assert _wait_for(lambda: not any(_alive(pid) for pid in tree)), tree
    assert _wait_for(lambda: not work.exists()), f"{work} was left behind"
    board = pd.read_csv(run / "leaderboard.csv")
    assert board.loc[board.metric == "auroc", "n_failed"].tolist() == [1]


@pytest.mark.slow
@pytest.mark.skipif(not LINUX, reason="descendant tracking needs Linux /proc")
def test_sigterm_to_the_bench_ends_the_hung_model_tree_and_its_folder(tmp_path, bench_cohort):  # noqa: F811
    witness = tmp_path / "witness.json"
    config = _config(tmp_path, bench_cohort,
                     [_command("hung", "hang-on", "synth-002", str(witness), timeout_s=600)])
    run = tmp_path / "run"
    bench = subprocess.Popen([sys.executable, "-m", "imagination", "bench", str(config),
                              "--out", str(run), "--quiet"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    try:
        assert _wait_for(witness.exists, 120), "the hung case never started"
        tree, work = _tree(witness), Path(json.loads(witness.read_text())["work"])
        bench.send_signal(signal.SIGTERM)
        _, stderr = bench.communicate(timeout=60)
    finally:
        if bench.poll() is None:
            bench.kill()
    assert bench.returncode == 3, stderr
    assert "Traceback" not in stderr and "run the same command" in stderr
    assert _wait_for(lambda: not any(_alive(pid) for pid in tree)), tree
    assert _wait_for(lambda: not work.exists()), f"{work} was left behind"


@pytest.mark.slow
def test_exclude_with_failures_on_different_cases_completes_with_right_n_failed(
        tmp_path, bench_cohort):  # noqa: F811
    adapters = [_command("model-a", "fail-on", "synth-001,synth-004"),
                _command("model-b", "fail-on", "synth-002,synth-005,synth-007")]
    config = _config(tmp_path, bench_cohort, adapters, failure_policy="exclude")
    run = tmp_path / "run"
    assert run_app(["bench", str(config), "--out", str(run), "--quiet"]) == 0
    cohort = pd.read_csv(run / "cohort.csv")
    with_idh = set(cohort.loc[cohort.idh.notna(), "case_id"])
    board = pd.read_csv(run / "leaderboard.csv").set_index(["metric", "adapter"])
    for adapter, failing in (("model-a", {"synth-001", "synth-004"}),
                             ("model-b", {"synth-002", "synth-005", "synth-007"})):
        row = board.loc[("auroc", adapter)]
        assert row.n_failed == len(failing & with_idh)
        assert row.n == len(with_idh - failing)
    failures = _failures(run)
    assert sorted(failures.case_id) == sorted(["synth-001", "synth-004", "synth-002",
                                               "synth-005", "synth-007"])
    comparisons = pd.read_csv(run / "comparisons.csv")
    assert not comparisons.empty
