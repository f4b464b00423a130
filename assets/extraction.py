"""extracted_pages: math/code-aware text extraction of each crawl partition, under a guard."""


import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import dagster as dg
import pyarrow as pa

from assets.common import MemoryMeter, WriteStats, timing_summary, write_artifact
from assets.crawl import SKIP_SCHEMA
from assets.engine import engine_for, engine_progress, engine_work_dir, release_work_dir
from assets.inputs import upstream_artifact
from assets.partitions import crawl_partitions
from mimo.data.extract import ExtractConfig, GuardedExtractor
from mimo.data.tagging.features import TOKEN_COUNTER, approx_tokens
from resources.cluster import ClusterResource
from resources.lake import LakeResource

PAGE_SCHEMA = pa.schema([
    ("doc_id", pa.string()), ("url", pa.string()), ("text", pa.large_string()), ("title", pa.string()),
    ("language", pa.string()), ("language_score", pa.float32()), ("n_formulas", pa.int32()),
    ("n_code_blocks", pa.int32()), ("encoding", pa.string()), ("warc_file", pa.string()), ("record_id", pa.string()), ("date", pa.string()),
    ("page_type", pa.string()), ("extraction_quality", pa.float32()),
])
LOW_QUALITY = 0.5  # pages below this extraction-quality score are counted in the metadata


class ExtractionConfig(dg.Config):
    """Extractor settings (see docs/extraction.md)."""

    timeout_s: float = 10.0
    memory_limit_mb: int = 2048
    max_html_bytes: int = 5_000_000
    max_payload_bytes: int = ExtractConfig.max_payload_bytes  # over max_html_bytes: scripts/styles cut first
    favor_precision: bool = False
    page_types: bool = True  # classify each page and extract with its type's settings
    min_words: int = 40  # with page_types: a shorter text is an app shell or a stub, skipped as "shell"
    workers: int = 1
    progress_every: int = 50
    # "pool": ``workers`` guarded extractors driven from this process; "engine": ``workers`` tasks of
    # the data engine (mimo.data.extract.engine_steps), each a slice of the crawl file; same outcomes
    runner: Literal["pool", "engine"] = "engine"
    engine_work_root: str = ""  # "": <cluster job_root>/data-engine on Slurm, else {state}/data-engine


def _extract_all(rows: list[dict], cfg: ExtractConfig, workers: int, log, every: int) -> list:
    """Extract every record with ``workers`` guarded worker processes; results in input order."""
    results: list = [None] * len(rows)
    done = [0]
    start = time.perf_counter()

    def run(lane: int) -> None:
        with GuardedExtractor(cfg) as extractor:
            for i in range(lane, len(rows), workers):
                row = rows[i]
                results[i] = extractor.extract(row["payload"], row["url"], row["http_charset"])
                done[0] += 1
                if done[0] % every == 0:
                    rate = done[0] / (time.perf_counter() - start)
                    log.info(f"extracted {done[0]}/{len(rows)} pages ({rate:.1f} pages/s)")

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(run, range(workers)))
    return results


def _extract_on_engine(context: dg.AssetExecutionContext, config: ExtractionConfig, cfg: ExtractConfig,
                       cluster: ClusterResource, records_path: str, upstream: dict) -> list:
    """The partition's records extracted by ``workers`` data-engine tasks (a rerun reuses the
    tasks that completed: the work directory is keyed by the upstream artifact and the settings)."""
    from mimo.data.extract.engine_steps import extract_on_engine

    engine = engine_for(cluster, config.workers)
    work = engine_work_dir("extracted_pages", cluster, engine, config.engine_work_root,
                           {"upstream": upstream["artifact_id"], "config": config.model_dump()})
    outcomes = extract_on_engine(records_path, work, cfg, engine.workers, engine,
                                 engine_progress(context, "extraction", engine))
    release_work_dir(work)
    return outcomes


@dg.asset(
    partitions_def=crawl_partitions,
    deps=["crawl_warc"],
    group_name="pretrain_data",
    kinds={"parquet"},
    code_version="extract-v3",  # v3: page-type-aware extraction, page_type and extraction_quality columns
    description="Main text of each HTML page with LaTeX and code blocks kept (trafilatura + math/code pre-pass), "
                "extracted by page type, with a per-page quality score.",
)
def extracted_pages(context: dg.AssetExecutionContext, config: ExtractionConfig, lake: LakeResource,
                    cluster: ClusterResource) -> dg.MaterializeResult:
    meter = MemoryMeter()
    partition = context.partition_key
    upstream = upstream_artifact(context, lake, "crawl_warc", partition)
    lake_obj = lake.lake()
    records = lake_obj.read_parquet(f"{upstream['path']}/records.parquet").to_pylist()
    cfg = ExtractConfig(timeout_s=config.timeout_s, memory_limit_mb=config.memory_limit_mb,
                        max_html_bytes=config.max_html_bytes, max_payload_bytes=config.max_payload_bytes,
                        favor_precision=config.favor_precision,
                        page_types=config.page_types, min_words=config.min_words)

    def write(tmp: str) -> WriteStats:
        t0 = time.perf_counter()
        if config.runner == "engine":
            outcomes = _extract_on_engine(context, config, cfg, cluster, f"{upstream['path']}/records.parquet",
                                          upstream)
        else:
            outcomes = _extract_all(records, cfg, max(1, config.workers), context.log, config.progress_every)
        elapsed = time.perf_counter() - t0
        pages: dict[str, list] = {f.name: [] for f in PAGE_SCHEMA}
        skips: dict[str, list] = {f.name: [] for f in SKIP_SCHEMA}
        reasons: Counter[str] = Counter()
        languages: Counter[str] = Counter()
        page_types: Counter[str] = Counter()
        for rec, out in zip(records, outcomes):
            if out.skip_reason:
                reasons[out.skip_reason] += 1
                for key, value in (("warc_file", rec["warc_file"]), ("offset", rec["offset"]), ("url", rec["url"]),
                                   ("record_id", rec["record_id"]), ("stage", "extract"),
                                   ("reason", out.skip_reason), ("detail", "")):
                    skips[key].append(value)
                continue
            languages[out.language or "unknown"] += 1
            page_types[out.page_type or "untyped"] += 1
            for key, value in (("doc_id", f"{rec['warc_file']}@{rec['offset']}"), ("url", rec["url"]),
                               ("text", out.text), ("title", out.title), ("language", out.language),
                               ("language_score", out.language_score), ("n_formulas", out.n_formulas),
                               ("n_code_blocks", out.n_code_blocks), ("encoding", out.encoding),
                               ("warc_file", rec["warc_file"]),
                               ("record_id", rec["record_id"]), ("date", rec["date"]),
                               ("page_type", out.page_type), ("extraction_quality", out.quality)):
                pages[key].append(value)
        lake_obj.write_parquet(pa.table(pages, schema=PAGE_SCHEMA), f"{tmp}/pages.parquet")
        lake_obj.write_parquet(pa.table(skips, schema=SKIP_SCHEMA), f"{tmp}/skips.parquet")
        tokens = sum(approx_tokens(t) for t in pages["text"])
        n = len(pages["url"])
        return WriteStats(row_count=n, token_count=tokens, metadata={
            "pages_in": len(records), "pages_out": n, "pages_skipped": sum(reasons.values()),
            "skip_reasons": dict(reasons), "languages": dict(languages.most_common(10)),
            "formulas_total": sum(pages["n_formulas"]), "code_blocks_total": sum(pages["n_code_blocks"]),
            "pages_with_math": sum(1 for x in pages["n_formulas"] if x), "pages_with_code": sum(1 for x in pages["n_code_blocks"] if x),
            "page_types": dict(page_types.most_common()),
            "low_quality_pages": sum(1 for q in pages["extraction_quality"] if q is not None and q < LOW_QUALITY),
            "pages_per_s": round(len(records) / max(elapsed, 1e-9), 2), "token_counter": TOKEN_COUNTER,
            "extraction_seconds": round(elapsed, 2), "runner": config.runner,
            "engine_backend": cluster.backend if config.runner == "engine" else "none",
            **timing_summary((o.extraction_ms for o in outcomes), "extraction_ms", digits=1),
        })

    return write_artifact(context, lake, config.model_dump(), write, upstream_ids=[upstream["artifact_id"]], partition=partition, meter=meter)
