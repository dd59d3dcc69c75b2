"""`imagination bench`: walk the line once — cohort, plan, execute (resumable), score, report.

Every stage reads what the stage before wrote: a killed run resumes from the store, and
``imagination report RUN_DIR`` redoes the right end without running a model.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from imagination import __version__
from imagination.adapters.protocol import Adapter, LearningAdapter
from imagination.adapters.registry import create, describe
from imagination.atomic import atomic_write_text
from imagination.cohort.cohort import Cohort
from imagination.cohort.manifest import meta_path_for, read_manifest
from imagination.cohort.vocabulary import CLASSIFICATION_TASKS
from imagination.config import BenchConfig, SyntheticCohort
from imagination.config_checks import GateRef, check_against_run
from imagination.engine.aggregate import STATISTICAL_TESTS
from imagination.engine.case_pool import local_processes
from imagination.engine.chaining import (
    REFERENCE_SUFFIX,
    with_reference_twins,
    write_chained_table,
)
from imagination.engine.executors import make_executor, start_fork_server
from imagination.engine.hashing import canonical
from imagination.engine.jobs import (
    INFRASTRUCTURE,
    EncodedRecord,
    failure_record,
    run_job,
    run_job_encoded,
)
from imagination.engine.plan import (
    CLEAN,
    JobSpec,
    adapter_tasks,
    build_plan,
    input_digests,
    validate_variants,
)
from imagination.engine.provenance import collect_environment, write_run_json
from imagination.engine.runlock import hold as hold_run_lock
from imagination.engine.runlock import is_held
from imagination.engine.store import JobRecord, PredictionStore, open_shard, shard_root
from imagination.errors import InputError, RunIncomplete
from imagination.redact import Redactor, home_root
from imagination.runfolder import inside

log = logging.getLogger("imagination.bench")

ProgressHook = Callable[[str, int, int], None]
#: Finished records waiting to be written (bounds the memory held by the writer queue).
STORE_QUEUE = 8


@dataclass
class BenchOutcome:
    """What a finished bench run produced."""

    run_dir: Path
    n_jobs: int
    n_computed: int
    n_reused: int
    n_failed: int
    tables: dict[str, Path] = field(default_factory=dict)
    #: adapter id -> ids of the cases whose clean job failed, in plan order
    failed_cases: dict[str, list[str]] = field(default_factory=dict)
    #: adapter id -> number of cases of its clean jobs
    planned_cases: dict[str, int] = field(default_factory=dict)
    #: ``(index, count)`` for a ``--shard`` run (nothing scored), else ``None``.
    shard: tuple[int, int] | None = None
    #: Records adopted from finished shards.
    n_adopted: int = 0


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` (1 <= I <= N) as ``(I, N)``; anything else is an :class:`InputError`."""
    parts = text.split("/")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise InputError(f"--shard {text!r}: expected I/N, e.g. 2/8 (shard 2 of 8)")
    index, count = int(parts[0]), int(parts[1])
    if not 1 <= index <= count:
        raise InputError(f"--shard {text!r}: I must be between 1 and N")
    return index, count


def shard_jobs(plan: Sequence[JobSpec], index: int, count: int) -> list[JobSpec]:
    """Shard ``index`` of ``count``'s share of the plan: whole cases (each case is loaded by
    one shard), dealt round-robin in sorted case-id order, so shards differ by at most one case."""
    cases = sorted({job.case.case_id for job in plan})
    mine = {case for position, case in enumerate(cases) if position % count == index - 1}
    return [job for job in plan if job.case.case_id in mine]


@dataclass
class PreparedBench:
    """Everything checked and loaded before the run folder is touched."""

    manifests: list[Path]
    cohort: Cohort
    vocabularies: dict[str, tuple[str, ...]]
    adapters: dict[str, Adapter | LearningAdapter]
    seconds: float
    #: the config the run uses (with the reference twins of chained adapters)
    config: BenchConfig


def cache_dir() -> Path:
    """Where generated cohorts are kept (``$IMAGINATION_CACHE`` or ``~/.cache/imagination``)."""
    env = os.environ.get("IMAGINATION_CACHE")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return (base if env else base / "imagination").resolve()


def ensure_synthetic_cohort(spec: SyntheticCohort, *, workers: int = 1) -> Path:
    """The manifest of a synthetic cohort, generated on first use (atomically) in the cache."""
    from imagination.cohort.synthetic import GENERATOR_VERSION, SynthConfig, generate_cohort

    name = (f"synth-v{GENERATOR_VERSION}-c{spec.cases}-s{spec.sites}-seed{spec.seed}"
            f"-r{spec.resolution:g}")
    if spec.followups:
        name += f"-f{spec.followups}" + ("" if spec.series is None else f"-n{spec.series}")
    target = cache_dir() / "cohorts" / name
    manifest = target / "manifest.csv"
    if manifest.is_file():
        return manifest
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=target.parent))
    try:
        log.info("generating the synthetic cohort %s (first use)", name)
        generate_cohort(staging, SynthConfig(n_cases=spec.cases, n_sites=spec.sites,
                                             seed=spec.seed, resolution_mm=spec.resolution,
                                             workers=workers, followups=spec.followups,
                                             series=spec.series))
        try:
            staging.rename(target)
        except OSError:  # another process won the race: use its cohort
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def resolve_manifests(config: BenchConfig, *, workers: int = 1) -> list[Path]:
    if config.cohort.synthetic is not None:
        return [ensure_synthetic_cohort(config.cohort.synthetic, workers=workers)]
    return list(config.cohort.manifests)


VALIDATED_FILE = "validated.json"


def cohort_fingerprint(manifests: Sequence[Path]) -> str | None:
    """A digest of the manifests' bytes and of every referenced file's path, size and mtime
    (``None`` when a file cannot be stat'ed): equal fingerprints mean nothing was touched."""
    digest = hashlib.sha256()
    try:
        for path in manifests:
            manifest = read_manifest(path)
            for source in (manifest.path, meta_path_for(manifest.path)):
                if source.is_file():
                    digest.update(str(source).encode() + b"\0" + source.read_bytes())
            for case in manifest.cases():
                for file in sorted({*case.images.values(), *case.masks.values(),
                                    *case.tissues.values()}):
                    stat = file.stat()
                    digest.update(f"{file}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    except (OSError, InputError):
        return None
    return digest.hexdigest()


def load_cohort(manifests: Sequence[Path], run_dir: Path, *,
                allow_outside_root: bool, workers: int = 1) -> Cohort:
    """The validated cohort. The voxel-level checks (every file read in full, in ``workers``
    processes) are skipped when this run folder validated exactly these files before (same
    fingerprint); the table, identity and leakage checks always run."""
    known = None
    try:
        known = json.loads((run_dir / VALIDATED_FILE).read_text()).get("fingerprint")
    except (OSError, ValueError):
        known = None
    unchanged = known is not None and known == cohort_fingerprint(manifests)
    if unchanged:
        log.info("cohort files unchanged since their last validation: header checks only")
    return Cohort.from_manifests(manifests, allow_outside_root=allow_outside_root,
                                 check_files=not unchanged, workers=workers)


def cohort_vocabularies(manifests: Sequence[Path]) -> dict[str, tuple[str, ...]]:
    """Class vocabulary per classification task; manifests validated together must agree."""
    vocab: dict[str, tuple[str, ...]] = {}
    for path in manifests:
        meta = read_manifest(path).meta
        for task in CLASSIFICATION_TASKS:
            words = meta.vocabulary(task)
            if task in vocab and vocab[task] != words:
                raise InputError(f"manifest {path}: vocabulary of {task} {list(words)} differs "
                                 f"from another manifest's {list(vocab[task])}")
            vocab[task] = words
    return vocab


def _check_chained_inputs(entry: Any, adapter: object) -> None:
    """An adapter whose parameters name the upstream of an input (optional attribute
    ``chained_inputs``: input -> adapter id, e.g. ``rano2`` with ``masks: seg``) must be
    configured with that chain (``inputs: {mask_tumor: {from: seg}}``)."""
    if entry.label.endswith(REFERENCE_SUFFIX):
        return  # a chained adapter's reference twin reads the reference masks instead
    for name, upstream in dict(getattr(adapter, "chained_inputs", {}) or {}).items():
        given = entry.inputs.get(name)
        if given is None or given.from_ != upstream:
            raise InputError(f"config adapters[{entry.label}]: its params read {name} from "
                             f"adapter {upstream}: add inputs: {{{name}: {{from: {upstream}}}}}")


def build_adapters(config: BenchConfig) -> dict[str, Adapter | LearningAdapter]:
    adapters: dict[str, Adapter | LearningAdapter] = {}
    for entry in config.adapters:
        try:
            adapters[entry.label] = create(entry.name, **entry.params)
        except InputError as exc:
            raise InputError(f"config adapters[{entry.label}]: {exc}") from None
        _check_chained_inputs(entry, adapters[entry.label])
        prepare = getattr(adapters[entry.label], "prepare", None)
        if callable(prepare):  # e.g. load and verify a container image, before any job
            try:
                prepare()
            except InputError as exc:
                raise InputError(f"config adapters[{entry.label}]: {exc}") from None
        if not set(adapters[entry.label].tasks) & set(config.tasks):
            log.warning("adapter %s does none of the configured tasks; it is skipped",
                        entry.label)
    return adapters


def _write_json(path: Path, doc: Mapping[str, Any]) -> None:
    atomic_write_text(path, json.dumps(canonical(dict(doc)), indent=2, sort_keys=True) + "\n")


def _case_of(job: JobSpec) -> str:
    """Jobs of one case go to the worker that holds that case in memory."""
    return job.case.case_id


#: Modules the local workers' fork server imports once.
WORKER_PRELOAD = ("imagination.engine.jobs",)


def run_order(jobs: Sequence[JobSpec]) -> list[JobSpec]:
    """``jobs`` case by case and, within a case, variant by variant (the plan goes adapter by
    adapter): the adapters reading one perturbed copy of a case run one after another, so a
    worker perturbs it once (``engine.jobs.prepare_case``). Only the order of work changes."""
    cases: dict[str, dict[str, list[JobSpec]]] = {}
    for job in jobs:
        cases.setdefault(job.case.case_id, {}).setdefault(job.variant.id, []).append(job)
    return [job for variants in cases.values() for group in variants.values() for job in group]


def _execute(jobs: Sequence[JobSpec], store: PredictionStore, config: BenchConfig,
             workers: int, executor_kind: str, scheduler: str | None,
             progress: ProgressHook | None) -> tuple[int, int]:
    """Run the missing jobs; each finished job is stored at once. Returns (done, failed)."""
    done = failed = 0
    total = len(jobs)
    per_adapter_total: dict[str, int] = {}
    for job in jobs:
        per_adapter_total[job.adapter_label] = per_adapter_total.get(job.adapter_label, 0) + 1
    per_adapter_done = dict.fromkeys(per_adapter_total, 0)
    by_timeout: dict[float | None, list[JobSpec]] = {}
    for job in run_order(jobs):
        by_timeout.setdefault(job.timeout_s, []).append(job)
    # worker processes return their records compressed (run_job_encoded), so compression runs
    # in parallel and off the parent; one background thread of the parent writes them (and,
    # for jobs run in this process, compresses them: zstd releases the GIL), so the next job
    # starts while the last one is being stored; every write ends before scoring
    with make_executor(executor_kind, workers, scheduler,  # type: ignore[arg-type]
                       preload=WORKER_PRELOAD) as executor, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="store") as writer:
        pending: list[Future[None]] = []
        for timeout, group in by_timeout.items():
            job_fn: Callable[[JobSpec], JobRecord | EncodedRecord] = (
                run_job if executor.runs_in_process(timeout) else run_job_encoded)
            for spec, outcome in executor.map_unordered(job_fn, group, timeout_s=timeout,
                                                        affinity=_case_of):
                result = outcome.value if outcome.ok else None
                if result is None:
                    assert outcome.failure is not None
                    result = failure_record(spec, outcome.failure, outcome.wall_s)
                failure = result.failure
                if failure is not None and failure.get("kind") == INFRASTRUCTURE:
                    raise RunIncomplete(str(failure.get("reason")))
                if isinstance(result, EncodedRecord):
                    pending.append(writer.submit(store.put_encoded, spec.key, result.payload))
                else:
                    pending.append(writer.submit(store.put, spec.key, result))
                if len(pending) > STORE_QUEUE:
                    pending.pop(0).result()
                done += 1
                failed += failure is not None
                per_adapter_done[spec.adapter_label] += 1
                if progress:
                    progress("models", done, total)
                    progress(f"  {spec.adapter_label}", per_adapter_done[spec.adapter_label],
                             per_adapter_total[spec.adapter_label])
        for future in pending:
            future.result()
    return done, failed


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """While models run, SIGTERM stops the run as Ctrl-C does: running model programs are
    killed with their whole process tree (``adapters.process``), finished jobs are kept."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def public_provenance(provenance: Mapping[str, Any], run_dir: Path,
                      manifests: Sequence[Path], config_source: str | None) -> Any:
    """``provenance`` as published: paths relative to the config's, the run's or a manifest's
    folder (else ``…/name``), the home folder as ``~``, ``env`` values reduced to names."""
    roots: list[tuple[Path, str]] = []
    if config_source:
        roots.append((Path(config_source).parent, ""))
    roots += [(run_dir, ""), *((Path(m).parent, "") for m in manifests),
              (cache_dir(), "$IMAGINATION_CACHE"), *home_root()]
    return Redactor(roots).tree(provenance)


def prepare_bench(config: BenchConfig, *, run_dir: Path, workers: int | None = None,
                  extra_gates: Sequence[GateRef] = (),
                  config_source: str | None = None) -> PreparedBench:
    """Check and load everything a run needs without writing into ``run_dir``: perturbations,
    the cohort (a configured synthetic one is made in the cache), the adapters, and every
    cross-reference that needs them (:func:`config_checks.check_against_run`)."""
    t0 = time.perf_counter()
    validate_variants(config)
    config = with_reference_twins(config)
    manifests = resolve_manifests(config, workers=workers or config.executor.workers)
    cohort = load_cohort(manifests, Path(run_dir).resolve(),
                         allow_outside_root=config.cohort.allow_outside_root,
                         workers=local_processes(config, workers))
    vocabularies = cohort_vocabularies(cohort.manifests)
    adapters = build_adapters(config)
    check_against_run(config, {label: adapter_tasks(a, config) for label, a in adapters.items()},
                      vocabularies, extra_gates, source=config_source or "<config>")
    if not len(cohort):
        raise InputError("the cohort has no case: the plan would be empty")
    return PreparedBench(manifests, cohort, vocabularies, adapters, time.perf_counter() - t0,
                         config)


def _failed_cases(plan: Sequence[JobSpec], store: PredictionStore,
                  ) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Per adapter: the cases whose clean job failed, and how many clean jobs it has."""
    failed_keys = {r.key for r in store.rows() if r.status == "failed"}
    failed: dict[str, list[str]] = {}
    planned: dict[str, set[str]] = {}
    for job in plan:
        if job.variant.id != CLEAN:
            continue
        planned.setdefault(job.adapter_label, set()).add(job.case.case_id)
        cases = failed.setdefault(job.adapter_label, [])
        if job.key in failed_keys and job.case.case_id not in cases:
            cases.append(job.case.case_id)
    return failed, {a: len(c) for a, c in planned.items()}


def _missing(plan: Sequence[JobSpec], store: PredictionStore, *, force: bool,
             retry_failed: bool) -> list[JobSpec]:
    """Planned jobs to run: absent, damaged (checksum verified before reuse), or forced."""
    if force:
        for job in plan:
            store.discard(job.key)
    failed_keys = {r.key for r in store.rows() if r.status == "failed"} if retry_failed else set()
    return [job for job in plan if job.key in failed_keys or not store.has(job.key, verify=True)]


def _run_shard(config: BenchConfig, cohort: Cohort,
               adapters: Mapping[str, Adapter | LearningAdapter],
               vocabularies: Mapping[str, tuple[str, ...]], run_dir: Path,
               shard: tuple[int, int], *, workers: int, executor: str, scheduler: str | None,
               force: bool, retry_failed: bool, progress: ProgressHook | None) -> BenchOutcome:
    """Run one shard's share of the plan into its private store; nothing else is written."""
    index, count = shard
    root = shard_root(run_dir / "store", index, count)
    root.mkdir(parents=True, exist_ok=True)
    with hold_run_lock(root, f"imagination bench --shard {index}/{count}"):
        store = open_shard(root)
        plan = build_plan(config, list(cohort.cases), dict(adapters), dict(vocabularies),
                          digest_cache=store)
        jobs = shard_jobs(plan, index, count)
        missing = _missing(jobs, store, force=force, retry_failed=retry_failed)
        log.info("shard %d/%d: %d of %d jobs: %d stored, %d to run", index, count, len(jobs),
                 len(plan), len(jobs) - len(missing), len(missing))
        try:
            _, failed = _execute(missing, store, config, workers, executor, scheduler, progress)
        except KeyboardInterrupt:
            raise RunIncomplete(
                f"interrupted; finished jobs are kept in {root}: run the same command again "
                "to resume") from None
        finally:
            store.close()
    return BenchOutcome(run_dir=run_dir, n_jobs=len(jobs), n_computed=len(missing),
                        n_reused=len(jobs) - len(missing), n_failed=failed, shard=shard)


def _adopt_shards(store: PredictionStore) -> int:
    """Move the records of every finished shard into ``store``; a running shard stops the run."""
    adopted = 0
    for folder in store.shard_folders():
        if is_held(folder):
            raise RunIncomplete(f"shard {folder.name} is still running (its store {folder} is "
                                "locked); run this command again when every shard has finished")
        count = store.adopt(folder)
        log.info("adopted %d stored jobs of shard %s", count, folder.name)
        adopted += count
    return adopted


def run_bench(
    config: BenchConfig,
    *,
    run_dir: Path,
    workers: int | None = None,
    executor: str | None = None,
    scheduler: str | None = None,
    force: bool = False,
    retry_failed: bool = False,
    progress: ProgressHook | None = None,
    config_source: str | None = None,
    prepared: PreparedBench | None = None,
    shard: tuple[int, int] | None = None,
) -> BenchOutcome:
    """Run (or resume) a benchmark into ``run_dir`` and write its tables and reports.

    ``prepared`` (from :func:`prepare_bench`) skips the checks and loading already done. With
    ``shard=(I, N)``, run only shard I's share of the plan into its private store and score
    nothing; the next unsharded run adopts every finished shard's records."""
    from imagination.engine.scoring import score_run

    started = datetime.now(UTC)
    workers = workers or config.executor.workers
    executor = executor or config.executor.kind
    scheduler = scheduler or config.executor.scheduler
    timings: dict[str, float] = {}

    run_dir = Path(run_dir).resolve()
    if prepared is None:
        prepared = prepare_bench(config, run_dir=run_dir, workers=workers,
                                 config_source=config_source)
    config = prepared.config
    manifests, cohort = prepared.manifests, prepared.cohort
    vocabularies, adapters = prepared.vocabularies, prepared.adapters
    timings["cohort_s"] = prepared.seconds
    t0 = time.perf_counter()

    if shard is not None:
        return _run_shard(config, cohort, adapters, vocabularies, run_dir, shard,
                          workers=workers, executor=executor, scheduler=scheduler, force=force,
                          retry_failed=retry_failed, progress=progress)
    run_dir.mkdir(parents=True, exist_ok=True)
    with hold_run_lock(run_dir):
        _write_json(inside(run_dir, VALIDATED_FILE),
                    {"fingerprint": cohort_fingerprint(manifests)})
        # no fsync per object: a record torn by a crash fails its size/checksum test and is
        # recomputed, so durability adds ~8 ms a job and no safety
        store = PredictionStore(inside(run_dir, "store"), durable=False, repair=True)
        if executor == "local" and workers > 1 and not len(store):
            # a fresh run will need workers: the fork server's imports overlap the planning
            start_fork_server(WORKER_PRELOAD)
        t1 = time.perf_counter()
        plan = build_plan(config, list(cohort.cases), adapters, vocabularies, digest_cache=store)
        _write_json(inside(run_dir, "plan.json"), {"jobs": [job.index_entry() for job in plan]})
        timings["plan_s"] = time.perf_counter() - t1

        adopted = _adopt_shards(store)
        missing = _missing(plan, store, force=force, retry_failed=retry_failed)
        log.info("%d jobs: %d stored, %d to run", len(plan), len(plan) - len(missing), len(missing))

        t2 = time.perf_counter()
        try:
            with _terminate_as_interrupt():
                _execute(missing, store, config, workers, executor, scheduler, progress)
        except KeyboardInterrupt:
            raise RunIncomplete(
                f"interrupted; finished jobs are kept in {run_dir / 'store'}: run the same command "
                "again to resume") from None
        timings["models_s"] = time.perf_counter() - t2

        t3 = time.perf_counter()
        scored = score_run(config, cohort, plan, store, run_dir, adapters=adapters,
                           vocabularies=vocabularies, progress=progress)
        chained_table = write_chained_table(config, run_dir)
        if chained_table is not None:
            scored.tables["chained"] = chained_table
        timings["scoring_s"] = time.perf_counter() - t3
        timings["wall_s"] = prepared.seconds + time.perf_counter() - t0

        provenance = {
            "imagination_version": __version__,
            "config": config.model_dump(mode="json"),
            "config_source": config_source,
            "adapters": {label: describe(a) for label, a in adapters.items()},
            "environment": collect_environment(),
            "cohort": {
                "manifests": [str(p) for p in cohort.manifests],
                "n_cases": len(cohort),
                "sites": list(cohort.sites),
                "digests": {c.case_id: input_digests(c, store) for c in cohort.cases},
            },
            "seeds": {"statistics": config.statistics.seed, "crossfit": config.crossfit.seed,
                      "perturbations": {j.key: j.perturbation_seed for j in plan
                                        if j.perturbation_seed is not None}},
            "metric_policies": scored.policies,
            "statistical_tests": STATISTICAL_TESTS,
            "timings": {"started": started.isoformat(timespec="seconds"),
                        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
                        **{k: round(v, 3) for k, v in timings.items()}},
            "jobs": {"total": len(plan), "computed": len(missing),
                     "reused": len(plan) - len(missing), "failed": scored.n_failed},
        }
        failed_cases, planned_cases = _failed_cases(plan, store)
        provenance["failures"] = {a: {"cases": planned_cases[a], "failed": failed_cases[a]}
                                  for a in planned_cases}
        write_run_json(run_dir, public_provenance(provenance, run_dir, cohort.manifests,
                                                  config_source))
        outcome = BenchOutcome(run_dir=run_dir, n_jobs=len(plan), n_computed=len(missing),
                               n_reused=len(plan) - len(missing), n_failed=scored.n_failed,
                               tables=scored.tables, failed_cases=failed_cases,
                               planned_cases=planned_cases, n_adopted=adopted)
        return outcome
