"""DuckDB catalog of every materialized artifact: what, where, from what, when.

Plain SQL for users::

    duckdb -readonly .state/lake/_catalog/catalog.duckdb   # close it when done: it blocks writers
    SELECT asset_key, partition, path, row_count FROM artifacts ORDER BY created_at;

Tables: ``artifacts`` (one row per artifact) and ``artifact_inputs`` (one edge per upstream
artifact). The view ``latest_artifacts`` keeps the newest artifact per (asset, partition, slot): the
slot of a content-addressed version ``<config dir>/<content_hash[:12]>`` is its config directory, so
the versions of one config count once; any other row's slot is its path (e.g. one corpus shard).

Concurrency: DuckDB lets either one read-write process or many read-only processes open the file.
Reads open it read-only (and never create it: a missing catalog reads as an empty one); a write
opens it read-write only for its one transaction, creating the file and the schema when missing or
older than :data:`SCHEMA_VERSION`. Both retry with jittered backoff while another process holds a
conflicting lock, up to ``lock_timeout_s`` (env ``MIMO_CATALOG_LOCK_TIMEOUT_S``, default 60 s), then
raise :class:`CatalogLockError`. Writers queue on a sidecar file ``<catalog>.write-gate`` (an
advisory ``flock``) and a process writing back to back leaves others a turn; readers only probe the
gate and hold back (for at most :data:`READER_PATIENCE_S`) while a writer has it, so a steady stream
of reads cannot starve the writers.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import random
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import duckdb

T = TypeVar("T")

SCHEMA_VERSION = 2
LOCK_TIMEOUT_ENV = "MIMO_CATALOG_LOCK_TIMEOUT_S"
DEFAULT_LOCK_TIMEOUT_S = 60.0
_BACKOFF_FIRST_S = 0.005
_BACKOFF_CAP_S = 0.1
GATE_SUFFIX = ".write-gate"
READER_PATIENCE_S = 2.0
_TURN_CAP_S = 0.5
_last_gate_hold: dict[str, tuple[float, float]] = {}  # path -> (released at, held for), this process

SCHEMA = """
CREATE TABLE IF NOT EXISTS artifacts (
    artifact_id   VARCHAR PRIMARY KEY,
    asset_key     VARCHAR NOT NULL,
    partition     VARCHAR,
    path          VARCHAR NOT NULL,
    content_hash  VARCHAR NOT NULL,
    config_hash   VARCHAR,
    config        JSON,
    code_version  VARCHAR,
    git_commit    VARCHAR,
    run_id        VARCHAR,
    created_at    TIMESTAMP NOT NULL,
    row_count     BIGINT,
    token_count   BIGINT,
    byte_size     BIGINT,
    metadata      JSON
);
CREATE TABLE IF NOT EXISTS artifact_inputs (
    artifact_id   VARCHAR NOT NULL,
    upstream_id   VARCHAR NOT NULL,
    PRIMARY KEY (artifact_id, upstream_id)
);
CREATE OR REPLACE VIEW latest_artifacts AS
SELECT * EXCLUDE (rn, slot) FROM (
    SELECT *, row_number() OVER (
        PARTITION BY asset_key, coalesce(partition, ''), slot ORDER BY created_at DESC) AS rn
    FROM (SELECT *, CASE WHEN ends_with(path, '/' || left(content_hash, 12))
                         THEN left(path, length(path) - 13) ELSE path END AS slot FROM artifacts)
) WHERE rn = 1;
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
"""

LINEAGE_SQL = """
WITH RECURSIVE up(artifact_id, depth) AS (
    SELECT ?::VARCHAR, 0
    UNION
    SELECT i.upstream_id, up.depth + 1 FROM artifact_inputs i JOIN up ON i.artifact_id = up.artifact_id
)
SELECT a.*, min(up.depth) AS depth FROM up JOIN artifacts a USING (artifact_id)
GROUP BY ALL ORDER BY depth, a.asset_key, a.partition
"""

Statement = tuple[str, Sequence[Any]]


class CatalogLockError(RuntimeError):
    """Another process kept the catalog file locked for longer than the bounded wait."""


@dataclass
class ArtifactRecord:
    """One materialized artifact, as stored in the catalog."""

    asset_key: str
    path: str
    content_hash: str
    partition: str | None = None
    config_hash: str | None = None
    config: dict[str, Any] | None = None
    code_version: str | None = None
    git_commit: str | None = None
    run_id: str | None = None
    row_count: int | None = None
    token_count: int | None = None
    byte_size: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    upstream_ids: Sequence[str] = ()
    created_at: datetime | None = None

    @property
    def artifact_id(self) -> str:
        """Stable id: same asset, partition, path and content give the same id (idempotent)."""
        key = f"{self.asset_key}|{self.partition or ''}|{self.path}|{self.content_hash}"
        return hashlib.sha256(key.encode()).hexdigest()[:20]


def missing_artifact_path(path: str) -> str | None:
    """Why the artifact at ``path`` (a local path or fsspec URI) is unreadable, or None when it is
    there. A failing check (e.g. an unreachable object store) is left to the reader to report."""
    import fsspec

    try:
        fs, stripped = fsspec.core.url_to_fs(path)
        if not fs.exists(stripped):
            return "no longer exists (deleted or moved)"
    except (ImportError, ValueError, OSError):
        return None
    return None


def default_lock_timeout_s() -> float:
    """The bounded wait for a locked catalog: ``$MIMO_CATALOG_LOCK_TIMEOUT_S`` or 60 s."""
    value = os.environ.get(LOCK_TIMEOUT_ENV, "").strip()
    return float(value) if value else DEFAULT_LOCK_TIMEOUT_S


def _is_lock_conflict(exc: duckdb.Error) -> bool:
    """Whether ``exc`` means "someone else holds the file (or the row) right now": worth a retry."""
    message = str(exc).lower()
    if isinstance(exc, duckdb.IOException):
        return "could not set lock" in message or "conflicting lock" in message
    if isinstance(exc, duckdb.ConnectionException):  # same process, read-only vs read-write instance
        return "different configuration" in message
    if isinstance(exc, duckdb.ResourceInUseException):  # same process, one thread opens as another closes
        return "already attached" in message or "file handle conflict" in message
    return isinstance(exc, duckdb.TransactionException)  # same process, concurrent write transactions


def _backoff_s(attempt: int, remaining_s: float) -> float:
    """Jittered exponential backoff, never past the deadline."""
    ceiling = min(_BACKOFF_CAP_S, _BACKOFF_FIRST_S * 2 ** min(attempt, 16))  # no float overflow past ~1000 tries
    return max(0.0, min(remaining_s, random.uniform(_BACKOFF_FIRST_S / 2, ceiling)))


def lock_error_message(path: str, exc: BaseException, waited_s: float, action: str) -> str:
    """One actionable line: which file, who holds it (when DuckDB says), what to do."""
    pid = re.search(r"PID (\d+)", str(exc))
    holder = f"process {pid.group(1)}" if pid else "another process"
    return (f"catalog {path} is locked by {holder}; gave up {action} after waiting {waited_s:.1f} s. "
            f"Close the other process (e.g. a DuckDB shell or notebook left open on the file, even read-only) "
            f"or wait for it to finish, then retry (the wait is set by {LOCK_TIMEOUT_ENV}). "
            f"DuckDB said: {exc}")


def _empty_catalog() -> duckdb.DuckDBPyConnection:
    """An in-memory catalog with the schema and no rows: what a missing catalog reads as."""
    con = duckdb.connect(":memory:")
    con.execute(SCHEMA)
    return con


def _has_schema(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the open catalog has its tables (a file from an interrupted first write may not)."""
    sql = "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = 'artifacts'"
    return con.execute(sql).fetchone()[0] > 0


def _schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The catalog's schema version (0: no version table, i.e. older or empty)."""
    sql = "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = 'schema_version'"
    if not con.execute(sql).fetchone()[0]:
        return 0
    return con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]


def _ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create or upgrade the tables and view, inside the caller's transaction, only when needed."""
    if _schema_version(con) >= SCHEMA_VERSION:
        return
    con.execute(SCHEMA)
    con.execute("DELETE FROM schema_version")
    con.execute("INSERT INTO schema_version VALUES (?)", [SCHEMA_VERSION])


def _create_file(path: str) -> None:
    """Create the catalog file with its schema atomically (no reader ever sees a half-made file)."""
    tmp = f"{path}.init-{os.getpid()}-{random.getrandbits(32):08x}"
    try:
        con = duckdb.connect(tmp)
        try:
            con.begin()
            _ensure_schema(con)
            con.commit()
        finally:
            con.close()
        try:
            os.link(tmp, path)  # fails if another writer created it first: theirs wins
        except FileExistsError:
            pass
        except OSError:  # no hard links here: the first write makes the schema in place
            pass
    finally:
        for leftover in (tmp, f"{tmp}.wal"):
            if os.path.exists(leftover):
                os.remove(leftover)


def _sleep_backoff(attempt: int, give_up_at: float) -> bool:
    """Sleep one backoff step; False (without sleeping) once ``give_up_at`` has passed."""
    remaining = give_up_at - time.monotonic()
    if remaining <= 0:
        return False
    time.sleep(_backoff_s(attempt, remaining))
    return True


def _gate_holder(fd: int) -> str:
    """The PID the current gate holder wrote into the gate file, or "another writer"."""
    try:
        pid = os.pread(fd, 32, 0).decode().strip()
    except OSError:
        pid = ""
    return f"writer process {pid}" if pid.isdigit() else "another writer"


def _take_turns(path: str) -> None:
    """A process writing back to back leaves a gap about as long as its last hold (at most
    :data:`_TURN_CAP_S`), so that other writers and readers polling the gate get their turn."""
    released_at, held_for = _last_gate_hold.get(path, (0.0, 0.0))
    pause = min(_TURN_CAP_S, held_for) - (time.monotonic() - released_at)
    if pause > 0:
        time.sleep(random.uniform(0.5, 1.0) * pause)


def _take_gate(fd: int, path: str, give_up_at: float, waited_from: float) -> None:
    """Exclusive ``flock`` on the gate, polled with backoff until ``give_up_at``; then our PID in it."""
    attempt = 0
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if not _sleep_backoff(attempt, give_up_at):
                waited = time.monotonic() - waited_from
                raise CatalogLockError(
                    f"catalog {path}: {_gate_holder(fd)} has been writing or waiting to write for "
                    f"longer than {waited:.1f} s (it is probably waiting for a process holding the file "
                    f"open; see that writer's error). Close the other process or wait, then retry "
                    f"(the wait is set by {LOCK_TIMEOUT_ENV}).") from None
            attempt += 1
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)


@contextmanager
def _write_gate(path: str, give_up_at: float, waited_from: float) -> Iterator[None]:
    """Hold the catalog's write gate (``<path>.write-gate``): writers queue here, and readers hold
    back while it is taken."""
    _take_turns(path)
    fd = os.open(path + GATE_SUFFIX, os.O_RDWR | os.O_CREAT, 0o666)
    taken_at: float | None = None
    try:
        _take_gate(fd, path, give_up_at, waited_from)
        taken_at = time.monotonic()
        yield
    finally:
        os.close(fd)  # releases the flock
        if taken_at is not None:
            now = time.monotonic()
            _last_gate_hold[path] = (now, now - taken_at)


def _yield_to_writers(path: str, patience_s: float) -> None:
    """Wait (at most ``patience_s``) while a writer holds the write gate; never creates the gate."""
    try:
        fd = os.open(path + GATE_SUFFIX, os.O_RDONLY)
    except OSError:
        return  # no writer has ever come by
    try:
        give_up_at, attempt = time.monotonic() + patience_s, 0
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                fcntl.flock(fd, fcntl.LOCK_UN)
                return
            except BlockingIOError:
                if not _sleep_backoff(attempt, give_up_at):
                    return  # a writer stuck behind someone else: read anyway
                attempt += 1
    finally:
        os.close(fd)


class Catalog:
    """The DuckDB artifact catalog (one file). Reads are read-only; writes hold the file only for
    their transaction; both wait, bounded, while another process holds a conflicting lock."""

    def __init__(self, path: str, create: bool = True, lock_timeout_s: float | None = None):
        """Point at a catalog file; opening touches nothing. With ``create`` the first write makes
        the file; with ``create=False`` it must exist already (``FileNotFoundError``)."""
        self.path = os.path.abspath(path)
        self.create = create
        self.lock_timeout_s = default_lock_timeout_s() if lock_timeout_s is None else float(lock_timeout_s)
        if not create and not os.path.exists(self.path):
            raise FileNotFoundError(f"no catalog at {self.path}")

    def _retrying(self, action: Callable[[], T], what: str, start: float | None = None) -> T:
        """Run ``action``, retrying lock conflicts with jittered backoff until ``lock_timeout_s``
        after ``start`` (default: now)."""
        start = time.monotonic() if start is None else start
        attempt = 0
        while True:
            try:
                return action()
            except duckdb.Error as exc:
                if not _is_lock_conflict(exc):
                    raise
                if not _sleep_backoff(attempt, start + self.lock_timeout_s):
                    waited = time.monotonic() - start
                    raise CatalogLockError(lock_error_message(self.path, exc, waited, what)) from exc
                attempt += 1

    @contextmanager
    def _gated(self) -> Iterator[float]:
        """Hold the write gate, the catalog file made when missing (``create``) or else
        ``FileNotFoundError``; yields when the wait started."""
        if not self.create and not os.path.exists(self.path):
            raise FileNotFoundError(f"no catalog at {self.path}")
        start = time.monotonic()
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        with _write_gate(self.path, start + self.lock_timeout_s, start):
            if not os.path.exists(self.path):
                _create_file(self.path)
            yield start

    def _open_read_only(self) -> duckdb.DuckDBPyConnection:
        """A read-only connection, or an empty in-memory catalog when the file is missing or bare."""
        if not os.path.exists(self.path):
            return _empty_catalog()
        _yield_to_writers(self.path, min(READER_PATIENCE_S, self.lock_timeout_s))
        try:
            con = self._retrying(lambda: duckdb.connect(self.path, read_only=True), "reading")
        except duckdb.IOException:
            if os.path.exists(self.path) and os.path.getsize(self.path) > 0:
                raise
            return _empty_catalog()  # removed, or still being made in place, since the check
        if _has_schema(con):
            return con
        con.close()
        return _empty_catalog()

    def _write(self, statements: Sequence[Statement]) -> None:
        """Run ``statements`` as one transaction (schema made or upgraded first when needed)."""

        def once() -> None:
            con = duckdb.connect(self.path)
            try:
                con.begin()
                _ensure_schema(con)
                for sql, args in statements:
                    con.execute(sql, list(args))
                con.commit()
            except BaseException:
                _rollback_quietly(con)
                raise
            finally:
                con.close()

        with self._gated() as start:
            self._retrying(once, "writing", start)

    @contextmanager
    def connect(self, read_only: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for ad-hoc use: read-only by default (see :meth:`query`); ``read_only=False``
        holds the write lock until the block ends, so keep such blocks short."""
        if read_only:
            con = self._open_read_only()
            try:
                yield con
            finally:
                con.close()
            return
        with self._gated() as start:
            con = self._retrying(lambda: duckdb.connect(self.path), "opening for writing", start)
            try:
                yield con
            finally:
                con.close()

    def record(self, rec: ArtifactRecord) -> str:
        """Insert (or refresh) one artifact and its upstream edges, all or nothing; returns its id."""
        created = rec.created_at or datetime.now(UTC).replace(tzinfo=None)
        row = (
            rec.artifact_id, rec.asset_key, rec.partition, rec.path, rec.content_hash,
            rec.config_hash, json.dumps(rec.config or {}, default=str), rec.code_version,
            rec.git_commit, rec.run_id, created, rec.row_count, rec.token_count, rec.byte_size,
            json.dumps(rec.metadata, default=str),
        )
        statements: list[Statement] = [
            ("DELETE FROM artifact_inputs WHERE artifact_id = ?", [rec.artifact_id]),
            ("DELETE FROM artifacts WHERE artifact_id = ?", [rec.artifact_id]),
            (f"INSERT INTO artifacts VALUES ({', '.join('?' * len(row))})", row),
        ]
        statements += [("INSERT INTO artifact_inputs VALUES (?, ?)", [rec.artifact_id, upstream])
                       for upstream in sorted(set(rec.upstream_ids))]
        self._write(statements)
        return rec.artifact_id

    def latest(self, asset_key: str, partition: str | None = None) -> list[dict[str, Any]]:
        """Newest artifacts of an asset (of one partition when given), newest first."""
        sql = "SELECT * FROM latest_artifacts WHERE asset_key = ?"
        args: list[Any] = [asset_key]
        if partition is not None:
            sql += " AND partition = ?"
            args.append(partition)
        sql += " ORDER BY created_at DESC"
        return self.query(sql, args)

    def lineage(self, artifact_id: str) -> list[dict[str, Any]]:
        """The artifact and everything upstream of it, with the distance in hops."""
        return self.query(LINEAGE_SQL, [artifact_id])

    def find(self, path_or_id: str) -> dict[str, Any] | None:
        """Look an artifact up by id, exact path, or path suffix (newest wins); a file inside an
        artifact directory (``<artifact>/samples.parquet``) resolves to that artifact."""
        exact = path_or_id.rstrip("/")
        for candidate in (exact, exact.rsplit("/", 1)[0] if "/" in exact.strip("/") else None):
            if not candidate:
                continue
            rows = self.query(
                "SELECT * FROM artifacts WHERE artifact_id = ? OR path = ? OR path LIKE ? "
                "ORDER BY created_at DESC LIMIT 1",
                [candidate, candidate, f"%{candidate}"],
            )
            if rows:
                return rows[0]
        return None

    def query(self, sql: str, args: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        """Run SQL on a read-only connection and return rows as dicts (a missing catalog is empty)."""
        with self.connect(read_only=True) as con:
            cur = con.execute(sql, list(args or []))
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]


def _rollback_quietly(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back an open transaction; closing the connection discards it anyway."""
    try:
        con.rollback()
    except duckdb.Error:
        pass
