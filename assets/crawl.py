"""crawl_warc: one partition per WARC file; HTML response records as parquet, skips counted."""


import hashlib
import os
from collections import Counter

import dagster as dg
import pyarrow as pa

from assets.common import MemoryMeter, WriteStats, write_artifact
from assets.partitions import crawl_partitions
from mimo.data.warc import WarcInputError, iter_warc_html
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

    max_payload_bytes: int = 5_000_000


def file_sha256(path: str) -> str:
    """sha256 of a file, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
    path = crawl_source.local_path(name)
    if not os.path.exists(path):
        raise dg.Failure(f"crawl file for partition {name!r} not found at {path}")
    warc_sha = file_sha256(path)

    def write(tmp: str) -> WriteStats:
        rows: dict[str, list] = {f.name: [] for f in RECORD_SCHEMA}
        skips: dict[str, list] = {f.name: [] for f in SKIP_SCHEMA}
        reasons: Counter[str] = Counter()
        try:
            records = list(iter_warc_html(path, config.max_payload_bytes))
        except WarcInputError as exc:
            raise dg.Failure(str(exc)) from None
        for rec in records:
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
        return WriteStats(row_count=n, metadata={
            "warc_file": name, "warc_path": path, "warc_sha256": warc_sha,
            "records_html": n, "records_skipped": sum(reasons.values()), "skip_reasons": dict(reasons),
            "payload_bytes": sum(len(p) for p in rows["payload"]),
        })

    return write_artifact(context, lake, {**config.model_dump(), "warc_sha256": warc_sha}, write, partition=name, meter=meter)
