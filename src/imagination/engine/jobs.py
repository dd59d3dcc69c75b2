"""The worker side of a job: load the blinded case, perturb it, run the adapter, check it.

Runs in a worker process (local pool or Dask). Any exception for this case becomes a failure
record; the run goes on.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from imagination.adapters.protocol import Adapter, LearningAdapter, Predictions
from imagination.adapters.registry import create
from imagination.adapters.validation import AdapterFailure, check_inputs, check_predictions
from imagination.cohort.case import LoadedCase
from imagination.cohort.loading import load_case
from imagination.engine.cost import Cost, measure
from imagination.engine.executors import Failure
from imagination.engine.hashing import canonical_json
from imagination.engine.plan import JobSpec
from imagination.engine.store import JobRecord


@lru_cache(maxsize=32)
def _adapter(name: str, params_json: str) -> Adapter | LearningAdapter:
    import json

    return create(name, **json.loads(params_json))


def adapter_for(spec: JobSpec) -> Adapter | LearningAdapter:
    """The job's adapter, built once per worker process and parameter set."""
    return _adapter(spec.adapter_name, canonical_json(dict(spec.adapter_params)))


#: Loaded (blinded, clean) cases kept per worker process: the plan orders jobs case by case,
#: so consecutive jobs of a worker usually share their case and load it once.
_LOADED: OrderedDict[tuple[str, str], LoadedCase] = OrderedDict()
_LOADED_MAX = 2


def _frozen(loaded: LoadedCase) -> LoadedCase:
    for array in (*loaded.images.values(), *loaded.masks.values(), *loaded.tissues.values()):
        array.setflags(write=False)  # an adapter writing into its inputs fails loudly
    return loaded


def load_blinded(spec: JobSpec) -> LoadedCase:
    """The job's clean case, from this worker's small cache when the previous job had it.

    Arrays are read-only and every job gets its own dictionaries, so no job can change the
    inputs of another."""
    key = (spec.case.case_id, str(spec.case.manifest))
    cached = _LOADED.get(key)
    if cached is None:
        cached = _frozen(load_case(spec.case))
        _LOADED[key] = cached
        while len(_LOADED) > _LOADED_MAX:
            _LOADED.popitem(last=False)
    else:
        _LOADED.move_to_end(key)
    return LoadedCase(case=cached.case, grid=cached.grid, images=dict(cached.images),
                      masks=dict(cached.masks), tissues=dict(cached.tissues))


def prepare_case(spec: JobSpec) -> LoadedCase:
    """Load the blinded case and apply the job's perturbation."""
    loaded = load_blinded(spec)
    if spec.variant.kind is not None:
        from imagination.perturb.registry import apply_perturbation

        loaded = apply_perturbation(loaded, spec.variant.kind, spec.variant.severity,
                                    int(spec.perturbation_seed or 0), spec.variant.params)
    for _, label, name, params in spec.chained:  # the mask an upstream model made of this case
        from imagination.engine.chaining import feed_upstream

        loaded = feed_upstream(loaded, _adapter(name, canonical_json(dict(params))), label)
    return loaded


def _work(spec: JobSpec) -> Predictions | dict[str, float]:
    adapter = adapter_for(spec)
    case = prepare_case(spec)
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


def run_job(spec: JobSpec) -> JobRecord:
    """Run one job; a failure of this case is returned as a failure record, never raised."""
    started = time.perf_counter()
    try:
        result, cost = measure(_work, spec)
    except Exception as exc:
        failure = AdapterFailure.from_exception(exc, case_id=spec.case.case_id,
                                                adapter=spec.adapter_label)
        return _record(spec, kind="failure", failure=failure.to_dict(),
                       cost=Cost(time.perf_counter() - started, 0.0, 0.0))
    if isinstance(result, Predictions):
        classification = {t: {str(c): float(p) for c, p in probs.items()}
                          for t, probs in result.classification.items() if t in spec.tasks}
        recurrence = result.recurrence if "recurrence" in spec.tasks else None
        return _record(spec, kind="predictions", classification=classification,
                       recurrence=recurrence, cost=cost)
    return _record(spec, kind="features", features=result, cost=cost)


def failure_record(spec: JobSpec, failure: Failure, wall_s: float) -> JobRecord:
    """The record of a job the executor could not finish (timeout, crash)."""
    info: Mapping[str, str] = {"kind": failure.kind, "reason": failure.reason}
    return _record(spec, kind="failure", failure=dict(info), cost=Cost(wall_s, 0.0, 0.0))
