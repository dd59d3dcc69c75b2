"""The registry (built-ins, entry points, configured kinds) and `imagination adapters list`."""

from __future__ import annotations

import json
import pickle
import sys
from importlib.metadata import EntryPoint

import pytest

from imagination.adapters import registry
from imagination.adapters.protocol import Adapter, LearningAdapter
from imagination.cli.app import run_app
from imagination.errors import InputError

BUILTIN_NAMES = {"margin-15mm", "pet-btv", "fk-growth", "fk-growth-pet", "random",
                 "t2flair-mismatch", "age-volume-lr", "radiomics-lr", "prevalence"}


@pytest.fixture
def plugins(monkeypatch):
    points = [
        EntryPoint("constant-idh", "tests.adapters.plugin_example:ConstantIDH",
                   registry.ENTRY_POINT_GROUP),
        EntryPoint("broken", "tests.adapters.plugin_example:broken_factory",
                   registry.ENTRY_POINT_GROUP),
        EntryPoint("missing-pkg", "no_such_package_xyz:Model", registry.ENTRY_POINT_GROUP),
        EntryPoint("random", "tests.adapters.plugin_example:ConstantIDH",
                   registry.ENTRY_POINT_GROUP),
    ]
    monkeypatch.setattr(registry, "entry_points",
                        lambda group: [p for p in points if p.group == group])


def test_builtins_are_listed_with_tasks_and_cards():
    infos = registry.available()
    assert set(infos) >= BUILTIN_NAMES
    assert infos["fk-growth-pet"].required_modalities == ()
    assert "pet" in infos["fk-growth-pet"].optional_modalities
    assert infos["age-volume-lr"].learning and not infos["margin-15mm"].learning
    assert infos["radiomics-lr"].tasks == ("tumor_type",)
    assert all(infos[n].card is not None for n in BUILTIN_NAMES)
    assert infos["command"].kind == infos["precomputed"].kind == "configured"


@pytest.mark.parametrize("name", sorted(BUILTIN_NAMES))
def test_every_builtin_builds_conforms_and_pickles(name):
    adapter = registry.create(name)
    assert isinstance(adapter, Adapter | LearningAdapter)
    assert adapter.name == name
    clone = pickle.loads(pickle.dumps(adapter))
    assert clone.params() == adapter.params()
    json.dumps(dict(adapter.params()))  # params must be serialisable for content hashes


def test_entry_points_load_and_failures_are_reported(plugins):
    infos = registry.available()
    assert infos["constant-idh"].kind == "entry_point"
    assert infos["constant-idh"].card.licence == "MIT"
    assert "weights not found" in infos["broken"].error
    assert "cannot load" in infos["missing-pkg"].error
    assert infos["random"].kind == "builtin"  # a built-in name is never shadowed
    adapter = registry.create("constant-idh", p_mutant=0.9)
    assert adapter.params() == {"p_mutant": 0.9}
    with pytest.raises(InputError, match="failed to load"):
        registry.create("missing-pkg")


def test_create_rejects_unknown_names_and_parameters():
    with pytest.raises(InputError, match="unknown adapter 'nope'"):
        registry.create("nope")
    with pytest.raises(InputError, match="bad parameters") as info:
        registry.create("margin-15mm", margin=3)
    assert "(did you mean 'margin_mm'?); parameters: margin_mm" in str(info.value)
    with pytest.raises(InputError, match="fixed by the adapter's name"):
        registry.create("fk-growth", use_pet=True)


def test_configured_kinds_take_their_parameters_from_config(tmp_path):
    adapter = registry.create("command", name="m", argv=[sys.executable, "{input}",
                                                        "{output}"], tasks=["idh"])
    assert adapter.name == "m" and adapter.tasks == ("idh",)
    (tmp_path / "p.csv").write_text("case_id,task,wildtype,mutant\nx,idh,0.1,0.9\n")
    pre = registry.create("precomputed", name="v", predictions_csv="p.csv", base_dir=tmp_path)
    assert pre.tasks == ("idh",)


def test_cli_lists_adapters_as_json_and_text(capsys, plugins):
    assert run_app(["adapters", "list", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert BUILTIN_NAMES | {"constant-idh", "command", "precomputed"} <= set(rows)
    assert rows["t2flair-mismatch"]["required_modalities"] == ["t2", "flair"]
    assert rows["margin-15mm"]["card"]["deterministic"] is True
    assert run_app(["adapters", "list"]) == 0
    text = capsys.readouterr().out
    assert "fk-growth-pet" in text and "needs: t2, flair" in text and "weights not found" in text
