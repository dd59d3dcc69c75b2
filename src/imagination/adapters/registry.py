"""Where adapters come from: built-in baselines, entry points, and configured kinds.

* built-ins: the weight-free reference baselines of :data:`BUILTINS`;
* third-party packages: entry points of the group ``imagination.adapters`` whose object is an
  adapter class or factory (called with the configured parameters);
* configured kinds: ``command``, ``precomputed`` and ``container`` (:data:`CONFIGURED`),
  whose parameters (name, argv or files, image, tasks, ...) come from the bench config.

A built-in name wins over an entry point of the same name.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from importlib.metadata import entry_points
from typing import Any, Final, Literal

from imagination.adapters.baselines.age_volume_lr import AgeVolumeLRAdapter
from imagination.adapters.baselines.empty_seg import EmptySegAdapter
from imagination.adapters.baselines.fk_growth import FKGrowthAdapter
from imagination.adapters.baselines.intensity_seg import IntensityRuleSegAdapter
from imagination.adapters.baselines.margin import MarginAdapter
from imagination.adapters.baselines.pet_btv import PetBtvAdapter
from imagination.adapters.baselines.prevalence import PrevalenceAdapter
from imagination.adapters.baselines.radiomics_lr import RadiomicsLRAdapter
from imagination.adapters.baselines.random import RandomPlanAdapter
from imagination.adapters.baselines.rano2 import Rano2Adapter, Rano2PerfusionAdapter
from imagination.adapters.baselines.t2flair_mismatch import T2FlairMismatchAdapter
from imagination.adapters.command import CommandAdapter
from imagination.adapters.container import container_adapter
from imagination.adapters.precomputed import PrecomputedAdapter
from imagination.adapters.protocol import Adapter, LearningAdapter, ModelCard, blinding_of
from imagination.errors import InputError, did_you_mean

ENTRY_POINT_GROUP: Final[str] = "imagination.adapters"

Factory = Callable[..., Adapter | LearningAdapter]
Kind = Literal["builtin", "entry_point", "configured"]

BUILTINS: Final[dict[str, Factory]] = {
    "margin-15mm": MarginAdapter,
    "pet-btv": PetBtvAdapter,
    "fk-growth": partial(FKGrowthAdapter, use_pet=False),
    "fk-growth-pet": partial(FKGrowthAdapter, use_pet=True),
    "random": RandomPlanAdapter,
    "t2flair-mismatch": T2FlairMismatchAdapter,
    "age-volume-lr": AgeVolumeLRAdapter,
    "radiomics-lr": RadiomicsLRAdapter,
    "prevalence": PrevalenceAdapter,
    "intensity-rule-seg": IntensityRuleSegAdapter,
    "empty": EmptySegAdapter,
    "rano2": Rano2Adapter,
    "rano2-perfusion": Rano2PerfusionAdapter,
}
CONFIGURED: Final[dict[str, Factory]] = {
    "command": CommandAdapter,
    "precomputed": PrecomputedAdapter,
    "container": container_adapter,
}
CONFIGURED_SUMMARY: Final[dict[str, str]] = {
    "command": "external program or container: argv template with {input} and {output}",
    "precomputed": "exported predictions: CSV of probabilities and a folder of NIfTI maps",
    "container": "packaged model image (podman/docker/apptainer) under a named I/O layout",
}


@dataclass(frozen=True)
class AdapterInfo:
    """What ``adapters list`` shows about one adapter name."""

    name: str
    kind: Kind
    source: str
    learning: bool = False
    tasks: tuple[str, ...] = ()
    required_modalities: tuple[str, ...] = ()
    optional_modalities: tuple[str, ...] = ()
    card: ModelCard | None = None
    summary: str = ""
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "source": self.source,
            "learning": self.learning, "tasks": list(self.tasks),
            "required_modalities": list(self.required_modalities),
            "optional_modalities": list(self.optional_modalities),
            "card": self.card.to_dict() if self.card is not None else None,
            "summary": self.summary, "error": self.error,
        }


def _source(factory: Factory) -> str:
    target = factory.func if isinstance(factory, partial) else factory
    return f"{target.__module__}:{getattr(target, '__qualname__', repr(target))}"


def is_learning(adapter: object) -> bool:
    """Whether the adapter learns from the cohort (``extract`` + ``fit_predict``)."""
    return isinstance(adapter, LearningAdapter)


def _describe(name: str, kind: Kind, factory: Factory) -> AdapterInfo:
    try:
        adapter = factory()
    except Exception as exc:  # a broken third-party adapter must not break the listing
        return AdapterInfo(name, kind, _source(factory), error=f"{type(exc).__name__}: {exc}")
    return AdapterInfo(
        name=name, kind=kind, source=_source(factory), learning=is_learning(adapter),
        tasks=tuple(adapter.tasks), required_modalities=tuple(adapter.required_modalities),
        optional_modalities=tuple(adapter.optional_modalities), card=adapter.card,
        summary=adapter.card.intended_use,
    )


def entry_point_factories() -> dict[str, Factory | Exception]:
    """Adapters registered by installed packages (a load failure is kept as the value)."""
    out: dict[str, Factory | Exception] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name in BUILTINS or point.name in CONFIGURED:
            continue
        try:
            out[point.name] = point.load()
        except Exception as exc:  # an unimportable plug-in is reported, not fatal
            out[point.name] = exc
    return out


def available() -> dict[str, AdapterInfo]:
    """Every adapter name the registry knows, built-ins first."""
    out = {name: _describe(name, "builtin", factory) for name, factory in BUILTINS.items()}
    for name, loaded in entry_point_factories().items():
        if isinstance(loaded, Exception):
            out[name] = AdapterInfo(name, "entry_point", ENTRY_POINT_GROUP,
                                    error=f"cannot load: {type(loaded).__name__}: {loaded}")
        else:
            out[name] = _describe(name, "entry_point", loaded)
    for name, factory in CONFIGURED.items():
        out[name] = AdapterInfo(name, "configured", _source(factory),
                                summary=CONFIGURED_SUMMARY[name])
    return out


def _factory(name: str) -> Factory:
    if name in BUILTINS:
        return BUILTINS[name]
    if name in CONFIGURED:
        return CONFIGURED[name]
    loaded = entry_point_factories().get(name)
    if isinstance(loaded, Exception):
        raise InputError(f"adapter {name}: its package failed to load: {loaded}")
    if loaded is None:
        known = [*BUILTINS, *CONFIGURED, *entry_point_factories()]
        raise InputError(f"unknown adapter {name!r}; known: {', '.join(known)}")
    return loaded


def create(name: str, /, **params: Any) -> Adapter | LearningAdapter:
    """Build the adapter ``name`` with ``params`` (from the bench config).

    ``command`` and ``precomputed`` take their own ``name`` among ``params``.
    """
    factory = _factory(name)
    fixed = factory.keywords if isinstance(factory, partial) else {}
    clash = sorted(set(fixed) & set(params))
    if clash:
        raise InputError(f"adapter {name}: parameters {clash} are fixed by the adapter's name")
    signature = inspect.signature(factory)
    try:
        signature.bind(**params)
    except TypeError as exc:
        allowed = [p for p in signature.parameters if p not in fixed and p != "base_dir"]
        unexpected = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
        hint = did_you_mean(unexpected.group(1), allowed) if unexpected else ""
        raise InputError(f"adapter {name}: bad parameters: {exc}{hint}; parameters: "
                         f"{', '.join(allowed)}") from exc
    adapter = factory(**params)
    if not isinstance(adapter, Adapter | LearningAdapter):
        raise InputError(f"adapter {name}: {_source(factory)} built a "
                         f"{type(adapter).__name__}, which is neither an Adapter nor a "
                         "LearningAdapter")
    return adapter


def describe(adapter: Adapter | LearningAdapter) -> Mapping[str, Any]:
    """A built adapter's identity for provenance and reports."""
    return {"name": adapter.name, "version": adapter.version, "tasks": list(adapter.tasks),
            "learning": is_learning(adapter), "params": dict(adapter.params()),
            "card": adapter.card.to_dict(), "blinding": blinding_of(adapter)}
