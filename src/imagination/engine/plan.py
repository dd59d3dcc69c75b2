"""The run plan: one job per case × adapter × perturbation variant, each with a content key.

A job's key hashes what determines its output: the adapter (name, version, parameters), the
contents of the case's *input* files (never a truth mask the task registry hides), the job
kind and the perturbation with its seed. Equal keys mean a stored result can be reused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from imagination.adapters.protocol import Adapter, LearningAdapter, reads_reference_masks
from imagination.adapters.registry import is_learning
from imagination.cohort.case import Case
from imagination.config import BenchConfig
from imagination.engine.chaining import chained_pairs
from imagination.engine.hashing import DigestCache, file_digest, job_key
from imagination.engine.variants import CLEAN, REPEAT_PREFIX
from imagination.errors import InputError
from imagination.tasks.registry import companion_masks, hidden_labels, hidden_masks, job_cases

JobKind = Literal["predictions", "features"]


@dataclass(frozen=True)
class Variant:
    """A perturbation variant of the inputs (``kind=None`` is the clean data)."""

    kind: str | None = None
    severity: int = 0
    params: Mapping[str, Any] = field(default_factory=dict)
    #: > 0: a repeat run of the clean job (determinism check), never scored as a variant
    repeat: int = 0

    @property
    def id(self) -> str:
        if self.repeat:
            return f"{REPEAT_PREFIX}{self.repeat}"
        return CLEAN if self.kind is None else f"{self.kind}@{self.severity}"


@dataclass(frozen=True)
class JobSpec:
    """Everything a worker needs to run one job (picklable)."""

    key: str
    case: Case
    adapter_label: str
    adapter_name: str
    adapter_params: Mapping[str, Any]
    kind: JobKind
    tasks: tuple[str, ...]
    variant: Variant
    perturbation_seed: int | None
    vocabularies: Mapping[str, tuple[str, ...]]
    timeout_s: float | None = None
    #: chained inputs: (input, upstream adapter id, its registry name, its config params)
    chained: tuple[tuple[str, str, str, Mapping[str, Any]], ...] = ()
    #: the job's other exams by role (``TaskKind.job_cases``), blinded like ``case``
    companions: tuple[tuple[str, Case], ...] = ()

    def index_entry(self) -> dict[str, str]:
        return {"key": self.key, "case_id": self.case.case_id, "adapter": self.adapter_label,
                "perturbation_id": self.variant.id, "kind": self.kind}


def blinded(case: Case, tasks: Sequence[str] = (), *, companion: bool = False,
            reference_masks: bool = False) -> Case:
    """The case as an adapter doing ``tasks`` may see it: without the labels and truth masks
    the task registry hides (``TaskKind.blinding``); hidden files are never part of a job key.

    ``companion``: the case is another exam of the job (a pair's baseline), whose
    ``Blinding.companion_masks`` stay visible. ``reference_masks``: the adapter is a declared
    reference pathway (``reads_reference_masks``, or a chained adapter's ``@reference`` twin)
    and keeps the masks hidden only from performers; labels and masks hidden from everyone
    (the future) stay hidden whatever the adapter."""
    hidden = set(hidden_masks(tasks))
    if companion:
        hidden -= companion_masks(tasks)
    if reference_masks:
        hidden &= hidden_masks(())
    labels = hidden_labels()
    return replace(case, labels={k: v for k, v in case.labels.items() if k not in labels},
                   masks={k: v for k, v in case.masks.items() if k not in hidden})


def input_digests(case: Case, cache: DigestCache | None = None,
                  tasks: Sequence[str] = (), **blinding: bool) -> dict[str, str]:
    """SHA-256 of each input file of the case as an adapter doing ``tasks`` sees it, keyed
    by column (file digests remembered by path relative to the manifest; ``blinding``: the
    keyword arguments of :func:`blinded`)."""
    seen = blinded(case, tasks, **blinding)
    root = None if case.manifest is None else case.manifest.parent
    digests = {m: file_digest(p, cache, root=root) for m, p in sorted(seen.images.items())}
    digests.update({f"mask_{m}": file_digest(p, cache, root=root)
                    for m, p in sorted(seen.masks.items())})
    digests.update({f"tissue_{t}": file_digest(p, cache, root=root)
                    for t, p in sorted(seen.tissues.items())})
    return digests


def variants(config: BenchConfig, label: str | None = None) -> list[Variant]:
    """The clean variant first, then every configured perturbation × severity (those that
    apply to adapter ``label`` when given)."""
    out = [Variant()]
    for pert in config.perturbations:
        if label is not None and pert.adapters is not None and label not in pert.adapters:
            continue
        out.extend(Variant(pert.kind, level, dict(pert.params)) for level in pert.severities)
    return out


def ablation_variant(modality: str) -> Variant:
    """The inputs without ``modality`` (the ``drop_<modality>`` perturbation)."""
    return Variant(f"drop_{modality}", 1)


def adapter_variants(config: BenchConfig, label: str, case_number: int) -> list[Variant]:
    """Variants one adapter runs on the ``case_number``-th case: the shared ones, its
    ablations and, on the first ``reproducibility.max_cases`` cases, its repeat runs."""
    out = variants(config, label)
    for ablation in config.ablations:
        extra = ablation_variant(ablation.modality)
        if ablation.adapter == label and extra not in out:
            out.append(extra)
    repro = config.reproducibility
    if repro.max_cases is None or case_number < repro.max_cases:
        out.extend(Variant(repeat=r) for r in range(1, repro.repeats))
    return out

def _seed(base: int, case_id: str, kind: str, severity: int) -> int:
    from imagination.perturb.registry import perturbation_seed

    return perturbation_seed(base, case_id, kind, severity)


def _applies(case: Case, variant: Variant) -> bool:
    from imagination.perturb.registry import is_applicable

    assert variant.kind is not None
    return is_applicable(case, variant.kind, variant.params)


def _record(variant: Variant, seed: int | None) -> dict[str, Any]:
    """The perturbation's replay record (kind, severity, value, seed, params, algorithm
    version): part of the job key, so a changed algorithm is never served from the store."""
    from imagination.perturb.registry import perturbation_record

    assert variant.kind is not None
    return perturbation_record(variant.kind, variant.severity, int(seed or 0),
                               dict(variant.params))


def validate_variants(config: BenchConfig) -> None:
    """Refuse unknown perturbation kinds, severities or parameters before anything runs."""
    from imagination.perturb.registry import validate_request

    for index, pert in enumerate(config.perturbations):
        for level in pert.severities:
            try:
                validate_request(pert.kind, level, pert.params)
            except InputError as exc:
                raise InputError(f"config perturbations[{index}]: {exc}") from None
    for index, ablation in enumerate(config.ablations):
        try:
            validate_request(ablation_variant(ablation.modality).kind or "", 1, {})
        except InputError as exc:
            raise InputError(f"config ablations[{index}]: {exc}") from None


def adapter_tasks(adapter: Adapter | LearningAdapter, config: BenchConfig) -> tuple[str, ...]:
    return tuple(t for t in config.tasks if t in adapter.tasks)


def build_plan(
    config: BenchConfig,
    cases: Sequence[Case],
    adapters: Mapping[str, Adapter | LearningAdapter],
    vocabularies: Mapping[str, tuple[str, ...]],
    *,
    digest_cache: DigestCache | None = None,
) -> list[JobSpec]:
    """All jobs of the run, in a stable order (case, adapter, variant)."""
    by_label = {a.label: a for a in config.adapters}
    by_id = {c.case_id: c for c in cases}
    twins = set(chained_pairs(config).values())
    jobs: list[JobSpec] = []
    for number, case in enumerate(cases):
        for label, adapter in adapters.items():
            tasks = adapter_tasks(adapter, config)
            others = job_cases(tasks, case, by_id) if tasks else None
            if others is None:
                continue  # no task of this adapter, or no job of its task on this case
            reads_truth = reads_reference_masks(adapter) or label in twins
            digests = input_digests(case, digest_cache, tasks, reference_masks=reads_truth)
            companions = tuple(
                (role, blinded(other, tasks, companion=True, reference_masks=reads_truth))
                for role, other in sorted(others.items()))
            companion_digests = {
                f"{role}/{column}": digest for role, other in companions
                for column, digest in input_digests(other, digest_cache).items()}
            kind: JobKind = "features" if is_learning(adapter) else "predictions"
            params = dict(adapter.params())
            for variant in adapter_variants(config, label, number):
                if variant.kind is not None and not _applies(case, variant):
                    continue  # e.g. drop_pet on a case without PET: nothing to perturb
                seed = None if variant.kind is None else _seed(
                    config.statistics.seed, case.case_id, variant.kind, variant.severity)
                pert = None if variant.kind is None else _record(variant, seed)
                extra: dict[str, Any] = {"kind": kind, "tasks": list(tasks)}
                if variant.repeat:
                    extra["repeat"] = variant.repeat
                seen, chained = {**digests, **companion_digests}, by_label[label].inputs
                if chained:  # the upstream job's key replaces the reference mask's digest
                    seen = {k: v for k, v in seen.items() if k not in chained}
                    extra["inputs"] = {
                        k: upstream_key(adapters[c.from_], config, digests, pert)
                        for k, c in sorted(chained.items())}
                key = job_key(adapter.name, adapter.version, params, seen, pert, extra=extra)
                jobs.append(JobSpec(
                    key=key, case=blinded(case, tasks, reference_masks=reads_truth),
                    adapter_label=label,
                    adapter_name=by_label[label].name, adapter_params=dict(by_label[label].params),
                    kind=kind, tasks=tasks, variant=variant, perturbation_seed=seed,
                    vocabularies=dict(vocabularies), timeout_s=by_label[label].timeout_s,
                    chained=tuple((k, c.from_, by_label[c.from_].name,
                                   dict(by_label[c.from_].params))
                                  for k, c in sorted(chained.items())),
                    companions=companions))
    return jobs


def upstream_key(upstream: Adapter | LearningAdapter, config: BenchConfig,
                 digests: Mapping[str, str], perturbation: Mapping[str, Any] | None) -> str:
    """The key of the upstream adapter's own job on the same inputs and perturbation."""
    tasks = adapter_tasks(upstream, config) or tuple(upstream.tasks)
    return job_key(upstream.name, upstream.version, dict(upstream.params()), digests,
                   perturbation, extra={"kind": "predictions", "tasks": list(tasks)})
