"""Every example config in examples/ runs as copied (issue 12 #16, #18)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from imagination.cli.app import run_app

ROOT = Path(__file__).parents[2]
pytestmark = pytest.mark.xdist_group("examples")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("examples-cache")


@pytest.mark.parametrize(("example", "adapter"), [("precomputed", "vendor-export"),
                                                  ("command_adapter", "demo-model")])
def test_example_config_runs_as_copied(example: str, adapter: str, cache: Path,
                                       tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("IMAGINATION_CACHE", str(cache))
    monkeypatch.chdir(tmp_path)  # not the example's folder: paths resolve against the config
    config = ROOT / "examples" / example / "bench.yaml"
    code = run_app(["bench", str(config), "--out", "run", "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert pd.read_csv(tmp_path / "run" / "failures.csv").empty
    board = pd.read_csv(tmp_path / "run" / "leaderboard.csv")
    assert adapter in set(board.adapter)
