"""The one YAML reader: duplicate keys, alias budget, recursion, size and file-type limits."""

from __future__ import annotations

import os
import threading

import pytest

from imagination.safe_yaml import (
    YamlError,
    load_json_text,
    load_yaml_file,
    load_yaml_text,
    read_text_file,
)


def laughs(levels: int, width: int = 10) -> str:
    """The classic "billion laughs": ``width ** levels`` leaves from a few hundred bytes."""
    lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_plain_yaml_with_anchors_and_merge_keys_reads_as_pyyaml_safe_load():
    text = "base: &b {x: 1, y: 2}\nuse: {<<: *b, y: 3}\nlist: &l [1, 2]\nagain: *l\n"
    assert load_yaml_text(text) == {"base": {"x": 1, "y": 2}, "use": {"x": 1, "y": 3},
                                    "list": [1, 2], "again": [1, 2]}
    assert load_yaml_text("") is None


@pytest.mark.parametrize("text, key, line", [
    ("a: 1\nb: 2\na: 3\n", "a", 3),
    ("cases:\n  - {case_id: c1, t2: x.nii.gz, t2: y.nii.gz}\n", "t2", 2),
    ("env:\n  TOKEN: one\n  TOKEN: two\n", "TOKEN", 3),
])
def test_duplicate_keys_are_refused_naming_key_and_line(text, key, line):
    with pytest.raises(YamlError) as caught:
        load_yaml_text(text)
    assert f"duplicate key {key!r} at line {line}" in str(caught.value)


def test_an_alias_bomb_is_refused_before_expansion():
    with pytest.raises(YamlError, match="alias bomb"):
        load_yaml_text(laughs(9))  # 10**9 leaves
    # a small expansion is fine: 10**3 leaves
    assert len(load_yaml_text(laughs(3))["a2"]) == 10


def test_recursive_aliases_are_refused():
    with pytest.raises(YamlError, match="recursive alias"):
        load_yaml_text("a: &a [1, *a]\n")


def test_malformed_yaml_and_unsafe_tags_are_yaml_errors():
    with pytest.raises(YamlError, match="not valid YAML"):
        load_yaml_text("a: [1, 2\n")
    with pytest.raises(YamlError, match="not valid YAML"):
        load_yaml_text("!!python/object/apply:os.system ['true']\n")


def test_json_duplicate_keys_are_refused():
    assert load_json_text('{"a": 1, "b": {"c": 2}}') == {"a": 1, "b": {"c": 2}}
    with pytest.raises(YamlError, match="duplicate key 'a'"):
        load_json_text('{"a": 1, "a": 2}')


def test_only_regular_files_are_read_and_a_fifo_never_blocks(tmp_path):
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)
    result: list[BaseException | object] = []
    reader = threading.Thread(target=lambda: result.append(_catch(lambda: read_text_file(fifo))),
                              daemon=True)
    reader.start()
    reader.join(timeout=20)
    assert not reader.is_alive(), "reading a FIFO blocked"
    assert isinstance(result[0], YamlError) and "not a regular file" in str(result[0])
    with pytest.raises(YamlError, match="not a regular file"):
        read_text_file(tmp_path)
    with pytest.raises(YamlError, match="file not found"):
        read_text_file(tmp_path / "absent.yaml")


def test_size_cap(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("a: " + "x" * 200 + "\n")
    with pytest.raises(YamlError, match="limit"):
        load_yaml_file(path, max_bytes=100)
    assert load_yaml_file(path)["a"] == "x" * 200


def _catch(call):
    try:
        return call()
    except BaseException as exc:  # handed back to the test thread
        return exc


def test_every_yaml_read_goes_through_safe_yaml():
    """One YAML reader: a module parsing YAML itself would skip the duplicate-key and alias
    checks (use imagination.safe_yaml.load_yaml_file / load_yaml_text instead)."""
    import re
    from pathlib import Path

    import imagination

    package = Path(imagination.__file__).parent
    direct = re.compile(r"\byaml\.(safe_load|load|full_load|unsafe_load|load_all|safe_load_all)\(")
    offenders = [str(path.relative_to(package)) for path in sorted(package.rglob("*.py"))
                 if path.name != "safe_yaml.py" and direct.search(path.read_text())]
    assert offenders == [], f"parse YAML through imagination.safe_yaml: {offenders}"
