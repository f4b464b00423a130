"""crawl_warc: one partition per WARC file; HTML response records as parquet, skips counted.

A bad crawl file is a counted skip, never a failed run: a file that is missing, unreadable, empty or
not a WARC materializes with no records, one cut off mid-record keeps the records before the cut;
either way the metadata says ``skipped_file: true`` and the ``skip_reason``."""


import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import dagster as dg
import pyarrow as pa

from assets.common import MemoryMeter, WriteStats, write_artifact
from assets.partitions import crawl_partitions
from mimo.data.warc import DEFAULT_MAX_PAYLOAD_BYTES, WarcFileRead, read_warc_file
from mimo.lake.catalog import Catalog
from resources.lake import CrawlSourceResource, LakeResource

RECORD_SCHEMA = pa.schema([
    ("url", pa.string()), ("record_id", pa.string()), ("warc_file", pa.string()), ("offset", pa.int64()),
    ("date", pa.string()), ("http_status", pa.int32()), ("content_type", pa.string()),
    ("http_charset", pa.string()), ("payload", pa.large_binary()),
])
SKIP_SCHEMA = pa.schema([
    ("warc_file", pa.string()), ("offset", pa.int64()), ("url", pa.string()), ("record_id", pa.string()),
    ("stage", pa.string()), ("reason", pa.string()), ("detail", pa.string()),
])


class CrawlConfig(dg.Config):
    """How WARC records are read."""

    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES  # extraction cuts pages over 5 MB to their markup


def file_sha256(path: str) -> str | None:
    """sha256 of a file, streamed; None when it cannot be read."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def _read(crawl_source: CrawlSourceResource, name: str, max_payload_bytes: int) -> WarcFileRead:
    """The crawl file of partition ``name``, read; fetching a remote file can fail like reading it."""
    try:
        path = crawl_source.local_path(name)
    except FileNotFoundError as exc:
        return WarcFileRead(f"{crawl_source.resolved()}/{name}", skip_reason="missing", detail=str(exc))
    except OSError as exc:
        return WarcFileRead(f"{crawl_source.resolved()}/{name}", skip_reason="unreadable", detail=str(exc))
    return read_warc_file(path, max_payload_bytes)


@dg.asset(
    partitions_def=crawl_partitions,
    group_name="pretrain_data",
    kinds={"warc", "parquet"},
    code_version="crawl-v1",
    description="HTML response records of one crawled WARC file (partition = file name).",
)
def crawl_warc(context: dg.AssetExecutionContext, config: CrawlConfig, lake: LakeResource,
               crawl_source: CrawlSourceResource) -> dg.MaterializeResult:
    meter = MemoryMeter()
    name = context.partition_key
    read = _read(crawl_source, name, config.max_payload_bytes)
    path = read.path
    warc_sha = file_sha256(path)  # None when the file cannot be read
    if read.skip_reason:
        kept = sum(1 for r in read.items if not r.skip_reason)
        context.log.warning(f"crawl file {name} skipped ({read.skip_reason}), {kept} records kept: {read.detail}")

    def write(tmp: str) -> WriteStats:
        rows: dict[str, list] = {f.name: [] for f in RECORD_SCHEMA}
        skips: dict[str, list] = {f.name: [] for f in SKIP_SCHEMA}
        reasons: Counter[str] = Counter()
        for rec in read.items:
            if rec.skip_reason:
                reasons[rec.skip_reason] += 1
                for key, value in (("warc_file", name), ("offset", rec.offset), ("url", rec.url),
                                   ("record_id", rec.record_id), ("stage", "crawl"),
                                   ("reason", rec.skip_reason), ("detail", rec.detail)):
                    skips[key].append(value)
                continue
            for key, value in (("url", rec.url), ("record_id", rec.record_id), ("warc_file", name),
                               ("offset", rec.offset), ("date", rec.date), ("http_status", rec.http_status),
                               ("content_type", rec.content_type), ("http_charset", rec.http_charset),
                               ("payload", rec.payload)):
                rows[key].append(value)
        lake_obj = lake.lake()
        lake_obj.write_parquet(pa.table(rows, schema=RECORD_SCHEMA), f"{tmp}/records.parquet", row_group_size=64)
        lake_obj.write_parquet(pa.table(skips, schema=SKIP_SCHEMA), f"{tmp}/skips.parquet")
        n = len(rows["url"])
        context.log.info(f"{name}: {n} HTML records, skipped {dict(reasons)}")
        file_skip = {"skip_reason": read.skip_reason, "skip_detail": read.detail} if read.skip_reason else {}
        return WriteStats(row_count=n, metadata={
            "warc_file": name, "warc_path": path, "warc_sha256": warc_sha or "",
            "skipped_file": read.skip_reason is not None, **file_skip,
            "records_html": n, "records_skipped": sum(reasons.values()), "skip_reasons": dict(reasons),
            "payload_bytes": sum(len(p) for p in rows["payload"]),
        })

    cfg = {**config.model_dump(), "warc_sha256": warc_sha}
    return write_artifact(context, lake, cfg, write, partition=name, meter=meter)


def skipped_crawl_files(rows: Iterable[dict[str, Any]]) -> dict[str, str]:
    """``{crawl file: skip reason}`` of the crawl_warc catalog rows among ``rows`` whose file was
    skipped (or, for ``truncated``, read only up to the damage)."""
    out: dict[str, str] = {}
    for row in rows:
        if row.get("asset_key") != "crawl_warc":
            continue
        meta = row.get("metadata") or {}
        meta = json.loads(meta) if isinstance(meta, str) else meta
        if meta.get("skipped_file"):
            out[row["partition"]] = meta.get("skip_reason") or "unknown"
    return dict(sorted(out.items()))


def crawl_inputs_of(catalog: Catalog, artifact_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The crawl_warc catalog rows that the given artifacts (extracted pages) were made from."""
    if not artifact_ids:
        return []
    marks = ", ".join("?" * len(artifact_ids))
    return catalog.query(f"SELECT a.* FROM artifact_inputs i JOIN artifacts a ON a.artifact_id = i.upstream_id "
                         f"WHERE a.asset_key = 'crawl_warc' AND i.artifact_id IN ({marks})", list(artifact_ids))
