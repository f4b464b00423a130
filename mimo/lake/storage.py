"""The lake: one root URI, content-addressed artifact directories, atomic writes.

The root is a local directory by default; any fsspec URI (``s3://``, ``gs://``, ``memory://``)
works through the same calls. An artifact lives in ``{root}/{asset}/{partition}/{config_hash}/
{content_hash[:12]}``: :meth:`Lake.publish` writes into a temporary directory beside it, hashes it,
and renames it into place, so a rerun with the same inputs and config lands on the same directory
(kept as it is) and different content never overwrites a directory a catalog row describes. The
``_SUCCESS`` marker (holding the full content hash) is in place when the directory appears locally;
on object stores, where rename is not atomic, it is written last and readers check for it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

UNPARTITIONED = "_all"
SUCCESS_MARKER = "_SUCCESS"
VERSION_CHARS = 12  # length of the content-hash prefix naming a version directory
_SAFE = re.compile(r"[^A-Za-z0-9._=-]+")
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
T = TypeVar("T")


class LakeWriteError(OSError):
    """Writing an artifact failed (e.g. the disk is full); nothing was published."""


@dataclass(frozen=True)
class Published(Generic[T]):
    """Where :meth:`Lake.publish` put an artifact, its content hash, and the writer's result."""

    path: str
    content_hash: str
    reused: bool  # an identical version was already there; the new copy was dropped
    result: T


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or its cause) says the disk or quota is full."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if getattr(current, "errno", None) in _DISK_FULL or "no space left on device" in str(current).lower():
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


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
        """Directory of one (asset, partition, config); its versions are subdirectories."""
        part = safe_component(partition) if partition else UNPARTITIONED
        return f"{self.root}/{safe_component(asset)}/{part}/{cfg_hash}"

    @staticmethod
    def version_dir(config_dir: str, digest: str) -> str:
        """The content-addressed directory of one version: ``<config_dir>/<digest[:12]>``."""
        return f"{config_dir}/{digest[:VERSION_CHARS]}"

    def exists(self, path: str) -> bool:
        """Whether a path (or a full URI of this lake) exists."""
        return self.fs.exists(path)

    def uri(self, path: str) -> str:
        """A full URI (with protocol) for a path inside this lake."""
        return path if self.is_local else self.fs.unstrip_protocol(path)

    # ---- atomic writes -----------------------------------------------------------------------
    def publish(self, config_dir: str, write: Callable[[str], T]) -> Published[T]:
        """Run ``write(tmp_dir)``, hash the result and move it to :meth:`version_dir`.

        An existing complete version with the same hash is kept and the new copy dropped. On any
        error the temporary directory is removed and nothing else changes; a full disk raises
        :class:`LakeWriteError` naming it.
        """
        tmp = f"{config_dir}/.tmp-{uuid.uuid4().hex[:8]}"
        with self._staging(tmp, config_dir):
            result = write(tmp)
            digest = self.content_hash(tmp)
            final = self.version_dir(config_dir, digest)
            reused = self._holds(final, digest) or not self._move_into_place(tmp, final, digest)
        return Published(self.uri(final), digest, reused, result)

    @contextlib.contextmanager
    def _staging(self, tmp: str, target: str) -> Iterator[None]:
        """Create ``tmp``, always remove it afterwards; a full disk becomes :class:`LakeWriteError`
        naming ``target``."""
        try:
            self.fs.makedirs(tmp, exist_ok=False)
            yield
        except BaseException as exc:
            if is_disk_full(exc):
                raise LakeWriteError(errno.ENOSPC, disk_full_message(target, exc, self.is_local)) from exc
            raise
        finally:
            self._remove_quietly(tmp)

    def _holds(self, directory: str, digest: str) -> bool:
        """Whether ``directory`` is a complete version with content hash ``digest``."""
        marker = f"{directory}/{SUCCESS_MARKER}"
        if not self.fs.exists(marker):
            return False
        with self.fs.open(marker, "rb") as fh:
            recorded = fh.read().decode(errors="replace").strip()
        return recorded == digest or (recorded == "ok" and self.content_hash(directory) == digest)

    def _move_into_place(self, tmp: str, final: str, digest: str, replace: bool = False) -> bool:
        """Move ``tmp`` to ``final``; False when an identical complete version got there first.
        Whatever else is at ``final`` (a leftover of a crash, or with ``replace`` anything) goes."""
        if not self.is_local:  # object stores: copy into place, then the marker, which readers check
            if self.fs.exists(final):
                if not replace and self._holds(final, digest):
                    return False
                self.fs.rm(final, recursive=True)
            self.fs.mv(tmp, final, recursive=True)
            self.fs.pipe_file(f"{final}/{SUCCESS_MARKER}", f"{digest}\n".encode())
            return True
        with open(os.path.join(tmp, SUCCESS_MARKER), "w") as fh:  # marker first, then one rename
            fh.write(digest + "\n")
        try:
            os.replace(tmp, final)
            return True
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
        if not replace and self._holds(final, digest):
            return False
        old = f"{final}.old-{uuid.uuid4().hex[:8]}"
        os.replace(final, old)
        try:
            os.replace(tmp, final)
        finally:
            shutil.rmtree(old, ignore_errors=True)
        return True

    def _remove_quietly(self, path: str) -> None:
        """Remove a temporary directory, ignoring errors (it may never have been made)."""
        try:
            if self.is_local:
                shutil.rmtree(path, ignore_errors=True)
            elif self.fs.exists(path):
                self.fs.rm(path, recursive=True)
        except OSError:
            pass

    @contextlib.contextmanager
    def atomic_dir(self, final_dir: str) -> Iterator[str]:
        """Yield a temporary directory that replaces ``final_dir`` on success (for files outside
        the versioned layout; artifacts use :meth:`publish`)."""
        tmp = f"{final_dir}.tmp-{uuid.uuid4().hex[:8]}"
        with self._staging(tmp, final_dir):
            yield tmp
            self._move_into_place(tmp, final_dir, self.content_hash(tmp), replace=True)

    def is_complete(self, directory: str) -> bool:
        """True when the directory was written completely (its success marker exists)."""
        return self.fs.exists(f"{directory}/{SUCCESS_MARKER}")

    def write_parquet(self, table: pa.Table, path: str, row_group_size: int = 2048) -> str:
        """Write a parquet file (zstd) through the lake's filesystem; the caller owns atomicity."""
        with self.fs.open(path, "wb") as fh:
            pq.write_table(table, fh, compression="zstd", row_group_size=row_group_size)
        return path

    def write_parquet_parts(self, parts: Sequence[str], path: str, row_group_size: int = 2048) -> str:
        """Concatenate local parquet files of one schema into one lake file, a row group at a time
        (memory: one row group, not the table)."""
        schema = pq.ParquetFile(parts[0]).schema_arrow
        with self.fs.open(path, "wb") as fh, pq.ParquetWriter(fh, schema, compression="zstd") as writer:
            for part in parts:
                for batch in pq.ParquetFile(part).iter_batches(row_group_size):
                    writer.write_table(pa.Table.from_batches([batch], schema=schema), row_group_size=row_group_size)
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


def disk_full_message(target: str, exc: BaseException, local: bool = True) -> str:
    """One line naming the full disk, what was not written, and what to do."""
    free = ""
    with contextlib.suppress(OSError, ValueError):
        probe = target
        while local and probe and not os.path.exists(probe):
            probe = os.path.dirname(probe)
        if local and probe:
            free = f" ({shutil.disk_usage(probe).free // 2**20} MiB free on {probe})"
    return (f"no space left on device while writing an artifact under {target}{free}: nothing was "
            f"published and the temporary directory was removed; earlier artifacts and their catalog rows are "
            f"untouched. Free disk space (or point the lake at a larger disk), then rematerialize. Cause: {exc}")
