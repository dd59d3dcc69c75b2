"""Provenance: the machine and software a run used, written to ``RUN_DIR/run.json``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import platform
import socket
import sys
from importlib import metadata
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import psutil

from imagination.atomic import atomic_write_text
from imagination.errors import InputError
from imagination.runfolder import inside

RUN_JSON = "run.json"

#: Distributions whose versions change results or speed (``None`` when not installed).
TRACKED_PACKAGES: tuple[str, ...] = (
    "imagination", "numpy", "scipy", "nibabel", "SimpleITK", "scikit-learn", "pandas", "dask",
    "distributed", "pydantic",
)


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution, ``None`` if absent."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def collect_environment() -> dict[str, Any]:
    """Python, platform, host, CPUs, memory and package versions of this process."""
    return {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "host": socket.gethostname(),
        "cpu_count": os.cpu_count(),
        "cpu_usable": _usable_cpus(),
        "memory_total_mb": round(psutil.virtual_memory().total / 2**20, 1),
        "packages": package_versions(),
        "collected": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def _to_json(value: Any) -> Any:
    """``json.dumps`` fallback for the types provenance naturally holds."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):
        return model_dump(mode="json")
    raise TypeError(f"run.json: cannot serialise a {type(value).__name__}")


def write_run_json(run_dir: Path | str, provenance: dict[str, Any]) -> Path:
    """Write ``provenance`` as ``RUN_DIR/run.json`` (sorted keys, atomic); return the path."""
    text = json.dumps(provenance, indent=2, sort_keys=True, default=_to_json, allow_nan=True)
    return atomic_write_text(inside(run_dir, RUN_JSON), text + "\n")


def read_run_json(run_dir: Path | str) -> dict[str, Any]:
    """The provenance of a run; :class:`InputError` if missing or unreadable."""
    path = Path(run_dir) / RUN_JSON
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no run.json here; is this a run folder?") from exc
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read run.json: {exc}") from exc
    if not isinstance(data, dict):
        raise InputError(f"{path}: run.json must hold a JSON object")
    return data
