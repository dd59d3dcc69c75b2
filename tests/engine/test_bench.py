"""End-to-end bench runs on a tiny synthetic cohort: tables, resume, executors, failures."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from imagination.config import load_config
from imagination.engine.bench import run_bench
from tests.engine.conftest import CHEAP_ADAPTERS, model_adapter, write_config

TABLES = ("per_case.csv", "leaderboard.csv", "predictions.csv", "comparisons.csv", "sites.csv",
          "robustness.csv", "robustness_summary.csv", "ablation.csv", "site_shift.csv",
          "reproducibility.csv")


def _bench(config_path: Path, run_dir: Path, **kwargs: object):
    return run_bench(load_config(config_path), run_dir=run_dir, **kwargs)


@pytest.fixture(scope="module")
def clean_run(bench_cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("clean-run")
    config = write_config(
        folder, bench_cohort, [*CHEAP_ADAPTERS, model_adapter("model", "ok")],
        perturbations=[{"kind": "noise", "severities": [2, 5], "adapters": ["radiomics-lr"]}],
        ablations=[{"adapter": "radiomics-lr", "modality": "flair", "task": "tumor_type"}],
        reproducibility={"repeats": 2, "max_cases": 3})
    _bench(config, folder / "run")
    return folder


def test_tables_are_tidy_and_read_with_no_options(clean_run: Path) -> None:
    run = clean_run / "run"
    leaderboard = pd.read_csv(run / "leaderboard.csv")
    assert list(leaderboard.columns) == ["task", "metric", "adapter", "value", "ci_low",
                                         "ci_high", "n", "n_failed", "rank", "rank_ci_low",
                                         "rank_ci_high", "direction"]
    assert {"idh", "tumor_type", "recurrence"} <= set(leaderboard.task)
    finite = leaderboard.dropna(subset=["value", "ci_low", "ci_high"])
    assert (finite.ci_low <= finite.value + 1e-12).all()
    assert (finite.value <= finite.ci_high + 1e-12).all()
    per_case = pd.read_csv(run / "per_case.csv")
    assert set(per_case.columns) == {"task", "adapter", "perturbation", "case_id",
                                     "subject_id", "site", "metric", "value"}
    assert (run / "run.json").is_file() and (run / "plan.json").is_file()


def test_leaderboard_auroc_equals_scikit_learn_on_the_exported_predictions(
        clean_run: Path) -> None:
    run = clean_run / "run"
    predictions = pd.read_csv(run / "predictions.csv", keep_default_na=False)
    leaderboard = pd.read_csv(run / "leaderboard.csv")
    checked = 0
    for adapter in ("model", "age-volume-lr"):
        rows = predictions[(predictions.task == "idh") & (predictions.adapter == adapter)
                           & (predictions.perturbation == "clean")
                           & (predictions["class"] == "mutant") & (predictions.truth != "")]
        if rows.truth.nunique() < 2:
            continue
        expected = roc_auc_score(rows.truth == "mutant", rows.probability)
        value = leaderboard[(leaderboard.task == "idh") & (leaderboard.metric == "auroc")
                            & (leaderboard.adapter == adapter)].value.item()
        assert value == pytest.approx(expected, abs=1e-9)
        checked += 1
    assert checked >= 1


def test_margin_plan_is_the_standard_plan_and_means_match_per_case(clean_run: Path) -> None:
    run = clean_run / "run"
    per_case = pd.read_csv(run / "per_case.csv")
    margin = per_case[(per_case.adapter == "margin-15mm") & (per_case.task == "recurrence")]
    wide = margin.pivot(index="case_id", columns="metric", values="value")
    # the margin adapter's top-k voxels are the 15 mm standard plan itself
    np.testing.assert_allclose(wide.coverage_all_model, wide.coverage_all_standard, atol=0.02)
    leaderboard = pd.read_csv(run / "leaderboard.csv")
    value = leaderboard[(leaderboard.adapter == "margin-15mm")
                        & (leaderboard.metric == "coverage_all_model")].value.item()
    assert value == pytest.approx(wide.coverage_all_model.mean(), abs=1e-9)


def test_robustness_ablation_and_reproducibility_tables(clean_run: Path) -> None:
    run = clean_run / "run"
    robustness = pd.read_csv(run / "robustness.csv")
    noise = robustness[(robustness.adapter == "radiomics-lr") & (robustness.kind == "noise")]
    assert set(noise.severity) == {2, 5}
    per_case = pd.read_csv(run / "per_case.csv")
    # the delta is the perturbed minus the clean value of the same metric
    row = noise[noise.metric == "balanced_accuracy"].iloc[0]
    assert row.delta == pytest.approx(row.value - row.clean_value)
    assert {"loso"} <= set(robustness.perturbation)  # learning baselines refitted per site
    assert set(per_case.perturbation) >= {"clean", "noise@2", "noise@5", "drop_flair@1"}
    ablation = pd.read_csv(run / "ablation.csv")
    assert ablation.modality.tolist() == ["flair"] and 0 <= ablation.p_value.item() <= 1
    repro = pd.read_csv(run / "reproducibility.csv")
    determinism = repro[(repro.analysis == "determinism") & (repro.metric == "bitwise_equal")]
    assert set(determinism.adapter) >= {"margin-15mm", "radiomics-lr", "model"}
    assert (determinism.value == 1).all() and (determinism.n == 3).all()


def test_learned_baselines_never_see_labels_or_recurrence(clean_run: Path) -> None:
    import json

    plan = json.loads((clean_run / "run" / "plan.json").read_text())["jobs"]
    assert plan, "the plan lists the jobs"
    from imagination.cohort.manifest import read_manifest
    from imagination.engine.plan import blinded

    manifest = json.loads((clean_run / "run" / "run.json").read_text())["cohort"]["manifests"][0]
    case = read_manifest(manifest).cases()[0]
    seen = blinded(case)
    assert seen.labels == {} and "recurrence" not in seen.masks and "tumor" in seen.masks


def test_warm_rerun_only_rescores_and_a_crash_resumes_to_identical_tables(
        clean_run: Path, tmp_path: Path) -> None:
    config = clean_run / "bench.yaml"
    reference = clean_run / "run"
    warm = _bench(config, reference)
    assert warm.n_computed == 0 and warm.n_reused == warm.n_jobs
    # simulate a crash that lost half the finished jobs (index rows gone, objects torn)
    crashed = tmp_path / "run"
    shutil.copytree(reference, crashed)
    db = sqlite3.connect(crashed / "store" / "index.sqlite")
    keys = [k for (k,) in db.execute("SELECT key FROM jobs ORDER BY key")]
    db.executemany("DELETE FROM jobs WHERE key = ?", [(k,) for k in keys[::2]])
    db.commit()
    db.close()
    for key in keys[1::4]:
        obj = next((crashed / "store" / "objects").rglob(f"{key}*"))
        obj.write_bytes(obj.read_bytes()[:20])
    for name in TABLES:
        (crashed / name).unlink()
    resumed = _bench(config, crashed)
    assert 0 < resumed.n_computed < resumed.n_jobs
    for name in TABLES:
        assert (crashed / name).read_bytes() == (reference / name).read_bytes(), name


@pytest.mark.slow
def test_executors_and_worker_counts_give_identical_tables(clean_run: Path,
                                                           tmp_path: Path) -> None:
    config = clean_run / "bench.yaml"
    reference = clean_run / "run"
    for executor, workers in (("local", 2), ("dask", 2)):
        run = tmp_path / f"{executor}-{workers}"
        _bench(config, run, executor=executor, workers=workers)
        for name in TABLES:
            assert (run / name).read_bytes() == (reference / name).read_bytes(), (
                executor, workers, name)


def test_one_bad_case_never_sinks_the_run(bench_cohort: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path, bench_cohort, [model_adapter("flaky", "flaky"),
                                                   {"name": "margin-15mm"}],
                          executor={"kind": "local", "workers": 2})
    cfg = load_config(config)
    cfg.adapters[0].timeout_s = 15  # generous: the machine may be loaded
    outcome = run_bench(cfg, run_dir=tmp_path / "run")
    failures = pd.read_csv(tmp_path / "run" / "failures.csv")
    by_case = dict(zip(failures.case_id, failures.kind, strict=True))
    assert set(by_case) == {"synth-001", "synth-002", "synth-003"}
    assert by_case["synth-003"] == "timeout"
    assert by_case["synth-002"] == "invalid_output"
    assert "exit" in failures.set_index("case_id").reason["synth-001"].lower()
    assert outcome.n_failed == 3
    leaderboard = pd.read_csv(tmp_path / "run" / "leaderboard.csv")
    flaky = leaderboard[(leaderboard.adapter == "flaky") & (leaderboard.task == "recurrence")]
    assert (flaky.n_failed == 3).all()
    per_case = pd.read_csv(tmp_path / "run" / "per_case.csv")
    scored = set(per_case[(per_case.adapter == "flaky") & (per_case.task == "recurrence")]
                 .case_id)
    assert len(scored) == 7 and not scored & set(by_case)


@pytest.mark.slow
def test_kill_9_then_the_same_command_gives_identical_tables(bench_cohort: Path,
                                                             tmp_path: Path) -> None:
    config = write_config(tmp_path, bench_cohort, [model_adapter("slow", "slow"),
                                                   {"name": "margin-15mm"}])
    reference = tmp_path / "reference"
    _bench(config, reference)
    run = tmp_path / "killed"
    command = [sys.executable, "-m", "imagination", "bench", str(config), "--out", str(run),
               "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    process = subprocess.Popen(command, env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    index = run / "store" / "index.sqlite"
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and process.poll() is None:
        if index.is_file():
            try:
                with sqlite3.connect(index) as db:
                    done = db.execute("SELECT count(*) FROM jobs").fetchone()[0]
            except sqlite3.Error:
                done = 0
            if done >= 5:
                break
        time.sleep(0.1)
    assert process.poll() is None, "the run finished before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (run / "leaderboard.csv").exists()
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]
    for name in TABLES:
        assert (run / name).read_bytes() == (reference / name).read_bytes(), name


def test_lost_example_slices_are_written_again_on_a_warm_run(clean_run: Path,
                                                              tmp_path: Path) -> None:
    """Issue 12 item 24: the score memo must not skip an example whose file is gone."""
    reference = clean_run / "run"
    examples = sorted((reference / "examples").glob("*.npz"))
    assert examples  # the clean run wrote one per recurrence adapter
    copy = tmp_path / "run"
    shutil.copytree(reference, copy)
    shutil.rmtree(copy / "examples")
    _bench(clean_run / "bench.yaml", copy)
    again = sorted((copy / "examples").glob("*.npz"))
    assert [p.name for p in again] == [p.name for p in examples]
    for old, new in zip(examples, again, strict=True):
        with np.load(old) as a, np.load(new) as b:
            assert sorted(a.files) == sorted(b.files)
            for key in a.files:
                np.testing.assert_array_equal(a[key], b[key])
