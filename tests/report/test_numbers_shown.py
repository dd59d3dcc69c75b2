"""Issue 12: interval labels follow alpha, warnings beside numbers (below chance, small n,
zero-width interval), differences labelled A − B, the Wilcoxon variant named."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from imagination.report.regenerate import regenerate

pytestmark = pytest.mark.xdist_group("report")


def _set_alpha(run_dir, alpha: float) -> None:
    path = run_dir / "run.json"
    run = json.loads(path.read_text())
    run["config"]["statistics"]["alpha"] = alpha
    run["statistical_tests"] = {"wilcoxon": "Wilcoxon signed-rank test as R's wilcox.test"}
    path.write_text(json.dumps(run))


def test_interval_labels_follow_alpha(run_dir) -> None:
    _set_alpha(run_dir, 0.1)
    regenerate(run_dir)
    html = (run_dir / "report.html").read_text()
    summary = (run_dir / "summary.md").read_text()
    assert "90% CI" in html and "90% CI" in summary
    assert "95%" not in html and "95%" not in summary
    assert "significant at 0.1 after adjustment" in html
    assert "difference (A − B)" in html
    assert "Wilcoxon signed-rank test as R" in html


def test_below_chance_small_n_and_zero_width_are_flagged(run_dir) -> None:
    path = run_dir / "leaderboard.csv"
    board = pd.read_csv(path, dtype={"task": str, "metric": str, "adapter": str})
    below = (board["task"] == "idh") & (board["metric"] == "auroc") & (
        board["adapter"] == "prevalence")
    board.loc[below, ["value", "ci_low", "ci_high"]] = [0.39, 0.30, 0.47]
    small = (board["task"] == "idh") & (board["metric"] == "auroc") & (
        board["adapter"] == "age_volume_lr")
    board.loc[small, "n"] = 12
    flat = (board["task"] == "idh") & (board["metric"] == "auroc") & (
        board["adapter"] == "radiomics_lr")
    board.loc[flat, ["ci_low", "ci_high"]] = [0.9, 0.9]
    board.to_csv(path, index=False)
    regenerate(run_dir)
    summary = (run_dir / "summary.md").read_text()
    idh = summary.split("## idh: auroc")[1].split("##")[0]
    line = {a: next(x for x in idh.splitlines() if f"| {a} |" in x)
            for a in ("prevalence", "age_volume_lr", "radiomics_lr")}
    assert "⚠ below chance (0.5)" in line["prevalence"]
    assert "⚠ small sample (n = 12 < 20)" in line["age_volume_lr"]
    assert "⚠ zero-width interval" in line["radiomics_lr"]
    assert "below chance" not in line["age_volume_lr"] + line["radiomics_lr"]
    html = (run_dir / "report.html").read_text()
    assert "⚠ below chance (0.5)" in html and "⚠ small sample (n = 12 &lt; 20)" in html
