"""The README's example bench config runs as copied (issue 12 #16): extracted from README.md
verbatim, beside the files it names (three manifests under data/, the model under models/)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

from imagination.cli.app import run_app
from imagination.cohort.manifest import read_manifest, write_manifest

ROOT = Path(__file__).parents[2]
MARKER = "# my_bench.yaml (paths relative to this file)\n"


def _readme_config() -> str:
    readme = (ROOT / "README.md").read_text()
    return MARKER + readme.split(MARKER)[1].split("```")[0]


def _split_cohort(manifest: Path, data: Path) -> None:
    """The tiny test cohort as the README's three site manifests (paths re-rooted)."""
    source = read_manifest(manifest)
    shutil.copytree(manifest.parent, data / "cohort")
    rows = [dict(r) for r in source.rows]
    for row in rows:
        for key, value in row.items():
            if value and str(value).endswith(".nii.gz"):
                row[key] = f"cohort/{value}"
    for index, name in enumerate(["radboud", "duesseldorf", "muenster"]):
        write_manifest(data / f"{name}.csv", rows[index::3],
                       source.meta.model_copy(update={"name": name}))


def test_readme_example_config_runs_as_copied(bench_cohort: Path, tmp_path: Path,
                                              capsys) -> None:
    study = tmp_path / "study"
    (study / "data").mkdir(parents=True)
    (study / "models").mkdir()
    _split_cohort(bench_cohort, study / "data")
    shutil.copy(ROOT / "examples" / "command_adapter" / "demo_model.py",
                study / "models" / "vendor_x.py")
    (study / "my_bench.yaml").write_text(_readme_config())
    elsewhere = tmp_path / "elsewhere"  # run from another folder, as a user might
    elsewhere.mkdir()
    run = elsewhere / "runs" / "my-bench"
    code = run_app(["bench", str(study / "my_bench.yaml"), "--out", str(run), "--quiet"])
    err = capsys.readouterr().err
    # the demo model answers with equal probabilities: the README's AUROC gate fails (exit 1)
    assert code == 1, err
    assert "gate failed: idh:auroc (ci_low) >= 0.8 [vendor-x]" in err
    failures = pd.read_csv(run / "failures.csv")
    assert failures.empty, failures.to_string()
    board = pd.read_csv(run / "leaderboard.csv")
    assert {"vendor-x", "margin-15mm", "fk-growth-pet", "age-volume-lr"} <= set(board.adapter)
    ablation = pd.read_csv(run / "ablation.csv")
    assert list(ablation.adapter) == ["fk-growth-pet"]
    config = json.loads((run / "run.json").read_text())["config"]
    assert config["adapters"][3]["params"]["argv"][0] == "{python}"
