"""Docker and Apptainer command lines, checked against a fake runtime that records its argv
(no daemon or Apptainer here), and the pure parts of images and outputs."""

from __future__ import annotations

import itertools
import json
import os
import stat
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from imagination.adapters.container import ContainerAdapter
from imagination.adapters.validation import AdapterOutputError
from imagination.containers.images import read_archive
from imagination.containers.outputs import read_npz_probabilities
from imagination.containers.runtime import Limits, Mount, RunRequest, remove_argv, run_argv
from imagination.errors import InputError

IMAGE_ID = "ab" * 32
FAKE = f"""#!{sys.executable}
import json, os, sys
with open(os.environ["FAKE_RUNTIME_LOG"], "a") as log:
    log.write(json.dumps(sys.argv) + "\\n")
if sys.argv[1:3] == ["image", "inspect"]:
    print("sha256:{IMAGE_ID} []")
"""


@pytest.fixture
def fake_runtimes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in ("docker", "apptainer"):
        program = folder / name
        program.write_text(FAKE)
        program.chmod(program.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "argv.jsonl"
    monkeypatch.setenv("FAKE_RUNTIME_LOG", str(log))
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return log


def calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def pairs(argv: list[str]) -> set[tuple[str, str]]:
    return set(itertools.pairwise(argv))


def test_docker_run_is_hardened(fake_runtimes: Path, case) -> None:  # type: ignore[no-untyped-def]
    adapter = ContainerAdapter(image="example/growth:1", digest=f"sha256:{IMAGE_ID}",
                               layout="predict-gbm", tasks=["recurrence"], runtime="docker",
                               gpus=True, cpus=2, memory_mb=1024, timeout_s=30)
    with pytest.raises(AdapterOutputError, match=r"wrote no 00000\.nii\.gz"):
        adapter.predict(case)
    run = next(c for c in calls(fake_runtimes) if c[1] == "run")
    flags = pairs(run)
    for pair in [("--network", "none"), ("--user", "65534:65534"),
                 ("--security-opt", "no-new-privileges"), ("--cap-drop", "ALL"),
                 ("--cpus", "2"), ("--memory", "1024m"), ("--gpus", "all")]:
        assert pair in flags
    assert "--read-only" in run and "--rm" in run
    volumes = [run[i + 1] for i, a in enumerate(run) if a == "-v"]
    assert any(v.endswith(":/mlcube_io0:ro") for v in volumes)
    assert any(v.endswith(":/mlcube_io1:rw") for v in volumes)
    assert run[-1] == IMAGE_ID  # the pinned image id, never a mutable tag


def test_docker_digest_mismatch_refused(fake_runtimes: Path) -> None:
    with pytest.raises(InputError, match="digest mismatch"):
        ContainerAdapter(image="example/growth:1", digest="sha256:" + "cd" * 32,
                         layout="predict-gbm", tasks=["recurrence"], runtime="docker")
    assert not any(c[1] == "run" for c in calls(fake_runtimes))


def test_apptainer_command_line(fake_runtimes: Path, case) -> None:  # type: ignore[no-untyped-def]
    adapter = ContainerAdapter(image="/images/growth.sif", layout="predict-gbm",
                               tasks=["recurrence"], runtime="apptainer", gpus=True)
    with pytest.raises(AdapterOutputError):
        adapter.predict(case)
    run = calls(fake_runtimes)[-1]
    assert run[1] == "run"
    assert {"--containall", "--no-home", "--nv", "--no-privs", "--cleanenv"} <= set(run)
    assert ("--network", "none") in pairs(run)
    binds = [run[i + 1] for i, a in enumerate(run) if a == "--bind"]
    assert any(b.endswith(":/mlcube_io0:ro") for b in binds)
    assert run[-1] == "/images/growth.sif"


def test_podman_argv_has_timeout_and_cdi_gpus() -> None:
    request = RunRequest(image="x", mounts=(Mount(Path("/a"), "/in"),), timeout_s=9.5,
                         limits=Limits(gpus=True), name="n")
    argv = run_argv("podman", request, program="podman")
    # conmon's own stop comes 15 s after the harness's deadline (10 s, rounded up)
    assert ("--timeout", "25") in pairs(argv)
    assert ("--device", "nvidia.com/gpu=all") in pairs(argv)
    assert ("-v", "/a:/in:ro") in pairs(argv)


def test_archive_with_damaged_config_is_refused(tmp_path: Path) -> None:
    import io

    path = tmp_path / "bad.tar"
    with tarfile.open(path, "w") as tar:
        for name, data in ((f"{'1' * 64}.json", b"{}"), ("manifest.json", json.dumps(
                [{"Config": f"{'1' * 64}.json", "RepoTags": [], "Layers": []}]).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(InputError, match="damaged"):
        read_archive(path)


def test_nnunet_probabilities_follow_simpleitk_order(tmp_path: Path, case) -> None:  # type: ignore[no-untyped-def]
    """nnU-Net saves probabilities in SimpleITK's array order of the input file."""
    from imagination.cohort.nifti import write_nifti

    write_nifti(tmp_path / "c_0000.nii.gz", case.images["t1c"], case.grid.affine)
    sitk_array = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "c_0000.nii.gz")))
    stacked = np.stack([sitk_array / sitk_array.max(), 1 - sitk_array / sitk_array.max()])
    np.savez(tmp_path / "c.npz", probabilities=stacked)
    read = read_npz_probabilities(tmp_path / "c.npz", case)
    np.testing.assert_allclose(read[0], case.images["t1c"] / case.images["t1c"].max(),
                               rtol=1e-6)


def test_run_json_and_report_call_a_container_enforced(fake_runtimes: Path) -> None:
    from imagination.adapters.registry import describe

    adapter = ContainerAdapter(image="example/growth:1", digest=f"sha256:{IMAGE_ID}",
                               layout="predict-gbm", tasks=["recurrence"], runtime="docker")
    # README: the report states `enforced (container)` (was "by convention (in-process)")
    assert describe(adapter)["blinding"] == "enforced (container)"


def test_a_timed_out_container_is_killed_without_a_stop_grace() -> None:
    # podman rm --force would first wait 10 s for SIGTERM (a model's PID 1 may ignore it)
    assert remove_argv("podman", "n", program="podman") == ["podman", "rm", "--force",
                                                            "--time", "0", "n"]
    assert remove_argv("docker", "n", program="docker") == ["docker", "rm", "--force", "n"]
    assert remove_argv("apptainer", "n") is None
