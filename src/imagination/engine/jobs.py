"""The worker side of a job: load the blinded case, perturb it, run the adapter, check it.

Runs in a worker process (local pool or Dask). Any exception for this case becomes a failure
record; the run goes on. A problem of the machine (disk full, read-only file system, a
supervisor that cannot run, a stop) becomes an ``infrastructure`` record, which the bench never
stores: it stops the run with exit 3 and the same command resumes.

Adapters receive a *sealed* case (:func:`sealed`): arrays, grid, label map and covariates, but
no file path, no manifest and (as planned) no labels or truth masks.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

from imagination.adapters.protocol import Adapter, LearningAdapter, Predictions
from imagination.adapters.registry import create
from imagination.adapters.validation import AdapterFailure, check_inputs, check_predictions
from imagination.cohort.case import Case, LoadedCase
from imagination.cohort.lazy import freeze
from imagination.cohort.loading import open_case
from imagination.engine.blobs import BaseMaps
from imagination.engine.cost import Cost, measure
from imagination.engine.executors import Failure
from imagination.engine.hashing import canonical_json
from imagination.engine.plan import JobSpec
from imagination.engine.store import JobRecord, StorePayload, encode_record
from imagination.errors import RunIncomplete
from imagination.redact import Redactor, home_root
from imagination.runfolder import INFRASTRUCTURE_ERRNOS, infrastructure_error
from imagination.tasks.registry import kind_of

#: Failure kind of a job stopped by a problem of the machine: never stored, the run stops.
INFRASTRUCTURE: Final[str] = "infrastructure"


@lru_cache(maxsize=32)
def _adapter(name: str, params_json: str) -> Adapter | LearningAdapter:
    import json

    return create(name, **json.loads(params_json))


def adapter_for(spec: JobSpec) -> Adapter | LearningAdapter:
    """The job's adapter, built once per worker process and parameter set."""
    return _adapter(spec.adapter_name, canonical_json(dict(spec.adapter_params)))


#: Loaded (blinded, clean) cases kept per worker process: the plan orders jobs case by case,
#: so consecutive jobs of a worker usually share their case and load it once.
_LOADED: OrderedDict[tuple[str, str, tuple[str, ...]], LoadedCase] = OrderedDict()
_LOADED_MAX = 3


def _frozen(loaded: LoadedCase) -> LoadedCase:
    for arrays in (loaded.images, loaded.masks, loaded.tissues):
        freeze(arrays)  # an adapter writing into its inputs fails loudly
    return loaded


def load_blinded(spec: JobSpec) -> LoadedCase:
    """The job's clean case with its other exams (``companions``), each from this worker's
    small cache when a previous job had it.

    Arrays are read-only and every job gets its own dictionaries, so no job can change the
    inputs of another. The key holds the visible masks: adapters doing different tasks see
    different masks of one case (a segmentation model never sees the tumour mask)."""
    loaded = _load_cached(spec.case)
    loaded.companions = {role: _load_cached(case) for role, case in spec.companions}
    return loaded


def _load_cached(case: Case) -> LoadedCase:
    key = (case.case_id, str(case.manifest), tuple(sorted(case.masks)))
    return _remembered(_LOADED, _LOADED_MAX, key, lambda: open_case(case))


def _remembered(cache: OrderedDict[Any, LoadedCase], limit: int, key: Any,
                compute: Callable[[], LoadedCase]) -> LoadedCase:
    """``compute()`` frozen and kept in ``cache`` (the ``limit`` most recent), returned with
    dictionaries of its own so that no job changes another's inputs."""
    cached = cache.get(key)
    if cached is None:
        cached = _frozen(compute())
        cache[key] = cached
        while len(cache) > limit:
            cache.popitem(last=False)
    else:
        cache.move_to_end(key)
    return cached.views()


#: The last perturbed case of this worker: the bench runs a case's adapters variant by variant
#: (``engine.bench.run_order``), so the adapters reading one perturbed copy perturb it once
#: (two: a response job's follow-up and its baseline).
_PERTURBED: OrderedDict[str, LoadedCase] = OrderedDict()
_PERTURBED_MAX = 2


def _perturbed(spec: JobSpec, loaded: LoadedCase) -> LoadedCase:
    """The job's perturbation applied to its clean case, or this worker's copy of that."""
    from imagination.perturb.registry import apply_perturbation

    case = loaded.case  # the job's exam or one of its other exams (a response baseline)
    seed = int(spec.perturbation_seed or 0)
    key = canonical_json({"case": [case.case_id, str(case.manifest), sorted(case.masks)],
                          "kind": spec.variant.kind, "severity": spec.variant.severity,
                          "seed": seed, "params": dict(spec.variant.params)})
    return _remembered(_PERTURBED, _PERTURBED_MAX, key, lambda: apply_perturbation(
        loaded, str(spec.variant.kind), spec.variant.severity, seed, spec.variant.params))


def prepare_case(spec: JobSpec) -> LoadedCase:
    """Load the blinded case and its other exams; apply the job's perturbation and chained
    inputs to each (the same seed on every exam)."""
    loaded = load_blinded(spec)
    companions = {role: _prepared(spec, other) for role, other in loaded.companions.items()}
    loaded = _prepared(spec, loaded)
    loaded.companions = companions
    return loaded


def _prepared(spec: JobSpec, loaded: LoadedCase) -> LoadedCase:
    """One exam perturbed (when the perturbation applies to it) and fed chained inputs."""
    if spec.variant.kind is not None:
        from imagination.perturb.registry import is_applicable

        if is_applicable(loaded.case, spec.variant.kind, spec.variant.params):
            loaded = _perturbed(spec, loaded)
    for _, label, name, params in spec.chained:  # the mask an upstream model made of this case
        from imagination.engine.chaining import feed_upstream

        loaded = feed_upstream(loaded, _adapter(name, canonical_json(dict(params))), label)
    return loaded


def sealed(loaded: LoadedCase) -> LoadedCase:
    """The case as an adapter receives it: no file paths (each image and mask is named only
    by its role), no manifest, no labels, no truth mask; its other exams sealed alike."""
    case = replace(loaded.case, images={m: Path(m) for m in loaded.images},
                   masks={m: Path(f"mask_{m}") for m in loaded.masks},
                   tissues={t: Path(f"tissue_{t}") for t in loaded.case.tissues}, labels={},
                   manifest=None)
    return replace(loaded.views(), case=case,
                   companions={role: sealed(other) for role, other in loaded.companions.items()})


def _work(spec: JobSpec) -> Predictions | dict[str, float]:
    if spec.variant.repeat:  # a determinism repeat recomputes: nothing remembered is reused
        from imagination.adapters.baselines.memo import clear_all

        clear_all()
    adapter = adapter_for(spec)
    case = sealed(prepare_case(spec))
    check_inputs(adapter, case)
    if spec.kind == "features":
        features = adapter.extract(case)  # type: ignore[union-attr]
        return {str(k): float(v) for k, v in features.items()}
    predictions = adapter.predict(case)  # type: ignore[union-attr]
    check_predictions(predictions, adapter, case, spec.tasks, vocabularies=spec.vocabularies)
    return predictions


def _record(spec: JobSpec, **fields: Any) -> JobRecord:
    return JobRecord(key=spec.key, case_id=spec.case.case_id, adapter=spec.adapter_label,
                     perturbation_id=spec.variant.id, **fields)


def _infrastructure_reason(exc: BaseException) -> str | None:
    """The one-line message when ``exc`` is a problem of the machine, not of the case."""
    if isinstance(exc, RunIncomplete):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno in INFRASTRUCTURE_ERRNOS:
        return str(infrastructure_error(exc))
    return None


def _public(spec: JobSpec, failure: dict[str, str]) -> dict[str, str]:
    """A failure as stored: no absolute path (input paths relative to the manifest's folder)."""
    roots = [] if spec.case.manifest is None else [(spec.case.manifest.parent, "")]
    return Redactor([*roots, *home_root()]).tree(failure)


def run_job(spec: JobSpec) -> JobRecord:
    """Run one job; a failure of this case is returned as a failure record, never raised."""
    started = time.perf_counter()
    try:
        result, cost = measure(_work, spec)
    except Exception as exc:
        cost = Cost(time.perf_counter() - started, 0.0, 0.0)
        machine = _infrastructure_reason(exc)
        if machine is not None:
            return _record(spec, kind="failure", failure={"kind": INFRASTRUCTURE,
                                                          "reason": machine}, cost=cost)
        failure = AdapterFailure.from_exception(exc, case_id=spec.case.case_id,
                                                adapter=spec.adapter_label)
        return _record(spec, kind="failure", failure=_public(spec, failure.to_dict()),
                       cost=cost)
    if isinstance(result, Predictions):
        outputs = {t: kind_of(t).output.normalise(result.outputs[t]) for t in spec.tasks}
        return _record(spec, kind="predictions", outputs=outputs, cost=cost)
    return _record(spec, kind="features", features=result, cost=cost)


@dataclass(frozen=True)
class EncodedRecord:
    """A job's record as store bytes (compressed in the worker), with its failure, if any."""

    key: str
    failure: dict[str, Any] | None
    payload: StorePayload


#: This worker's clean maps of its current case: its variants' maps are stored against them.
_BASES = BaseMaps()


def run_job_encoded(spec: JobSpec) -> EncodedRecord:
    """:func:`run_job`, with the record encoded here: a worker process compresses its own
    maps, so the parent only writes bytes (``PredictionStore.put_encoded``)."""
    record = run_job(spec)
    return EncodedRecord(record.key, record.failure, encode_record(record, bases=_BASES))


def failure_record(spec: JobSpec, failure: Failure, wall_s: float) -> JobRecord:
    """The record of a job the executor could not finish (timeout, crash)."""
    info: Mapping[str, str] = {"kind": failure.kind, "reason": failure.reason}
    return _record(spec, kind="failure", failure=dict(info), cost=Cost(wall_s, 0.0, 0.0))
