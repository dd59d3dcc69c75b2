"""Models die on time and leave nothing: the whole process tree (its own session included),
the temporary case folder, and a bounded log, on a timeout, an exit, or a killed harness."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from imagination.adapters.command import CommandAdapter
from imagination.adapters.process import (
    LOG_LIMIT,
    run_supervised,
    sweep_stale_folders,
)
from imagination.adapters.validation import AdapterTimeoutError
from tests.adapters.builders import build_case

HOSTILE = Path(__file__).with_name("hostile_model.py")
SMALL = {"shape": (14, 12, 10), "centre_mm": (14.0, 12.0, 10.0), "core_radius_mm": 3.0,
         "edema_radius_mm": 6.0}
LINUX = sys.platform.startswith("linux")


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _tree(witness: Path) -> list[int]:
    doc = json.loads(witness.read_text())
    return [doc["model"], doc["child"], doc["grandchild"]]


def _wait_for(condition, within_s: float = 15.0) -> bool:
    """Poll ``condition`` (a bounded wait for an event, not a speed assertion)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _cgroup_available() -> bool:
    return run_supervised(["true"], cwd=Path.cwd(), timeout_s=30).containment == "cgroup"


def _containments() -> list:
    modes = [pytest.param("subreaper", id="subreaper")]
    if LINUX and _cgroup_available():
        modes.insert(0, pytest.param("auto", id="cgroup"))
    else:
        modes.insert(0, pytest.param("auto", id="auto", marks=pytest.mark.skip(
            reason="no writable cgroup v2 here: the subreaper containment is tested")))
    return modes


def _folders(tmp_path: Path) -> tuple[Path, Path, Path]:
    work = tmp_path / "work"
    (work / "input").mkdir(parents=True)
    (work / "output").mkdir()
    return work, work / "input", work / "output"


@pytest.mark.skipif(not LINUX, reason="descendant tracking needs Linux /proc")
@pytest.mark.parametrize("containment", _containments())
def test_a_hung_model_and_its_own_session_children_are_gone_when_the_timeout_returns(
        tmp_path, containment):
    work, inp, out = _folders(tmp_path)
    witness = tmp_path / "witness.json"
    result = run_supervised([sys.executable, str(HOSTILE), "hang", str(inp), str(out),
                             str(witness)], cwd=work, timeout_s=3, containment=containment)
    assert result.outcome == "timeout" and result.timed_out and result.status is None
    assert result.containment == ("cgroup" if containment == "auto" else "subreaper")
    tree = _tree(witness)
    assert len(set(tree)) == 3
    # the promise: nothing of the tree is left when run_supervised returns (no waiting)
    assert [pid for pid in tree if _alive(pid)] == []


@pytest.mark.skipif(not LINUX, reason="descendant tracking needs Linux /proc")
@pytest.mark.parametrize("containment", _containments())
def test_a_model_that_exits_leaving_a_daemon_behind_leaves_nothing(tmp_path, containment):
    work, inp, out = _folders(tmp_path)
    witness = tmp_path / "witness.json"
    result = run_supervised([sys.executable, str(HOSTILE), "daemon", str(inp), str(out),
                             str(witness)], cwd=work, timeout_s=60, containment=containment)
    assert result.outcome == "exited" and result.status == 0
    assert result.left_behind >= 2  # the setsid child and its own child
    assert [pid for pid in _tree(witness) if _alive(pid)] == []
    assert json.loads((out / "predictions.json").read_text())["idh"]["mutant"] == 0.5


def test_logs_are_capped_while_read(tmp_path):
    work, inp, out = _folders(tmp_path)
    result = run_supervised([sys.executable, str(HOSTILE), "flood", str(inp), str(out), "256"],
                            cwd=work, timeout_s=120)
    assert result.outcome == "exited" and result.status == 0
    assert result.log_bytes["stdout"] == 256 << 20
    text = result.logs["stdout"]
    assert len(text) < LOG_LIMIT + 100 and "bytes omitted" in text
    omitted = int(text.split("[... ")[1].split(" bytes")[0])
    assert omitted + text.count("x") == 256 << 20
    # 256 MiB went through the reaper, which held about LOG_LIMIT of it
    assert result.reaper_peak_rss_mb < 64


def test_exit_status_and_missing_program_are_reported(tmp_path):
    done = run_supervised(["sh", "-c", "echo out; echo err >&2; exit 7"], cwd=tmp_path,
                          timeout_s=30)
    assert (done.outcome, done.status, done.logs) == ("exited", 7, {"stdout": "out\n",
                                                                    "stderr": "err\n"})
    missing = run_supervised(["no-such-program-xyz"], cwd=tmp_path, timeout_s=30)
    assert missing.status == 127 and "cannot start no-such-program-xyz" in missing.logs["stderr"]


HARNESS = """
import sys
from pathlib import Path
from imagination.adapters.process import run_supervised
work = Path(sys.argv[1])
run_supervised([sys.executable, sys.argv[2], "hang", str(work / "input"), str(work / "output"),
                sys.argv[3]], cwd=work, timeout_s=600, cleanup=work, containment=sys.argv[4])
"""


@pytest.mark.skipif(not LINUX, reason="parent-death signal and /proc are Linux")
@pytest.mark.parametrize("containment", _containments())
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_killing_the_harness_ends_the_model_tree_and_removes_its_folder(tmp_path, containment,
                                                                       how):
    work, _, _ = _folders(tmp_path)
    witness = tmp_path / "witness.json"
    harness = subprocess.Popen([sys.executable, "-c", HARNESS, str(work), str(HOSTILE),
                                str(witness), containment],
                               env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2]
                                                                    / "src")})
    try:
        assert _wait_for(witness.exists, 60), "the model never started"
        tree = _tree(witness)
        assert all(_alive(pid) for pid in tree)
        harness.send_signal(how)
        harness.wait(30)
        assert _wait_for(lambda: not any(_alive(pid) for pid in tree)), tree
        assert _wait_for(lambda: not work.exists()), "the case folder was left behind"
    finally:
        if harness.poll() is None:
            harness.kill()


def test_command_adapter_timeout_kills_the_tree_and_deletes_the_case_folder(tmp_path):
    witness = tmp_path / "witness.json"
    adapter = CommandAdapter("hung", [sys.executable, str(HOSTILE), "hang", "{input}",
                                      "{output}", str(witness)], tasks=["idh"], timeout_s=3)
    with pytest.raises(AdapterTimeoutError, match="no result within 3 s"):
        adapter.predict(build_case("h1", **SMALL))
    doc = json.loads(witness.read_text())
    assert [pid for pid in _tree(witness) if _alive(pid)] == []
    assert not Path(doc["work"]).exists()
    assert Path(doc["work"]).name.startswith("imagination-hung-")


def test_stale_case_folders_of_dead_owners_are_swept(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"imagination-model-{dead.pid}-abc123"
    (stale / "input").mkdir(parents=True)
    (stale / "input" / "t1c.nii.gz").write_bytes(b"image copy")
    live = tmp_path / f"imagination-model-{os.getppid()}-def456"
    live.mkdir()
    unrelated = tmp_path / "imagination-notes"
    unrelated.mkdir()
    removed = sweep_stale_folders(tmp_path)
    assert removed == [stale] and not stale.exists()
    assert live.exists() and unrelated.exists()
