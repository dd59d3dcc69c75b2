"""Tiny test images built without any registry: a busybox-static root file system and one shell
script as entrypoint, written as a `docker save` archive (deterministic, so its image id is
known before loading)."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

SCRIPTS = Path(__file__).parent / "scripts"
BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "cat", "cp", "mkdir", "ls", "od", "tr", "grep", "paste", "awk", "xxd", "head",
           "zcat", "gzip", "dd", "printf", "basename", "test", "[", "touch", "id", "nc", "wget",
           "sleep", "echo", "tail")


def runtime_problem() -> str | None:
    """Why podman cannot run the container tests here, or ``None``."""
    if shutil.which("podman") is None:
        return "podman is not installed (.ci/run installs it as root)"
    if not _is_static():
        return "busybox-static is not installed (a static /bin/busybox is copied into images)"
    done = subprocess.run(["podman", "info", "--format", "{{.Host.OCIRuntime.Name}}"],
                          capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        return f"podman does not work here: {done.stderr.strip()[-300:]}"
    return None


def _is_static() -> bool:
    """A static ELF has no program interpreter (``ld-linux``) near its start."""
    if not BUSYBOX.is_file():
        return False
    head = BUSYBOX.read_bytes()[:8192]
    return head[:4] == b"\x7fELF" and b"ld-linux" not in head


def _add(tar: tarfile.TarFile, name: str, data: bytes | None = None, *, mode: int = 0o755,
         link: str | None = None) -> None:
    info = tarfile.TarInfo(name)
    info.mtime = 0
    info.mode = mode
    if link is not None:
        info.type = tarfile.SYMTYPE
        info.linkname = link
        tar.addfile(info)
    elif data is None:
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def _layer(script: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for folder in ("bin", "etc"):
            _add(tar, folder)
        _add(tar, "tmp", mode=0o1777)
        _add(tar, "bin/busybox", BUSYBOX.read_bytes())
        for applet in APPLETS:
            _add(tar, f"bin/{applet}", link="busybox")
        _add(tar, "bin/lib.sh", (SCRIPTS / "lib.sh").read_bytes())
        _add(tar, "bin/model", (SCRIPTS / script).read_bytes())
        _add(tar, "etc/passwd", b"root:x:0:0::/:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n",
             mode=0o644)
    return buffer.getvalue()


def build_archive(folder: Path, script: str, tag: str) -> tuple[Path, str]:
    """Write ``folder/<tag>.tar`` running ``scripts/<script>``; return (path, image id)."""
    layer = _layer(script)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": "1970-01-01T00:00:00Z",
        "config": {"Entrypoint": ["/bin/model"], "Env": ["PATH=/bin"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": f"imagination test {tag}"}],
    }, sort_keys=True).encode()
    config_hex = hashlib.sha256(config).hexdigest()
    layer_dir = diff_id.removeprefix("sha256:")
    manifest = json.dumps([{"Config": f"{config_hex}.json",
                            "RepoTags": [f"localhost/imagination-test-{tag}:1"],
                            "Layers": [f"{layer_dir}/layer.tar"]}]).encode()
    path = folder / f"{tag}.tar"
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        _add(tar, layer_dir)
        _add(tar, f"{layer_dir}/layer.tar", layer, mode=0o644)
        _add(tar, f"{config_hex}.json", config, mode=0o644)
        _add(tar, "manifest.json", manifest, mode=0o644)
    return path, f"sha256:{config_hex}"
