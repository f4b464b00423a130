"""The lake: one root URI, deterministic artifact paths, atomic writes.

The root is a local directory by default; any fsspec URI (``s3://``, ``gs://``, ``memory://``)
works through the same calls. Paths are ``{root}/{asset}/{partition}/{config_hash}/{name}``, so a
rerun with the same config writes the same place (idempotent) and a new config never overwrites
an old one. Writes go to a temporary name first and are renamed into place; on object stores,
where rename is not atomic, a ``_SUCCESS`` marker is written last and readers check for it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

UNPARTITIONED = "_all"
SUCCESS_MARKER = "_SUCCESS"
_SAFE = re.compile(r"[^A-Za-z0-9._=-]+")


def config_hash(config: Any) -> str:
    """Short stable hash of a JSON-serialisable config (sorted keys)."""
    blob = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def safe_component(value: str) -> str:
    """A path component from an asset key or partition key (no slashes, no odd characters)."""
    cleaned = _SAFE.sub("_", value).strip("._")
    if not cleaned:
        raise ValueError(f"cannot build a path component from {value!r}")
    return cleaned


class Lake:
    """A root URI plus helpers for deterministic paths and atomic parquet/JSON writes."""

    def __init__(self, root: str):
        self.root_uri = root
        self.fs, self.root = fsspec.core.url_to_fs(root)
        self.is_local = self.fs.protocol in ("file", "local") or "file" in self.fs.protocol
        if self.is_local:
            self.root = os.path.abspath(self.root)
            os.makedirs(self.root, exist_ok=True)

    # ---- paths -------------------------------------------------------------------------------
    def artifact_dir(self, asset: str, partition: str | None, cfg_hash: str) -> str:
        """Deterministic directory of one artifact."""
        part = safe_component(partition) if partition else UNPARTITIONED
        return f"{self.root}/{safe_component(asset)}/{part}/{cfg_hash}"

    def uri(self, path: str) -> str:
        """A full URI (with protocol) for a path inside this lake."""
        return path if self.is_local else self.fs.unstrip_protocol(path)

    # ---- atomic writes -----------------------------------------------------------------------
    @contextlib.contextmanager
    def atomic_dir(self, final_dir: str) -> Iterator[str]:
        """Yield a temporary directory; on success it replaces ``final_dir`` in one rename."""
        tmp = f"{final_dir}.tmp-{uuid.uuid4().hex[:8]}"
        if self.is_local:
            os.makedirs(tmp)
            try:
                yield tmp
                old = None
                if os.path.exists(final_dir):
                    old = f"{final_dir}.old-{uuid.uuid4().hex[:8]}"
                    os.replace(final_dir, old)
                os.replace(tmp, final_dir)
                with open(os.path.join(final_dir, SUCCESS_MARKER), "w") as fh:
                    fh.write("ok\n")
                if old:
                    shutil.rmtree(old, ignore_errors=True)
            finally:
                if os.path.exists(tmp):
                    shutil.rmtree(tmp, ignore_errors=True)
        else:
            self.fs.makedirs(tmp, exist_ok=True)
            try:
                yield tmp
                if self.fs.exists(final_dir):
                    self.fs.rm(final_dir, recursive=True)
                self.fs.mv(tmp, final_dir, recursive=True)
                self.fs.pipe_file(f"{final_dir}/{SUCCESS_MARKER}", b"ok\n")
            finally:
                if self.fs.exists(tmp):
                    self.fs.rm(tmp, recursive=True)

    def is_complete(self, directory: str) -> bool:
        """True when the directory was written completely (its success marker exists)."""
        return self.fs.exists(f"{directory}/{SUCCESS_MARKER}")

    def write_parquet(self, table: pa.Table, path: str, row_group_size: int = 2048) -> str:
        """Write a parquet file (zstd) through the lake's filesystem; the caller owns atomicity."""
        with self.fs.open(path, "wb") as fh:
            pq.write_table(table, fh, compression="zstd", row_group_size=row_group_size)
        return path

    def write_json(self, obj: Any, path: str) -> str:
        """Write a JSON document (pretty, sorted keys)."""
        with self.fs.open(path, "w") as fh:
            json.dump(obj, fh, indent=2, sort_keys=True, default=str)
        return path

    def read_parquet(self, path: str, columns: list[str] | None = None) -> pa.Table:
        """Read a parquet file or a directory of parquet files."""
        if self.fs.isdir(path):
            files = sorted(p for p in self.fs.ls(path, detail=False) if p.endswith(".parquet"))
            tables = [pq.read_table(f, columns=columns, filesystem=self.fs) for f in files]
            return pa.concat_tables(tables) if tables else pa.table({})
        return pq.read_table(path, columns=columns, filesystem=self.fs)

    def content_hash(self, path: str) -> str:
        """sha256 over a file, or over the sorted files of a directory (names and bytes)."""
        digest = hashlib.sha256()
        if self.fs.isdir(path):
            files = sorted(p for p in self.fs.find(path) if not p.endswith(SUCCESS_MARKER))
        else:
            files = [path]
        for name in files:
            digest.update(os.path.relpath(name, path).encode() if name != path else b"")
            with self.fs.open(name, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
        return digest.hexdigest()
