"""Every config cross-reference is checked before any job (issue 12 #9, issue 13 #7).

A bad config exits 2 within seconds, creates no run folder and changes nothing in an existing
one; the message gives the YAML path, the wrong value and the closest valid names.
"""

from __future__ import annotations

import gc
import hashlib
from pathlib import Path

import pytest
import yaml

from imagination.cli.app import run_app
from imagination.config import parse_config
from imagination.errors import InputError
from tests.engine.conftest import write_config

BASE = {"cohort": {"manifests": ["cohort.csv"]},
        "adapters": [{"name": "margin-15mm"}, {"name": "prevalence"}]}


def _error(**changes: object) -> str:
    with pytest.raises(InputError) as info:
        parse_config({**BASE, **changes}, base_dir=Path("/data"))
    return str(info.value)


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(("changes", "expected"), [
    ({"gates": [{"task": "idh", "metric": "auroc", "value": 0.5},
                {"task": "idh", "metric": "aurco", "value": 0.8}]},
     ["gates[1].metric", "'aurco'", "did you mean 'auroc'"]),
    ({"gates": [{"task": "recurence", "metric": "coverage_all_model", "value": 0.5}]},
     ["gates[0].task", "'recurence'", "'recurrence'"]),
    ({"gates": [{"task": "idh", "metric": "auroc", "value": 0.5, "adapter": "prevalance"}]},
     ["gates[0].adapter", "'prevalance'", "'prevalence'"]),
    ({"gates": [{"task": "idh", "metric": "accuracy", "value": 0.5}],
      "metrics": {"idh": ["auroc"]}},
     ["gates[0].metric", "'accuracy' is not scored for task idh", "metrics.idh"]),
    ({"metrics": {"recurrence": ["auroc"]}},
     ["metrics.recurrence[0]", "classification metric", "task recurrence"]),
    ({"metrics": {"idh": ["coverage_all_model"]}},
     ["metrics.idh[0]", "recurrence metric"]),
    ({"metrics": {"idh": ["auroc", "auroc"]}}, ["metrics.idh[1]", "repeats metrics.idh[0]"]),
    ({"tasks": ["idh"], "metrics": {"mgmt": ["auroc"]}},
     ["metrics.mgmt", "not among the configured tasks"]),
    ({"robustness": {"metrics": {"recurrence": ["voxel_aurock"]}}},
     ["robustness.metrics.recurrence[0]", "'voxel_aurock'", "'voxel_auroc'"]),
    ({"robustness": {"reference_adapter": "margin15"}},
     ["robustness.reference_adapter", "'margin15'", "'margin-15mm'"]),
    ({"ablations": [{"adapter": "margin-15mm", "modality": "pet", "metric": "coverge_all_model"}]},
     ["ablations[0].metric", "'coverage_all_model'"]),
    ({"ablations": [{"adapter": "margin-15m", "modality": "pet"}]},
     ["ablations[0].adapter", "'margin-15mm'"]),
    ({"ablations": [{"adapter": "margin-15mm", "modality": "pet", "task": "idhh"}]},
     ["ablations[0].task", "'idh'"]),
    ({"ablations": [{"adapter": "margin-15mm", "modality": "pet"},
                    {"adapter": "margin-15mm", "modality": "pet"}]},
     ["ablations[1]", "repeats ablations[0]"]),
    ({"perturbations": [{"kind": "noise", "adapters": ["margin-15mm", "prevalnce"]}]},
     ["perturbations[0].adapters[1]", "'prevalence'"]),
    ({"perturbations": [{"kind": "noise"}, {"kind": "noise", "severities": [1]}]},
     ["perturbations[1]", "repeats perturbations[0]"]),
    ({"tasks": ["idh", "idh"]}, ["tasks[1]", "repeats tasks[0]"]),
    ({"tasks": ["idhh"]}, ["tasks[0]", "'idhh'", "did you mean 'idh'"]),
    ({"adapters": [{"name": "margin-15mm"}, {"name": "random", "id": "margin-15mm"}]},
     ["adapters[1]", "repeats adapters[0]"]),
])
def test_cross_references_name_path_value_and_closest_names(changes: dict,
                                                            expected: list[str]) -> None:
    message = _error(**changes)
    for text in expected:
        assert text in message, message


def test_every_problem_is_listed_at_once() -> None:
    message = _error(gates=[{"task": "idh", "metric": "aurco", "value": 0.8}],
                     metrics={"recurrence": ["auroc"]},
                     robustness={"reference_adapter": "nobody"})
    assert {"gates[0].metric", "metrics.recurrence[0]",
            "robustness.reference_adapter"} <= {line.split(":")[0].strip()
                                                for line in message.splitlines()[1:]}


@pytest.mark.parametrize(("changes", "path"), [
    ({"adapters": [{"name": "margin-15mm", "timeout_s": float("inf")}]}, "adapters[0].timeout_s"),
    ({"adapters": [{"name": "margin-15mm", "timeout_s": float("nan")}]}, "adapters[0].timeout_s"),
    ({"adapters": [{"name": "margin-15mm", "timeout_s": 1e12}]}, "adapters[0].timeout_s"),
    ({"gates": [{"task": "idh", "metric": "auroc", "value": float("nan")}]}, "gates[0].value"),
    ({"gates": [{"task": "idh", "metric": "auroc", "value": float("-inf")}]}, "gates[0].value"),
    ({"recurrence_margin_mm": float("inf")}, "recurrence_margin_mm"),
    ({"statistics": {"alpha": float("nan")}}, "statistics.alpha"),
    ({"statistics": {"seed": -1}}, "statistics.seed"),
    ({"crossfit": {"seed": -5}}, "crossfit.seed"),
    ({"cohort": {"synthetic": {"seed": -1}}}, "cohort.synthetic.seed"),
    ({"cohort": {"synthetic": {"resolution": float("inf")}}}, "cohort.synthetic.resolution"),
    ({"adapters": [{"name": "command", "params": {"name": "x", "argv": ["x", "{output}"],
                                                  "timeout_s": float("inf")}}]},
     "adapters[0].params.timeout_s"),
    ({"perturbations": [{"kind": "noise", "params": {"modalities": ["t1"],
                                                     "scale": [1.0, float("nan")]}}]},
     "perturbations[0].params.scale[1]"),
])
def test_every_config_number_is_finite_and_in_range(changes: dict, path: str) -> None:
    assert path in _error(**changes)


def test_inf_timeout_in_yaml_is_a_clean_exit_2(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bench.yaml"
    path.write_text("cohort: {manifests: [x.csv]}\n"
                    "adapters: [{name: margin-15mm, timeout_s: .inf}]\n")
    assert run_app(["bench", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "adapters[0].timeout_s" in err and "finite" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_unknown_executor_option_is_exit_2_before_any_run_folder(tmp_path: Path,
                                                                  capsys) -> None:
    path = tmp_path / "bench.yaml"
    path.write_text("cohort: {synthetic: {cases: 4}}\nadapters: [{name: margin-15mm}]\n")
    assert run_app(["bench", str(path), "--out", str(tmp_path / "run"),
                    "--executor", "dusk"]) == 2
    err = capsys.readouterr().err
    assert "--executor 'dusk'" in err and "did you mean 'dask'" in err
    assert not (tmp_path / "run").exists()  # was made (plan.json, store) before the error
    assert run_app(["bench", str(path), "--out", str(tmp_path / "run"),
                    "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "--scheduler only applies to the dask executor" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_yaml_syntax_error_names_the_file_and_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\ncohort: {manifests: [a.csv]\nadapters: []\n")
    assert run_app(["bench", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "broken.yaml" in err and "line 3" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def _bad_gate_config(folder: Path, manifest: Path) -> Path:
    return write_config(folder, manifest, [{"name": "margin-15mm"}, {"name": "prevalence"}],
                        tasks=["idh", "recurrence"],
                        gates=[{"task": "recurrence", "metric": "coverage_all_model",
                                "value": 0.1},
                               {"task": "idh", "metric": "aurco", "value": 0.5}])


def test_unknown_gate_metric_exits_2_and_creates_no_run_folder(bench_cohort: Path,
                                                               tmp_path: Path, capsys) -> None:
    config = _bad_gate_config(tmp_path, bench_cohort)
    run = tmp_path / "run"
    assert run_app(["bench", str(config), "--out", str(run), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "gates[1].metric" in err and "'aurco'" in err and "'auroc'" in err
    assert not run.exists()


def test_bad_config_leaves_an_existing_run_folder_unchanged(bench_cohort: Path,
                                                            tmp_path: Path) -> None:
    run = tmp_path / "run"
    good = write_config(tmp_path, bench_cohort, [{"name": "margin-15mm"}],
                        tasks=["recurrence"])
    assert run_app(["bench", str(good), "--out", str(run), "--quiet"]) == 0
    gc.collect()  # the first run's store connection checkpoints its WAL when collected
    before = _snapshot(run)
    (tmp_path / "bad").mkdir()
    bad = _bad_gate_config(tmp_path / "bad", bench_cohort)
    assert run_app(["bench", str(bad), "--out", str(run), "--quiet"]) == 2
    assert _snapshot(run) == before


@pytest.mark.parametrize(("changes", "expected"), [
    # tumor_type has 3 classes in this cohort: a binary-only metric cannot be scored
    ({"gates": [{"task": "tumor_type", "metric": "sensitivity", "value": 0.5}]},
     ["gates[0].metric", "'sensitivity' needs a binary task", "tumor_type"]),
    ({"metrics": {"tumor_type": ["auroc", "ppv"]}}, ["metrics.tumor_type[1]", "'ppv'"]),
    ({"gates": [{"task": "idh", "metric": "auroc", "value": 0.5, "adapter": "margin-15mm"}]},
     ["gates[0].adapter", "'margin-15mm' does not do task idh", "prevalence"]),
    ({"tasks": ["idh", "recurrence"], "adapters": [{"name": "margin-15mm"}]},
     ["tasks[0]: no configured adapter does 'idh'"]),
    ({"tasks": ["idh"], "adapters": [{"name": "margin-15mm"}]},
     ["adapters: none of them does a configured task", "plan would be empty"]),
    ({"ablations": [{"adapter": "prevalence", "modality": "flair"}]},
     ["ablations[0].adapter", "does not do task recurrence"]),
])
def test_checks_that_need_the_cohort_and_adapters_run_before_the_run_folder(
        bench_cohort: Path, tmp_path: Path, capsys, changes: dict, expected: list[str]) -> None:
    extra = {"tasks": ["idh", "tumor_type", "recurrence"], **changes}
    adapters = extra.pop("adapters", [{"name": "margin-15mm"}, {"name": "prevalence"}])
    config = write_config(tmp_path, bench_cohort, adapters, **extra)
    run = tmp_path / "run"
    assert run_app(["bench", str(config), "--out", str(run), "--quiet"]) == 2
    err = capsys.readouterr().err
    for text in expected:
        assert text in err, err
    assert "Traceback" not in err
    assert not run.exists()


def test_require_option_is_checked_before_anything_runs(bench_cohort: Path, tmp_path: Path,
                                                        capsys) -> None:
    config = write_config(tmp_path, bench_cohort, [{"name": "margin-15mm"}],
                          tasks=["recurrence"])
    run = tmp_path / "run"
    code = run_app(["bench", str(config), "--out", str(run), "--quiet",
                    "--require", "recurrence:coverage_al_model>=0.5"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--require" in err and "'coverage_all_model'" in err
    assert not run.exists()
    assert run_app(["bench", str(config), "--out", str(run), "--quiet",
                    "--max-drop", "aurocc=0.1", "--baseline", str(tmp_path)]) == 2
    assert "'auroc'" in capsys.readouterr().err and not run.exists()


def test_the_demo_and_readme_configs_pass_the_checks() -> None:
    from imagination.config import demo_config_path, load_config

    demo = load_config(demo_config_path())  # raises InputError on any bad cross-reference
    assert demo.gates and demo.ablations  # the demo exercises the checked sections
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    block = readme.split("# my_bench.yaml (paths relative to this file)\n")[1].split("```")[0]
    parsed = parse_config(yaml.safe_load(block), base_dir=Path("/study"))
    assert [g.metric for g in parsed.gates] == ["auroc"]
