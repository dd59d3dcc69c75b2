"""`imagination leaderboard RUN_DIR`: CSV, Markdown and JSON outputs of the stored table."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from imagination.cli.app import run_app

#: one worker builds the shared fixture runs once (tests/report/conftest.py)
pytestmark = pytest.mark.xdist_group("report")


def leaderboard(capsys, run_dir, *args: str) -> str:
    capsys.readouterr()
    assert run_app(["leaderboard", str(run_dir), *args]) == 0
    return capsys.readouterr().out


def test_csv_is_the_stored_leaderboard_filtered_and_ranked(pristine_run, capsys):
    out = leaderboard(capsys, pristine_run, "--task", "idh", "--metric", "auroc")
    table = pd.read_csv(io.StringIO(out))
    stored = pd.read_csv(pristine_run / "leaderboard.csv")
    expected = stored[(stored.task == "idh") & (stored.metric == "auroc")].sort_values("rank")
    assert list(table.columns[:11]) == ["task", "metric", "adapter", "value", "ci_low",
                                        "ci_high", "n", "n_failed", "rank", "rank_ci_low",
                                        "rank_ci_high"]
    assert list(table.adapter) == ["radiomics_lr", "age_volume_lr", "prevalence"]
    np.testing.assert_allclose(table.value, expected.value)
    assert list(table["rank"]) == [1, 2, 3]


def test_csv_without_filters_has_every_row(pristine_run, capsys):
    table = pd.read_csv(io.StringIO(leaderboard(capsys, pristine_run)))
    assert len(table) == len(pd.read_csv(pristine_run / "leaderboard.csv"))


def test_markdown_table(pristine_run, capsys):
    out = leaderboard(capsys, pristine_run, "--task", "recurrence", "--metric",
                      "coverage_all_model", "--format", "md")
    lines = out.strip().splitlines()
    assert lines[0].startswith("| task | metric | adapter | value | 95% CI | rank")
    assert len(lines) == 2 + 2 and lines[2].startswith("| recurrence | coverage_all_model | "
                                                       "fk_growth |")


def test_markdown_warns_beside_a_small_sample_as_summary_md_does(run_dir, capsys):
    board = pd.read_csv(run_dir / "leaderboard.csv")
    board.loc[board.task == "idh", "n"] = 6
    board.to_csv(run_dir / "leaderboard.csv", index=False)
    out = leaderboard(capsys, run_dir, "--task", "idh", "--metric", "auroc", "--format", "md")
    lines = out.strip().splitlines()
    assert lines[0].endswith("| failed | warnings |")
    assert all("⚠ small sample (n = 6 < 20)" in line for line in lines[2:])
    out = leaderboard(capsys, run_dir, "--task", "tumor_type", "--metric", "auroc",
                      "--format", "md")
    assert "small sample" not in out  # n >= 20 there


def test_ranks_and_counts_print_as_the_stored_file_writes_them(pristine_run, capsys):
    out = leaderboard(capsys, pristine_run, "--task", "idh", "--metric", "auroc")
    first = out.splitlines()[1].split(",")
    assert first[6:11] == [str(int(float(x))) for x in first[6:11]]  # "1", never "1.0"


def test_json_records_with_null_for_missing(pristine_run, capsys, tmp_path):
    board = pd.read_csv(pristine_run / "leaderboard.csv")
    board.loc[0, "ci_low"] = np.nan
    run = tmp_path / "nan_run"
    run.mkdir()
    board.to_csv(run / "leaderboard.csv", index=False)
    records = json.loads(leaderboard(capsys, run, "--format", "json"))
    assert len(records) == len(board)
    first = next(r for r in records if (r["task"], r["metric"], r["adapter"]) ==
                 tuple(board.loc[0, ["task", "metric", "adapter"]]))
    assert first["ci_low"] is None and first["value"] == pytest.approx(board.loc[0, "value"])


@pytest.mark.parametrize("args, message", [
    (["--task", "grade"], "task 'grade'"), (["--task", "idh", "--metric", "dice"],
                                            "metric 'dice'"),
    (["--format", "xlsx"], "xlsx"),
])
def test_unknown_task_metric_or_format_exit_2(pristine_run, capsys, args, message):
    assert run_app(["leaderboard", str(pristine_run), *args]) == 2
    assert message in capsys.readouterr().err


def test_missing_leaderboard_exits_2(tmp_path, capsys):
    assert run_app(["leaderboard", str(tmp_path)]) == 2
    assert "leaderboard.csv is missing" in capsys.readouterr().err


def test_a_folder_that_does_not_exist_is_named_not_found(tmp_path, capsys):
    assert run_app(["leaderboard", str(tmp_path / "nowhere")]) == 2
    assert "nowhere: not found" in capsys.readouterr().err


def test_a_missing_baseline_names_the_option(run_dir, tmp_path, capsys):
    assert run_app(["report", str(run_dir), "--baseline", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "--baseline: run directory" in err and "nowhere: not found" in err
    assert "Traceback" not in err
