"""The run's prediction store: one content-addressed object per finished job, indexed in SQLite.

Layout under ``root`` (``RUN_DIR/store``)::

    objects/ab/<key>.npz   one job's record: a zip (deflate level 1) holding ``meta`` (UTF-8 JSON
                           as a uint8 array: ids, the outputs of json output types under
                           ``outputs``, features, failure, cost) and one member per
                           output of an array type, named by its task (e.g. ``recurrence``,
                           float32, bit-exact); what each task keeps is its kind's ``stored``
    index.sqlite           WAL-mode index: one row per key with ids, kind, status, cost and the
                           object's size and SHA-256; plus a file-digest memo (``file_digests``)

Crash safety: the object is written to a temporary file in its folder and fsynced; then, inside
one SQLite write transaction, it is renamed into place and its index row committed. A key counts
as present only when its row exists and the object has the recorded size (``has``) and checksum
(``get``); anything else (a kill -9 between rename and commit, a truncated or damaged file) is
treated as missing and recomputed. Because every read is checked, fsync buys durability across a
power cut (fewer recomputed jobs), not correctness: the folder is not fsynced after the rename
and SQLite runs with ``synchronous=NORMAL``; ``durable=False`` also skips the object's fsync
(about 8 ms per job on a slow disk). Several processes may write at once: each opens its own
connection (per process and thread) and retries while the database is locked. SQLite's WAL mode
needs a local file system; on a cluster, let the client process write the store.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import sqlite3
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np

from imagination.atomic import write_temporary
from imagination.engine.cost import Cost
from imagination.tasks.registry import kind_of

JobKind = Literal["predictions", "features", "failure"]
JOB_KINDS: tuple[str, ...] = ("predictions", "features", "failure")
STORE_FORMAT = 1
INDEX_NAME = "index.sqlite"
OBJECTS_DIR = "objects"
_LOCK_RETRY_S = 120.0
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)

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


def _encode(record: JobRecord) -> bytes:
    """Serialise a record as the bytes of an ``.npz`` (zip) object."""
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
    meta_bytes = json.dumps(meta, sort_keys=True, default=str).encode("utf-8")
    members: dict[str, np.ndarray] = {"meta": np.frombuffer(meta_bytes, dtype=np.uint8)}
    for task, value in sorted(record.outputs.items()):
        if types[task].storage == "array":
            members[task] = types[task].normalise(value)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, array in members.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, array, allow_pickle=False)
    return buffer.getvalue()


def _decode(payload: bytes | Path, *, maps: bool = True) -> JobRecord:
    source = io.BytesIO(payload) if isinstance(payload, bytes) else payload
    with np.load(source, allow_pickle=False) as npz:
        meta = json.loads(npz["meta"].tobytes().decode("utf-8"))
        # objects written before the task registry keep json outputs under "classification"
        outputs: dict[str, Any] = dict(meta.get("outputs", meta.get("classification", {})))
        if maps:
            outputs.update({name: npz[name] for name in npz.files if name != "meta"})
    return JobRecord(
        key=meta["key"], case_id=meta["case_id"], adapter=meta["adapter"],
        perturbation_id=meta["perturbation_id"], kind=meta["kind"], outputs=outputs,
        features=meta["features"], failure=meta["failure"], cost=Cost.from_dict(meta["cost"]),
    )


class PredictionStore:
    """Content-addressed, crash-safe store of job records (see the module docstring)."""

    def __init__(self, root: Path | str, *, durable: bool = True) -> None:
        self.root = Path(root)
        self.durable = durable
        self.objects = self.root / OBJECTS_DIR
        self.index_path = self.root / INDEX_NAME
        self._local = threading.local()
        self.objects.mkdir(parents=True, exist_ok=True)
        _retry_locked(self._create_schema)

    # -- connections -------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return {"root": str(self.root), "durable": self.durable}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(Path(state["root"]), durable=state["durable"])  # type: ignore[misc]

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            conn = sqlite3.connect(self.index_path, timeout=30.0, isolation_level=None)
            conn.execute("PRAGMA busy_timeout = 30000")
            self._local.conn, self._local.pid = conn, os.getpid()
            _retry_locked(lambda: conn.execute("PRAGMA journal_mode = WAL"))
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

    # -- records -----------------------------------------------------------------------------
    def object_path(self, key: str) -> Path:
        """Where the object of ``key`` lives (whether or not it exists)."""
        return self.objects / key[:2] / f"{key}.npz"

    def put(self, key: str, record: JobRecord) -> None:
        """Store ``record`` under ``key`` atomically, replacing any previous record."""
        if record.key != key:
            raise ValueError(f"record key {record.key!r} does not match {key!r}")
        payload = _encode(record)
        target = self.object_path(key)
        temporary = write_temporary(target, payload, fsync=self.durable)
        row = (key, record.case_id, record.adapter, record.perturbation_id, record.kind,
               record.status,
               None if record.failure is None else str(record.failure.get("kind", "error")),
               None if record.failure is None else str(record.failure.get("reason", "")),
               datetime.now(UTC).isoformat(timespec="seconds"),
               record.cost.wall_s, record.cost.cpu_s, record.cost.peak_rss_mb,
               str(target.relative_to(self.root)), len(payload),
               hashlib.sha256(payload).hexdigest())

        def publish() -> None:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                if temporary.exists():  # already moved if a previous attempt was rolled back
                    temporary.replace(target)
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
        """True if ``key`` is indexed and its object has the recorded size (and checksum)."""
        if verify:
            return self.get(key) is not None
        row = self._row(key)
        if row is None:
            return False
        try:
            return (self.root / row[0]).stat().st_size == row[1]
        except OSError:
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
            return _decode(payload)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
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
                row = conn.execute("SELECT sha256 FROM jobs WHERE key = ?", (key,)).fetchone()
                if row is not None and sha256 is not None and row[0] != sha256:
                    conn.execute("ROLLBACK")
                    return
                conn.execute("DELETE FROM jobs WHERE key = ?", (key,))
                self.object_path(key).unlink(missing_ok=True)
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
