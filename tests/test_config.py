"""The bench config: validation errors name the YAML path and the allowed values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from imagination.cli.app import run_app
from imagination.config import demo_config_path, load_config, parse_config
from imagination.errors import InputError

BASE = {"cohort": {"manifests": ["cohort.csv"]}, "adapters": [{"name": "margin-15mm"}]}


def _parse(**changes: object):
    return parse_config({**BASE, **changes}, base_dir=Path("/data"))


def test_manifest_paths_resolve_against_the_config_folder() -> None:
    assert _parse().cohort.manifests == [Path("/data/cohort.csv")]


@pytest.mark.parametrize(("changes", "expected"), [
    ({"executor": {"kind": "slurm"}}, ["executor.kind", "'local' or 'dask'"]),
    ({"tasks": ["idh", "survival"]}, ["tasks[1]", "'recurrence'"]),
    ({"statistics": {"alpha": 0.7}}, ["statistics.alpha", "less than 0.5"]),
    ({"adapters": []}, ["adapters"]),
    ({"advisors": []}, ["advisors: unknown key 'advisors'", "allowed: ablations, adapters,"]),
    ({"statistcs": {}}, ["statistcs: unknown key", "(did you mean 'statistics'"]),
    ({"statistics": {"n_resample": 10}},
     ["statistics.n_resample: unknown key", "(did you mean 'n_resamples'?)",
      "allowed: alpha, ci_method, n_resamples, seed"]),
    ({"adapters": [{"name": "margin-15mm", "timeout": 5}]},
     ["adapters[0].timeout: unknown key", "(did you mean 'timeout_s'?)"]),
    ({"perturbations": [{"kind": "noise", "severities": [0, 6]}]},
     ["perturbations[0].severities", "1..5"]),
    ({"adapters": [{"name": "a"}, {"name": "a"}]},
     ["adapters[1]: adapter id 'a' repeats adapters[0]"]),
    ({"ablations": [{"adapter": "nobody", "modality": "pet"}]}, ["ablations[0].adapter", "nobody"]),
])
def test_errors_name_the_yaml_path_and_allowed_values(changes: dict, expected: list[str]):
    with pytest.raises(InputError) as info:
        _parse(**changes)
    for text in expected:
        assert text in str(info.value)


def test_gate_bound_may_be_written_as_on_even_though_yaml_reads_it_as_true() -> None:
    data = yaml.safe_load("gates: [{task: idh, metric: auroc, value: 0.8, on: ci_low}]")
    assert True in data["gates"][0]  # the YAML 1.1 trap this guards against
    assert _parse(**data).gates[0].bound == "ci_low"


def test_the_embedded_demo_config_is_valid() -> None:
    config = load_config(demo_config_path())
    assert config.cohort.synthetic is not None
    assert {"margin-15mm", "fk-growth-pet", "radiomics-lr"} <= {a.name for a in config.adapters}


def test_bad_config_file_exits_2_with_one_message(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("cohort: {manifests: [x.csv]}\nadapters: [{name: margin-15mm}]\n"
                    "executor: {kind: slurm}\n")
    assert run_app(["bench", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "executor.kind" in err and "Traceback" not in err
    assert run_app(["bench", str(tmp_path / "missing.yaml")]) == 2


def test_config_schema_command_prints_the_json_schema(capsys) -> None:
    assert run_app(["config", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert {"cohort", "adapters", "perturbations", "gates"} <= set(schema["properties"])


def test_the_readme_example_config_is_valid() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    block = readme.split("# my_bench.yaml (paths relative to this file)\n")[1].split("```")[0]
    config = parse_config(yaml.safe_load(block), base_dir=Path("/study"))
    assert config.cohort.manifests[0] == Path("/study/data/radboud.csv")
    assert config.gates[0].bound == "ci_low" and config.ablations[0].modality == "pet"


def test_a_command_or_precomputed_adapter_is_named_by_its_id_unless_params_name_it() -> None:
    config = _parse(adapters=[
        {"name": "command", "id": "vendor-x", "params": {"argv": ["x"], "tasks": ["idh"]}},
        {"name": "precomputed", "id": "export", "params": {"name": "own"}},
        {"name": "margin-15mm"}])
    assert [a.params.get("name") for a in config.adapters] == ["vendor-x", "own", None]


def test_a_manifest_given_as_the_config_says_what_each_is(tmp_path: Path, capsys) -> None:
    manifest = tmp_path / "cohort.csv"
    manifest.write_text("case_id,subject_id,site\nc1,s1,A\n")
    assert run_app(["bench", str(manifest), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "a bench config is YAML" in err and "imagination validate" in err
    assert not (tmp_path / "run").exists()
