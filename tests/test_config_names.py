"""Config names (run `name`, adapter `id` and `name`) are names; the YAML is read safely."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagination.config import load_config, parse_config
from imagination.errors import InputError

BASE = {"cohort": {"manifests": ["cohort.csv"]}, "adapters": [{"name": "margin-15mm"}]}


@pytest.mark.parametrize("changes, path, why", [
    ({"name": "../outside"}, "name", "path separator"),
    ({"name": "/tmp/run"}, "name", "path separator"),
    ({"name": "run\u2044x"}, "name", "not ASCII"),      # FRACTION SLASH
    ({"name": ".."}, "name", "starts with a dot"),
    ({"adapters": [{"name": "margin-15mm", "id": "a/../../b"}]}, "adapters[0].id",
     "path separator"),
    ({"adapters": [{"name": "margin-15mm", "id": "m\u0430rgin"}]}, "adapters[0].id",
     "not ASCII"),                                        # Cyrillic a
    ({"adapters": [{"name": "margin-15mm"}, {"name": "x\\y"}]}, "adapters[1].name",
     "path separator"),
])
def test_names_that_are_not_names_are_refused_naming_the_yaml_path(changes, path, why):
    with pytest.raises(InputError) as info:
        parse_config({**BASE, **changes}, base_dir=Path("/data"))
    text = str(info.value)
    assert f"  {path}: " in text and why in text and "not a valid name" in text


def test_a_duplicate_key_in_the_config_is_refused(tmp_path):
    path = tmp_path / "bench.yaml"
    path.write_text("name: a\ncohort: {manifests: [m.csv]}\nadapters: [{name: random}]\n"
                    "name: b\n")
    with pytest.raises(InputError, match=r"duplicate key 'name' at line 4 \(first at line 1\)"):
        load_config(path)


def test_an_alias_bomb_in_a_command_env_is_refused(tmp_path):
    lines = ["cohort: {manifests: [m.csv]}", "x0: &x0 [a, a, a, a, a, a, a, a, a, a]"]
    lines += [f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 10)}]" for i in range(1, 9)]
    lines += ["adapters:", "  - name: command", "    params: {env: {BOMB: *x8}}"]
    path = tmp_path / "bench.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="alias bomb"):
        load_config(path)
