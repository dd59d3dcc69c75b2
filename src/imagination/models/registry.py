"""Model registry files (as the BraTS orchestrator's ``brats/data/meta/*.yml``).

A registry is a YAML list of packages; each entry names its image (``image`` or
``image_archive``, relative to the registry file), pinned ``digest``, ``layout``, ``tasks``,
the inputs it needs, its label codes (``label_map``, default the layout's), its reference
space, CPU or GPU, expected time per case, code and weights licences and paper. A bench config
uses an entry with ``{name: container, params: {model: ID, registry: FILE}}``; parameters
given there override the entry's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from imagination.errors import InputError
from imagination.safe_yaml import YamlError, load_yaml_file

#: Environment variable naming the default registry file.
REGISTRY_ENV = "IMAGINATION_MODELS"


class ModelEntry(BaseModel):
    """One packaged model."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    image: str | None = None
    image_archive: str | None = None
    digest: str | None = None
    layout: str
    layout_options: dict[str, Any] = Field(default_factory=dict)
    tasks: list[str] = Field(min_length=1)
    modalities: list[str] | None = Field(
        default=None, description="inputs: modalities, mask_<name>, tissue_<name>")
    label_map: str | dict[int, str] | None = Field(
        default=None, description="the package's label codes (preset or {code: region}); "
        "default: the layout's convention")
    reference_space: Literal["SRI24", "MNI152", "native"] = "native"
    device: Literal["cpu", "gpu"] = "cpu"
    expected_s_per_case: float | None = Field(default=None, gt=0)
    timeout_s: float = Field(default=3600.0, gt=0)
    code_licence: str = "not declared"
    weights_licence: str = "not declared"
    paper: str = ""
    intended_use: str = ""
    version: str = "unversioned"

    @model_validator(mode="after")
    def _one_image(self) -> ModelEntry:
        if (self.image is None) == (self.image_archive is None):
            raise ValueError("give exactly one of image or image_archive")
        return self

    def adapter_params(self, base_dir: Path) -> dict[str, Any]:
        """Parameters of the ``container`` adapter running this entry."""
        params: dict[str, Any] = {
            "layout": self.layout, "tasks": list(self.tasks), "timeout_s": self.timeout_s,
            "gpus": self.device == "gpu", "version": self.version,
            "card": {"intended_use": self.intended_use or f"{self.id} ({self.layout} layout)",
                     "licence": f"code {self.code_licence}; weights {self.weights_licence}",
                     "reference": self.paper},
        }
        if self.layout_options:
            params["layout_options"] = dict(self.layout_options)
        if self.modalities is not None:
            params["modalities"] = list(self.modalities)
        if self.label_map is not None:
            params["label_map"] = (self.label_map if isinstance(self.label_map, str)
                                   else dict(self.label_map))
        if self.digest is not None:
            params["digest"] = self.digest
        if self.image is not None:
            params["image"] = self.image
        else:
            archive = Path(str(self.image_archive)).expanduser()
            params["image_archive"] = str(archive if archive.is_absolute()
                                          else (base_dir / archive).resolve())
        return params


class Registry:
    """A registry file's entries by id."""

    def __init__(self, path: Path, entries: list[ModelEntry]) -> None:
        self.path = path
        self.entries = {e.id: e for e in entries}

    def get(self, model_id: str) -> ModelEntry:
        if model_id not in self.entries:
            raise InputError(f"model registry {self.path}: no model {model_id!r}; models: "
                             f"{', '.join(self.entries) or '(none)'}")
        return self.entries[model_id]


def default_registry_path() -> Path | None:
    value = os.environ.get(REGISTRY_ENV)
    return Path(value) if value else None


def load_registry(path: str | os.PathLike[str] | None = None) -> Registry:
    """Read and validate a registry file (default: ``$IMAGINATION_MODELS``)."""
    chosen = Path(path) if path is not None else default_registry_path()
    if chosen is None:
        raise InputError(f"no model registry: pass --registry FILE or set {REGISTRY_ENV}")
    if not chosen.is_file():
        raise InputError(f"model registry {chosen}: file not found")
    try:  # the one safe reader: duplicate keys refused, alias budget, regular files only
        document = load_yaml_file(chosen)
    except YamlError as exc:
        raise InputError(f"model registry {chosen}: {exc}") from None
    if not isinstance(document, list):
        raise InputError(f"model registry {chosen}: the top level must be a list of models")
    entries: list[ModelEntry] = []
    for index, item in enumerate(document):
        try:
            entries.append(ModelEntry.model_validate(item))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(entry)'}: "
                                 f"{e['msg']}" for e in exc.errors())
            raise InputError(f"model registry {chosen}, entry {index}: {problems}") from None
    ids = [e.id for e in entries]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise InputError(f"model registry {chosen}: repeated ids {repeated}")
    return Registry(chosen.resolve(), entries)


def container_params(params: dict[str, Any]) -> dict[str, Any]:
    """A ``container`` adapter's parameters with ``model``/``registry`` expanded from the
    registry (explicit parameters win)."""
    if "model" not in params:
        return params
    rest = dict(params)
    model_id = str(rest.pop("model"))
    registry = load_registry(rest.pop("registry", None))
    entry = registry.get(model_id)
    merged = {**entry.adapter_params(registry.path.parent), **rest}
    if "image" in rest:
        merged.pop("image_archive", None)
    if "image_archive" in rest:
        merged.pop("image", None)
    merged.setdefault("name", model_id)
    return merged
