"""Provenance: environment facts and an atomic, readable run.json."""

from __future__ import annotations

import json
import platform
import socket
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from imagination.engine.provenance import collect_environment, read_run_json, write_run_json
from imagination.errors import InputError


def test_environment_names_the_machine_and_the_installed_versions():
    env = collect_environment()
    assert env["python"] == platform.python_version()
    assert env["host"] == socket.gethostname()
    assert env["cpu_usable"] >= 1
    assert env["packages"]["numpy"] == np.__version__
    assert env["packages"]["SimpleITK"] == metadata.version("SimpleITK")
    assert env["packages"]["imagination"] == metadata.version("imagination")
    for name in ("scipy", "nibabel", "scikit-learn", "pandas", "dask"):
        assert env["packages"][name] == metadata.version(name)


def test_run_json_round_trips_numpy_paths_and_sorts_keys(tmp_path: Path):
    provenance = {"seeds": {"bootstrap": np.int64(3)}, "manifest": Path("/data/m.csv"),
                  "config": {"name": "demo"}, "auc": np.float32(0.5)}
    path = write_run_json(tmp_path, provenance)
    text = path.read_text()
    assert json.loads(text) == {"seeds": {"bootstrap": 3}, "manifest": "/data/m.csv",
                                "config": {"name": "demo"}, "auc": 0.5}
    assert text.index('"auc"') < text.index('"config"') < text.index('"manifest"')
    assert read_run_json(tmp_path)["config"]["name"] == "demo"
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]  # no temporary left


def test_unserialisable_value_leaves_no_file(tmp_path: Path):
    with pytest.raises(TypeError, match="cannot serialise"):
        write_run_json(tmp_path, {"x": object()})
    assert list(tmp_path.iterdir()) == []


def test_missing_or_broken_run_json_is_an_input_error(tmp_path: Path):
    with pytest.raises(InputError, match=r"no run\.json"):
        read_run_json(tmp_path)
    (tmp_path / "run.json").write_text("{not json")
    with pytest.raises(InputError, match="cannot read"):
        read_run_json(tmp_path)
