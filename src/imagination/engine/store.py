"""The run's prediction store: one content-addressed object per finished job, indexed in SQLite.

Layout under ``root`` (``RUN_DIR/store``)::

    objects/ab/<key>.rec   one job's record (``engine.store_format``): a self-verifying header
                           with ``meta`` (ids, the outputs of json output types under
                           ``outputs``, features, failure, cost) and one array per output of an
                           array type, named by its task (e.g. ``recurrence``; bit-exact,
                           losslessly compressed: ``engine.arraycodec``); what each task keeps
                           is its kind's ``stored``; ``.npz`` objects of format-1 stores are read
    blobs/ab/<digest>.blob a map of at least 16 KiB, content-addressed and immutable
                           (``engine.blobs``): the record names it; identical maps are stored
                           once, and a perturbed variant's map is stored as its difference from
                           the clean map of the same case, model and task when that is smaller
    index.sqlite           WAL-mode index: one row per key with ids, kind, status, cost and the
                           object's size and SHA-256; plus a file-digest memo (``file_digests``)
    shards/<i>-of-<n>/     the private store of one ``bench --shard i/n`` process (own index,
                           written by that process only), adopted by the unsharded run

Crash safety: a record's blobs are written first (each to a temporary file, then renamed); its
object is written to a temporary file in its folder; then, inside one SQLite write
transaction, it is renamed into place and its index row committed. A key counts as
present only when its row exists and the object has the recorded size and SHA-256, and its
blobs (and their bases) their own checksums (``has(..., verify=True)``, what a run checks
before reusing a job; ``get``); anything else (a kill -9
between rename and commit, a truncated or damaged file) is treated as missing: its row and
object are dropped and the job is recomputed. Because every read is checked, fsync buys
durability across a power cut (fewer recomputed jobs), not correctness: the folder is not
fsynced after the rename and SQLite runs with ``synchronous=NORMAL``; ``durable=False`` also
skips the object's fsync. A damaged index (not a database, or failing SQLite's
``quick_check``) is set aside as ``index.sqlite.damaged-<time>`` and rebuilt from the objects,
which carry their own checksums (``repair=True``, what ``bench`` does); otherwise it is a clear
error. Several processes may write at once: each opens its own connection (per process and
thread) and retries while the database is locked. SQLite's WAL mode needs a local file system;
on a cluster, let one process write each index (``bench --shard``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np

from imagination.atomic import TEMP_SUFFIX, write_temporary
from imagination.engine.arraycodec import EncodedArray
from imagination.engine.blobs import BLOBS_DIR, BaseMaps, BlobBytes, BlobStore, encode_map
from imagination.engine.cost import Cost
from imagination.engine.store_format import SUFFIX, DamagedObject, blob_digests, pack, unpack
from imagination.engine.variants import CLEAN
from imagination.errors import InputError
from imagination.runfolder import inside
from imagination.tasks.registry import kind_of

log = logging.getLogger("imagination.store")

JobKind = Literal["predictions", "features", "failure"]
JOB_KINDS: tuple[str, ...] = ("predictions", "features", "failure")
#: Store format: 3 keeps large maps in blobs (``engine.blobs``); 4 adds blobs stored by linear
#: prediction (``engine.prediction``), which format-3 readers do not decode. Records are
#: format-2 objects (format-1 ``.npz`` objects and format-2 records with inline maps are still
#: read).
STORE_FORMAT = 4
INDEX_NAME = "index.sqlite"
OBJECTS_DIR = "objects"
SHARDS_DIR = "shards"
_OBJECT_SUFFIXES = (SUFFIX, ".npz")
_LOCK_RETRY_S = 120.0

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS store_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS scores (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    key TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    adapter TEXT NOT NULL,
    perturbation_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    failure_kind TEXT,
    failure_reason TEXT,
    created TEXT NOT NULL,
    wall_s REAL NOT NULL,
    cpu_s REAL NOT NULL,
    peak_rss_mb REAL NOT NULL,
    object TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_adapter ON jobs (adapter, perturbation_id, kind);
CREATE TABLE IF NOT EXISTS file_digests (
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (path, size, mtime_ns)
);
"""


@dataclass
class JobRecord:
    """One finished job: its predictions or features, or why it failed, and what it cost.

    ``outputs`` maps task -> output (its task kind's output type, normalised: plain floats,
    float32 arrays). ``failure`` is ``None`` for a success, else a dict with at least ``kind``
    (``error``, ``timeout``, ``crash``, ...) and ``reason`` (values that are not JSON are stored
    as text).
    """

    key: str
    case_id: str
    adapter: str
    perturbation_id: str
    kind: str
    outputs: dict[str, Any] = field(default_factory=dict)
    features: dict[str, float] | None = None
    failure: dict[str, Any] | None = None
    cost: Cost = field(default_factory=lambda: Cost(0.0, 0.0, 0.0))

    @property
    def status(self) -> str:
        return "failed" if self.failure is not None else "ok"


@dataclass(frozen=True)
class IndexRow:
    """What the index says about one key (no object read)."""

    key: str
    case_id: str
    adapter: str
    perturbation_id: str
    kind: str
    status: str
    failure_kind: str | None
    failure_reason: str | None
    created: str
    cost: Cost


def _is_locked(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _retry_locked(action: Callable[[], T]) -> T:
    """Run ``action``, retrying with jittered backoff while SQLite reports a lock."""
    deadline = time.monotonic() + _LOCK_RETRY_S
    delay = 0.005
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if not _is_locked(exc) or time.monotonic() > deadline:
                raise
        time.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, 0.5)


@dataclass(frozen=True)
class StorePayload:
    """A record as store bytes: its object and the blobs it names (bases first)."""

    record: bytes
    blobs: tuple[BlobBytes, ...] = ()


def encode_record(record: JobRecord, *, bases: BaseMaps | None = None) -> StorePayload:
    """Serialise a record as store bytes (``engine.store_format``, ``engine.blobs``).

    With ``bases``, the maps of a clean job are remembered there, and a variant's maps are
    stored against the clean maps of its case when that is smaller."""
    if record.kind not in JOB_KINDS:
        raise ValueError(f"job kind must be one of {JOB_KINDS}, got {record.kind!r}")
    types = {task: kind_of(task).output for task in record.outputs}
    meta = {
        "format": STORE_FORMAT,
        "key": record.key,
        "case_id": record.case_id,
        "adapter": record.adapter,
        "perturbation_id": record.perturbation_id,
        "kind": record.kind,
        "outputs": {task: types[task].normalise(value)
                           for task, value in sorted(record.outputs.items())
                           if types[task].storage == "json"},
        "features": None if record.features is None
        else {str(k): float(v) for k, v in record.features.items()},
        "failure": record.failure,
        "cost": record.cost.to_dict(),
    }
    arrays: dict[str, np.ndarray] = {task: types[task].normalise(value)
                                     for task, value in sorted(record.outputs.items())
                                     if types[task].storage == "array"}
    clean = record.perturbation_id == CLEAN  # its maps: the bases of its case's variants
    inline: dict[str, EncodedArray] = {}
    named: dict[str, dict[str, Any]] = {}
    blobs: dict[str, bytes] = {}
    for task, array in arrays.items():
        base = None if bases is None or clean else bases.get(record.case_id, record.adapter, task)
        others = [] if bases is None else bases.others(record.case_id, record.adapter, task)
        encoded = encode_map(array, base, others)
        if encoded.inline is not None:
            inline[task] = encoded.inline
            continue
        named[task] = {"blob": encoded.digest, "dtype": array.dtype.str,
                       "shape": list(array.shape)}
        blobs.update(encoded.blobs)
        if bases is not None and clean and encoded.as_base is not None:
            bases.remember(record.case_id, record.adapter, task, encoded.as_base)
    body = pack(json.loads(json.dumps(meta, sort_keys=True, default=str)), inline, named)
    return StorePayload(body, tuple(blobs.items()))


def _decode(payload: bytes | Path, *, maps: bool = True,
            blobs: BlobStore | None = None) -> JobRecord:
    meta, arrays = unpack(payload, arrays=maps, blobs=None if blobs is None else blobs.load)
    try:
        # objects written before the task registry keep json outputs under "classification"
        outputs: dict[str, Any] = dict(meta.get("outputs", meta.get("classification", {})))
        outputs.update(arrays)
        return JobRecord(
            key=meta["key"], case_id=meta["case_id"], adapter=meta["adapter"],
            perturbation_id=meta["perturbation_id"], kind=meta["kind"], outputs=outputs,
            features=meta["features"], failure=meta["failure"],
            cost=Cost.from_dict(meta["cost"]),
        )
    except (KeyError, TypeError) as exc:
        raise DamagedObject(f"object meta lacks {exc}") from None


def _index_row(meta: dict[str, Any], relative: str, payload: bytes,
               created: str) -> tuple[Any, ...]:
    """The ``jobs`` row of an object, from its meta and bytes."""
    failure = meta.get("failure")
    cost = Cost.from_dict(meta["cost"])
    return (meta["key"], meta["case_id"], meta["adapter"], meta["perturbation_id"],
            meta["kind"], "failed" if failure is not None else "ok",
            None if failure is None else str(failure.get("kind", "error")),
            None if failure is None else str(failure.get("reason", "")),
            created, cost.wall_s, cost.cpu_s, cost.peak_rss_mb, relative, len(payload),
            hashlib.sha256(payload).hexdigest())


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _is_damage(exc: sqlite3.DatabaseError) -> bool:
    """True for a damaged database file (not for a lock, permissions or a full disk)."""
    if not isinstance(exc, sqlite3.OperationalError):
        return True
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text


@dataclass(frozen=True)
class Collected:
    """What ``PredictionStore.collect_garbage`` removed."""

    #: record objects and leftover files of crashes removed
    n_objects: int
    #: bytes freed, blobs included
    n_bytes: int
    #: records kept
    n_kept: int
    #: map blobs (and their leftover temporary files) removed
    n_blobs: int = 0


class PredictionStore:
    """Content-addressed, crash-safe store of job records (see the module docstring)."""

    def __init__(self, root: Path | str, *, durable: bool = True, repair: bool = False,
                 journal: str = "WAL") -> None:
        self.root = Path(root)
        self.durable = durable
        self.journal = journal
        self.objects = inside(self.root, OBJECTS_DIR)
        self.blobs = BlobStore(inside(self.root, BLOBS_DIR), durable=durable)
        #: clean maps of the case being stored, the bases of its variants' maps (``put``)
        self._bases = BaseMaps()
        self.index_path = inside(self.root, INDEX_NAME)
        self._local = threading.local()
        #: Why the index was rebuilt on opening (``None``: it was sound).
        self.rebuilt: str | None = None
        self.objects.mkdir(parents=True, exist_ok=True)
        existed = self.index_path.is_file()
        problem = self._open_index()
        if problem is None and not existed and repair and self._object_files():
            problem = "index missing"
        if problem is not None:
            if not repair:
                raise InputError(f"{self.index_path}: the store index is damaged ({problem}); "
                                 "run the same imagination bench command to rebuild it from "
                                 "the stored objects")
            self._rebuild(problem)

    # -- connections -------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return {"root": str(self.root), "durable": self.durable, "journal": self.journal}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(Path(state["root"]), durable=state["durable"],  # type: ignore[misc]
                      journal=state.get("journal", "WAL"))

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            conn = sqlite3.connect(self.index_path, timeout=30.0, isolation_level=None)
            conn.execute("PRAGMA busy_timeout = 30000")
            self._local.conn, self._local.pid = conn, os.getpid()
            _retry_locked(lambda: conn.execute(f"PRAGMA journal_mode = {self.journal}"))
            conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def close(self) -> None:
        """Close this thread's connection (others close when their thread or process ends)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            conn.close()
        self._local.conn = None

    def __enter__(self) -> PredictionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _create_schema(self) -> None:
        conn = self._connection()
        conn.executescript(_SCHEMA)
        conn.execute("INSERT OR IGNORE INTO store_meta VALUES ('format', ?)", (str(STORE_FORMAT),))

    def _open_index(self) -> str | None:
        """Open (or create) the index; what is wrong with it, or ``None`` if it is sound."""
        try:
            _retry_locked(self._create_schema)
            conn = self._connection()
            check = _retry_locked(lambda: conn.execute("PRAGMA quick_check").fetchall())
            if [tuple(r) for r in check] != [("ok",)]:
                return "SQLite quick_check: " + "; ".join(str(r[0]) for r in check[:3])
            (found,) = conn.execute(
                "SELECT value FROM store_meta WHERE name = 'format'").fetchone()
        except sqlite3.DatabaseError as exc:
            if not _is_damage(exc):
                raise InputError(f"{self.index_path}: cannot open the store index: {exc}") from None
            self.close()
            return str(exc)
        if not str(found).isdigit() or int(found) > STORE_FORMAT:
            raise InputError(f"{self.root}: store format {found} is newer than this version of "
                             f"imagination reads (up to {STORE_FORMAT}); upgrade imagination or "
                             "use another run folder")
        if int(found) < STORE_FORMAT:  # older objects stay readable; new ones are format 2
            conn.execute("UPDATE store_meta SET value = ? WHERE name = 'format'",
                         (str(STORE_FORMAT),))
        return None

    def _rebuild(self, problem: str) -> None:
        """Set the damaged index aside and index every intact object again."""
        self.close()
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        aside = self.index_path.with_name(f"{INDEX_NAME}.damaged-{stamp}")
        kept = self.index_path.is_file() and problem != "index missing"
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{self.index_path}{suffix}")
            if source.exists():
                if kept:
                    source.replace(Path(f"{aside}{suffix}"))
                else:
                    source.unlink()
        _retry_locked(self._create_schema)
        rows = []
        for path in self._object_files():
            try:
                payload = path.read_bytes()
                meta, _ = unpack(payload, blobs=self.blobs.load)
                if path.stem != meta["key"]:
                    raise DamagedObject("file name differs from its key")
                rows.append(_index_row(meta, str(path.relative_to(self.root)), payload, _now()))
            except (OSError, DamagedObject, KeyError, TypeError):
                path.unlink(missing_ok=True)  # not indexable: its job is recomputed
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT OR REPLACE INTO jobs VALUES "
                         "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
        self.rebuilt = (f"the store index was damaged ({problem}); "
                        + (f"set aside as {aside.name} and " if kept else "")
                        + f"rebuilt from {len(rows)} intact objects")
        log.warning("%s", self.rebuilt)

    def _object_files(self) -> list[Path]:
        """Every published object file (temporary files excluded), sorted."""
        return sorted(p for suffix in _OBJECT_SUFFIXES for p in self.objects.glob(f"*/*{suffix}")
                      if not p.name.startswith("."))

    # -- records -----------------------------------------------------------------------------
    def object_path(self, key: str) -> Path:
        """Where the object of ``key`` lives (whether or not it exists)."""
        return inside(self.objects, key[:2], f"{key}{SUFFIX}")

    def put(self, key: str, record: JobRecord) -> None:
        """Store ``record`` under ``key`` atomically, replacing any previous record."""
        if record.key != key:
            raise ValueError(f"record key {record.key!r} does not match {key!r}")
        self.put_encoded(key, encode_record(record, bases=self._bases))

    def put_encoded(self, key: str, payload: StorePayload) -> None:
        """Store what :func:`encode_record` made (e.g. in a worker, so that compression runs in
        parallel and the parent only writes): the blobs, then the record."""
        meta, _ = unpack(payload.record, arrays=False)
        if meta.get("key") != key:
            raise ValueError(f"record key {meta.get('key')!r} does not match {key!r}")
        self.blobs.write(payload.blobs)
        self._publish(key, payload.record, meta, _now())

    def _publish(self, key: str, payload: bytes, meta: dict[str, Any], created: str) -> None:
        target = self.object_path(key)
        temporary = write_temporary(target, payload, fsync=self.durable)
        row = _index_row(meta, str(target.relative_to(self.root)), payload, created)
        old = self._row(key)

        def publish() -> None:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                if temporary.exists():  # already moved if a previous attempt was rolled back
                    temporary.replace(target)
                if old is not None and old[0] != row[12]:  # a format-1 object replaced
                    (self.root / old[0]).unlink(missing_ok=True)
                conn.execute("INSERT OR REPLACE INTO jobs VALUES "
                             "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        try:
            _retry_locked(publish)
        finally:
            temporary.unlink(missing_ok=True)

    def _row(self, key: str) -> tuple[str, int, str] | None:
        conn = self._connection()
        return _retry_locked(lambda: conn.execute(
            "SELECT object, size, sha256 FROM jobs WHERE key = ?", (key,)).fetchone())

    def has(self, key: str, *, verify: bool = False) -> bool:
        """True if ``key`` is indexed and its object has the recorded size (and, with
        ``verify``, the recorded SHA-256: a damaged object's row and file are then dropped)."""
        row = self._row(key)
        if row is None:
            return False
        path = self.root / row[0]
        try:
            if not verify:
                return path.stat().st_size == row[1]
            payload = path.read_bytes()
        except OSError:
            payload = None
        if payload is None or len(payload) != row[1] or \
                hashlib.sha256(payload).hexdigest() != row[2] or not self._blobs_intact(payload):
            self._discard_where(key, row[2])
            return False
        return True

    def _blobs_intact(self, payload: bytes) -> bool:
        try:
            return all(self.blobs.intact(d) for d in blob_digests(payload))
        except DamagedObject:
            return False

    def get(self, key: str, *, maps: bool = True) -> JobRecord | None:
        """The record of ``key``, or ``None`` if absent, torn or damaged (its row is dropped).

        ``maps=False`` skips the voxel maps: only the small ``meta`` member is read, checked
        by the object's recorded size and the zip member's CRC-32 instead of the whole file's
        SHA-256 (the map, which is not read, need not be verified)."""
        row = self._row(key)
        if row is None:
            return None
        try:
            path = self.root / row[0]
            if not maps:
                if path.stat().st_size != row[1]:
                    raise ValueError("size differs from the index")
                return _decode(path, maps=False)
            payload = path.read_bytes()
            if len(payload) != row[1] or hashlib.sha256(payload).hexdigest() != row[2]:
                raise ValueError("size or checksum differs from the index")
            return _decode(payload, blobs=self.blobs)
        except (OSError, ValueError, KeyError):  # DamagedObject is a ValueError
            self._discard_where(key, row[2])
            return None

    def discard(self, key: str) -> None:
        """Forget ``key`` (index row and object); a no-op if absent."""
        self._discard_where(key, None)

    def _discard_where(self, key: str, sha256: str | None) -> None:
        """Drop the row and object of ``key`` (only if its checksum is still ``sha256``).

        Runs under SQLite's write lock, which every publisher holds while renaming, so a record
        rewritten meanwhile by another process is never deleted by mistake.
        """
        conn = self._connection()

        def drop() -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute("SELECT sha256, object FROM jobs WHERE key = ?",
                                   (key,)).fetchone()
                if row is not None and sha256 is not None and row[0] != sha256:
                    conn.execute("ROLLBACK")
                    return
                conn.execute("DELETE FROM jobs WHERE key = ?", (key,))
                self.object_path(key).unlink(missing_ok=True)
                if row is not None:
                    (self.root / row[1]).unlink(missing_ok=True)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        _retry_locked(drop)

    def keys(self) -> list[str]:
        """All indexed keys, sorted (presence of objects not checked)."""
        conn = self._connection()
        rows = _retry_locked(lambda: conn.execute("SELECT key FROM jobs ORDER BY key").fetchall())
        return [key for (key,) in rows]

    def rows(self) -> list[IndexRow]:
        """Every index row, sorted by key, without reading objects."""
        conn = self._connection()
        rows = _retry_locked(lambda: conn.execute(
            "SELECT key, case_id, adapter, perturbation_id, kind, status, failure_kind, "
            "failure_reason, created, wall_s, cpu_s, peak_rss_mb FROM jobs ORDER BY key"
        ).fetchall())
        return [IndexRow(*r[:9], cost=Cost(r[9], r[10], r[11])) for r in rows]

    def present_keys(self) -> set[str]:
        """Indexed keys whose object exists with the recorded size (no checksum)."""
        conn = self._connection()
        rows = _retry_locked(lambda: conn.execute("SELECT key, object, size FROM jobs").fetchall())
        present = set()
        for key, relative, size in rows:
            try:
                if (self.root / relative).stat().st_size == size:
                    present.add(key)
            except OSError:
                continue
        return present

    def __len__(self) -> int:
        conn = self._connection()
        return int(_retry_locked(lambda: conn.execute("SELECT COUNT(*) FROM jobs").fetchone())[0])

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.has(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    # -- memo of derived values (e.g. per-case scores), keyed by a content hash -------------
    def lookup_scores(self, key: str) -> Any | None:
        """The JSON value remembered under ``key``, or ``None``."""
        conn = self._connection()
        row = _retry_locked(lambda: conn.execute(
            "SELECT value FROM scores WHERE key = ?", (key,)).fetchone())
        return None if row is None else json.loads(row[0])

    def remember_scores(self, key: str, value: Any) -> None:
        conn = self._connection()
        text = json.dumps(value, sort_keys=True)
        _retry_locked(lambda: conn.execute(
            "INSERT OR REPLACE INTO scores VALUES (?, ?)", (key, text)))

    # -- file digest memo (imagination.engine.hashing.DigestCache) ---------------------------
    def lookup_digest(self, path: str, size: int, mtime_ns: int) -> str | None:
        conn = self._connection()
        row = _retry_locked(lambda: conn.execute(
            "SELECT sha256 FROM file_digests WHERE path = ? AND size = ? AND mtime_ns = ?",
            (path, size, mtime_ns)).fetchone())
        return None if row is None else str(row[0])

    def remember_digest(self, path: str, size: int, mtime_ns: int, digest: str) -> None:
        conn = self._connection()
        _retry_locked(lambda: conn.execute(
            "INSERT OR REPLACE INTO file_digests VALUES (?, ?, ?, ?)",
            (path, size, mtime_ns, digest)))

    # -- shards and garbage collection -----------------------------------------------------
    def shard_folders(self) -> list[Path]:
        """Folders of shard stores waiting to be adopted."""
        folder = self.root / SHARDS_DIR
        return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []

    def adopt(self, folder: Path, keys: Iterable[str] | None = None) -> int:
        """Move every intact record of the shard store in ``folder`` (only ``keys``, if given)
        into this store, then delete the shard's folder. Returns how many were adopted."""
        shard = open_shard(folder)
        wanted = None if keys is None else set(keys)
        adopted = 0
        try:
            for row in shard.rows():
                if wanted is not None and row.key not in wanted:
                    continue
                found = shard._row(row.key)
                if found is None:
                    continue
                try:
                    payload = (shard.root / found[0]).read_bytes()
                except OSError:
                    continue
                if hashlib.sha256(payload).hexdigest() != found[2]:
                    continue  # damaged in the shard: the job is recomputed
                try:
                    digests = blob_digests(payload)
                except DamagedObject:
                    continue
                if not self.blobs.copy_from(shard.blobs, digests):
                    continue  # a blob is damaged in the shard: the job is recomputed
                meta, _ = unpack(payload, arrays=False)
                self._publish(row.key, payload, meta, row.created)
                adopted += 1
        finally:
            shard.close()
        shutil.rmtree(folder, ignore_errors=True)
        return adopted

    def collect_garbage(self, keep: Iterable[str]) -> Collected:
        """Remove every record whose key is not in ``keep``, every file under ``objects/``
        that no index row names (leftovers of crashes) and every blob no kept record names
        (directly or as a base). Returns what was removed."""
        keep = set(keep)
        conn = self._connection()
        rows = _retry_locked(lambda: conn.execute("SELECT key, object FROM jobs").fetchall())
        n_objects = n_bytes = 0
        referenced: set[str] = set()
        for key, relative in rows:
            if key in keep:
                referenced.add(relative)
                continue
            path = self.root / relative
            size = path.stat().st_size if path.is_file() else 0
            self._discard_where(key, None)
            n_objects += 1
            n_bytes += size
        for path in sorted(self.objects.glob("*/*")):
            relative = str(path.relative_to(self.root))
            if path.is_file() and relative not in referenced and (
                    path.suffix in _OBJECT_SUFFIXES or path.name.endswith(TEMP_SUFFIX)):
                n_bytes += path.stat().st_size
                n_objects += 1
                path.unlink(missing_ok=True)
        for folder in self.objects.iterdir():
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        named: set[str] = set()
        for relative in referenced:
            try:
                named.update(blob_digests(self.root / relative))
            except (OSError, DamagedObject):
                continue
        blob_files, blob_bytes = self.blobs.collect(named)
        return Collected(n_objects=n_objects, n_bytes=n_bytes + blob_bytes,
                         n_kept=len(referenced), n_blobs=blob_files)


def shard_root(store_root: Path, index: int, count: int) -> Path:
    """Where shard ``index`` of ``count`` keeps its private store under ``store_root``."""
    return Path(store_root) / SHARDS_DIR / f"{index}-of-{count}"


def open_shard(root: Path) -> PredictionStore:
    """A shard's private store: its own index, with a rollback journal (one writing process;
    no WAL shared memory, which network file systems do not provide)."""
    return PredictionStore(root, durable=False, repair=True, journal="DELETE")
