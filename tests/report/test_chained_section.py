"""Chained models in the report: a built-in segmenter feeds the margin plan (no container
runtime needed); ``chained.csv`` against per-case values by hand, the report's section and
``summary.md`` against ``chained.csv``; region-scored rows paired region by region."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from imagination.cli.app import run_app
from imagination.report.markdown import fmt, interval
from imagination.report.sections import label


@pytest.fixture(scope="module")
def chained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("chained")
    assert run_app(["synth", str(folder / "cohort"), "--cases", "4", "--sites", "2", "--seed",
                    "3", "--resolution", "4", "--prevalence", "glioblastoma=1",
                    "--workers", "1"]) == 0
    doc = {"name": "chained", "cohort": {"manifests": [str(folder / "cohort/manifest.csv")]},
           "tasks": ["segmentation", "recurrence"],
           "metrics": {"segmentation": ["dice"],
                       "recurrence": ["coverage_all_model", "voxel_auroc"]},
           "statistics": {"n_resamples": 200}, "executor": {"workers": 1},
           "adapters": [{"name": "intensity-rule-seg", "id": "rule"},
                        {"name": "margin-15mm", "id": "margin",
                         "inputs": {"mask_tumor": {"from": "rule"}}}]}
    (folder / "bench.yaml").write_text(yaml.safe_dump(doc))
    assert run_app(["bench", str(folder / "bench.yaml"), "--out", str(folder / "run")]) == 0
    return folder / "run"


def test_chained_table_pairs_the_per_case_values(chained_run: Path) -> None:
    per_case = pd.read_csv(chained_run / "per_case.csv")
    chained = pd.read_csv(chained_run / "chained.csv")
    clean = per_case[(per_case.perturbation == "clean") & (per_case.task == "recurrence")]
    for metric in ("coverage_all_model", "voxel_auroc"):
        row = chained[chained.metric == metric].iloc[0]
        mine = clean[clean.metric == metric].pivot(index="case_id", columns="adapter",
                                                   values="value")
        assert (row.adapter, row.reference_adapter, row.upstream) == ("margin",
                                                                      "margin@reference", "rule")
        assert row.n == 4 == len(mine)
        assert row.chained_value == pytest.approx(mine["margin"].mean())
        assert row.reference_value == pytest.approx(mine["margin@reference"].mean())
        assert row.estimate == pytest.approx((mine["margin"] - mine["margin@reference"]).mean())
        assert row.ci_low <= row.estimate <= row.ci_high
    # floats written as in every other table (10 significant digits, no 0.1 + 0.2 tails)
    for line in (chained_run / "chained.csv").read_text().splitlines()[1:]:
        for cell in line.split(","):
            if "." in cell and cell.lstrip("-")[:1].isdigit():
                digits = cell.lstrip("-").split("e")[0].replace(".", "").lstrip("0")
                assert len(digits) <= 10, cell
    # the rule's mask is not the reference one: the chained plan differs from its twin's
    assert not np.allclose(chained.set_index("metric").loc["voxel_auroc", "estimate"], 0)


def test_report_shows_each_chained_model_next_to_its_reference(chained_run: Path) -> None:
    text = html.unescape((chained_run / "report.html").read_text(encoding="utf-8"))
    assert '<a href="#chained">Chained models</a>' in text
    section = text.split('<h2 id="chained">', 1)[1].split("<h2", 1)[0]
    assert "margin fed rule, against margin@reference" in section
    chained = pd.read_csv(chained_run / "chained.csv").set_index("metric")
    shown = []
    for metric in ("coverage_all_model", "voxel_auroc"):
        r = chained.loc[metric]
        cells = [fmt(r.chained_value), fmt(r.reference_value),
                 f"{fmt(r.estimate)} {interval(r.ci_low, r.ci_high)}"]
        assert all(f'<td class="num">{c}</td>' in section for c in cells), (metric, cells)
        shown.append(section.index(f'<td class="num">{cells[2]}</td>'))
    assert shown == sorted(shown)  # headline order: coverage first
    # descriptive per-case values (plan volume, standard-plan coverage) are not in the table
    assert "plan_ml" not in section and "standard plan" not in section.lower().split("<img")[0]
    assert section.count("data:image/svg+xml;base64,") == 1  # the per-case figure
    summary = (chained_run / "summary.md").read_text(encoding="utf-8")
    r = chained.loc["coverage_all_model"]
    assert (f"| margin | rule | recurrence | {label('coverage_all_model')} | "
            f"{fmt(r.chained_value)} | {fmt(r.reference_value)} |") in summary


def test_region_scored_rows_are_paired_per_region() -> None:
    from imagination.config import parse_config
    from imagination.engine.chaining import chained_rows, with_reference_twins

    config = with_reference_twins(parse_config({
        "cohort": {"manifests": ["m.csv"]}, "tasks": ["segmentation"],
        "statistics": {"n_resamples": 200},
        "adapters": [{"name": "empty", "id": "up"},
                     {"name": "intensity-rule-seg", "id": "down",
                      "inputs": {"mask_tumor": {"from": "up"}}}]}, base_dir=Path(".")))
    dice = {("down", "WT"): [0.8, 0.6, 0.7], ("down@reference", "WT"): [0.9, 0.9, 0.6],
            ("down", "ET"): [0.1, 0.2, 0.3], ("down@reference", "ET"): [0.5, 0.4, 0.3]}
    per_case = pd.DataFrame([
        {"task": "segmentation", "region": region, "adapter": adapter, "perturbation": "clean",
         "case_id": f"c{i}", "subject_id": f"s{i}", "site": "a", "metric": "dice", "value": v}
        for (adapter, region), values in dice.items() for i, v in enumerate(values)])
    rows = {r["region"]: r for r in chained_rows(config, per_case)}
    assert set(rows) == {"WT", "ET"}
    assert rows["WT"]["chained_value"] == pytest.approx(0.7)
    assert rows["WT"]["reference_value"] == pytest.approx(0.8)
    assert rows["ET"]["estimate"] == pytest.approx((-0.4 - 0.2 + 0.0) / 3)
    assert rows["WT"]["n"] == rows["ET"]["n"] == 3
