"""deduplicated_pages: URL, exact and MinHash near-duplicate removal, globally across all crawl files."""


import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from assets.common import MemoryMeter, WriteStats, write_artifact
from assets.crawl import crawl_inputs_of, skipped_crawl_files
from assets.engine import engine_for, engine_progress, engine_work_dir, release_work_dir
from assets.inputs import upstream_artifact
from assets.partitions import crawl_partitions
from mimo.data.dedup import MinHashConfig
from mimo.data.dedup.passes import Removal, dedup_passes
from mimo.data.tagging.features import TOKEN_COUNTER, approx_tokens
from resources.cluster import ClusterResource
from resources.lake import LakeResource

DUP_SCHEMA = pa.schema([
    ("doc_id", pa.string()), ("url", pa.string()), ("warc_file", pa.string()), ("stage", pa.string()),
    ("duplicate_of", pa.string()), ("cluster_id", pa.int64()),
])


class DedupConfig(dg.Config):
    """Global dedup settings; MinHash defaults follow FineWeb (word 5-grams, 14 bands x 8 rows).

    Three passes, each over what the one before kept: normalized URL, exact content, MinHash; the
    earliest copy in (crawl file, record) order is kept. ``engine``: ``stages`` runs them as
    bounded-memory stages on the data engine (datatrove tasks reading each crawl file's extracted
    pages directly; :mod:`mimo.data.dedup.stages.full`): local worker processes, or Slurm array
    jobs when the cluster resource's backend is ``slurm`` (its partition, account, setup lines).
    ``in_memory`` runs them in this process (:mod:`mimo.data.dedup.passes`). Both give the same
    pages and duplicates."""

    ngram_size: int = 5
    num_bands: int = 14
    rows_per_band: int = 8
    seed: int = 1
    engine: Literal["stages", "in_memory"] = "stages"
    engine_workers: int = 2  # tasks at once (Slurm: the array's limit)
    # where the stages keep their files ("": <cluster job_root>/data-engine on Slurm, which the
    # compute nodes see, else {state}/data-engine)
    engine_work_root: str = ""


@dataclass
class DedupOutcome:
    """What a dedup run found: removals as global row numbers (partition order, then row), the
    kept rows, MinHash cluster counts, and how it ran."""

    removals: list[Removal]
    kept: pa.Table | list[str]  # the kept rows, or the engine's kept parts (local parquet files)
    kept_tokens: int
    clusters_with_dups: int
    cluster_sizes: dict[int, int]
    meta: dict[str, Any] = field(default_factory=dict)
    work_dir: Path | None = None  # the engine's, removed once the artifact is written


def extracted_shards(context: dg.AssetExecutionContext, lake: LakeResource) -> tuple[list[str], list[str], list[str]]:
    """``pages.parquet`` of every crawl partition's extracted pages (sorted partition order), the
    upstream artifact ids, and the partitions without extracted pages."""
    partitions = sorted(context.instance.get_dynamic_partitions(crawl_partitions.name))
    paths, upstream, missing = [], [], []
    for key in partitions:
        row = upstream_artifact(context, lake, "extracted_pages", key, required=False)
        if row is None:
            missing.append(key)
            continue
        upstream.append(row["artifact_id"])
        paths.append(f"{row['path']}/pages.parquet")
    if not paths:
        raise dg.Failure("no extracted_pages artifacts yet: materialize crawl_warc and extracted_pages first")
    if missing:
        context.log.warning(f"crawl partitions without extracted pages (left out this time): {missing}")
    return paths, upstream, missing


@dg.asset(
    deps=["extracted_pages"],
    group_name="pretrain_data",
    kinds={"parquet"},
    code_version="dedup-v2",  # v2: the earliest copy is the first in (crawl file, record) order
    description="Pages after URL normalisation dedup, exact content dedup and global MinHash LSH near-dedup.",
)
def deduplicated_pages(context: dg.AssetExecutionContext, config: DedupConfig, lake: LakeResource,
                       cluster: ClusterResource) -> dg.MaterializeResult:
    meter = MemoryMeter()
    shards, upstream, missing = extracted_shards(context, lake)
    skipped_files = skipped_crawl_files(crawl_inputs_of(lake.catalog(), upstream))
    if skipped_files:
        context.log.info(f"crawl files skipped or cut short (their partitions count as done): {skipped_files}")
    lake_obj = lake.lake()
    # who is who: doc_id, url, crawl file of every row, in the global order (no texts)
    parts = [lake_obj.read_parquet(p, columns=["doc_id", "url", "warc_file"]) for p in shards]
    index, sizes = pa.concat_tables(parts), [t.num_rows for t in parts]
    mh_cfg = MinHashConfig(ngram_size=config.ngram_size, num_bands=config.num_bands,
                           rows_per_band=config.rows_per_band, seed=config.seed)
    t0 = time.perf_counter()
    if config.engine == "stages":
        outcome = dedup_on_engine(context, config, cluster, mh_cfg, shards, sizes, upstream)
    else:
        outcome = dedup_in_memory(lake_obj, shards, mh_cfg)
    elapsed = time.perf_counter() - t0
    n_in = index.num_rows
    dups = duplicates_table(index, outcome.removals)
    stages = Counter(r.stage for r in outcome.removals)
    files = index["warc_file"].to_pylist()
    cross_file = sum(1 for r in outcome.removals if files[r.index] != files[r.kept])

    def write(tmp: str) -> WriteStats:
        if isinstance(outcome.kept, pa.Table):
            lake_obj.write_parquet(outcome.kept, f"{tmp}/pages.parquet")
        else:
            lake_obj.write_parquet_parts(outcome.kept, f"{tmp}/pages.parquet")
        lake_obj.write_parquet(dups, f"{tmp}/duplicates.parquet")
        n_out = n_in - len(outcome.removals)
        return WriteStats(row_count=n_out, token_count=outcome.kept_tokens, metadata={
            "docs_in": n_in, "docs_out": n_out, "dedup_rate": round(1 - n_out / max(n_in, 1), 4),
            "removed_url": stages["url"], "removed_exact": stages["exact"], "removed_minhash": stages["minhash"],
            "removed_across_crawl_files": cross_file, "minhash_clusters_with_dups": outcome.clusters_with_dups,
            "minhash_cluster_sizes": {str(k): v for k, v in sorted(outcome.cluster_sizes.items())},
            "minhash_params": mh_cfg.__dict__ | {"threshold_approx": round((1 / config.num_bands) ** (1 / config.rows_per_band), 3)},
            "crawl_files": len(upstream), "crawl_files_missing": missing, "skipped_crawl_files": skipped_files,
            "docs_per_s": round(n_in / max(elapsed, 1e-9), 1), "token_counter": TOKEN_COUNTER, **outcome.meta,
        })

    result = write_artifact(context, lake, config.model_dump(), write, upstream_ids=upstream, meter=meter)
    if outcome.work_dir is not None:
        release_work_dir(outcome.work_dir)
    return result


def duplicates_table(index: pa.Table, removals: list[Removal]) -> pa.Table:
    """One row per removed page: its ids, the pass that removed it, the page kept instead, and the
    MinHash cluster (the kept page's global row number; -1 for URL and exact copies)."""
    doc_ids, urls, files = (index[c].to_pylist() for c in ("doc_id", "url", "warc_file"))
    rows = sorted(removals, key=lambda r: r.index)
    return pa.table({
        "doc_id": [doc_ids[r.index] for r in rows], "url": [urls[r.index] for r in rows],
        "warc_file": [files[r.index] for r in rows], "stage": [r.stage for r in rows],
        "duplicate_of": [doc_ids[r.kept] for r in rows],
        "cluster_id": [r.kept if r.stage == "minhash" else -1 for r in rows]}, schema=DUP_SCHEMA)


def dedup_in_memory(lake_obj, shards: list[str], mh_cfg: MinHashConfig) -> DedupOutcome:
    """The three passes in this process over every page (``engine: in_memory``)."""
    table = pa.concat_tables([lake_obj.read_parquet(p) for p in shards])
    removals, result = dedup_passes(table["url"].to_pylist(), table["text"].to_pylist(), mh_cfg)
    alive = np.ones(table.num_rows, dtype=bool)
    alive[[r.index for r in removals]] = False
    kept = table.filter(pa.array(alive))
    tokens = sum(approx_tokens(t) for t in kept["text"].to_pylist())
    return DedupOutcome(removals, kept, tokens, result.n_clusters_with_dups, result.cluster_sizes,
                        {"minhash_engine": "in_memory"})


def dedup_on_engine(context: dg.AssetExecutionContext, config: DedupConfig, cluster: ClusterResource,
                    mh_cfg: MinHashConfig, shards: list[str], sizes: list[int],
                    upstream: list[str]) -> DedupOutcome:
    """The three passes as stages on the data engine, one shard per crawl file's extracted pages;
    the work directory is keyed by the inputs, so a rerun after a failure skips the completed tasks."""
    from mimo.data.dedup.stages.full import full_dedup

    engine = engine_for(cluster, config.engine_workers)
    work = engine_work_dir("deduplicated_pages", cluster, engine, config.engine_work_root,
                           {"upstream": sorted(upstream), "config": config.model_dump(), "shards": shards})
    res = full_dedup(shards, work, mh_cfg, engine, progress=engine_progress(context, "dedup", engine))
    context.log.info("dedup stages: " + ", ".join(f"{s.name} {s.tasks} task(s) {s.seconds:.1f}s" for s in res.stages))
    offsets = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    removals = []
    for shard, path in enumerate(res.removals):
        for r in pq.read_table(path).to_pylist():
            kept = int(offsets[r["kept_id"] >> 32] + (r["kept_id"] & 0xFFFFFFFF))
            removals.append(Removal(int(offsets[shard] + r["row"]), r["stage"], kept))
    in_minhash = int(offsets[-1]) - sum(1 for r in removals if r.stage != "minhash")
    sizes_mh = {int(k): v for k, v in res.clusters.get("cluster_sizes", {}).items()}
    singletons = in_minhash - int(res.clusters.get("documents_in_clusters", 0))
    if singletons:
        sizes_mh[1] = singletons
    meta = {"minhash_engine": "stages", "engine_backend": engine.backend, "engine_workers": config.engine_workers,
            "engine_shards": len(shards),
            "engine_peak_rss_mb_per_worker": round(res.peak_rss_mb_per_worker, 1),
            "engine_stages": {s.name: {"tasks": s.tasks, "seconds": round(s.seconds, 2), "max_rss_mb": s.max_rss_mb}
                              for s in res.stages}}
    return DedupOutcome(removals, [str(p) for p in res.kept], res.kept_tokens,
                        int(res.clusters.get("clusters_with_dups", 0)), sizes_mh, meta, work)
