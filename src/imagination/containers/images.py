"""Container images: saved archives (``docker save`` format), loading once, pinned digests.

An image is identified by its **image id**, the SHA-256 of its configuration document. For a
saved archive it is computed from the archive itself (``manifest.json`` names the config file)
before anything is loaded, so a wrong ``digest:`` is refused before any case runs; after loading,
the runtime must report the same id. For a named image the runtime's id, or one of its registry
digests (``name@sha256:...``), must equal the pinned ``digest:``.
"""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from imagination.containers.runtime import RuntimeName, command_output, executable
from imagination.errors import InputError

_DIGEST: Final = re.compile(r"^(sha256:)?[0-9a-f]{64}$")
#: Largest manifest or config document read from an archive.
_MAX_DOC_BYTES: Final[int] = 4 * 1024 * 1024


def normalise_digest(value: str) -> str:
    """``sha256:<64 hex>`` from a digest written with or without the prefix."""
    text = str(value).strip().lower()
    if not _DIGEST.match(text):
        raise InputError(f"digest {value!r} is not sha256:<64 hex digits>")
    return text if text.startswith("sha256:") else f"sha256:{text}"


@dataclass(frozen=True)
class ArchiveInfo:
    """What a saved image archive declares."""

    path: Path
    image_id: str
    tags: tuple[str, ...]


def _member_bytes(archive: tarfile.TarFile, name: str, path: Path) -> bytes:
    try:
        member = archive.getmember(name)
    except KeyError:
        raise InputError(f"image archive {path}: no {name} inside (is it `docker save` "
                         "output?)") from None
    if not member.isfile() or member.size > _MAX_DOC_BYTES:
        raise InputError(f"image archive {path}: {name} is not a small regular file")
    handle = archive.extractfile(member)
    assert handle is not None
    return handle.read()


def read_archive(path: Path) -> ArchiveInfo:
    """The image id (SHA-256 of the config document, checked against its name) and tags."""
    if not path.is_file():
        raise InputError(f"image archive {path}: file not found")
    try:
        with tarfile.open(path, "r:*") as archive:
            manifest = json.loads(_member_bytes(archive, "manifest.json", path))
            if not isinstance(manifest, list) or len(manifest) != 1 \
                    or not isinstance(manifest[0], dict) or "Config" not in manifest[0]:
                raise InputError(f"image archive {path}: manifest.json must describe exactly "
                                 "one image")
            config_name = str(manifest[0]["Config"])
            config = _member_bytes(archive, config_name, path)
    except (tarfile.TarError, OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"image archive {path}: not a readable image tar: {exc}") from None
    image_id = "sha256:" + hashlib.sha256(config).hexdigest()
    stem = Path(config_name).name.removesuffix(".json").removeprefix("sha256:")
    if re.fullmatch(r"[0-9a-f]{64}", stem) and f"sha256:{stem}" != image_id:
        raise InputError(f"image archive {path}: its config {config_name} does not hash to its "
                         f"name ({image_id}): the archive is damaged")
    tags = tuple(str(t) for t in manifest[0].get("RepoTags") or ())
    return ArchiveInfo(path=path, image_id=image_id, tags=tags)


def check_pinned(declared: str | None, actual: str, what: str,
                 also: tuple[str, ...] = ()) -> None:
    """Refuse an image whose id (or registry digest among ``also``) differs from ``declared``."""
    if declared is None:
        return
    pinned = normalise_digest(declared)
    if pinned != actual and pinned not in also:
        raise InputError(f"{what}: digest mismatch: the config pins {pinned}, the image is "
                         f"{actual}{' (registry digests ' + ', '.join(also) + ')' if also else ''}"
                         "; refusing to run it")


def _program(runtime: RuntimeName) -> str:
    program = executable(runtime)
    if program is None:
        raise InputError(f"container runtime {runtime} is not installed (not on PATH)")
    return program


def inspect_image(runtime: RuntimeName, reference: str) -> tuple[str, tuple[str, ...]] | None:
    """(image id, registry digests) of a local image, or ``None`` when it is not present."""
    if runtime == "apptainer":
        return None
    status, out, _ = command_output([_program(runtime), "image", "inspect", "--format",
                                     "{{.Id}} {{json .RepoDigests}}", reference], timeout_s=60)
    if status != 0 or not out.strip():
        return None
    first, _, rest = out.strip().partition(" ")
    try:
        repo_digests = json.loads(rest) or []
    except json.JSONDecodeError:
        repo_digests = []
    digests = tuple(normalise_digest(d.rpartition("@")[2]) for d in repo_digests
                    if "@" in str(d) and _DIGEST.match(str(d).rpartition("@")[2]))
    return normalise_digest(first.split()[0]), digests


def load_archive(runtime: RuntimeName, info: ArchiveInfo) -> str:
    """Load ``info``'s archive unless its image id is already present; return the reference
    to run (the image id for OCI runtimes, the archive path for apptainer)."""
    if runtime == "apptainer":
        return f"docker-archive://{info.path}"
    present = inspect_image(runtime, info.image_id.removeprefix("sha256:"))
    if present is not None and present[0] == info.image_id:
        return info.image_id.removeprefix("sha256:")
    status, _, err = command_output([_program(runtime), "load", "-i", str(info.path)])
    if status != 0:
        raise InputError(f"image archive {info.path}: `{runtime} load` failed: "
                         f"{err.strip()[-800:]}")
    present = inspect_image(runtime, info.image_id.removeprefix("sha256:"))
    if present is None or present[0] != info.image_id:
        raise InputError(f"image archive {info.path}: after `{runtime} load` the runtime does "
                         f"not hold image {info.image_id}")
    return info.image_id.removeprefix("sha256:")


def resolve_named(runtime: RuntimeName, image: str, digest: str | None) -> str:
    """Check a named image is present locally (no pulls at run time) and matches its pin."""
    if runtime == "apptainer":
        if digest is not None and Path(image).is_file():
            actual = "sha256:" + _file_sha256(Path(image))
            check_pinned(digest, actual, f"image {image}")
        return image
    present = inspect_image(runtime, image)
    if present is None:
        raise InputError(f"image {image} is not present in {runtime}; pull or load it first "
                         "(nothing is downloaded at run time)")
    image_id, repo_digests = present
    check_pinned(digest, image_id, f"image {image}", repo_digests)
    return image_id.removeprefix("sha256:")


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
