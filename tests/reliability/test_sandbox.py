"""Blinding enforced where it can be: a sandboxed ``command`` model (bubblewrap) cannot read the
manifest, the labels or the bench config (not even through ``/proc`` of its ancestors) and has
no network; in-process adapters get a case without paths, manifest or truth; the report states
each adapter's blinding."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

from imagination.adapters import sandbox
from imagination.adapters.command import CommandAdapter
from imagination.adapters.registry import describe
from imagination.errors import InputError
from tests.adapters.builders import build_case
from tests.engine.conftest import bench_cohort  # noqa: F401 - the session cohort fixture
from tests.reliability.test_bench_models import REPO, _command, _config
from tests.reliability.test_process_tree import HOSTILE, SMALL

REASON = sandbox.unavailable_reason()
needs_bwrap = pytest.mark.skipif(REASON is not None, reason=f"no sandbox here: {REASON}")


def _probe(*, use_sandbox: bool, secrets: list[Path], needle: str, port: int) -> dict:
    env = {"PROBE_HEX": ":".join(map(str, secrets)).encode().hex(),
           "NEEDLE_HEX": needle.encode().hex(), "WATCH_PID": str(os.getpid()),
           "PROBE_PORT": str(port)}
    adapter = CommandAdapter("probe", [sys.executable, str(HOSTILE), "probe", "{input}",
                                       "{output}"], tasks=["idh"], timeout_s=60,
                             sandbox=use_sandbox, env=env)
    result = adapter.predict(build_case("p1", **SMALL))
    return json.loads(result.logs["stdout"].strip().splitlines()[-1])


@pytest.fixture
def listener():
    """A TCP server on 127.0.0.1 that a program outside a sandbox can reach."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                server.accept()[0].close()
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


@needs_bwrap
def test_a_sandboxed_program_reads_no_manifest_labels_or_config_and_has_no_network(
        tmp_path, listener):
    data = tmp_path / "cohort"
    data.mkdir()
    manifest = data / "manifest.csv"
    manifest.write_text("case_id,subject_id,site,idh\np1,s1,A,mutant\n")
    labels = data / "labels.json"
    labels.write_text('{"p1": "mutant"}')
    config = tmp_path / "bench-secret-config.yaml"
    config.write_text(f"cohort: {{manifests: [{manifest}]}}\n")
    secrets = [manifest, labels, config]
    os.environ["IMAGINATION_TEST_SECRET"] = str(config)  # the harness's own environment
    try:
        # the control: without a sandbox the same program reads everything, sees the harness
        # (and the config path in its environment) and connects
        open_run = _probe(use_sandbox=False, secrets=secrets, needle=str(config),
                          port=listener)
        boxed = _probe(use_sandbox=True, secrets=secrets, needle=str(config), port=listener)
    finally:
        del os.environ["IMAGINATION_TEST_SECRET"]
    assert open_run["readable"] == [str(p) for p in secrets]
    assert open_run["network"] is True and open_run["watched_pid_visible"] is True
    assert open_run["cmdline_hits"]
    assert boxed["readable"] == []
    assert boxed["network"] is False
    assert boxed["watched_pid_visible"] is False  # no ancestor (the harness) is visible
    assert boxed["cmdline_hits"] == []
    assert boxed["visible_pids"] <= 3  # bubblewrap's init and the program


@needs_bwrap
@pytest.mark.slow
def test_a_cheating_model_finds_the_labels_without_a_sandbox_but_not_inside_one(
        tmp_path, bench_cohort):  # noqa: F811
    adapters = [_command("cheat-open", "cheat"),
                {**_command("cheat-boxed", "cheat"), "params": {
                    **_command("cheat-boxed", "cheat")["params"], "sandbox": True}}]
    config = _config(tmp_path, bench_cohort, adapters)
    run = tmp_path / "run"
    # a separate bench process, as a user runs it: its command line names the config
    bench = subprocess.run([sys.executable, "-m", "imagination", "bench", str(config), "--out",
                            str(run), "--quiet"], capture_output=True, text=True, timeout=600,
                           env={**os.environ, "PYTHONPATH": str(REPO / "src")}, check=False)
    assert bench.returncode == 0, bench.stderr
    board = pd.read_csv(run / "leaderboard.csv").set_index(["metric", "adapter"])
    assert board.loc[("auroc", "cheat-open"), "value"] == 1.0  # the cheat works when open
    assert board.loc[("auroc", "cheat-boxed"), "value"] == 0.5  # and fails in the sandbox
    provenance = json.loads((run / "run.json").read_text())["adapters"]
    assert provenance["cheat-boxed"]["blinding"] == "enforced (sandbox)"
    assert provenance["cheat-open"]["blinding"].startswith("by convention")
    assert "enforced (sandbox)" in (run / "report.html").read_text()


def test_sandbox_without_bubblewrap_is_a_clear_input_error(monkeypatch):
    monkeypatch.setattr(sandbox, "bwrap", lambda: None)
    sandbox.unavailable_reason.cache_clear()
    try:
        with pytest.raises(InputError, match="sandbox: true, but bubblewrap is not installed"):
            CommandAdapter("boxed", ["true", "{output}"], tasks=["idh"], sandbox=True)
    finally:
        sandbox.unavailable_reason.cache_clear()


def test_program_folders_are_its_installation_and_its_script_not_system_folders(tmp_path):
    script = tmp_path / "model" / "predict.py"
    script.parent.mkdir()
    script.write_text("")
    folders = sandbox.program_folders([sys.executable, str(script), "{input}", "{output}"])
    assert script.parent in folders
    assert Path(sys.executable).parent.parent in folders  # the (virtual) environment
    assert all(not str(f).startswith(("/usr", "/etc")) for f in folders)


def test_blinding_is_declared_for_every_kind_of_adapter():
    from imagination.adapters.registry import create

    assert describe(create("margin-15mm"))["blinding"] == "by convention (in-process)"
    command = CommandAdapter("cmd", ["true", "{output}"], tasks=["idh"])
    assert describe(command)["blinding"] == "by convention (command without a sandbox)"


def test_in_process_adapters_get_a_sealed_case_without_paths_manifest_or_truth():
    from dataclasses import replace

    from imagination.engine.jobs import sealed

    loaded = build_case("s1", **SMALL)
    case = replace(loaded.case, manifest=Path("/data/cohort/manifest.csv"),
                   images={m: Path(f"/data/cohort/{m}.nii.gz") for m in loaded.images},
                   masks={m: Path(f"/data/cohort/{m}.nii.gz") for m in loaded.masks},
                   labels={"idh": "mutant"})
    seen = sealed(replace(loaded, case=case))
    assert seen.case.manifest is None and seen.case.labels == {}
    for path in (*seen.case.images.values(), *seen.case.masks.values()):
        assert not path.is_absolute() and "/" not in str(path)
    assert set(seen.images) == set(loaded.images) and seen.grid == loaded.grid
    assert seen.case.label_map == loaded.case.label_map
