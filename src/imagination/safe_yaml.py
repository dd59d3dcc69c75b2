"""The one YAML (and JSON document) reader: every YAML the harness reads goes through here.

PyYAML's safe loader plus three limits a hostile or careless file could otherwise exploit:

- **duplicate keys are refused** (YAML says they are an error; PyYAML keeps the last one);
  ``<<`` merge keys may still be overridden, as YAML's merge rules intend;
- **an alias budget**: the document, with every alias expanded, may hold at most
  :data:`MAX_NODES` nodes (a "billion laughs" of nested aliases is refused before anything
  walks it), and recursive aliases are refused;
- **a size cap** and **regular files only** (a FIFO or a device never blocks a read).

Errors are :class:`YamlError` (an ``InputError``: exit 2) whose message names the line.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any, Final

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from imagination.errors import InputError

#: Nodes a document may hold once every alias is expanded (a config has a few hundred).
MAX_NODES: Final[int] = 1_000_000
#: Largest YAML or JSON document read (bytes); a manifest of 10,000 cases is ~5 MB.
MAX_BYTES: Final[int] = 64 * 2**20
_MERGE_TAG = "tag:yaml.org,2002:merge"


class YamlError(InputError):
    """A YAML or JSON document that cannot be read safely (exit 2)."""


def _line(node: Node) -> int:
    return node.start_mark.line + 1


class _Loader(yaml.SafeLoader):
    """Safe loader refusing duplicate keys (checked on the explicit keys of each mapping)."""

    def construct_mapping(self, node: Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # unhashable key: the base class reports it
                    continue
                if first is not None:
                    raise YamlError(f"duplicate key {key!r} at line {_line(key_node)} (first at "
                                    f"line {first}); each key may appear once")
                seen[key] = _line(key_node)
        return super().construct_mapping(node, deep=deep)  # type: ignore[arg-type]


def _check_budget(root: Node, max_nodes: int) -> None:
    """Refuse documents whose alias-expanded size exceeds ``max_nodes`` or that recurse."""
    weight: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Node) -> int:
        ident = id(node)
        if ident in weight:
            return weight[ident]
        if ident in active:
            raise YamlError(f"recursive alias at line {_line(node)}; not allowed")
        active.add(ident)
        total = 1
        if isinstance(node, SequenceNode):
            for child in node.value:
                total += size(child)
                if total > max_nodes:
                    break
        elif isinstance(node, MappingNode):
            for key, value in node.value:
                total += size(key) + size(value)
                if total > max_nodes:
                    break
        active.discard(ident)
        if total > max_nodes:
            raise YamlError(f"the document expands to more than {max_nodes:,} nodes through "
                            f"its aliases (from line {_line(node)}); refused (alias bomb?)")
        weight[ident] = total
        return total

    size(root)


def load_yaml_text(text: str, *, max_nodes: int = MAX_NODES) -> Any:
    """Parse one YAML document under the limits above (``None`` for an empty document)."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        _check_budget(root, max_nodes)
        return loader.construct_document(root)
    except YamlError:
        raise
    except yaml.YAMLError as exc:
        raise YamlError(f"not valid YAML: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise YamlError("not valid YAML: nested too deeply") from None
    finally:
        loader.dispose()


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise YamlError(f"duplicate key {key!r}; each key may appear once")
        out[key] = value
    return out


def load_json_text(text: str) -> Any:
    """Parse JSON, refusing duplicate keys."""
    try:
        return json.loads(text, object_pairs_hook=_refuse_duplicates)
    except json.JSONDecodeError as exc:
        raise YamlError(f"not valid JSON: {exc}") from None
    except RecursionError:
        raise YamlError("not valid JSON: nested too deeply") from None


def read_text_file(path: str | os.PathLike[str], *, max_bytes: int = MAX_BYTES) -> str:
    """The UTF-8 text of a regular file of at most ``max_bytes``; else :class:`YamlError`.

    Opened without blocking, so a FIFO or a device is refused instead of hanging the read.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise YamlError("file not found") from None
    except OSError as exc:
        raise YamlError(f"cannot open: {exc.strerror or exc}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise YamlError("not a regular file")
    with os.fdopen(fd, "rb") as handle:
        if info.st_size > max_bytes:
            raise YamlError(f"{info.st_size:,} bytes; larger than the {max_bytes:,}-byte limit")
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise YamlError(f"larger than the {max_bytes:,}-byte limit")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlError(f"not UTF-8 text: {exc}") from None


def load_yaml_file(path: str | os.PathLike[str], *, max_bytes: int = MAX_BYTES,
                   max_nodes: int = MAX_NODES) -> Any:
    """Read and parse a YAML file (``.json`` files too: JSON is read as JSON)."""
    text = read_text_file(path, max_bytes=max_bytes)
    if Path(path).suffix.lower() == ".json":
        return load_json_text(text)
    return load_yaml_text(text, max_nodes=max_nodes)
