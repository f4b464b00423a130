"""deduplicated_pages: URL, exact and MinHash near-duplicate removal, globally across all crawl files."""


import time
from collections import Counter
from itertools import groupby
from typing import Any, Literal

import dagster as dg
import numpy as np
import pyarrow as pa

from assets.common import MemoryMeter, WriteStats, write_artifact
from assets.crawl import crawl_inputs_of, skipped_crawl_files
from assets.engine import engine_for, engine_progress, engine_work_dir, release_work_dir
from assets.inputs import upstream_artifact
from assets.partitions import crawl_partitions
from mimo.data.dedup import DedupResult, MinHashConfig, content_hash, minhash_dedup, normalize_url
from mimo.data.tagging.features import TOKEN_COUNTER, approx_tokens
from resources.cluster import ClusterResource
from resources.lake import LakeResource

DUP_SCHEMA = pa.schema([
    ("doc_id", pa.string()), ("url", pa.string()), ("warc_file", pa.string()), ("stage", pa.string()),
    ("duplicate_of", pa.string()), ("cluster_id", pa.int64()),
])


class DedupConfig(dg.Config):
    """Global dedup settings; MinHash defaults follow FineWeb (word 5-grams, 14 bands x 8 rows).

    ``engine``: ``stages`` runs MinHash as bounded-memory stages on the data engine (datatrove
    tasks, one input shard per crawl file; :mod:`mimo.data.dedup.stages`): local worker processes,
    or Slurm array jobs when the cluster resource's backend is ``slurm`` (its partition, account,
    setup lines). ``in_memory`` runs one pass in this process. Both give the same clusters."""

    ngram_size: int = 5
    num_bands: int = 14
    rows_per_band: int = 8
    seed: int = 1
    engine: Literal["stages", "in_memory"] = "stages"
    engine_workers: int = 2  # tasks at once (Slurm: the array's limit)
    # where the stages keep their files ("": <cluster job_root>/data-engine on Slurm, which the
    # compute nodes see, else {state}/data-engine)
    engine_work_root: str = ""


def load_extracted(context: dg.AssetExecutionContext, lake: LakeResource) -> tuple[pa.Table, list[str], list[str]]:
    """All extracted pages of every known crawl partition, plus upstream ids and missing partitions."""
    partitions = sorted(context.instance.get_dynamic_partitions(crawl_partitions.name))
    tables, upstream, missing = [], [], []
    for key in partitions:
        row = upstream_artifact(context, lake, "extracted_pages", key, required=False)
        if row is None:
            missing.append(key)
            continue
        upstream.append(row["artifact_id"])
        tables.append(lake.lake().read_parquet(f"{row['path']}/pages.parquet"))
    if not tables:
        raise dg.Failure("no extracted_pages artifacts yet: materialize crawl_warc and extracted_pages first")
    if missing:
        context.log.warning(f"crawl partitions without extracted pages (left out this time): {missing}")
    return pa.concat_tables(tables), upstream, missing


@dg.asset(
    deps=["extracted_pages"],
    group_name="pretrain_data",
    kinds={"parquet"},
    code_version="dedup-v1",
    description="Pages after URL normalisation dedup, exact content dedup and global MinHash LSH near-dedup.",
)
def deduplicated_pages(context: dg.AssetExecutionContext, config: DedupConfig, lake: LakeResource,
                       cluster: ClusterResource) -> dg.MaterializeResult:
    meter = MemoryMeter()
    table, upstream, missing = load_extracted(context, lake)
    skipped_files = skipped_crawl_files(crawl_inputs_of(lake.catalog(), upstream))
    if skipped_files:
        context.log.info(f"crawl files skipped or cut short (their partitions count as done): {skipped_files}")
    # deterministic global order: by crawl file then offset (earliest copy wins)
    order = np.lexsort((np.array(table["doc_id"].to_pylist()), np.array(table["warc_file"].to_pylist())))
    table = table.take(pa.array(order))
    n_in = table.num_rows
    doc_ids, urls, texts = table["doc_id"].to_pylist(), table["url"].to_pylist(), table["text"].to_pylist()
    files = table["warc_file"].to_pylist()
    dups: dict[str, list] = {f.name: [] for f in DUP_SCHEMA}

    def drop(i: int, stage: str, of: int, cluster: int = -1) -> None:
        for key, value in (("doc_id", doc_ids[i]), ("url", urls[i]), ("warc_file", files[i]), ("stage", stage),
                           ("duplicate_of", doc_ids[of]), ("cluster_id", cluster)):
            dups[key].append(value)

    t0 = time.perf_counter()
    alive = np.ones(n_in, dtype=bool)
    first_by_url: dict[str, int] = {}
    for i, url in enumerate(urls):
        key = normalize_url(url)
        if key in first_by_url:
            alive[i] = False
            drop(i, "url", first_by_url[key])
        else:
            first_by_url[key] = i
    first_by_hash: dict[str, int] = {}
    for i in np.flatnonzero(alive):
        key = content_hash(texts[i])
        if key in first_by_hash:
            alive[i] = False
            drop(i, "exact", first_by_hash[key])
        else:
            first_by_hash[key] = i
    survivors = np.flatnonzero(alive)
    mh_cfg = MinHashConfig(ngram_size=config.ngram_size, num_bands=config.num_bands,
                           rows_per_band=config.rows_per_band, seed=config.seed)
    engine_meta: dict[str, Any] = {"minhash_engine": config.engine}
    if config.engine == "stages":
        result, engine_meta = minhash_on_engine(context, config, cluster, mh_cfg, [texts[i] for i in survivors],
                                                [files[i] for i in survivors], upstream)
    else:
        result = minhash_dedup([texts[i] for i in survivors], mh_cfg)
    rep_of_cluster: dict[int, int] = {}
    for local, cid in enumerate(result.cluster_id):
        if result.keep[local]:
            rep_of_cluster[int(cid)] = int(survivors[local])
    for local, keep in enumerate(result.keep):
        if not keep:
            cid = int(result.cluster_id[local])
            alive[survivors[local]] = False
            drop(int(survivors[local]), "minhash", rep_of_cluster[cid], cid)
    elapsed = time.perf_counter() - t0
    kept = table.filter(pa.array(alive))
    stages = Counter(dups["stage"])
    cross_file = sum(1 for i, d in enumerate(dups["duplicate_of"]) if d.split("@")[0] != dups["warc_file"][i])

    def write(tmp: str) -> WriteStats:
        lake_obj = lake.lake()
        lake_obj.write_parquet(kept, f"{tmp}/pages.parquet")
        lake_obj.write_parquet(pa.table(dups, schema=DUP_SCHEMA), f"{tmp}/duplicates.parquet")
        tokens = sum(approx_tokens(t) for t in kept["text"].to_pylist())
        return WriteStats(row_count=kept.num_rows, token_count=tokens, metadata={
            "docs_in": n_in, "docs_out": kept.num_rows, "dedup_rate": round(1 - kept.num_rows / max(n_in, 1), 4),
            "removed_url": stages["url"], "removed_exact": stages["exact"], "removed_minhash": stages["minhash"],
            "removed_across_crawl_files": cross_file, "minhash_clusters_with_dups": result.n_clusters_with_dups,
            "minhash_cluster_sizes": {str(k): v for k, v in sorted(result.cluster_sizes.items())},
            "minhash_params": mh_cfg.__dict__ | {"threshold_approx": round((1 / config.num_bands) ** (1 / config.rows_per_band), 3)},
            "crawl_files": len(upstream), "crawl_files_missing": missing, "skipped_crawl_files": skipped_files,
            "docs_per_s": round(n_in / max(elapsed, 1e-9), 1), "token_counter": TOKEN_COUNTER, **engine_meta,
        })

    return write_artifact(context, lake, config.model_dump(), write, upstream_ids=upstream, meter=meter)


def minhash_on_engine(context: dg.AssetExecutionContext, config: DedupConfig, cluster: ClusterResource,
                      mh_cfg: MinHashConfig, texts: list[str], files: list[str],
                      upstream: list[str]) -> tuple[DedupResult, dict[str, Any]]:
    """MinHash over ``texts`` as stages on the data engine, one shard per crawl file (in order); the
    work directory is keyed by the inputs, so a rerun after a failure skips the completed tasks."""
    import pyarrow.parquet as pq

    from mimo.data.dedup.stages import as_dedup_result, multistage_minhash

    engine = engine_for(cluster, config.engine_workers)
    work = engine_work_dir("deduplicated_pages", cluster, engine, config.engine_work_root,
                           {"upstream": sorted(upstream), "config": config.model_dump(), "docs": len(texts)})
    (work / "input").mkdir(parents=True, exist_ok=True)
    shards, sizes, start = [], [], 0
    for n, (_, group) in enumerate(groupby(files)):
        size = sum(1 for _ in group)
        path = work / "input" / f"shard-{n:05d}.parquet"
        if not path.exists():
            tmp = path.with_name(f"{path.name}.tmp")
            pq.write_table(pa.table({"text": texts[start:start + size]}), tmp)
            tmp.replace(path)
        shards.append(str(path))
        sizes.append(size)
        start += size

    res = multistage_minhash(shards, work / "stages", mh_cfg, engine, progress=engine_progress(context, "minhash", engine))
    release_work_dir(work)
    context.log.info("minhash stages: " + ", ".join(f"{s.name} {s.tasks} task(s) {s.seconds:.1f}s" for s in res.stages))
    meta = {"minhash_engine": "stages", "engine_backend": engine.backend, "engine_workers": config.engine_workers,
            "engine_shards": len(shards),
            "engine_peak_rss_mb_per_worker": round(res.peak_rss_mb_per_worker, 1),
            "engine_stages": {s.name: {"tasks": s.tasks, "seconds": round(s.seconds, 2), "max_rss_mb": s.max_rss_mb}
                              for s in res.stages}}
    return as_dedup_result(res, sizes), meta
