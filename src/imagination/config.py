"""The bench configuration: a validated YAML schema (pydantic), JSON-schema exportable.

Errors name the YAML path of the wrong key and, where the value is a choice, the allowed values.
Relative paths are resolved against the config file's folder.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from imagination.config_checks import check_references
from imagination.errors import InputError, did_you_mean
from imagination.names import Name
from imagination.safe_yaml import YamlError, load_yaml_file
from imagination.tasks.registry import TASK_NAMES

#: A task name of the registry (``imagination tasks list``).
TaskName = Literal[TASK_NAMES]  # type: ignore[valid-type]

#: Configured adapter kinds whose relative paths (``argv``, ``predictions_csv``, ``maps_dir``)
#: resolve against the config's folder, passed to them as ``base_dir``.
RELATIVE_TO_CONFIG: tuple[str, ...] = ("command", "precomputed")
#: Largest seed accepted (NumPy seeds are non-negative; JSON keeps 63-bit integers exact).
MAX_SEED = 2**63 - 1
#: Longest per-case timeout accepted (one week).
MAX_TIMEOUT_S = 7 * 24 * 3600.0


class _Strict(BaseModel):
    # every number is finite: `.inf` / `.nan` in YAML are errors, never a silent "no limit"
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class SyntheticCohort(_Strict):
    """A synthetic cohort made on first use in the cache folder."""

    cases: int = Field(default=40, ge=4, le=2000)
    sites: int = Field(default=3, ge=1, le=20)
    seed: int = Field(default=1, ge=0, le=MAX_SEED)
    resolution: float = Field(default=2.0, gt=0.5, le=8.0, description="voxel size in mm")
    followups: int = Field(
        default=0, ge=0, le=12,
        description="longitudinal series: follow-ups after each glioblastoma subject's "
                    "post-radiotherapy exam (0: one pre-operative exam per subject)")
    series: int | None = Field(
        default=None, ge=0, description="with followups: at most this many glioblastoma "
                                        "subjects get a series (default: all)")


class CohortConfig(_Strict):
    manifests: list[Path] = Field(default_factory=list, description="manifest files")
    synthetic: SyntheticCohort | None = Field(
        default=None, description="use the synthetic demo cohort instead of manifests")
    allow_outside_root: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> CohortConfig:
        if not self.manifests and self.synthetic is None:
            raise ValueError("give 'manifests' or 'synthetic'")
        if self.manifests and self.synthetic is not None:
            raise ValueError("give either 'manifests' or 'synthetic', not both")
        return self


class ChainedInput(_Strict):
    """An input taken from another adapter's output on the same case."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: str = Field(alias="from", description="id of the adapter whose output is used")


class AdapterConfig(_Strict):
    name: Name = Field(description="registry name (see `imagination adapters list`)")
    id: Name | None = Field(default=None, description="display name; defaults to name")
    params: dict[str, Any] = Field(default_factory=dict)
    timeout_s: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT_S,
                                    description="per case, in seconds")
    inputs: dict[str, ChainedInput] = Field(
        default_factory=dict, description="chained inputs, e.g. {mask_tumor: {from: SEG_ID}}: "
        "the mask comes from that adapter's segmentation of the same case")

    @property
    def label(self) -> str:
        return self.id or self.name


class PerturbationConfig(_Strict):
    kind: str = Field(description="perturbation name (see imagination.perturb)")
    severities: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5])
    params: dict[str, Any] = Field(default_factory=dict)
    adapters: list[str] | None = Field(
        default=None, description="adapter ids to perturb (default: all; a precomputed "
        "adapter cannot react to its inputs)")

    @field_validator("severities")
    @classmethod
    def _levels(cls, value: list[int]) -> list[int]:
        bad = [v for v in value if not 1 <= v <= 5]
        if bad:
            raise ValueError(f"severity levels must be 1..5, got {bad}")
        return sorted(set(value))


class StatisticsConfig(_Strict):
    n_resamples: int = Field(default=2000, ge=100, le=100_000)
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    ci_method: Literal["bca", "percentile"] = "percentile"


class CrossfitConfig(_Strict):
    n_folds: int = Field(default=5, ge=2, le=20)
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    leave_one_site_out: bool = False


class ExecutorConfig(_Strict):
    kind: Literal["local", "dask"] = "local"
    workers: int = Field(default=2, ge=1, le=512)
    scheduler: str | None = Field(default=None, description="Dask scheduler address")


class GateConfig(_Strict):
    """``task:metric OP value`` for an adapter (or all adapters)."""

    task: str
    metric: str
    op: Literal[">=", "<=", ">", "<"] = ">="
    value: float
    adapter: str | None = None
    bound: Literal["value", "ci_low", "ci_high"] = Field(
        default="value", description="compare the estimate or an interval bound")

    @model_validator(mode="before")
    @classmethod
    def _on_means_bound(cls, data: Any) -> Any:
        # the command line says `on=ci_low`; in YAML 1.1 a bare `on:` key reads as True
        if isinstance(data, dict):
            for key in ("on", True):
                if key in data and "bound" not in data:
                    data = {("bound" if k == key else k): v for k, v in data.items()}
        return data


class RobustnessConfig(_Strict):
    reference_adapter: str | None = Field(
        default=None, description="adapter whose errors normalise corruption errors")
    metrics: dict[str, list[str]] = Field(
        default_factory=dict,
        description="per task: metrics tracked under perturbation (default: the primary ones)")


class AblationConfig(_Strict):
    """Run ``adapter`` with and without ``modality`` and test the paired difference."""

    name: str | None = None
    adapter: str = Field(description="adapter id")
    modality: str = Field(description="modality removed from the inputs, e.g. pet")
    task: str = "recurrence"
    metric: str = "coverage_all_model"

    @property
    def label(self) -> str:
        return self.name or f"{self.adapter} without {self.modality}"


class SiteShiftConfig(_Strict):
    leave_one_site_out: bool = Field(
        default=True, description="also refit learning baselines leaving one site out")


class ReproducibilityConfig(_Strict):
    repeats: int = Field(default=1, ge=1, le=20,
                         description="runs of each adapter on the same inputs (1 = no check)")
    max_cases: int | None = Field(default=None, ge=1,
                                  description="repeat only the first N cases")
    retest_timepoints: tuple[str, str] = Field(
        default=("test", "retest"),
        description="timepoint values that pair repeat scans of one subject")


class BenchConfig(_Strict):
    name: Name = "bench"
    cohort: CohortConfig
    tasks: list[TaskName] = Field(default_factory=lambda: list(TASK_NAMES))
    adapters: list[AdapterConfig] = Field(min_length=1)
    metrics: dict[str, list[str]] = Field(
        default_factory=dict, description="per task: metric names (default: all of the family)")
    perturbations: list[PerturbationConfig] = Field(default_factory=list)
    statistics: StatisticsConfig = Field(default_factory=StatisticsConfig)
    crossfit: CrossfitConfig = Field(default_factory=CrossfitConfig)
    failure_policy: Literal["worst", "exclude"] = "worst"
    gates: list[GateConfig] = Field(default_factory=list)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    recurrence_margin_mm: float = Field(default=15.0, gt=0, le=50)
    robustness: RobustnessConfig = Field(default_factory=RobustnessConfig)
    ablations: list[AblationConfig] = Field(default_factory=list)
    site_shift: SiteShiftConfig = Field(default_factory=SiteShiftConfig)
    reproducibility: ReproducibilityConfig = Field(default_factory=ReproducibilityConfig)

    @model_validator(mode="after")
    def _chained_inputs(self) -> BenchConfig:
        # the other cross-references are checked by config_checks (YAML paths, closest names)
        labels = [a.label for a in self.adapters]
        for adapter in self.adapters:
            for key, source in adapter.inputs.items():
                if key != "mask_tumor":
                    raise ValueError(f"adapters[{adapter.label}].inputs: {key!r} cannot be "
                                     "chained (allowed: mask_tumor)")
                if source.from_ not in labels or source.from_ == adapter.label:
                    raise ValueError(f"adapters[{adapter.label}].inputs.{key}.from: "
                                     f"{source.from_!r} is not another configured adapter "
                                     f"(allowed: {[x for x in labels if x != adapter.label]})")
                upstream = next(a for a in self.adapters if a.label == source.from_)
                if upstream.inputs:
                    raise ValueError(f"adapters[{adapter.label}].inputs.{key}.from: "
                                     f"{source.from_!r} is itself chained; chains are one "
                                     "model deep")
        return self

def yaml_path(loc: Sequence[int | str]) -> str:
    """``("gates", 2, "metric")`` -> ``gates[2].metric``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _allowed_keys(loc: Sequence[int | str]) -> list[str]:
    """The keys the config accepts in the mapping holding ``loc``'s last key (from the JSON
    schema; empty when the mapping takes free keys, e.g. an adapter's ``params``)."""
    schema = BenchConfig.model_json_schema()
    defs = schema.get("$defs", {})

    def branches(node: dict[str, Any]) -> list[dict[str, Any]]:
        if "$ref" in node:
            return branches(defs.get(node["$ref"].rsplit("/", 1)[-1], {}))
        if "anyOf" in node or "oneOf" in node:
            return [b for n in node.get("anyOf", node.get("oneOf", [])) for b in branches(n)]
        return [node]

    nodes = [schema]
    for part in loc[:-1]:
        nodes = [child for node in nodes for branch in branches(node)
                 for child in ([branch["items"]] if isinstance(part, int) and "items" in branch
                               else [branch["properties"][part]]
                               if not isinstance(part, int) and part in branch.get("properties", {})
                               else [])]
    return sorted({key for node in nodes for branch in branches(node)
                   for key in branch.get("properties", {})})


def _format_errors(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        msg = err["msg"]
        ctx = err.get("ctx") or {}
        value = err.get("input")
        if err["type"] == "extra_forbidden" and err["loc"]:
            key = err["loc"][-1]
            allowed = _allowed_keys(err["loc"])
            msg = (f"unknown key {key!r}{did_you_mean(key, allowed)}"
                   + (f"; allowed: {', '.join(allowed)}" if allowed else ""))
        elif "expected" in ctx:
            allowed = re.findall(r"'([^']*)'", str(ctx["expected"]))
            msg = (f"{value!r} is not allowed{did_you_mean(value, allowed)}; allowed: "
                   f"{ctx['expected']}")
        elif err["type"] not in ("missing", "extra_forbidden") and isinstance(
                value, int | float | str) and not isinstance(value, bool):
            msg += f", got {value!r}"
        lines.append(f"  {yaml_path(err['loc'])}: {msg}")
    return f"config {source} is invalid:\n" + "\n".join(lines)


def parse_config(data: dict[str, Any], *, base_dir: Path, source: str = "<config>") -> BenchConfig:
    """Validate a config mapping; resolve manifest paths against ``base_dir``."""
    if not isinstance(data, dict):
        raise InputError(f"config {source}: the top level must be a mapping")
    try:
        config = BenchConfig.model_validate(data)
    except ValidationError as exc:
        raise InputError(_format_errors(exc, source)) from None
    check_references(config, source)
    config.cohort.manifests = [
        p if p.is_absolute() else (base_dir / p).resolve() for p in config.cohort.manifests
    ]
    for adapter in config.adapters:
        adapter.params = resolve_param_paths(adapter.name, adapter.params, base_dir)
        if adapter.name in NAMED_BY_PARAMS and "name" not in adapter.params:
            adapter.params["name"] = adapter.label  # `id: vendor-x` names it too
    for adapter in config.adapters:  # their relative paths name files beside the config
        if adapter.name in RELATIVE_TO_CONFIG:
            given = Path(str(adapter.params.get("base_dir", ".")))
            adapter.params["base_dir"] = str(given if given.is_absolute()
                                             else (base_dir / given).resolve())
    return config


#: Configured adapter kinds that take their own ``name`` among ``params`` (default: the id).
NAMED_BY_PARAMS = ("command", "precomputed")

#: Adapter parameters (and layout options) that are paths, resolved against the config folder.
PATH_PARAMS: dict[str, tuple[str, ...]] = {
    "container": ("image_archive", "registry"),
}
LAYOUT_PATH_OPTIONS: tuple[str, ...] = ("additional_files", "parameters_file")


def resolve_param_paths(kind: str, params: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """``params`` with the path parameters of adapter ``kind`` made absolute."""
    def absolute(value: Any) -> Any:
        if not isinstance(value, str) or not value:
            return value
        path = Path(value).expanduser()
        return str(path if path.is_absolute() else (base_dir / path).resolve())

    out = dict(params)
    for key in PATH_PARAMS.get(kind, ()):
        if key in out:
            out[key] = absolute(out[key])
    options = out.get("layout_options")
    if kind == "container" and isinstance(options, dict):
        out["layout_options"] = {k: absolute(v) if k in LAYOUT_PATH_OPTIONS else v
                                 for k, v in options.items()}
    return out


def load_config(path: str | os.PathLike[str]) -> BenchConfig:
    """Read and validate a YAML bench config."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"config {path}: file not found")
    if path.suffix.lower() in (".csv", ".tsv"):
        raise InputError(f"config {path}: a bench config is YAML; a manifest is named in it "
                         f"(cohort: {{manifests: [{path.name}]}}), or checked with "
                         f"`imagination validate {path}`")
    try:
        data = load_yaml_file(path)
    except YamlError as exc:
        raise InputError(f"config {path}: {exc}") from None
    return parse_config(data or {}, base_dir=path.parent.resolve(), source=str(path))


def config_json_schema() -> dict[str, Any]:
    schema = BenchConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "imagination bench config"
    return schema


def demo_config_path() -> Path:
    """The embedded demo config shipped inside the package."""
    return Path(__file__).parent / "configs" / "demo.yaml"
