"""`imagination bench` says why it failed (issue 12 #10-#12): failing gates with observed,
threshold and margin, failed cases per adapter, the built-in "measured something" gate, and
baseline gates with per-metric tolerances, no-skill references left out and a cohort warning."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from imagination.cli.app import run_app
from tests.engine.conftest import model_adapter, write_config

ADAPTERS = [{"name": "margin-15mm"}, {"name": "random"}, {"name": "prevalence"},
            {"name": "age-volume-lr"}, model_adapter("broken", "fail")]


@pytest.fixture(scope="module")
def verdict_run(bench_cohort: Path, tmp_path_factory: pytest.TempPathFactory,
                ) -> tuple[Path, int, str, str]:
    folder = tmp_path_factory.mktemp("verdict")
    config = write_config(folder, bench_cohort, ADAPTERS, tasks=["idh", "recurrence"])
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = run_app(["bench", str(config), "--out", str(folder / "run"), "--quiet",
                        "--require", "recurrence:coverage_all_model>=0.99,adapter=margin-15mm"])
    return folder / "run", code, err.getvalue(), out.getvalue()


def test_failing_gate_is_printed_with_observed_threshold_and_margin(verdict_run) -> None:
    run, code, err, _ = verdict_run
    assert code == 1
    board = pd.read_csv(run / "leaderboard.csv")
    observed = board[(board.task == "recurrence") & (board.metric == "coverage_all_model")
                     & (board.adapter == "margin-15mm")].value.item()
    line = next(x for x in err.splitlines() if "gate failed" in x and "margin-15mm" in x)
    assert "recurrence:coverage_all_model >= 0.99" in line
    assert f"{observed:.4g}" in line and "required >= 0.99" in line
    assert f"−{0.99 - observed:.4g}" in line  # the margin, signed


def test_failed_cases_are_listed_per_adapter_with_the_runs_show_hint(verdict_run) -> None:
    run, _, err, _ = verdict_run
    line = next(x for x in err.splitlines() if x.startswith("failed cases broken"))
    assert "10 of 10" in line and f"imagination runs show {run}" in line
    assert not any(x.startswith("failed cases margin-15mm") for x in err.splitlines())


def test_the_jobs_line_says_why_jobs_failed(verdict_run) -> None:
    run, _, _, out = verdict_run
    line = next(x for x in out.splitlines() if x.startswith("jobs: "))
    kinds = pd.read_csv(run / "failures.csv").kind.value_counts()
    assert kinds.sum() == 10  # broken, on each of the 10 cases; nothing else failed
    listed = ", ".join(f"{n} {kind}" for kind, n in kinds.items())
    assert line.endswith(f", 10 failed: {listed}, in failures.csv)")


def test_an_adapter_that_failed_on_every_case_fails_the_run(verdict_run, capsys) -> None:
    run, _, err, _ = verdict_run
    assert "measured something [broken]" in err and "failed on all 10 case(s)" in err
    # without any gate the verdict still fails, and junit.xml says why
    assert run_app(["report", str(run), "--no-config-gates"]) == 1
    junit = (run / "junit.xml").read_text()
    assert "measured something [broken]" in junit and "<failure" in junit
    failures = json.loads((run / "run.json").read_text())["failures"]
    assert failures["broken"]["cases"] == 10 and len(failures["broken"]["failed"]) == 10
    assert failures["margin-15mm"] == {"cases": 10, "failed": []}


def _worse_baseline(run: Path, folder: Path) -> Path:
    """A copy of ``run`` whose leaderboard is 0.03 better everywhere (so the run dropped)."""
    baseline = folder / "baseline"
    shutil.copytree(run, baseline, ignore=shutil.ignore_patterns("store"))
    board = pd.read_csv(baseline / "leaderboard.csv")
    higher = board.direction == "higher"
    board.loc[higher, "value"] = board.loc[higher, "value"] + 0.03
    board.to_csv(baseline / "leaderboard.csv", index=False)
    return baseline


def _gate_names(run: Path) -> list[str]:
    import xml.etree.ElementTree as ET

    return [case.get("name", "") for case in ET.parse(run / "junit.xml").iter("testcase")]


def test_baseline_tolerances_per_metric_and_no_skill_left_out(verdict_run, tmp_path: Path,
                                                               capsys) -> None:
    run, _, _, _ = verdict_run
    baseline = _worse_baseline(run, tmp_path)
    code = run_app(["report", str(run), "--no-config-gates", "--baseline", str(baseline),
                    "--max-drop", "0.05", "--max-drop", "coverage_all_model=0.01"])
    assert code == 1
    names = _gate_names(run)
    baseline_gates = [n for n in names if n.startswith("no drop")]
    assert baseline_gates
    assert not [n for n in baseline_gates if "[random]" in n or "[prevalence]" in n]
    assert "no drop > 0.01: recurrence:coverage_all_model [margin-15mm]" in baseline_gates
    assert "no drop > 0.05: idh:auroc [age-volume-lr]" in baseline_gates
    err = capsys.readouterr().err
    failed = [x for x in err.splitlines() if x.startswith("gate failed: no drop")]
    assert failed and all("coverage_all_model" in x for x in failed)  # auroc: 0.03 <= 0.05
    assert run_app(["report", str(run), "--no-config-gates", "--baseline", str(baseline),
                    "--max-drop", "0.05", "--include-no-skill"]) == 1
    assert any("[prevalence]" in n for n in _gate_names(run))


def test_a_baseline_on_another_cohort_gives_a_warning(verdict_run, tmp_path: Path,
                                                      capsys) -> None:
    run, _, _, _ = verdict_run
    baseline = tmp_path / "other"
    shutil.copytree(run, baseline, ignore=shutil.ignore_patterns("store"))
    meta = json.loads((baseline / "run.json").read_text())
    first = sorted(meta["cohort"]["digests"])[0]
    del meta["cohort"]["digests"][first]
    (baseline / "run.json").write_text(json.dumps(meta))
    capsys.readouterr()
    run_app(["report", str(run), "--no-config-gates", "--baseline", str(baseline)])
    err = capsys.readouterr().err
    assert "different cohort" in err and "0 case(s) only there, 1 only here" in err
    run_app(["report", str(run), "--no-config-gates", "--baseline", str(run)])
    assert "different cohort" not in capsys.readouterr().err


def test_bench_takes_the_report_gate_options(verdict_run, bench_cohort: Path,
                                             tmp_path: Path, capsys) -> None:
    run, _, _, _ = verdict_run
    baseline = _worse_baseline(run, tmp_path)
    config = write_config(tmp_path, bench_cohort, ADAPTERS[:2], tasks=["recurrence"])
    code = run_app(["bench", str(config), "--out", str(tmp_path / "again"), "--quiet",
                    "--baseline", str(baseline), "--max-drop", "0.04"])
    err = capsys.readouterr().err
    assert code == 0, err
    code = run_app(["bench", str(config), "--out", str(tmp_path / "again"), "--quiet",
                    "--baseline", str(baseline), "--max-drop", "0.001"])
    assert code == 1
    assert "gate failed: no drop > 0.001" in capsys.readouterr().err


@pytest.mark.parametrize(("specs", "default", "per_metric"), [
    ([], None, {}),
    (["0.1"], 0.1, {}),
    (["auroc=0.02", "missed_ml_model=5", "0.03"], 0.03,
     {"auroc": 0.02, "missed_ml_model": 5.0}),
])
def test_max_drop_specs(specs, default, per_metric) -> None:
    from imagination.report.gates import parse_max_drops

    assert parse_max_drops(specs, ["auroc", "missed_ml_model"]) == (default, per_metric)


@pytest.mark.parametrize("spec", ["-0.1", "inf", "nan", "auroc=", "=0.1", "aurocc=0.1", "x"])
def test_bad_max_drop_specs_are_input_errors(spec: str) -> None:
    from imagination.errors import InputError
    from imagination.report.gates import parse_max_drops

    with pytest.raises(InputError, match="--max-drop"):
        parse_max_drops([spec], ["auroc"])


def test_a_runs_own_predictions_csv_is_precomputed_input(verdict_run, bench_cohort: Path,
                                                         tmp_path: Path) -> None:
    """Issue 12 #18: the long predictions.csv of a run, re-scored as a precomputed adapter,
    gives back the original adapter's values."""
    run, _, _, _ = verdict_run
    config = write_config(tmp_path, bench_cohort, [
        {"name": "precomputed", "id": "again",
         "params": {"name": "again", "predictions_csv": str(run / "predictions.csv"),
                    "adapter": "age-volume-lr"}}], tasks=["idh"])
    assert run_app(["bench", str(config), "--out", str(tmp_path / "rescored"), "--quiet"]) == 0
    old = pd.read_csv(run / "leaderboard.csv")
    new = pd.read_csv(tmp_path / "rescored" / "leaderboard.csv")
    old = old[(old.adapter == "age-volume-lr") & (old.task == "idh")].set_index("metric")
    new = new[new.adapter == "again"].set_index("metric")
    assert len(new) >= 5
    for metric in new.index:
        assert new.value[metric] == pytest.approx(old.value[metric], abs=1e-9), metric


def test_long_predictions_with_several_adapters_need_a_choice(verdict_run) -> None:
    from imagination.adapters.precomputed import read_prediction_table
    from imagination.errors import InputError

    run, _, _, _ = verdict_run
    with pytest.raises(InputError, match="choose one with the parameter 'adapter'"):
        read_prediction_table(run / "predictions.csv")
    with pytest.raises(InputError, match="no rows of adapter 'nobody'"):
        read_prediction_table(run / "predictions.csv", "nobody")
    table = read_prediction_table(run / "predictions.csv", "prevalence")
    assert all(abs(sum(p.values()) - 1) < 1e-6 for p in table.values())
