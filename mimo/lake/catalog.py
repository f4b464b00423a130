"""DuckDB catalog of every materialized artifact: what, where, from what, when.

Plain SQL for users::

    duckdb .state/lake/_catalog/catalog.duckdb
    SELECT asset_key, partition, path, row_count FROM artifacts ORDER BY created_at;

Tables: ``artifacts`` (one row per artifact) and ``artifact_inputs`` (one edge per upstream
artifact). The view ``latest_artifacts`` keeps the newest artifact per (asset, partition, path).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import duckdb

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
SELECT * EXCLUDE (rn) FROM (
    SELECT *, row_number() OVER (
        PARTITION BY asset_key, coalesce(partition, ''), path ORDER BY created_at DESC) AS rn
    FROM artifacts) WHERE rn = 1;
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


class Catalog:
    """The DuckDB artifact catalog (a single file; writers retry on lock contention)."""

    def __init__(self, path: str, create: bool = True):
        """Open (and with ``create``, initialise) the catalog; ``create=False`` never writes."""
        self.path = os.path.abspath(path)
        if create:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            with self.connect() as con:
                con.execute(SCHEMA)
        elif not os.path.exists(self.path):
            raise FileNotFoundError(f"no catalog at {self.path}")

    @contextmanager
    def connect(self, read_only: bool = False, attempts: int = 60) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open a connection, retrying while another process holds the write lock."""
        for attempt in range(attempts):
            try:
                con = duckdb.connect(self.path, read_only=read_only and os.path.exists(self.path))
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or attempt == attempts - 1:
                    raise
                time.sleep(0.05 + random.random() * 0.2)
        try:
            yield con
        finally:
            con.close()

    def record(self, rec: ArtifactRecord) -> str:
        """Insert (or refresh) one artifact and its upstream edges; returns its artifact_id."""
        created = rec.created_at or datetime.now(timezone.utc).replace(tzinfo=None)
        row = (
            rec.artifact_id, rec.asset_key, rec.partition, rec.path, rec.content_hash,
            rec.config_hash, json.dumps(rec.config or {}, default=str), rec.code_version,
            rec.git_commit, rec.run_id, created, rec.row_count, rec.token_count, rec.byte_size,
            json.dumps(rec.metadata, default=str),
        )
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            con.execute("DELETE FROM artifact_inputs WHERE artifact_id = ?", [rec.artifact_id])
            con.execute("DELETE FROM artifacts WHERE artifact_id = ?", [rec.artifact_id])
            con.execute(f"INSERT INTO artifacts VALUES ({', '.join('?' * len(row))})", row)
            for upstream in sorted(set(rec.upstream_ids)):
                con.execute("INSERT INTO artifact_inputs VALUES (?, ?)", [rec.artifact_id, upstream])
            con.execute("COMMIT")
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
        """Run SQL and return rows as dicts."""
        with self.connect(read_only=True) as con:
            cur = con.execute(sql, list(args or []))
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]
