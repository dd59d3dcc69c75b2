"""The segmentation report section and its figures from hand-made tables (no engine run)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from imagination.report.segmentation_plots import bland_altman_limits
from imagination.report.segmentation_section import segmentation_section
from imagination.report.tables import RunResults


def _results(tmp_path) -> RunResults:
    rows, cases = [], []
    rng = np.random.default_rng(0)
    for region in ("WT", "ET"):
        for adapter, dice in (("rule", 0.8), ("empty", 0.0)):
            rows.append({"task": "segmentation", "region": region, "metric": "dice",
                         "adapter": adapter, "value": dice, "ci_low": dice - 0.05 * (dice > 0),
                         "ci_high": dice + 0.05 * (dice > 0), "n": 6, "n_failed": 0,
                         "rank": 1 if dice else 2, "rank_ci_low": 1, "rank_ci_high": 2,
                         "direction": "higher"})
            for i in range(6):
                true = 10.0 + 5 * i
                pred = 0.0 if adapter == "empty" else true + rng.normal(0, 1)
                for metric, value in (("dice", dice), ("volume_ml_pred", pred),
                                      ("volume_ml_true", true)):
                    cases.append({"task": "segmentation", "region": region, "adapter": adapter,
                                  "perturbation": "clean", "case_id": f"c{i}",
                                  "subject_id": f"s{i}", "site": "a", "metric": metric,
                                  "value": value})
    board, per_case = pd.DataFrame(rows), pd.DataFrame(cases)
    return RunResults(run_dir=tmp_path, run={"config": {"adapters": [{"name": "rule"},
                                                                      {"name": "empty"}]}},
                      leaderboard=board, per_case=per_case)


def test_section_has_a_table_per_region_dots_and_volume_agreement(tmp_path) -> None:
    section = segmentation_section(_results(tmp_path), "segmentation",
                                   {"rule": "#1f77b4", "empty": "#d62728"})
    assert [g["region"] for g in section["regions"]] == ["WT", "ET"]
    wt = section["regions"][0]
    assert [r["adapter"] for r in wt["rows"]] == ["rule", "empty"]  # ranked by Dice
    assert wt["rows"][0]["cells"][0]["value"] == "0.800"
    assert section["dice_dots"].startswith("<?xml") and section["volume"].startswith("<?xml")
    empty = next(v for v in section["volume_rows"] if v["adapter"] == "empty")
    assert empty["bias"] == "-22.50"  # mean of -(10, 15, ..., 35)


def test_bland_altman_limits_by_hand() -> None:
    bias, low, high = bland_altman_limits(np.array([11.0, 19.0, 33.0]), np.array([10, 20, 30]))
    # differences 1, -1, 3: mean 1, SD 2 -> limits 1 ± 3.92
    assert (bias, low, high) == (1.0, 1.0 - 3.92, 1.0 + 3.92)
