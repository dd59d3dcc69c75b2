"""Shared run directories: the fixture run is written once per session and copied per use."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .fixture_run import write_fixture_run

FAILING_GATE = {"task": "idh", "metric": "auroc", "op": ">=", "value": 0.8,
                "adapter": "prevalence"}


@pytest.fixture(scope="session")
def pristine_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory whose config holds one gate that fails (prevalence AUROC 0.5)."""
    return write_fixture_run(tmp_path_factory.mktemp("runs") / "run", gates=[FAILING_GATE])


@pytest.fixture(scope="session")
def worse_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same study with every adapter less skilful (a regression against pristine_run)."""
    return write_fixture_run(tmp_path_factory.mktemp("runs") / "worse", shift=0.9)


@pytest.fixture
def run_dir(pristine_run: Path, tmp_path: Path) -> Path:
    """A private copy of the fixture run (tests may write reports into it)."""
    return Path(shutil.copytree(pristine_run, tmp_path / "run"))


@pytest.fixture(scope="session")
def reported_run(pristine_run: Path, tmp_path_factory: pytest.TempPathFactory):
    """The fixture run with its reports regenerated once (config gate only)."""
    from imagination.report.regenerate import regenerate

    target = Path(shutil.copytree(pristine_run, tmp_path_factory.mktemp("reported") / "run"))
    return target, regenerate(target)
